"""Pannes de disque et modèle altéré, contre un vrai gunicorn.

Disque : le dossier du journal est un petit tmpfs monté pour le test (il faut être root, comme
en CI ; sinon le test est sauté, ou échoue en CI). Passé en lecture seule, puis rempli : la
conduite documentée est 503 sur /predire (rien de servi, rien de conservé), /ready faux, aucun
worker perdu ; puis retour à la normale quand l'espace revient, sans redémarrage.
``test/test_http.py`` couvre déjà un dossier de journal impossible à créer.

Modèle : ``test/test_http.py`` vérifie qu'un octet changé dans le pickle empêche le démarrage ;
ici le pickle est remplacé par un piège qui, s'il était désérialisé, créerait un fichier : le
fichier n'existe pas, donc le pickle n'a jamais été chargé.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import time

import pytest
import requests

from test.conftest import ACTIVER_CI, CODE, RACINE, attendre_workers, port_libre, sauter, workers

pytestmark = pytest.mark.fiabilite


@pytest.fixture()
def tmpfs(tmp_path):
    """Un tmpfs de 512 ko monté dans le dossier du test, démonté à la fin."""
    point = tmp_path / "tmpfs"
    point.mkdir()
    raison = None
    if os.geteuid() != 0:
        raison = "monter un tmpfs demande d'être root"
    else:
        montage = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0755", "tmpfs", str(point)],
                                 capture_output=True, text=True)
        if montage.returncode != 0:
            raison = f"mount -t tmpfs impossible : {montage.stderr.strip()}"
    if raison:
        sauter(raison, f"lancez les tests en root (sudo make tests), {ACTIVER_CI}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def remonter(point, mode: str) -> None:
    """Les workers gardent le journal ouvert pendant qu'ils écrivent, et le ferment après une seconde sans
    écriture (``app.stockage.ecrivain``) : « occupé » (EBUSY) jusque-là, puis le remontage passe."""
    echeance = time.monotonic() + 10
    while True:
        essai = subprocess.run(["mount", "-o", f"remount,{mode}", str(point)], capture_output=True, text=True)
        if essai.returncode == 0:
            return
        assert time.monotonic() < echeance, f"remontage {mode} impossible : {essai.stderr.strip()}"
        time.sleep(0.2)


def remplir(point) -> int:
    """Remplit le tmpfs jusqu'au refus (ENOSPC) ; renvoie le nombre d'octets écrits."""
    ecrits = 0
    with open(point / "remplissage", "wb", buffering=0) as fichier:
        for taille in (1 << 16, 1 << 12, 1 << 8, 1):
            while True:
                try:
                    ecrits += fichier.write(b"\0" * taille)
                except OSError as erreur:
                    assert erreur.errno == errno.ENOSPC, erreur
                    break
    return ecrits


class Essai:
    """Un gunicorn dont le journal est sur le tmpfs ; compte les 200 et vérifie journal et base."""

    def __init__(self, demarrer_serveur, point, exemple):
        self.journal = point / "requetes.jsonl"
        self.serveur = demarrer_serveur(env={"JOURNAL_CHEMIN": str(self.journal)}).attendre()
        self.workers = attendre_workers(self.serveur.processus.pid)
        self.exemple = exemple
        self.ok: set[str] = set()
        self.n = 0

    def predire(self) -> requests.Response:
        self.n += 1
        reponse = requests.post(self.serveur.url + "/predire", json={**self.exemple, "absences": self.n % 94},
                                headers={"X-Request-ID": f"disque-{self.n}"}, timeout=30)
        if reponse.status_code == 200:
            self.ok.add(reponse.json()["request_id"])
        return reponse

    def pret(self) -> tuple[int, dict]:
        reponse = requests.get(self.serveur.url + "/ready", timeout=30)
        return reponse.status_code, reponse.json()["verifications"]["journal"]

    def verifier_refus(self, reponse: requests.Response) -> None:
        assert reponse.status_code == 503, reponse.status_code
        assert "journal" in reponse.json()["erreur"] and reponse.headers["Retry-After"]
        statut, journal = self.pret()
        assert statut == 503 and journal["ok"] is False, journal
        assert requests.get(self.serveur.url + "/health", timeout=10).status_code == 200

    def verifier_coherence(self) -> int:
        """Chaque ligne se lit, une ligne par 200, la base a le même ensemble ; aucun worker perdu."""
        assert workers(self.serveur.processus.pid) == self.workers, "un worker est tombé"
        octets = self.journal.read_bytes()
        assert octets.endswith(b"\n")
        ids = [json.loads(ligne)["request_id"] for ligne in octets.splitlines()]
        assert len(ids) == len(set(ids)) and set(ids) == self.ok
        self.serveur.arreter()  # journal d'abord : la base suit ; à l'arrêt, chaque worker y a tout mis
        with sqlite3.connect(f"file:{self.serveur.base}?mode=ro", uri=True) as connexion:
            en_base = {l[0] for l in connexion.execute("SELECT request_id FROM predictions")}
        assert en_base == self.ok, "la base garde une prédiction refusée, ou en perd une servie"
        return len(ids)


def test_dossier_du_journal_en_lecture_seule_puis_retabli(demarrer_serveur, tmpfs, exemple, mesurer):
    essai = Essai(demarrer_serveur, tmpfs, exemple)
    assert essai.predire().status_code == 200
    remonter(tmpfs, "ro")
    try:
        for _ in range(3):
            essai.verifier_refus(essai.predire())
    finally:
        remonter(tmpfs, "rw")
    assert essai.predire().status_code == 200  # rétabli sans redémarrage
    assert essai.pret()[0] == 200
    lignes = essai.verifier_coherence()
    mesurer("disque en lecture seule", f"3 × 503 et /ready faux, puis 200 au retour ; {lignes} lignes = {len(essai.ok)} "
                                       "réponses 200 = base")


def test_disque_plein_puis_espace_rendu(demarrer_serveur, tmpfs, exemple, mesurer):
    essai = Essai(demarrer_serveur, tmpfs, exemple)
    for _ in range(3):
        assert essai.predire().status_code == 200
    remplir(tmpfs)
    # La dernière page du journal peut encore recevoir une ligne ou deux (écriture partielle
    # possible : elle est alors retirée) ; ensuite, chaque prédiction est refusée.
    statuts = [essai.predire().status_code for _ in range(6)]
    assert 503 in statuts and set(statuts) <= {200, 503}, statuts
    premier_refus = statuts.index(503)
    assert set(statuts[premier_refus:]) == {503}, statuts
    essai.verifier_refus(essai.predire())
    os.unlink(tmpfs / "remplissage")
    assert essai.predire().status_code == 200
    assert essai.pret()[0] == 200
    lignes = essai.verifier_coherence()
    mesurer("disque plein", f"statuts une fois plein {statuts} puis 503, /ready faux ; 200 quand l'espace revient ; "
                            f"{lignes} lignes lisibles = {len(essai.ok)} réponses 200 = base")


class _Piege:
    """Désérialisé, il crée le fichier ``marqueur`` : la preuve qu'un pickle a été chargé."""

    def __init__(self, marqueur):
        self.marqueur = str(marqueur)

    def __reduce__(self):
        return (shutil.copyfile, (os.devnull, self.marqueur))


@pytest.mark.parametrize("lanceur", ["gunicorn", "app.main"])
def test_modele_piege_refuse_sans_etre_charge(tmp_path, lanceur, mesurer):
    dossier = tmp_path / "code"
    dossier.mkdir()
    for chemin in CODE.iterdir():
        if chemin.is_file():
            shutil.copy(chemin, dossier / chemin.name)
    marqueur = tmp_path / "pickle-charge"
    (dossier / "modele_trees.pkl").write_bytes(pickle.dumps(_Piege(marqueur)))
    pickle.loads((dossier / "modele_trees.pkl").read_bytes())  # témoin : chargé, le piège fonctionne
    assert marqueur.exists()
    marqueur.unlink()

    commande = ([sys.executable, "-m", "gunicorn", "-c", str(RACINE / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port_libre()}"]
                if lanceur == "gunicorn" else [sys.executable, "-m", "app.main"])
    env = {**os.environ, "MODELE_CHEMIN": str(dossier / "modele_trees.pkl"),
           "VARIABLES_CHEMIN": str(dossier / "features.pkl"), "FICHE_MODELE_CHEMIN": str(dossier / "model_card.json"),
           "JOURNAL_CHEMIN": str(tmp_path / "j.jsonl"), "BASE_SQLITE_CHEMIN": str(tmp_path / "r.sqlite3"),
           "DATABASE_URL": "", "API_TOKEN": "", "PORT": str(port_libre()), "GUNICORN_WORKERS": "1"}
    execution = subprocess.run(commande, cwd=RACINE, env=env, capture_output=True, text=True, timeout=120)
    sortie = execution.stdout + execution.stderr
    assert execution.returncode != 0, sortie[-2000:]
    assert "démarrage impossible" in sortie and "a été modifié" in sortie and "pas été chargé" in sortie, sortie[-2000:]
    assert not marqueur.exists(), "le pickle altéré a été désérialisé"
    mesurer(f"modèle piégé ({lanceur})", f"refus de démarrer, code {execution.returncode}, pickle jamais chargé")

"""Un essai ne laisse aucune trace dans le dépôt : aucune ligne du journal des requêtes (données d'élèves
mineurs) dans un fichier versionné, le journal ignoré par git, et l'API ouverte sur la boucle locale seule
hors de l'image (un portable sur le réseau d'un établissement n'expose rien)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import requests

from app.stockage.enregistrement import COLONNES_ENREGISTREMENT
from test.conftest import RACINE, port_libre

CLES_REVELATRICES = {"request_id", "horodatage", "prediction"}
"""Une ligne JSON qui porte ces clés parmi celles d'un enregistrement est une ligne du journal."""


def _git(*arguments: str) -> subprocess.CompletedProcess:
    if shutil.which("git") is None or not (RACINE / ".git").exists():
        pytest.skip("pas une extraction git ; pour l'activer : lancez les tests depuis un clone (git clone)")
    return subprocess.run(["git", "-C", str(RACINE), *arguments], capture_output=True)


def est_ligne_de_journal(ligne: bytes) -> bool:
    ligne = ligne.strip()
    if not (ligne.startswith(b"{") and ligne.endswith(b"}")):
        return False
    try:
        document = json.loads(ligne)
    except ValueError:
        return False
    return isinstance(document, dict) and CLES_REVELATRICES <= set(document) <= set(COLONNES_ENREGISTREMENT) | {"canal"}


def test_le_detecteur_reconnait_une_ligne_du_journal(tmp_path):
    """Le détecteur, sur une vraie ligne écrite par le journal du service (sinon le test suivant ne prouve rien)."""
    from app.stockage.journal import JournalRequetes
    from test.conftest import enregistrement

    chemin = tmp_path / "requetes.jsonl"
    JournalRequetes(chemin).ecrire([enregistrement("eleve-1", {"age": 16}, request_id="r-1")])
    lignes = chemin.read_bytes().splitlines()
    assert lignes and all(est_ligne_de_journal(ligne) for ligne in lignes)
    assert not est_ligne_de_journal(b'{"age": 16, "sex": "F"}')


def test_aucun_fichier_versionne_ne_contient_une_ligne_du_journal():
    fichiers = _git("ls-files", "-z").stdout.split(b"\0")
    fautifs = []
    for nom in filter(None, fichiers):
        chemin = RACINE / nom.decode()
        if not chemin.is_file() or chemin.stat().st_size > 20 * 2**20:
            continue
        contenu = chemin.read_bytes()
        if b"\0" in contenu[:8192]:
            continue  # binaire (modèle, images)
        nombre = sum(1 for ligne in contenu.splitlines() if est_ligne_de_journal(ligne))
        if nombre:
            fautifs.append(f"{nom.decode()} ({nombre} ligne(s))")  # jamais le contenu : données personnelles
    assert not fautifs, f"lignes du journal des requêtes dans des fichiers versionnés : {fautifs}"


def test_le_journal_et_les_sorties_d_essai_sont_ignores_par_git():
    for chemin in ("requetes_enrg.jsonl", "requetes_enrg.jsonl.segments/000001.jsonl", "resultats.sqlite3",
                   "sortie-entrainement/modele_trees.pkl", "sauvegardes/2026-12-07/base.sqlite3", "classe.csv",
                   "resultats.csv", "client_prediction_etudiante/__init__.py"):
        assert _git("check-ignore", "-q", "--no-index", chemin).returncode == 0, f"{chemin} n'est pas ignoré par git"
    assert _git("ls-files", "--error-unmatch", "requetes_enrg.jsonl").returncode != 0, "journal versionné"


def _bind(env: dict) -> str:
    code = "import runpy; print(runpy.run_path('gunicorn.conf.py')['bind'])"
    resultat = subprocess.run([sys.executable, "-c", code], cwd=RACINE, capture_output=True, text=True,
                              env={k: v for k, v in {**os.environ, **env}.items() if v is not None}, check=True)
    return resultat.stdout.strip()


def test_gunicorn_ecoute_la_boucle_locale_par_defaut_et_hote_l_ouvre():
    assert _bind({"HOTE": None, "PORT": "8123"}) == "127.0.0.1:8123"
    assert _bind({"HOTE": "0.0.0.0", "PORT": "8123"}) == "0.0.0.0:8123"
    dockerfile = (RACINE / "Dockerfile").read_text(encoding="utf-8")
    assert "HOTE=0.0.0.0" in dockerfile, "l'image doit rester joignable (Docker, Cloud Run)"


def test_make_api_sert_sur_127_0_0_1(tmp_path):
    """La commande de make api (gunicorn -c gunicorn.conf.py, sans --bind) : écoute annoncée et servie."""
    port = port_libre()
    env = {**os.environ, "PORT": str(port), "JOURNAL_CHEMIN": str(tmp_path / "j.jsonl"),
           "BASE_SQLITE_CHEMIN": str(tmp_path / "b.sqlite3"), "DATABASE_URL": "", "GUNICORN_WORKERS": "1"}
    env.pop("HOTE", None)
    sortie = tmp_path / "gunicorn.log"
    with open(sortie, "wb") as fichier:
        processus = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], cwd=RACINE,
                                     env=env, stdout=fichier, stderr=subprocess.STDOUT)
    try:
        limite = time.monotonic() + 60
        while time.monotonic() < limite:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert f"Listening at: http://127.0.0.1:{port}" in sortie.read_text(errors="replace")
    finally:
        processus.terminate()
        processus.wait(20)

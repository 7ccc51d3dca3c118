"""Journal d'abord, contre un vrai gunicorn et un vrai PostgreSQL arrêté puis relancé pendant le service.

Le PostgreSQL de ce test est le sien (``initdb`` dans un dossier temporaire, port libre sur 127.0.0.1,
utilisateur ``postgres`` du système) : l'arrêter ne gêne aucun autre test. Il faut les binaires de
PostgreSQL (``/usr/lib/postgresql/*/bin``) et être root (ou ``postgres``) ; sinon le test est sauté, ou
échoue en CI. Rien du contenu du journal ni de la base n'est affiché : seulement des nombres.
"""

from __future__ import annotations

import json
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from test.conftest import ACTIVER_CI, ids_en_base, port_libre, sauter

JETON = "jeton-de-test-" + "y" * 40
AUTORISE = {"Authorization": f"Bearer {JETON}"}


class PostgresqlPrive:
    def __init__(self):
        binaires = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        raison = None
        if not binaires:
            raison = "binaires de PostgreSQL absents (/usr/lib/postgresql/*/bin)"
        elif os.geteuid() != 0:
            raison = "lancer un PostgreSQL privé demande d'être root (runuser -u postgres)"
        if raison:
            sauter(raison, f"apt-get install postgresql et lancez les tests en root, {ACTIVER_CI}")
        self.bin = Path(binaires[-1]).parent
        self.dossier = Path(tempfile.mkdtemp(prefix="pg-essai-"))  # hors de /tmp/pytest-of-root (0700)
        shutil.chown(self.dossier, "postgres", "postgres")
        self.port = port_libre()
        self.url = f"postgresql+psycopg://essai@127.0.0.1:{self.port}/postgres"
        self._pg("initdb", "-D", str(self.dossier / "donnees"), "-A", "trust", "-U", "essai", "-E", "UTF8")

    def _pg(self, programme: str, *arguments: str) -> None:
        execution = subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / programme), *arguments],
                                   capture_output=True, text=True, timeout=120)
        assert execution.returncode == 0, execution.stderr[-1500:]

    def demarrer(self) -> None:
        self._pg("pg_ctl", "-D", str(self.dossier / "donnees"), "-l", str(self.dossier / "pg.log"), "-w", "-o",
                 f"-p {self.port} -k {self.dossier} -c listen_addresses=127.0.0.1", "start")

    def arreter(self) -> None:
        self._pg("pg_ctl", "-D", str(self.dossier / "donnees"), "-m", "fast", "-w", "stop")

    def fermer(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"), "-D",
                        str(self.dossier / "donnees"), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(self.dossier, ignore_errors=True)


@pytest.fixture()
def postgresql_prive():
    instance = PostgresqlPrive()
    instance.demarrer()
    try:
        yield instance
    finally:
        instance.fermer()


def test_postgresql_arrete_puis_relance_pendant_le_service(demarrer_serveur, postgresql_prive, exemple, mesurer):
    serveur = demarrer_serveur(workers=2, env={"API_TOKEN": JETON, "DATABASE_URL": postgresql_prive.url}).attendre()
    session = requests.Session()

    def predire(n: int) -> str:
        reponse = session.post(serveur.url + "/predire", json={**exemple, "absences": n % 94, "user_id": f"e{n % 7}"},
                               timeout=30)
        assert reponse.status_code == 200, (reponse.status_code, reponse.text[:300])
        return reponse.json()["request_id"]

    servis = [predire(n) for n in range(20)]
    # Relire ce qu'on vient de servir : jamais 404, même si la base suit derrière la réponse.
    for request_id in servis[-5:]:
        assert session.get(f"{serveur.url}/predictions/{request_id}", headers=AUTORISE, timeout=30).status_code == 200

    postgresql_prive.arreter()
    panne = [predire(n) for n in range(20, 60)]  # servies et journalisées, base absente
    servis += panne
    assert {l["request_id"] for l in serveur.lignes_journal()} == set(servis)
    retards = []
    for _ in range(40):  # l'état est celui du worker qui répond (nouvelle connexion à chaque fois)
        pret = requests.get(serveur.url + "/ready", timeout=30)
        assert pret.status_code == 503 and pret.json()["verifications"]["base"]["ok"] is False
        retards.append(pret.json()["verifications"]["alimentation"])
        if not retards[-1]["ok"]:
            break
    assert not retards[-1]["ok"] and retards[-1]["en_attente"] > 0 and "en retard" in retards[-1]["message"]
    assert "base des résultats en retard" in serveur.journal_serveur()

    postgresql_prive.demarrer()
    retour = time.monotonic()
    while set(ids_en_base(postgresql_prive.url)) != set(servis):
        assert time.monotonic() - retour < 60, "l'arriéré n'a pas été inséré au retour de la base"
        time.sleep(0.2)
    rattrape = time.monotonic() - retour
    assert predire(99) and requests.get(serveur.url + "/ready", timeout=30).status_code == 200
    assert "base des résultats rattrapée" in serveur.journal_serveur()
    serveur.arreter()
    assert set(ids_en_base(postgresql_prive.url)) == {l["request_id"] for l in serveur.lignes_journal()}
    mesurer("PostgreSQL arrêté puis relancé", f"{len(panne)} prédictions servies (200) et journalisées pendant la "
                                              f"panne ; arriéré en base {rattrape:.1f} s après le retour ; base = journal")


def test_un_debut_de_ligne_laisse_par_un_worker_tue_ne_colle_pas_la_ligne_suivante(registre, exemple):
    """Un kill -9 pendant une écriture peut laisser un début de ligne sans fin (le noyau arrête l'écriture à une
    frontière de page). La ligne suivante, servie en 200, doit rester lisible : l'écrivain la met sur sa ligne.
    Le worker tué est un vrai processus : il prend le verrou des écrivains, se note en cours d'écriture (comme
    ``_ajouter``), écrit un début de ligne et reçoit SIGKILL avant la fin."""
    import signal

    from test.conftest import enregistrement

    registre.ecrire([enregistrement("eleve-1", exemple, 0, request_id="avant")])
    pid = os.fork()
    if pid == 0:  # le worker qui sera tué
        try:
            with registre.verrou():
                descripteur = registre._ecrivain.actif()
                registre._ecrivain.avant_ecriture()
                os.write(descripteur, b'{"horodatage":"20')
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    assert os.waitpid(pid, 0)[1] == signal.SIGKILL
    registre.ecrire([enregistrement("eleve-2", exemple, 1, request_id="apres")])
    lignes = registre.chemin.read_bytes().split(b"\n")
    assert lignes[-1] == b"" and lignes[1] == b'{"horodatage":"20'
    assert [json.loads(lignes[i])["request_id"] for i in (0, 2)] == ["avant", "apres"]

"""Fixtures partagées : données réelles, artefacts livrés, serveur gunicorn sur une boucle locale."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

RACINE = Path(__file__).resolve().parent.parent
DONNEES = Path(os.environ.get("DONNEES_ETUDIANTS", RACINE.parent / "shared" / "data" / "student" / "student-por.csv"))
CODE = RACINE / "code"
EN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def chemin_donnees() -> Path:
    if not DONNEES.is_file():
        if EN_CI:
            pytest.fail(f"données introuvables en CI : {DONNEES}")
        pytest.skip(f"données introuvables : {DONNEES} (voir README, section Réentraîner)")
    return DONNEES


@pytest.fixture(scope="session")
def jeu(chemin_donnees):
    from app.donnees import lire_donnees

    return lire_donnees(chemin_donnees)


@pytest.fixture(scope="session")
def artefacts_livres():
    from app import artefacts

    return artefacts.charger(CODE)


@pytest.fixture()
def exemple() -> dict:
    return json.loads((RACINE / "test" / "donnees.json").read_text(encoding="utf-8"))


def port_libre() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serveur:
    """Un vrai gunicorn (configuration de production) sur 127.0.0.1, journal dans un dossier temporaire."""

    def __init__(self, dossier: Path, workers: int = 2, env: dict | None = None):
        dossier.mkdir(parents=True, exist_ok=True)
        self.port = port_libre()
        self.url = f"http://127.0.0.1:{self.port}"
        self.journal = dossier / "requetes.jsonl"
        self.base = dossier / "resultats.sqlite3"
        self.sortie = dossier / "gunicorn.log"
        # Jamais la base ni le jeton du développeur : SQLite temporaire et historique fermé, sauf si env le dit.
        environnement = {**os.environ, "PORT": str(self.port), "JOURNAL_CHEMIN": str(self.journal),
                         "BASE_SQLITE_CHEMIN": str(self.base), "DATABASE_URL": "", "API_TOKEN": "",
                         "GUNICORN_WORKERS": str(workers), **(env or {})}
        self.journal = Path(environnement["JOURNAL_CHEMIN"])  # celui du serveur, même si env le change
        commande = [sys.executable, "-m", "gunicorn", "-c", str(RACINE / "gunicorn.conf.py"),
                    "--bind", f"127.0.0.1:{self.port}"]
        self._fichier_sortie = open(self.sortie, "wb")
        self.processus = subprocess.Popen(commande, cwd=RACINE, env=environnement,
                                          stdout=self._fichier_sortie, stderr=subprocess.STDOUT)

    def attendre(self, delai: float = 60.0) -> "Serveur":
        limite = time.monotonic() + delai
        while time.monotonic() < limite:
            if self.processus.poll() is not None:
                raise RuntimeError(f"gunicorn s'est arrêté (code {self.processus.returncode}) : {self.journal_serveur()}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn ne répond pas : {self.journal_serveur()}")

    def journal_serveur(self) -> str:
        self._fichier_sortie.flush()
        return self.sortie.read_text(errors="replace")[-3000:]

    def arreter(self, delai: float = 15.0) -> float:
        debut = time.monotonic()
        if self.processus.poll() is None:
            self.processus.send_signal(signal.SIGTERM)
            try:
                self.processus.wait(delai)
            except subprocess.TimeoutExpired:
                self.processus.kill()
                self.processus.wait()
        self._fichier_sortie.close()
        return time.monotonic() - debut

    def lignes_journal(self) -> list[dict]:
        if not self.journal.exists():
            return []
        return [json.loads(ligne) for ligne in self.journal.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def serveur(tmp_path_factory):
    instance = Serveur(tmp_path_factory.mktemp("gunicorn")).attendre()
    yield instance
    instance.arreter()


@pytest.fixture()
def demarrer_serveur(tmp_path):
    """Fabrique de serveurs (environnement particulier) arrêtés à la fin du test."""
    lances = []

    def fabrique(**options) -> Serveur:
        instance = Serveur(tmp_path / f"s{len(lances)}", **options)
        lances.append(instance)
        return instance

    yield fabrique
    for instance in lances:
        instance.arreter()


# --- Mesures (taille d'image, délais…) : affichées dans le résumé final, même sans -s ------------

MESURES = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def mesurer(request):
    """``mesurer(nom, valeur)`` : un chiffre à montrer en fin de session, y compris en CI."""
    mesures = request.config.stash.setdefault(MESURES, [])

    def ajouter(nom: str, valeur: str) -> None:
        mesures.append((nom, valeur))
        print(f"{nom} : {valeur}")

    return ajouter


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    mesures = config.stash.get(MESURES, [])
    if mesures:
        terminalreporter.section("mesures")
        for nom, valeur in mesures:
            terminalreporter.write_line(f"{nom} : {valeur}")

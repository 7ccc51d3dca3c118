"""Fixtures et aides partagées par tous les tests : données réelles, artefacts livrés, serveur gunicorn
sur une boucle locale, bases réelles (SQLite, PostgreSQL), magasin et journal temporaires.

PostgreSQL : chaque test a son propre schéma, créé puis supprimé (la base de test reste propre et
les tests ne se voient pas). Sans ``TEST_DATABASE_URL``, ces tests sont sautés localement (raison
affichée) mais échouent en CI (``CI=true``), où ``.ci/run`` démarre PostgreSQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

RACINE = Path(__file__).resolve().parent.parent
CODE = RACINE / "code"
DONNEES = Path(os.environ.get("DONNEES_ETUDIANTS", CODE / "student-por.csv"))
"""Le fichier UCI versionné dans code/ (voir code/DONNEES.md) ; DONNEES_ETUDIANTS pour un autre."""
EN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

ACTIVER_CI = "ou lancez bash .ci/run, qui installe et démarre tout ce que la suite demande"


def sauter(raison: str, activer: str) -> None:
    """Saute un test faute d'un service de la machine, en disant comment l'activer ; en CI, échoue :
    un test sauté n'y est jamais compté comme réussi."""
    message = f"{raison} ; pour l'activer : {activer}"
    if EN_CI:
        pytest.fail(f"obligatoire en CI : {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def chemin_donnees() -> Path:
    if not DONNEES.is_file():  # versionné : son absence est un défaut, jamais un test sauté
        pytest.fail(f"données introuvables : {DONNEES} (code/student-por.csv est dans le dépôt)")
    return DONNEES


@pytest.fixture(scope="session")
def jeu(chemin_donnees):
    from app.entrainement.donnees import lire_donnees

    return lire_donnees(chemin_donnees)


@pytest.fixture(scope="session")
def artefacts_livres():
    from app.modele import artefacts

    return artefacts.charger(CODE)


@pytest.fixture()
def exemple() -> dict:
    return json.loads((RACINE / "test" / "donnees.json").read_text(encoding="utf-8"))


def port_libre() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORTS_API: set[int] = set()
"""Ports locaux où un test a lancé l'API (``Serveur``, conteneur) : leurs réponses sont confrontées au
contrat (``reponses_confrontees_au_contrat``), pas celles d'autres programmes (pilote de Chromium…)."""


class Serveur:
    """Un vrai gunicorn (configuration de production) sur 127.0.0.1, journal dans un dossier temporaire."""

    def __init__(self, dossier: Path, workers: int = 2, env: dict | None = None):
        dossier.mkdir(parents=True, exist_ok=True)
        self.port = port_libre()
        self.url = f"http://127.0.0.1:{self.port}"
        PORTS_API.add(self.port)  # ses réponses sont confrontées au contrat
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
        if not self._fichier_sortie.closed:
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
        return [json.loads(ligne) for ligne in contenu_journal(self.journal).splitlines()]


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

# --- Bases réelles : SQLite (fichier temporaire) et PostgreSQL (TEST_DATABASE_URL) --------------

VARIABLE = "TEST_DATABASE_URL"


@pytest.fixture()
def base_postgresql() -> str:
    """Une URL ``postgresql+psycopg://…`` dont le ``search_path`` est un schéma neuf, propre à ce test."""
    url = os.environ.get(VARIABLE, "").strip()
    if not url:
        sauter("PostgreSQL non configuré", f"exportez {VARIABLE}=postgresql+psycopg://utilisateur:mot@127.0.0.1:5432/base "
               f"(docs/exploitation.md, « PostgreSQL »), {ACTIVER_CI}")
    with schema_neuf(url) as url_schema:
        yield url_schema


@contextlib.contextmanager
def schema_neuf(url: str):
    """L'URL PostgreSQL ``url`` dont le ``search_path`` est un schéma neuf, supprimé à la sortie."""
    schema = f"essai_{uuid.uuid4().hex[:16]}"
    moteur = create_engine(url)
    with moteur.begin() as connexion:
        connexion.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with moteur.begin() as connexion:
            connexion.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        moteur.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url_base(request, tmp_path) -> str:
    """La même épreuve contre SQLite et contre PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'resultats.sqlite3'}"
    return request.getfixturevalue("base_postgresql")


@pytest.fixture()
def magasin(url_base):
    from app.stockage.magasin import MagasinResultats

    instance = MagasinResultats(url_base)
    assert instance.preparer() is True
    yield instance
    instance.moteur.dispose()


@pytest.fixture()
def registre(tmp_path):
    from app.stockage.journal import JournalRequetes

    return JournalRequetes(tmp_path / "requetes.jsonl")


def enregistrement(user_id, entrees, numero=0, request_id=None) -> dict:
    """Un enregistrement de prédiction d'essai, fait par la fonction du stockage (mêmes clés, même ordre)."""
    from app.stockage.enregistrement import nouvel_enregistrement

    horodatage = dt.datetime(2026, 11, 23, 8, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=numero)
    return nouvel_enregistrement(
        horodatage=horodatage.isoformat(timespec="microseconds"), request_id=request_id or uuid.uuid4().hex,
        user_id=user_id, configuration="A", entrees=entrees, prediction=numero % 2, probabilite_echec=0.25,
        probabilite_reussite=0.75, seuil=0.4, model_version="essai", canal="http")


def contenu_journal(chemin) -> str:
    """Le texte du journal entier (segments scellés puis journal actif), du plus ancien au plus récent."""
    from app.stockage.journal import JournalRequetes

    return "".join(f.read_text(encoding="utf-8") for f in JournalRequetes(chemin).fichiers() if f.exists())


def lignes(registre) -> list[dict]:
    """Les lignes du journal d'un ``JournalRequetes`` (segments compris), relues."""
    return [json.loads(ligne) for ligne in contenu_journal(registre.chemin).splitlines()]


def ids_en_base(url: str) -> list[str]:
    """Les request_id conservés dans la base ``url`` (SQLite ou PostgreSQL), relus par une connexion à part."""
    moteur = create_engine(url)
    try:
        with moteur.connect() as connexion:
            return list(connexion.scalars(text("SELECT request_id FROM predictions")))
    finally:
        moteur.dispose()


# --- Processus gunicorn ------------------------------------------------------------------------

def workers(maitre: int) -> list[int]:
    """Les processus fils du maître gunicorn (ses workers)."""
    try:
        with open(f"/proc/{maitre}/task/{maitre}/children") as fichier:
            return sorted(int(pid) for pid in fichier.read().split())
    except FileNotFoundError:
        return []


def fichiers_ouverts(pid: int | str = "self") -> list[str]:
    """Ce que visent les descripteurs ouverts d'un processus (``/proc/<pid>/fd``) : fichiers, ``socket:[…]``."""
    dossier = f"/proc/{pid}/fd"
    cibles = []
    for nom in os.listdir(dossier):
        try:
            cibles.append(os.readlink(f"{dossier}/{nom}"))
        except OSError:  # fermé entre la liste et la lecture
            pass
    return cibles


def attendre_workers(maitre: int, nombre: int = 2, delai: float = 60.0) -> list[int]:
    """Les workers du maître, une fois qu'ils sont ``nombre`` (``/health`` répond dès le premier)."""
    limite = time.monotonic() + delai
    while len(actuels := workers(maitre)) != nombre:
        assert time.monotonic() < limite, f"{len(actuels)} workers au lieu de {nombre}"
        time.sleep(0.05)
    return actuels


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


# --- Chaque réponse confrontée au contrat publié (test/contrat_reponses.py) ------------------------

ECARTS_DU_TEST = pytest.StashKey[list]()


@pytest.fixture(scope="session", autouse=True)
def reponses_confrontees_au_contrat(request):
    """Branche, pour toute la session, la vérification de chaque réponse reçue par ``requests`` ou ``httpx``
    de l'API lancée par les tests (``PORTS_API``) et de chaque message reçu sur un canal gRPC
    (``test/contrat_reponses.py``). Les écarts vont au test en cours (``ecarts_du_test``), qui échoue."""
    import grpc
    import httpx

    from test.contrat_reponses import contrat_http, ecarts_grpc

    def noter(ecarts: list[str]) -> None:
        courant = request.config.stash.get(ECARTS_DU_TEST, None)
        if courant is not None:
            courant.extend(ecarts)

    def juger(methode: str, url: str, statut: int, type_contenu: str, corps: bytes) -> None:
        from urllib.parse import urlsplit

        adresse = urlsplit(url)
        if adresse.hostname in ("127.0.0.1", "localhost", "::1") and adresse.port in PORTS_API:
            noter(contrat_http().ecarts(methode, url, statut, type_contenu, corps))

    envoyer_requests = requests.Session.send

    def send_requests(self, requete, **options):
        reponse = envoyer_requests(self, requete, **options)
        if not options.get("stream"):  # un flux lu par le test n'est pas relu ici
            juger(requete.method, requete.url, reponse.status_code, reponse.headers.get("Content-Type", ""),
                  reponse.content)
        return reponse

    envoyer_httpx = httpx.Client.send

    def send_httpx(self, requete, **options):
        reponse = envoyer_httpx(self, requete, **options)
        if not options.get("stream"):
            juger(requete.method, str(requete.url), reponse.status_code, reponse.headers.get("content-type", ""),
                  reponse.content)
        return reponse

    def juger_message(message) -> None:
        if message.DESCRIPTOR.full_name.startswith("prediction_etudiante."):  # ni santé, ni réflexion
            noter(ecarts_grpc(message))

    class Verificateur(grpc.UnaryUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
        def intercept_unary_unary(self, continuation, details, demande):
            appel = continuation(details, demande)
            if appel.exception() is None:
                juger_message(appel.result())
            return appel

        def intercept_stream_stream(self, continuation, details, demandes):
            return FluxVerifie(continuation(details, demandes))

    class FluxVerifie:
        """Le flux de réponses, chaque message vérifié au passage ; le reste de l'appel (métadonnées,
        statut, annulation) tel quel."""

        def __init__(self, appel):
            self._appel = appel

        def __iter__(self):
            return self

        def __next__(self):
            message = next(self._appel)
            juger_message(message)
            return message

        def __getattr__(self, nom):
            return getattr(self._appel, nom)

    canal_original = grpc.insecure_channel

    def canal_verifie(*args, **options):
        return grpc.intercept_channel(canal_original(*args, **options), Verificateur())

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.Session, "send", send_requests)
        patch.setattr(httpx.Client, "send", send_httpx)
        patch.setattr(grpc, "insecure_channel", canal_verifie)
        yield


@pytest.fixture(autouse=True)
def ecarts_du_test(request):
    """Les réponses hors contrat reçues pendant ce test (clé requise absente, clé non déclarée, type,
    statut) : le test échoue s'il y en a."""
    ecarts: list[str] = []
    request.config.stash[ECARTS_DU_TEST] = ecarts
    yield ecarts
    request.config.stash[ECARTS_DU_TEST] = None
    assert not ecarts, "réponses hors contrat :\n" + "\n".join(dict.fromkeys(ecarts))

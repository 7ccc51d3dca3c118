"""Contrat du conteneur : l'image construite par le Dockerfile, lancée comme dans le README.

Construite une fois par session (le cache des couches rend les constructions suivantes rapides),
sous un tag unique ; chaque conteneur a un nom unique, ne publie ses ports que sur 127.0.0.1 et
est supprimé à la fin. Sans moteur de conteneurs, ces tests sont sautés, sauf en CI (CI=true)
où ils échouent. Les chiffres (taille, délais) s'affichent dans la section « mesures » du résumé.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from test.charge import requete_lente
from test.conftest import ACTIVER_CI, PORTS_API, RACINE, ids_en_base, port_libre, sauter

pytestmark = pytest.mark.conteneur

SESSION = uuid.uuid4().hex[:8]
TAG_CACHE = "prediction-etudiante-api:cache-tests"
DONNEES = json.loads((RACINE / "test" / "donnees.json").read_text(encoding="utf-8"))
# Ce que l'image doit contenir dans /app, et rien d'autre (pas de tests, de journaux, de .venv…).
CONTENU_APP = {"app", "code", "gunicorn.conf.py", "requirements.txt", "donnees", "__pycache__"}
ARTEFACTS = {"modele_trees.pkl", "features.pkl", "model_card.json", "reference_derive.json"}


def docker(*arguments: str, delai: float = 120, verifier: bool = True, env: dict | None = None):
    resultat = subprocess.run(["docker", *arguments], capture_output=True, text=True, timeout=delai,
                              env={**os.environ, **(env or {})})
    if verifier and resultat.returncode != 0:
        raise AssertionError(f"docker {' '.join(arguments)} : code {resultat.returncode}\n"
                             f"{resultat.stdout[-2000:]}\n{resultat.stderr[-3000:]}")
    return resultat


@pytest.fixture(scope="session")
def moteur():
    """Un moteur de conteneurs qui répond, sinon saut (ou échec en CI)."""
    raison = None
    if shutil.which("docker") is None:
        raison = "commande docker introuvable (voir ../shared/container/README.md)"
    else:
        try:
            if docker("info", delai=60, verifier=False).returncode != 0:
                raison = "docker info échoue : aucun moteur de conteneurs disponible"
        except subprocess.TimeoutExpired:
            raison = "docker info ne répond pas"
    if raison:
        sauter(raison, 'démarrez podman ou docker (ici : PATH="$(bash ../shared/container/setup.sh):$PATH", '
               f"voir ../shared/container/README.md), {ACTIVER_CI}")


@pytest.fixture(scope="session")
def image(moteur, mesurer):
    tag = f"prediction-etudiante-api:test-{SESSION}"
    debut = time.monotonic()
    # Le tag stable « cache-tests » garde les couches (dépendances) d'une session à l'autre : seul le
    # tag unique est retiré à la fin. BUILDAH_FORMAT=docker : podman garde alors le HEALTHCHECK
    # (variable ignorée par Docker lui-même).
    docker("build", "-t", tag, "-t", TAG_CACHE, str(RACINE), delai=1800, env={"BUILDAH_FORMAT": "docker"})
    mesurer("construction de l'image (cache compris)", f"{time.monotonic() - debut:.1f} s")
    taille = int(docker("image", "inspect", "-f", "{{.Size}}", tag).stdout.strip())
    mesurer("taille de l'image", f"{taille / 1e6:.0f} Mo ({taille} octets)")
    yield tag
    docker("rmi", tag, verifier=False)


class Conteneur:
    def __init__(self, nom: str, port_hote: int):
        self.nom = nom
        self.url = f"http://127.0.0.1:{port_hote}"
        PORTS_API.add(port_hote)  # l'image sert le même code : ses réponses sont confrontées au contrat

    def attendre(self, delai: float = 90.0) -> float:
        """Attend le premier 200 sur ``/`` ; renvoie le temps écoulé."""
        debut = time.monotonic()
        while time.monotonic() - debut < delai:
            try:
                if requests.get(self.url + "/", timeout=2).status_code == 200:
                    return time.monotonic() - debut
            except requests.RequestException:
                pass
            etat = docker("inspect", "-f", "{{.State.Running}}", self.nom, verifier=False).stdout.strip()
            if etat == "false":
                raise AssertionError(f"le conteneur s'est arrêté :\n{self.journaux()}")
            time.sleep(0.2)
        raise AssertionError(f"pas de réponse 200 en {delai} s :\n{self.journaux()}")

    def journaux(self) -> str:
        resultat = docker("logs", self.nom, verifier=False)
        # Sortie de gunicorn seulement : jamais le contenu des requêtes (JOURNAL_MODE=fichier ici).
        return (resultat.stdout + resultat.stderr)[-3000:]

    def executer(self, *commande: str) -> str:
        return docker("exec", self.nom, *commande).stdout


@pytest.fixture()
def lancer(image):
    """Fabrique de conteneurs détachés, supprimés à la fin du test."""
    noms = []

    def fabrique(*options: str, port_conteneur: int = 8080) -> tuple[Conteneur, float]:
        nom = f"pe-test-{SESSION}-{len(noms)}"
        port = port_libre()
        noms.append(nom)
        debut = time.monotonic()
        docker("run", "-d", "--name", nom, "-p", f"127.0.0.1:{port}:{port_conteneur}", *options, image)
        conteneur = Conteneur(nom, port)
        conteneur.attendre()
        return conteneur, time.monotonic() - debut

    yield fabrique
    for nom in noms:
        docker("rm", "-f", nom, verifier=False)


def journal_hote(dossier: Path, proprietaire: int | None) -> Path:
    """Le fichier de l'hôte monté comme dans le README (créé avant : sinon Docker crée un dossier)."""
    chemin = dossier / "requetes_enrg.jsonl"
    chemin.touch()
    if proprietaire is not None:
        os.chown(chemin, proprietaire, proprietaire)
    return chemin


@pytest.mark.parametrize("proprietaire", ["utilisateur", "root"])
def test_accueil_prediction_et_journal_sur_l_hote(lancer, tmp_path, mesurer, proprietaire):
    est_root = os.geteuid() == 0
    if proprietaire == "root" and not est_root:
        pytest.skip("fichier appartenant à root ; pour l'activer : lancez les tests en root (sudo make tests ou bash .ci/run)")
    uid_attendu = (1000 if est_root else os.geteuid()) if proprietaire == "utilisateur" else None
    fichier = journal_hote(tmp_path, 1000 if proprietaire == "utilisateur" and est_root else None)
    conteneur, premier_200 = lancer("-v", f"{fichier}:/app/requetes_enrg.jsonl")
    mesurer(f"docker run → premier 200 (journal de {proprietaire})", f"{premier_200:.1f} s")

    accueil = requests.get(conteneur.url + "/", timeout=10)
    assert accueil.status_code == 200
    assert accueil.json()["model_version"]

    reponse = requests.post(conteneur.url + "/predire", json=DONNEES, timeout=10)
    assert reponse.status_code == 200, reponse.text[:500]
    corps = reponse.json()
    assert corps["resultats"]["configuration"] == "A"
    assert corps["resultats"]["prediction"] in (0, 1)

    # La prédiction apparaît dans le fichier de l'hôte (on n'en affiche jamais le contenu).
    lignes = [json.loads(ligne) for ligne in fichier.read_text(encoding="utf-8").splitlines()]
    assert [ligne["request_id"] for ligne in lignes] == [corps["request_id"]]
    if uid_attendu is not None:
        assert fichier.stat().st_uid == uid_attendu, "le fichier de l'hôte doit garder son propriétaire"
    assert requests.get(conteneur.url + "/ready", timeout=10).json()["pret"] is True
    # /app n'est pas inscriptible : le verrou du journal monté est dans le dossier de données.
    assert "requetes_enrg.jsonl.lock" in conteneur.executer("ls", "-A", "/app/donnees").split()
    assert "requetes_enrg.jsonl.lock" not in conteneur.executer("ls", "-A", "/app").split()


def test_port_honore(lancer):
    conteneur, _ = lancer("-e", "PORT=9090", port_conteneur=9090)
    assert requests.get(conteneur.url + "/", timeout=10).status_code == 200
    assert "0.0.0.0:9090" in conteneur.journaux()
    # Le worker de l'image (gunicorn.conf.py) répond lui-même une URL trop longue : en JSON, en français.
    trop_longue = requests.get(conteneur.url + "/" + "a" * 5000, timeout=10)
    assert trop_longue.status_code == 414 and "trop longue" in trop_longue.json()["erreur"]


def test_processus_non_root_et_contenu(lancer, image):
    conteneur, _ = lancer()
    script = (
        "import os, json\n"
        "sortie = {}\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n"
        "        cmd = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode()\n"
        "        uid = [l.split()[1:] for l in open(f'/proc/{pid}/status') if l.startswith('Uid:')][0]\n"
        "    except OSError:\n"
        "        continue\n"
        "    if 'gunicorn' in cmd and int(pid) != os.getpid():\n"
        "        sortie[pid] = {'cmd': cmd, 'uid': uid}\n"
        "print(json.dumps(sortie))\n"
    )
    processus = json.loads(conteneur.executer("python", "-c", script))
    assert "1" in processus, f"gunicorn doit être le processus 1 (il reçoit SIGTERM) : {processus}"
    assert len(processus) >= 2, "le maître et au moins un worker"
    for pid, info in processus.items():
        assert all(int(u) != 0 for u in info["uid"]), f"processus {pid} en root : {info}"

    contenu = set(conteneur.executer("ls", "-A", "/app").split())
    assert contenu <= CONTENU_APP, contenu  # rien n'est créé à côté du code
    assert ARTEFACTS <= set(conteneur.executer("ls", "/app/code").split())
    assert docker("image", "inspect", "-f", "{{json .Config.User}}", image).stdout.strip() in ('""', "null")


def test_code_non_inscriptible_et_donnees_en_0600(lancer, mesurer):
    """Le service ne peut rien écrire sur le chemin d'import (/app) ; ses fichiers (journal, verrou,
    SQLite et ses -wal/-shm) sont dans /app/donnees, en 0600 (umask 077)."""
    conteneur, _ = lancer("-e", "API_TOKEN=" + "t" * 40)
    assert requests.post(conteneur.url + "/predire", json={**DONNEES, "user_id": "e1"}, timeout=10).status_code == 200
    uid = conteneur.executer("stat", "-c", "%u", "/proc/1").strip()
    essai = docker("exec", "-u", f"{uid}:{uid}", conteneur.nom, "python", "-c",
                   "import os, sys\n"
                   "for chemin in ('/app/essai.py', '/app/app/essai.py', '/app/code/essai.pkl'):\n"
                   "    try:\n        open(chemin, 'w'); sys.exit(chemin + ' inscriptible')\n"
                   "    except PermissionError:\n        pass\n", verifier=False)
    assert essai.returncode == 0, essai.stdout + essai.stderr
    # Fichiers (dossier des segments du journal compris : état du suiveur, verrous) en 0600, dossiers en 0700.
    droits = dict(ligne.split() for ligne in conteneur.executer(
        "find", "/app/donnees", "-mindepth", "1", "-type", "f", "-printf", "%P %m\n").splitlines())
    dossiers = dict(ligne.split() for ligne in conteneur.executer(
        "find", "/app/donnees", "-mindepth", "1", "-type", "d", "-printf", "%P %m\n").splitlines())
    assert {"requetes_enrg.jsonl", "requetes_enrg.jsonl.lock", "resultats.sqlite3"} <= set(droits), droits
    assert set(droits.values()) == {"600"}, droits
    assert set(dossiers.values()) <= {"700"}, dossiers
    assert conteneur.executer("stat", "-c", "%a %U", "/app").split() == ["755", "root"]
    mesurer("image : droits des fichiers de données", f"{sorted(set(droits.values()))} ; /app 755 root (avant : 1775 root:api, fichiers 644)")


def test_healthcheck(lancer, image):
    """Le HEALTHCHECK de l'image (en Python : pas de curl) réussit dans le conteneur lancé."""
    brut = docker("image", "inspect", "-f", "{{json .Config.Healthcheck}}", image).stdout.strip()
    sante = json.loads(brut) if brut not in ("", "null") else None
    assert sante and sante.get("Test"), "HEALTHCHECK absent de l'image"
    test = sante["Test"]
    assert test[0] in ("CMD", "CMD-SHELL") and test[1] == "python", test
    conteneur, _ = lancer()
    commande = test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]
    assert docker("exec", conteneur.nom, *commande, verifier=False).returncode == 0


def test_arret_sigterm_termine_les_requetes_en_cours(lancer, mesurer):
    conteneur, _ = lancer()
    statuts: list[int] = []
    refus: list[str] = []
    arreter_charge = threading.Event()

    def charge():
        session = requests.Session()
        while not arreter_charge.is_set():
            try:
                statuts.append(session.post(conteneur.url + "/predire", json=DONNEES, timeout=15).status_code)
            except requests.RequestException as erreur:
                refus.append(type(erreur).__name__)
                time.sleep(0.05)

    lente: dict = {}
    partir = threading.Event()
    fil_lent = threading.Thread(target=requete_lente, args=(conteneur.url, DONNEES, lente, partir))
    fil_lent.start()
    fils = [threading.Thread(target=charge) for _ in range(4)]
    for fil in fils:
        fil.start()
    time.sleep(1.0)
    assert lente.get("envoyee") and statuts, "la charge doit avoir commencé avant l'arrêt"

    debut = time.monotonic()
    arret = threading.Thread(target=docker, args=("stop", conteneur.nom), kwargs={"delai": 60})
    arret.start()
    time.sleep(1.0)  # SIGTERM reçu : la requête lente est en cours, son corps arrive maintenant
    partir.set()
    arret.join(60)
    duree = time.monotonic() - debut
    arreter_charge.set()
    fil_lent.join(30)
    for fil in fils:
        fil.join(30)

    mesurer("docker stop (SIGTERM) → sortie, requêtes en cours", f"{duree:.1f} s")
    mesurer("requêtes servies pendant l'essai d'arrêt", f"{len(statuts)} (refusées après l'arrêt : {len(refus)})")
    assert lente.get("statut") == 200, f"la requête en cours au SIGTERM doit recevoir sa réponse : {lente}"
    assert set(statuts) == {200}, f"statuts inattendus : {sorted(set(statuts))}"
    assert duree < 10, f"arrêt en {duree:.1f} s : Cloud Run tue le conteneur après 10 s"
    etat = docker("inspect", "-f", "{{.State.ExitCode}}", conteneur.nom).stdout.strip()
    assert etat == "0", f"sortie {etat} : gunicorn doit s'arrêter proprement, pas être tué\n{conteneur.journaux()}"


def test_image_de_service_legere_sans_dependances_d_entrainement(image, mesurer):
    """L'image sert le modèle compilé : ni scikit-learn, ni scipy, ni pandas, ni le code d'entraînement,
    et au plus 300 Mo au-dessus de l'image de base (tailles de ``docker image inspect``)."""
    taille = int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout.strip())
    base = int(docker("image", "inspect", "-f", "{{.Size}}", "python:3.11-slim").stdout.strip())
    mesurer("image au-dessus de python:3.11-slim", f"{(taille - base) / 1e6:.0f} Mo ({taille / 1e6:.0f} − {base / 1e6:.0f})")
    assert taille - base <= 300e6
    script = ("import importlib.util as u, os; print([m for m in ('sklearn', 'scipy', 'pandas', 'joblib') "
              "if u.find_spec(m)], os.path.exists('/app/app/entrainement'), os.path.exists('/app/code/modele_compile.npz'))")
    sortie = docker("run", "--rm", "--entrypoint", "python", image, "-c", script).stdout.strip()
    assert sortie == "[] False True"


def test_premier_200_sur_predire_apres_docker_run(image, mesurer):
    """Le démarrage à froid tel qu'un client le voit : de ``docker run`` à la première prédiction servie
    (chiffre affiché, jamais comparé à un délai : la machine est partagée)."""
    nom, port = f"pe-test-{SESSION}-froid", port_libre()
    debut = time.monotonic()
    docker("run", "-d", "--name", nom, "-p", f"127.0.0.1:{port}:8080", image)
    try:
        statut = None
        while time.monotonic() - debut < 90 and statut != 200:
            try:
                statut = requests.post(f"http://127.0.0.1:{port}/predire", json=DONNEES, timeout=2).status_code
            except requests.RequestException:
                time.sleep(0.02)
        duree = time.monotonic() - debut
    finally:
        docker("rm", "-f", nom, verifier=False)
    assert statut == 200
    mesurer("docker run → premier 200 sur /predire", f"{duree:.2f} s")


# --- La pile complète sous compose : API HTTP, serveur gRPC et PostgreSQL ------------------------------

def _compose(projet: str, env: dict, *arguments: str, delai: float = 600, verifier: bool = True):
    return docker("compose", "-p", projet, "-f", str(RACINE / "docker-compose.yml"), *arguments, delai=delai,
                  verifier=verifier, env=env)


def test_compose_api_grpc_et_postgresql(image, mesurer):
    """``docker compose up`` (image de la session) : l'API attend PostgreSQL sain, le serveur gRPC aussi ;
    une prédiction par HTTP et une par gRPC se relisent dans PostgreSQL (psql dans son conteneur) et dans
    le journal commun, chacune une fois, avec son canal ; chaque service passe son contrôle de santé ;
    ``down -v`` retire tout."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from app.rpc import prediction_pb2, prediction_pb2_grpc

    projet = f"pe-test-{SESSION}-compose"
    port_http, port_grpc = port_libre(), port_libre()
    env = {"IMAGE_API": image, "PORT_HOTE": str(port_http), "GRPC_PORT_HOTE": str(port_grpc),
           "POSTGRES_PASSWORD": uuid.uuid4().hex, "GUNICORN_WORKERS": "1"}
    debut = time.monotonic()
    try:
        _compose(projet, env, "up", "-d")
        url = f"http://127.0.0.1:{port_http}"
        canal = grpc.insecure_channel(f"127.0.0.1:{port_grpc}")
        sante = health_pb2_grpc.HealthStub(canal)
        pret_http = pret_grpc = False
        while time.monotonic() - debut < 180 and not (pret_http and pret_grpc):
            try:
                pret_http = pret_http or requests.get(url + "/ready", timeout=2).status_code == 200
            except requests.RequestException:
                pass
            try:
                pret_grpc = pret_grpc or sante.Check(health_pb2.HealthCheckRequest(), timeout=2).status == \
                    health_pb2.HealthCheckResponse.SERVING
            except grpc.RpcError:
                pass
            time.sleep(0.5)
        journaux = _compose(projet, env, "logs", verifier=False)
        assert pret_http and pret_grpc, f"pile pas prête : HTTP {pret_http}, gRPC {pret_grpc}\n{journaux.stdout[-3000:]}"
        mesurer("docker compose up → API (/ready) et gRPC (SERVING) prêts", f"{time.monotonic() - debut:.1f} s")

        id_http, id_grpc = f"compose-http-{SESSION}", f"compose-grpc-{SESSION}"
        reponse = requests.post(url + "/predire", json=DONNEES, headers={"X-Request-ID": id_http}, timeout=30)
        assert reponse.status_code == 200, reponse.text[:500]
        par_grpc = prediction_pb2_grpc.PredictionStub(canal).Predire(
            prediction_pb2.DemandePrediction(**DONNEES), timeout=30, metadata=(("x-request-id", id_grpc),))
        assert par_grpc.request_id == id_grpc
        assert par_grpc.probabilite_echec == reponse.json()["resultats"]["probabilite_echec"]
        canal.close()

        requete = (f"SELECT request_id, canal FROM predictions WHERE request_id IN ('{id_http}', '{id_grpc}') "
                   "ORDER BY canal")
        lu = _compose(projet, env, "exec", "-T", "postgres", "psql", "-U", "etudiante", "-d", "resultats",
                      "-tA", "-c", requete, delai=60).stdout.split()
        assert lu == [f"{id_grpc}|grpc", f"{id_http}|http"]
        compter = ("import json; l = [json.loads(x) for x in open('/app/donnees/requetes_enrg.jsonl')]; "
                   f"print(sorted((e['request_id'], e['canal']) for e in l if e['request_id'] in ('{id_http}', '{id_grpc}')))")
        assert _compose(projet, env, "exec", "-T", "grpc", "python", "-c", compter, delai=60).stdout.strip() == \
            str(sorted([(id_http, "http"), (id_grpc, "grpc")]))

        noms = docker("ps", "--filter", f"label=com.docker.compose.project={projet}", "--format",
                      "{{.Names}}").stdout.split()
        assert len(noms) == 3, noms
        for nom in noms:  # chaque contrôle de santé déclaré dans docker-compose.yml passe
            assert docker("healthcheck", "run", nom, verifier=False).returncode == 0, nom
        # Le serveur gRPC est le processus 1 de son conteneur : docker stop (SIGTERM) l'arrête proprement.
        (grpc_nom,) = [nom for nom in noms if "grpc" in nom]
        debut_arret = time.monotonic()
        docker("stop", grpc_nom, delai=60)
        mesurer("docker stop du conteneur gRPC (SIGTERM) → sortie", f"{time.monotonic() - debut_arret:.1f} s")
        assert docker("inspect", "-f", "{{.State.ExitCode}}", grpc_nom).stdout.strip() == "0", \
            _compose(projet, env, "logs", "grpc", verifier=False).stdout[-3000:]
    finally:
        _compose(projet, env, "down", "-v", verifier=False)
    restants = docker("ps", "-a", "--filter", f"label=com.docker.compose.project={projet}", "--format",
                      "{{.Names}}").stdout.split()
    volumes = [v for v in docker("volume", "ls", "--format", "{{.Name}}").stdout.split() if v.startswith(projet)]
    assert restants == [] and volumes == [], (restants, volumes)


def test_job_de_lot_en_deux_taches_sur_dossiers_montes(image, tmp_path, mesurer):
    """L'image lance ``python -m app.lot`` comme une tâche de job Cloud Run : deux conteneurs en même temps, chacun
    avec CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT, l'entrée montée en lecture seule, la sortie et le dossier
    de données (journal, SQLite) montés et partagés. Chaque fichier une fois, chaque élève une fois."""
    from test.test_lot_commande import base, ecrire_classe, ids_au_journal

    entree, sortie, donnees = tmp_path / "entree", tmp_path / "sortie", tmp_path / "donnees"
    for dossier in (entree, sortie, donnees):
        dossier.mkdir()
    fichiers, eleves = 9, 40
    for i in range(fichiers):
        ecrire_classe(entree / f"classe-{i}.csv", eleves, graine=100 + i)
    entree.chmod(0o755)
    if os.geteuid() == 0:  # comme les montages du job (uid=10001) : l'utilisateur « api » de l'image y écrit
        for dossier in (sortie, donnees):
            os.chown(dossier, 10001, 10001)
    else:
        for dossier in (sortie, donnees):
            dossier.chmod(0o777)
    noms = [f"pe-lot-{SESSION}-{t}" for t in range(2)]
    debut = time.monotonic()
    try:
        for tache, nom in enumerate(noms):
            docker("run", "-d", "--name", nom, "-e", f"CLOUD_RUN_TASK_INDEX={tache}", "-e", "CLOUD_RUN_TASK_COUNT=2",
                   "-v", f"{entree}:/mnt/entree:ro", "-v", f"{sortie}:/mnt/sortie", "-v", f"{donnees}:/app/donnees",
                   image, "python", "-m", "app.lot", "/mnt/entree", "/mnt/sortie")
        codes = [docker("wait", nom, delai=300).stdout.strip() for nom in noms]
        mesurer("job de lot, 2 tâches en conteneur", f"{time.monotonic() - debut:.1f} s")
        journaux = [docker("logs", nom).stdout for nom in noms]
        assert codes == ["0", "0"], [docker("logs", nom).stderr[-2000:] for nom in noms]
    finally:
        for nom in noms:
            docker("rm", "-f", nom, verifier=False)
    pris = []
    for tache, sortie_tache in enumerate(journaux):
        evenements = [json.loads(ligne) for ligne in sortie_tache.splitlines() if ligne.startswith("{")]
        assert {e["tache"] for e in evenements} == {tache} and evenements[-1]["evenement"] == "fin"
        pris += [e["fichier"] for e in evenements if e["evenement"] == "fichier" and e["statut"] == "termine"]
    assert sorted(pris) == sorted(f"classe-{i}.csv" for i in range(fichiers)), "chaque fichier par une seule tâche"
    for i in range(fichiers):
        resume = json.loads((sortie / f"classe-{i}.resume.json").read_text(encoding="utf-8"))
        assert resume["statut"] == "termine" and resume["predits"] == eleves and resume["canal"] == "lot"
    au_journal, en_base = ids_au_journal(donnees), ids_en_base(base(donnees))
    assert len(au_journal) == len(set(au_journal)) == fichiers * eleves, "une ligne de journal par élève"
    assert sorted(en_base) == sorted(au_journal), "une prédiction en base par élève, la même qu'au journal"

"""Banc d'essai : ``python -m outils.banc_essai`` (ou ``make banc``) imprime un tableau de mesures.

Chaque mesure est comparée à sa référence **dans la même exécution** (la machine peut être
partagée et bruyante : seuls les rapports mesurés ensemble comptent) :

1. en mémoire, un élève validé → probabilités et explication : chemin compilé contre le chemin
   direct (DataFrame pandas d'une ligne → ``predict_proba`` du pipeline scikit-learn) ;
2. en mémoire, un lot de 100 000 élèves validés (dicts des 32 champs, l'entrée de la route
   ``/predire/lot``) : ``Predicteur.predire_lot`` (et, à part, validation et mise en forme) contre
   ``predict_proba`` du pipeline sur le même lot (médianes de 5 ; le 1er appel est rapporté) ;
3. HTTP, à 8 puis 32 connexions (``--connexions``), générateur de charge ``wrk`` sur la boucle locale
   (req/s, p50, p99, et CPU des workers par requête, moins sensible à la charge des voisins),
   tours alternés de quatre cibles lancées ensemble : ``/predire`` contre ``/health`` (même
   processus) ; contre une route Flask triviale qui lit et analyse le même corps JSON
   (``outils/appli_triviale.py``) sous la même configuration gunicorn ; et contre une application
   construite comme le projet remplacé (``outils/appli_ancienne.py`` : DataFrame d'une ligne →
   ``predict_proba``, ligne JSON ajoutée à un fichier, ``gunicorn -w 2`` en worker sync) ; puis un
   ``POST /predire/lot`` du plus grand lot permis, en JSON et en CSV, de bout en bout ;
4. gRPC (``python -m app.rpc``, lancé à côté du même gunicorn) : ``Predire`` unaire contre HTTP
   ``/predire``, même générateur de charge (client Python, mêmes fils, tours alternés ; et CPU du
   serveur par requête) ; puis un flux ``PredireFlux`` du plus grand lot permis contre
   ``POST /predire/lot`` du même lot en JSON ;
5. démarrage à froid : du lancement de gunicorn à la première réponse 200 de ``/predire`` ;
6. mémoire résidente de chaque worker gunicorn (RSS et PSS) après la charge ;
7. les pairs (``outils/banc_pairs.py``) : le même pipeline servi par ``mlflow models serve`` et par MLServer,
   vérifié bit pour bit, une prédiction et un lot de 1 000 élèves côte à côte, une classe CSV de 400 par
   ``/predire/lot/partiel``, et le CPU d'un lot décomposé. ``--parties`` choisit les parties (un passage de
   toutes dépasse les 3 minutes), ``--avant REVISION`` sert aussi une version antérieure du projet.

Aucune donnée d'élève réel n'est utilisée ni affichée : les élèves sont tirés au hasard dans le
schéma ; journal et base vont dans un dossier temporaire, effacé à la fin.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import csv
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

RACINE = Path(__file__).resolve().parent.parent
LOT_BANC = 100_000
REPETITIONS_LOT = 5
"""Passages chronométrés du lot (et du pipeline de référence) : la médiane est comparée à l'objectif."""
TOURS_HTTP = 3
"""Tours alternés des pairs et de gRPC ; les médianes sont comparées."""
TOURS_PREDIRE = 5
"""Tours alternés /health, /predire, route triviale, ancienne application, contre-épreuve et journal seul sous wrk :
les médianes sont comparées, et les rapports tour par tour (/predire contre la contre-épreuve du même tour) donnés."""
CONNEXIONS = (8, 32)
FILS_GRPC = 8
PARTIES = ("memoire", "froid", "http", "pairs")
"""Les parties du banc (``--parties``) : en mémoire, démarrage à froid, HTTP et gRPC, pairs et lots."""
OBJECTIFS = {"une_us": 50.0, "une_rapport": 100.0, "http_rapport": 0.65, "p99_rapport": 3.0,
             "contre_epreuve_rapport": 0.85, "contre_epreuve_p99": 1.5, "lot_par_s": 200_000.0, "froid_s": 1.0}
"""Issue 26 : /predire à 85 % au moins des req/s de la contre-épreuve (même application sans journal ni base),
p99 à 1,5× le sien au plus ; soit 65 % au moins de la route triviale."""


# --- en mémoire -----------------------------------------------------------------------------------

def _mediane_us(fonction, arguments: list, repetitions: int) -> float:
    durees = []
    for i in range(repetitions):
        argument = arguments[i % len(arguments)]
        debut = time.perf_counter_ns()
        fonction(argument)
        durees.append(time.perf_counter_ns() - debut)
    return statistics.median(durees) / 1000


def mesurer_en_memoire(repetitions: int, taille_lot: int) -> dict:
    from app.config import Configuration
    from app.modele.artefacts import charger
    from app.modele.eleves_aleatoires import eleves_aleatoires
    from app.modele.pipeline import en_tableau, probabilite_echec
    from app.modele.predicteur import Predicteur
    from app.modele.schema import Eleve, configuration_pour

    config = Configuration.depuis_environnement()
    artefacts = charger(modele=config.chemin_modele, variables=config.chemin_variables, fiche=config.chemin_fiche)
    predicteur = Predicteur(artefacts)
    eleves = [Eleve.model_validate(v) for v in eleves_aleatoires(500, graine=1, notes_absentes=0.15)]
    pipelines = {c: e["pipeline"] for c, e in artefacts.modele["configurations"].items()}

    def directe(eleve):
        configuration = configuration_pour(eleve)
        return probabilite_echec(pipelines[configuration], en_tableau([eleve.model_dump()], configuration))[0]

    for eleve in eleves[:50]:  # échauffement
        predicteur.predire(eleve)
        directe(eleve)
    rapide = _mediane_us(predicteur.predire, eleves, repetitions)
    reference = _mediane_us(directe, eleves, max(200, repetitions // 20))

    valeurs = eleves_aleatoires(taille_lot, graine=2, notes_absentes=0.15)
    debut = time.perf_counter()
    lot = predicteur.predire_lot(valeurs)
    duree_premier_lot = time.perf_counter() - debut
    duree_lot = _mediane_us(predicteur.predire_lot, [valeurs], REPETITIONS_LOT) / 1e6
    debut = time.perf_counter()
    lot.predictions(valeurs)
    duree_forme = time.perf_counter() - debut
    from app.modele.schema import DemandePrediction
    debut = time.perf_counter()
    for v in valeurs[:20_000]:
        DemandePrediction.model_validate(v)
    duree_validation = (time.perf_counter() - debut) * len(valeurs) / 20_000

    def par_le_pipeline(lot_valeurs):
        for configuration, pipeline in pipelines.items():
            partie = [v for v, c in zip(lot_valeurs, lot.configurations) if c == configuration]
            if partie:
                probabilite_echec(pipeline, en_tableau(partie, configuration))

    duree_pipeline = _mediane_us(par_le_pipeline, [valeurs], REPETITIONS_LOT) / 1e6
    return {"une_us": rapide, "une_reference_us": reference, "lot_s": duree_lot, "lot_premier_s": duree_premier_lot,
            "lot_forme_s": duree_forme, "lot_validation_s": duree_validation, "lot_pipeline_s": duree_pipeline,
            "lot_n": len(valeurs), "compilees": predicteur.compilees,
            "classifieurs": {c: type(p[-1]).__name__ for c, p in pipelines.items()}}


# --- gunicorn -------------------------------------------------------------------------------------

def _port_libre() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lancer(dossier: Path, env_supplementaire: dict | None = None,
            arguments: list[str] | None = None, racine: Path = RACINE) -> tuple[subprocess.Popen, str]:
    """gunicorn sur un port libre de la boucle locale ; ``arguments`` : la configuration de production
    (``-c gunicorn.conf.py``, application ``app.wsgi:app``) par défaut ; ``racine`` : l'arbre du projet servi
    (une version antérieure extraite par ``--avant``)."""
    port = _port_libre()
    env = {**os.environ, "PORT": str(port), "JOURNAL_CHEMIN": str(dossier / "requetes.jsonl"),
           "BASE_SQLITE_CHEMIN": str(dossier / "resultats.sqlite3"), "DATABASE_URL": "", "API_TOKEN": "",
           **(env_supplementaire or {})}
    arguments = arguments or ["-c", str(racine / "gunicorn.conf.py")]
    processus = subprocess.Popen([sys.executable, "-m", "gunicorn", *arguments,
                                  "--bind", f"127.0.0.1:{port}"], cwd=racine, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return processus, f"http://127.0.0.1:{port}"


def _arreter(processus: subprocess.Popen) -> None:
    processus.terminate()
    try:
        processus.wait(15)
    except subprocess.TimeoutExpired:
        processus.kill()
        processus.wait()


def _poster(url: str, corps: bytes, delai: float = 5.0, type_contenu: str = "application/json") -> int:
    requete = urllib.request.Request(url, data=corps, headers={"Content-Type": type_contenu})
    try:
        with urllib.request.urlopen(requete, timeout=delai) as reponse:
            reponse.read()
            return reponse.status
    except urllib.error.HTTPError as erreur:  # 4xx/5xx : le statut compte
        return erreur.code
    except OSError:
        return 0


def _attendre_200(url: str, corps: bytes, processus: subprocess.Popen, limite: float = 60.0) -> float:
    debut = time.perf_counter()
    while time.perf_counter() - debut < limite:
        if processus.poll() is not None:
            raise RuntimeError("gunicorn s'est arrêté pendant le démarrage")
        if _poster(url + "/predire", corps, 2.0) == 200:
            return time.perf_counter() - debut
        time.sleep(0.005)
    raise RuntimeError("gunicorn ne répond pas")


def _exemple() -> bytes:
    from app.modele.eleves_aleatoires import eleves_aleatoires

    return json.dumps(eleves_aleatoires(1, graine=3)[0]).encode()


def mesurer_demarrage(dossier: Path, essais: int) -> list[float]:
    from app.config import Configuration
    from app.modele.artefacts import charger
    from app.modele.compile.chargement import compiles_pour

    config = Configuration.depuis_environnement()
    compiles_pour(charger(modele=config.chemin_modele, variables=config.chemin_variables,
                          fiche=config.chemin_fiche, differe=True), config.chemin_compile)  # cache prêt
    corps = _exemple()
    durees = []
    for essai in range(essais):
        sous_dossier = dossier / f"froid{essai}"
        sous_dossier.mkdir()
        debut = time.perf_counter()
        processus, url = _lancer(sous_dossier)
        try:
            _attendre_200(url, corps, processus)
            durees.append(time.perf_counter() - debut)
        finally:
            _arreter(processus)
    return durees


def _script_predire(dossier: Path, corps: bytes) -> Path:
    """Le script wrk d'un POST /predire de ce corps."""
    script = dossier / "predire.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f"wrk.body = {json.dumps(corps.decode())}\n", encoding="utf-8")
    return script


def _wrk(url: str, duree: int, connexions: int, script: Path | None) -> dict:
    commande = ["wrk", "-t2", f"-c{connexions}", f"-d{duree}s", "--latency", *(["-s", str(script)] if script else []), url]
    sortie = subprocess.run(commande, capture_output=True, text=True, check=True).stdout

    def duree_ms(texte: str) -> float:
        valeur, unite = re.match(r"([\d.]+)(us|ms|s)", texte).groups()
        return float(valeur) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unite]

    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)", sortie, re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", sortie)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", sortie)
    return {"par_s": float(re.search(r"Requests/sec:\s+([\d.]+)", sortie).group(1)),
            "requetes": int(re.search(r"(\d+) requests in", sortie).group(1)),
            "p50_ms": duree_ms(percentiles["50"]), "p99_ms": duree_ms(percentiles["99"]),
            "erreurs": int(non_2xx.group(1)) if non_2xx else 0,
            "erreurs_socket": sum(map(int, sockets.groups())) if sockets else 0}


def _lancer_grpc(dossier: Path) -> tuple[subprocess.Popen, str]:
    adresse = f"127.0.0.1:{_port_libre()}"
    env = {**os.environ, "JOURNAL_CHEMIN": str(dossier / "requetes-grpc.jsonl"),
           "BASE_SQLITE_CHEMIN": str(dossier / "resultats-grpc.sqlite3"), "DATABASE_URL": "", "API_TOKEN": ""}
    processus = subprocess.Popen([sys.executable, "-m", "app.rpc", "--adresse", adresse], cwd=RACINE, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return processus, adresse


def _attendre_grpc(adresse: str, processus: subprocess.Popen, limite: float = 60.0) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    debut = time.perf_counter()
    with grpc.insecure_channel(adresse) as canal:
        sante = health_pb2_grpc.HealthStub(canal)
        while time.perf_counter() - debut < limite:
            if processus.poll() is not None:
                raise RuntimeError("app.rpc s'est arrêté pendant le démarrage")
            try:
                if sante.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.05)
    raise RuntimeError("app.rpc ne répond pas")


def _temps_cpu(pids: list) -> float:
    """Secondes de CPU (utilisateur + système) consommées jusqu'ici par ces processus."""
    tops = 0
    for pid in pids:
        champs = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        tops += int(champs[11]) + int(champs[12])  # utime, stime (champs 14 et 15 de proc(5))
    return tops / os.sysconf("SC_CLK_TCK")


def _charge_python(fabrique, duree: float, fils: int, pids: list) -> dict:
    """``fils`` fils qui appellent en boucle pendant ``duree`` s (``fabrique()`` donne l'appel d'un fil, avec
    sa propre connexion) : req/s, p50, p99, erreurs, et CPU des processus serveurs par requête."""
    import threading

    durees: list[list[float]] = [[] for _ in range(fils)]
    erreurs = [0] * fils
    depart = threading.Barrier(fils + 1)
    fin = [0.0]

    def boucle(rang: int) -> None:
        appel = fabrique()
        depart.wait()
        while time.perf_counter() < fin[0]:
            debut = time.perf_counter()
            if appel():
                durees[rang].append(time.perf_counter() - debut)
            else:
                erreurs[rang] += 1

    groupe = [threading.Thread(target=boucle, args=(rang,)) for rang in range(fils)]
    for fil in groupe:
        fil.start()
    avant = _temps_cpu(pids)
    fin[0] = time.perf_counter() + duree
    depart.wait()
    for fil in groupe:
        fil.join()
    toutes = sorted(d for liste in durees for d in liste)
    n = len(toutes)
    return {"par_s": n / duree, "requetes": n, "p50_ms": toutes[n // 2] * 1e3 if n else float("nan"),
            "p99_ms": toutes[min(n - 1, int(n * 0.99))] * 1e3 if n else float("nan"), "erreurs": sum(erreurs),
            "cpu_us": (_temps_cpu(pids) - avant) / max(1, n) * 1e6}


def mesurer_grpc(dossier: Path, url: str, pid_maitre: int, duree: int, fils: int, lot_json_s: float | None) -> dict:
    """gRPC ``Predire`` contre HTTP ``/predire`` (même client Python, tours alternés), puis un flux du plus grand
    lot permis (``PredireFlux``) contre ``POST /predire/lot`` du même lot."""
    import http.client

    import grpc

    from app.modele.eleves_aleatoires import eleves_aleatoires
    from app.rpc import prediction_pb2, prediction_pb2_grpc
    from app.modele.lots import LOT_MAX

    (dossier / "grpc").mkdir()
    processus, adresse = _lancer_grpc(dossier / "grpc")
    try:
        _attendre_grpc(adresse, processus)
        eleve = json.loads(_exemple())
        message = prediction_pb2.DemandePrediction(**{k: v for k, v in eleve.items() if v is not None})
        corps = json.dumps(eleve).encode()
        hote, port = url.removeprefix("http://").split(":")

        def appel_http():
            connexion = http.client.HTTPConnection(hote, int(port), timeout=10)

            def appel() -> bool:
                connexion.request("POST", "/predire", corps, {"Content-Type": "application/json"})
                reponse = connexion.getresponse()
                reponse.read()
                return reponse.status == 200
            return appel

        def appel_grpc():
            stub = prediction_pb2_grpc.PredictionStub(grpc.insecure_channel(adresse))

            def appel() -> bool:
                try:
                    stub.Predire(message, timeout=10)
                    return True
                except grpc.RpcError:
                    return False
            return appel

        workers = lambda: _workers(pid_maitre)  # noqa: E731
        _charge_python(appel_http, 1, fils, workers())  # échauffement
        _charge_python(appel_grpc, 1, fils, [processus.pid])
        tours: dict[str, list[dict]] = {"http": [], "grpc": []}
        for _ in range(TOURS_HTTP):
            tours["http"].append(_charge_python(appel_http, duree, fils, workers()))
            tours["grpc"].append(_charge_python(appel_grpc, duree, fils, [processus.pid]))
        lot = [prediction_pb2.DemandePrediction(**{k: v for k, v in e.items() if v is not None})
               for e in eleves_aleatoires(LOT_MAX, graine=5, notes_absentes=0.15)]
        flux = []
        with grpc.insecure_channel(adresse) as canal:
            stub = prediction_pb2_grpc.PredictionStub(canal)
            for _ in range(3):
                debut = time.perf_counter()
                recues = sum(1 for _ in stub.PredireFlux(iter(lot), timeout=300))
                flux.append(time.perf_counter() - debut)
                if recues != len(lot):
                    raise RuntimeError(f"PredireFlux : {recues} réponses pour {len(lot)} messages")
    finally:
        _arreter(processus)
    return {**{canal: _medianes(mesures) for canal, mesures in tours.items()}, "fils": fils,
            "flux": {"taille": len(lot), "secondes": statistics.median(flux), "lot_json_s": lot_json_s}}


def _workers(pid_maitre: int) -> list[str]:
    return Path(f"/proc/{pid_maitre}/task/{pid_maitre}/children").read_text().split()


def _commutations(pids: list[str]) -> int:
    """Commutations de contexte volontaires (un fil qui s'endort : GIL, verrou, attente d'E/S) de tous les fils
    de ces processus, depuis leur début."""
    total = 0
    for pid in pids:
        for statut in Path(f"/proc/{pid}/task").glob("*/status"):
            with contextlib.suppress(OSError, AttributeError):
                total += int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", statut.read_text(), re.M).group(1))
    return total


def _charge(pid_maitre: int, url: str, duree: int, connexions: int, script: Path | None) -> dict:
    """``_wrk``, plus le CPU des workers par requête (moins sensible que les req/s à une machine partagée) et
    leurs commutations de contexte par requête (chacune coûte, sur ces machines virtuelles, des dizaines de µs)."""
    pids = _workers(pid_maitre)
    avant, commutations = _temps_cpu(pids), _commutations(pids)
    mesure = _wrk(url, duree, connexions, script)
    requetes = max(1, mesure["requetes"])
    mesure["cpu_us"] = (_temps_cpu(pids) - avant) / requetes * 1e6
    mesure["commutations"] = (_commutations(pids) - commutations) / requetes
    return mesure


def _memoire(pid_maitre: int) -> list[tuple[int, int]]:
    """(RSS, PSS) en kio de chaque worker (enfants du maître gunicorn)."""
    mesures = []
    for pid in _workers(pid_maitre):
        rss = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))
        pss = int(re.search(r"^Pss:\s+(\d+)", Path(f"/proc/{pid}/smaps_rollup").read_text(), re.M).group(1))
        mesures.append((rss, pss))
    return mesures


def _lots_http(url: str, pid_maitre: int, essais: int = 3, simultanes: int = 8) -> dict:
    """``POST /predire/lot`` du plus grand lot permis : secondes (médiane) en liste JSON et en CSV
    UCI, puis pic de RSS de chaque worker (VmHWM) quand ``simultanes`` lots JSON arrivent ensemble."""
    from app.config import Configuration
    from app.modele.eleves_aleatoires import eleves_aleatoires
    from app.modele.schema import CHAMPS
    from app.modele.lots import LOT_MAX as taille

    eleves = eleves_aleatoires(taille, graine=5, notes_absentes=0.15)
    texte = io.StringIO()
    redacteur = csv.writer(texte, delimiter=";", lineterminator="\n")
    redacteur.writerow(CHAMPS)
    redacteur.writerows([["" if e[c] is None else e[c] for c in CHAMPS] for e in eleves])
    formats = {"json": (json.dumps(eleves).encode(), "application/json"),
               "csv": (texte.getvalue().encode(), "text/csv")}

    refus = []

    def envoyer(nom: str) -> None:
        """Envoie le lot ; un 503 (file des lots pleine, ``LOTS_SIMULTANES``) est renvoyé une seconde après."""
        corps, type_contenu = formats[nom]
        for _ in range(120):
            statut = _poster(url + "/predire/lot", corps, 300.0, type_contenu)
            if statut == 200:
                return
            if statut != 503:
                break
            refus.append(nom)
            time.sleep(1.0)
        raise RuntimeError(f"POST /predire/lot ({nom}) n'a pas répondu 200")

    durees = {}
    for nom in formats:
        mesures = []
        for _ in range(essais):
            debut = time.perf_counter()
            envoyer(nom)
            mesures.append(time.perf_counter() - debut)
        durees[nom] = statistics.median(mesures)
    with concurrent.futures.ThreadPoolExecutor(simultanes) as groupe:
        list(groupe.map(envoyer, ["json"] * simultanes))
    pics = [int(re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))
            for pid in _workers(pid_maitre)]
    places = Configuration.depuis_environnement().lots_simultanes
    return {"taille": taille, "durees": durees, "simultanes": simultanes, "pics": pics, "places": places,
            "refus": len(refus)}


def _lancer_references(dossier: Path) -> dict[str, tuple[subprocess.Popen, str]]:
    """Les applications de référence, chacune dans son dossier temporaire :
    ``triviale`` sous la configuration gunicorn de production (application remplacée sur la ligne de
    commande : mêmes workers, même classe de worker, mêmes fils, mêmes crochets) ;
    ``sans_conservation`` (contre-épreuve : la production sans journal ni base, même configuration) ; ``journal_seul``
    (la production, son suiveur arrêté : ``_arreter_le_suiveur``) ; ``ancienne`` sous
    ``gunicorn -w 2`` (worker sync par défaut ; une configuration vide, pour que gunicorn ne lise
    pas ``./gunicorn.conf.py``)."""
    vide = dossier / "gunicorn-vide.conf.py"
    vide.write_text("", encoding="utf-8")
    arguments = {"triviale": ["-c", str(RACINE / "gunicorn.conf.py"), "outils.appli_triviale:app"],
                 "sans_conservation": ["-c", str(RACINE / "gunicorn.conf.py"), "outils.appli_sans_conservation:app"],
                 "ancienne": ["-c", str(vide), "-w", "2", "outils.appli_ancienne:app"]}
    arguments["journal_seul"] = ["-c", str(RACINE / "gunicorn.conf.py")]
    lances = {}
    for nom, liste in arguments.items():
        (dossier / nom).mkdir()
        lances[nom] = _lancer(dossier / nom, arguments=liste)
    return lances


def _suiveur_de(dossier: Path) -> int:
    """Le pid du suiveur que publie l'instance servie depuis ``dossier`` (0 : pas encore publié)."""
    from app.stockage.etat_suiveur import EtatSuiveur
    from app.stockage.journal import JournalRequetes

    etat = EtatSuiveur.de(JournalRequetes(dossier / "requetes.jsonl"))
    return etat.lire()["pid"] if etat.present() else 0


def _arreter_le_suiveur(dossier: Path, limite: float = 10.0) -> int:
    """``journal_seul`` : la production, son suiveur arrêté (SIGSTOP) pendant tout le banc ; ses workers n'écrivent
    qu'au journal et rien ne va en base. Ce que coûte l'écriture seule, à côté de ce que coûte le suiveur."""
    fin = time.monotonic() + limite
    while not (pid := _suiveur_de(dossier)):
        if time.monotonic() > fin:
            raise RuntimeError("journal seul : aucun suiveur publié")
        time.sleep(0.05)
    os.kill(pid, signal.SIGSTOP)
    return pid


def mesurer_decomposition(dossier: Path, duree: int, connexions: list[int], cible: str = "app") -> dict:
    """CPU d'une requête ``POST /predire`` dans le worker, étape par étape : ``outils/appli_decomposee.py`` (la
    même application chronométrée ; ``cible="triviale"`` : la route triviale) sous la même configuration
    gunicorn, une fenêtre de ``duree`` s de wrk par nombre de connexions ; chaque worker écrit ses compteurs de
    la fenêtre, additionnés ici."""
    sous_dossier = dossier / f"decomposition-{cible}"
    sous_dossier.mkdir()
    processus, url = _lancer(sous_dossier, {"DECOMPOSITION_DOSSIER": str(sous_dossier)},
                             ["-c", str(RACINE / "gunicorn.conf.py"), f"outils.appli_decomposee:{cible}"])
    resultats = {}
    try:
        corps = _exemple()
        _attendre_200(url, corps, processus)
        script = _script_predire(sous_dossier, corps)
        for nombre in connexions:
            _wrk(url + "/predire", 2, nombre, script)  # échauffement
            mesure, releves = fenetre_decomposition(
                sous_dossier, str(nombre), processus.pid,
                lambda: _charge(processus.pid, url + "/predire", duree, nombre, script))  # noqa: B023
            resultats[nombre] = {"wrk": mesure, **_additionner(releves, cible == "triviale")}
    finally:
        _arreter(processus)
    return resultats


def fenetre_decomposition(dossier: Path, nom: str, pid_maitre: int, charge):
    """Une fenêtre de mesure de ``outils/appli_decomposee.py`` : ``debut`` écrit dans ``dossier/commande``,
    ``charge()``, puis ``fin`` ; (ce que rend ``charge``, relevés des compteurs de chaque worker)."""
    workers = _workers(pid_maitre)
    for fichier in dossier.glob("*.json"):
        fichier.unlink()
    commande = dossier / "commande"
    commande.write_text(f"debut {nom}", encoding="utf-8")
    time.sleep(0.2)  # chaque worker relève ses compteurs (toutes les 20 ms)
    mesure = charge()
    time.sleep(0.2)  # fin de la dernière requête
    commande.write_text(f"fin {nom}", encoding="utf-8")
    fin = time.monotonic() + 10
    while len(list(dossier.glob("*.json"))) < len(workers) and time.monotonic() < fin:
        time.sleep(0.05)
    releves = [json.loads(f.read_text(encoding="utf-8")) for f in dossier.glob("*.json")]
    if len(releves) < len(workers):
        raise RuntimeError("décomposition : un worker n'a pas écrit ses compteurs")
    return mesure, releves


def _additionner(releves: list[dict], triviale: bool = False, arbre: dict | None = None) -> dict:
    """Compteurs de tous les workers additionnés ; puis microsecondes de CPU par requête, par poste
    (temps exclusifs : une étape sans ses sous-étapes) ; ``arbre`` : les étapes et leurs parents
    (``ETAPES`` de ``outils/appli_decomposee.py`` par défaut, ``ETAPES_LOT`` pour un lot)."""
    from outils.appli_decomposee import ETAPES as PAR_DEFAUT

    ETAPES = arbre or PAR_DEFAUT  # noqa: N806
    etapes = {nom: sum(r["etapes"][nom][0] for r in releves) / 1e3 for nom in ETAPES}  # µs
    n = max(1, sum(r["etapes"]["wsgi"][1] for r in releves))
    processus = sum(r["processus_s"] for r in releves) * 1e6
    fils: dict[str, float] = {}
    for r in releves:
        for categorie, secondes in r["fils_s"].items():
            fils[categorie] = fils.get(categorie, 0.0) + secondes * 1e6
    exclusifs = dict(etapes)
    for nom, (parent, _libelle) in ETAPES.items():
        if parent is not None:
            exclusifs[parent] -= etapes[nom]
    postes = [("gunicorn : boucle d'événements (fil principal : accepter, lire la requête)", fils.get("principal", 0.0)),
              ("gunicorn : fils de requêtes hors application (analyse HTTP, environ, envoi de la réponse)",
               fils.get("requetes", 0.0) - etapes["wsgi"])]
    postes += [("Flask : route triviale (get_json, jsonify)" if triviale and nom == "wsgi" else libelle, exclusifs[nom])
               for nom, (_parent, libelle) in ETAPES.items() if etapes[nom] or ETAPES[nom][0] is None]
    postes += [("fil d'alimentation de la base (insertions SQLite par paquets, fsync du journal)",
                fils.get("alimentation-base", 0.0)),
               ("autres fils (suivi des effacements, relevé du banc) et hors fils Python",
                processus - sum(fils.get(c, 0.0) for c in ("alimentation-base", "principal", "requetes")))]
    return {"requetes": n, "total_us": processus / n, "postes": [(libelle, us / n) for libelle, us in postes]}


def mesurer_http(dossier: Path, duree: int, connexions: list[int]) -> dict:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk introuvable : apt-get install -y wrk")
    (dossier / "http").mkdir()
    processus, url = _lancer(dossier / "http")
    references = _lancer_references(dossier)
    try:
        corps = _exemple()
        _attendre_200(url, corps, processus)
        for processus_reference, url_reference in references.values():
            _attendre_200(url_reference, corps, processus_reference)
        suiveur_arrete = _arreter_le_suiveur(dossier / "journal_seul")
        script = _script_predire(dossier, corps)
        # (maître gunicorn, URL, script wrk) de chaque cible ; les trois serveurs tournent ensemble,
        # un seul est chargé à la fois.
        cibles = {"sante": (processus.pid, url + "/health", None),
                  "predire": (processus.pid, url + "/predire", script),
                  **{nom: (p.pid, u + "/predire", script) for nom, (p, u) in references.items()}}
        charges = {}
        for nombre in connexions:
            for _pid, adresse, lua in cibles.values():
                _wrk(adresse, 2, nombre, lua)  # échauffement
            # Tours alternés : une charge passagère des voisins (machine partagée) touche toutes
            # les cibles ; on compare les médianes.
            tours: dict[str, list[dict]] = {nom: [] for nom in cibles}
            for _ in range(TOURS_PREDIRE):
                for nom, (pid, adresse, lua) in cibles.items():
                    tours[nom].append(_charge(pid, adresse, duree, nombre, lua))
            charges[nombre] = {nom: _medianes(mesures) for nom, mesures in tours.items()}
            charges[nombre]["par_tour"] = {nom: [p["par_s"] / c["par_s"] for p, c in zip(tours[nom], tours[
                "sans_conservation"])] for nom in ("predire", "journal_seul")}
        os.kill(suiveur_arrete, signal.SIGCONT)
        for processus_reference, _url in references.values():
            _arreter(processus_reference)
        memoire = _memoire(processus.pid)
        lots = _lots_http(url, processus.pid)
        memoire_lots = _memoire(processus.pid)
        rpc = mesurer_grpc(dossier, url, processus.pid, duree, FILS_GRPC, lots["durees"].get("json"))
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            os.kill(_suiveur_de(dossier / "journal_seul"), signal.SIGCONT)
        for processus_reference, _url in references.values():
            if processus_reference.poll() is None:
                _arreter(processus_reference)
        _arreter(processus)
    return {"charges": charges, "lots": lots, "memoire": memoire, "memoire_lots": memoire_lots, "grpc": rpc}


def _medianes(mesures: list[dict]) -> dict:
    """Médiane de chaque grandeur sur les tours ; les erreurs s'additionnent."""
    return {cle: (sum if cle.startswith("erreurs") else statistics.median)([m[cle] for m in mesures])
            for cle in mesures[0]}


# --- tableau --------------------------------------------------------------------------------------

def _ligne(mesure: str, valeur: str, reference: str, rapport: str, objectif: str, atteint: bool | None) -> str:
    etat = "" if atteint is None else ("oui" if atteint else "NON")
    return f"| {mesure} | {valeur} | {reference} | {rapport} | {objectif} | {etat} |"


def _milliers(valeur: float) -> str:
    return f"{valeur:,.0f}".replace(",", " ")


def _http(m: dict, cpu: str = "CPU/req") -> str:
    erreurs = m["erreurs"] + m["erreurs_socket"]
    return (f"{m['par_s']:.0f} req/s ; p50 {m['p50_ms']:.2f} ms ; p99 {m['p99_ms']:.2f} ms ; "
            f"{m['cpu_us']:.0f} µs {cpu}" + (f" ; {erreurs} erreur(s)" if erreurs else ""))


def _lignes_http(nombre: int, charge: dict) -> list[str]:
    """Cinq lignes par nombre de connexions : /predire contre /health, contre la route triviale (objectifs
    65 % des req/s et p99 ≤ 3×), contre l'ancienne application, contre la contre-épreuve sans journal ni
    base (objectifs 85 % des req/s et p99 ≤ 1,5× : ce que coûte la conservation, mesuré dans les mêmes tours),
    et le journal seul (suiveur arrêté) contre la même contre-épreuve : la part de l'écriture et celle du suiveur."""
    p, s, t, a = charge["predire"], charge["sante"], charge["triviale"], charge["ancienne"]
    c, j = charge["sans_conservation"], charge["journal_seul"]
    sans_erreur = p["erreurs"] + p["erreurs_socket"] == 0
    titre = f"HTTP /predire, {nombre} connexions (wrk, médianes de {TOURS_PREDIRE} tours alternés),"
    rapport = p["par_s"] / t["par_s"]
    p99 = p["p99_ms"] / t["p99_ms"]
    return [
        _ligne(f"{titre} contre /health", _http(p), f"/health, même gunicorn : {_http(s)}",
               f"{100 * p['par_s'] / s['par_s']:.0f} %", "rapporté", None),
        _ligne(f"{titre} contre une route Flask triviale (même gunicorn.conf.py)", _http(p),
               f"POST lu par request.get_json() → petit JSON : {_http(t)}",
               f"{100 * rapport:.0f} % des req/s ; p99 {p99:.1f}× ; CPU/req {p['cpu_us'] / t['cpu_us']:.1f}×",
               "≥ 65 % et p99 ≤ 3×",
               rapport >= OBJECTIFS["http_rapport"] and p99 <= OBJECTIFS["p99_rapport"] and sans_erreur),
        _ligne(f"{titre} contre l'ancienne application (gunicorn -w 2 sync)", _http(p),
               f"DataFrame 1 ligne → predict_proba, ligne JSON ajoutée : {_http(a)}",
               f"{p['par_s'] / a['par_s']:.1f}×", "rapporté", None),
        _ligne(f"{titre} contre-épreuve : la même application sans journal ni base "
               "(outils/appli_sans_conservation.py)", _http(p) + f" ; {p['commutations']:.1f} commutations/req",
               f"sans conservation : {_http(c)} ; {c['commutations']:.1f} commutations/req (route triviale : "
               f"{t['commutations']:.1f})",
               f"{100 * p['par_s'] / c['par_s']:.0f} % des req/s ; p99 {p['p99_ms'] / c['p99_ms']:.1f}× ; la "
               f"conservation coûte {p['cpu_us'] - c['cpu_us']:.0f} µs CPU/req (sans conservation : "
               f"{100 * c['par_s'] / t['par_s']:.0f} % de la triviale) ; par tour : {_par_tour(charge, 'predire')}",
               "≥ 85 % et p99 ≤ 1,5×",
               p["par_s"] / c["par_s"] >= OBJECTIFS["contre_epreuve_rapport"]
               and p["p99_ms"] / c["p99_ms"] <= OBJECTIFS["contre_epreuve_p99"] and sans_erreur),
        _ligne(f"{titre} journal seul : la production, son suiveur arrêté (SIGSTOP : rien ne va en base), contre la "
               "contre-épreuve", _http(j) + f" ; {j['commutations']:.1f} commutations/req",
               f"sans conservation : {_http(c)}",
               f"{100 * j['par_s'] / c['par_s']:.0f} % des req/s ; p99 {j['p99_ms'] / c['p99_ms']:.1f}× ; l'écriture "
               f"coûte {j['cpu_us'] - c['cpu_us']:.0f} µs CPU/req, le suiveur le reste ({p['cpu_us'] - j['cpu_us']:.0f}"
               f" µs par worker, hors son propre CPU) ; par tour : {_par_tour(charge, 'journal_seul')}",
               "rapporté", None),
    ]


def _par_tour(charge: dict, nom: str) -> str:
    """Les rapports de req/s à la contre-épreuve, tour par tour : médiane et étendue."""
    rapports = charge["par_tour"][nom]
    return (f"médiane {100 * statistics.median(rapports):.0f} % "
            f"({100 * min(rapports):.0f} à {100 * max(rapports):.0f} %)")


def _lignes_decomposition(nombre: int, mesure: dict, charge: dict | None, triviale: dict | None = None) -> list[str]:
    """Le CPU d'une requête /predire dans le worker, poste par poste (application instrumentée, même exécution) ;
    ``triviale`` : la même décomposition pour la route triviale, sur une ligne."""
    total = mesure["total_us"]
    reference = ""
    if charge:
        reference = (f"non instrumentée (tours ci-dessus) : /predire {charge['predire']['cpu_us']:.0f} µs ; "
                     f"route triviale {charge['triviale']['cpu_us']:.0f} µs")
    lignes = [_ligne(f"CPU du worker par requête /predire, décomposé ({nombre} connexions, wrk ; application "
                     f"chronométrée outils/appli_decomposee.py, {_milliers(mesure['requetes'])} requêtes)",
                     f"{total:.0f} µs CPU/req ({mesure['wrk']['par_s']:.0f} req/s)", reference, "100 %",
                     "rapporté", None)]
    for libelle, us in mesure["postes"]:
        lignes.append(_ligne(f"↳ {libelle}", f"{us:.1f} µs", "", f"{100 * us / total:.1f} %", "", None))
    if triviale:
        postes = " ; ".join(f"{libelle.split(' (')[0]} {us:.0f} µs" for libelle, us in triviale["postes"] if us >= 0.5)
        lignes.append(_ligne(f"CPU du worker par requête, route triviale décomposée ({nombre} connexions, même "
                             "chronométrage)", f"{triviale['total_us']:.0f} µs CPU/req ({triviale['wrk']['par_s']:.0f} "
                             "req/s)", postes, f"/predire : {total / triviale['total_us']:.2f}×", "rapporté", None))
    return lignes


def tableau(memoire: dict | None, http: dict | None, froid: list[float] | None) -> str:
    lignes = ["| Mesure | Valeur | Référence (même exécution) | Rapport | Objectif | Atteint |",
              "| --- | --- | --- | --- | --- | --- |"]
    if memoire:
        rapport = memoire["une_reference_us"] / memoire["une_us"]
        lignes.append(_ligne("1 élève → probabilités + explication (médiane)", f"{memoire['une_us']:.1f} µs",
                             f"{memoire['une_reference_us']:.0f} µs (DataFrame 1 ligne → pipeline, sans explication)",
                             f"{rapport:.0f}×", "≤ 50 µs et ≥ 100×",
                             memoire["une_us"] <= OBJECTIFS["une_us"] and rapport >= OBJECTIFS["une_rapport"]))
        n = memoire["lot_n"]
        par_s = n / memoire["lot_s"]
        lignes.append(_ligne(f"lot de {n} dicts validés → probabilités + contributions "
                             f"(médiane de {REPETITIONS_LOT})",
                             f"{_milliers(par_s)} élèves/s (1er appel : {_milliers(n / memoire['lot_premier_s'])})",
                             f"{_milliers(n / memoire['lot_pipeline_s'])} élèves/s (pipeline, sans explication)",
                             f"{memoire['lot_pipeline_s'] / memoire['lot_s']:.1f}×", "≥ 200 000/s",
                             par_s >= OBJECTIFS["lot_par_s"]))
        lignes.append(_ligne(f"lot de {n} : validation pydantic (à part)",
                             f"{_milliers(n / memoire['lot_validation_s'])} élèves/s", "", "", "", None))
        lignes.append(_ligne(f"lot de {n} : explication en français (à part)",
                             f"{_milliers(n / memoire['lot_forme_s'])} élèves/s", "", "", "", None))
    if http:
        for nombre, charge in http["charges"].items():
            lignes.extend(_lignes_http(nombre, charge))
        for nombre, mesure in http.get("decomposition", {}).items():
            lignes.extend(_lignes_decomposition(nombre, mesure, http["charges"].get(nombre),
                                                http.get("decomposition_triviale", {}).get(nombre)))
        lots = http["lots"]
        taille = lots["taille"]
        for nom, secondes in lots["durees"].items():
            lignes.append(_ligne(f"HTTP POST /predire/lot, {_milliers(taille)} élèves en {nom.upper()} (médiane de 3)",
                                 f"{secondes:.2f} s ({_milliers(taille / secondes)} élèves/s)",
                                 "validation, prédiction, explication, conservation et réponse comprises",
                                 "", "", None))
        rpc = http["grpc"]
        g, h = rpc["grpc"], rpc["http"]
        lignes.append(_ligne(f"gRPC Predire unaire (client Python, {rpc['fils']} fils, médiane de {TOURS_HTTP} tours)",
                             f"{g['par_s']:.0f} req/s ; p50 {g['p50_ms']:.2f} ms ; p99 {g['p99_ms']:.2f} ms ; "
                             f"{g['cpu_us']:.0f} µs CPU serveur/req ; {g['erreurs']} erreur(s)",
                             f"HTTP /predire, même client (tours alternés) : {h['par_s']:.0f} req/s ; "
                             f"p50 {h['p50_ms']:.2f} ms ; p99 {h['p99_ms']:.2f} ms ; {h['cpu_us']:.0f} µs CPU serveur/req",
                             f"{100 * g['par_s'] / h['par_s']:.0f} % (CPU/req : {g['cpu_us'] / h['cpu_us']:.2f}×)",
                             "rapporté", None))
        flux = rpc["flux"]
        reference = (f"POST /predire/lot du même nombre en JSON : {flux['lot_json_s']:.2f} s "
                     f"({_milliers(flux['taille'] / flux['lot_json_s'])} élèves/s)") if flux["lot_json_s"] else ""
        lignes.append(_ligne(f"gRPC PredireFlux, {_milliers(flux['taille'])} élèves en un flux (médiane de 3)",
                             f"{flux['secondes']:.2f} s ({_milliers(flux['taille'] / flux['secondes'])} élèves/s)",
                             reference, f"{flux['lot_json_s'] / flux['secondes']:.2f}×" if flux["lot_json_s"] else "",
                             "rapporté", None))
        for moment, cle in (("après la charge /predire", "memoire"), ("après les lots", "memoire_lots")):
            for rang, (rss, pss) in enumerate(http[cle], start=1):
                lignes.append(_ligne(f"mémoire du worker {rang} ({moment})", f"RSS {rss / 1024:.0f} Mio",
                                     f"PSS {pss / 1024:.0f} Mio (pages partagées réparties)", "", "rapportée", None))
        for rang, pic in enumerate(lots["pics"], start=1):
            lignes.append(_ligne(f"pic de mémoire du worker {rang} ({lots['simultanes']} lots de "
                                 f"{_milliers(taille)} envoyés ensemble)", f"VmHWM {pic / 1024:.0f} Mio",
                                 f"traités {lots['places']} à la fois par worker (LOTS_SIMULTANES) ; "
                                 f"{lots['refus']} réponse(s) 503 (file pleine), lots renvoyés", "", "rapporté",
                                 None))
    if froid:
        mediane = statistics.median(froid)
        lignes.append(_ligne(f"démarrage à froid → 1er 200 sur /predire (médiane de {len(froid)})",
                             f"{mediane:.2f} s", f"min {min(froid):.2f} s, max {max(froid):.2f} s", "", "< 1 s",
                             mediane < OBJECTIFS["froid_s"]))
    return "\n".join(lignes)


def main(arguments: list[str] | None = None) -> int:
    analyseur = argparse.ArgumentParser(prog="python -m outils.banc_essai", description=__doc__.split("\n")[0])
    analyseur.add_argument("--duree", type=int, default=5,
                           help=f"secondes de charge wrk par route et par tour ({TOURS_HTTP} tours ; défaut 5)")
    analyseur.add_argument("--connexions", type=int, nargs="+", default=list(CONNEXIONS),
                           help="connexions wrk simultanées, une mesure par nombre (défaut 8 32)")
    analyseur.add_argument("--repetitions", type=int, default=20_000, help="prédictions chronométrées une à une")
    analyseur.add_argument("--lot", type=int, default=LOT_BANC, help=f"taille du lot en mémoire (défaut {LOT_BANC})")
    analyseur.add_argument("--demarrages", type=int, default=5, help="démarrages à froid mesurés (défaut 5)")
    analyseur.add_argument("--sans-http", action="store_true", help="mesures en mémoire seulement")
    analyseur.add_argument("--parties", nargs="+", choices=PARTIES, default=list(PARTIES),
                           help="parties à mesurer (défaut : toutes) ; « pairs » : MLflow, MLServer, lots et classe CSV "
                                "(outils/banc_pairs.py)")
    analyseur.add_argument("--avant", metavar="REVISION",
                           help="partie « pairs » : sert aussi cette révision git du projet (p. ex. main), mesurée "
                                "dans les mêmes tours : avant / après une optimisation")
    analyseur.add_argument("--clients-lot", type=int, default=2,
                           help="lots de 1 000 élèves envoyés à la fois, partie « pairs » (défaut 2 : un par worker)")
    options = analyseur.parse_args(arguments)
    parties = set(options.parties) - ({"froid", "http", "pairs"} if options.sans_http else set())
    print(f"machine : {os.cpu_count()} cœur(s), {platform.machine()}, Python {platform.python_version()} ; "
          "mesures bruitées si la machine est partagée : comparez les rapports", flush=True)
    with tempfile.TemporaryDirectory(prefix="banc-") as temporaire:
        dossier = Path(temporaire)
        memoire = http = froid = pairs = None
        if "memoire" in parties:
            memoire = mesurer_en_memoire(options.repetitions, options.lot)
            print(f"modèle : {memoire['classifieurs']} ; compilées : {', '.join(memoire['compilees']) or 'aucune'}",
                  flush=True)
        if "froid" in parties:
            froid = mesurer_demarrage(dossier, options.demarrages)
        if "http" in parties:
            http = mesurer_http(dossier, options.duree, options.connexions)
            http["decomposition"] = mesurer_decomposition(dossier, options.duree * 2, options.connexions)
            http["decomposition_triviale"] = mesurer_decomposition(dossier, options.duree * 2, options.connexions,
                                                                   "triviale")
        if "pairs" in parties:
            from outils import banc_pairs

            pairs = banc_pairs.lignes(banc_pairs.mesurer(dossier, options.duree, options.connexions,
                                                         options.clients_lot, lambda texte: print(texte, flush=True),
                                                         options.avant))
    print(tableau(memoire, http, froid))
    if pairs:
        print("\n".join(pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Banc d'essai, partie « pairs et lots » (``make banc``, ou seule : ``python -m outils.banc_essai --parties pairs``).

Dans la même exécution, tours alternés, sur la boucle locale :

1. notre ``gunicorn -c gunicorn.conf.py`` (2 workers) contre le même pipeline scikit-learn (configuration A)
   servi par ``mlflow models serve -w 2`` et par MLServer (``parallel_workers`` 2) : ``outils/pairs.py`` ;
   d'abord la vérification que les quatre réponses donnent les mêmes probabilités, bit pour bit, pour les
   mêmes élèves (nos ``POST /predire`` et ``POST /predire/lot``, et les deux pairs) ;
2. une prédiction à la fois (``wrk``, 8 puis 32 connexions) : req/s, p99, CPU des serveurs par requête ;
3. un lot de 1 000 élèves en HTTP, JSON en entrée et en sortie (chez nous : explications comprises, chaque
   élève au journal et en base ; chez les pairs : les probabilités seules), ``--connexions-lot`` clients à la
   fois : élèves/s et CPU des serveurs par lot (tous leurs processus, lus dans /proc, y compris le travail de
   la base qui suit la réponse) ;
4. une classe CSV de 400 élèves par ``POST /predire/lot/partiel`` (la page ``/classe``) : durée de bout en
   bout (médiane), le temps serveur à ne pas dépasser ;
5. la décomposition du CPU d'un lot de 1 000 élèves dans le worker, étape par étape
   (``outils/appli_decomposee.py``, comme pour ``/predire``).

Un pair qu'on ne peut pas installer (pas d'index de paquets) est sauté, et la raison est imprimée.
Aucune donnée d'élève réel : élèves tirés au hasard dans le schéma, tout dans un dossier temporaire.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import statistics
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from outils import pairs
from outils.banc_essai import (
    RACINE,
    TOURS_HTTP,
    _additionner,
    _arreter,
    _attendre_200,
    _exemple,
    _lancer,
    _ligne,
    _medianes,
    _milliers,
    _port_libre,
    _temps_cpu,
    _wrk,
    fenetre_decomposition,
)

TAILLE_LOT = 1_000
TAILLE_CLASSE = 400
ELEVES_VERIFIES_UN_A_UN = 50
"""Élèves du lot vérifiés aussi par ``POST /predire`` (un appel chacun)."""
OBJECTIFS = {"lot_mlserver": 1.5, "lot_mlflow": 2.5, "classe_ms": 15.0}
DEMARRAGE_PAIRS_S = 120.0


# --- processus et CPU -----------------------------------------------------------------------------

def detaches(pid: int) -> list[int]:
    """Les processus que le serveur ``pid`` a détachés de lui : même ligne de commande, et init pour parent.
    Le suiveur du journal (``app.stockage.suiveur``), forké deux fois par le maître gunicorn, en est un : sans
    lui, l'insertion en base de chaque élève n'était pas comptée dans notre CPU par lot."""
    try:
        ligne = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    trouves = []
    for entree in Path("/proc").iterdir():
        if not entree.name.isdigit() or int(entree.name) == pid:
            continue
        try:
            if (entree / "cmdline").read_bytes() == ligne \
                    and (entree / "stat").read_text().rsplit(")", 1)[1].split()[1] == "1":
                trouves.append(int(entree.name))
        except (OSError, IndexError):
            continue
    return trouves


def arbre(pid: int) -> list[int]:
    """Le processus, tous ses descendants (``/proc/<pid>/task/*/children``) et ceux des processus qu'il a
    détachés de lui (``detaches`` : le suiveur du journal)."""
    vus, a_voir = [], [pid, *detaches(pid)]
    while a_voir:
        courant = a_voir.pop()
        vus.append(courant)
        for tache in Path(f"/proc/{courant}/task").glob("*/children"):
            try:
                a_voir.extend(int(p) for p in tache.read_text().split())
            except OSError:
                continue
    return vus


def cpu_arbre(pid: int) -> float:
    """Secondes de CPU des processus vivants de l'arbre de ``pid`` (un processus qui disparaît compte 0)."""
    total = 0.0
    for membre in arbre(pid):
        try:
            total += _temps_cpu([membre])
        except (OSError, IndexError):
            continue
    return total


def _au_repos(pid: int, limite: float = 3.0) -> float:
    """Attend que l'arbre ne consomme plus (moins de 2 ms de CPU en 100 ms : la base a suivi) ; son CPU."""
    fin = time.monotonic() + limite
    precedent = cpu_arbre(pid)
    while time.monotonic() < fin:
        time.sleep(0.1)
        courant = cpu_arbre(pid)
        if courant - precedent < 0.002:
            return courant
        precedent = courant
    return precedent


# --- les cibles ------------------------------------------------------------------------------------

class Cible:
    """Un serveur lancé : ``une`` (URL et corps d'une prédiction), ``lot`` (URL, fabrique de corps, lecture
    des probabilités d'une réponse)."""

    def __init__(self, nom: str, libelle: str, processus: subprocess.Popen, url_une: str, corps_une,
                 url_lot: str, corps_lot, probabilites, sante: str):
        self.nom, self.libelle, self.processus = nom, libelle, processus
        self.url_une, self.corps_une, self.url_lot, self.corps_lot = url_une, corps_une, url_lot, corps_lot
        self.probabilites, self.sante = probabilites, sante


def _nos_probabilites(reponse: bytes) -> list[float]:
    resultats = json.loads(reponse)["resultats"]  # une liste (lot) ou un objet (/predire)
    return [r["probabilite_echec"] for r in (resultats if isinstance(resultats, list) else [resultats])]


def _post(url: str, corps: bytes, type_contenu: str = "application/json", delai: float = 60.0) -> tuple[int, bytes]:
    morceaux = urlsplit(url)
    connexion = http.client.HTTPConnection(morceaux.hostname, morceaux.port, timeout=delai)
    try:
        connexion.request("POST", morceaux.path, corps, {"Content-Type": type_contenu})
        reponse = connexion.getresponse()
        return reponse.status, reponse.read()
    finally:
        connexion.close()


def _attendre(cible: Cible, limite: float = DEMARRAGE_PAIRS_S) -> None:
    debut = time.monotonic()
    corps = cible.corps_lot([json.loads(_exemple())])
    while time.monotonic() - debut < limite:
        if cible.processus.poll() is not None:
            raise RuntimeError(f"{cible.libelle} s'est arrêté pendant le démarrage (code {cible.processus.returncode})")
        try:
            if _post(cible.url_lot, corps, delai=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{cible.libelle} ne répond pas après {limite:.0f} s")


def lancer_pairs(dossier: Path, journal=print) -> tuple[list[Cible], list[pairs.Indisponible]]:
    """Installe (au premier usage) et lance les pairs ; ceux qui ne peuvent pas l'être sont rendus à part."""
    lances, sautes = [], []
    environnements = {}
    for nom in pairs.PAQUETS:
        journal(f"pairs : {pairs.LIBELLES[nom]} (environnement {pairs.DOSSIER_PAIRS / nom}, installé au premier "
                "usage)…")
        environnement = pairs.installer(nom)
        if isinstance(environnement, pairs.Indisponible):
            journal(f"pairs : {pairs.LIBELLES[nom]} sauté : {environnement.raison}")
            sautes.append(environnement)
        else:
            environnements[nom] = environnement
    if not environnements:
        return lances, sautes
    modeles = dossier / "pairs"
    pipeline = pairs.ecrire_pipeline(modeles)
    colonne = pairs.colonne_echec(modeles)
    if "mlflow" in environnements:
        try:
            modele = pairs.preparer_mlflow(environnements["mlflow"], pipeline, modeles)
        except subprocess.CalledProcessError as erreur:
            sautes.append(pairs.Indisponible("mlflow", f"save_model a échoué : {erreur.stderr.strip()[-300:]}"))
        else:
            port = _port_libre()
            commande, env = pairs.commande_mlflow(environnements["mlflow"], modele, port)
            processus = subprocess.Popen(commande, env=env, cwd=modeles, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
            url = f"http://127.0.0.1:{port}/invocations"
            lances.append(Cible("mlflow", pairs.LIBELLES["mlflow"], processus, url, pairs.corps_mlflow, url,
                                pairs.corps_mlflow, lambda r: pairs.probabilites_mlflow(r, colonne), "/ping"))
    if "mlserver" in environnements:
        ports = (_port_libre(), _port_libre(), _port_libre())
        modele = pairs.preparer_mlserver(pipeline, modeles, ports)
        commande, env = pairs.commande_mlserver(environnements["mlserver"], modele)
        processus = subprocess.Popen(commande, env=env, cwd=modeles, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{ports[0]}/v2/models/{pairs.NOM_MODELE}/infer"
        lances.append(Cible("mlserver", pairs.LIBELLES["mlserver"], processus, url, pairs.corps_mlserver, url,
                            pairs.corps_mlserver, lambda r: pairs.probabilites_mlserver(r, colonne), "/v2/health/ready"))
    prets = []
    for cible in lances:
        try:
            _attendre(cible)
            prets.append(cible)
        except RuntimeError as erreur:
            journal(f"pairs : {cible.libelle} sauté : {erreur}")
            sautes.append(pairs.Indisponible(cible.nom, str(erreur)))
            _arreter(cible.processus)
    return prets, sautes


def notre_cible(dossier: Path, revision: str | None = None) -> Cible:
    """Notre API ; ``revision`` : celle d'une révision git antérieure (``git archive``), extraite dans ``dossier``
    et servie par le même environnement Python (son modèle compilé est refait au démarrage)."""
    nom = "nous" if revision is None else "avant"
    (dossier / nom).mkdir()
    racine = RACINE
    if revision is not None:
        racine = dossier / nom / "arbre"
        racine.mkdir()
        archive = subprocess.run(["git", "-C", str(RACINE), "archive", revision], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(racine)], input=archive.stdout, check=True)
    processus, url = _lancer(dossier / nom, racine=racine)
    _attendre_200(url, _exemple(), processus)
    libelle = "notre API (gunicorn -c gunicorn.conf.py)" if revision is None else f"notre API à la révision {revision}"

    def corps_une(eleves):
        return json.dumps(eleves[0]).encode()

    def corps_lot(eleves):
        return json.dumps(list(eleves)).encode()
    return Cible(nom, libelle, processus, url + "/predire", corps_une,
                 url + "/predire/lot", corps_lot, _nos_probabilites, "/health")


# --- mesures ---------------------------------------------------------------------------------------

def verifier_identiques(nous: Cible, autres: list[Cible], eleves: list[dict]) -> dict:
    """Les probabilités de chaque pair, et de nos ``/predire`` un à un, comparées bit pour bit à celles de notre
    ``/predire/lot`` pour les mêmes élèves."""
    statut, reponse = _post(nous.url_lot, nous.corps_lot(eleves))
    if statut != 200:
        raise RuntimeError(f"POST /predire/lot : {statut}")
    document = json.loads(reponse)
    configurations = {r["configuration"] for r in document["resultats"]}
    reference = _nos_probabilites(reponse)
    une_a_une = []
    for eleve in eleves[:ELEVES_VERIFIES_UN_A_UN]:
        statut, reponse = _post(nous.url_une, json.dumps(eleve).encode())
        une_a_une.extend(_nos_probabilites(reponse) if statut == 200 else [float("nan")])
    comparaisons = {"predire": pairs.comparer(reference[:len(une_a_une)], une_a_une)}
    for cible in autres:
        statut, reponse = _post(cible.url_lot, cible.corps_lot(eleves))
        comparaisons[cible.nom] = pairs.comparer(reference, cible.probabilites(reponse) if statut == 200 else [])
    return {"configurations": sorted(configurations), "comparaisons": comparaisons, "taille": len(eleves)}


def _script(chemin: Path, corps: bytes) -> Path:
    chemin.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f"wrk.body = {json.dumps(corps.decode())}\n", encoding="utf-8")
    return chemin


def mesurer_une(cibles: list[Cible], dossier: Path, eleve: dict, duree: int, connexions: list[int]) -> dict:
    """wrk sur chaque cible, tours alternés : req/s, p50, p99, CPU de l'arbre de processus par requête."""
    scripts = {c.nom: _script(dossier / f"une-{c.nom}.lua", c.corps_une([eleve])) for c in cibles}
    resultats = {}
    for nombre in connexions:
        for cible in cibles:
            _wrk(cible.url_une, 1, nombre, scripts[cible.nom])  # échauffement
        tours: dict[str, list[dict]] = {c.nom: [] for c in cibles}
        for _ in range(TOURS_HTTP):
            for cible in cibles:
                avant = cpu_arbre(cible.processus.pid)
                mesure = _wrk(cible.url_une, duree, nombre, scripts[cible.nom])
                mesure["cpu_us"] = (_au_repos(cible.processus.pid) - avant) / max(1, mesure["requetes"]) * 1e6
                tours[cible.nom].append(mesure)
        resultats[nombre] = {nom: _medianes(m) for nom, m in tours.items()}
    return resultats


def _charge_lots(url: str, corps: bytes, duree: float, clients: int, pid: int,
                 type_contenu: str = "application/json") -> dict:
    """``clients`` connexions qui envoient le même lot en boucle pendant ``duree`` s : lots/s, durées, erreurs,
    CPU de l'arbre de processus par lot (attendu au repos après le dernier : la base a suivi)."""
    morceaux = urlsplit(url)
    durees: list[float] = []
    erreurs = [0]
    verrou = threading.Lock()
    depart = threading.Barrier(clients + 1)
    fin = [0.0]

    def boucle() -> None:
        connexion = http.client.HTTPConnection(morceaux.hostname, morceaux.port, timeout=60)
        depart.wait()
        while time.perf_counter() < fin[0]:
            debut = time.perf_counter()
            connexion.request("POST", morceaux.path, corps, {"Content-Type": type_contenu})
            reponse = connexion.getresponse()
            reponse.read()
            with verrou:
                if reponse.status == 200:
                    durees.append(time.perf_counter() - debut)
                else:
                    erreurs[0] += 1
        connexion.close()

    fils = [threading.Thread(target=boucle) for _ in range(clients)]
    for fil in fils:
        fil.start()
    avant = cpu_arbre(pid)
    debut = time.perf_counter()
    fin[0] = debut + duree
    depart.wait()
    for fil in fils:
        fil.join()
    ecoule = time.perf_counter() - debut
    n = len(durees)
    return {"lots": n, "par_s": n / ecoule, "mediane_ms": statistics.median(durees) * 1e3 if n else float("nan"),
            "cpu_ms": (_au_repos(pid) - avant) / max(1, n) * 1e3, "erreurs": erreurs[0]}


def mesurer_lots(cibles: list[Cible], eleves: list[dict], duree: int, clients: int) -> dict:
    corps = {c.nom: c.corps_lot(eleves) for c in cibles}
    for cible in cibles:  # échauffement
        _charge_lots(cible.url_lot, corps[cible.nom], 1, clients, cible.processus.pid)
    tours: dict[str, list[dict]] = {c.nom: [] for c in cibles}
    for _ in range(TOURS_HTTP):
        for cible in cibles:
            tours[cible.nom].append(_charge_lots(cible.url_lot, corps[cible.nom], duree, clients, cible.processus.pid))
    return {nom: _medianes(m) for nom, m in tours.items()}


def csv_classe(eleves: list[dict]) -> bytes:
    from app.modele.schema import CHAMPS

    texte = io.StringIO()
    redacteur = csv.writer(texte, delimiter=";", lineterminator="\n")
    redacteur.writerow(["nom", *CHAMPS])
    redacteur.writerows([[f"eleve-{i}", *("" if e[c] is None else e[c] for c in CHAMPS)] for i, e in enumerate(eleves)])
    return texte.getvalue().encode()


def mesurer_classe(nous: Cible, repetitions: int = 30) -> dict:
    """Une classe CSV de 400 élèves par ``POST /predire/lot/partiel``, l'une après l'autre : durée de bout en
    bout (médiane, p90) et CPU des serveurs par classe."""
    from app.modele.eleves_aleatoires import eleves_aleatoires

    corps = csv_classe(eleves_aleatoires(TAILLE_CLASSE, graine=11, notes_absentes=0.05))
    url = nous.url_lot + "/partiel"
    for _ in range(5):
        statut, _reponse = _post(url, corps, "text/csv")
        if statut != 200:
            raise RuntimeError(f"POST /predire/lot/partiel : {statut}")
    durees = []
    avant = cpu_arbre(nous.processus.pid)
    for _ in range(repetitions):
        debut = time.perf_counter()
        _post(url, corps, "text/csv")
        durees.append(time.perf_counter() - debut)
    cpu = (_au_repos(nous.processus.pid) - avant) / repetitions
    durees.sort()
    return {"mediane_ms": statistics.median(durees) * 1e3, "p90_ms": durees[int(0.9 * len(durees))] * 1e3,
            "cpu_ms": cpu * 1e3, "octets": len(corps)}


AUTRES_PROCESSUS = "autres processus de l'instance (maître gunicorn, suiveur de la base s'il y en a un)"
CONTRAT_LOT = ("predire_lot", "lot_predictions", "enregistrements", "conserver", "journal_ecrire")
"""Les étapes d'un lot (``ETAPES_LOT``) que le contrat exige quel que soit le serveur : prédiction, explications,
enregistrements et journal (lignes JSON comprises) ; le suiveur (``AUTRES_PROCESSUS``) les met en base."""


def cout_du_contrat(decomposition: dict) -> float:
    """µs de CPU par lot que coûtent, dans la décomposition, les étapes du contrat (``CONTRAT_LOT``) et le suiveur :
    un serveur qui lirait et écrirait le JSON et parlerait HTTP pour rien dépenserait encore cela."""
    from outils.appli_decomposee import ETAPES_LOT

    libelles = {ETAPES_LOT[cle][1] for cle in CONTRAT_LOT}
    sous_etapes = {ETAPES_LOT[cle][1] for cle, (parent, _l) in ETAPES_LOT.items() if parent in CONTRAT_LOT}
    return sum(us for libelle, us in decomposition["postes"]
               if libelle in libelles or libelle in sous_etapes or libelle == AUTRES_PROCESSUS)


def mesurer_decomposition_lot(dossier: Path, eleves: list[dict], lots: int = 40) -> dict:
    """Le CPU d'un ``POST /predire/lot`` de 1 000 élèves, étape par étape (``outils/appli_decomposee.py``,
    ``ETAPES_LOT``) : ``lots`` lots envoyés l'un après l'autre dans la fenêtre de mesure."""
    from outils.appli_decomposee import ETAPES_LOT

    sous_dossier = dossier / "decomposition-lot"
    sous_dossier.mkdir()
    processus, url = _lancer(sous_dossier, {"DECOMPOSITION_DOSSIER": str(sous_dossier)},
                             ["-c", str(RACINE / "gunicorn.conf.py"), "outils.appli_decomposee:app"])
    corps = json.dumps(eleves).encode()
    try:
        _attendre_200(url, _exemple(), processus)
        for _ in range(5):
            _post(url + "/predire/lot", corps)
        _au_repos(processus.pid)

        def charge() -> tuple[float, float, float]:
            avant = cpu_arbre(processus.pid)
            debut = time.perf_counter()
            for _ in range(lots):
                statut, _reponse = _post(url + "/predire/lot", corps)
                if statut != 200:
                    raise RuntimeError(f"POST /predire/lot : {statut}")
            ecoule = time.perf_counter() - debut
            return avant, _au_repos(processus.pid), ecoule
        (avant, apres, ecoule), releves = fenetre_decomposition(sous_dossier, "lot", processus.pid, charge)
    finally:
        _arreter(processus)
    resultat = _additionner(releves, arbre=ETAPES_LOT)
    workers_us = sum(r["processus_s"] for r in releves) * 1e6
    hors_workers = max(0.0, (apres - avant) * 1e6 - workers_us)
    resultat["postes"].append((AUTRES_PROCESSUS, hors_workers / resultat["requetes"]))
    resultat["total_us"] += hors_workers / resultat["requetes"]
    resultat["lots_par_s"] = lots / ecoule
    return resultat


def mesurer(dossier: Path, duree: int, connexions: list[int], clients_lot: int, journal=print,
            avant: str | None = None) -> dict:
    """Toute la partie : pairs lancés, vérification bit pour bit, prédictions une à une, lots, classe CSV,
    décomposition ; les pairs sont toujours arrêtés. ``avant`` : une révision git du projet servie à côté."""
    from app.modele.eleves_aleatoires import eleves_aleatoires

    eleves = eleves_aleatoires(TAILLE_LOT, graine=7, notes_absentes=0.0)  # configuration A : celle des pairs
    nous = notre_cible(dossier)
    autres, sautes = [], []
    try:
        if avant:
            journal(f"pairs : notre API à la révision {avant}, servie à côté…")
            autres.append(notre_cible(dossier, avant))
        lances, sautes = lancer_pairs(dossier, journal)
        autres.extend(lances)
        cibles = [nous, *autres]
        journal("pairs : vérification bit pour bit, puis charges (tours alternés)…")
        verification = verifier_identiques(nous, autres, eleves)
        une = mesurer_une(cibles, dossier, eleves[0], duree, connexions)
        lots = mesurer_lots(cibles, eleves, duree, clients_lot)
        classe = {c.nom: mesurer_classe(c) for c in cibles if c.nom in ("nous", "avant")}
    finally:
        for cible in [nous, *autres]:
            _arreter_arbre(cible.processus)
    journal("pairs : décomposition d'un lot…")
    decomposition = mesurer_decomposition_lot(dossier, eleves)
    return {"libelles": {c.nom: c.libelle for c in [nous, *autres]}, "sautes": sautes, "verification": verification,
            "une": une, "lots": lots, "clients_lot": clients_lot, "classe": classe, "decomposition": decomposition}


def _arreter_arbre(processus: subprocess.Popen) -> None:
    """Arrête le serveur et ses descendants (uvicorn, workers d'inférence) : SIGTERM, puis SIGKILL."""
    import os
    import signal

    membres = arbre(processus.pid)
    _arreter(processus)
    for pid in membres[1:]:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# --- tableau ---------------------------------------------------------------------------------------

def lignes(m: dict) -> list[str]:
    libelles = m["libelles"]
    resultat = []
    for saute in m["sautes"]:
        resultat.append(_ligne(f"pair sauté : {pairs.LIBELLES.get(saute.nom, saute.nom)}", "—", saute.raison, "",
                               "", None))
    v = m["verification"]
    details = [f"{'/predire un à un' if nom == 'predire' else libelles[nom]} : {egales}/{comparees}"
               + (f" (écart max {ecart:.3g})" if egales != comparees else "")
               for nom, (egales, comparees, ecart) in v["comparaisons"].items()]
    toutes = all(egales == comparees and comparees for egales, comparees, _ in v["comparaisons"].values())
    resultat.append(_ligne(f"mêmes probabilités bit pour bit que notre POST /predire/lot ({v['taille']} élèves, "
                           f"configuration {', '.join(v['configurations'])})", " ; ".join(details),
                           f"pipeline de {pairs.CONFIGURATION} servi par les pairs", "", "identiques", toutes))
    for nombre, charge in m["une"].items():
        n = charge["nous"]
        for nom, p in charge.items():
            if nom == "nous":
                continue
            resultat.append(_ligne(
                f"une prédiction, {nombre} connexions (wrk, médianes de {TOURS_HTTP} tours) : nous contre {libelles[nom]}",
                f"{n['par_s']:.0f} req/s ; p99 {n['p99_ms']:.2f} ms ; {n['cpu_us']:.0f} µs CPU/req",
                f"{p['par_s']:.0f} req/s ; p99 {p['p99_ms']:.2f} ms ; {p['cpu_us']:.0f} µs CPU/req"
                + (f" ; {p['erreurs'] + p['erreurs_socket']} erreur(s)" if p["erreurs"] + p["erreurs_socket"] else ""),
                f"{n['par_s'] / p['par_s']:.1f}× req/s ; p99 {n['p99_ms'] / p['p99_ms']:.2f}× ; "
                f"CPU/req {p['cpu_us'] / n['cpu_us']:.1f}× moins", "rapporté", None))
    lots = m["lots"]
    n = lots["nous"]
    for nom, p in lots.items():
        if nom == "nous":
            continue
        rapport = n["par_s"] / p["par_s"]
        objectif = OBJECTIFS.get(f"lot_{nom}")
        resultat.append(_ligne(
            f"lot de {_milliers(TAILLE_LOT)} élèves en HTTP, JSON → JSON ({m['clients_lot']} client(s), médianes de "
            f"{TOURS_HTTP} tours) : nous (explications, journal et base) contre {libelles[nom]}",
            f"{_milliers(n['par_s'] * TAILLE_LOT)} élèves/s ; {n['cpu_ms']:.1f} ms CPU/lot ; "
            f"{n['mediane_ms']:.1f} ms/lot" + (f" ; {n['erreurs']} erreur(s)" if n["erreurs"] else ""),
            f"{_milliers(p['par_s'] * TAILLE_LOT)} élèves/s ; {p['cpu_ms']:.1f} ms CPU/lot ; {p['mediane_ms']:.1f} ms/lot"
            + (f" ; {p['erreurs']} erreur(s)" if p["erreurs"] else ""),
            f"{rapport:.2f}× élèves/s ; CPU/lot {n['cpu_ms'] / p['cpu_ms']:.2f}×",
            f"≥ {objectif}×" if objectif else "rapporté",
            (rapport >= objectif and not n["erreurs"]) if objectif else None))
    c = m["classe"]["nous"]
    a = m["classe"].get("avant")
    resultat.append(_ligne(f"classe CSV de {TAILLE_CLASSE} élèves, POST /predire/lot/partiel (l'une après l'autre, "
                           f"{_milliers(c['octets'])} octets)",
                           f"{c['mediane_ms']:.1f} ms de bout en bout (médiane ; p90 {c['p90_ms']:.1f} ms) ; "
                           f"{c['cpu_ms']:.1f} ms de CPU serveur par classe",
                           f"{libelles['avant']} : {a['mediane_ms']:.1f} ms (p90 {a['p90_ms']:.1f} ms) ; "
                           f"{a['cpu_ms']:.1f} ms CPU" if a else "",
                           f"{c['mediane_ms'] / a['mediane_ms']:.2f}× la durée" if a else "",
                           f"≤ {OBJECTIFS['classe_ms']:.0f} ms", c["mediane_ms"] <= OBJECTIFS["classe_ms"]))
    d = m["decomposition"]
    total = d["total_us"]
    resultat.append(_ligne(f"CPU d'un lot de {_milliers(TAILLE_LOT)} élèves, décomposé (application chronométrée "
                           f"outils/appli_decomposee.py, {d['requetes']} lots l'un après l'autre)",
                           f"{total / 1e3:.1f} ms CPU/lot ({_milliers(d['lots_par_s'] * TAILLE_LOT)} élèves/s)",
                           f"non instrumentée (ci-dessus) : {n['cpu_ms']:.1f} ms", "100 %", "rapporté", None))
    for libelle, us in d["postes"]:
        if abs(us) >= 5:
            resultat.append(_ligne(f"↳ {libelle}", f"{us / 1e3:.2f} ms", "", f"{100 * us / total:.1f} %", "", None))
    contrat_ms = cout_du_contrat(d) / 1e3
    for nom, p in lots.items():
        objectif = OBJECTIFS.get(f"lot_{nom}")
        if nom == "nous" or not objectif:
            continue
        budget_ms = p["cpu_ms"] / objectif
        resultat.append(_ligne(
            f"lot de {_milliers(TAILLE_LOT)} : le contrat seul (prédiction, explications, enregistrements, journal et "
            f"suiveur, décomposition ci-dessus) contre le CPU par lot qu'il faudrait pour ≥ {objectif}× "
            f"{libelles[nom]} (son CPU par lot ÷ {objectif}, cœurs saturés)",
            f"contrat seul : {contrat_ms:.1f} ms CPU/lot",
            f"budget : {budget_ms:.1f} ms CPU/lot ({libelles[nom]} : {p['cpu_ms']:.1f} ms CPU/lot)",
            f"{contrat_ms / budget_ms:.2f}× le budget"
            + (" : hors d'atteinte, même avec HTTP, lecture et réponse JSON gratuites" if contrat_ms > budget_ms
               else ""), "rapporté", None))
    return resultat

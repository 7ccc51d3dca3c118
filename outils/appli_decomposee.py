"""Banc d'essai : l'application de production, instrumentée pour décomposer le CPU d'une requête ``/predire``.

``gunicorn -c gunicorn.conf.py outils.appli_decomposee:app`` sert exactement ``app.wsgi:app`` ; seules
des enveloppes chronométrées sont posées autour de chaque étape (temps CPU du fil,
``time.thread_time_ns``) du chemin direct (``app.web.chemin_direct``) : analyse et validation,
identifiant, prédiction, explication, enregistrement, journal, métriques, réponse, et Flask pour ce que le
chemin direct lui laisse. Le reste du CPU du worker est réparti par fil (``pthread_getcpuclockid``) : boucle
d'événements de gunicorn (fil principal), fils de requêtes hors application (gunicorn : analyse HTTP,
environ WSGI, écriture de la réponse), fil d'alimentation de la base (insertions SQLite), autres fils.

``outils.appli_decomposee:triviale`` : la route triviale (``outils/appli_triviale.py``), Flask
chronométré d'un bloc, pour comparer la part de gunicorn et de Flask à celle de ``/predire``.

Fenêtre de mesure pilotée par fichier : ``outils/banc_essai.py`` écrit ``debut`` puis ``fin`` dans
``$DECOMPOSITION_DOSSIER/commande`` ; chaque worker (un fil qui lit ce fichier toutes les 20 ms)
relève ses compteurs aux deux instants et écrit la différence dans ``$DECOMPOSITION_DOSSIER/<pid>.json``.
Les enveloppes coûtent elles-mêmes un peu (deux lectures d'horloge par étape) : le banc rapporte le CPU
par requête de l'application instrumentée à côté de celui de l'application de production.
Ne sert qu'à ``outils/banc_essai.py`` ; aucune donnée d'élève n'est écrite, seulement des durées.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from pathlib import Path

ETAPES = {
    # nom : (parent, libellé) ; le temps exclusif d'une étape est le sien moins celui de ses enfants.
    "wsgi": (None, "chemin direct (app.web.chemin_direct) : tri de la requête, lecture du corps, en-têtes"),
    "demande_directe": ("wsgi", "analyse JSON + validation pydantic en une passe (model_validate_json)"),
    "nouvel_identifiant": ("wsgi", "request_id (UUID 7)"),
    "ouvrir_contexte": ("wsgi", "contexte de journalisation (trace)"),
    "servir": ("wsgi", "servir : reste (entrees(), dict de la réponse)"),
    "predire": ("servir", "prédiction : encodage + arbres compilés"),
    "facteurs": ("predire", "explication en français (facteurs)"),
    "enregistrement_journal": ("servir", "construction de l'enregistrement"),
    "conserver": ("servir", "conservation : verrou, horodatage, confiance au fil d'alimentation"),
    "journal_ecrire": ("conserver", "journal : instant posé sous le verrou, flock + write + flock sans rendre le GIL"),
    "ligne_json": ("journal_ecrire", "journal : ligne JSON (orjson), avant le verrou"),
    "compter_predictions": ("servir", "métriques Prometheus : prédictions"),
    "resultats": ("servir", "dict des résultats"),
    "en_octets": ("wsgi", "réponse JSON (orjson)"),
    "observer": ("wsgi", "métriques Prometheus de la requête (+ ligne de journal si JSON)"),
    "flask": ("wsgi", "Flask : requêtes que le chemin direct lui laisse (aucune attendue ici)"),
}
ETAPES_LOT = {
    # POST /predire/lot (JSON) : Flask sert la requête, le chemin direct la lui passe.
    "wsgi": (None, "chemin direct (app.web.chemin_direct) : tri de la requête, passée à Flask"),
    "flask": ("wsgi", "Flask : contexte, routage, identifiant, en-têtes, métriques et journal de la requête"),
    "une_place": ("flask", "place de traitement et lecture du corps (_une_place_pour)"),
    "servir_lot": ("une_place", "service du lot : reste (choix du chemin)"),
    "lot_en_colonnes": ("servir_lot", "analyse JSON (orjson) + validation en colonnes (lot_en_colonnes)"),
    "lire_lot": ("servir_lot", "chemin de repli, élève par élève : lecture du lot (reste)"),
    "lot_direct": ("lire_lot", "chemin de repli : analyse JSON + validation pydantic en une passe (lot_direct)"),
    "lire_json": ("lire_lot", "chemin de repli : analyse JSON stricte (lire_json : doublons, NaN)"),
    "lot_json": ("lire_lot", "chemin de repli : validation pydantic élève par élève (lot_json)"),
    "servir_colonnes": ("servir_lot", "service du lot en colonnes : reste (dict de la réponse)"),
    "predire_et_conserver": ("servir_colonnes", "écoles, request_id, métriques (reste)"),
    "predire_lot": ("predire_et_conserver", "prédiction : encodage + arbres compilés + contributions"),
    "lot_predictions": ("predire_et_conserver", "explication en français (facteurs), confiance, avertissements"),
    "enregistrements": ("predire_et_conserver", "enregistrements du journal (enregistrements_lot)"),
    "conserver": ("predire_et_conserver", "conservation : verrou, horodatage, confiance au fil d'alimentation"),
    "journal_ecrire": ("conserver", "journal : instant posé sous le verrou, flock + write + flock sans rendre le GIL"),
    "ligne_json": ("journal_ecrire", "journal : lignes JSON (orjson), avant le verrou"),
    "inscrire_acces": ("predire_et_conserver", "journal des accès (une ligne par lot)"),
    "resultats": ("servir_colonnes", "dicts des résultats, après les entrées (suites_colonnes)"),
    "jsonify": ("servir_colonnes", "réponse JSON (orjson, liste_fusionnee_en_octets) et objet Response"),
}
"""Les étapes d'un lot ; un compteur du même nom que dans ``ETAPES`` est le même compteur (seuls les parents
diffèrent : la fenêtre de mesure d'un lot ne contient que des lots)."""
COMPTEURS = tuple(dict.fromkeys([*ETAPES, *ETAPES_LOT]))

_par_fil: list[dict] = []
_local = threading.local()
_verrou = threading.Lock()


def _compteurs() -> dict:
    compteurs = getattr(_local, "compteurs", None)
    if compteurs is None:
        compteurs = _local.compteurs = {nom: [0, 0] for nom in COMPTEURS}
        with _verrou:
            _par_fil.append(compteurs)
    return compteurs


def _chronometrer(nom: str, fonction):
    horloge = time.thread_time_ns

    @functools.wraps(fonction)
    def enveloppe(*args, **kwargs):
        debut = horloge()
        try:
            return fonction(*args, **kwargs)
        finally:
            compteur = _compteurs()[nom]
            compteur[0] += horloge() - debut
            compteur[1] += 1
    return enveloppe


def _production():
    import app.modele.predicteur as module_predicteur
    import app.stockage.journal as module_journal
    import app.web.chemin_direct as module_direct
    import app.web.routes.prediction as module_prediction
    from app.stockage.conservation import Conservation
    from app.wsgi import app

    for nom, etape in (("enregistrement_journal", "enregistrement_journal"), ("resultat", "resultats")):
        setattr(module_prediction, nom, _chronometrer(etape, getattr(module_prediction, nom)))
    module_prediction.metriques = type("Metriques", (), {
        "compter_predictions": staticmethod(_chronometrer("compter_predictions",
                                                         module_prediction.metriques.compter_predictions))})
    for nom in ("demande_directe", "nouvel_identifiant", "ouvrir_contexte", "servir", "en_octets", "observer"):
        setattr(module_direct, nom, _chronometrer(nom, getattr(module_direct, nom)))
    module_predicteur.facteurs = _chronometrer("facteurs", module_predicteur.facteurs)
    module_predicteur.Predicteur.predire = _chronometrer("predire", module_predicteur.Predicteur.predire)
    module_journal.ligne_json = _chronometrer("ligne_json", module_journal.ligne_json)
    module_journal.JournalRequetes.ecrire = _chronometrer("journal_ecrire", module_journal.JournalRequetes.ecrire)
    Conservation.conserver = _chronometrer("conserver", Conservation.conserver)
    _chronometrer_lots()
    direct = app.wsgi_app
    direct.suivant = _chronometrer("flask", direct.suivant)
    app.wsgi_app = _chronometrer("wsgi", direct)
    app.extensions["taches_de_fond"] = [*app.extensions.get("taches_de_fond", []), _demarrer_ecoute]
    return app


def _chronometrer_lots() -> None:
    """Les étapes de ``POST /predire/lot`` (``ETAPES_LOT``), celles du chemin en colonnes ; celles du chemin de
    repli (élève par élève : lot invalide, configuration non compilée) restent à zéro pour un lot valide."""
    import app.web.routes.lot as module_lot
    from app.modele.predicteur import LotPredictions, Predicteur

    renommees = {"_une_place_pour": "une_place", "_servir_lot": "servir_lot", "_servir_colonnes": "servir_colonnes",
                 "_lire_lot": "lire_lot", "_predire_et_conserver_colonnes": "predire_et_conserver",
                 "enregistrements_lot": "enregistrements", "suites_colonnes": "resultats",
                 "liste_fusionnee_en_octets": "jsonify"}
    for nom in ("_une_place_pour", "_servir_lot", "_servir_colonnes", "_lire_lot", "_predire_et_conserver_colonnes",
                "lot_en_colonnes", "lot_direct", "lire_json", "lot_json",
                "enregistrements_lot", "suites_colonnes", "liste_fusionnee_en_octets", "inscrire_acces", "jsonify"):
        if hasattr(module_lot, nom):
            setattr(module_lot, nom, _chronometrer(renommees.get(nom, nom), getattr(module_lot, nom)))
    for nom in ("predire_lot", "predire_tableaux"):
        if hasattr(Predicteur, nom):
            setattr(Predicteur, nom, _chronometrer("predire_lot", getattr(Predicteur, nom)))
    for nom in ("predictions", "en_colonnes"):
        if hasattr(LotPredictions, nom):
            setattr(LotPredictions, nom, _chronometrer("lot_predictions", getattr(LotPredictions, nom)))


def _triviale():
    """La route triviale de référence (``outils/appli_triviale.py``) : seul Flask y est chronométré (« wsgi »)."""
    from outils.appli_triviale import app

    app.wsgi_app = _chronometrer("wsgi", app.wsgi_app)
    app.extensions["taches_de_fond"] = [_demarrer_ecoute]
    return app


def __getattr__(nom: str):
    """``outils.appli_decomposee:app`` (l'API) ou ``outils.appli_decomposee:triviale`` (la référence), construite
    à la demande de gunicorn."""
    fabriques = {"app": _production, "triviale": _triviale}
    if nom not in fabriques:
        raise AttributeError(nom)
    application = globals()[nom] = fabriques[nom]()
    return application


def _fils() -> dict[str, float]:
    """Secondes de CPU de chaque fil Python de ce processus, par catégorie."""
    categories: dict[str, float] = {}
    for fil in threading.enumerate():
        try:
            secondes = time.clock_gettime(time.pthread_getcpuclockid(fil.ident))
        except (OSError, TypeError):
            continue
        if fil is threading.main_thread():
            categorie = "principal"
        elif fil.name in ("alimentation-base", "suivi-effacements", "decomposition"):
            categorie = fil.name
        else:
            categorie = "requetes"
        categories[categorie] = categories.get(categorie, 0.0) + secondes
    return categories


def _releve() -> dict:
    with _verrou:
        etapes = {nom: [sum(c[nom][0] for c in _par_fil), sum(c[nom][1] for c in _par_fil)] for nom in COMPTEURS}
    return {"processus": time.process_time(), "fils": _fils(), "etapes": etapes}


def _difference(avant: dict, apres: dict) -> dict:
    return {"processus_s": apres["processus"] - avant["processus"],
            "fils_s": {c: apres["fils"].get(c, 0.0) - avant["fils"].get(c, 0.0) for c in apres["fils"]},
            "etapes": {nom: [apres["etapes"][nom][0] - avant["etapes"][nom][0],
                             apres["etapes"][nom][1] - avant["etapes"][nom][1]] for nom in COMPTEURS}}


def _ecouter(dossier: Path) -> None:
    commande = dossier / "commande"
    avant = None
    vue = ""
    while True:
        time.sleep(0.02)
        try:
            texte = commande.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if texte == vue:
            continue
        vue = texte
        if texte.startswith("debut"):
            avant = _releve()
        elif texte.startswith("fin") and avant is not None:
            resultat = {"pid": os.getpid(), "fenetre": texte.split()[-1], **_difference(avant, _releve())}
            temporaire = dossier / f".{os.getpid()}.tmp"
            temporaire.write_text(json.dumps(resultat), encoding="utf-8")
            temporaire.replace(dossier / f"{os.getpid()}.json")
            avant = None


def _demarrer_ecoute() -> None:
    dossier = os.environ.get("DECOMPOSITION_DOSSIER")
    if dossier:
        threading.Thread(target=_ecouter, args=(Path(dossier),), name="decomposition", daemon=True).start()

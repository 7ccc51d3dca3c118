"""Le chemin direct de ``POST /predire`` : une demande valide est servie sans traverser Flask.

Flask coûte, par requête, plus que la prédiction elle-même : contexte de requête, routage, session,
crochets avant et après, objet ``Response`` et ses en-têtes (mesuré : ``make banc``, lignes « CPU du worker
par requête /predire, décomposé »). Ce middleware WSGI, posé devant Flask par la fabrique, sert le cas
courant — un ``POST /predire`` en JSON non compressé, de longueur annoncée dans la limite, au
``X-Request-ID`` absent ou valide, dont le corps est un élève valide — avec le même code que la vue
(``app.web.routes.prediction.servir`` : prédiction, explication, journal avant la réponse), les mêmes
métriques et ligne de journal (``app.web.observation.observer``), les mêmes en-têtes
(``app.web.entetes.ENTETES_JSON``) et les mêmes réponses aux refus du stockage (409, 503,
``app.web.erreurs.refus_du_stockage``).

Tout le reste passe par Flask, le corps déjà lu rendu tel quel : autre route ou méthode, corps en morceaux,
compressé, trop grand, invalide (la lecture stricte de Flask en nomme l'erreur en français), en-tête
``X-Request-ID`` invalide, ou (API_TOKEN défini) un ``Authorization`` ou un ``X-Request-ID`` choisi, dont
Flask vérifie le jeton. test/test_chemin_direct.py vérifie que les deux chemins répondent la même chose.
"""

from __future__ import annotations

import io
import logging
import time

from werkzeug.http import HTTP_STATUS_CODES

from app.journalisation import CONTEXTE
from app.json_rapide import en_octets
from app.modele.identifiants import identifiant_valide, nouvel_identifiant
from app.stockage.journal import ErreurJournal
from app.stockage.magasin import DoublonRequete, ErreurMagasin
from app.web.entetes import ENTETES_JSON
from app.web.erreurs import CONSEQUENCES, STATUTS, refus_du_stockage
from app.web.observation import observer, ouvrir_contexte
from app.web.requetes_json import demande_directe
from app.web.routes.prediction import servir
from app.web.services import CLE

journal = logging.getLogger("prediction_etudiante")
ROUTE = "/predire"


class CheminDirect:
    """WSGI : ``POST /predire`` valide servi ici, tout le reste par ``suivant`` (l'application Flask)."""

    def __init__(self, app, suivant):
        self.suivant = suivant
        self.services = app.extensions[CLE]
        self.limite = app.config["MAX_CONTENT_LENGTH"]
        config = self.services.configuration
        self.journaux_json = config.journaux_json
        # API_TOKEN défini : un Authorization présenté est vérifié, et un X-Request-ID choisi demande le jeton
        # (app.web.identite) ; ces requêtes passent par Flask, qui en décide.
        self.jeton_configure = bool(config.jeton_api)
        self.version_modele = self.services.artefacts.fiche["version_modele"]

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == ROUTE and environ.get("REQUEST_METHOD") == "POST" \
                and not environ.get("SCRIPT_NAME"):
            return self._predire(environ, start_response)
        return self.suivant(environ, start_response)

    def _predire(self, environ, start_response):
        debut = time.perf_counter()
        longueur = environ.get("CONTENT_LENGTH") or ""
        type_contenu = (environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
        fourni = environ.get("HTTP_X_REQUEST_ID")
        if not (longueur.isascii() and longueur.isdigit() and int(longueur) <= self.limite) \
                or not (type_contenu == "application/json" or type_contenu.endswith("+json")) \
                or environ.get("HTTP_CONTENT_ENCODING") or environ.get("HTTP_TRANSFER_ENCODING") \
                or (fourni is not None and not identifiant_valide(fourni)) \
                or (self.jeton_configure and (fourni is not None or "HTTP_AUTHORIZATION" in environ)):
            return self.suivant(environ, start_response)
        brut = environ["wsgi.input"].read(int(longueur))
        demande = demande_directe(brut) if len(brut) == int(longueur) else None
        if demande is None:  # Flask relit le même corps et nomme l'erreur (ou le corps coupé)
            environ["wsgi.input"] = io.BytesIO(brut)
            return self.suivant(environ, start_response)
        request_id = fourni if fourni is not None else nouvel_identifiant()
        jeton = ouvrir_contexte(environ.get("HTTP_X_CLOUD_TRACE_CONTEXT"), environ.get("HTTP_TRACEPARENT"), request_id)
        configuration = None
        try:
            try:
                corps, prediction = servir(demande, debut, request_id, fourni is not None, self.services)
                statut, configuration, entetes = 200, prediction.configuration, ()
            except (ErreurJournal, ErreurMagasin, DoublonRequete) as erreur:  # comme app.web.erreurs
                refus = refus_du_stockage(erreur, CONSEQUENCES["prediction.predire"], request_id)
                statut, corps, entetes = refus.statut, {"erreur": refus.message, "details": refus.details}, \
                    tuple(refus.entetes.items())
            except Exception:  # noqa: BLE001 - un défaut : 500 comme app.web.erreurs, jamais de trace au client
                journal.exception("erreur interne")
                statut, corps, entetes = 500, {"erreur": STATUTS[500][0], "details": []}, ()
            octets = en_octets(corps)
            start_response(f"{statut} {HTTP_STATUS_CODES[statut].upper()}",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(octets))), *entetes,
                            ("X-Request-ID", request_id), *ENTETES_JSON])
            observer(ROUTE, "POST", statut, time.perf_counter() - debut, self.journaux_json, self.version_modele,
                     configuration)
        finally:
            CONTEXTE.reset(jeton)
        return [octets]

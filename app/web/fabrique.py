"""La fabrique de l'application Flask : charge et vérifie le modèle une fois, branche le stockage,
enregistre les blueprints. ``app.create_app`` l'appelle."""

from __future__ import annotations

import logging

from flask import Flask, g, request
from flask.json.provider import DefaultJSONProvider

from app.config import Configuration
from app.json_rapide import en_octets
from app.modele.identifiants import (
    REGLE_IDENTIFIANT,
    identifiant_valide,
    nouvel_identifiant,
)
from app.modele.noyau import construire_noyau
from app.stockage import fils
from app.web import entetes, erreurs, metriques, observation, oidc
from app.web import suiveur as suiveur_web
from app.web.chemin_direct import CheminDirect
from app.web.erreurs import ErreurRequete
from app.web.identification import Identification
from app.web.lots import PlacesLots
from app.web.routes import (
    acces,
    accueil,
    classe,
    derive,
    documentation,
    historique,
    lot,
    prediction,
    supervision,
)
from app.web.services import CLE, Services


class FournisseurJson(DefaultJSONProvider):
    """Le ``jsonify`` de Flask, écrit par orjson (clés dans l'ordre d'insertion, UTF-8)."""

    sort_keys = False
    ensure_ascii = False

    def dumps(self, obj, **kwargs) -> str:
        return en_octets(obj).decode("utf-8") if not kwargs else super().dumps(obj, **kwargs)

    def response(self, *args, **kwargs):
        document = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(en_octets(document), mimetype=self.mimetype)


def create_app(config: Configuration | None = None) -> Flask:
    """Construit l'application : charge et vérifie le modèle une fois, enregistre les routes."""
    config = config or Configuration.depuis_environnement()
    noyau = construire_noyau(config)  # modèle vérifié, prédicteur, journal, magasin (commun avec app.rpc)
    charges, magasin = noyau.artefacts, noyau.magasin
    app = Flask(__name__)
    app.debug = False  # jamais de mode debug, même avec FLASK_DEBUG=1 dans l'environnement
    app.config.update(MAX_CONTENT_LENGTH=config.taille_max_corps)
    app.json = FournisseurJson(app)
    app.extensions[CLE] = Services(
        configuration=config,
        artefacts=charges,
        predicteur=noyau.predicteur,
        journal=noyau.journal,
        magasin=magasin,
        conservation=noyau.conservation,
        places_lots=PlacesLots(config.lots_simultanes),
        identification=Identification(config, magasin),
    )
    if config.mode_identite == "oidc":  # cookie de session signé (itsdangerous), HttpOnly, SameSite=Lax
        app.secret_key = config.secret_session
        app.config.update(SESSION_COOKIE_NAME="session_prediction", SESSION_COOKIE_HTTPONLY=True,
                          SESSION_COOKIE_SAMESITE="Lax", PERMANENT_SESSION_LIFETIME=oidc.DUREE_SESSION,
                          SESSION_COOKIE_SECURE=config.hote not in ("127.0.0.1", "localhost", "::1"))
    erreurs.enregistrer(app)
    # Fils de fond de chaque processus, lancés après le fork (gunicorn.conf.py : post_worker_init ;
    # app.main : au démarrage) : ils ne traversent pas un fork.
    noyau.conservation.observateur = metriques.observer_alimentation  # retard, arriéré, journal dans GET /metrics
    fils.observateur = lambda nom: metriques.FILS_RELANCES.labels(nom).inc()  # fil de fond relancé
    metriques.JOURNAL_BORNE.set(config.borne_journal)
    app.extensions["taches_de_fond"] = [noyau.demarrer]
    # À l'arrêt de chaque processus (gunicorn.conf.py : worker_exit ; app.main : atexit) : ce qui est au
    # journal et pas encore en base y est inséré avant la sortie.
    app.extensions["taches_d_arret"] = [noyau.conservation.arreter, noyau.suivi.arreter]
    # À l'arrêt de l'instance (gunicorn.conf.py : on_exit, dans le maître après ses workers ; app.main :
    # atexit) : chaque ligne du journal actif et des segments non confirmés est en base.
    app.extensions["taches_de_sortie"] = [noyau.arreter_instance]
    # Au lancement de l'instance (gunicorn.conf.py : when_ready, dans le maître avant le fork des workers ;
    # app.main) : le suiveur du journal, avec les métriques de GET /metrics (app.web.suiveur).
    app.extensions["taches_au_lancement"] = [
        lambda apres_fork=None: noyau.lancer_suiveur("app.web.suiveur", suiveur_web.servir_en_place if apres_fork
                                                     else None, apres_fork)]

    @app.before_request
    def _identifiant():
        fourni = request.headers.get("X-Request-ID")
        g.request_id = nouvel_identifiant()
        # Route inconnue (404) ou méthode non permise (405) : l'erreur de routage passe avant l'en-tête.
        if fourni is not None and request.routing_exception is None:
            if not identifiant_valide(fourni):
                raise ErreurRequete(400, "en-tête X-Request-ID invalide",
                                    [{"champ": "X-Request-ID", "message": REGLE_IDENTIFIANT}])
            g.request_id = fourni
            g.request_id_fourni = True  # un request_id réutilisé est refusé (409) : vérifié à la conservation

    @app.after_request
    def _renvoyer_identifiant(reponse):
        reponse.headers["X-Request-ID"] = getattr(g, "request_id", "")
        return entetes.poser(reponse)  # nosniff, no-store, CSP (app.web.entetes)

    observation.enregistrer(app, config.journaux_json, charges.fiche["version_modele"])  # après l'identifiant
    for module in (accueil, prediction, lot, historique, derive, documentation, supervision, classe, acces, oidc):
        app.register_blueprint(module.bp)
    # POST /predire valide servi sans traverser Flask, à l'identique (app.web.chemin_direct) ; le reste par Flask.
    # Hors du mode local, chaque prédiction passe par Flask : identité, école et origine y sont vérifiées.
    if config.mode_identite == "local":
        app.wsgi_app = CheminDirect(app, app.wsgi_app)
    journal = logging.getLogger("prediction_etudiante")
    journal.info("modèle %s chargé (%s)", charges.fiche["version_modele"], config.chemin_modele)
    journal.info("résultats conservés dans %s (%s) ; historique %s", magasin.nom, magasin.description,
                 "protégé par API_TOKEN" if config.jeton_api else "désactivé (API_TOKEN absent)")
    journal.info("identité du personnel : mode %s", config.mode_identite)
    return app

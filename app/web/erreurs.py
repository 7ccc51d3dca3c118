"""Erreurs HTTP : toujours un corps JSON ``{"erreur", "details"}`` en français, jamais une page HTML."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from app.modele.erreurs_validation import DETAILS_MAX
from app.modele.lots import ErreurLot
from app.stockage import refus
from app.stockage.journal import ErreurJournal
from app.stockage.magasin import DoublonRequete, ErreurMagasin
from app.web import metriques

journal = logging.getLogger("prediction_etudiante")

STATUTS = {
    # statut : (message par défaut de la réponse, description du statut dans le document OpenAPI)
    400: ("requête invalide", "Requête invalide (détail par champ)"),
    401: ("authentification requise", "Jeton absent ou invalide (en-tête WWW-Authenticate)"),
    403: ("accès refusé", "Accès refusé : API_TOKEN non configuré (mode local), personne absente du fichier "
                          "d'accès, rôle ou école hors de ses droits, ou requête d'une autre origine"),
    404: ("ressource introuvable : consultez GET / pour la liste des routes", "Introuvable"),
    405: ("méthode non permise pour cette route", "Méthode non permise (en-tête Allow)"),
    409: ("conflit avec une ressource existante", "request_id (X-Request-ID) déjà enregistré"),
    413: ("corps de requête trop volumineux", "Corps trop volumineux"),
    415: ("type de contenu non pris en charge : envoyez du JSON (Content-Type: application/json)",
          "Type de contenu non pris en charge"),
    429: ("trop de requêtes : réessayez plus tard", "Trop d'essais de jeton ratés (en-tête Retry-After)"),
    500: ("erreur interne du serveur ; elle a été journalisée", "Erreur interne (un défaut : signalez-le)"),
    503: ("service momentanément indisponible", "Indisponible (base des résultats ou journal) ; en-tête Retry-After"),
}
"""Seule table des statuts d'erreur : les réponses et le document OpenAPI (``app.web.openapi``) la lisent."""


class ErreurRequete(Exception):
    """Une erreur attendue, avec son statut, son message et le détail par champ."""

    def __init__(self, statut: int, message: str, details: list[dict] | None = None,
                 entetes: dict[str, str] | None = None):
        super().__init__(message)
        self.statut = statut
        self.message = message
        self.details = (details or [])[:DETAILS_MAX]
        self.entetes = entetes or {}


CONSEQUENCES = {
    "prediction.predire": refus.PREDICTION_NON_SERVIE,
    "lot.predire_lot": "le lot n'a pas été servi pour ne pas être perdu",
    "lot.predire_lot_csv": "le lot n'a pas été servi pour ne pas être perdu",
    "lot.predire_lot_partiel": "le lot n'a pas été servi pour ne pas être perdu",
    "historique.effacer": "l'effacement n'est pas terminé, réessayez (il peut être refait sans risque)",
    "historique.effacement_par_corps": "l'effacement n'est pas terminé, réessayez (il peut être refait sans risque)",
}
"""Ce qu'un refus du stockage a laissé, par route : le client sait s'il doit renvoyer sa requête."""


def refus_du_stockage(erreur: Exception, consequence: str, request_id: str) -> ErreurRequete:
    """Seule traduction des erreurs du stockage en réponses : 409 (request_id déjà conservé),
    503 avec ``Retry-After`` (base ou journal indisponible), comptée dans les métriques. Jamais de 500."""
    if not isinstance(erreur, DoublonRequete):
        metriques.ERREURS_STOCKAGE.labels("journal" if isinstance(erreur, ErreurJournal) else "base").inc()
    if isinstance(erreur, DoublonRequete):
        return ErreurRequete(409, refus.message_doublon(request_id, "un X-Request-ID nouveau, ou aucun"),
                             [{"champ": "X-Request-ID", "message": refus.DOUBLON}])
    return ErreurRequete(503, refus.message_indisponible(erreur, consequence), entetes={"Retry-After": "30"})


def _jeter_le_corps_non_lu() -> None:
    """Lit et jette ce qui reste du corps (borné par la limite de taille de la route) avant de répondre
    une erreur : une connexion fermée sur des octets non lus est réinitialisée, et le client ne voit
    jamais la réponse (un lot de 5 Mio refusé avant lecture recevait « Broken pipe », pas son 503)."""
    try:
        flux = request.stream  # 413 si le corps annoncé dépasse la limite : on n'en lit rien
        while flux.read(1 << 16):
            pass
    except Exception:  # noqa: BLE001 - corps trop gros, coupé ou mal découpé : rien à sauver
        pass


def reponse_erreur(statut: int, message: str, details: list[dict] | None = None, entetes=None):
    if request:
        _jeter_le_corps_non_lu()
    corps = {"erreur": message, "details": details or []}  # ErreurRequete a déjà borné ses détails
    reponse = jsonify(corps)
    reponse.status_code = statut
    for cle, valeur in (entetes or {}).items():
        reponse.headers[cle] = valeur
    return reponse


def enregistrer(app: Flask) -> None:
    @app.errorhandler(ErreurRequete)
    def _attendue(erreur: ErreurRequete):
        return reponse_erreur(erreur.statut, erreur.message, erreur.details, erreur.entetes)

    @app.errorhandler(ErreurLot)
    def _lot(erreur: ErreurLot):  # lot ou fichier CSV inutilisable (app.modele.lots)
        return reponse_erreur(erreur.statut, erreur.message, erreur.details)

    @app.errorhandler(ErreurMagasin)
    @app.errorhandler(ErreurJournal)
    @app.errorhandler(DoublonRequete)
    def _stockage(erreur: Exception):
        refus = refus_du_stockage(erreur, CONSEQUENCES.get(request.endpoint, "rien n'a été modifié"),
                                  getattr(g, "request_id", ""))
        return reponse_erreur(refus.statut, refus.message, refus.details, refus.entetes)

    @app.errorhandler(HTTPException)
    def _http(erreur: HTTPException):
        statut = erreur.code or 500
        message = STATUTS[statut][0] if statut in STATUTS else erreur.name
        if statut == 413:
            limite = request.max_content_length if request else app.config.get("MAX_CONTENT_LENGTH")
            message = f"corps de requête trop volumineux : {limite} octets au plus"
        entetes = {"Allow": ", ".join(erreur.valid_methods)} if statut == 405 and getattr(erreur, "valid_methods", None) else None
        return reponse_erreur(statut, message, entetes=entetes)

    @app.errorhandler(Exception)
    def _imprevue(erreur: Exception):
        journal.exception("erreur interne")
        return reponse_erreur(500, STATUTS[500][0])

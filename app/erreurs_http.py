"""Erreurs HTTP : toujours un corps JSON ``{"erreur", "details"}`` en français, jamais une page HTML."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from app.magasin import ErreurMagasin

journal = logging.getLogger("prediction_etudiante")

MESSAGES = {
    400: "requête invalide",
    401: "authentification requise",
    403: "accès refusé",
    404: "ressource introuvable : consultez GET / pour la liste des routes",
    405: "méthode non permise pour cette route",
    409: "conflit avec une ressource existante",
    413: "corps de requête trop volumineux",
    415: "type de contenu non pris en charge : envoyez du JSON (Content-Type: application/json)",
    503: "service momentanément indisponible",
}


class ErreurRequete(Exception):
    """Une erreur attendue, avec son statut, son message et le détail par champ."""

    def __init__(self, statut: int, message: str, details: list[dict] | None = None,
                 entetes: dict[str, str] | None = None):
        super().__init__(message)
        self.statut = statut
        self.message = message
        self.details = details or []
        self.entetes = entetes or {}


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
    corps = {"erreur": message, "details": details or []}
    reponse = jsonify(corps)
    reponse.status_code = statut
    for cle, valeur in (entetes or {}).items():
        reponse.headers[cle] = valeur
    return reponse


def enregistrer(app: Flask) -> None:
    @app.errorhandler(ErreurRequete)
    def _attendue(erreur: ErreurRequete):
        return reponse_erreur(erreur.statut, erreur.message, erreur.details, erreur.entetes)

    @app.errorhandler(ErreurMagasin)
    def _base_indisponible(erreur: ErreurMagasin):
        return reponse_erreur(503, f"{erreur} ; réessayez dans un moment", entetes={"Retry-After": "30"})

    @app.errorhandler(HTTPException)
    def _http(erreur: HTTPException):
        statut = erreur.code or 500
        message = MESSAGES.get(statut, erreur.name)
        if statut == 413:
            limite = request.max_content_length if request else app.config.get("MAX_CONTENT_LENGTH")
            message = f"corps de requête trop volumineux : {limite} octets au plus"
        entetes = {"Allow": ", ".join(erreur.valid_methods)} if statut == 405 and getattr(erreur, "valid_methods", None) else None
        return reponse_erreur(statut, message, entetes=entetes)

    @app.errorhandler(Exception)
    def _imprevue(erreur: Exception):
        journal.exception("erreur interne")
        return reponse_erreur(500, "erreur interne du serveur ; elle a été journalisée")

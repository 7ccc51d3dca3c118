"""``GET /metrics`` : les métriques Prometheus de tous les workers (``app.web.metriques``).

Ouvert par défaut en local (rien de personnel n'y figure) ; ``METRIQUES_TOKEN`` défini, il faut
``Authorization: Bearer <METRIQUES_TOKEN>`` (Google Cloud Managed Service for Prometheus sait
l'envoyer : deploy/metriques.md). Sur Cloud Run (``K_SERVICE``) sans METRIQUES_TOKEN : fermé (403), car
les comptes par classe prédite et par route n'ont pas à être publics (issue 28)."""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.web import metriques
from app.web.authentification import verifier
from app.web.erreurs import ErreurRequete
from app.web.services import services

bp = Blueprint("supervision", __name__)


@bp.get("/metrics")
def exposer():
    configuration = services().configuration
    jeton = configuration.jeton_metriques
    if jeton:
        verifier(request.headers.get("Authorization"), jeton)
    elif configuration.service_cloud_run:
        raise ErreurRequete(403, "métriques fermées sur Cloud Run : définissez METRIQUES_TOKEN (au moins 32 "
                                 "caractères) sur le service et envoyez Authorization: Bearer <METRIQUES_TOKEN>")
    corps, type_contenu = metriques.exposition()
    return Response(corps, content_type=type_contenu)

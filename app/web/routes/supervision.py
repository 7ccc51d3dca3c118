"""``GET /metrics`` : les métriques Prometheus de tous les workers (``app.web.metriques``).

Ouvert par défaut (rien de personnel n'y figure) ; ``METRIQUES_TOKEN`` défini, il faut
``Authorization: Bearer <METRIQUES_TOKEN>`` (Google Cloud Managed Service for Prometheus sait
l'envoyer : deploy/README-metriques.md)."""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.web import metriques
from app.web.authentification import verifier
from app.web.services import services

bp = Blueprint("supervision", __name__)


@bp.get("/metrics")
def exposer():
    jeton = services().configuration.jeton_metriques
    if jeton:
        verifier(request.headers.get("Authorization"), jeton)
    corps, type_contenu = metriques.exposition()
    return Response(corps, content_type=type_contenu)

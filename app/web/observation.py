"""Ce que l'exploitation voit de chaque requête : métriques (toujours) et, en JSON (Cloud Run), une
ligne de journal par requête avec sa trace, sa route, son statut, sa durée, le modèle et la
configuration. Jamais d'attribut d'élève ni de user_id : la route est un gabarit, pas un chemin."""

from __future__ import annotations

import logging
import time

from flask import Flask, g, request

from app.journalisation import CONTEXTE, trace_depuis
from app.web import metriques

journal = logging.getLogger("prediction_etudiante")


def _route() -> str:
    return request.url_rule.rule if request.url_rule is not None else "<inconnue>"


_SANS = object()


def observer(route: str, methode: str, statut: int, duree: float, journaux_json: bool, version_modele: str,
             configuration: str | None = None, request_id=_SANS) -> None:
    """Métriques d'une requête servie et, en JSON, sa ligne de journal ; ``request_id`` : pour une requête
    refusée avant l'ouverture de son contexte (X-Request-ID invalide). Commun aux crochets de Flask et au
    chemin direct de ``/predire`` (``app.web.chemin_direct``)."""
    metriques.requete_servie(route, methode, statut, duree)
    if journaux_json:
        champs = {"route": route, "statut": statut, "duree_ms": round(duree * 1000, 3),
                  "httpRequest": {"requestMethod": methode, "status": statut, "latency": f"{duree:.6f}s"},
                  "model_version": version_modele}
        if configuration:
            champs["configuration"] = configuration
        if request_id is not _SANS:
            champs["request_id"] = request_id
        journal.log(logging.WARNING if statut >= 500 else logging.INFO,
                    "%s %s → %d", methode, route, statut, extra={"champs": champs})


def ouvrir_contexte(x_cloud_trace: str | None, traceparent: str | None, request_id: str | None):
    """Le contexte des lignes de journal écrites pendant la requête ; le jeton rend l'ancien (``CONTEXTE.reset``)."""
    trace, span = trace_depuis(x_cloud_trace, traceparent)
    return CONTEXTE.set({"trace": trace, "span": span, "request_id": request_id})


def enregistrer(app: Flask, journaux_json: bool, version_modele: str) -> None:
    metriques.MODELE.labels(version_modele).set(1)

    @app.before_request
    def _ouvrir():
        g.debut = time.perf_counter()
        g.jeton_contexte = ouvrir_contexte(request.headers.get("X-Cloud-Trace-Context"),
                                           request.headers.get("traceparent"), getattr(g, "request_id", None))

    @app.after_request
    def _mesurer(reponse):
        duree = time.perf_counter() - getattr(g, "debut", time.perf_counter())
        # Requête refusée avant l'ouverture (X-Request-ID invalide) : son identifiant va dans la ligne elle-même.
        hors_contexte = CONTEXTE.get() is None
        observer(_route(), request.method, reponse.status_code, duree, journaux_json, version_modele,
                 getattr(g, "configuration", None), getattr(g, "request_id", None) if hors_contexte else _SANS)
        return reponse

    @app.teardown_request
    def _fermer(_erreur=None):
        jeton = g.pop("jeton_contexte", None)
        if jeton is not None:
            CONTEXTE.reset(jeton)

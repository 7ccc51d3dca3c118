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


def enregistrer(app: Flask, journaux_json: bool, version_modele: str) -> None:
    metriques.MODELE.labels(version_modele).set(1)

    @app.before_request
    def _ouvrir():
        g.debut = time.perf_counter()
        trace, span = trace_depuis(request.headers.get("X-Cloud-Trace-Context"), request.headers.get("traceparent"))
        g.jeton_contexte = CONTEXTE.set({"trace": trace, "span": span, "request_id": getattr(g, "request_id", None)})

    @app.after_request
    def _mesurer(reponse):
        duree = time.perf_counter() - getattr(g, "debut", time.perf_counter())
        route, statut = _route(), reponse.status_code
        metriques.REQUETES.labels(route, request.method, str(statut)).inc()
        metriques.DUREES.labels(route).observe(duree)
        if statut == 401:
            metriques.JETONS_REFUSES.labels(route).inc()
        if journaux_json:
            champs = {"route": route, "statut": statut, "duree_ms": round(duree * 1000, 3),
                      "httpRequest": {"requestMethod": request.method, "status": statut, "latency": f"{duree:.6f}s"},
                      "model_version": version_modele}
            if getattr(g, "configuration", None):
                champs["configuration"] = g.configuration
            if CONTEXTE.get() is None:  # requête refusée avant l'ouverture (X-Request-ID invalide)
                champs["request_id"] = getattr(g, "request_id", None)
            journal.log(logging.WARNING if statut >= 500 else logging.INFO,
                        "%s %s → %d", request.method, route, statut, extra={"champs": champs})
        return reponse

    @app.teardown_request
    def _fermer(_erreur=None):
        jeton = g.pop("jeton_contexte", None)
        if jeton is not None:
            CONTEXTE.reset(jeton)

"""Les journaux du processus (pas le journal des requêtes) : texte lisible en local, une ligne JSON par
message pour Cloud Logging (``JOURNAUX_FORMAT=json``, défaut quand ``K_SERVICE`` est défini).

Cloud Logging lit sur stdout/stderr les champs ``severity``, ``message``,
``logging.googleapis.com/trace`` (``projects/<projet>/traces/<id>``) et ``…/spanId``, et
``httpRequest``. La trace vient de ``X-Cloud-Trace-Context`` ou du ``traceparent`` du W3C, validés
(hexadécimal seulement : rien de ce que le client envoie d'autre n'entre dans un journal).
Jamais de données personnelles ici : ni attributs d'élève, ni user_id, ni chemin d'URL (il peut
contenir un user_id) — seulement le gabarit de la route. Elles restent dans le journal des requêtes
et le magasin, que l'effacement atteint.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Mapping

NIVEAUX = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARNING",
           logging.ERROR: "ERROR", logging.CRITICAL: "CRITICAL"}
_TRACE_GOOGLE = re.compile(r"([0-9a-f]{32})(?:/(\d{1,20}))?(?:;o=[01])?", re.IGNORECASE)
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
CONTEXTE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("contexte_requete", default=None)
"""Ce que chaque ligne écrite pendant une requête porte : trace, span, request_id (posé par le web)."""


def json_demande(env: Mapping[str, str] | None = None) -> bool:
    """Le format voulu, lu sans rien valider d'autre : gunicorn.conf.py et les messages de démarrage
    en ont besoin avant que la configuration complète soit lue (et même si elle est invalide)."""
    env = os.environ if env is None else env
    choix = env.get("JOURNAUX_FORMAT", "").strip().lower()
    return choix == "json" or (choix == "" and bool(env.get("K_SERVICE", "").strip()))


def trace_depuis(x_cloud_trace: str | None, traceparent: str | None) -> tuple[str | None, str | None]:
    """(identifiant de trace, identifiant de span en hexadécimal) ; (None, None) si rien de valide."""
    if traceparent and (m := _TRACEPARENT.fullmatch(traceparent.strip())):
        return m.group(1).lower(), m.group(2).lower()
    if x_cloud_trace and (m := _TRACE_GOOGLE.fullmatch(x_cloud_trace.strip())):
        span = format(int(m.group(2)), "016x") if m.group(2) and int(m.group(2)) < 2 ** 64 else None
        return m.group(1).lower(), span
    return None, None


class FormatJson(logging.Formatter):
    """Une ligne JSON par message, au format de Cloud Logging."""

    def __init__(self, *args, projet: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.projet = os.environ.get("GOOGLE_CLOUD_PROJECT", "").strip() if projet is None else projet

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "severity": NIVEAUX.get(record.levelno, "DEFAULT"),
            "message": record.getMessage(),
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="microseconds"),
            "logger": record.name,
        }
        if record.exc_info:
            document["message"] += "\n" + self.formatException(record.exc_info)
        contexte = CONTEXTE.get()
        if contexte:
            if contexte.get("trace") and self.projet:
                document["logging.googleapis.com/trace"] = f"projects/{self.projet}/traces/{contexte['trace']}"
            if contexte.get("span"):
                document["logging.googleapis.com/spanId"] = contexte["span"]
            if contexte.get("request_id"):
                document["request_id"] = contexte["request_id"]
        document.update(getattr(record, "champs", None) or {})
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)


def _gestionnaire(json_voulu: bool) -> logging.Handler:
    gestionnaire = logging.StreamHandler(sys.stderr)
    gestionnaire.setFormatter(FormatJson() if json_voulu else
                              logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    return gestionnaire


def configurer(json_voulu: bool | None = None) -> None:
    """Le journal de l'application (``prediction_etudiante``) et la racine, hors gunicorn (``app.main``)."""
    json_voulu = json_demande() if json_voulu is None else json_voulu
    logging.basicConfig(level=logging.INFO, handlers=[_gestionnaire(json_voulu)], force=True)
    if json_voulu:  # le serveur de développement écrit le chemin de chaque requête (un user_id parfois)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)


def signaler_arret(message: str) -> None:
    """Le message d'un démarrage impossible, dans le format des autres lignes."""
    if json_demande():
        print(json.dumps({"severity": "CRITICAL", "message": message}, ensure_ascii=False), file=sys.stderr, flush=True)
    else:
        print(message, file=sys.stderr, flush=True)


def configuration_gunicorn(acces: bool = False) -> dict:
    """``logconfig_dict`` de gunicorn en mode JSON : ses propres lignes (démarrage, workers, erreurs)
    passent par ``FormatJson`` comme celles de l'application. Le journal d'accès de gunicorn écrit le
    chemin de chaque requête (un user_id parfois) : muet, sauf ``acces`` (GUNICORN_ACCESSLOG=1) ; la
    ligne JSON de chaque requête (``app.web.observation``) le remplace, avec le gabarit de la route."""
    gestionnaire = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.journalisation.FormatJson"}},
        "handlers": {"console": gestionnaire, "error_console": gestionnaire},
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "INFO" if acces else "CRITICAL", "handlers": ["console"] if acces else [],
                                "propagate": False},
        },
    }

"""``POST /predire`` : un élève → prédiction, probabilités et explication, conservées en base et au journal."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator

from flask import Blueprint, g, jsonify, request
from pydantic import ValidationError

from app.erreurs_http import ErreurRequete
from app.erreurs_validation import detailler
from app.journal_requetes import ErreurJournal
from app.magasin import DoublonRequete
from app.predicteur import Prediction
from app.requetes_json import lire_json
from app.schema import DemandePrediction
from app.services import services

bp = Blueprint("prediction", __name__)


def valider_demande(document) -> DemandePrediction:
    if not isinstance(document, dict):
        genre = {list: "une liste", str: "une chaîne", type(None): "null"}.get(type(document), "un scalaire")
        raise ErreurRequete(400, f"le corps doit être un objet JSON avec les attributs de l'élève, pas {genre}")
    try:
        return DemandePrediction.model_validate(document)
    except ValidationError as erreur:
        details = detailler(erreur)
        champs = ", ".join(d["champ"] for d in details[:5]) + (" …" if len(details) > 5 else "")
        raise ErreurRequete(400, f"données de l'élève invalides ({len(details)} problème(s) : {champs})", details) from None


def resultats(entrees: dict, prediction: Prediction) -> dict:
    """Les entrées validées (``eleve.model_dump()``, faite une fois par élève), puis la prédiction."""
    return {
        **entrees,
        "prediction": prediction.prediction,
        "libelle": prediction.libelle,
        "probabilite_echec": prediction.probabilite_echec,
        "probabilite_reussite": prediction.probabilite_reussite,
        "confiance_prediction": prediction.confiance_prediction,
        "seuil": prediction.seuil,
        "configuration": prediction.configuration,
        "explication": prediction.explication,
    }


def enregistrement_journal(identifiant: str, user_id: str | None, entrees: dict, prediction: Prediction,
                           version: str, horodatage: str | None = None) -> dict:
    """La ligne du journal, et la ligne conservée en base (mêmes clés, voir ``app.magasin``)."""
    return {
        "horodatage": horodatage or dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
        "request_id": identifiant,
        "user_id": user_id,
        "configuration": prediction.configuration,
        "entrees": entrees,
        "prediction": prediction.prediction,
        "probabilite_echec": prediction.probabilite_echec,
        "probabilite_reussite": prediction.probabilite_reussite,
        "seuil": prediction.seuil,
        "model_version": version,
    }


@contextlib.contextmanager
def refus_de_conservation(identifiant: str, consequence: str) -> Iterator[None]:
    """Traduit les refus de la conservation en réponses : 409 (request_id déjà conservé), 503 (journal)."""
    try:
        yield
    except DoublonRequete:
        raise ErreurRequete(409, f"request_id déjà enregistré ({identifiant}) : envoyez un X-Request-ID "
                                 "nouveau, ou aucun pour qu'il soit généré",
                            [{"champ": "X-Request-ID", "message": "déjà utilisé par une prédiction conservée"}]) from None
    except ErreurJournal as erreur:
        raise ErreurRequete(503, f"le journal des requêtes ne peut pas être écrit : {consequence} ({erreur.strerror})",
                            entetes={"Retry-After": "30"}) from None


@bp.post("/predire")
def predire():
    debut = time.perf_counter()
    demande = valider_demande(lire_json(request))
    s = services()
    prediction = s.predicteur.predire(demande)  # une DemandePrediction est un Eleve (plus user_id, ignoré)
    duree_ms = (time.perf_counter() - debut) * 1000
    entrees = demande.entrees()
    enregistrement = enregistrement_journal(g.request_id, demande.user_id, entrees, prediction, s.predicteur.version)
    with refus_de_conservation(g.request_id, "la prédiction n'a pas été servie pour ne pas être perdue"):
        s.conservation.conserver([enregistrement])  # ErreurMagasin → 503 (app.erreurs_http)
    corps = {
        "resultats": resultats(entrees, prediction),
        "request_id": g.request_id,
        "user_id": demande.user_id,
        "model_version": s.predicteur.version,
        "inference_time_ms": round(duree_ms, 3),
    }
    if prediction.avertissements:
        corps["avertissements"] = prediction.avertissements
    return jsonify(corps)

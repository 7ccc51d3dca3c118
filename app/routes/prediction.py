"""``POST /predire`` : un élève → prédiction, probabilités et explication."""

from __future__ import annotations

import datetime as dt
import time

from flask import Blueprint, g, jsonify, request
from pydantic import ValidationError

from app.erreurs_http import ErreurRequete
from app.erreurs_validation import detailler
from app.journal_requetes import ErreurJournal
from app.predicteur import Prediction
from app.requetes_json import lire_json
from app.schema import Eleve
from app.services import services

bp = Blueprint("prediction", __name__)


def valider_eleve(document) -> Eleve:
    if not isinstance(document, dict):
        genre = {list: "une liste", str: "une chaîne", type(None): "null"}.get(type(document), "un scalaire")
        raise ErreurRequete(400, f"le corps doit être un objet JSON avec les attributs de l'élève, pas {genre}")
    try:
        return Eleve.model_validate(document)
    except ValidationError as erreur:
        details = detailler(erreur)
        champs = ", ".join(d["champ"] for d in details[:5]) + (" …" if len(details) > 5 else "")
        raise ErreurRequete(400, f"données de l'élève invalides ({len(details)} problème(s) : {champs})", details) from None


def resultats(eleve: Eleve, prediction: Prediction) -> dict:
    return {
        **eleve.model_dump(),
        "prediction": prediction.prediction,
        "libelle": prediction.libelle,
        "probabilite_echec": prediction.probabilite_echec,
        "probabilite_reussite": prediction.probabilite_reussite,
        "confiance_prediction": prediction.confiance_prediction,
        "seuil": prediction.seuil,
        "configuration": prediction.configuration,
        "explication": prediction.explication,
    }


def enregistrement_journal(identifiant: str, eleve: Eleve, prediction: Prediction, version: str) -> dict:
    return {
        "horodatage": dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
        "request_id": identifiant,
        "configuration": prediction.configuration,
        "entrees": eleve.model_dump(),
        "prediction": prediction.prediction,
        "probabilite_echec": prediction.probabilite_echec,
        "probabilite_reussite": prediction.probabilite_reussite,
        "seuil": prediction.seuil,
        "model_version": version,
    }


@bp.post("/predire")
def predire():
    debut = time.perf_counter()
    eleve = valider_eleve(lire_json(request))
    s = services()
    prediction = s.predicteur.predire(eleve)
    duree_ms = (time.perf_counter() - debut) * 1000
    try:
        s.journal.ecrire([enregistrement_journal(g.request_id, eleve, prediction, s.predicteur.version)])
    except ErreurJournal as erreur:
        raise ErreurRequete(503, "le journal des requêtes ne peut pas être écrit : la prédiction n'a pas "
                                 f"été servie pour ne pas être perdue ({erreur.strerror})",
                            entetes={"Retry-After": "30"}) from None
    corps = {
        "resultats": resultats(eleve, prediction),
        "request_id": g.request_id,
        "model_version": s.predicteur.version,
        "inference_time_ms": round(duree_ms, 3),
    }
    if prediction.avertissements:
        corps["avertissements"] = prediction.avertissements
    return jsonify(corps)

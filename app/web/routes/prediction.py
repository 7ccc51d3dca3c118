"""``POST /predire`` : un élève → prédiction, probabilités et explication, conservées en base et au journal.
``POST /pretraitement`` : un élève → la ligne encodée que le modèle évalue, avec le nom de chaque colonne."""

from __future__ import annotations

import time
from collections.abc import Sequence

from flask import Blueprint, g, jsonify, request
from pydantic import ValidationError

from app.modele.erreurs_validation import detailler, resume
from app.modele.predicteur import ColonnesPredictions, Prediction, enregistrement
from app.modele.schema import DemandePrediction
from app.web import metriques
from app.web.erreurs import ErreurRequete
from app.web.identite import exiger, verifier_ecoles
from app.web.requetes_json import demande_directe, est_json, lire_corps, lire_json
from app.web.services import Services, services

bp = Blueprint("prediction", __name__)


def valider_demande(document) -> DemandePrediction:
    if not isinstance(document, dict):
        genre = {list: "une liste", str: "une chaîne", type(None): "null"}.get(type(document), "un scalaire")
        raise ErreurRequete(400, f"le corps doit être un objet JSON avec les attributs de l'élève, pas {genre}")
    try:
        return DemandePrediction.model_validate(document)
    except ValidationError as erreur:
        details = detailler(erreur)
        raise ErreurRequete(400, resume(details, erreur.error_count()), details) from None


def resultat(entrees: dict, prediction: Prediction, request_id: str, user_id: str | None) -> dict:
    """Le résultat d'un élève (schéma ``Resultat``, le même pour /predire et chaque élément d'un lot) : les
    entrées validées (``demande.entrees()``, faite une fois par élève), la prédiction, son request_id, son
    user_id et ses avertissements (liste vide s'il n'y en a pas : la clé est toujours là)."""
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
        "request_id": request_id,
        "user_id": user_id,
        "avertissements": prediction.avertissements or [],
    }


def suites_colonnes(predites: ColonnesPredictions, request_ids: Sequence[str], user_ids: Sequence) -> list[dict]:
    """Ce que ``resultat`` ajoute aux entrées de chaque élève d'un lot en colonnes (``LotPredictions.en_colonnes``) :
    mêmes clés, même ordre, mêmes valeurs ; le résultat d'un élève est ``{**entrees, **suite}``."""
    return [{"prediction": classe, "libelle": libelle, "probabilite_echec": echec, "probabilite_reussite": reussite,
             "confiance_prediction": confiance, "seuil": seuil, "configuration": configuration, "explication": explication,
             "request_id": request_id, "user_id": user_id, "avertissements": avertissements}
            for classe, libelle, echec, reussite, confiance, seuil, configuration, explication, request_id, user_id,
            avertissements in zip(predites.prediction, predites.libelle, predites.probabilite_echec,
                                  predites.probabilite_reussite, predites.confiance_prediction, predites.seuil,
                                  predites.configuration, predites.explication, request_ids, user_ids,
                                  predites.avertissements)]


def enregistrement_journal(identifiant: str, user_id: str | None, entrees: dict, prediction: Prediction,
                           version: str, horodatage: str | None = None) -> dict:
    """La ligne du journal et de la base d'une prédiction servie par HTTP (``app.modele.predicteur.enregistrement``)."""
    return enregistrement(prediction, request_id=identifiant, user_id=user_id, entrees=entrees, version=version,
                          canal="http", horodatage=horodatage)


def lire_demande(requete) -> DemandePrediction:
    """Le corps de ``/predire`` (ou ``/pretraitement``) validé : en une passe s'il est valide
    (``demande_directe``), sinon par la lecture stricte, qui nomme l'erreur en français."""
    if est_json(requete) and not requete.content_encoding:
        demande = demande_directe(lire_corps(requete, "JSON"))
        if demande is not None:
            return demande
    return valider_demande(lire_json(requete))


def servir(demande: DemandePrediction, debut: float, request_id: str, fourni: bool, s: Services) -> tuple[dict, Prediction]:
    """Prédit, explique et conserve (journal avant la réponse) une demande validée ; le corps de la réponse 200 et
    la prédiction. Commun à la vue Flask et au chemin direct (``app.web.chemin_direct``) : ``debut`` est
    l'instant d'arrivée du corps (``inference_time_ms`` compte lecture, validation et prédiction)."""
    prediction = s.predicteur.predire(demande)  # une DemandePrediction est un Eleve (plus user_id, ignoré)
    duree_ms = (time.perf_counter() - debut) * 1000
    entrees = demande.entrees()
    enregistrement = enregistrement_journal(request_id, demande.user_id, entrees, prediction, s.predicteur.version)
    s.conservation.conserver([enregistrement], fourni)  # refus du stockage → 409 / 503 (app.web.erreurs)
    metriques.compter_predictions((prediction.configuration,), (prediction.prediction,))
    corps = {
        "resultats": resultat(entrees, prediction, request_id, demande.user_id),
        "request_id": request_id,
        "model_version": s.predicteur.version,
        "inference_time_ms": round(duree_ms, 3),
    }
    return corps, prediction


@bp.post("/predire")
@exiger("prediction")
def predire():
    """Les demandes valides ne passent d'ordinaire pas par ici mais par ``app.web.chemin_direct`` ; cette vue sert
    les autres (erreurs, corps en morceaux…) et le chemin direct s'y conforme (test/test_chemin_direct.py)."""
    debut = time.perf_counter()
    demande = lire_demande(request)
    verifier_ecoles([demande.entrees()["school"]])  # personne connectée : ses écoles seulement (403 sinon)
    corps, prediction = servir(demande, debut, g.request_id, "request_id_fourni" in g, services())
    g.configuration = prediction.configuration  # pour la ligne de journal de la requête (app.web.observation)
    return jsonify(corps)


@bp.post("/pretraitement")
@exiger("prediction")
def pretraitement():
    """Le même corps que ``/predire`` ; rien n'est prédit ni conservé (``user_id`` est ignoré)."""
    demande = lire_demande(request)
    s = services()
    vecteur = s.predicteur.pretraiter(demande)
    return jsonify({
        "configuration": vecteur.configuration,
        "variables": list(vecteur.noms),
        "valeurs": list(vecteur.valeurs),
        "request_id": g.request_id,
        "model_version": s.predicteur.version,
    })

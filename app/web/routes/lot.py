"""``POST /predire/lot`` : une classe entière (liste JSON ou CSV) → une prédiction par élève, dans l'ordre.

Chaque élève reçoit le request_id ``<X-Request-ID du lot>-<rang>`` (rang à partir de 1) : il se
relit avec ``GET /predictions/<request_id>``. Tout le lot est conservé (base et journal) avant
la réponse, ou rien (voir ``app.stockage.conservation``).
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, g, jsonify, request

from app.json_rapide import liste_fusionnee_en_octets
from app.modele.colonnes import LotColonnes
from app.modele.lots import (
    LONGUEUR_MAX_ID_LOT,
    LOT_MAX,
    LotPartiel,
    ecrire_csv,
    ligne_resultat,
    lire_csv,
    lire_csv_partiel,
    lire_csv_partiel_colonnes,
    lot_json,
    lot_json_partiel,
)
from app.modele.predicteur import enregistrements_lot
from app.modele.schema import CONFIGURATIONS
from app.stockage.enregistrement import horodatage_utc
from app.web import metriques
from app.web.bilan_classe import bilan, bilan_colonnes, lire_rappel
from app.web.erreurs import ErreurRequete
from app.web.identite import exiger, inscrire_acces, verifier_ecoles
from app.web.lots import CORPS_PETIT
from app.web.requetes_json import est_json, lire_corps, lire_json, lot_direct, lot_en_colonnes
from app.web.routes.prediction import enregistrement_journal, resultat, suites_colonnes
from app.web.services import Services, services

bp = Blueprint("lot", __name__)

TYPES_CSV = ("text/csv", "application/csv")


def _lire_lot(partiel: bool = False, csv_seul: bool = False):
    """Mode entier : (demandes validées, colonnes et séparateur si CSV, sinon None).
    Mode partiel : un ``LotPartiel`` (lignes valides, lignes refusées, colonnes hors schéma).
    ``csv_seul`` : ``/predire/lot/csv``, le fichier UCI seulement."""
    if csv_seul and request.mimetype not in TYPES_CSV:
        raise ErreurRequete(415, f"type de contenu non pris en charge ({request.mimetype or 'aucun'}) : "
                                 "Content-Type: text/csv (fichier UCI) ; une liste JSON va à POST /predire/lot")
    if request.mimetype in TYPES_CSV:
        brut = lire_corps(request, "CSV")
        if partiel:
            return lire_csv_partiel(brut)
        demandes, colonnes, separateur = lire_csv(brut)
        return demandes, (colonnes, separateur)
    if not est_json(request):
        raise ErreurRequete(415, f"type de contenu non pris en charge ({request.mimetype or 'aucun'}) : "
                                 "Content-Type: application/json (liste d'élèves) ou text/csv (fichier UCI)")
    if partiel:
        return lot_json_partiel(lire_json(request, LOT_MAX))
    demandes = None if request.content_encoding else lot_direct(lire_corps(request, "JSON"), LOT_MAX)
    return (lot_json(lire_json(request, LOT_MAX)) if demandes is None else demandes), None


def _une_place_pour(servir):
    """Limite de taille et d'identifiant d'un lot, puis ``servir(services, X-Request-ID)`` dans une place."""
    s = services()
    request.max_content_length = s.configuration.taille_max_lot  # avant toute lecture du corps
    identifiant = g.request_id
    if len(identifiant) > LONGUEUR_MAX_ID_LOT:  # avant d'analyser le corps (lu et jeté : erreurs_http)
        raise ErreurRequete(400, f"X-Request-ID trop long pour un lot : {LONGUEUR_MAX_ID_LOT} caractères au plus "
                                 "(le rang de chaque élève y est ajouté)",
                            [{"champ": "X-Request-ID", "message": "trop long"}])
    lire = None
    if request.mimetype in TYPES_CSV or est_json(request):  # sinon 415, sans lire le corps
        nature = "CSV" if request.mimetype in TYPES_CSV else "JSON"
        lire = lambda: lire_corps(request, nature)  # noqa: E731 - gardé en cache (get_data) pour la suite
    petit = request.content_length is not None and request.content_length <= CORPS_PETIT
    with s.places_lots.une_place(lire, petit):
        return servir(s, identifiant)


@bp.post("/predire/lot")
@exiger("prediction")
def predire_lot():
    return _une_place_pour(_servir_lot)


@bp.post("/predire/lot/csv")
@exiger("prediction")
def predire_lot_csv():
    """Le lot en CSV, opération à part dans le contrat : la réponse 200 de chaque opération a un seul schéma
    (``/predire/lot`` accepte encore un CSV, comme avant la version 2 du contrat, sans le documenter)."""
    return _une_place_pour(lambda s, identifiant: _servir_lot(s, identifiant, csv_seul=True))


@bp.post("/predire/lot/partiel")
@exiger("prediction")
def predire_lot_partiel():
    return _une_place_pour(_servir_lot_partiel)


def _predire_et_conserver(s: Services, identifiant: str, demandes, rangs, debut: float):
    """(entrées, prédictions, enregistrements, durée en ms) : le lot prédit puis conservé en entier."""
    entrees = [d.entrees() for d in demandes]
    verifier_ecoles(e["school"] for e in entrees)  # personne connectée : ses écoles seulement (403 sinon)
    lot = s.predicteur.predire_lot(entrees)
    predictions = lot.predictions(entrees)
    duree_ms = (time.perf_counter() - debut) * 1000
    horodatage = horodatage_utc()
    version = s.predicteur.version
    enregistrements = [enregistrement_journal(f"{identifiant}-{rang}", demande.user_id, valeurs, prediction,
                                              version, horodatage)
                       for rang, demande, valeurs, prediction in zip(rangs, demandes, entrees, predictions)]
    if enregistrements:  # mode partiel : aucune ligne valide, rien à conserver
        s.conservation.conserver(enregistrements, "request_id_fourni" in g)  # refus du stockage → 409 / 503 (app.web.erreurs)
        inscrire_acces((e["school"] for e in entrees), len(enregistrements))  # journal des accès : une classe envoyée
        metriques.TAILLES_LOTS.observe(len(predictions))
        metriques.compter_predictions((e["configuration"] for e in enregistrements),
                                      (e["prediction"] for e in enregistrements))
    return entrees, predictions, enregistrements, duree_ms


def _en_colonnes_possible(s: Services) -> bool:
    """Le chemin en colonnes demande toutes les configurations compilées (sinon, le pipeline, élève par élève)."""
    return len(s.predicteur.compilees) == len(CONFIGURATIONS)


def _predire_et_conserver_colonnes(s: Services, identifiant: str, lot: LotColonnes, rangs, debut: float):
    """``_predire_et_conserver`` d'un lot en colonnes (``app.modele.colonnes``) : mêmes étapes, mêmes
    enregistrements, même ordre ; (prédictions en colonnes, request_ids, durée en ms)."""
    ecoles = lot.colonnes["school"]
    verifier_ecoles(ecoles)  # personne connectée : ses écoles seulement (403 sinon)
    predites = s.predicteur.predire_tableaux(lot.nombres, lot.codes).en_colonnes(lot.colonnes)
    duree_ms = (time.perf_counter() - debut) * 1000
    request_ids = [f"{identifiant}-{rang}" for rang in rangs]
    if request_ids:  # mode partiel : aucune ligne valide, rien à conserver
        enregistrements = enregistrements_lot(predites, request_ids=request_ids, user_ids=lot.colonnes["user_id"],
                                              entrees=lot.entrees, version=s.predicteur.version, canal="http",
                                              horodatage=horodatage_utc())
        s.conservation.conserver(enregistrements, "request_id_fourni" in g)  # refus du stockage → 409 / 503
        inscrire_acces(ecoles, len(enregistrements))  # journal des accès : une classe envoyée
        metriques.TAILLES_LOTS.observe(len(enregistrements))
        metriques.compter_predictions(predites.configuration, predites.prediction)
    return predites, request_ids, duree_ms


def _reponse_resultats(entrees, suites, reste: dict) -> Response:
    """``jsonify({"resultats": [{**e, **s} …], **reste})``, les mêmes octets (``liste_fusionnee_en_octets``)."""
    return current_app.response_class(liste_fusionnee_en_octets("resultats", entrees, suites, reste),
                                      mimetype="application/json")


def _servir_colonnes(s: Services, identifiant: str, lot: LotColonnes, debut: float):
    """Un lot JSON valide, en colonnes : la réponse de ``_servir_lot``, octet pour octet."""
    predites, request_ids, duree_ms = _predire_et_conserver_colonnes(s, identifiant, lot, range(1, len(lot) + 1),
                                                                     debut)
    return _reponse_resultats(lot.entrees, suites_colonnes(predites, request_ids, lot.colonnes["user_id"]), {
        "nombre": len(request_ids),
        "request_id": identifiant,
        "model_version": s.predicteur.version,
        "inference_time_ms": round(duree_ms, 3),
    })


def _servir_partiel_colonnes(s: Services, identifiant: str, partiel: LotPartiel, lot: LotColonnes, debut: float,
                             rappel: float):
    """Une classe CSV en colonnes : la réponse de ``_servir_lot_partiel``, octet pour octet."""
    predites, request_ids, duree_ms = _predire_et_conserver_colonnes(s, identifiant, lot, partiel.rangs, debut)
    suites = suites_colonnes(predites, request_ids, lot.colonnes["user_id"])
    for suite, position, extra in zip(suites, partiel.positions, partiel.supplementaires):
        suite["position"], suite["supplementaires"] = position, extra
    return _reponse_resultats(lot.entrees, suites, {
        "rejets": partiel.rejets,
        "nombre": len(request_ids),
        "recus": partiel.recus,
        "colonnes_supplementaires": partiel.colonnes_supplementaires,
        "request_id": identifiant,
        "model_version": s.predicteur.version,
        "inference_time_ms": round(duree_ms, 3),
        **bilan_colonnes(s, partiel, lot.entrees, lot.colonnes, predites.configuration, predites.prediction,
                         predites.probabilite_echec, rappel),
    })


def _resultat_lot(demande, valeurs, prediction, enregistrement) -> dict:
    return resultat(valeurs, prediction, enregistrement["request_id"], demande.user_id)


def _servir_lot_partiel(s: Services, identifiant: str):
    debut = time.perf_counter()
    rappel = lire_rappel(request.args)
    if request.mimetype in TYPES_CSV and _en_colonnes_possible(s):  # la page /classe : un fichier CSV
        en_colonnes = lire_csv_partiel_colonnes(lire_corps(request, "CSV"))
        if en_colonnes is not None:
            return _servir_partiel_colonnes(s, identifiant, *en_colonnes, debut, rappel)
    lot = _lire_lot(partiel=True)
    entrees, predictions, enregistrements, duree_ms = _predire_et_conserver(s, identifiant, lot.demandes, lot.rangs,
                                                                           debut)
    return jsonify({
        "resultats": [{**_resultat_lot(demande, valeurs, p, e), "position": position, "supplementaires": extra}
                      for demande, valeurs, p, e, position, extra
                      in zip(lot.demandes, entrees, predictions, enregistrements, lot.positions, lot.supplementaires)],
        "rejets": lot.rejets,
        "nombre": len(predictions),
        "recus": lot.recus,
        "colonnes_supplementaires": lot.colonnes_supplementaires,
        "request_id": identifiant,
        "model_version": s.predicteur.version,
        "inference_time_ms": round(duree_ms, 3),
        **bilan(s, lot, entrees, predictions, rappel),  # page /classe : lecture du fichier, dérive, classe de l'an passé
    })


def _servir_lot(s: Services, identifiant: str, csv_seul: bool = False):
    debut = time.perf_counter()
    if not csv_seul and request.mimetype not in TYPES_CSV and est_json(request) and not request.content_encoding \
            and _en_colonnes_possible(s):
        lot = lot_en_colonnes(lire_corps(request, "JSON"), LOT_MAX)
        if lot is not None:
            return _servir_colonnes(s, identifiant, lot, debut)
    demandes, csv_recu = _lire_lot(csv_seul=csv_seul)
    entrees, predictions, enregistrements, duree_ms = _predire_et_conserver(
        s, identifiant, demandes, range(1, len(demandes) + 1), debut)
    version = s.predicteur.version
    if csv_recu is not None:
        colonnes, separateur = csv_recu
        lignes = [ligne_resultat(colonnes, valeurs, demande.user_id, p, e["request_id"])
                  for demande, valeurs, p, e in zip(demandes, entrees, predictions, enregistrements)]
        reponse = Response(ecrire_csv(colonnes, separateur, lignes), mimetype="text/csv")
        reponse.headers["X-Model-Version"] = version
        return reponse
    corps = {
        "resultats": [_resultat_lot(demande, valeurs, p, e)
                      for demande, valeurs, p, e in zip(demandes, entrees, predictions, enregistrements)],
        "nombre": len(predictions),
        "request_id": identifiant,
        "model_version": version,
        "inference_time_ms": round(duree_ms, 3),
    }
    return jsonify(corps)

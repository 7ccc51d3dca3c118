"""Le document OpenAPI 3.1, généré depuis le schéma pydantic (aucune liste de champs ici)."""

from __future__ import annotations

from functools import lru_cache

from pydantic.json_schema import models_json_schema

from app import __version__
from app.contrat import MODELES
from app.identifiants import FORME_IDENTIFIANT, REGLE_IDENTIFIANT

_REF = "#/components/schemas/{model}"


def _json(schema_ref: str | None = None, schema: dict | None = None) -> dict:
    return {"application/json": {"schema": schema or {"$ref": f"#/components/schemas/{schema_ref}"}}}


def _erreurs(*statuts: int) -> dict:
    textes = {400: "Requête invalide (détail par champ)", 401: "Jeton absent ou invalide (en-tête WWW-Authenticate)",
              403: "Routes désactivées : API_TOKEN n'est pas configuré sur le serveur", 404: "Introuvable",
              405: "Méthode non permise", 409: "request_id (X-Request-ID) déjà enregistré",
              413: "Corps trop volumineux", 415: "Type de contenu non JSON",
              503: "Indisponible (base des résultats ou journal) ; en-tête Retry-After"}
    return {str(s): {"description": textes[s], "content": _json("Erreur")} for s in statuts}


def _objet() -> dict:
    return {"type": "object"}


def _identifiant(nom: str, description: str) -> dict:
    return {"name": nom, "in": "path", "required": True, "description": f"{description} : {REGLE_IDENTIFIANT}",
            "schema": {"type": "string", "pattern": FORME_IDENTIFIANT.pattern}}


def _historique() -> dict:
    """Les trois routes protégées par le jeton : relire une prédiction, un historique, l'effacer."""
    securite = [{"jetonApi": []}]
    eleve = _identifiant("user_id", "Identifiant pseudonyme de l'élève")
    pagination = [
        {"name": "limite", "in": "query", "required": False, "description": "Taille de la page (1 à 100)",
         "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
        {"name": "decalage", "in": "query", "required": False, "description": "Prédictions à sauter",
         "schema": {"type": "integer", "minimum": 0, "default": 0}},
    ]
    return {
        "/predictions/{request_id}": {"get": {
            "summary": "Une prédiction conservée", "security": securite,
            "parameters": [_identifiant("request_id", "Le request_id renvoyé par /predire")],
            "responses": {"200": {"description": "La prédiction", "content": _json("PredictionConservee")},
                          **_erreurs(400, 401, 403, 404, 503)},
        }},
        "/predictions/user/{user_id}": {
            "get": {
                "summary": "Historique d'un élève, les plus récentes d'abord", "security": securite,
                "parameters": [eleve, *pagination],
                "responses": {"200": {"description": "Une page d'historique", "content": _json("Historique")},
                              **_erreurs(400, 401, 403, 503)},
            },
            "delete": {
                "summary": "Droit à l'effacement : supprime ses prédictions de la base et du journal",
                "security": securite, "parameters": [eleve],
                "responses": {"200": {"description": "Nombre de prédictions effacées", "content": _json("Effacement")},
                              **_erreurs(400, 401, 403, 503)},
            },
        },
    }


@lru_cache(maxsize=1)
def document() -> dict:
    _, definitions = models_json_schema([(m, "validation") for m in MODELES], ref_template=_REF)
    exemple = {
        "school": "GP", "sex": "F", "age": 16, "address": "U", "famsize": "GT3", "Pstatus": "T",
        "Medu": 3, "Fedu": 2, "Mjob": "services", "Fjob": "other", "reason": "course", "guardian": "mother",
        "traveltime": 1, "studytime": 2, "failures": 0, "schoolsup": "no", "famsup": "yes", "paid": "no",
        "activities": "yes", "nursery": "yes", "higher": "yes", "internet": "yes", "romantic": "no",
        "famrel": 4, "freetime": 3, "goout": 3, "Dalc": 1, "Walc": 2, "health": 4, "absences": 2,
        "G1": 11, "G2": 12,
    }
    en_tete_id = {"name": "X-Request-ID", "in": "header", "required": False,
                  "description": "Identifiant de la requête, renvoyé dans la réponse ; généré s'il manque",
                  "schema": {"type": "string", "pattern": FORME_IDENTIFIANT.pattern}}
    simple = {"200": {"description": "OK", "content": _json(schema=_objet())}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "prediction-etudiante",
            "version": __version__,
            "description": "Prédit si un élève risque l'échec (G3 < 10) à partir de ses 32 attributs "
                           "(données UCI Student Performance). Toutes les erreurs sont du JSON "
                           "{\"erreur\", \"details\"} en français.",
        },
        "paths": {
            "/": {"get": {"summary": "Accueil : message, version, routes", "responses": simple}},
            "/health": {"get": {"summary": "Le processus répond", "responses": simple}},
            "/ready": {"get": {"summary": "Modèle chargé, journal inscriptible, base joignable", "responses": {
                "200": {"description": "Prêt", "content": _json(schema=_objet())},
                "503": {"description": "Pas prêt", "content": _json(schema=_objet())}}}},
            "/modele": {"get": {"summary": "Fiche du modèle servi", "responses": simple}},
            "/openapi.json": {"get": {"summary": "Ce document", "responses": simple}},
            "/docs": {"get": {"summary": "Documentation lisible", "responses": {
                "200": {"description": "Page HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
            "/predire": {"post": {
                "summary": "Prédiction pour un élève",
                "description": "G1 et G2 facultatifs : sans G2 la configuration B est utilisée, sans "
                               "aucune note la configuration C (alerte précoce). Les entiers peuvent "
                               "être envoyés en texte (\"11\"), comme dans le fichier UCI. Chaque "
                               "prédiction servie est conservée (base et journal) avant la réponse ; "
                               "user_id (facultatif) est l'identifiant pseudonyme de l'élève concerné.",
                "parameters": [en_tete_id],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/DemandePrediction"}, "example": exemple}}},
                "responses": {
                    "200": {"description": "Prédiction", "content": _json("ReponsePrediction"),
                            "headers": {"X-Request-ID": {"schema": {"type": "string"}}}},
                    **_erreurs(400, 409, 413, 415, 503),
                },
            }},
            **_historique(),
        },
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {"jetonApi": {"type": "http", "scheme": "bearer",
                                             "description": "Authorization: Bearer <API_TOKEN>"}},
        },
    }


def exemple_eleve() -> dict:
    return document()["paths"]["/predire"]["post"]["requestBody"]["content"]["application/json"]["example"]

"""Le document OpenAPI 3.1, généré depuis le schéma pydantic (aucune liste de champs ici)."""

from __future__ import annotations

from functools import lru_cache

from pydantic.json_schema import models_json_schema

from app.config import VERSION
from app.modele.identifiants import FORME_IDENTIFIANT, REGLE_IDENTIFIANT
from app.web.contrat import MODELES
from app.web.erreurs import STATUTS

_REF = "#/components/schemas/{model}"


def _json(schema_ref: str | None = None, schema: dict | None = None) -> dict:
    return {"application/json": {"schema": schema or {"$ref": _REF.format(model=schema_ref)}}}


def _erreurs(*statuts: int) -> dict:
    return {str(s): {"description": STATUTS[s][1], "content": _json("Erreur")} for s in statuts}


def _objet() -> dict:
    return {"type": "object"}


def _identifiant(nom: str, description: str) -> dict:
    return {"name": nom, "in": "path", "required": True, "description": f"{description} : {REGLE_IDENTIFIANT}",
            "schema": {"type": "string", "pattern": FORME_IDENTIFIANT.pattern}}


def _historique() -> dict:
    """Les trois routes protégées par le jeton : relire une prédiction, un historique, l'effacer."""
    from app.web.contrat import DECALAGE_MAX, LIMITE_DEFAUT, LIMITE_MAX

    securite = [{"jetonApi": []}]
    eleve = _identifiant("user_id", "Identifiant pseudonyme de l'élève")
    pagination = [
        {"name": "limite", "in": "query", "required": False, "description": f"Taille de la page (1 à {LIMITE_MAX})",
         "schema": {"type": "integer", "minimum": 1, "maximum": LIMITE_MAX, "default": LIMITE_DEFAUT}},
        {"name": "decalage", "in": "query", "required": False, "description": "Prédictions à sauter",
         "schema": {"type": "integer", "minimum": 0, "maximum": DECALAGE_MAX, "default": 0}},
    ]
    dans_l_url = (" Le user_id figure dans l'URL : il est écrit dans les journaux d'accès (gunicorn avec "
                  "GUNICORN_ACCESSLOG=1, Cloud Run toujours), que l'effacement n'atteint pas ; préférez {}.")
    corps = lambda modele: {"required": True, "content": _json(modele)}  # noqa: E731
    return {
        "/historique": {"post": {
            "operationId": "lireHistorique", "tags": ["historique"],
            "summary": "Historique d'un élève, user_id dans le corps (hors de l'URL et des journaux d'accès)",
            "description": "Comme GET /predictions/user/{user_id}, sans que l'identifiant apparaisse dans l'URL. "
                           "pagination.suivant est toujours null : la page suivante se demande avec "
                           "decalage = pagination.decalage_suivant.",
            "security": securite, "requestBody": corps("DemandeHistorique"),
            "responses": {"200": {"description": "Une page d'historique", "content": _json("Historique")},
                          **_erreurs(400, 401, 403, 413, 415, 503)},
        }},
        "/effacement": {"post": {
            "operationId": "effacerEleve", "tags": ["historique"],
            "summary": "Droit à l'effacement, user_id dans le corps : supprime ses prédictions de la base et "
                       "du journal",
            "security": securite, "requestBody": corps("DemandeEffacement"),
            "responses": {"200": {"description": "Nombre de prédictions effacées", "content": _json("Effacement")},
                          **_erreurs(400, 401, 403, 413, 415, 503)},
        }},
        "/predictions/{request_id}": {"get": {
            "summary": "Une prédiction conservée", "security": securite,
            "parameters": [_identifiant("request_id", "Le request_id renvoyé par /predire")],
            "responses": {"200": {"description": "La prédiction", "content": _json("PredictionConservee")},
                          **_erreurs(400, 401, 403, 404, 503)},
        }},
        "/predictions/user/{user_id}": {
            "get": {
                "summary": "Historique d'un élève, les plus récentes d'abord", "security": securite,
                "description": dans_l_url.format("POST /historique"),
                "parameters": [eleve, *pagination],
                "responses": {"200": {"description": "Une page d'historique", "content": _json("Historique")},
                              **_erreurs(400, 401, 403, 503)},
            },
            "delete": {
                "summary": "Droit à l'effacement : supprime ses prédictions de la base et du journal",
                "description": dans_l_url.format("POST /effacement"),
                "security": securite, "parameters": [eleve],
                "responses": {"200": {"description": "Nombre de prédictions effacées", "content": _json("Effacement")},
                              **_erreurs(400, 401, 403, 503)},
            },
        },
    }


def _exploitation() -> dict:
    """Ce qui sert à l'exploitation : l'export du journal de toutes les instances, les métriques."""
    instant = {"type": "string", "format": "date-time"}
    return {
        "/predictions/export": {"get": {
            "summary": "Export JSONL de toutes les prédictions de la base partagée (toutes instances)",
            "description": "Une ligne par prédiction, au format du journal des requêtes, dans l'ordre de "
                           "conservation ; depuis (inclus) et jusqua (exclu) en ISO 8601, UTC sans fuseau.",
            "security": [{"jetonApi": []}],
            "parameters": [{"name": nom, "in": "query", "required": False, "description": description,
                            "schema": instant} for nom, description in
                           (("depuis", "Instant de début (inclus)"), ("jusqua", "Instant de fin (exclu)"))],
            "responses": {"200": {"description": "Lignes JSON (JSONL)", "content": {
                "application/x-ndjson": {"schema": {"type": "string"}}}}, **_erreurs(400, 401, 403, 503)},
        }},
        "/metrics": {"get": {
            "summary": "Métriques Prometheus de tous les workers",
            "description": "Format texte de Prometheus. Jeton METRIQUES_TOKEN exigé s'il est configuré.",
            "responses": {"200": {"description": "Métriques", "content": {"text/plain": {"schema": {"type": "string"}}}},
                          **_erreurs(401)},
        }},
    }


def _lot(en_tete_id: dict, exemple: dict) -> dict:
    """``POST /predire/lot`` : liste JSON d'élèves ou CSV au format UCI."""
    from app.modele.schema import CATEGORIES, CHAMPS, bornes
    from app.web.lots import COLONNES_AJOUTEES, LONGUEUR_MAX_ID_LOT, LOT_MAX

    sans_notes = {k: v for k, v in exemple.items() if k not in ("G1", "G2")}
    # Forme exacte d'un CSV accepté (séparateur « ; », toutes les colonnes, dans l'ordre UCI),
    # dérivée du schéma : un générateur de requêtes (schemathesis) n'envoie que des CSV valides.
    cellules = [("|".join(CATEGORIES[c]) if c in CATEGORIES else "|".join(map(str, range(bornes(c)[0], bornes(c)[1] + 1))))
                for c in CHAMPS]
    ligne = ";".join(f"({c})" for c in cellules)
    forme_csv = f"^{';'.join(CHAMPS)}\\n({ligne}\\n){{1,20}}$"
    identifiant_lot = {**en_tete_id, "schema": {**en_tete_id["schema"], "maxLength": LONGUEUR_MAX_ID_LOT},
                       "description": en_tete_id["description"] + " ; le rang de chaque élève y est ajouté "
                                                                  "(<X-Request-ID>-<rang>)"}
    entete = ";".join(exemple)
    csv_exemple = entete + "\n" + ";".join(str(v) for v in exemple.values()) + "\n"
    return {"post": {
        "summary": f"Prédictions pour une classe : liste JSON ou CSV ({LOT_MAX} élèves au plus)",
        "description": "Corps : une liste JSON d'élèves (chacun comme pour /predire, user_id compris) ou un "
                       "fichier CSV au format UCI (Content-Type: text/csv ; séparateur « ; » ou « , » ; G1 et "
                       "G2 facultatifs, cellule vide = note absente ; colonne user_id facultative ; pas de G3). "
                       "Réponse dans l'ordre reçu : JSON pour du JSON, CSV pour du CSV (colonnes reçues puis "
                       f"{', '.join(COLONNES_AJOUTEES)}). Lot entier ou refusé : une seule ligne invalide et rien "
                       "n'est prédit ni conservé ; la réponse 400 détaille toutes les lignes fautives (numéro "
                       "de ligne du CSV, en-tête = ligne 1 ; position dans la liste JSON, à partir de 0). "
                       "Chaque élève reçoit le request_id <X-Request-ID>-<rang> et est conservé (base et "
                       "journal) avant la réponse. Taille maximale du corps : TAILLE_MAX_LOT.",
        "parameters": [identifiant_lot],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"type": "array", "minItems": 1, "maxItems": LOT_MAX,
                                            "items": {"$ref": _REF.format(model="DemandePrediction")}},
                                 "example": [exemple, sans_notes]},
            "text/csv": {"schema": {"type": "string", "pattern": forme_csv,
                                    "description": "Fichier UCI sans G3 ; aussi accepté : séparateur « , », G1/G2 "
                                                   f"absents ou vides, colonne user_id, lignes jusqu'à {LOT_MAX}"},
                         "example": csv_exemple}}},
        "responses": {
            "200": {"description": "Une prédiction par élève, dans l'ordre", "content": {
                **_json("ReponseLot"),
                "text/csv": {"schema": {"type": "string", "description": "Le CSV reçu et les colonnes ajoutées"}}}},
            **_erreurs(400, 409, 413, 415),
            "503": {**_erreurs(503)["503"], "description": "Indisponible (base des résultats ou journal), ou "
                                                            "trop de lots en cours (LOTS_SIMULTANES) ; en-tête "
                                                            "Retry-After"},
        },
    }}


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
            "version": VERSION,
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
                    "schema": {"$ref": _REF.format(model="DemandePrediction")}, "example": exemple}}},
                "responses": {
                    "200": {"description": "Prédiction", "content": _json("ReponsePrediction"),
                            "headers": {"X-Request-ID": {"schema": {"type": "string"}}}},
                    **_erreurs(400, 409, 413, 415, 503),
                },
            }},
            "/predire/lot": _lot(en_tete_id, exemple),
            **_historique(),
            **_exploitation(),
        },
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {"jetonApi": {"type": "http", "scheme": "bearer",
                                             "description": "Authorization: Bearer <API_TOKEN>"}},
        },
    }


def exemple_eleve() -> dict:
    return document()["paths"]["/predire"]["post"]["requestBody"]["content"]["application/json"]["example"]

"""Le document OpenAPI 3.1, généré depuis le schéma pydantic (aucune liste de champs ici)."""

from __future__ import annotations

from functools import lru_cache

from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from app.config import VERSION
from app.modele.identifiants import FORME_IDENTIFIANT, REGLE_IDENTIFIANT
from app.web.contrat import DEMANDES, MODELES
from app.web.erreurs import STATUTS

_REF = "#/components/schemas/{model}"


ETIQUETTES = [
    {"name": "prediction", "description": "Prédire la réussite d'un élève ou d'une classe"},
    {"name": "historique", "description": "Relire ou effacer les prédictions conservées (jeton API_TOKEN)"},
    {"name": "service", "description": "Accueil, santé, disponibilité et fiche du modèle"},
    {"name": "surveillance", "description": "Dérive des élèves reçus par rapport à l'entraînement (jeton API_TOKEN)"},
    {"name": "pages", "description": "Pages HTML pour les équipes éducatives"},
    {"name": "pretraitement", "description": "Ce que le modèle voit d'un élève (encodage du pipeline)"},
    {"name": "documentation", "description": "Ce document et sa version lisible"},
]
"""Étiquettes des opérations : un client généré range ses fonctions par étiquette (api/prediction/…)."""


def _json(modele: str, exemple=None) -> dict:
    """Un contenu JSON dont le schéma est un modèle nommé de ``app.web.contrat`` (jamais un objet anonyme)."""
    contenu = {"schema": {"$ref": _REF.format(model=modele)}}
    if exemple is not None:
        contenu["example"] = exemple
    return {"application/json": contenu}


class SchemaSansDefaut(GenerateJsonSchema):
    """Aucun ``default`` dans le document : un générateur de clients en fait une clé toujours présente
    (openapi-typescript) ou obligatoire à écrire. Une réponse dit « requis » ce que le serveur envoie
    toujours ; une demande dit facultatif ce que le serveur complète, et sa description donne la valeur."""

    def default_schema(self, schema):
        json_schema = super().default_schema(schema)
        json_schema.pop("default", None)
        return json_schema


def exemple_refus(essai) -> dict:
    """Le corps d'erreur que produit vraiment ``essai()`` (une ``ErreurRequete`` levée par le code des routes, ou
    une ``ErreurLot`` de la lecture des lots) : les exemples 400 du document sont des réponses réelles, pas
    recopiées à la main."""
    from app.modele.lots import ErreurLot
    from app.web.erreurs import ErreurRequete

    try:
        essai()
    except (ErreurRequete, ErreurLot) as erreur:
        return {"erreur": erreur.message, "details": erreur.details}
    raise AssertionError("l'exemple d'erreur n'a pas été refusé")


EXEMPLES_ERREURS = {
    409: {"erreur": STATUTS[409][0], "details": [{"champ": "X-Request-ID",
                                                   "message": "déjà utilisé par une prédiction conservée"}]},
}


def _erreurs(*statuts: int, exemples: dict | None = None) -> dict:
    """Les réponses d'erreur d'une opération ; ``exemples`` : statut → corps réel (``exemple_refus``)."""
    exemples = {**EXEMPLES_ERREURS, **(exemples or {})}
    return {str(s): {"description": STATUTS[s][1],
                     "content": _json("Erreur", exemple=exemples.get(s, {"erreur": STATUTS[s][0], "details": []}))}
            for s in statuts}


def _operation(identifiant: str, etiquette: str, resume: str, reponses: dict, **autres) -> dict:
    """Une opération : ``operationId`` stable (nom des fonctions d'un client généré) et une étiquette."""
    return {"operationId": identifiant, "tags": [etiquette], "summary": resume, **autres, "responses": reponses}


def _lien(operation: str, description: str, corps: dict | None = None, **parametres: str) -> dict:
    """Un lien OpenAPI : la réponse donne les paramètres (ou le corps) d'une autre opération (tests à états,
    clients)."""
    lien = {"operationId": operation, "description": description}
    if parametres:
        lien["parameters"] = parametres
    if corps is not None:
        lien["requestBody"] = corps
    return lien


ENTETES_DEPRECIATION = {
    "Deprecation": {"description": "Route dépréciée depuis cette date (RFC 9745)", "schema": {"type": "string"},
                    "example": "@1796601600"},
    "Sunset": {"description": "Date après laquelle la route peut disparaître (RFC 8594)",
               "schema": {"type": "string"}, "example": "Wed, 30 Jun 2027 00:00:00 GMT"},
    "Link": {"description": "La route qui la remplace (rel=\"successor-version\")", "schema": {"type": "string"},
             "example": '</historique>; rel="successor-version"'},
}


def _identifiant(nom: str, description: str, exemple: str) -> dict:
    return {"name": nom, "in": "path", "required": True, "description": f"{description} : {REGLE_IDENTIFIANT}",
            "schema": {"type": "string", "pattern": FORME_IDENTIFIANT.pattern}, "example": exemple}


def _historique(prediction: dict) -> dict:
    """Les trois routes protégées par le jeton : relire une prédiction, un historique, l'effacer."""
    from app.web.contrat import DECALAGE_MAX, LIMITE_DEFAUT, LIMITE_MAX, DemandeEffacement, DemandeHistorique
    from app.web.routes.historique import valider_corps, valider_identifiant

    securite = [{"jetonApi": []}]
    eleve = _identifiant("user_id", "Identifiant pseudonyme de l'élève", "eleve-0042")
    pagination = [
        {"name": "limite", "in": "query", "required": False,
         "description": f"Taille de la page (1 à {LIMITE_MAX} ; {LIMITE_DEFAUT} si absent)",
         "schema": {"type": "integer", "minimum": 1, "maximum": LIMITE_MAX}, "example": LIMITE_DEFAUT},
        {"name": "decalage", "in": "query", "required": False, "description": "Prédictions à sauter (0 si absent)",
         "schema": {"type": "integer", "minimum": 0, "maximum": DECALAGE_MAX}, "example": 0},
    ]
    historique = {"user_id": "eleve-0042", "predictions": [prediction],
                  "pagination": {"limite": 20, "decalage": 0, "total": 1, "suivant": None, "decalage_suivant": None}}
    effacement = {"user_id": "eleve-0042", "supprimees": 1, "lignes_journal_supprimees": 1, "avertissements": []}
    refus_historique = exemple_refus(lambda: valider_corps(DemandeHistorique, {"user_id": "élève 42", "limite": 500}))
    refus_effacement = exemple_refus(lambda: valider_corps(DemandeEffacement, {"user_id": "élève 42"}))
    refus_chemin = exemple_refus(lambda: valider_identifiant("user_id", "élève 42"))
    refus_request_id = exemple_refus(lambda: valider_identifiant("request_id", "essai 1"))
    vers_historique = _lien("rechercherHistorique", "L'historique de cet élève",
                            corps={"user_id": "$response.body#/user_id"})
    vers_effacement = _lien("effacerEleve", "Effacer les prédictions de cet élève",
                            corps={"user_id": "$response.body#/user_id"})
    dans_l_url = ("Dépréciée depuis la version 2 du contrat (en-têtes Deprecation et Sunset) : utilisez {}. "
                  "Le user_id figure dans l'URL : il est écrit dans les journaux d'accès (gunicorn avec "
                  "GUNICORN_ACCESSLOG=1, Cloud Run toujours), que l'effacement n'atteint pas.")

    def corps(modele: str, exemple: dict) -> dict:
        return {"required": True, "content": _json(modele, exemple=exemple)}

    return {
        "/historique": {"post": _operation(
            "rechercherHistorique", "historique",
            "Historique d'un élève, user_id dans le corps (hors de l'URL et des journaux d'accès)",
            description="Comme GET /predictions/user/{user_id}, sans que l'identifiant apparaisse dans l'URL. "
                        "pagination.suivant est toujours null : la page suivante se demande avec "
                        "decalage = pagination.decalage_suivant.",
            security=securite, requestBody=corps("DemandeHistorique", {"user_id": "eleve-0042", "limite": 20,
                                                                     "decalage": 0}),
            reponses={"200": {"description": "Une page d'historique", "content": _json("Historique", exemple=historique),
                              "links": {"effacement": vers_effacement}},
                      **_erreurs(400, 401, 403, 413, 415, 429, 503, exemples={400: refus_historique})},
        )},
        "/effacement": {"post": _operation(
            "effacerEleve", "historique",
            "Droit à l'effacement, user_id dans le corps : supprime ses prédictions de la base et du journal",
            security=securite, requestBody=corps("DemandeEffacement", {"user_id": "eleve-0042"}),
            reponses={"200": {"description": "Nombre de prédictions effacées",
                              "content": _json("Effacement", exemple=effacement)},
                      **_erreurs(400, 401, 403, 413, 415, 429, 503, exemples={400: refus_effacement})},
        )},
        "/predictions/{request_id}": {"get": _operation(
            "lirePrediction", "historique", "Une prédiction conservée", security=securite,
            parameters=[_identifiant("request_id", "Le request_id renvoyé par /predire", "essai-0001")],
            reponses={"200": {"description": "La prédiction", "content": _json("PredictionConservee", exemple=prediction),
                              "links": {"historique": vers_historique}},
                      **_erreurs(400, 401, 403, 404, 429, 503, exemples={400: refus_request_id})},
        )},
        "/predictions/user/{user_id}": {
            "get": _operation(
                "lireHistorique", "historique", "Dépréciée : historique d'un élève (POST /historique)",
                security=securite, deprecated=True,
                description=dans_l_url.format("POST /historique"), parameters=[eleve, *pagination],
                reponses={"200": {"description": "Une page d'historique", "headers": ENTETES_DEPRECIATION,
                                  "content": _json("Historique", exemple={**historique, "pagination": {
                                      **historique["pagination"], "total": 3, "decalage_suivant": 1,
                                      "suivant": "/predictions/user/eleve-0042?limite=1&decalage=1"}}),
                                  "links": {"effacement": vers_effacement}},
                          **_erreurs(400, 401, 403, 429, 503, exemples={400: refus_chemin})},
            ),
            "delete": _operation(
                "effacerHistorique", "historique", "Dépréciée : droit à l'effacement (POST /effacement)",
                description=dans_l_url.format("POST /effacement"), security=securite, parameters=[eleve],
                deprecated=True,
                reponses={"200": {"description": "Nombre de prédictions effacées", "headers": {
                                      **ENTETES_DEPRECIATION, "Link": {**ENTETES_DEPRECIATION["Link"],
                                                                       "example": '</effacement>; rel="successor-version"'}},
                                  "content": _json("Effacement", exemple=effacement)},
                          **_erreurs(400, 401, 403, 429, 503, exemples={400: refus_chemin})},
            ),
        },
    }


def _exploitation(prediction: dict) -> dict:
    """Ce qui sert à l'exploitation : l'export du journal de toutes les instances, les métriques."""
    from app.stockage.journal import ligne_json

    instant = {"type": "string", "format": "date-time"}
    return {
        "/predictions/export": {"get": _operation(
            "exporterPredictions", "historique",
            "Export JSONL de toutes les prédictions de la base partagée (toutes instances)",
            description="Une ligne par prédiction, au format du journal des requêtes, dans l'ordre de "
                        "conservation ; depuis (inclus) et jusqua (exclu) en ISO 8601, UTC sans fuseau.",
            security=[{"jetonApi": []}],
            parameters=[{"name": nom, "in": "query", "required": False, "description": description,
                         "schema": instant, "example": exemple} for nom, description, exemple in
                        (("depuis", "Instant de début (inclus)", "2026-12-01T00:00:00Z"),
                         ("jusqua", "Instant de fin (exclu)", "2026-12-02T00:00:00Z"))],
            reponses={"200": {"description": "Lignes JSON (JSONL), envoyées au fil de la lecture", "content": {
                "application/x-ndjson": {"schema": {"type": "string"}, "example": ligne_json(prediction).decode("utf-8")},
                # Pour les générateurs de clients qui ne connaissent pas x-ndjson : un fichier (octets).
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"},
                                             "example": ligne_json(prediction).decode("utf-8")}}},
                **_erreurs(400, 401, 403, 429, 503)},
        )},
        "/metrics": {"get": _operation(
            "lireMetriques", "service", "Métriques Prometheus de tous les workers",
            description="Format texte de Prometheus. Jeton METRIQUES_TOKEN exigé s'il est configuré.",
            reponses={"200": {"description": "Métriques", "content": {"text/plain": {
                "schema": {"type": "string"},
                "example": 'prediction_etudiante_requetes_total{methode="POST",route="/predire",statut="200"} 42.0\n'}}},
                **_erreurs(401, 429)},
        )},
    }


def _page(description: str, statut: int | None = None) -> dict:
    """Une page HTML ; pour une erreur (``statut``), la page d'un navigateur ou l'erreur JSON d'un client de l'API."""
    contenu = {"text/html": {"schema": {"type": "string"}, "example": "<!doctype html><html lang=\"fr\">…</html>"}}
    if statut is not None:
        contenu.update(_erreurs(statut)[str(statut)]["content"])
    return {"description": description, "content": contenu}


def _identite() -> dict:
    """Connexion OpenID Connect, déconnexion, journal des accès (docs/securite-identite.md)."""
    instant = {"type": "string", "format": "date-time"}
    redirection = {"description": "Redirection", "headers": {"Location": {"schema": {"type": "string"}}}}
    ligne = {"horodatage": "2026-12-07T08:00:00.000000+00:00", "qui": "conseil.gp@lycee.example",
             "route": "POST /historique", "ecole": "GP", "eleves": 1, "empreinte": "9f2c…"}
    return {
        "/connexion": {"get": _operation(
            "seConnecter", "pages", "Connexion (mode OIDC) : redirection vers le fournisseur d'identité", {
                "302": redirection, "404": _page("Mode local : aucune connexion", 404),
                "503": _page("Fournisseur d'identité injoignable", 503)})},
        "/connexion/retour": {"get": _operation(
            "retourConnexion", "pages", "Retour du fournisseur d'identité (code d'autorisation, PKCE)", {
                "302": redirection, "401": _page("Connexion refusée : état différent, échange refusé ou jeton "
                                                 "d'identité invalide", 401),
                "404": _page("Mode local : aucune connexion", 404)})},
        "/deconnexion": {"post": _operation(
            "seDeconnecter", "pages", "Déconnexion : la session est fermée", {
                "200": _page("Déconnecté"), **_erreurs(403)})},
        "/acces": {"get": _operation(
            "lireAcces", "historique", "Journal des accès aux données personnelles (dpo)",
            description="Qui a lu ou effacé quoi : historique, prédiction relue, export, effacement, classe "
                        "envoyée. Jamais d'attribut ni d'identifiant d'élève en clair.",
            security=[{"jetonApi": []}],
            parameters=[{"name": "qui", "in": "query", "required": False, "description": "Une personne",
                         "schema": {"type": "string"}, "example": "conseil.gp@lycee.example"},
                        *({"name": nom, "in": "query", "required": False, "description": description,
                           "schema": instant, "example": exemple} for nom, description, exemple in
                          (("depuis", "Instant de début (inclus)", "2026-12-01T00:00:00Z"),
                           ("jusqua", "Instant de fin (exclu)", "2026-12-02T00:00:00Z"))),
                        {"name": "format", "in": "query", "required": False, "description": "json (par défaut) ou csv",
                         "schema": {"type": "string", "pattern": "^(json|csv)$"}, "example": "json"}],
            reponses={"200": {"description": "Le journal des accès", "content": {
                **_json("JournalAcces", exemple={"acces": [ligne], "nombre": 1, "retention_jours": 365}),
                "text/csv": {"schema": {"type": "string"},
                             "example": "horodatage,qui,route,ecole,eleves,empreinte\n"}}},
                      **_erreurs(400, 401, 403, 503)},
        )},
    }


def _derive() -> dict:
    """``GET /derive`` : dérive des dernières prédictions par rapport aux données d'entraînement."""
    from app.modele.derive import SEUIL_FORT, SEUIL_MODERE
    from app.web.routes.derive import DERNIERS_DEFAUT, DERNIERS_MAX, DERNIERS_MIN

    exemple = {
        "derniers": 1000, "lignes_ignorees": 0,
        "reference": {"fichier": "student-por.csv", "sha256": "a7594a11d777…", "version_modele": "f24ed0ae8859",
                      "predictions": "hors plis (10 plis, graine 42), seuils de la fiche", "eleves": 649},
        "n": 1000, "seuils_psi": {"moderee": SEUIL_MODERE, "forte": SEUIL_FORT},
        "variables": {"age": {"n": 1000, "psi": 0.31, "niveau": "forte", "psi_hasard": 0.0127},
                      "sex": {"n": 1000, "psi": 0.002, "niveau": "stable", "psi_hasard": 0.0025}},
        "derivees": ["age"],
        "taux_echec_predit": {"C": {"n": 1000, "taux_alerte": 0.31, "ic95": [0.2819, 0.3396],
                                    "taux_alerte_reference": 0.2773, "ecart": True, "psi_probabilite": 0.04,
                                    "niveau_probabilite": "stable"}},
        "avertissements": [],
    }
    return {"get": _operation(
        "deriveRecente", "surveillance", "Dérive des élèves reçus par rapport aux données d'entraînement",
        description="Sur les dernières prédictions du journal : indice de stabilité de population (PSI) de "
                    f"chaque variable (niveau « stable » sous {SEUIL_MODERE}, « moderee » jusqu'à {SEUIL_FORT}, "
                    "« forte » au-delà ; psi_hasard : ce que donne le seul hasard), et par configuration le "
                    "taux d'alerte « échec » comparé à celui du modèle sur les données d'entraînement "
                    "(ecart = vrai quand ce taux sort de l'IC 95 % observé). Agrégats seulement.",
        security=[{"jetonApi": []}],
        parameters=[{"name": "derniers", "in": "query", "required": False,
                     "description": f"Nombre de dernières prédictions du journal ({DERNIERS_MIN} à {DERNIERS_MAX} ; "
                                    f"{DERNIERS_DEFAUT} si absent)",
                     "schema": {"type": "integer", "minimum": DERNIERS_MIN, "maximum": DERNIERS_MAX},
                     "example": DERNIERS_DEFAUT}],
        reponses={"200": {"description": "Dérive par variable et taux d'alerte", "content": _json("Derive", exemple=exemple)},
                  **_erreurs(400, 401, 403, 429, 503)},
    )}


def _lot(en_tete_id: dict, exemple: dict, resultat: dict) -> tuple[dict, dict]:
    """``POST /predire/lot`` (liste JSON → ``ReponseLot``) et ``POST /predire/lot/csv`` (fichier UCI → CSV) :
    deux opérations, chacune avec un seul schéma de réponse 200."""
    from app.modele.schema import CATEGORIES, CHAMPS, bornes
    from app.modele.lots import COLONNES_AJOUTEES, LONGUEUR_MAX_ID_LOT, LOT_MAX, lire_csv, lot_json

    sans_notes = {k: v for k, v in exemple.items() if k not in ("G1", "G2")}
    # Forme exacte d'un CSV accepté (séparateur « ; », toutes les colonnes, dans l'ordre UCI), dérivée du
    # schéma : un générateur de requêtes (schemathesis) n'envoie que des CSV valides. « + » et non {1,10000} :
    # les moteurs d'expressions régulières à automate (Rust, RE2) déplient une répétition bornée et refusent
    # une expression de 10 000 copies ; la borne de LOT_MAX lignes est dite dans la description.
    cellules = [("|".join(CATEGORIES[c]) if c in CATEGORIES else "|".join(map(str, range(bornes(c)[0], bornes(c)[1] + 1))))
                for c in CHAMPS]
    ligne = ";".join(f"({c})" for c in cellules)
    forme_csv = f"^{';'.join(CHAMPS)}\\n({ligne}\\n)+$"
    identifiant_lot = {**en_tete_id, "schema": {**en_tete_id["schema"], "maxLength": LONGUEUR_MAX_ID_LOT},
                       "description": en_tete_id["description"] + " ; le rang de chaque élève y est ajouté "
                                                                  "(<X-Request-ID>-<rang>)"}
    entete = ";".join(exemple)
    csv_exemple = entete + "\n" + ";".join(str(v) for v in exemple.values()) + "\n"
    csv_reponse = (entete + ";" + ";".join(COLONNES_AJOUTEES) + "\n" + ";".join(str(v) for v in exemple.values())
                   + f";1;réussite;0.0512;0.9488;0.6304;0.1385;A;lot-0001-1;{resultat['explication'][0]['texte']}\n")
    reponse_lot = {"resultats": [{**resultat, "request_id": "lot-0001-1", "user_id": None},
                                 {**resultat, "G1": None, "G2": None, "configuration": "C",
                                  "request_id": "lot-0001-2", "user_id": "eleve-0042",
                                  "avertissements": ["G1 et G2 absents : configuration C (alerte précoce), moins précise"]}],
                   "nombre": 2, "request_id": "lot-0001", "model_version": "f24ed0ae8859", "inference_time_ms": 3.2}
    refus_json = exemple_refus(lambda: lot_json([exemple, {**exemple, "sex": "X"}, {**exemple, "famrel": 9}]))
    refus_csv = exemple_refus(lambda: lire_csv((csv_exemple + csv_exemple.split("\n")[1].replace("GP", "XX", 1)
                                                + "\n").encode()))
    erreurs_lot = {"503": {**_erreurs(503)["503"], "description": "Indisponible (base des résultats ou journal), ou "
                                                                   "trop de lots en cours (LOTS_SIMULTANES) ; en-tête "
                                                                   "Retry-After"}}
    entier = ("Lot entier ou refusé : un seul élève invalide et rien n'est prédit ni conservé ; la réponse 400 "
              "détaille chaque problème par élément (element : rang à partir de 1, comme le <rang> des "
              "request_id ; champ ; message). Chaque élève reçoit le request_id <X-Request-ID>-<rang> et est "
              "conservé (base et journal) avant la réponse. Taille maximale du corps : TAILLE_MAX_LOT.")
    json_lot = {"post": _operation(
        "predireLot", "prediction", f"Prédictions pour une classe : liste JSON ({LOT_MAX} élèves au plus)",
        description="Corps : une liste JSON d'élèves (chacun comme pour /predire, user_id compris) ; réponse "
                    "dans l'ordre reçu, chaque élément au schéma Resultat de /predire. " + entier
                    + " Un fichier CSV va à POST /predire/lot/csv.",
        parameters=[identifiant_lot],
        requestBody={"required": True, "content": {
            "application/json": {"schema": {"type": "array", "minItems": 1, "maxItems": LOT_MAX,
                                            "items": {"$ref": _REF.format(model="DemandePrediction")}},
                                 "example": [exemple, {**sans_notes, "user_id": "eleve-0042"}]}}},
        reponses={
            "200": {"description": "Une prédiction par élève, dans l'ordre",
                    "content": _json("ReponseLot", exemple=reponse_lot),
                    "headers": {"X-Request-ID": {"description": "Le X-Request-ID du lot", "schema": {"type": "string"}}},
                    "links": {"premierEleve": _lien("lirePrediction", "La prédiction conservée du premier élève",
                                                    request_id="$response.body#/resultats/0/request_id")}},
            **_erreurs(400, 401, 403, 409, 413, 415, exemples={400: refus_json}), **erreurs_lot,
        },
    )}
    csv_lot = {"post": _operation(
        "predireLotCsv", "prediction", f"Prédictions pour une classe : fichier CSV au format UCI ({LOT_MAX} lignes "
                                       "au plus)",
        description="Corps : un fichier CSV au format UCI (Content-Type: text/csv ; séparateur « ; » ou « , » ; "
                    "G1 et G2 facultatifs, cellule vide = note absente ; colonne user_id facultative ; pas de "
                    f"G3 ; {LOT_MAX} lignes au plus). Réponse en CSV, dans l'ordre reçu : les colonnes reçues puis "
                    f"{', '.join(COLONNES_AJOUTEES)}. " + entier + " Dans la réponse 400, element est le rang "
                    "de la ligne parmi les lignes d'élèves, et le message donne son numéro de ligne dans le "
                    "fichier (en-tête = ligne 1).",
        parameters=[identifiant_lot],
        requestBody={"required": True, "content": {
            "text/csv": {"schema": {"type": "string", "pattern": forme_csv,
                                    "description": "Fichier UCI sans G3, de 1 à " f"{LOT_MAX} lignes d'élèves ; "
                                                   "aussi accepté : séparateur « , », G1/G2 absents ou vides, "
                                                   "colonne user_id"},
                         "example": csv_exemple}}},
        reponses={
            "200": {"description": "Le CSV reçu et les colonnes ajoutées, une ligne par élève, dans l'ordre",
                    "content": {"text/csv": {"schema": {"type": "string"}, "example": csv_reponse}},
                    "headers": {"X-Request-ID": {"description": "Le X-Request-ID du lot", "schema": {"type": "string"}},
                                "X-Model-Version": {"description": "La version du modèle", "schema": {"type": "string"}}},
                    "links": {"premierEleve": _lien("lirePrediction", "La prédiction conservée du premier élève",
                                                    request_id="{$response.header.X-Request-ID}-1")}},
            **_erreurs(400, 401, 403, 409, 413, 415, exemples={400: refus_csv}), **erreurs_lot,
        },
    )}
    return json_lot, csv_lot


EXEMPLE_ELEVE = {
    "school": "GP", "sex": "F", "age": 16, "address": "U", "famsize": "GT3", "Pstatus": "T",
    "Medu": 3, "Fedu": 2, "Mjob": "services", "Fjob": "other", "reason": "course", "guardian": "mother",
    "traveltime": 1, "studytime": 2, "failures": 0, "schoolsup": "no", "famsup": "yes", "paid": "no",
    "activities": "yes", "nursery": "yes", "higher": "yes", "internet": "yes", "romantic": "no",
    "famrel": 4, "freetime": 3, "goout": 3, "Dalc": 1, "Walc": 2, "health": 4, "absences": 2,
    "G1": 11, "G2": 12,
}


def _exemples_service() -> dict:
    """Exemples de réponse des routes de service (forme réelle, valeurs d'illustration)."""
    from app.modele.schema import CONFIGURATIONS, DESCRIPTION_CONFIGURATIONS

    metrique = {"moyenne": 0.92, "ic95": [0.91, 0.93]}
    pret = {"pret": True, "verifications": {
        "modele": {"ok": True, "message": "modèle f24ed0ae8859 vérifié (sha256) et chargé"},
        "journal": {"ok": True, "message": "journal inscriptible"},
        "base": {"ok": True, "message": "base joignable"},
        "alimentation": {"ok": True, "message": "base des résultats à jour (0 en attente, retard 0 ms)",
                         "en_attente": 0, "retard_s": 0.0, "effacements_dus_au_journal": 0,
                         "fils_relances": {}, "suiveur": {"actif": True, "stockees": 1234}}}}
    return {
        "accueil": {"message": "Bienvenue sur l'API de prédiction de la réussite des élèves : POST /predire avec "
                               "les attributs d'un élève.", "version": VERSION, "model_version": "f24ed0ae8859",
                    "routes": [{"route": "/predire", "methodes": ["POST"], "description": "Prédiction pour un élève"}]},
        "sante": {"statut": "ok"},
        "pret": pret,
        "pas_pret": {"pret": False, "verifications": {**pret["verifications"],
                                                      "journal": {"ok": False, "message": "journal non inscriptible"}}},
        "fiche": {"model_version": "f24ed0ae8859", "sha256": "f24ed0ae8859" + "0" * 52,
                  "date_entrainement": "2026-11-23T21:29:50+00:00",
                  "donnees": {"fichier": "student-por.csv", "sha256": "a7594a11" + "0" * 56, "lignes": 649,
                              "classes": {"echec": 100, "reussite": 549},
                              "cible": "réussite = 1 quand G3 ≥ 10, échec = 0 ; G3 n'est jamais une entrée"},
                  "protocole": {"repetitions": 20, "plis": 10, "graine": 42},
                  "versions": {"python": "3.11.7", "scikit-learn": "1.9.1"},
                  "configurations": {nom: {"description": DESCRIPTION_CONFIGURATIONS[nom], "classifieur": "vote",
                                           "seuil": 0.1385, "seuil_fiche": 0.1385, "variables": list(variables),
                                           "metriques": {"exactitude_seuil": metrique},
                                           "reference_article": {"meilleur": 93.0, "modele": "arbre de décision"},
                                           "fiabilite": _EXEMPLE_FIABILITE}
                                     for nom, variables in CONFIGURATIONS.items()}},
    }


_EXEMPLE_FIABILITE = {
    "connue": True, "signales_echouant_sur_100": 33.4, "signales_echouant_ic95": [33.0, 33.7],
    "echecs_non_signales_pourcent": 17.6, "echecs_non_signales_ic95": [16.6, 18.6],
    "phrase": "Sur 100 élèves signalés, environ 33 (entre 33 et 34) échouent réellement ; environ 18 % (entre 17 et "
              "19 %) des élèves qui échoueront ne sont pas signalés (élèves de l'entraînement, jamais vus par le modèle)."}


def _lot_partiel(lot: dict, lot_csv: dict, resultat: dict) -> dict:
    """``POST /predire/lot/partiel`` : le corps de ``/predire/lot`` ou de ``/predire/lot/csv``, mais chaque ligne
    invalide est mise à part au lieu de tout refuser, et les colonnes hors schéma sont gardées (page ``/classe``)."""
    entier = lot["post"]
    json_entier = entier["requestBody"]["content"]["application/json"]
    tableau = {**json_entier["schema"], "items": {
        "anyOf": [{"$ref": _REF.format(model="DemandePrediction")}, {}],
        "description": "Un élève comme pour /predire ; ses clés hors schéma (nom, numéro…) sont gardées à part ; "
                       "un élément invalide est rendu dans « rejets » sans empêcher les autres"}}
    from app.modele.schema import CHAMPS
    from app.web.bilan_classe import RAPPEL_POURCENT

    # Ici, une ligne invalide n'est jamais une raison de tout refuser : le CSV accepté est exactement
    # un en-tête UCI puis au moins une cellule non vide (un générateur comme schemathesis s'y fie).
    # Sans octet nul : un fichier qui en contient est un classeur (.xlsx, .ods), refusé avec le conseil d'enregistrer en CSV.
    forme_csv = f"^{';'.join(CHAMPS)}\\n[^\\x00]*[^\\s;,\"\\x00\\x1c-\\x1f\\x85][^\\x00]*$"
    csv_partiel = {**lot_csv["post"]["requestBody"]["content"]["text/csv"]}
    csv_partiel["schema"] = {"type": "string", "pattern": forme_csv,
                             "description": "Fichier UCI, au moins une ligne ; aussi accepté : G3 (mise à part), séparateur "
                                            "« , », G1/G2 absents ou vides, colonne user_id, colonnes hors schéma "
                                            "(nom, numéro…) dans n'importe quel ordre"}
    exemple = {"resultats": [{**resultat, "request_id": "classe-3b-1", "user_id": None, "position": 2,
                              "supplementaires": {"nom": "Élève n°1"}}],
               "rejets": [{"position": 3, "supplementaires": {"nom": "Élève n°2"},
                           "problemes": [{"champ": "age", "message": "valeur 40 hors limites : entier de 15 à 22 attendu"}]}],
               "nombre": 1, "recus": 2, "colonnes_supplementaires": ["nom"], "request_id": "classe-3b",
               "model_version": "f24ed0ae8859", "inference_time_ms": 0.9,
               "lecture": {"encodage": "Windows-1252", "separateur": "point-virgule",
                           "colonnes_traduites": {"Âge": "age"}, "note_finale": False},
               "derive_classe": {"disponible": True, "variables": []}, "verification": None}
    return {"post": _operation(
        "predireLotPartiel", "prediction", "Prédictions pour une classe, lignes invalides mises à part (page /classe)",
        description="Même corps que POST /predire/lot (liste JSON) ou POST /predire/lot/csv (CSV au format UCI), "
                    "même limite et même "
                    "X-Request-ID, mais le lot n'est pas entier ou refusé : chaque élève valide est prédit et "
                    "conservé, chaque ligne invalide est rendue dans « rejets » avec ses problèmes (champ et "
                    "règle, en français) et son numéro de ligne (« position »). Les colonnes du CSV (ou clés "
                    "JSON) hors schéma, p. ex. le nom ou le numéro de l'élève, sont acceptées et renvoyées "
                    "telles quelles dans « supplementaires », jamais conservées ; une colonne qui ne diffère "
                    "d'un champ que par la casse (« Age ») reste refusée, comme une colonne "
                    "obligatoire manquante (400 : en-tête inutilisable). Un CSV peut être en UTF-8 (avec ou sans "
                    "BOM) ou Windows-1252 (« lecture » dit lequel), séparé par « ; », « , » ou une tabulation, "
                    "avec les libellés français du schéma en en-tête (« Âge », « Études de la mère »…). Une "
                    "colonne G3 (classe de l'an passé) est mise à part : « verification » dit comment le "
                    "modèle aurait fait sur ces élèves. Réponse toujours en JSON, même pour "
                    "un CSV. Le request_id de chaque élève est <X-Request-ID>-<rang>, rang parmi les élèves "
                    "reçus (lignes refusées comprises).",
        parameters=[*entier["parameters"], {
            "name": "rappel", "in": "query", "required": False,
            "description": f"Fichier avec G3 : part des échecs (en %) que les seuils proposés doivent repérer "
                           f"({RAPPEL_POURCENT[0]} si absent)",
            "schema": {"type": "integer", "minimum": RAPPEL_POURCENT[1], "maximum": RAPPEL_POURCENT[2]},
            "example": RAPPEL_POURCENT[0]}],
        requestBody={"required": True, "content": {
            "application/json": {**json_entier, "schema": tableau},
            "text/csv": csv_partiel}},
        reponses={
            "200": {"description": "Les élèves valides prédits, les autres détaillés",
                    "content": _json("ReponseLotPartielle", exemple=exemple)},
            **{statut: reponse for statut, reponse in entier["responses"].items() if statut != "200"},
        },
    )}


@lru_cache(maxsize=1)
def document() -> dict:
    # Demandes en mode « validation » (ce que le serveur accepte : entiers en texte compris), réponses en mode
    # « serialization » (ce qu'il envoie : des entiers, chaque clé toujours présente requise).
    _, definitions = models_json_schema([(m, "validation" if m in DEMANDES else "serialization") for m in MODELES],
                                        ref_template=_REF, schema_generator=SchemaSansDefaut)
    exemple = dict(EXEMPLE_ELEVE)
    en_tete_id = {"name": "X-Request-ID", "in": "header", "required": False,
                  "description": "Identifiant de la requête, renvoyé dans la réponse ; généré s'il manque. Quand "
                                 "le serveur a un justificatif (API_TOKEN, IAP, OpenID Connect), un identifiant "
                                 "choisi demande un appelant identifié (400 sinon) ; déjà utilisé : 409",
                  "schema": {"type": "string", "pattern": FORME_IDENTIFIANT.pattern}, "example": "essai-0001"}
    resultat = {**exemple, "prediction": 1, "libelle": "réussite", "probabilite_echec": 0.0512,
                "probabilite_reussite": 0.9488, "confiance_prediction": 0.6304, "seuil": 0.1385, "configuration": "A",
                "explication": [{"champ": "G2", "valeur": "12", "effet": "diminue",
                                 "contribution": -0.0841, "poids": 0.4122,
                                 "texte": "Note du 2e trimestre (G2 = 12) : diminue le risque d'échec (41 % de "
                                          "l'explication)"}],
                "request_id": "essai-0001", "user_id": "eleve-0042", "avertissements": []}
    reponse = {"resultats": resultat, "request_id": "essai-0001", "model_version": "f24ed0ae8859",
               "inference_time_ms": 0.412}
    from app.web.routes.prediction import valider_demande

    refus_eleve = exemple_refus(lambda: valider_demande({**exemple, "age": 30}))
    conservee = {"horodatage": "2026-11-23T08:00:00.000000+00:00", "request_id": "essai-0001", "user_id": "eleve-0042",
                 "configuration": "A", "entrees": exemple, "prediction": 1, "probabilite_echec": 0.0512,
                 "probabilite_reussite": 0.9488, "seuil": 0.1385, "model_version": "f24ed0ae8859", "canal": "http"}
    service = _exemples_service()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "prediction-etudiante",
            "version": VERSION,
            "description": "Prédit si un élève risque l'échec (G3 < 10) à partir de ses 32 attributs "
                           "(données UCI Student Performance). Toutes les erreurs sont du JSON "
                           "{\"erreur\", \"details\"} en français (schéma Erreur), y compris 404, 405, et les "
                           "414 / 431 d'une ligne de requête ou d'en-têtes trop longs.",
        },
        "tags": ETIQUETTES,
        "paths": {
            "/": {"get": _operation("lireAccueil", "service", "Accueil : message, version, routes", {
                "200": {"description": "Accueil", "content": _json("Accueil", exemple=service["accueil"])},
                "302": {"description": "Navigateur (Accept: text/html avant application/json) : redirection vers "
                                       "la page /classe", "headers": {"Location": {"schema": {"type": "string"},
                                                                                   "example": "/classe"}}}})},
            "/health": {"get": _operation("verifierSante", "service", "Le processus répond", {
                "200": {"description": "Vivant", "content": _json("Sante", exemple=service["sante"])}})},
            "/ready": {"get": _operation("verifierDisponibilite", "service",
                                         "Modèle chargé, journal inscriptible, base joignable et à jour", {
                "200": {"description": "Prêt", "content": _json("Disponibilite", exemple=service["pret"])},
                "503": {"description": "Pas prêt : la vérification en échec dit pourquoi",
                        "content": _json("Disponibilite", exemple=service["pas_pret"])}})},
            "/modele": {"get": _operation("lireFicheModele", "service", "Fiche du modèle servi", {
                "200": {"description": "Fiche du modèle", "content": _json("FicheModele", exemple=service["fiche"])}})},
            "/openapi.json": {"get": _operation("lireDocumentOpenapi", "documentation", "Ce document", {
                "200": {"description": "Document OpenAPI 3.1", "content": _json("DocumentOpenApi")}})},
            "/docs": {"get": _operation("lireDocumentation", "documentation", "Documentation lisible", {
                "200": {"description": "Page HTML", "content": {"text/html": {
                    "schema": {"type": "string"}, "example": "<!doctype html><html lang=\"fr\">…</html>"}}}})},
            "/predire": {"post": _operation(
                "predire", "prediction", "Prédiction pour un élève",
                description="G1 et G2 facultatifs : sans G2 la configuration B est utilisée, sans "
                            "aucune note la configuration C (alerte précoce). Les entiers peuvent "
                            "être envoyés en texte (\"11\"), comme dans le fichier UCI : chiffres ASCII "
                            "seulement, sans signe, espace ni zéro initial. Chaque "
                            "prédiction servie est écrite au journal avant la réponse, puis en base (moins d'une seconde "
                            "après en temps normal) ; "
                            "user_id (facultatif) est l'identifiant pseudonyme de l'élève concerné.",
                parameters=[en_tete_id],
                requestBody={"required": True, "content": {"application/json": {
                    "schema": {"$ref": _REF.format(model="DemandePrediction")},
                    "example": {**exemple, "user_id": "eleve-0042"}}}},
                reponses={
                    "200": {"description": "Prédiction", "content": _json("ReponsePrediction", exemple=reponse),
                            "headers": {"X-Request-ID": {"description": "Le request_id de la prédiction",
                                                         "schema": {"type": "string"}}},
                            "links": {"prediction": _lien("lirePrediction", "Relire la prédiction conservée",
                                                          request_id="$response.body#/resultats/request_id"),
                                      "historique": _lien("rechercherHistorique", "L'historique de l'élève (si user_id)",
                                                          corps={"user_id": "$response.body#/resultats/user_id"})}},
                    **_erreurs(400, 401, 403, 409, 413, 415, 503, exemples={400: refus_eleve}),
                },
            )},
            "/predire/lot": (lots := _lot(en_tete_id, exemple, resultat))[0],
            "/predire/lot/csv": lots[1],
            "/predire/lot/partiel": _lot_partiel(*lots, resultat),
            "/pretraitement": {"post": _operation(
                "pretraiter", "pretraitement", "Ligne encodée que le modèle évalue pour un élève",
                description="Même corps que /predire (user_id accepté et ignoré). Renvoie la configuration, "
                            "le nom de chaque colonne encodée et ses valeurs, calculés par l'objet qui sert "
                            "les prédictions (modèle compilé, vérifié égal au ColumnTransformer du "
                            "pipeline). Rien n'est prédit ni conservé.",
                parameters=[en_tete_id],
                requestBody={"required": True, "content": {"application/json": {
                    "schema": {"$ref": _REF.format(model="DemandePrediction")}, "example": exemple}}},
                reponses={
                    "200": {"description": "Ligne encodée", "content": _json("ReponsePretraitement", exemple={
                        "configuration": "A", "variables": ["school_GP", "school_MS", "age", "…"],
                        "valeurs": [1.0, 0.0, 16.0, 0.0], "request_id": "essai-0001", "model_version": "f24ed0ae8859"}),
                            "headers": {"X-Request-ID": {"description": "Le request_id de la requête",
                                                         "schema": {"type": "string"}}}},
                    **_erreurs(400, 401, 403, 413, 415, 503, exemples={400: refus_eleve}),
                },
            )},
            "/classe": {"get": _operation(
                "pageClasse", "pages", "Page des équipes éducatives : une classe, un élève, l'historique",
                description="Page HTML en français servie par l'API (scripts et styles servis par elle, sans "
                            "CDN, Content-Security-Policy stricte). Un navigateur qui demande / (Accept: "
                            "text/html) y est redirigé.",
                reponses={"200": _page("Page HTML"), "302": {"description": "Mode OIDC sans session : vers /connexion",
                                                             "headers": {"Location": {"schema": {"type": "string"}}}},
                          "401": _page("Mode IAP sans assertion valide", 401),
                          "403": _page("Personne absente du fichier d'accès : à qui demander", 403),
                          "503": _page("Clés du fournisseur d'identité injoignables", 503)})},
            **_historique(conservee),
            **_identite(),
            **_exploitation(conservee),
            "/derive": _derive(),
        },
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {"jetonApi": {"type": "http", "scheme": "bearer",
                                             "description": "Authorization: Bearer <API_TOKEN>"}},
        },
    }


def exemple_eleve() -> dict:
    return dict(EXEMPLE_ELEVE)

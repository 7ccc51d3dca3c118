"""Le contrat de l'API tel que les intégrateurs le voient : le document OpenAPI (validé, opérations
nommées, réponses nommées, énumérations définies une fois, exemples conformes), le client Python
généré depuis ``/openapi.json`` (openapi-python-client, hors ligne) appelé sur chaque route d'un
vrai gunicorn, « le schéma dit ce que le serveur accepte » pour les entiers en texte, et les
erreurs toujours en JSON français, y compris celles que gunicorn répond lui-même (414, 431, 400).
Le fuzzing schemathesis (toutes les opérations, à états compris) est dans test_fiabilite_entrees.py.
"""

from __future__ import annotations

import datetime
import importlib
import json
import re
import subprocess
import sys
import uuid

import jsonschema_rs
import pytest
import requests
from openapi_spec_validator import validate

from app.modele.schema import CATEGORIES, NUMERIQUES, DemandePrediction, motif_entier
from test.test_fiabilite_entrees import brut, en_tete

JETON = "jeton-contrat-" + "c" * 40
OPERATIONS = {
    ("get", "/"): "lireAccueil", ("get", "/health"): "verifierSante", ("get", "/ready"): "verifierDisponibilite",
    ("get", "/modele"): "lireFicheModele", ("get", "/openapi.json"): "lireDocumentOpenapi",
    ("get", "/docs"): "lireDocumentation", ("post", "/predire"): "predire", ("post", "/predire/lot"): "predireLot",
    ("post", "/predire/lot/csv"): "predireLotCsv",
    ("get", "/predictions/{request_id}"): "lirePrediction", ("get", "/predictions/user/{user_id}"): "lireHistorique",
    ("delete", "/predictions/user/{user_id}"): "effacerHistorique",
    ("get", "/predictions/export"): "exporterPredictions", ("get", "/metrics"): "lireMetriques",
    ("get", "/derive"): "deriveRecente", ("post", "/predire/lot/partiel"): "predireLotPartiel",
    ("get", "/classe"): "pageClasse", ("post", "/pretraitement"): "pretraiter",
    ("post", "/historique"): "rechercherHistorique", ("post", "/effacement"): "effacerEleve",
    ("get", "/acces"): "lireAcces", ("get", "/connexion"): "seConnecter",
    ("get", "/connexion/retour"): "retourConnexion", ("post", "/deconnexion"): "seDeconnecter",
}
"""Les operationId publiés : un client généré nomme ses fonctions ainsi, les changer le casse."""
ENUMERATIONS = {"Ecole", "Sexe", "Adresse", "TailleFamille", "SituationParents", "Metier", "Raison", "Responsable",
                "OuiNon", "Configuration", "ClassePredite", "Libelle", "Effet", "NiveauDerive", "Canal"}


@pytest.fixture(scope="module")
def document() -> dict:
    from app.web.openapi import document

    return document()


def operations(document: dict):
    for chemin, methodes in document["paths"].items():
        for methode, operation in methodes.items():
            yield methode, chemin, operation


def validateur(document: dict, schema: dict):
    """Un validateur JSON Schema 2020-12 (expressions régulières ECMA : ``$`` est la fin du texte) où les
    ``$ref`` vers ``#/components/schemas`` se résolvent dans le document."""
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})


def test_document_valide_openapi_spec_validator(document):
    validate(document)  # lève une exception à la première faute


def test_operations_nommees_etiquetees_reponses_nommees_et_exemples(document):
    etiquettes = {e["name"] for e in document["tags"]}
    schemas = document["components"]["schemas"]
    vues = {}
    for methode, chemin, operation in operations(document):
        vues[(methode, chemin)] = operation["operationId"]
        assert operation["tags"] and set(operation["tags"]) <= etiquettes, (methode, chemin)
        for statut, reponse in operation["responses"].items():
            for type_contenu, contenu in reponse.get("content", {}).items():  # une redirection n'a pas de corps
                if type_contenu == "application/json":  # toujours un schéma nommé, avec ses propriétés
                    nom = contenu["schema"]["$ref"].rsplit("/", 1)[1]
                    assert schemas[nom]["properties"], (chemin, statut, nom)
                if chemin != "/openapi.json":
                    assert "example" in contenu, (methode, chemin, statut, type_contenu)
        for type_contenu, contenu in operation.get("requestBody", {}).get("content", {}).items():
            assert "example" in contenu, (methode, chemin, type_contenu)
    assert vues == OPERATIONS  # toutes les routes, chacune avec son operationId stable


def _enumerations(noeud, chemin=()):
    if isinstance(noeud, dict):
        if "enum" in noeud:
            yield chemin, tuple(noeud["enum"])
        for cle, valeur in noeud.items():
            yield from _enumerations(valeur, (*chemin, cle))
    elif isinstance(noeud, list):
        for i, valeur in enumerate(noeud):
            yield from _enumerations(valeur, (*chemin, i))


def test_enumerations_definies_une_fois_et_referencees(document):
    schemas = document["components"]["schemas"]
    trouvees = list(_enumerations(schemas))
    # Chaque énumération est un composant à elle seule (aucune « enum » dans les propriétés d'un modèle)…
    assert {chemin for chemin, _ in trouvees} == {(nom,) for nom in ENUMERATIONS}, trouvees
    # … ses valeurs n'y sont qu'une fois, et chaque champ catégoriel d'un élève y renvoie par $ref.
    assert len({valeurs for _, valeurs in trouvees}) == len(trouvees)
    for modele in ("Eleve", "DemandePrediction", "Resultat", "ResultatLotPartiel"):
        for champ, valeurs in CATEGORIES.items():
            propriete = schemas[modele]["properties"][champ]
            assert tuple(schemas[propriete["$ref"].rsplit("/", 1)[1]]["enum"]) == valeurs
    assert schemas["Eleve"]["properties"]["Mjob"]["$ref"] == schemas["Eleve"]["properties"]["Fjob"]["$ref"]
    assert schemas["ClassePredite"]["x-enum-varnames"] == ["ECHEC", "REUSSITE"]


TEXTES = ["+16", "016", "١٦", "١", " 16", "16 ", "16\n", "\t5", "1_0", "0x10", "1e1", "", "-0", "-1", "00", "٣",
          "16.0", "²", "𝟏𝟔"]


@pytest.mark.parametrize("champ", NUMERIQUES)
def test_entiers_en_texte_le_schema_dit_ce_que_le_serveur_accepte(document, exemple, champ):
    """Pour chaque champ entier, chaque écriture (entiers JSON et textes, valides ou non) : le schéma du
    document l'accepte si et seulement si le serveur l'accepte."""
    propriete = document["components"]["schemas"]["DemandePrediction"]["properties"][champ]
    schema = validateur(document, propriete)
    candidats = [*range(-2, 100), *map(str, range(-2, 100)), *TEXTES, True, 16.5, None]
    ecarts = []
    for valeur in candidats:
        try:
            DemandePrediction.model_validate({**exemple, champ: valeur})
            serveur = True
        except ValueError:
            serveur = False
        if schema.is_valid(valeur) != serveur:
            ecarts.append((valeur, serveur))
    assert ecarts == []


def test_motif_entier():
    assert motif_entier(15, 22) == "^(1[5-9]|2[0-2])$"
    assert motif_entier(0, 93) == "^([0-9]|1[0-9]|2[0-9]|3[0-9]|4[0-9]|5[0-9]|6[0-9]|7[0-9]|8[0-9]|9[0-3])$"
    for minimum, maximum in ((0, 4), (1, 5), (0, 20), (0, 93), (15, 22), (7, 7), (9, 10), (0, 999)):
        motif = re.compile(motif_entier(minimum, maximum).replace("$", r"\Z"))
        assert [n for n in range(-5, 1100) if motif.match(str(n))] == list(range(minimum, maximum + 1))


def test_exemples_conformes_a_leurs_schemas(document):
    nombre = 0
    for methode, chemin, operation in operations(document):
        contenus = [(statut, t, c) for statut, r in operation["responses"].items() for t, c in r.get("content", {}).items()]
        contenus += [("corps", t, c) for t, c in operation.get("requestBody", {}).get("content", {}).items()]
        for statut, type_contenu, contenu in contenus:
            if "example" not in contenu:
                continue
            erreurs = [e.message for e in validateur(document, contenu["schema"]).iter_errors(contenu["example"])]
            assert erreurs == [], (methode, chemin, statut, type_contenu, erreurs[:3])
            nombre += 1
        for parametre in operation.get("parameters", []):
            assert validateur(document, parametre["schema"]).is_valid(parametre["example"]), (chemin, parametre["name"])
    assert nombre >= 30


# --- Le client généré, appelé sur un vrai gunicorn ---------------------------------------------

CONFIG_CLIENT = """\
package_name_override: client_prediction_etudiante
post_hooks: []
"""


def generer_client(document_json: str, dossier) -> tuple[str, str]:
    """Génère le client Python (openapi-python-client, hors ligne : depuis un fichier) ; (paquet, sortie)."""
    (dossier / "openapi.json").write_text(document_json, encoding="utf-8")
    (dossier / "config.yml").write_text(CONFIG_CLIENT, encoding="utf-8")
    paquet = dossier / "client_prediction_etudiante"
    execution = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(dossier / "openapi.json"),
         "--config", str(dossier / "config.yml"), "--meta", "none", "--output-path", str(paquet)],
        cwd=dossier, capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    sortie = execution.stdout + execution.stderr
    assert execution.returncode == 0, sortie[-3000:]
    return str(paquet), sortie


def test_client_genere_appelle_chaque_route(demarrer_serveur, tmp_path, exemple, mesurer):
    serveur = demarrer_serveur(env={"API_TOKEN": JETON}).attendre()
    servi = requests.get(serveur.url + "/openapi.json", timeout=10)
    validate(servi.json())
    paquet, sortie = generer_client(servi.text, tmp_path)
    # Seules pièces sautées, et signalées : les corps CSV (texte, envoyés à la main plus bas) ; le lot JSON, à
    # part, est entièrement typé (liste de DemandePrediction → ReponseLot).
    avertissements = re.findall(r"WARNING parsing (.+?)\n+(.+?)\n", sortie)
    assert avertissements == [
        ("POST /predire/lot/csv within prediction. Endpoint will not be generated.", "Unsupported content type text/csv"),
        ("POST /predire/lot/partiel within prediction.", "Unsupported content type text/csv")], sortie
    modeles = sorted(f.removesuffix(".py") for f in _fichiers(paquet, "models") if f != "__init__.py")
    sources = {m: open(f"{paquet}/models/{m}.py", encoding="utf-8").read() for m in modeles}
    enumerations = {m for m, texte in sources.items() if re.search(r"class \w+\((Str|Int)Enum\)", texte)}
    assert enumerations == {re.sub(r"(?<!^)([A-Z])", r"_\1", n).lower() for n in ENUMERATIONS}, enumerations
    assert not any("VALUE_" in texte for texte in sources.values())
    mesurer("client généré (openapi-python-client)", f"{len(modeles)} modules de modèles, dont "
                                                     f"{len(enumerations)} énumérations : {', '.join(modeles)}")
    mesurer("client généré : fonctions", ", ".join(sorted(f"{d}/{f.removesuffix('.py')}"
                                                          for d in _fichiers(paquet, "api") if d != "__init__.py"
                                                          for f in _fichiers(paquet, f"api/{d}") if f != "__init__.py")))

    sys.path.insert(0, str(tmp_path))
    try:
        appels = _appeler_chaque_route(serveur.url, exemple)
    finally:
        sys.path.remove(str(tmp_path))
        for nom in [n for n in sys.modules if n.split(".")[0] == "client_prediction_etudiante"]:
            del sys.modules[nom]
    assert {a.split(" ")[0] for a in appels} == set(OPERATIONS.values())
    mesurer("client généré : appels", f"{len(appels)} appels sur {len(OPERATIONS)} opérations : {', '.join(appels)}")


def _fichiers(paquet: str, sous_dossier: str) -> list[str]:
    import os

    return sorted(f for f in os.listdir(f"{paquet}/{sous_dossier}") if not f.startswith("__pycache__"))


def _appeler_chaque_route(url: str, exemple: dict) -> list[str]:
    client_mod = importlib.import_module("client_prediction_etudiante")
    api = "client_prediction_etudiante.api"
    modeles = importlib.import_module("client_prediction_etudiante.models")
    ops = {nom: importlib.import_module(f"{api}.{dossier}.{nom}") for dossier, noms in {
        "documentation": ("lire_document_openapi", "lire_documentation"),
        "prediction": ("predire", "predire_lot", "predire_lot_partiel"),  # predire_lot_csv : non généré
        "service": ("lire_accueil", "verifier_sante", "verifier_disponibilite", "lire_fiche_modele", "lire_metriques"),
        "historique": ("lire_prediction", "lire_historique", "effacer_historique", "exporter_predictions",
                       "rechercher_historique", "effacer_eleve", "lire_acces"),
        "surveillance": ("derive_recente",),
        "pages": ("page_classe", "se_connecter", "retour_connexion", "se_deconnecter"),
        "pretraitement": ("pretraiter",),
    }.items() for nom in noms}
    # raise_on_unexpected_status : un statut que le document ne déclare pas ferait échouer l'appel.
    client = client_mod.Client(base_url=url, raise_on_unexpected_status=True, timeout=30)
    jeton = client_mod.AuthenticatedClient(base_url=url, token=JETON, raise_on_unexpected_status=True, timeout=30)
    appels = []

    def noter(operation: str, statut: int) -> None:
        appels.append(f"{operation} {statut}")

    accueil = ops["lire_accueil"].sync(client=client)
    assert isinstance(accueil, modeles.Accueil) and accueil.routes[0].methodes
    noter("lireAccueil", 200)
    assert ops["verifier_sante"].sync(client=client).statut == "ok"
    noter("verifierSante", 200)
    pret = ops["verifier_disponibilite"].sync(client=client)
    assert isinstance(pret, modeles.Disponibilite) and pret.pret and pret.verifications.base.ok
    noter("verifierDisponibilite", 200)
    fiche = ops["lire_fiche_modele"].sync(client=client)
    assert isinstance(fiche, modeles.FicheModele) and fiche.configurations["C"].variables[0] == "school"
    noter("lireFicheModele", 200)
    assert ops["lire_document_openapi"].sync(client=client).openapi == "3.1.0"
    noter("lireDocumentOpenapi", 200)
    assert "<html" in ops["lire_documentation"].sync(client=client)
    noter("lireDocumentation", 200)

    eleve = f"eleve-{uuid.uuid4().hex[:8]}"
    demande = modeles.DemandePrediction.from_dict({**exemple, "user_id": eleve})
    assert demande.sex is modeles.Sexe.F and demande.mjob is modeles.Metier.SERVICES
    identifiant = f"contrat-{uuid.uuid4().hex}"
    reponse = ops["predire"].sync(client=jeton, body=demande, x_request_id=identifiant)
    assert isinstance(reponse, modeles.ReponsePrediction), reponse
    assert reponse.request_id == reponse.resultats.request_id == identifiant and reponse.resultats.user_id == eleve
    assert reponse.resultats.avertissements == [] and isinstance(reponse.resultats.age, int)
    assert reponse.resultats.prediction in (modeles.ClassePredite.ECHEC, modeles.ClassePredite.REUSSITE)
    assert isinstance(reponse.resultats.libelle, modeles.Libelle)
    assert isinstance(reponse.resultats.explication[0].effet, modeles.Effet)
    noter("predire", 200)
    refus = ops["predire"].sync_detailed(client=client, body=modeles.DemandePrediction.from_dict({**exemple, "age": "016"}))
    assert refus.status_code == 400 and isinstance(refus.parsed, modeles.Erreur)
    assert refus.parsed.details[0].champ == "age" and "entier" in refus.parsed.details[0].message
    assert isinstance(refus.parsed.details[0].element, client_mod.types.Unset)  # hors d'un lot : absent
    noter("predire", 400)
    doublon = ops["predire"].sync_detailed(client=jeton, body=demande, x_request_id=identifiant)
    assert doublon.status_code == 409 and isinstance(doublon.parsed, modeles.Erreur)
    noter("predire", 409)

    sans_notes = {k: v for k, v in exemple.items() if k not in ("G1", "G2")}
    lot = ops["predire_lot"].sync(client=jeton, x_request_id=f"lot-{uuid.uuid4().hex[:8]}",
                                  body=[demande, modeles.DemandePrediction.from_dict({**sans_notes, "user_id": eleve})])
    assert isinstance(lot, modeles.ReponseLot) and lot.nombre == 2
    assert lot.resultats[1].configuration is modeles.Configuration.C and lot.resultats[1].avertissements
    assert type(lot.resultats[0]) is type(reponse.resultats)  # un seul schéma de résultat
    noter("predireLot", 200)
    refus_lot = ops["predire_lot"].sync_detailed(client=client, body=[demande, modeles.DemandePrediction.from_dict(
        {**exemple, "famrel": 9})])
    assert refus_lot.status_code == 400 and [(d.element, d.champ) for d in refus_lot.parsed.details] == [(2, "famrel")]
    noter("predireLot", 400)
    partiel = ops["predire_lot_partiel"].sync(client=jeton, x_request_id=f"partiel-{uuid.uuid4().hex[:8]}",
                                              body=[modeles.DemandePrediction.from_dict(exemple),
                                                    modeles.DemandePrediction.from_dict({**exemple, "age": 40})])
    assert isinstance(partiel, modeles.ReponseLotPartielle) and (partiel.nombre, partiel.recus) == (1, 2)
    assert partiel.rejets[0].problemes[0].champ == "age"
    noter("predireLotPartiel", 200)
    assert "<html" in ops["page_classe"].sync(client=client)
    noter("pageClasse", 200)
    encode = ops["pretraiter"].sync(client=client, body=demande)
    assert isinstance(encode, modeles.ReponsePretraitement) and len(encode.variables) == len(encode.valeurs)
    noter("pretraiter", 200)
    # Le lot CSV, opération à part : le générateur saute son corps text/csv (signalé plus haut) ; envoyé par
    # le client HTTP sous-jacent.
    csv = ";".join(exemple) + "\n" + ";".join(str(v) for v in exemple.values()) + "\n"
    reponse_csv = client.get_httpx_client().post("/predire/lot/csv", content=csv, headers={"Content-Type": "text/csv"})
    assert reponse_csv.status_code == 200 and reponse_csv.headers["content-type"].startswith("text/csv")
    assert reponse_csv.text.splitlines()[0].endswith(";request_id;explication")
    noter("predireLotCsv", 200)

    conservee = ops["lire_prediction"].sync(client=jeton, request_id=identifiant)
    assert isinstance(conservee, modeles.PredictionConservee) and isinstance(conservee.entrees, modeles.Eleve)
    assert conservee.prediction == reponse.resultats.prediction and conservee.user_id == eleve
    noter("lirePrediction", 200)
    sans_jeton = ops["lire_prediction"].sync_detailed(client=client, request_id=identifiant)
    assert sans_jeton.status_code == 401 and isinstance(sans_jeton.parsed, modeles.Erreur)
    noter("lirePrediction", 401)
    absente = ops["lire_prediction"].sync_detailed(client=jeton, request_id="jamais-vue")
    assert absente.status_code == 404 and isinstance(absente.parsed, modeles.Erreur)
    noter("lirePrediction", 404)
    historique = ops["lire_historique"].sync(client=jeton, user_id=eleve, limite=2)
    assert isinstance(historique, modeles.Historique)
    assert historique.pagination.total == 3 and len(historique.predictions) == 2 and historique.pagination.suivant
    noter("lireHistorique", 200)
    export = ops["exporter_predictions"].sync_detailed(client=jeton, depuis=datetime.datetime(2000, 1, 1,
                                                                                            tzinfo=datetime.timezone.utc))
    assert export.status_code == 200 and identifiant.encode() in export.parsed.payload.read()  # un fichier JSONL
    noter("exporterPredictions", 200)
    assert "prediction_etudiante_requetes_total" in ops["lire_metriques"].sync(client=client)
    noter("lireMetriques", 200)
    derive = ops["derive_recente"].sync(client=jeton)
    assert isinstance(derive, modeles.Derive) and derive.n >= 4 and derive.variables["age"].niveau
    noter("deriveRecente", 200)
    par_corps = ops["rechercher_historique"].sync(client=jeton, body=modeles.DemandeHistorique(user_id=eleve, limite=2))
    assert isinstance(par_corps, modeles.Historique) and par_corps.pagination.decalage_suivant == 2
    assert par_corps.pagination.suivant is None and isinstance(par_corps.predictions[0].entrees.age, int)
    noter("rechercherHistorique", 200)
    effacement = ops["effacer_historique"].sync(client=jeton, user_id=eleve)
    assert isinstance(effacement, modeles.Effacement) and effacement.supprimees == 3
    noter("effacerHistorique", 200)
    efface = ops["effacer_eleve"].sync(client=jeton, body=modeles.DemandeEffacement(user_id=eleve))
    assert isinstance(efface, modeles.Effacement) and efface.supprimees == 0  # déjà effacé : idempotent
    noter("effacerEleve", 200)
    acces = ops["lire_acces"].sync(client=jeton, qui="jeton-api")
    assert isinstance(acces, modeles.JournalAcces) and acces.nombre >= 5 and acces.acces[0].qui == "jeton-api"
    noter("lireAcces", 200)
    # Mode local : ni connexion ni retour (404, erreur JSON pour un client de l'API), déconnexion sans session (200).
    for operation, nom, statut in (("se_connecter", "seConnecter", 404), ("retour_connexion", "retourConnexion", 404),
                                   ("se_deconnecter", "seDeconnecter", 200)):
        reponse = ops[operation].sync_detailed(client=client)
        assert reponse.status_code == statut, (operation, reponse.status_code)
        assert (b"<html" in reponse.content) if statut == 200 else json.loads(reponse.content)["erreur"]
        noter(nom, statut)
    return appels


# --- Erreurs toujours en JSON français ----------------------------------------------------------

def _erreur_json(document: dict, statut, corps: bytes) -> dict:
    contenu = json.loads(corps)
    assert validateur(document, {"$ref": "#/components/schemas/Erreur"}).is_valid(contenu), contenu
    return contenu


def test_erreurs_de_gunicorn_en_json_francais(serveur, document):
    """Ce que gunicorn refuse avant Flask (ligne de requête trop longue, en-têtes trop nombreux ou trop
    longs, requête mal formée) reçoit l'erreur JSON de l'API (schéma Erreur), en français."""
    cas = [
        ("ligne_trop_longue", en_tete("GET", "/predictions/" + "a" * 5000, {}), 414, "ligne de requête trop longue"),
        ("en_tetes_trop_nombreux", en_tete("GET", "/", {f"X-E{i}": "x" for i in range(200)}), 431, "en-têtes"),
        ("en_tete_trop_long", en_tete("GET", "/", {"X-Request-ID": "a" * 9000}), 431, "en-têtes"),
        ("en_tete_mal_forme", b"GET / HTTP/1.1\r\nHost: x\r\nsans deux-points\r\n\r\n", 400, "mal formée"),
        ("version_http_inconnue", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "mal formée"),
    ]
    for nom, requete, attendu, extrait in cas:
        statut, corps = brut(serveur.url, requete)
        assert statut == attendu, (nom, statut, corps[:200])
        assert extrait in _erreur_json(document, statut, corps)["erreur"], nom
    # Le type de contenu aussi : lu sur la réponse entière.
    with requests.get(serveur.url + "/" + "a" * 5000, timeout=10) as reponse:
        assert reponse.status_code == 414 and reponse.headers["Content-Type"] == "application/json; charset=utf-8"
        assert reponse.json()["details"][0]["champ"] == "(ligne de requête)"


def test_route_inconnue_et_methode_avant_l_en_tete_x_request_id(serveur):
    mauvais = {"X-Request-ID": "pas valide !"}
    inconnue = requests.get(serveur.url + "/inconnue", headers=mauvais, timeout=10)
    assert inconnue.status_code == 404 and "introuvable" in inconnue.json()["erreur"]
    methode = requests.delete(serveur.url + "/predire", headers=mauvais, timeout=10)
    assert methode.status_code == 405 and "POST" in methode.headers["Allow"]
    assert "méthode" in methode.json()["erreur"]
    # Sur une route existante, avec la bonne méthode, l'en-tête est vérifié : 400.
    route = requests.post(serveur.url + "/predire", json={}, headers=mauvais, timeout=10)
    assert route.status_code == 400 and route.json()["details"][0]["champ"] == "X-Request-ID"


# --- Version 2 du contrat : ce qu'un client généré dans un autre langage peut croire ---------------

def _schemas_de_reponse(document: dict) -> set[str]:
    """Les composants atteints depuis une réponse (références suivies de proche en proche)."""
    schemas, vus, a_voir = document["components"]["schemas"], set(), []
    for _, _, operation in operations(document):
        for reponse in operation["responses"].values():
            a_voir += [c["schema"] for c in reponse.get("content", {}).values()]
    while a_voir:
        noeud = a_voir.pop()
        if isinstance(noeud, dict):
            if "$ref" in noeud and (nom := noeud["$ref"].rsplit("/", 1)[1]) not in vus:
                vus.add(nom)
                a_voir.append(schemas[nom])
            a_voir += [v for k, v in noeud.items() if k != "$ref"]
        elif isinstance(noeud, list):
            a_voir += noeud
    return vus


def test_aucun_default_dans_le_document(document):
    """Un « default » fait croire à openapi-typescript (et à d'autres) qu'une clé de réponse est toujours là,
    et rend obligatoire à écrire un champ de requête que le serveur complète : il n'y en a aucun."""
    assert "'default'" not in str(document)


def test_reponses_strictes_requis_present_entiers_en_entiers(document):
    """Chaque objet de réponse déclare toutes ses clés (``additionalProperties: false``) et dit requise chaque
    clé que le serveur envoie toujours ; aucun entier de réponse n'admet du texte (int|string : requêtes
    seulement)."""
    schemas = document["components"]["schemas"]
    reponses = _schemas_de_reponse(document)
    assert {"Resultat", "ReponsePrediction", "ReponseLot", "Effacement", "Historique", "Erreur", "Eleve"} <= reponses
    for nom in sorted(reponses):
        schema = schemas[nom]
        if "properties" not in schema:
            continue  # énumération
        assert schema.get("additionalProperties") is False, nom
        facultatives = set(schema["properties"]) - set(schema.get("required", []))
        assert facultatives <= ({"element"} if nom == "DetailErreur" else set()), (nom, facultatives)
        for champ, propriete in schema["properties"].items():
            formes = propriete.get("anyOf", [propriete])
            assert not any(f.get("type") == "string" and "pattern" in f for f in formes), (nom, champ)
    for champ in NUMERIQUES:
        assert schemas["Resultat"]["properties"][champ].get("type", "") in ("integer", ""), champ
    # Un résultat, une forme : /predire et chaque élément d'un lot renvoient au même composant.
    assert schemas["ReponsePrediction"]["properties"]["resultats"] == {"$ref": "#/components/schemas/Resultat"}
    assert schemas["ReponseLot"]["properties"]["resultats"]["items"] == {"$ref": "#/components/schemas/Resultat"}
    # Ce que le serveur complète est facultatif à l'envoi.
    assert schemas["DemandeHistorique"]["required"] == ["user_id"]
    assert set(schemas["DemandePrediction"]["required"]) == set(CATEGORIES) | set(NUMERIQUES) - {"G1", "G2"}


def test_lot_csv_operation_a_part_motif_jusqu_a_10000_lignes(document, exemple):
    from app.modele.lots import LOT_MAX

    lot = document["paths"]["/predire/lot"]["post"]
    assert list(lot["requestBody"]["content"]) == ["application/json"]
    assert list(lot["responses"]["200"]["content"]) == ["application/json"]
    csv = document["paths"]["/predire/lot/csv"]["post"]
    assert list(csv["requestBody"]["content"]) == ["text/csv"] == list(csv["responses"]["200"]["content"])
    motif = re.compile(csv["requestBody"]["content"]["text/csv"]["schema"]["pattern"].replace("$", r"\Z"))
    ligne = ";".join(str(v) for v in exemple.values())
    assert motif.match(";".join(exemple) + "\n" + (ligne + "\n") * LOT_MAX)
    assert not motif.match(";".join(exemple) + "\n")


def test_routes_depreciees_et_liens_vers_les_routes_post(document):
    chemins = document["paths"]
    for methode in ("get", "delete"):
        operation = chemins["/predictions/user/{user_id}"][methode]
        assert operation["deprecated"] is True
        assert {"Deprecation", "Sunset"} <= set(operation["responses"]["200"]["headers"])
    cibles = {lien["operationId"] for _, _, operation in operations(document)
              for reponse in operation["responses"].values() for lien in reponse.get("links", {}).values()}
    assert {"rechercherHistorique", "effacerEleve", "lirePrediction"} == cibles  # aucun lien vers une route dépréciée


def test_version_majeure_du_contrat(document):
    assert document["info"]["version"].split(".")[0] == "2"


def test_la_verification_des_reponses_refuse_cle_absente_cle_en_trop_et_entier_en_texte(document):
    """La vérification branchée sur chaque réponse de la suite (``test/contrat_reponses.py``) n'est pas
    complaisante : l'exemple de /predire passe, chacune de ses altérations est refusée."""
    from test.contrat_reponses import contrat_http

    exemple = document["paths"]["/predire"]["post"]["responses"]["200"]["content"]["application/json"]["example"]

    def ecarts(corps, statut=200, chemin="/predire", methode="POST"):
        return contrat_http().ecarts(methode, "http://127.0.0.1:1" + chemin, statut, "application/json",
                                     json.dumps(corps).encode())

    assert ecarts(exemple) == []
    sans = {**exemple, "resultats": {k: v for k, v in exemple["resultats"].items() if k != "avertissements"}}
    en_trop = {**exemple, "resultats": {**exemple["resultats"], "remarque": "x"}}
    texte = {**exemple, "resultats": {**exemple["resultats"], "age": "16"}}
    for altere in (sans, en_trop, texte, {**exemple, "user_id": "eleve-0042"}):
        assert ecarts(altere), altere
    assert ecarts({"erreur": "x", "details": []}, statut=418) == []  # statut non déclaré : une Erreur suffit
    assert ecarts({"erreur": "x"}, statut=418)
    assert ecarts({}, statut=201)  # succès non déclaré

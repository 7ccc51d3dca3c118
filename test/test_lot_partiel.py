"""``POST /predire/lot/partiel`` (page ``/classe``) par HTTP, contre le vrai gunicorn : lignes invalides
mises à part avec leur numéro, champ et règle, les autres prédites et conservées ; colonnes hors
schéma renvoyées mais jamais conservées ; un en-tête inutilisable refuse encore tout."""

import csv
import io

import requests

from app.modele.schema import CHAMPS
from app.web.contrat import ReponseLotPartielle

URL = "/predire/lot/partiel"
CSV = {"Content-Type": "text/csv"}


def _csv(jeu, n, separateur=";", supplementaires=("nom",), modifier=None):
    """Les ``n`` premiers élèves du fichier UCI (sans G3), colonnes en plus d'abord ; ``modifier(i, ligne)``."""
    sortie = io.StringIO()
    redacteur = csv.writer(sortie, delimiter=separateur, lineterminator="\n")
    redacteur.writerow([*supplementaires, *CHAMPS])
    for i, eleve in enumerate(jeu.X[list(CHAMPS)].head(n).to_dict(orient="records")):
        ligne = {**{c: f"{c} {i + 1}" for c in supplementaires}, **eleve}
        if modifier:
            modifier(i, ligne)
        redacteur.writerow(ligne.values())
    return sortie.getvalue()


def test_csv_lignes_invalides_mises_a_part_colonnes_en_plus_gardees(serveur, jeu):
    def abimer(i, ligne):
        if i == 1:
            ligne["age"] = "40"
        if i == 3:
            ligne.update(sex="X", Medu="9")
        if i == 4:
            ligne["G1"] = ligne["G2"] = ""  # valide : configuration C

    texte = _csv(jeu, 6, supplementaires=("nom", "numero"), modifier=abimer)
    texte += "Élève 7;7;GP\n"  # trop peu de cellules
    avant = len(serveur.lignes_journal())
    reponse = requests.post(serveur.url + URL, data=texte.encode(), headers={**CSV, "X-Request-ID": "classe-3b"},
                            timeout=60)
    assert reponse.status_code == 200, reponse.text
    corps = reponse.json()
    ReponseLotPartielle.model_validate(corps)  # la forme documentée dans /openapi.json
    assert (corps["nombre"], corps["recus"], corps["colonnes_supplementaires"]) == (4, 7, ["nom", "numero"])
    assert [r["position"] for r in corps["resultats"]] == [2, 4, 6, 7]  # en-tête = ligne 1
    assert [r["request_id"] for r in corps["resultats"]] == ["classe-3b-1", "classe-3b-3", "classe-3b-5", "classe-3b-6"]
    assert corps["resultats"][0]["supplementaires"] == {"nom": "nom 1", "numero": "numero 1"}
    assert corps["resultats"][2]["configuration"] == "C"
    assert corps["rejets"] == [
        {"position": 3, "supplementaires": {"nom": "nom 2", "numero": "numero 2"},
         "problemes": [{"champ": "age", "message": "valeur 40 hors limites : entier de 15 à 22 attendu"}]},
        {"position": 5, "supplementaires": {"nom": "nom 4", "numero": "numero 4"},
         "problemes": [{"champ": "sex", "message": "valeur non permise 'X' ; valeurs permises : F, M"},
                       {"champ": "Medu", "message": "valeur 9 hors limites : entier de 0 à 4 attendu"}]},
        {"position": 8, "supplementaires": {},
         "problemes": [{"champ": "(ligne)", "message": "3 valeurs pour 34 colonnes"}]},
    ]
    # Seuls les élèves prédits sont conservés, sans leurs colonnes en plus (un nom n'entre jamais au journal).
    lignes = serveur.lignes_journal()[avant:]
    assert [l["request_id"] for l in lignes] == [r["request_id"] for r in corps["resultats"]]
    assert not any("nom " in str(l) or "numero" in str(l) for l in lignes)


def test_json_partiel_cles_en_plus_gardees_casse_refusee(serveur, exemple):
    elements = [{**exemple, "nom": "Ana", "classe": "2nde B"}, 17, {**{k: v for k, v in exemple.items() if k != "age"},
                                                                 "Age": 16}, {**exemple, "user_id": "eleve-partiel-1"}]
    reponse = requests.post(serveur.url + URL, json=elements, headers={"X-Request-ID": "partiel-json"}, timeout=30)
    assert reponse.status_code == 200, reponse.text
    corps = reponse.json()
    ReponseLotPartielle.model_validate(corps)
    assert corps["colonnes_supplementaires"] == ["nom", "classe"]
    assert [(r["position"], r["request_id"], r["supplementaires"], r["user_id"]) for r in corps["resultats"]] == [
        (0, "partiel-json-1", {"nom": "Ana", "classe": "2nde B"}, None),
        (3, "partiel-json-4", {}, "eleve-partiel-1")]
    assert corps["rejets"][0] == {"position": 1, "supplementaires": {}, "problemes": [
        {"champ": "(élément)", "message": "un objet JSON avec les attributs de l'élève est attendu"}]}
    problemes = {p["champ"]: p["message"] for p in corps["rejets"][1]["problemes"]}
    assert problemes["age"] == "champ obligatoire manquant" and "vouliez-vous dire « age »" in problemes["Age"]


def test_aucune_ligne_valide_200_et_rien_de_conserve(serveur, jeu):
    texte = _csv(jeu, 3, modifier=lambda i, ligne: ligne.update(failures="-1"))
    avant = len(serveur.lignes_journal())
    reponse = requests.post(serveur.url + URL, data=texte.encode(), headers=CSV, timeout=30)
    assert reponse.status_code == 200
    corps = reponse.json()
    assert corps["nombre"] == 0 and corps["resultats"] == [] and len(corps["rejets"]) == 3
    assert len(serveur.lignes_journal()) == avant


def test_en_tete_inutilisable_refuse_tout(serveur, jeu):
    avant = len(serveur.lignes_journal())
    entete, *lignes = _csv(jeu, 2, supplementaires=()).splitlines()
    cas = {
        "G3": (entete + ";G3\n" + lignes[0] + ";12\n", "G3", "note finale"),
        "casse": (entete.replace("age", "Age") + "\n" + lignes[0] + "\n", "Age", "vouliez-vous dire « age »"),
        "manquante": (entete.replace(";absences", "") + "\n" + lignes[0].rsplit(";", 3)[0] + "\n",
                      "absences", "obligatoire manquante"),
        "double": ("nom;nom;" + entete + "\na;b;" + lignes[0] + "\n", "nom", "deux fois"),
    }
    for nom, (texte, champ, extrait) in cas.items():
        reponse = requests.post(serveur.url + URL, data=texte.encode(), headers=CSV, timeout=30)
        assert reponse.status_code == 400, nom
        details = {d["champ"]: d["message"] for d in reponse.json()["details"]}
        assert extrait in details[champ], (nom, details)
    assert len(serveur.lignes_journal()) == avant


def test_separateur_virgule_et_colonne_sans_nom_ignoree(serveur, jeu):
    texte = "\n".join(ligne + "," for ligne in _csv(jeu, 3, separateur=",").splitlines()) + "\n"
    corps = requests.post(serveur.url + URL, data=texte.encode(), headers=CSV, timeout=30).json()
    assert corps["nombre"] == 3 and corps["colonnes_supplementaires"] == ["nom"]
    assert corps["resultats"][2]["supplementaires"] == {"nom": "nom 3"}


def test_le_mode_entier_reste_entier(serveur, jeu):
    """/predire/lot/csv garde sa règle : une colonne en plus ou une ligne invalide, et rien n'est prédit."""
    avant = len(serveur.lignes_journal())
    texte = _csv(jeu, 2)
    assert requests.post(serveur.url + "/predire/lot/csv", data=texte.encode(), headers=CSV, timeout=30).status_code == 400
    texte = _csv(jeu, 2, supplementaires=(), modifier=lambda i, ligne: ligne.update(age="99") if i else None)
    refuse = requests.post(serveur.url + "/predire/lot/csv", data=texte.encode(), headers=CSV, timeout=30)
    detail = refuse.json()["details"][0]
    assert refuse.status_code == 400 and (detail["element"], detail["champ"]) == (2, "age")
    assert "(ligne 3 du fichier)" in detail["message"]
    assert len(serveur.lignes_journal()) == avant


def test_documente_dans_openapi(serveur):
    document = requests.get(serveur.url + "/openapi.json", timeout=10).json()
    operation = document["paths"]["/predire/lot/partiel"]["post"]
    assert operation["operationId"] == "predireLotPartiel" and operation["tags"] == ["prediction"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ReponseLotPartielle")
    assert set(operation["requestBody"]["content"]) == {"application/json", "text/csv"}
    page = document["paths"]["/classe"]["get"]
    assert page["operationId"] == "pageClasse" and "text/html" in page["responses"]["200"]["content"]
    assert "302" in document["paths"]["/"]["get"]["responses"]

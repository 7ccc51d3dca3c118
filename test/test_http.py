"""L'API par HTTP, contre un vrai gunicorn (configuration de production) sur 127.0.0.1."""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.modele.schema import CHAMPS


def poster(serveur, corps=None, **options):
    entetes = {"Content-Type": "application/json", **options.pop("headers", {})}
    donnees = corps if isinstance(corps, (str, bytes)) or corps is None else json.dumps(corps)
    return requests.post(serveur.url + "/predire", data=donnees, headers=entetes, timeout=30, **options)


def test_accueil(serveur):
    reponse = requests.get(serveur.url + "/", timeout=10)
    assert reponse.status_code == 200
    corps = reponse.json()
    assert "Bienvenue" in corps["message"] and corps["version"]
    assert {"/", "/predire", "/health", "/ready", "/modele", "/openapi.json", "/docs"} <= {r["route"] for r in corps["routes"]}
    # Chaque route servie est décrite, et sa description est le résumé de l'OpenAPI (une seule source) :
    # une route ajoutée sans entrée dans le document OpenAPI ferait échouer ce test.
    document = requests.get(serveur.url + "/openapi.json", timeout=10).json()
    for route in corps["routes"]:
        chemin = route["route"].replace("<", "{").replace(">", "}")
        for methode in route["methodes"]:
            assert document["paths"][chemin][methode.lower()]["summary"] in route["description"]


def test_sante_et_disponibilite(serveur):
    assert requests.get(serveur.url + "/health", timeout=10).json() == {"statut": "ok"}
    pret = requests.get(serveur.url + "/ready", timeout=10)
    assert pret.status_code == 200 and pret.json()["pret"] is True


def test_modele(serveur, artefacts_livres):
    corps = requests.get(serveur.url + "/modele", timeout=10).json()
    assert corps["sha256"] == artefacts_livres.sha256
    assert corps["model_version"] == artefacts_livres.fiche["version_modele"]
    assert corps["configurations"]["C"]["variables"] == [c for c in CHAMPS if c not in ("G1", "G2")]
    assert corps["configurations"]["A"]["seuil"] == artefacts_livres.fiche["configurations"]["A"]["seuil"]


def test_openapi_et_docs(serveur):
    document = requests.get(serveur.url + "/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1")
    assert list(document["components"]["schemas"]["Eleve"]["properties"]) == list(CHAMPS)
    docs = requests.get(serveur.url + "/docs", timeout=10)
    assert docs.status_code == 200 and "text/html" in docs.headers["Content-Type"]
    assert all(f"<code>{c}</code>" in docs.text for c in CHAMPS)


def test_prediction_garde_la_forme_du_projet_d_origine(serveur, exemple):
    reponse = poster(serveur, exemple, headers={"X-Request-ID": "essai-forme-1"})
    assert reponse.status_code == 200, reponse.text
    corps = reponse.json()
    assert reponse.headers["X-Request-ID"] == corps["request_id"] == "essai-forme-1"
    r = corps["resultats"]
    assert {k: r[k] for k in exemple} == exemple
    assert r["prediction"] in (0, 1) and r["libelle"] == ("échec" if r["prediction"] == 0 else "réussite")
    assert r["probabilite_echec"] + r["probabilite_reussite"] == pytest.approx(1)
    assert r["configuration"] == "A" and r["explication"]
    assert corps["model_version"] and corps["inference_time_ms"] > 0
    lignes = [l for l in serveur.lignes_journal() if l["request_id"] == "essai-forme-1"]
    assert len(lignes) == 1 and lignes[0]["probabilite_echec"] == r["probabilite_echec"]
    assert lignes[0]["entrees"] == {**exemple} and lignes[0]["seuil"] == r["seuil"]


@pytest.mark.parametrize("retirees, configuration", [(("G2",), "B"), (("G1", "G2"), "C")])
def test_alerte_precoce(serveur, exemple, retirees, configuration):
    corps = {k: v for k, v in exemple.items() if k not in retirees}
    reponse = poster(serveur, corps)
    assert reponse.status_code == 200
    assert reponse.json()["resultats"]["configuration"] == configuration
    assert reponse.json()["resultats"]["avertissements"]
    nulls = poster(serveur, {**exemple, **dict.fromkeys(retirees)})
    assert nulls.json()["resultats"]["configuration"] == configuration


def test_identifiant_genere_si_absent(serveur, exemple):
    reponse = poster(serveur, exemple)
    assert uuid.UUID(reponse.headers["X-Request-ID"]).hex == reponse.json()["request_id"]


def _sans(exemple, champ):
    return {k: v for k, v in exemple.items() if k != champ}


CAS_400 = [
    ("champ_manquant", lambda e: _sans(e, "age"), "age", "manquant"),
    ("mauvais_type", lambda e: {**e, "absences": "beaucoup"}, "absences", "entier"),
    ("hors_limites", lambda e: {**e, "age": 30}, "age", "de 15 à 22"),
    ("categorie_inconnue", lambda e: {**e, "Mjob": "astronaute"}, "Mjob", "valeurs permises"),
    ("champ_inconnu", lambda e: {**_sans(e, "age"), "Age": 16}, "Age", "champ inconnu"),
    ("null_interdit", lambda e: {**e, "sex": None}, "sex", "null"),
    ("note_hors_limites", lambda e: {**e, "G2": 21}, "G2", "de 0 à 20"),
]


@pytest.mark.parametrize("cas, fabrique, champ, extrait", CAS_400, ids=[c[0] for c in CAS_400])
def test_erreurs_400_nomment_le_champ_et_la_regle(serveur, exemple, cas, fabrique, champ, extrait):
    avant = len(serveur.lignes_journal())
    reponse = poster(serveur, fabrique(exemple))
    assert reponse.status_code == 400
    corps = reponse.json()
    assert champ in corps["erreur"]
    assert any(d["champ"] == champ and extrait in d["message"] for d in corps["details"]), corps
    assert len(serveur.lignes_journal()) == avant


@pytest.mark.parametrize("corps, extrait", [
    ("", "vide"), ("{\"age\": ", "JSON mal formé"), ("[1, 2]", "liste"), ('"texte"', "chaîne"),
    ('{"age": NaN}', "NaN"), ('{"age": 1, "age": 2}', "double"), ("9" * 5000, "nombre"),
    ("[" * 30000 + "]" * 30000, "imbrication"),
])
def test_corps_invalides(serveur, corps, extrait):
    reponse = poster(serveur, corps)
    assert reponse.status_code in (400, 413)
    assert extrait in reponse.json()["erreur"]


def test_type_de_contenu_methode_route_taille(serveur, exemple):
    mauvais_type = requests.post(serveur.url + "/predire", data=json.dumps(exemple),
                                 headers={"Content-Type": "text/plain"}, timeout=10)
    assert mauvais_type.status_code == 415 and "application/json" in mauvais_type.json()["erreur"]
    methode = requests.get(serveur.url + "/predire", timeout=10)
    assert methode.status_code == 405 and "méthode" in methode.json()["erreur"]
    inconnue = requests.get(serveur.url + "/inconnue", timeout=10)
    assert inconnue.status_code == 404 and "introuvable" in inconnue.json()["erreur"]
    trop_gros = poster(serveur, '{"a": "' + "x" * (2 * 1024 * 1024) + '"}')
    assert trop_gros.status_code == 413 and "volumineux" in trop_gros.json()["erreur"]


def test_request_id_invalide(serveur, exemple):
    reponse = poster(serveur, exemple, headers={"X-Request-ID": "pas valide !"})
    assert reponse.status_code == 400 and reponse.json()["details"][0]["champ"] == "X-Request-ID"


def test_journal_non_inscriptible_503_et_ready_faux(demarrer_serveur, tmp_path, exemple):
    dossier = tmp_path / "lecture_seule"
    dossier.mkdir()
    serveur = demarrer_serveur(env={"JOURNAL_CHEMIN": str(dossier / "sous" / "absent" / "j.jsonl")}).attendre()
    reponse = poster(serveur, exemple)
    assert reponse.status_code == 503 and "journal" in reponse.json()["erreur"]
    pret = requests.get(serveur.url + "/ready", timeout=10)
    assert pret.status_code == 503 and pret.json()["verifications"]["journal"]["ok"] is False


def test_demarrage_refuse_si_modele_altere(demarrer_serveur, tmp_path):
    import shutil

    from test.conftest import CODE
    for nom in ("modele_trees.pkl", "features.pkl", "model_card.json"):
        shutil.copy(CODE / nom, tmp_path / nom)
    chemin = tmp_path / "modele_trees.pkl"
    octets = bytearray(chemin.read_bytes())
    octets[100] ^= 0xFF
    chemin.write_bytes(bytes(octets))
    serveur = demarrer_serveur(env={"MODELE_CHEMIN": str(chemin)})
    assert serveur.processus.wait(60) != 0
    assert "a été modifié" in serveur.journal_serveur()


def test_concurrence_2000_requetes_16_connexions_2_workers(demarrer_serveur, exemple):
    serveur = demarrer_serveur(workers=2).attendre()
    session_par_fil = {}

    def une(i):
        import threading
        session = session_par_fil.setdefault(threading.get_ident(), requests.Session())
        corps = {**exemple, "absences": i % 94, "G1": i % 21}
        reponse = session.post(serveur.url + "/predire", json=corps, timeout=60)
        return reponse.status_code, reponse.json()["request_id"]

    with ThreadPoolExecutor(max_workers=16) as executeur:
        resultats = list(executeur.map(une, range(2000)))
    assert [s for s, _ in resultats].count(200) == 2000
    lignes = serveur.journal.read_text(encoding="utf-8").splitlines()
    enregistrements = [json.loads(l) for l in lignes]  # chaque ligne est un JSON complet
    assert len(enregistrements) == 2000
    assert len({e["request_id"] for e in enregistrements}) == 2000
    assert {e["request_id"] for e in enregistrements} == {i for _, i in resultats}
    print(f"\nconcurrence : 2000 requêtes, 16 connexions, 2 workers → {len(lignes)} lignes, "
          f"{len({e['request_id'] for e in enregistrements})} request_id distincts")

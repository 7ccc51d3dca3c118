"""Dérive (PSI) : référence fidèle aux données, variables décalées repérées et elles seules, lecture bornée
du journal, ``GET /derive`` par HTTP contre gunicorn (jeton)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests

from app.modele.derive import compter, derive, lire_reference, psi
from app.stockage.enregistrement import nouvel_enregistrement
from app.stockage.journal import JournalRequetes
from test.conftest import CODE

JETON = "jeton-de-derive-" + "y" * 40
AUTORISE = {"Authorization": f"Bearer {JETON}"}
DECALEES = {"age", "absences", "Mjob"}


@pytest.fixture(scope="module")
def reference():
    return lire_reference(CODE / "reference_derive.json")


def decaler(eleve: dict) -> dict:
    """Trois variables décalées, les 29 autres intactes."""
    return {**eleve, "age": min(int(eleve["age"]) + 2, 22), "absences": min(int(eleve["absences"]) * 3 + 6, 93),
            "Mjob": "services" if eleve["Mjob"] in ("other", "at_home") else eleve["Mjob"]}


def echantillon(jeu, n: int, graine: int = 3) -> list[dict]:
    lignes = jeu.X.astype(object).to_dict(orient="records")
    rangs = np.random.default_rng(graine).integers(0, len(lignes), n)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in lignes[r].items()} for r in rangs]


def en_journal(eleves: list[dict], configuration: str = "A", alertes: int = 0) -> list[dict]:
    return [nouvel_enregistrement(request_id=f"r{i}", user_id=None, configuration=configuration, entrees=e,
                                  prediction=0 if i < alertes else 1, probabilite_echec=0.05,
                                  probabilite_reussite=0.95, seuil=0.14, model_version="essai", canal="http")
            for i, e in enumerate(eleves)]


def test_reference_versionnee_egale_a_celle_des_donnees(chemin_donnees, reference):
    """code/reference_derive.json est celle que `make reference` écrit depuis code/student-por.csv et le
    modèle livré : sinon, relancez make reference."""
    from app.entrainement.reference import calculer

    recalculee = json.loads(json.dumps(calculer(chemin_donnees, n_jobs=1)))
    assert recalculee == reference
    assert reference["eleves"] == 649 and sum(reference["variables"]["sex"]["effectifs"]) == 649


def test_psi_formule_et_cas_limites():
    assert psi([50, 50], [50, 50]) == 0.0
    attendu = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert psi([1, 1], [8, 2]) == pytest.approx(attendu)
    assert np.isfinite(psi([1, 0], [0, 1]))  # case vide : plancher, jamais l'infini
    assert list(compter({"type": "bornes", "bornes": [0.5, 2.5]}, [0, 1, 2, 3, None, 9])) == [1, 2, 2]
    assert list(compter({"type": "categories", "valeurs": ["F", "M"]}, ["M", "M", "F"])) == [1, 2]


def test_echantillon_decale_repere_les_variables_decalees_et_elles_seules(jeu, reference, mesurer):
    eleves = echantillon(jeu, 3000)
    intacts = derive(reference, en_journal(eleves))
    assert intacts["derivees"] == []
    decales = derive(reference, en_journal([decaler(e) for e in eleves]))
    assert set(decales["derivees"]) == DECALEES
    for nom, variable in decales["variables"].items():
        if nom in DECALEES:
            assert variable["psi"] >= 0.25 and variable["niveau"] == "forte", nom
        else:
            assert variable["psi"] < 0.1 and variable["psi"] == intacts["variables"][nom]["psi"], nom
    mesurer("dérive : PSI des variables décalées",
            ", ".join(f"{n} {decales['variables'][n]['psi']:.2f}" for n in sorted(DECALEES))
            + f" ; plus grand PSI des autres {max(v['psi'] for n, v in decales['variables'].items() if n not in DECALEES):.3f}")


def test_notes_absentes_et_taux_d_alerte(jeu, reference):
    eleves = [{**e, "G1": None, "G2": None} for e in echantillon(jeu, 500)]
    attendu = reference["prediction"]["C"]["taux_alerte"]
    conforme = derive(reference, en_journal(eleves, "C", alertes=round(attendu * 500)))
    assert conforme["variables"]["G1"]["n"] == 0 and conforme["variables"]["G1"]["niveau"] == "inconnu"
    assert "G1" not in conforme["derivees"]
    taux = conforme["taux_echec_predit"]["C"]
    assert set(conforme["taux_echec_predit"]) == {"C"} and taux["n"] == 500 and not taux["ecart"]
    assert taux["ic95"][0] <= attendu <= taux["ic95"][1]
    double = derive(reference, en_journal(eleves, "C", alertes=round(2 * attendu * 500)))
    assert double["taux_echec_predit"]["C"]["ecart"]
    assert double["taux_echec_predit"]["C"]["niveau_probabilite"] == "forte"  # toutes à 0,05 : loin de la référence


def test_journal_dernieres_lignes_bornees(tmp_path, jeu):
    journal = JournalRequetes(tmp_path / "j.jsonl")
    assert journal.dernieres(10) == ([], 0)  # pas encore de fichier
    enregistrements = en_journal(echantillon(jeu, 1500))
    journal.ecrire(enregistrements[:700])
    with open(journal.chemin, "ab") as fichier:
        fichier.write(b"pas du json\n[1, 2]\n")
    journal.ecrire(enregistrements[700:])
    lus, ignorees = journal.dernieres(10)
    assert [e["request_id"] for e in lus] == [e["request_id"] for e in enregistrements[-10:]] and ignorees == 0
    lus, ignorees = journal.dernieres(802)  # traverse plusieurs blocs de lecture et les deux lignes illisibles
    assert [e["request_id"] for e in lus] == [e["request_id"] for e in enregistrements[-800:]] and ignorees == 2
    lus, ignorees = journal.dernieres(100_000)
    assert len(lus) == 1500 and ignorees == 2
    assert JournalRequetes(tmp_path / "x.jsonl", mode="stdout").dernieres(10) == ([], 0)


def test_derive_fermee_sans_api_token(serveur):
    reponse = requests.get(serveur.url + "/derive", headers=AUTORISE, timeout=30)
    assert reponse.status_code == 403 and "API_TOKEN" in reponse.json()["erreur"]


def test_derive_par_http_jeton_parametres_et_reference_absente(demarrer_serveur, jeu, tmp_path):
    serveur = demarrer_serveur(env={"API_TOKEN": JETON}).attendre()
    url = serveur.url + "/derive"
    assert requests.get(url, timeout=30).status_code == 401
    vide = requests.get(url, headers=AUTORISE, timeout=30)
    assert vide.status_code == 200 and vide.json()["n"] == 0 and vide.json()["avertissements"]
    eleves = [decaler({**e, "G2": None}) for e in echantillon(jeu, 300, graine=5)]
    for debut in range(0, len(eleves), 100):
        reponse = requests.post(serveur.url + "/predire/lot", json=eleves[debut:debut + 100], timeout=120)
        assert reponse.status_code == 200, reponse.text[:500]
    corps = requests.get(url, params={"derniers": 300}, headers=AUTORISE, timeout=30).json()
    assert corps["n"] == 300 and corps["derniers"] == 300 and corps["lignes_ignorees"] == 0
    assert set(corps["derivees"]) >= DECALEES and "G2" not in corps["derivees"]
    assert set(corps["taux_echec_predit"]) == {"B"} and corps["taux_echec_predit"]["B"]["n"] == 300
    assert corps["reference"]["version_modele"] == requests.get(serveur.url + "/modele", timeout=30).json()["model_version"]
    assert requests.get(url, params={"derniers": 50}, headers=AUTORISE, timeout=30).json()["n"] == 50
    for parametres in ({"derniers": 5}, {"derniers": "abc"}, {"derniers": 20_000}, {"page": 2}):
        reponse = requests.get(url, params=parametres, headers=AUTORISE, timeout=30)
        assert reponse.status_code == 400 and reponse.json()["details"], parametres
    assert "/derive" in {r["route"] for r in requests.get(serveur.url + "/", timeout=30).json()["routes"]}
    operation = requests.get(serveur.url + "/openapi.json", timeout=30).json()["paths"]["/derive"]["get"]
    assert operation["operationId"] == "deriveRecente" and operation["tags"] == ["surveillance"]
    journal_serveur = serveur.journal_serveur()
    assert JETON not in journal_serveur and "absences" not in journal_serveur

    sans_reference = demarrer_serveur(env={"API_TOKEN": JETON, "REFERENCE_DERIVE_CHEMIN": str(tmp_path / "absente.json")},
                                      workers=1).attendre()
    reponse = requests.get(sans_reference.url + "/derive", headers=AUTORISE, timeout=30)
    assert reponse.status_code == 503 and "make reference" in reponse.json()["erreur"]

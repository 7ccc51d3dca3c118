"""Par HTTP, l'API sert exactement le pipeline livré, pour chaque élève du fichier, et journalise selon le mode."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.modele.pipeline import probabilite_echec
from app.modele.schema import CONFIGURATIONS

RETIREES = {"A": (), "B": ("G2",), "C": ("G1", "G2")}


@pytest.mark.parametrize("configuration", ["A", "B", "C"])
def test_probabilites_http_egales_au_pipeline_pour_chaque_ligne(serveur, jeu, artefacts_livres, configuration):
    entree = artefacts_livres.modele["configurations"][configuration]
    attendues = probabilite_echec(entree["pipeline"], jeu.X[list(CONFIGURATIONS[configuration])])
    lignes = [{k: v for k, v in l.items() if k not in RETIREES[configuration]}
              for l in jeu.X.to_dict(orient="records")]

    def une(ligne):
        with requests.post(serveur.url + "/predire", json=ligne, timeout=60) as reponse:
            return reponse.status_code, reponse.json()["resultats"]

    with ThreadPoolExecutor(max_workers=4) as executeur:
        reponses = list(executeur.map(une, lignes))
    for (statut, resultats), attendue in zip(reponses, attendues):
        assert statut == 200
        assert resultats["configuration"] == configuration
        assert resultats["probabilite_echec"] == pytest.approx(float(attendue), abs=1e-12)
        assert resultats["prediction"] == (0 if attendue >= entree["seuil"] else 1)


def test_mode_stdout_une_ligne_json_par_prediction_sans_fichier(demarrer_serveur, exemple):
    serveur = demarrer_serveur(workers=1, env={"JOURNAL_MODE": "stdout"}).attendre()
    identifiants = [f"stdout-{i}" for i in range(5)]
    for identifiant in identifiants:
        reponse = requests.post(serveur.url + "/predire", json=exemple, headers={"X-Request-ID": identifiant}, timeout=30)
        assert reponse.status_code == 200
    serveur.arreter()
    enregistrements = []
    for ligne in serveur.sortie.read_text(encoding="utf-8").splitlines():
        if ligne.startswith("{"):
            enregistrements.append(json.loads(ligne))
    assert [e["request_id"] for e in enregistrements] == identifiants
    assert not serveur.journal.exists()


def test_mode_aucun_ne_journalise_rien(demarrer_serveur, exemple):
    serveur = demarrer_serveur(workers=1, env={"JOURNAL_MODE": "aucun"}).attendre()
    assert requests.post(serveur.url + "/predire", json=exemple, timeout=30).status_code == 200
    assert not serveur.journal.exists()


def test_configuration_invalide_refuse_le_demarrage(demarrer_serveur):
    serveur = demarrer_serveur(workers=1, env={"JOURNAL_MODE": "partout"})
    assert serveur.processus.wait(60) != 0
    assert "JOURNAL_MODE" in serveur.journal_serveur()


def test_seuil_force_par_l_environnement(demarrer_serveur, exemple):
    serveur = demarrer_serveur(workers=1, env={"SEUIL_DECISION": "A=0.000001"}).attendre()
    resultats = requests.post(serveur.url + "/predire", json=exemple, timeout=30).json()["resultats"]
    assert resultats["seuil"] == 0.000001
    assert resultats["prediction"] == (0 if resultats["probabilite_echec"] >= 0.000001 else 1)
    modele = requests.get(serveur.url + "/modele", timeout=30).json()
    assert modele["configurations"]["A"]["seuil"] == 0.000001

"""Le prédicteur sert exactement le pipeline entraîné, au seuil de la fiche, et s'explique."""

import numpy as np
import pytest

from app.modele.pipeline import en_tableau, probabilite_echec
from app.modele.predicteur import Predicteur, confiance
from app.modele.schema import CONFIGURATIONS, Eleve


@pytest.fixture(scope="module")
def predicteur(artefacts_livres):
    return Predicteur(artefacts_livres)


@pytest.mark.parametrize("configuration", ["A", "B", "C"])
def test_probabilites_egales_au_pipeline(jeu, artefacts_livres, predicteur, configuration):
    entree = artefacts_livres.modele["configurations"][configuration]
    attendues = probabilite_echec(entree["pipeline"], jeu.X[list(CONFIGURATIONS[configuration])])
    masque = {"A": [], "B": ["G2"], "C": ["G1", "G2"]}[configuration]
    for position, ligne in list(enumerate(jeu.X.to_dict(orient="records")))[::7]:
        eleve = Eleve.model_validate({**ligne, **dict.fromkeys(masque)})
        prediction = predicteur.predire(eleve)
        assert prediction.configuration == configuration
        assert prediction.probabilite_echec == pytest.approx(attendues[position], abs=1e-12)
        assert prediction.probabilite_reussite == pytest.approx(1 - attendues[position], abs=1e-12)
        attendu = 0 if attendues[position] >= entree["seuil"] else 1
        assert prediction.prediction == attendu


def test_explication_redonne_la_prediction(jeu, artefacts_livres, predicteur):
    entree = artefacts_livres.modele["configurations"]["A"]
    explicateur = predicteur._explicateurs["A"]
    tableau = en_tableau(jeu.X.head(40).to_dict(orient="records"), "A")
    transforme = entree["pipeline"][:-1].transform(tableau)
    p = probabilite_echec(entree["pipeline"], tableau)
    for ligne, attendu in zip(transforme, p):
        depart, contributions = explicateur.contributions(ligne)
        brut = depart + contributions.sum()
        valeur = brut if explicateur.en_probabilite else 1 / (1 + np.exp(-brut))
        assert valeur == pytest.approx(attendu, abs=1e-9)


def test_explication_en_francais_avec_les_valeurs_de_l_eleve(exemple, predicteur):
    prediction = predicteur.predire(Eleve.model_validate({**exemple, "G1": 5, "G2": 4}))
    assert prediction.prediction == 0 and prediction.libelle == "échec"
    facteurs = prediction.explication
    assert 1 <= len(facteurs) <= 5
    assert facteurs[0]["champ"] in ("G1", "G2")
    assert "augmente le risque d'échec" in facteurs[0]["texte"]
    assert f"= {facteurs[0]['valeur']}" in facteurs[0]["texte"]
    poids = [f["poids"] for f in facteurs]
    assert poids == sorted(poids, reverse=True)


def test_alerte_precoce_sans_notes(exemple, predicteur):
    sans = {k: v for k, v in exemple.items() if k not in ("G1", "G2")}
    prediction = predicteur.predire(Eleve.model_validate(sans))
    assert prediction.configuration == "C"
    assert prediction.avertissements and "C" in prediction.avertissements[0]
    assert all(f["champ"] not in ("G1", "G2") for f in prediction.explication)


def test_seuil_force(artefacts_livres, exemple):
    normal = Predicteur(artefacts_livres).predire(Eleve.model_validate(exemple))
    assert normal.prediction == 1 and normal.probabilite_echec < 0.5
    force = Predicteur(artefacts_livres, {"A": normal.probabilite_echec / 2 or 1e-9})
    prediction = force.predire(Eleve.model_validate(exemple))
    assert prediction.seuil == force.seuils["A"] != normal.seuil
    assert prediction.prediction == (0 if prediction.probabilite_echec >= prediction.seuil else 1)
    assert force.seuils["B"] == normal_seuil_b(artefacts_livres)


def normal_seuil_b(artefacts_livres):
    return artefacts_livres.modele["configurations"]["B"]["seuil"]


def test_confiance():
    assert confiance(0.5, 0.5) == 0.0
    assert confiance(1.0, 0.3) == 1.0 and confiance(0.0, 0.3) == 1.0
    assert confiance(0.65, 0.3) == pytest.approx(0.5)

"""Les artefacts livrés sont cohérents avec leur fiche ; un modèle altéré n'est jamais chargé."""

import json
import shutil

import joblib
import pytest

from app.entrainement.empreintes import empreinte_predictions
from app.modele import artefacts
from app.modele.artefacts import ErreurArtefacts
from app.modele.schema import CONFIGURATIONS
from test.conftest import CODE


def test_fiche_decrit_le_pickle_livre():
    fiche = json.loads((CODE / "model_card.json").read_text(encoding="utf-8"))
    assert fiche["sha256_modele"] == artefacts.sha256_fichier(CODE / "modele_trees.pkl")
    assert fiche["version_modele"] == fiche["sha256_modele"][:12]
    assert (CODE / "model_card.md").read_text(encoding="utf-8").count(fiche["sha256_modele"]) == 1


def test_empreinte_des_predictions_recalculee(jeu, artefacts_livres, chemin_donnees):
    assert artefacts_livres.fiche["donnees"]["sha256"] == artefacts.sha256_fichier(chemin_donnees)
    assert empreinte_predictions(artefacts_livres.modele, jeu.X) == artefacts_livres.fiche["empreintes_predictions"]


def test_variables_conformes_au_schema():
    assert joblib.load(CODE / "features.pkl") == {c: list(v) for c, v in CONFIGURATIONS.items()}


@pytest.fixture()
def copie(tmp_path):
    for nom in (artefacts.NOM_MODELE, artefacts.NOM_VARIABLES, artefacts.NOM_FICHE):
        shutil.copy(CODE / nom, tmp_path / nom)
    return tmp_path


def test_un_octet_change_et_le_modele_est_refuse_sans_etre_charge(copie, monkeypatch):
    chemin = copie / artefacts.NOM_MODELE
    octets = bytearray(chemin.read_bytes())
    octets[len(octets) // 2] ^= 0x01
    chemin.write_bytes(bytes(octets))
    charge = []
    monkeypatch.setattr(joblib, "load", lambda *a, **k: charge.append(a))
    with pytest.raises(ErreurArtefacts, match="modifié"):
        artefacts.charger(copie)
    assert charge == []


def test_variables_differentes_du_schema_refusees(copie):
    joblib.dump({"A": ["age"], "B": [], "C": []}, copie / artefacts.NOM_VARIABLES)
    with pytest.raises(ErreurArtefacts, match="schéma"):
        artefacts.charger(copie)


def test_version_de_scikit_learn_verifiee(copie):
    chemin = copie / artefacts.NOM_FICHE
    fiche = json.loads(chemin.read_text(encoding="utf-8"))
    fiche["versions"]["scikit-learn"] = "0.24.2"
    chemin.write_text(json.dumps(fiche), encoding="utf-8")
    with pytest.raises(ErreurArtefacts, match="scikit-learn 0.24.2"):
        artefacts.charger(copie)


def test_artefact_manquant(copie):
    (copie / artefacts.NOM_FICHE).unlink()
    with pytest.raises(ErreurArtefacts, match="introuvable"):
        artefacts.charger(copie)

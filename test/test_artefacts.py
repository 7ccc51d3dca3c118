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
    with pytest.raises(ErreurArtefacts, match="modifié"):  # l'empreinte ancrée le refuse d'abord
        artefacts.charger(copie)
    empreintes = (artefacts.empreintes_ancrees()[0], artefacts.sha256_fichier(copie / artefacts.NOM_VARIABLES))
    with pytest.raises(ErreurArtefacts, match="schéma"):  # imposé par la configuration : le contenu est vérifié
        artefacts.charger(copie, empreintes=empreintes)


def test_empreintes_ancrees_dans_le_code_sont_celles_des_artefacts_livres():
    assert artefacts.empreintes_ancrees() == (artefacts.sha256_fichier(CODE / artefacts.NOM_MODELE),
                                              artefacts.sha256_fichier(CODE / artefacts.NOM_VARIABLES))
    assert artefacts.CHEMIN_EMPREINTES.parent != CODE


class _Piege:
    """Un pickle qui, désérialisé, crée un fichier témoin (du code exécuté au chargement)."""

    def __init__(self, marqueur):
        self.marqueur = str(marqueur)

    def __reduce__(self):
        return (open, (self.marqueur, "w"))


def test_features_pkl_piege_jamais_deserialise(copie, tmp_path, mesurer):
    """Avant : features.pkl était désérialisé sans vérification (au démarrage et à la construction de
    l'image) ; un fichier piégé exécutait son code."""
    import pickle

    marqueur = tmp_path / "execute"
    (copie / artefacts.NOM_VARIABLES).write_bytes(pickle.dumps(_Piege(marqueur)))
    pickle.loads((copie / artefacts.NOM_VARIABLES).read_bytes())  # témoin : le piège fonctionne
    assert marqueur.exists()
    marqueur.unlink()
    for differe in (False, True):
        with pytest.raises(ErreurArtefacts, match="la liste des variables .* a été modifié"):
            artefacts.charger(copie, differe=differe)
    assert not marqueur.exists()
    mesurer("features.pkl piégé", "refusé avant désérialisation, code jamais exécuté (avant : exécuté)")


def test_modele_et_fiche_remplaces_ensemble_refuses(copie):
    """Remplacer tout le dossier (pickle et fiche cohérents entre eux) ne suffit pas : l'empreinte attendue
    est dans le code, pas dans la fiche."""
    chemin = copie / artefacts.NOM_MODELE
    octets = bytearray(chemin.read_bytes())
    octets[len(octets) // 3] ^= 0x01
    chemin.write_bytes(bytes(octets))
    fiche = json.loads((copie / artefacts.NOM_FICHE).read_text(encoding="utf-8"))
    fiche["sha256_modele"] = artefacts.sha256_octets(bytes(octets))
    (copie / artefacts.NOM_FICHE).write_text(json.dumps(fiche), encoding="utf-8")
    with pytest.raises(ErreurArtefacts, match="le modèle .* a été modifié"):
        artefacts.charger(copie)


def test_empreintes_de_la_configuration_validees():
    from app.config import Configuration, ErreurConfiguration

    assert Configuration.depuis_environnement({}).empreintes is None
    sha = "ab" * 32
    assert Configuration.depuis_environnement({"MODELE_SHA256": sha.upper()}).empreintes == (sha, "")
    with pytest.raises(ErreurConfiguration, match="VARIABLES_SHA256"):
        Configuration.depuis_environnement({"VARIABLES_SHA256": "123"})


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

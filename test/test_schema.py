"""Le schéma : source unique des champs, règles de student.txt, messages en français."""

import numpy as np
import pytest
from pydantic import ValidationError

from app.modele.classes import (
    CLASSE_ECHEC,
    CLASSE_REUSSITE,
    classe_predite,
    classes_predites,
)
from app.modele.erreurs_validation import detailler
from app.modele.schema import (
    CATEGORIES,
    CHAMPS,
    CONFIGURATIONS,
    NUMERIQUES,
    DemandePrediction,
    Eleve,
    bornes,
    configuration_pour,
    configurations_pour,
)


def erreurs(document):
    with pytest.raises(ValidationError) as info:
        Eleve.model_validate(document)
    return {d["champ"]: d["message"] for d in detailler(info.value)}


def test_trente_deux_champs_dans_l_ordre_du_fichier_uci(chemin_donnees):
    entete = chemin_donnees.read_text(encoding="utf-8").splitlines()[0].replace('"', "")
    assert list(CHAMPS) == entete.split(";")[:-1]  # tout sauf G3
    assert len(CHAMPS) == 32 and "G3" not in CHAMPS
    assert set(CATEGORIES) | set(NUMERIQUES) == set(CHAMPS)


def test_configurations_derivent_du_schema():
    assert CONFIGURATIONS["A"] == CHAMPS
    assert set(CHAMPS) - set(CONFIGURATIONS["B"]) == {"G2"}
    assert set(CHAMPS) - set(CONFIGURATIONS["C"]) == {"G1", "G2"}


@pytest.mark.parametrize("champ, minimum, maximum", [
    ("age", 15, 22), ("Medu", 0, 4), ("Fedu", 0, 4), ("traveltime", 1, 4), ("studytime", 1, 4),
    ("failures", 0, 4), ("famrel", 1, 5), ("health", 1, 5), ("absences", 0, 93), ("G1", 0, 20), ("G2", 0, 20),
])
def test_bornes_de_student_txt(exemple, champ, minimum, maximum):
    assert bornes(champ) == (minimum, maximum)
    for valeur in (minimum, maximum):
        assert getattr(Eleve.model_validate({**exemple, champ: valeur}), champ) == valeur
    for valeur in (minimum - 1, maximum + 1):
        message = erreurs({**exemple, champ: valeur})[champ]
        assert f"entier de {minimum} à {maximum}" in message


def test_valeurs_categorielles(exemple):
    assert CATEGORIES["Mjob"] == ("teacher", "health", "services", "at_home", "other")
    message = erreurs({**exemple, "Mjob": "pilote"})["Mjob"]
    assert "'pilote'" in message and "teacher" in message


def test_champ_inconnu_refuse_avec_suggestion(exemple):
    document = dict(exemple)
    document["Age"] = document.pop("age")
    messages = erreurs(document)
    assert "champ inconnu" in messages["Age"] and "« age »" in messages["Age"]
    assert messages["age"] == "champ obligatoire manquant"


def test_entiers_en_texte_acceptes_booleens_et_decimaux_refuses(exemple):
    assert Eleve.model_validate({**exemple, "G1": "11", "age": "16"}).G1 == 11
    assert Eleve.model_validate({**exemple, "age": 16.0}).age == 16
    assert "entier" in erreurs({**exemple, "age": 16.5})["age"]
    assert "booléen" in erreurs({**exemple, "failures": True})["failures"]
    assert "entier" in erreurs({**exemple, "age": "seize"})["age"]
    # Seulement des chiffres ASCII, sans signe, espace ni zéro initial : ce que dit le document OpenAPI.
    for texte in ("+16", "016", "١٦", " 16", "16 ", "16\n", "-0", "1_6"):
        assert "chiffres 0-9" in erreurs({**exemple, "age": texte})["age"], texte


def test_entiers_en_texte_du_dict_exactement_ceux_de_l_expression_reguliere():
    """``ENTIERS_TEXTE`` (la recherche rapide) accepte exactement ce que ``FORME_ENTIER_TEXTE`` accepte, avec la même
    valeur : tous les textes de 1 à 4 caractères parmi chiffres, signes, espace, chiffre arabe-indien."""
    import itertools

    from app.modele.schema import ENTIERS_TEXTE, FORME_ENTIER_TEXTE

    alphabet = "0123456789+- ٣"
    for longueur in range(1, 5):
        for caracteres in itertools.product(alphabet, repeat=longueur):
            texte = "".join(caracteres)
            attendu = int(texte) if FORME_ENTIER_TEXTE.fullmatch(texte) else None
            assert ENTIERS_TEXTE.get(texte) == attendu, texte


def test_null_refuse_sauf_pour_les_notes(exemple):
    assert "null" in erreurs({**exemple, "age": None})["age"]
    assert "null" in erreurs({**exemple, "school": None})["school"]
    eleve = Eleve.model_validate({**exemple, "G1": None, "G2": None})
    assert configuration_pour(eleve) == "C"


def test_configuration_selon_les_notes(exemple):
    sans = {k: v for k, v in exemple.items() if k not in ("G1", "G2")}
    assert configuration_pour(Eleve.model_validate(exemple)) == "A"
    assert configuration_pour(Eleve.model_validate({**sans, "G1": 9})) == "B"
    assert configuration_pour(Eleve.model_validate(sans)) == "C"
    assert configuration_pour(Eleve.model_validate({**sans, "G2": 9})) == "C"


def test_regles_d_un_eleve_et_d_un_lot_identiques(exemple):
    """La règle A/B/C et la règle de décision ont une forme pour un élève et une pour un lot (numpy) :
    elles doivent dire la même chose dans tous les cas."""
    sans = {k: v for k, v in exemple.items() if k not in ("G1", "G2")}
    eleves = [Eleve.model_validate({**sans, **notes}) for notes in ({}, {"G1": 9}, {"G2": 9}, {"G1": 9, "G2": 9})]
    g1 = np.array([e.G1 is not None for e in eleves])
    g2 = np.array([e.G2 is not None for e in eleves])
    assert configurations_pour(g1, g2).tolist() == [configuration_pour(e) for e in eleves]
    probabilites = np.array([0.0, 0.1385, np.nextafter(0.1385, 0), 0.5, 1.0])
    assert classes_predites(probabilites, 0.1385).tolist() == [classe_predite(p, 0.1385) for p in probabilites.tolist()]
    assert [classe_predite(p, 0.1385) for p in (0.1385, 0.1384)] == [CLASSE_ECHEC, CLASSE_REUSSITE]


def test_entrees_de_la_demande_egales_au_model_dump(exemple):
    """``DemandePrediction.entrees()`` (chemin rapide de /predire) donne exactement ``Eleve.model_dump()``,
    y compris pour des entiers reçus en texte et des notes absentes, et jamais ``user_id``."""
    from app.modele.eleves_aleatoires import eleves_aleatoires

    documents = [{**exemple, "user_id": "eleve-7"}, {**exemple, "G1": "11", "age": "17", "G2": None}]
    documents += eleves_aleatoires(200, graine=5, notes_absentes=0.3)
    for document in documents:
        demande = DemandePrediction.model_validate(document)
        attendu = Eleve.model_validate({k: v for k, v in document.items() if k != "user_id"}).model_dump()
        assert demande.entrees() == attendu
        assert list(demande.entrees()) == list(CHAMPS) and "user_id" not in demande.entrees()

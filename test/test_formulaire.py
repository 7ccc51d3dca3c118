"""Le formulaire de la page ``/classe`` est dérivé du schéma : mêmes champs, mêmes valeurs, mêmes bornes,
et le sens de chaque valeur lu dans les descriptions (aucune seconde liste de champs)."""

import pytest

from app.modele.schema import CATEGORIES, CHAMPS, NOTES, Eleve, bornes
from app.web.formulaire import champs_formulaire, texte_valeur, textes_valeurs


def test_un_controle_par_champ_du_schema_dans_l_ordre():
    champs = champs_formulaire()
    assert [c["nom"] for c in champs] == [*CHAMPS, "user_id"]
    for champ in champs[:-1]:
        assert champ["libelle"] and champ["aide"] == Eleve.model_fields[champ["nom"]].description
        assert champ["facultatif"] == (champ["nom"] in NOTES)
        if champ["nom"] in CATEGORIES:
            assert [o["valeur"] for o in champ["options"]] == list(CATEGORIES[champ["nom"]])
        elif champ["options"]:
            minimum, maximum = bornes(champ["nom"])
            assert [o["valeur"] for o in champ["options"]] == [str(v) for v in range(minimum, maximum + 1)]
        else:
            assert champ["bornes"] == bornes(champ["nom"])
    assert champs[-1]["facultatif"] and "pseudonyme" in champs[-1]["aide"]


def test_chaque_valeur_categorielle_a_un_sens_en_francais():
    """Une valeur ajoutée au schéma sans son sens dans la description ferait échouer ce test."""
    textes = textes_valeurs()
    sans_sens = [(nom, v) for nom, valeurs in CATEGORIES.items() for v in valeurs if textes[nom][v] == v]
    assert sans_sens == []


@pytest.mark.parametrize("champ,valeur,attendu", [
    ("school", "GP", "Gabriel Pereira"),
    ("Medu", 0, "aucune"),
    ("Medu", 4, "supérieur"),
    ("traveltime", 2, "15–30 min"),
    ("famrel", 1, "très mauvaises"),
    ("famrel", 3, "moyennes"),  # chaque échelle de 1 à 5 nomme chaque valeur avec les mots de son champ
    ("Dalc", 5, "très élevée"),
    ("health", 4, "bon"),
    ("failures", 0, ""),        # « (0 à 3 ; 4 pour davantage) » n'est pas un libellé de 0
    ("Mjob", "at_home", "au foyer"),
    ("higher", "yes", "oui"),
])
def test_sens_d_une_valeur_lu_dans_la_description(champ, valeur, attendu):
    assert texte_valeur(Eleve.model_fields[champ].description, valeur) == attendu


def test_echelles_de_1_a_5_dites_pour_chaque_valeur():
    textes = textes_valeurs()
    echelles = [nom for nom in CHAMPS if nom not in CATEGORIES and bornes(nom) == (1, 5)]
    assert len(echelles) == 6
    for nom in echelles:
        mots = [textes[nom][str(v)] for v in range(1, 6)]
        assert all(m and m != str(v) for v, m in zip(range(1, 6), mots)) and len(set(mots)) == 5, nom

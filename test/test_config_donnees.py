"""Valeurs limites de la configuration et du fichier d'entraînement : une erreur claire, jamais une trace."""

import pytest

from app.config import Configuration, ErreurConfiguration
from app.entrainement.donnees import ErreurDonnees, lire_donnees


@pytest.mark.parametrize("port", ["²", "80a", "0", "70000", "-1"])
def test_port_invalide_nomme_la_variable(port):
    with pytest.raises(ErreurConfiguration, match="PORT"):
        Configuration.depuis_environnement({"PORT": port})


@pytest.mark.parametrize("valeur", ["0", "65", "deux", "-1"])
def test_lots_simultanes_invalide_nomme_la_variable(valeur):
    with pytest.raises(ErreurConfiguration, match="LOTS_SIMULTANES"):
        Configuration.depuis_environnement({"LOTS_SIMULTANES": valeur})
    assert Configuration.depuis_environnement({}).lots_simultanes == 2
    assert Configuration.depuis_environnement({"LOTS_SIMULTANES": "4"}).lots_simultanes == 4


@pytest.mark.parametrize("note", ["+-5", "21", "dix", "4.5"])
def test_note_finale_invalide_nommee(tmp_path, chemin_donnees, note):
    lignes = chemin_donnees.read_text(encoding="utf-8").splitlines()
    champs = lignes[1].split(";")
    champs[-1] = note
    fichier = tmp_path / "donnees.csv"
    fichier.write_text("\n".join([lignes[0], ";".join(champs), *lignes[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(ErreurDonnees, match=r"ligne 2, colonne G3 : note finale invalide"):
        lire_donnees(fichier)

"""La commande d'entraînement, de bout en bout sur le vrai fichier (mode rapide)."""

import hashlib
import json
import subprocess
import sys

import pytest

from app.modele import artefacts
from test.conftest import RACINE


def entrainer(*arguments, cwd=RACINE, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "app.entrainement", *map(str, arguments)],
                          cwd=cwd, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def sortie_rapide(tmp_path_factory, chemin_donnees):
    sortie = tmp_path_factory.mktemp("artefacts")
    resultat = entrainer("--donnees", chemin_donnees, "--sortie", sortie, "--rapide")
    assert resultat.returncode == 0, resultat.stderr
    return sortie, resultat


def test_entrainement_rapide_ecrit_des_artefacts_chargeables(sortie_rapide):
    sortie, resultat = sortie_rapide
    # Hors de code/, les empreintes ne sont pas ancrées : la commande les affiche pour MODELE_SHA256.
    ligne = next(l for l in resultat.stderr.splitlines() if "MODELE_SHA256=" in l)
    valeurs = dict(mot.split("=", 1) for mot in ligne.split() if "SHA256=" in mot)
    assert valeurs["MODELE_SHA256"] == artefacts.sha256_fichier(sortie / artefacts.NOM_MODELE)
    with pytest.raises(artefacts.ErreurArtefacts, match="modifié"):  # le modèle livré reste seul attendu
        artefacts.charger(sortie)
    charges = artefacts.charger(sortie, empreintes=(valeurs["MODELE_SHA256"], valeurs["VARIABLES_SHA256"]))
    assert set(charges.modele["configurations"]) == {"A", "B", "C"}
    fiche = charges.fiche
    assert fiche["donnees"]["lignes"] == 649 and fiche["donnees"]["classes"] == {"echec": 100, "reussite": 549}
    for configuration in "ABC":
        conf = fiche["configurations"][configuration]
        assert 0 < conf["seuil"] < 1
        assert 0.80 < conf["evaluation"]["metriques"]["exactitude_05"]["moyenne"] <= 1
    assert "pli 5/5" in resultat.stderr  # progression affichée
    assert (sortie / "model_card.md").read_text(encoding="utf-8").startswith("# Fiche du modèle")


def test_meme_graine_memes_artefacts(sortie_rapide, tmp_path, chemin_donnees):
    sortie, _ = sortie_rapide
    # Le suivi MLflow est facultatif : demandé sans mlflow installé, il est ignoré et le dit.
    resultat = entrainer("--donnees", chemin_donnees, "--sortie", tmp_path, "--rapide",
                         env={"MLFLOW_TRACKING_URI": str(tmp_path / "mlruns")})
    assert resultat.returncode == 0, resultat.stderr
    assert "mlflow n'est pas installé" in resultat.stderr
    premiere = json.loads((sortie / "model_card.json").read_text(encoding="utf-8"))
    seconde = json.loads((tmp_path / "model_card.json").read_text(encoding="utf-8"))
    assert premiere["sha256_modele"] == seconde["sha256_modele"]
    assert premiere["empreintes_predictions"] == seconde["empreintes_predictions"]
    for configuration in "ABC":
        assert (premiere["configurations"][configuration]["evaluation"]["metriques"]
                == seconde["configurations"][configuration]["evaluation"]["metriques"])


def test_separateur_virgule_et_notes_sans_guillemets(tmp_path, chemin_donnees, sortie_rapide):
    lignes = chemin_donnees.read_text(encoding="utf-8").splitlines()
    (tmp_path / "virgules.csv").write_text("\n".join(l.replace('"', "").replace(";", ",") for l in lignes) + "\n")
    from app.entrainement.donnees import lire_donnees

    origine, copie = lire_donnees(chemin_donnees), lire_donnees(tmp_path / "virgules.csv")
    assert origine.X.equals(copie.X) and (origine.y == copie.y).all()


def _empreintes(dossier):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(dossier.iterdir())}


@pytest.mark.parametrize("cas, contenu, message", [
    ("manquant", None, "introuvable"),
    ("vide", "", "vide"),
    ("colonne_manquante", lambda l: [";".join(l[0].split(";")[1:])] + [";".join(x.split(";")[1:]) for x in l[1:]], "colonnes manquantes : school"),
    ("colonne_en_trop", lambda l: [l[0] + ';"extra"'] + [x + ";1" for x in l[1:]], "colonnes inconnues : extra"),
    ("note_non_numerique", lambda l: [l[0], l[1].replace('"0";"11"', '"zero";"11"')] + l[2:], "ligne 2, colonne G1"),
    ("seulement_l_en_tete", lambda l: l[:1], "aucun élève"),
    ("une_seule_classe", lambda l: [l[0]] + [x for x in l[1:] if int(x.split(";")[-1]) >= 10], "une seule classe"),
])
def test_mauvaises_donnees_message_clair_et_artefacts_intacts(tmp_path, chemin_donnees, cas, contenu, message):
    sortie = tmp_path / "sortie"
    sortie.mkdir()
    for nom in ("modele_trees.pkl", "features.pkl", "model_card.json", "model_card.md"):
        (sortie / nom).write_bytes((RACINE / "code" / nom).read_bytes())
    avant = _empreintes(sortie)
    fichier = tmp_path / f"{cas}.csv"
    if callable(contenu):
        lignes = chemin_donnees.read_text(encoding="utf-8").splitlines()
        fichier.write_text("\n".join(contenu(lignes)) + "\n", encoding="utf-8")
    elif contenu is not None:
        fichier.write_text(contenu, encoding="utf-8")
    resultat = entrainer("--donnees", fichier, "--sortie", sortie, "--rapide")
    assert resultat.returncode != 0
    assert message in resultat.stderr
    assert "Traceback" not in resultat.stderr
    assert _empreintes(sortie) == avant

"""Le modèle tel qu'il est servi (modèle compilé de ``app.modele.predicteur``), appliqué à un fichier
étiqueté : pour le recalibrage et pour un rapport sur d'autres élèves que ceux de l'entraînement."""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.config import Configuration
from app.modele import artefacts
from app.modele.compile.chargement import compiles_pour
from app.modele.predicteur import Predicteur
from app.modele.verification import masquer_notes


def predicteur_servi(seuils: dict[str, float] | None = None) -> Predicteur:
    """Le prédicteur de l'API (artefacts de ``code/``, modèle compilé, seuils de la fiche ou ``seuils``)."""
    config = Configuration()
    charges = artefacts.charger(modele=config.chemin_modele, variables=config.chemin_variables,
                                fiche=config.chemin_fiche, differe=True)
    return Predicteur(charges, seuils, compiles_pour(charges, config.chemin_compile))


def enregistrements(X: pd.DataFrame, configuration: str) -> list[dict]:
    """Les élèves du fichier tels que l'API les recevrait pour ``configuration`` : B sans G2, C sans note."""
    return masquer_notes(X.astype(object).to_dict(orient="records"), configuration)


def probabilites_servies(predicteur: Predicteur, X: pd.DataFrame, configuration: str) -> np.ndarray:
    """P(échec) que l'API servirait à chaque élève du fichier, dans ``configuration``."""
    lot = predicteur.predire_lot(enregistrements(X, configuration))
    assert (lot.configurations == configuration).all()
    return lot.probabilite_echec

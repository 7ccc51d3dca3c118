"""Empreinte des prédictions : prouve que le pickle livré est celui que décrit sa fiche."""

from __future__ import annotations

import hashlib

import pandas as pd

from app.modele.classes import classes_predites
from app.modele.pipeline import probabilite_echec


def empreinte_predictions(modele: dict, X: pd.DataFrame) -> dict[str, str]:
    """sha256 de la suite des classes prédites (au seuil servi) pour chaque ligne, par configuration."""
    empreintes = {}
    for configuration, entree in modele["configurations"].items():
        p = probabilite_echec(entree["pipeline"], X[entree["variables"]])
        classes = "".join(map(str, classes_predites(p, entree["seuil"]).tolist()))
        empreintes[configuration] = hashlib.sha256(classes.encode("ascii")).hexdigest()
    return empreintes

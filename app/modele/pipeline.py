"""Construction des pipelines scikit-learn : de l'enregistrement brut aux probabilités.

Tout l'encodage vit dans le pipeline (ColumnTransformer), entraîné et servi par le même
objet : l'erreur du projet d'origine (modèle entraîné sur des colonnes transformées mais
servi sur d'autres) ne peut pas se reproduire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from app.modele.classes import CLASSE_ECHEC
from app.modele.schema import CATEGORIES, CONFIGURATIONS, NUMERIQUES

__all__ = ["preprocesseur", "construire_pipeline", "en_tableau", "probabilite_echec"]


def preprocesseur(configuration: str) -> ColumnTransformer:
    """One-hot des champs catégoriels (catégories fixées par le schéma), entiers tels quels."""
    variables = CONFIGURATIONS[configuration]
    categoriels = [c for c in variables if c in CATEGORIES]
    numeriques = [c for c in variables if c in NUMERIQUES]
    encodeur = OneHotEncoder(
        categories=[list(CATEGORIES[c]) for c in categoriels],
        drop="if_binary",
        sparse_output=False,
        handle_unknown="error",
        dtype=np.float64,
    )
    return ColumnTransformer(
        [("categoriels", encodeur, categoriels), ("numeriques", "passthrough", numeriques)],
        remainder="drop",
        verbose_feature_names_out=False,
    )


def construire_pipeline(configuration: str, classifieur: ClassifierMixin) -> Pipeline:
    return Pipeline([("preparation", preprocesseur(configuration)), ("classifieur", classifieur)])


def en_tableau(enregistrements: Iterable[Mapping], configuration: str) -> pd.DataFrame:
    """Les enregistrements validés, en DataFrame aux colonnes de la configuration."""
    variables = list(CONFIGURATIONS[configuration])
    tableau = pd.DataFrame.from_records(
        [{v: e[v] for v in variables} for e in enregistrements], columns=variables
    )
    numeriques = [c for c in variables if c in NUMERIQUES]
    tableau[numeriques] = tableau[numeriques].astype(np.int64)
    return tableau


def probabilite_echec(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """P(échec) pour chaque ligne, quelle que soit la place de la classe 0 dans ``classes_``."""
    colonne = list(pipeline.classes_).index(CLASSE_ECHEC)
    return pipeline.predict_proba(X)[:, colonne]


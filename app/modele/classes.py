"""Les deux classes prédites (cible du modèle) et la règle de décision servie, sans pandas ni
scikit-learn : importables partout (entraînement, évaluation, chemin rapide de l'API)."""

import numpy as np

CLASSE_ECHEC = 0
CLASSE_REUSSITE = 1


def classe_predite(p_echec: float, seuil: float) -> int:
    """Règle de décision servie : échec (0) quand P(échec) ≥ seuil, sinon réussite (1)."""
    return CLASSE_ECHEC if p_echec >= seuil else CLASSE_REUSSITE


def classes_predites(p_echec: np.ndarray, seuil) -> np.ndarray:
    """``classe_predite`` élément par élément (``seuil`` : un nombre ou un tableau de même forme)."""
    return np.where(p_echec >= seuil, CLASSE_ECHEC, CLASSE_REUSSITE)

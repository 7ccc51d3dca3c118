"""Les modèles candidats de chaque configuration, choisis par validation croisée interne.

La grille est petite et fixée à l'avance ; le choix entre ses candidats se fait dans les
plis d'entraînement seulement (voir ``evaluation``). Le journal dit pourquoi ces modèles.
"""

from __future__ import annotations

from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

from app.evaluation import Candidat
from app.pipeline import construire_pipeline


def candidats(configuration: str, graine: int) -> list[Candidat]:
    grille = {
        "gb_p2_n100": GradientBoostingClassifier(n_estimators=100, max_depth=2, learning_rate=0.05, random_state=graine),
        "rf_300_mf05": RandomForestClassifier(n_estimators=300, max_features=0.5, random_state=graine, n_jobs=1),
    }
    return [Candidat(nom, construire_pipeline(configuration, modele)) for nom, modele in grille.items()]

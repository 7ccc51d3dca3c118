"""Les modèles candidats de chaque configuration, choisis par validation croisée interne.

La grille est petite et fixée à l'avance ; le choix entre ses candidats se fait dans les
plis d'entraînement seulement (voir ``evaluation``). Le journal dit pourquoi ces modèles :

- A et B (avec notes) : vote souple d'un arbre de profondeur 1 (une coupure sur la dernière
  note connue, presque imbattable au seuil 0,5) et de souches de gradient boosting, qui
  ordonnent finement les élèves proches de la coupure : c'est ce qui permet de régler le
  seuil d'alerte (rappel des échecs ≥ 80 %) sans alerter tout le monde.
- C (sans note) : gradient boosting de profondeur 2, le plus exact, deux fois moins coûteux
  que les forêts aléatoires.
"""

from __future__ import annotations

from sklearn.ensemble import GradientBoostingClassifier, VotingClassifier
from sklearn.tree import DecisionTreeClassifier

from app.entrainement.evaluation import Candidat
from app.modele.pipeline import construire_pipeline

ARBRES_BOOSTING = {"AB": (25, 50, 100), "C": (50, 100, 150)}


def _grille(configuration: str, graine: int) -> dict:
    if configuration in ("A", "B"):
        return {
            f"vote_arbre_p1_gb_p1_n{n}": VotingClassifier(
                [("arbre", DecisionTreeClassifier(max_depth=1, random_state=graine)),
                 ("souches", GradientBoostingClassifier(n_estimators=n, max_depth=1, learning_rate=0.1,
                                                        random_state=graine))],
                voting="soft")
            for n in ARBRES_BOOSTING["AB"]
        }
    return {f"gb_p2_n{n}": GradientBoostingClassifier(n_estimators=n, max_depth=2, learning_rate=0.05,
                                                      subsample=0.8, random_state=graine)
            for n in ARBRES_BOOSTING["C"]}


def candidats(configuration: str, graine: int) -> list[Candidat]:
    return [Candidat(nom, construire_pipeline(configuration, modele))
            for nom, modele in _grille(configuration, graine).items()]

"""Un vote souple (``VotingClassifier(voting="soft")``) de modèles arborescents, compilé.

Chaque membre est un ``ArbresCompiles`` (même encodage). La probabilité refait
``np.average`` de scikit-learn (somme des membres dans l'ordre, puis division par leur nombre,
ou somme pondérée divisée par la somme des poids) ; l'explication refait
``Explicateur.contributions`` pour un vote (``app.modele.explication``) : contributions de chaque
membre ramenées en points de probabilité, puis pondérées. Mêmes opérations, même ordre,
mêmes flottants — en une ligne comme en lot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.modele.compile.arbres import ArbresCompiles
from app.modele.explication import log_cotes_en_probabilite


@dataclass(eq=False)
class VoteCompile:
    configuration: str
    membres: tuple[ArbresCompiles, ...]
    poids_vote: np.ndarray | None
    """Poids de ``np.average`` (scikit-learn) ; None : moyenne simple."""
    poids_explication: np.ndarray
    """Poids normalisés de l'explication (``w / somme des w``, comme app.modele.explication)."""
    departs: np.ndarray
    """Valeur de départ de l'explication de chaque membre (log-cote pour le boosting)."""

    en_probabilite = True

    def __post_init__(self) -> None:
        premier = self.membres[0]
        self.champs = premier.champs
        self.colonnes = premier.colonnes

    def encoder(self, valeurs: dict) -> np.ndarray:
        return self.membres[0].encoder(valeurs)

    def noms_colonnes(self) -> tuple[str, ...]:
        return self.membres[0].noms_colonnes()

    def encoder_lot(self, colonnes: dict[str, np.ndarray]) -> np.ndarray:
        return self.membres[0].encoder_lot(colonnes)

    def _voter(self, probabilites: list):
        if self.poids_vote is None:
            total = probabilites[0]
            for p in probabilites[1:]:
                total = total + p
            return total / len(probabilites)
        total = probabilites[0] * self.poids_vote[0]
        for p, w in zip(probabilites[1:], self.poids_vote[1:]):
            total = total + p * w
        return total / self.poids_vote.sum()

    def _en_probabilite(self, membre: ArbresCompiles, depart: float, par_champ: np.ndarray):
        """``Explicateur.contributions_en_probabilite`` : (départ, contributions) en probabilité."""
        if membre.en_probabilite:
            return depart, par_champ
        return log_cotes_en_probabilite(depart, par_champ)

    def _combiner(self, resultats: list):
        probabilites = [p for p, _ in resultats]
        par_champ = 0.0
        for membre, depart, w, (_, contributions) in zip(self.membres, self.departs.tolist(),
                                                         self.poids_explication.tolist(), resultats):
            _, c = self._en_probabilite(membre, depart, contributions)
            par_champ = par_champ + w * c
        return self._voter(probabilites), par_champ

    def evaluer(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        p, par_champ = self._combiner([m.evaluer(x) for m in self.membres])
        return float(p), par_champ

    def evaluer_lot(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._combiner([m.evaluer_lot(X) for m in self.membres])

    # --- sérialisation ----------------------------------------------------------------------------

    def en_tableaux(self, prefixe: str) -> dict[str, np.ndarray]:
        tableaux = {f"{prefixe}vote.explication": self.poids_explication, f"{prefixe}vote.departs": self.departs,
                    f"{prefixe}vote.membres": np.array([len(self.membres)])}
        if self.poids_vote is not None:
            tableaux[f"{prefixe}vote.poids"] = self.poids_vote
        for rang, membre in enumerate(self.membres):
            tableaux.update(membre.en_tableaux(f"{prefixe}m{rang}."))
        return tableaux

    @classmethod
    def depuis_tableaux(cls, configuration: str, tableaux, prefixe: str) -> "VoteCompile":
        nombre = int(tableaux[f"{prefixe}vote.membres"][0])
        membres = tuple(ArbresCompiles.depuis_tableaux(configuration, tableaux, f"{prefixe}m{rang}.")
                        for rang in range(nombre))
        poids = tableaux[f"{prefixe}vote.poids"] if f"{prefixe}vote.poids" in tableaux else None
        return cls(configuration=configuration, membres=membres, poids_vote=poids,
                   poids_explication=tableaux[f"{prefixe}vote.explication"], departs=tableaux[f"{prefixe}vote.departs"])


def depuis_tableaux(configuration: str, tableaux, prefixe: str):
    """Relit un modèle compilé (arbres ou vote) du cache."""
    if f"{prefixe}vote.membres" in tableaux:
        return VoteCompile.depuis_tableaux(configuration, tableaux, prefixe)
    return ArbresCompiles.depuis_tableaux(configuration, tableaux, prefixe)

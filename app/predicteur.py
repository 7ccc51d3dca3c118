"""Le prédicteur : d'un élève validé (ou d'un lot) à la prédiction expliquée. Ne connaît rien de Flask.

Chaque configuration est servie par son modèle compilé (``app.arbres_compiles`` : tableaux
numpy, mêmes flottants que le pipeline) ; une configuration non compilable est servie par le
pipeline scikit-learn lui-même (chemin de repli, chargé à la demande).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from operator import itemgetter
from dataclasses import dataclass, field

import numpy as np

from app.artefacts import Artefacts
from app.arbres_compiles import ArbresCompiles
from app.vote_compile import VoteCompile
from app.classes import CLASSE_ECHEC, CLASSE_REUSSITE
from app.explication import facteurs
from app.schema import CATEGORIES, CHAMPS, CONFIGURATIONS, DESCRIPTION_CONFIGURATIONS, NOTES, Eleve, configuration_pour

LIBELLES = {CLASSE_ECHEC: "échec", CLASSE_REUSSITE: "réussite"}
AVERTISSEMENT_G2_SEUL = ("G2 sans G1 : aucune configuration n'utilise G2 seul, la note G2 a été ignorée "
                         "(configuration C, sans note)")
journal = logging.getLogger("prediction_etudiante")


@dataclass(frozen=True)
class Prediction:
    configuration: str
    prediction: int
    libelle: str
    probabilite_echec: float
    probabilite_reussite: float
    confiance_prediction: float
    seuil: float
    explication: list[dict]
    avertissements: list[str] = field(default_factory=list)


def confiance(p_echec: float, seuil: float) -> float:
    """Distance au seuil, ramenée à [0, 1] : 0 sur le seuil, 1 à la certitude (0 ou 1)."""
    if p_echec >= seuil:
        return (p_echec - seuil) / (1.0 - seuil) if seuil < 1.0 else 1.0
    return (seuil - p_echec) / seuil


def avertissements(valeurs: Mapping, configuration: str) -> list[str]:
    if valeurs["G2"] is not None and valeurs["G1"] is None:
        return [AVERTISSEMENT_G2_SEUL]
    if configuration != "A":
        return [f"configuration {configuration} ({DESCRIPTION_CONFIGURATIONS[configuration]})"]
    return []


@dataclass(frozen=True)
class LotPredictions:
    """Les prédictions d'un lot, en colonnes (dans l'ordre des élèves reçus)."""

    configurations: np.ndarray
    """Configuration de chaque élève (« A », « B », « C »)."""
    probabilite_echec: np.ndarray
    prediction: np.ndarray
    seuil: np.ndarray
    contributions: np.ndarray
    """(élèves × 32) : contribution de chaque champ, dans l'ordre de ``CHAMPS`` (0 hors configuration)."""
    en_probabilite: dict[str, bool]

    def __len__(self) -> int:
        return len(self.probabilite_echec)

    def prediction_de(self, position: int, valeurs: Mapping) -> Prediction:
        """La ``Prediction`` complète (explication en français) d'un élève du lot."""
        configuration = str(self.configurations[position])
        p_echec = float(self.probabilite_echec[position])
        seuil = float(self.seuil[position])
        classe = int(self.prediction[position])
        champs = CONFIGURATIONS[configuration]
        return Prediction(
            configuration=configuration, prediction=classe, libelle=LIBELLES[classe],
            probabilite_echec=p_echec, probabilite_reussite=1.0 - p_echec,
            confiance_prediction=confiance(p_echec, seuil), seuil=seuil,
            explication=facteurs(self.contributions[position, _POSITIONS[configuration]], champs, valeurs,
                                 self.en_probabilite[configuration]),
            avertissements=avertissements(valeurs, configuration),
        )


class _Explicateurs(dict):
    """Explicateurs de référence (``app.explication``), construits à la première demande : seul le
    chemin de repli (et les tests) en a besoin ; None si le classifieur n'est pas explicable."""

    def __init__(self, artefacts: Artefacts):
        super().__init__()
        self._artefacts = artefacts

    def __missing__(self, configuration: str):
        from app.explication import Explicateur

        try:
            explicateur = Explicateur(self._artefacts.modele["configurations"][configuration]["pipeline"])
        except TypeError:
            explicateur = None
        self[configuration] = explicateur
        return explicateur


_POSITIONS = {c: np.array([CHAMPS.index(nom) for nom in champs]) for c, champs in CONFIGURATIONS.items()}


class Predicteur:
    """Sert les trois configurations du modèle, chacune avec son seuil."""

    def __init__(self, artefacts: Artefacts, seuils_forces: dict[str, float] | None = None,
                 compiles: dict[str, ArbresCompiles | VoteCompile] | None = None):
        self.version = artefacts.fiche["version_modele"]
        self._artefacts = artefacts
        self.seuils = {c: float((seuils_forces or {}).get(c, artefacts.seuil(c))) for c in CONFIGURATIONS}
        if compiles is None:
            from app.compilation import compiler_tout

            compiles, refus = compiler_tout(artefacts.modele)
            for configuration, raison in refus.items():
                journal.warning("configuration %s servie par le pipeline (non compilée : %s)", configuration, raison)
        self._compiles = {c: m for c, m in compiles.items() if m.champs == CONFIGURATIONS[c]}
        self._explicateurs = _Explicateurs(artefacts)
        self._codes = {nom: {valeur: rang for rang, valeur in enumerate(valeurs)} for nom, valeurs in CATEGORIES.items()}

    @property
    def compilees(self) -> tuple[str, ...]:
        """Les configurations servies par le modèle compilé (les autres, par le pipeline)."""
        return tuple(sorted(self._compiles))

    def predire(self, eleve: Eleve) -> Prediction:
        valeurs = eleve.__dict__  # les 32 champs validés (pydantic), sans copie
        configuration = configuration_pour(eleve)
        compile_ = self._compiles.get(configuration)
        if compile_ is not None:
            p_echec, par_champ = compile_.evaluer(compile_.encoder(valeurs))
            explication = facteurs(par_champ, compile_.champs, valeurs, compile_.en_probabilite)
        else:
            p_echec, explication = self._par_le_pipeline(configuration, valeurs)
        seuil = self.seuils[configuration]
        classe = CLASSE_ECHEC if p_echec >= seuil else CLASSE_REUSSITE
        return Prediction(
            configuration=configuration,
            prediction=classe,
            libelle=LIBELLES[classe],
            probabilite_echec=p_echec,
            probabilite_reussite=1.0 - p_echec,
            confiance_prediction=confiance(p_echec, seuil),
            seuil=seuil,
            explication=explication,
            avertissements=avertissements(valeurs, configuration),
        )

    def _par_le_pipeline(self, configuration: str, valeurs: Mapping) -> tuple[float, list[dict]]:
        """Chemin de repli : le pipeline scikit-learn (DataFrame d'une ligne) et l'explicateur de référence."""
        from app.pipeline import en_tableau, probabilite_echec

        pipeline = self._artefacts.modele["configurations"][configuration]["pipeline"]
        tableau = en_tableau([valeurs], configuration)
        p_echec = float(probabilite_echec(pipeline, tableau)[0])
        explicateur = self._explicateurs[configuration]
        explication = [] if explicateur is None else explicateur.expliquer(pipeline[:-1].transform(tableau)[0], dict(valeurs))
        return p_echec, explication

    def predire_lot(self, lot: Sequence[Mapping]) -> LotPredictions:
        """Les prédictions d'un lot d'élèves validés (mappings des 32 champs), dans le même ordre."""
        n = len(lot)
        colonnes = self._colonnes(lot) if n else {nom: np.zeros(0) for nom in CHAMPS}
        g1, g2 = ~np.isnan(colonnes["G1"]), ~np.isnan(colonnes["G2"])
        configurations = np.where(g1 & g2, "A", np.where(g1, "B", "C"))
        probabilites = np.empty(n)
        seuils = np.empty(n)
        contributions = np.zeros((n, len(CHAMPS)))
        en_probabilite = {}
        for configuration in CONFIGURATIONS:
            positions = np.flatnonzero(configurations == configuration)
            if not len(positions):
                continue
            seuils[positions] = self.seuils[configuration]
            compile_ = self._compiles.get(configuration)
            if compile_ is None:
                sous_lot = list(map(lot.__getitem__, positions.tolist()))
                p, par_champ, en_probabilite[configuration] = self._lot_par_le_pipeline(configuration, sous_lot)
            else:
                X = compile_.encoder_lot({nom: colonnes[nom][positions] for nom in compile_.champs})
                p, par_champ = compile_.evaluer_lot(X)
                en_probabilite[configuration] = compile_.en_probabilite
            probabilites[positions] = p
            contributions[np.ix_(positions, _POSITIONS[configuration])] = par_champ
        prediction = np.where(probabilites >= seuils, CLASSE_ECHEC, CLASSE_REUSSITE)
        return LotPredictions(configurations=configurations, probabilite_echec=probabilites, prediction=prediction,
                              seuil=seuils, contributions=contributions, en_probabilite=en_probabilite)

    def _colonnes(self, lot: Sequence[Mapping]) -> dict[str, np.ndarray]:
        """Les 32 colonnes brutes du lot : entiers en flottants (note absente : NaN), catégories en
        codes (rang dans le schéma). Transposition en C (``itemgetter``, ``zip``, ``map``)."""
        colonnes = {}
        for nom, valeurs in zip(CHAMPS, zip(*map(itemgetter(*CHAMPS), lot))):
            if nom in self._codes:
                colonnes[nom] = np.fromiter(map(self._codes[nom].__getitem__, valeurs), dtype=np.intp, count=len(lot))
            elif nom in NOTES:
                colonnes[nom] = np.array([np.nan if v is None else v for v in valeurs], dtype=np.float64)
            else:
                colonnes[nom] = np.array(valeurs, dtype=np.float64)
        return colonnes

    def _lot_par_le_pipeline(self, configuration: str, lot: Sequence[Mapping]):
        from app.pipeline import en_tableau, probabilite_echec

        pipeline = self._artefacts.modele["configurations"][configuration]["pipeline"]
        tableau = en_tableau(lot, configuration)
        p = probabilite_echec(pipeline, tableau)
        explicateur = self._explicateurs[configuration]
        if explicateur is None:
            return p, np.zeros((len(lot), len(CONFIGURATIONS[configuration]))), True
        transformes = pipeline[:-1].transform(tableau)
        return p, np.array([explicateur.contributions(x)[1] for x in transformes]), explicateur.en_probabilite

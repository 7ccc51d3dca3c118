"""Le prédicteur : d'un élève validé (ou d'un lot) à la prédiction expliquée. Ne connaît rien de Flask.

Chaque configuration est servie par son modèle compilé (``app.modele.compile.arbres`` : tableaux
numpy, mêmes flottants que le pipeline) ; une configuration non compilable est servie par le
pipeline scikit-learn lui-même (chemin de repli, chargé à la demande).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import itemgetter

import numpy as np

from app.modele.artefacts import Artefacts
from app.modele.classes import (
    CLASSE_ECHEC,
    CLASSE_REUSSITE,
    classe_predite,
    classes_predites,
)
from app.modele.compile.arbres import LIGNES_PAR_BLOC, ArbresCompiles
from app.modele.compile.vote import VoteCompile
from app.modele.explication import facteurs, facteurs_colonnes, facteurs_lot
from app.modele.schema import (
    CATEGORIES,
    CHAMPS,
    CONFIGURATIONS,
    DESCRIPTION_CONFIGURATIONS,
    NOTES,
    NUMERIQUES,
    Eleve,
    configuration_pour,
    configurations_pour,
)
from app.stockage.enregistrement import COLONNES_ENREGISTREMENT, nouvel_enregistrement

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


def avertissements_colonnes(g1: Sequence, g2: Sequence, configurations: Sequence[str]) -> list[list[str]]:
    """``avertissements`` de chaque élève d'un lot, depuis ses colonnes G1 et G2 et ses configurations."""
    par_configuration = {c: avertissements({"G1": 0, "G2": None}, c) for c in CONFIGURATIONS}
    return [[AVERTISSEMENT_G2_SEUL] if b is not None and a is None else list(par_configuration[c])
            for a, b, c in zip(g1, g2, configurations)]


@dataclass(frozen=True)
class ColonnesPredictions:
    """Les champs de ``Prediction`` pour tout un lot, une liste par champ, dans l'ordre des élèves
    (``LotPredictions.en_colonnes``)."""

    configuration: list[str]
    prediction: list[int]
    libelle: list[str]
    probabilite_echec: list[float]
    probabilite_reussite: list[float]
    confiance_prediction: list[float]
    seuil: list[float]
    explication: list[list[dict]]
    avertissements: list[list[str]]


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
        explication = facteurs(self.contributions[position, _POSITIONS[configuration]], CONFIGURATIONS[configuration],
                               valeurs, self.en_probabilite[configuration])
        return self._prediction(position, configuration, valeurs, explication)

    def predictions(self, valeurs: Sequence[Mapping]) -> list[Prediction]:
        """Les ``Prediction`` de tout le lot, dans l'ordre ; comme ``prediction_de`` élève par élève, mais
        l'explication est triée pour chaque configuration en une opération (``facteurs_lot``)."""
        explications: list = [None] * len(self)
        for configuration, champs in CONFIGURATIONS.items():
            positions = np.flatnonzero(self.configurations == configuration)
            if not len(positions):
                continue
            rangs = positions.tolist()
            par_champ = self.contributions[np.ix_(positions, _POSITIONS[configuration])]
            for rang, explication in zip(rangs, facteurs_lot(par_champ, champs, [valeurs[r] for r in rangs],
                                                             self.en_probabilite[configuration])):
                explications[rang] = explication
        return [self._prediction(position, str(configuration), v, explication) for position, (configuration, v, explication)
                in enumerate(zip(self.configurations.tolist(), valeurs, explications))]

    def en_colonnes(self, colonnes: Mapping[str, Sequence]) -> ColonnesPredictions:
        """Les champs des ``Prediction`` de tout le lot, une liste par champ, sans objet par élève : ce que
        ``predictions`` donne, élève pour élève et flottant pour flottant. ``colonnes`` : les valeurs validées
        de chaque champ, dans l'ordre des élèves (``app.modele.colonnes``)."""
        n = len(self)
        explications: list = [None] * n
        for configuration, champs in CONFIGURATIONS.items():
            positions = np.flatnonzero(self.configurations == configuration)
            if not len(positions):
                continue
            par_champ = self.contributions[np.ix_(positions, _POSITIONS[configuration])]
            redigees = facteurs_colonnes(par_champ, champs, [colonnes[c] for c in champs], positions,
                                         self.en_probabilite[configuration])
            if len(positions) == n:
                explications = redigees
                break
            for rang, explication in zip(positions.tolist(), redigees):
                explications[rang] = explication
        p, seuil = self.probabilite_echec, self.seuil
        with np.errstate(divide="ignore", invalid="ignore"):  # les branches écartées par np.where
            confiances = np.where(p >= seuil, np.where(seuil < 1.0, (p - seuil) / (1.0 - seuil), 1.0), (seuil - p) / seuil)
        classes = self.prediction.tolist()
        configurations = self.configurations.tolist()
        return ColonnesPredictions(
            configuration=configurations, prediction=classes, libelle=list(map(LIBELLES.__getitem__, classes)),
            probabilite_echec=p.tolist(), probabilite_reussite=(1.0 - p).tolist(), confiance_prediction=confiances.tolist(),
            seuil=seuil.tolist(), explication=explications,
            avertissements=avertissements_colonnes(colonnes["G1"], colonnes["G2"], configurations))

    def _prediction(self, position: int, configuration: str, valeurs: Mapping, explication: list[dict]) -> Prediction:
        p_echec = float(self.probabilite_echec[position])
        seuil = float(self.seuil[position])
        classe = int(self.prediction[position])
        return Prediction(
            configuration=configuration, prediction=classe, libelle=LIBELLES[classe],
            probabilite_echec=p_echec, probabilite_reussite=1.0 - p_echec,
            confiance_prediction=confiance(p_echec, seuil), seuil=seuil,
            explication=explication, avertissements=avertissements(valeurs, configuration),
        )


def enregistrement(prediction: Prediction, *, request_id: str, user_id: str | None, entrees: dict, version: str,
                   canal: str, horodatage: str | None = None) -> dict:
    """La ligne du journal et de la base (``app.stockage.enregistrement``) d'une prédiction servie, quel
    que soit le canal (HTTP ou gRPC) : une seule façon de la remplir."""
    return nouvel_enregistrement(
        horodatage=horodatage, request_id=request_id, user_id=user_id, configuration=prediction.configuration,
        entrees=entrees, prediction=prediction.prediction, probabilite_echec=prediction.probabilite_echec,
        probabilite_reussite=prediction.probabilite_reussite, seuil=prediction.seuil, model_version=version,
        canal=canal)


def enregistrements_lot(colonnes: ColonnesPredictions, *, request_ids: Sequence[str], user_ids: Sequence,
                        entrees: Sequence[dict], version: str, canal: str, horodatage: str) -> list[dict]:
    """``enregistrement`` de chaque élève d'un lot, depuis ses colonnes : les mêmes dicts (clés de
    ``COLONNES_ENREGISTREMENT``, dans leur ordre), sans objet ``Prediction``."""
    valeurs = {"horodatage": repeat(horodatage), "request_id": request_ids, "user_id": user_ids,
               "configuration": colonnes.configuration, "entrees": entrees, "prediction": colonnes.prediction,
               "probabilite_echec": colonnes.probabilite_echec, "probabilite_reussite": colonnes.probabilite_reussite,
               "seuil": colonnes.seuil, "model_version": repeat(version), "canal": repeat(canal)}
    if len(valeurs) != len(COLONNES_ENREGISTREMENT) or set(valeurs) != set(COLONNES_ENREGISTREMENT):
        raise TypeError(f"champs de l'enregistrement : {sorted(valeurs)} au lieu de {sorted(COLONNES_ENREGISTREMENT)}")
    return list(map(dict, map(zip, repeat(COLONNES_ENREGISTREMENT),
                              zip(*(valeurs[cle] for cle in COLONNES_ENREGISTREMENT)))))


@dataclass(frozen=True)
class VecteurEncode:
    """Ce que le modèle voit d'un élève : la ligne transformée (one-hot, entiers tels quels) et le nom de
    chaque colonne (ceux de ``ColumnTransformer.get_feature_names_out``)."""

    configuration: str
    noms: tuple[str, ...]
    valeurs: tuple[float, ...]


class _Explicateurs(dict):
    """Explicateurs de référence (``app.modele.explication``), construits à la première demande : seul le
    chemin de repli (et les tests) en a besoin ; None si le classifieur n'est pas explicable."""

    def __init__(self, artefacts: Artefacts):
        super().__init__()
        self._artefacts = artefacts

    def __missing__(self, configuration: str):
        from app.modele.explication import Explicateur

        try:
            explicateur = Explicateur(self._artefacts.modele["configurations"][configuration]["pipeline"])
        except TypeError:
            explicateur = None
        self[configuration] = explicateur
        return explicateur


_POSITIONS = {c: np.array([CHAMPS.index(nom) for nom in champs]) for c, champs in CONFIGURATIONS.items()}
_ENTIERS = tuple(nom for nom in NUMERIQUES if nom not in NOTES)
"""Les champs numériques toujours présents : lus sans test de None."""
_RANGS_ENTIERS = [NUMERIQUES.index(nom) for nom in _ENTIERS]
_RANGS_NOTES = [NUMERIQUES.index(nom) for nom in NOTES]
_VALEURS = sorted({valeur for valeurs in CATEGORIES.values() for valeur in valeurs})
"""Les valeurs catégorielles de tous les champs : un seul dictionnaire les numérote (« other »
apparaît dans plusieurs champs), puis une table par champ donne le rang dans le schéma."""
_NUMERO = {valeur: numero for numero, valeur in enumerate(_VALEURS)}
_RANG = np.array([[valeurs.index(v) if v in valeurs else -1 for v in _VALEURS] for valeurs in CATEGORIES.values()])
_DECALAGES = np.arange(len(CATEGORIES)) * len(_VALEURS)
"""Début de la ligne de chaque champ dans ``_RANG`` aplatie."""


class Predicteur:
    """Sert les trois configurations du modèle, chacune avec son seuil."""

    def __init__(self, artefacts: Artefacts, seuils_forces: dict[str, float] | None = None,
                 compiles: dict[str, ArbresCompiles | VoteCompile] | None = None):
        self.version = artefacts.fiche["version_modele"]
        self._artefacts = artefacts
        self.seuils = {c: float((seuils_forces or {}).get(c, artefacts.seuil(c))) for c in CONFIGURATIONS}
        if compiles is None:
            from app.modele.compile.compilation import compiler_tout

            compiles, refus = compiler_tout(artefacts.modele)
            for configuration, raison in refus.items():
                journal.warning("configuration %s servie par le pipeline (non compilée : %s)", configuration, raison)
        self._compiles = {c: m for c, m in compiles.items() if m.champs == CONFIGURATIONS[c]}
        self._explicateurs = _Explicateurs(artefacts)

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
        classe = classe_predite(p_echec, seuil)
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

    def pretraiter(self, eleve: Eleve) -> VecteurEncode:
        """La ligne transformée que le modèle de la configuration de l'élève évalue, par le même objet que
        ``predire`` : l'encodage du modèle compilé (vérifié égal au ``ColumnTransformer`` à la compilation),
        ou le ``ColumnTransformer`` du pipeline pour une configuration non compilée."""
        valeurs = eleve.__dict__
        configuration = configuration_pour(eleve)
        compile_ = self._compiles.get(configuration)
        if compile_ is not None:
            return VecteurEncode(configuration, compile_.noms_colonnes(), tuple(compile_.encoder(valeurs).tolist()))
        from app.modele.pipeline import en_tableau

        preparation = self._artefacts.modele["configurations"][configuration]["pipeline"][0]
        ligne = preparation.transform(en_tableau([valeurs], configuration))[0]
        return VecteurEncode(configuration, tuple(map(str, preparation.get_feature_names_out())),
                             tuple(float(v) for v in ligne))

    def _par_le_pipeline(self, configuration: str, valeurs: Mapping) -> tuple[float, list[dict]]:
        """Chemin de repli : le pipeline scikit-learn (DataFrame d'une ligne) et l'explicateur de référence."""
        from app.modele.pipeline import en_tableau, probabilite_echec

        pipeline = self._artefacts.modele["configurations"][configuration]["pipeline"]
        tableau = en_tableau([valeurs], configuration)
        p_echec = float(probabilite_echec(pipeline, tableau)[0])
        explicateur = self._explicateurs[configuration]
        explication = [] if explicateur is None else explicateur.expliquer(pipeline[:-1].transform(tableau)[0], dict(valeurs))
        return p_echec, explication

    def predire_lot(self, lot: Sequence[Mapping]) -> LotPredictions:
        """Les prédictions d'un lot d'élèves validés (mappings des 32 champs), dans le même ordre.

        Par blocs de ``LIGNES_PAR_BLOC`` élèves : les tableaux de travail restent petits (cache du
        processeur) et la mémoire d'un bloc sert au suivant."""
        return self._predire_blocs(len(lot), lambda debut, fin: _colonnes(lot[debut:fin]), lot)

    def predire_tableaux(self, nombres: np.ndarray, codes: np.ndarray) -> LotPredictions:
        """``predire_lot`` d'un lot déjà en tableaux (``app.modele.colonnes``) : ``nombres`` (élèves ×
        ``NUMERIQUES``, note absente : NaN) et ``codes`` (élèves × ``CATEGORIES``, rang de la valeur dans le
        schéma). Mêmes opérations, mêmes flottants ; toutes les configurations doivent être compilées
        (``compilees``), le chemin de repli du pipeline demandant les élèves un à un."""
        return self._predire_blocs(len(nombres), lambda debut, fin: (nombres[debut:fin], codes[debut:fin]), None)

    def _predire_blocs(self, n: int, bloc_de, lot: Sequence[Mapping] | None) -> LotPredictions:
        configurations = np.empty(n, dtype="<U1")
        probabilites = np.empty(n)
        seuils = np.empty(n)
        contributions = np.zeros((n, len(CHAMPS)))
        en_probabilite = {}
        for debut in range(0, n, LIGNES_PAR_BLOC):
            nombres, codes = bloc_de(debut, debut + LIGNES_PAR_BLOC)
            g1, g2 = (~np.isnan(nombres[:, NUMERIQUES.index(note)]) for note in ("G1", "G2"))
            configurations_bloc = configurations_pour(g1, g2)
            configurations[debut:debut + len(nombres)] = configurations_bloc
            for configuration in CONFIGURATIONS:
                positions = np.flatnonzero(configurations_bloc == configuration)
                if not len(positions):
                    continue
                compile_ = self._compiles.get(configuration)
                if compile_ is None:
                    if lot is None:
                        raise ValueError(f"configuration {configuration} non compilée : predire_lot, pas predire_tableaux")
                    sous_lot = [lot[debut + p] for p in positions.tolist()]
                    p, par_champ, en_probabilite[configuration] = self._lot_par_le_pipeline(configuration, sous_lot)
                else:
                    X = compile_.encoder_lot({**dict(zip(NUMERIQUES, nombres[positions].T)),
                                              **dict(zip(CATEGORIES, codes[positions].T))})
                    p, par_champ = compile_.evaluer_lot(X)
                    en_probabilite[configuration] = compile_.en_probabilite
                lignes = positions + debut
                seuils[lignes] = self.seuils[configuration]
                probabilites[lignes] = p
                contributions[np.ix_(lignes, _POSITIONS[configuration])] = par_champ
        prediction = classes_predites(probabilites, seuils)
        return LotPredictions(configurations=configurations, probabilite_echec=probabilites, prediction=prediction,
                              seuil=seuils, contributions=contributions, en_probabilite=en_probabilite)

    def _lot_par_le_pipeline(self, configuration: str, lot: Sequence[Mapping]):
        from app.modele.pipeline import en_tableau, probabilite_echec

        pipeline = self._artefacts.modele["configurations"][configuration]["pipeline"]
        tableau = en_tableau(lot, configuration)
        p = probabilite_echec(pipeline, tableau)
        explicateur = self._explicateurs[configuration]
        if explicateur is None:
            return p, np.zeros((len(lot), len(CONFIGURATIONS[configuration]))), True
        transformes = pipeline[:-1].transform(tableau)
        return p, np.array([explicateur.contributions(x)[1] for x in transformes]), explicateur.en_probabilite


def _colonnes(lot: Sequence[Mapping]) -> tuple[np.ndarray, np.ndarray]:
    """(nombres : élèves × ``NUMERIQUES`` en flottants, note absente : NaN ; codes : élèves ×
    ``CATEGORIES``, rang de la valeur dans le schéma). Chaque groupe de champs est lu d'une traite,
    élève après élève (``itemgetter``, ``chain``, ``fromiter`` : boucles en C), puis rangé par numpy."""
    n = len(lot)
    nombres = np.empty((n, len(NUMERIQUES)))
    # Entiers lus en int64 (conversion plus rapide que vers float64), notes en objets : None → NaN.
    nombres[:, _RANGS_ENTIERS] = np.fromiter(chain.from_iterable(map(itemgetter(*_ENTIERS), lot)), dtype=np.int64,
                                             count=n * len(_ENTIERS)).reshape(n, len(_ENTIERS))
    nombres[:, _RANGS_NOTES] = np.fromiter(chain.from_iterable(map(itemgetter(*NOTES), lot)), dtype=object,
                                           count=n * len(NOTES)).reshape(n, len(NOTES)).astype(np.float64)
    numeros = np.fromiter(map(_NUMERO.__getitem__, chain.from_iterable(map(itemgetter(*CATEGORIES), lot))),
                          dtype=np.intp, count=n * len(CATEGORIES)).reshape(n, len(CATEGORIES))
    codes = _RANG.take(numeros + _DECALAGES)
    if codes.min(initial=0) < 0:
        raise ValueError("lot non validé : valeur d'un autre champ catégoriel")
    return nombres, codes

"""Évaluation honnête : protocole de l'article (répétitions × validation croisée stratifiée),
avec sélection du modèle et du seuil à l'intérieur des plis d'entraînement (validation
croisée imbriquée), pour que les chiffres publiés ne soient pas optimistes.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
from sklearn.base import clone
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from app.modele.classes import CLASSE_ECHEC, classes_predites
from app.modele.pipeline import probabilite_echec
from app.modele.seuils import MARGE_RAPPEL, RAPPEL_ECHEC_VISE, choisir_seuil  # noqa: F401 (lus ici par d'autres modules)

@dataclass(frozen=True)
class Candidat:
    nom: str
    pipeline: Pipeline


@dataclass(frozen=True)
class Selection:
    candidat: Candidat
    seuil: float
    exactitude_interne: float
    """Exactitude hors plis internes au seuil 0,5 (premier critère de sélection)."""
    exactitude_interne_seuil: float
    """Exactitude hors plis internes au seuil servi (départage les ex aequo)."""


def _probabilites_hors_plis(pipeline, X, y, plis: int, graine: int) -> np.ndarray:
    """P(échec) de chaque élève, prédite par un modèle qui ne l'a pas vu (validation croisée interne)."""
    p = np.empty(len(y))
    for entrainement, validation in StratifiedKFold(n_splits=plis, shuffle=True, random_state=graine).split(X, y):
        modele = clone(pipeline).fit(X.iloc[entrainement], y[entrainement])
        p[validation] = probabilite_echec(modele, X.iloc[validation])
    return p


def selectionner(candidats: Sequence[Candidat], X: pd.DataFrame, y: np.ndarray,
                 plis_internes: int, graine: int) -> Selection:
    """Choisit le candidat et son seuil par validation croisée sur les seules données reçues.

    Critère, dans l'ordre : l'exactitude hors plis au seuil 0,5 (la mesure de l'article) ;
    à égalité, l'exactitude au seuil servi (celui qui repère au moins 80 % des échecs) ;
    puis le premier de la liste, le plus simple.
    """
    meilleur: tuple[tuple[float, float], Selection] | None = None
    for candidat in candidats:
        p = _probabilites_hors_plis(candidat.pipeline, X, y, plis_internes, graine)
        exactitude_05 = float(np.mean(classes_predites(p, 0.5) == y))
        seuil, exactitude_seuil = choisir_seuil(y, p)
        cle = (round(exactitude_05, 10), round(exactitude_seuil, 10))
        if meilleur is None or cle > meilleur[0]:
            meilleur = (cle, Selection(candidat=candidat, seuil=seuil, exactitude_interne=exactitude_05,
                                       exactitude_interne_seuil=exactitude_seuil))
    return meilleur[1]


def _pli_externe(candidats, X, y, entrainement, test, plis_internes, graine):
    selection = selectionner(candidats, X.iloc[entrainement], y[entrainement], plis_internes, graine)
    modele = clone(selection.candidat.pipeline).fit(X.iloc[entrainement], y[entrainement])
    p = probabilite_echec(modele, X.iloc[test])
    return test, p, selection.seuil, selection.candidat.nom


def _metriques_echec(y: np.ndarray, predit: np.ndarray) -> dict[str, float]:
    vrais = y == CLASSE_ECHEC
    alertes = predit == CLASSE_ECHEC
    vp = float((vrais & alertes).sum())
    precision = vp / alertes.sum() if alertes.sum() else 0.0
    rappel = vp / vrais.sum() if vrais.sum() else 0.0
    f1 = 2 * precision * rappel / (precision + rappel) if precision + rappel else 0.0
    return {"exactitude": float(np.mean(predit == y)), "precision_echec": precision,
            "rappel_echec": rappel, "f1_echec": f1}


def _resume(valeurs: list[float]) -> dict[str, float]:
    """Moyenne et intervalle de confiance à 95 % (t de Student sur les répétitions)."""
    tableau = np.asarray(valeurs, dtype=float)
    moyenne = float(tableau.mean())
    if tableau.size < 2:
        return {"moyenne": moyenne, "ic95": [moyenne, moyenne]}
    demi = float(stats.t.ppf(0.975, tableau.size - 1) * tableau.std(ddof=1) / math.sqrt(tableau.size))
    return {"moyenne": moyenne, "ic95": [moyenne - demi, moyenne + demi]}


def evaluer(candidats: Sequence[Candidat], X: pd.DataFrame, y: np.ndarray, *, repetitions: int,
            plis: int, plis_internes: int, graine: int, n_jobs: int = -1,
            progression: Callable[[str], None] | None = None) -> dict:
    """Validation croisée imbriquée répétée ; métriques par répétition puis résumées.

    Pour chaque répétition, on rassemble les prédictions de ses ``plis`` plis de test et on
    calcule l'exactitude (PCC) au seuil 0,5 (comparable à l'article) et les métriques au
    seuil choisi dans les plis d'entraînement (celui que l'API servira).
    """
    decoupe = RepeatedStratifiedKFold(n_splits=plis, n_repeats=repetitions, random_state=graine)
    taches = list(decoupe.split(X, y))
    debut = time.perf_counter()
    resultats = []
    executeur = Parallel(n_jobs=n_jobs, return_as="generator")
    for numero, resultat in enumerate(executeur(
        delayed(_pli_externe)(candidats, X, y, tr, te, plis_internes, graine + i)
        for i, (tr, te) in enumerate(taches)
    ), start=1):
        resultats.append(resultat)
        if progression and (numero % plis == 0 or numero == len(taches)):
            ecoule = time.perf_counter() - debut
            reste = ecoule / numero * (len(taches) - numero)
            progression(f"  pli {numero}/{len(taches)} — {ecoule:.0f} s écoulées, ~{reste:.0f} s restantes")

    par_repetition: dict[str, list[float]] = {}
    choix: dict[str, int] = {}
    seuils = []
    for r in range(repetitions):
        p = np.empty(len(y))
        predit_seuil = np.empty(len(y), dtype=np.int64)
        for test, proba, seuil, nom in resultats[r * plis:(r + 1) * plis]:
            p[test] = proba
            predit_seuil[test] = classes_predites(proba, seuil)
            choix[nom] = choix.get(nom, 0) + 1
            seuils.append(seuil)
        au_seuil = _metriques_echec(y, predit_seuil)
        a_05 = _metriques_echec(y, classes_predites(p, 0.5))
        for cle, valeur in a_05.items():
            par_repetition.setdefault(f"{cle}_05", []).append(valeur)
        for cle, valeur in au_seuil.items():
            par_repetition.setdefault(f"{cle}_seuil", []).append(valeur)
    return {
        "metriques": {cle: _resume(valeurs) for cle, valeurs in par_repetition.items()},
        "candidats_choisis": choix,
        "seuils_internes": _resume(seuils),
        "duree_s": time.perf_counter() - debut,
    }


def afficher(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

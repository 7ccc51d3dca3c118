"""Prédictions hors plis du modèle servi et métriques par groupe d'élèves (équité).

Honnêteté des chiffres : on ne note jamais le modèle livré sur les élèves qui l'ont entraîné.
Chaque configuration garde le pipeline livré (mêmes hyperparamètres, même classifieur) mais il
est réentraîné dans chaque pli de ``repetitions`` × ``plis`` validations croisées stratifiées :
chaque élève reçoit, à chaque répétition, une P(échec) d'un modèle qui ne l'a pas vu. La décision
se prend au seuil servi. Les métriques « groupées » sont calculées sur toutes les répétitions
réunies (somme des comptes), ce qui revient à la moyenne des répétitions.

Positif = alerte « échec » : rappel = part des élèves en échec repérés, précision = part des alertes
justes, taux de faux positifs = part des élèves en réussite alertés, taux de sélection = part des
élèves alertés. Intervalles de confiance : bootstrap par élève (un élève tiré emporte toutes ses
répétitions), percentiles 2,5 % et 97,5 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
)
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import accuracy_score, precision_score, recall_score
from sklearn.model_selection import RepeatedStratifiedKFold

from app.modele.classes import CLASSE_ECHEC
from app.modele.pipeline import probabilite_echec
from app.modele.seuils import comptes_ponderes, intervalle, metriques_comptes

ETUDES = {0: "0–1 aucune ou primaire", 1: "0–1 aucune ou primaire", 2: "2 collège", 3: "3 lycée",
          4: "4 supérieur"}
"""Études des parents : 0 (aucune, 6 ou 7 élèves et aucun échec) est réuni avec 1 (primaire)."""
GROUPES = {
    "sex": ("Sexe", {"F": "F", "M": "M"}),
    "school": ("École", {"GP": "GP (Gabriel Pereira)", "MS": "MS (Mousinho da Silveira)"}),
    "address": ("Domicile", {"U": "U urbain", "R": "R rural"}),
    "Medu": ("Études de la mère", ETUDES),
    "Fedu": ("Études du père", ETUDES),
}
METRIQUES = ("exactitude", "rappel_echec", "precision_echec", "taux_faux_positifs", "taux_selection")
LIBELLES_METRIQUES = {"exactitude": "exactitude", "rappel_echec": "rappel échec",
                      "precision_echec": "précision échec", "taux_faux_positifs": "taux de faux positifs",
                      "taux_selection": "taux d'alerte"}


def _fairlearn() -> dict:
    return {
        "exactitude": accuracy_score,
        "rappel_echec": lambda y, p: recall_score(y, p, zero_division=np.nan),
        "precision_echec": lambda y, p: precision_score(y, p, zero_division=np.nan),
        "taux_faux_positifs": false_positive_rate,
        "taux_selection": selection_rate,
    }


def _pli(pipeline, X, y, entrainement, test):
    modele = clone(pipeline).fit(X.iloc[entrainement], y[entrainement])
    return test, probabilite_echec(modele, X.iloc[test])


def probabilites_hors_plis(pipeline, X: pd.DataFrame, y: np.ndarray, *, repetitions: int, plis: int,
                           graine: int, n_jobs: int = -1) -> np.ndarray:
    """(repetitions × élèves) : P(échec) de chaque élève par un modèle qui ne l'a pas vu."""
    decoupe = RepeatedStratifiedKFold(n_splits=plis, n_repeats=repetitions, random_state=graine)
    resultats = Parallel(n_jobs=n_jobs)(delayed(_pli)(pipeline, X, y, tr, te) for tr, te in decoupe.split(X, y))
    p = np.empty((repetitions, len(y)))
    for numero, (test, proba) in enumerate(resultats):
        p[numero // plis, test] = proba
    return p


@dataclass(frozen=True)
class Tableau:
    """Les prédictions d'une configuration en format long : une ligne par (répétition, élève)."""

    echec: np.ndarray
    """1 = l'élève est en échec (G3 < 10)."""
    alerte: np.ndarray
    """1 = le modèle alerte (P(échec) ≥ seuil)."""
    eleve: np.ndarray
    """Rang de l'élève (0 … n−1) : le bootstrap tire des élèves, pas des lignes."""
    groupes: pd.DataFrame


def tableau_long(y: np.ndarray, p: np.ndarray, seuil: float, groupes: pd.DataFrame) -> Tableau:
    repetitions, n = p.shape
    return Tableau(echec=np.tile((y == CLASSE_ECHEC).astype(int), repetitions),
                   alerte=(p >= seuil).astype(int).ravel(), eleve=np.tile(np.arange(n), repetitions),
                   groupes=pd.concat([groupes] * repetitions, ignore_index=True))


def groupes_eleves(X: pd.DataFrame) -> pd.DataFrame:
    """Le groupe de chaque élève pour chaque attribut étudié (libellés lisibles)."""
    return pd.DataFrame({nom: X[nom].map(libelles).astype(str) for nom, (_, libelles) in GROUPES.items()})


def _nombre(valeur) -> float | None:
    valeur = float(valeur)
    return None if np.isnan(valeur) else round(valeur, 4)


def metriques(tableau: Tableau, *, tirages: int = 1000, graine: int = 0) -> dict:
    """Métriques globales et par groupe (fairlearn ``MetricFrame``), écarts entre groupes (parité
    démographique, égalité des chances : fairlearn), intervalles de confiance (bootstrap par élève)."""
    n = int(tableau.eleve.max()) + 1
    aleatoire = np.random.default_rng(graine)
    poids = aleatoire.multinomial(n, np.full(n, 1 / n), size=tirages).astype(float)
    tous = metriques_comptes(comptes_ponderes(tableau.echec, tableau.alerte, poids, tableau.eleve, n))
    cadre_global = MetricFrame(metrics=_fairlearn(), y_true=tableau.echec, y_pred=tableau.alerte,
                               sensitive_features=np.zeros(tableau.echec.size, dtype=int))
    resultat = {"global": {"effectif": n, "echecs": int(tableau.echec[:n].sum()),
                           **{m: {"valeur": _nombre(cadre_global.overall[m]), "ic95": intervalle(tous[m])}
                              for m in METRIQUES}},
                "groupes": {}}
    for attribut, (titre, _) in GROUPES.items():
        sensibles = tableau.groupes[attribut].to_numpy()
        cadre = MetricFrame(metrics=_fairlearn(), y_true=tableau.echec, y_pred=tableau.alerte,
                            sensitive_features=sensibles)
        par_groupe = {}
        tirages_groupes = {}
        for groupe in sorted(pd.unique(sensibles)):
            masque = sensibles == groupe
            comptes = comptes_ponderes(tableau.echec[masque], tableau.alerte[masque], poids, tableau.eleve[masque], n)
            tirages_groupes[groupe] = metriques_comptes(comptes)
            eleves = np.unique(tableau.eleve[masque])
            par_groupe[groupe] = {
                "effectif": int(eleves.size),
                "echecs": int(tableau.echec[:n][masque[:n]].sum()),
                **{m: {"valeur": _nombre(cadre.by_group.loc[groupe, m]), "ic95": intervalle(tirages_groupes[groupe][m])}
                   for m in METRIQUES},
            }
        ecart_parite = np.nanmax([t["taux_selection"] for t in tirages_groupes.values()], axis=0) - \
            np.nanmin([t["taux_selection"] for t in tirages_groupes.values()], axis=0)
        ecart_chances = np.maximum(
            *(np.nanmax([t[m] for t in tirages_groupes.values()], axis=0)
              - np.nanmin([t[m] for t in tirages_groupes.values()], axis=0)
              for m in ("rappel_echec", "taux_faux_positifs")))
        resultat["groupes"][attribut] = {
            "titre": titre,
            "groupes": par_groupe,
            "ecart_parite_demographique": {
                "valeur": _nombre(demographic_parity_difference(tableau.echec, tableau.alerte,
                                                                sensitive_features=sensibles)),
                "ic95": intervalle(ecart_parite)},
            "ecart_egalite_chances": {
                "valeur": _nombre(equalized_odds_difference(tableau.echec, tableau.alerte,
                                                            sensitive_features=sensibles)),
                "ic95": intervalle(ecart_chances)},
        }
    return resultat


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Score de Brier de P(échec), moyen sur les répétitions (0 = parfait ; 0,13 = toujours 15 %)."""
    return float(np.mean((p - (y == CLASSE_ECHEC)[None, :]) ** 2))


def courbe_calibration(y: np.ndarray, p: np.ndarray, cases: int = 10) -> list[dict]:
    """Par case de P(échec) (largeur 1/cases) : probabilité moyenne prédite, part d'échecs observée."""
    echec = np.tile((y == CLASSE_ECHEC).astype(float), p.shape[0])
    plat = p.ravel()
    rang = np.minimum((plat * cases).astype(int), cases - 1)
    points = []
    for k in range(cases):
        masque = rang == k
        if masque.any():
            points.append({"case": [k / cases, (k + 1) / cases], "predite": round(float(plat[masque].mean()), 4),
                           "observee": round(float(echec[masque].mean()), 4),
                           "lignes": int(masque.sum())})
    return points


def rappel_precision_seuils(y: np.ndarray, p: np.ndarray, seuils: np.ndarray) -> list[dict]:
    echec = np.tile(y == CLASSE_ECHEC, p.shape[0])
    plat = p.ravel()
    points = []
    for seuil in seuils:
        alerte = plat >= seuil
        vp = float((alerte & echec).sum())
        points.append({"seuil": round(float(seuil), 4), "rappel_echec": round(vp / echec.sum(), 4),
                       "precision_echec": round(vp / alerte.sum(), 4) if alerte.sum() else None,
                       "taux_selection": round(float(alerte.mean()), 4)})
    return points


def importances(pipeline) -> dict[str, float]:
    """Importance de chaque champ (somme de ses colonnes one-hot) dans le modèle livré : réduction
    d'impureté moyenne des arbres (moyenne des estimateurs d'un vote), normalisée à 1."""
    from app.modele.schema import CATEGORIES

    classifieur = pipeline.named_steps["classifieur"]
    estimateurs = classifieur.estimators_ if hasattr(classifieur, "named_estimators_") else [classifieur]
    valeurs = np.mean([e.feature_importances_ / max(e.feature_importances_.sum(), 1e-12) for e in estimateurs], axis=0)
    noms = pipeline[:-1].get_feature_names_out()
    par_champ: dict[str, float] = {}
    for nom, valeur in zip(noms, valeurs):
        champ = next((c for c in sorted(CATEGORIES, key=len, reverse=True) if nom.startswith(c + "_")), nom)
        par_champ[champ] = par_champ.get(champ, 0.0) + float(valeur)
    return dict(sorted(((k, round(v, 4)) for k, v in par_champ.items()), key=lambda kv: -kv[1]))


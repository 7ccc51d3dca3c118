"""Seuils de décision et ce qu'ils coûtent, sur des élèves dont on connaît l'issue (numpy seul).

Une seule définition pour l'entraînement (choix du seuil servi), ``make recalibrer`` (seuils
d'un établissement) et la page ``/classe`` (vérification sur la classe de l'an passé) : la page
propose exactement les seuils que la commande écrirait pour le même fichier. Ce module est servi,
d'où sa place sous ``app/modele`` (``app/entrainement`` n'est jamais importé par le service).
"""

from __future__ import annotations

import numpy as np

from app.modele.classes import CLASSE_ECHEC

RAPPEL_ECHEC_VISE = 0.80
"""Le seuil servi doit repérer au moins 80 % des élèves en échec (rappel de la classe échec)."""

RAPPEL_BORNES = (0.50, 0.99)
"""Rappel visé permis pour des seuils d'établissement (``make recalibrer RAPPEL=…``, page ``/classe``)."""

MARGE_RAPPEL = 0.02
"""Le seuil est choisi pour 82 % de rappel sur les prédictions internes : sur des élèves
jamais vus, le rappel baisse un peu ; cette marge le garde au-dessus de 80 %."""

MIN_ELEVES = 50
MIN_ECHECS = 10
"""En dessous, un rappel de 80 % ne se mesure pas (10 échecs : le rappel va par pas de 10 points)."""
TIRAGES = 2000
CELLULES_TIRAGES_MAX = 4_000_000
"""Tirages × élèves au plus par mesure (32 Mio) : une classe de 10 000 élèves a 400 tirages."""


class ErreurRecalibrage(ValueError):
    """Le fichier ne permet pas de choisir un seuil ; le message dit pourquoi, en français."""


def choisir_seuil(y: np.ndarray, p_echec: np.ndarray,
                  rappel_vise: float = RAPPEL_ECHEC_VISE + MARGE_RAPPEL) -> tuple[float, float]:
    """(seuil, exactitude) : le seuil sur P(échec) le plus exact parmi ceux qui atteignent le rappel visé.

    Les seuils possibles séparent deux probabilités observées hors plis ; on place le seuil
    au milieu de l'intervalle, pour qu'un élève nouveau juste sous la valeur observée soit
    traité comme elle. À exactitude égale, on garde le plus haut (moins de fausses alertes).
    """
    echecs = y == CLASSE_ECHEC
    valeurs = np.unique(np.round(p_echec, 12))
    meilleur, meilleure_exactitude = float(valeurs[0]), -1.0
    for position in range(len(valeurs) - 1, -1, -1):
        alerte = p_echec >= valeurs[position]
        rappel = (alerte & echecs).sum() / max(echecs.sum(), 1)
        if rappel < rappel_vise:
            continue
        exactitude = float(np.mean(alerte == echecs))
        if exactitude > meilleure_exactitude + 1e-12:
            inferieure = valeurs[position - 1] if position > 0 else 0.0
            meilleur = float((valeurs[position] + inferieure) / 2) or float(valeurs[position])
            meilleure_exactitude = exactitude
    return meilleur, meilleure_exactitude


def comptes_ponderes(echec: np.ndarray, alerte: np.ndarray, poids: np.ndarray, eleve: np.ndarray, n: int) -> np.ndarray:
    """(tirages × 4) : vrais positifs, faux positifs, faux négatifs, vrais négatifs, pondérés par le
    nombre de fois que chaque élève est tiré (``poids`` : tirages × n)."""
    cases = [(echec == 1) & (alerte == 1), (echec == 0) & (alerte == 1), (echec == 1) & (alerte == 0),
             (echec == 0) & (alerte == 0)]
    par_eleve = np.stack([np.bincount(eleve, weights=c.astype(float), minlength=n) for c in cases], axis=1)
    return poids @ par_eleve


def metriques_comptes(c: np.ndarray) -> dict[str, np.ndarray]:
    vp, fp, fn, vn = (c[..., i] for i in range(4))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"exactitude": (vp + vn) / (vp + fp + fn + vn), "rappel_echec": vp / (vp + fn),
                "precision_echec": vp / (vp + fp), "taux_faux_positifs": fp / (fp + vn),
                "taux_selection": (vp + fp) / (vp + fp + fn + vn)}


def intervalle(tirages: np.ndarray) -> list[float | None]:
    valides = tirages[~np.isnan(tirages)]
    if valides.size < 0.9 * tirages.size:  # métrique indéfinie dans trop de tirages (aucun échec…)
        return [None, None]
    return [round(float(v), 4) for v in np.percentile(valides, [2.5, 97.5])]


def verifier(y: np.ndarray) -> None:
    echecs = int((y == CLASSE_ECHEC).sum())
    if echecs == 0:
        raise ErreurRecalibrage(f"aucun élève en échec (G3 < 10) parmi les {y.size} du fichier : impossible de "
                                "régler un seuil sur le rappel des échecs")
    if y.size < MIN_ELEVES or echecs < MIN_ECHECS:
        raise ErreurRecalibrage(
            f"fichier trop petit pour décider : {y.size} élèves dont {echecs} en échec ; il en faut au moins "
            f"{MIN_ELEVES} dont {MIN_ECHECS} en échec (réunissez plusieurs classes ou plusieurs années)")


def comptes(y: np.ndarray, p: np.ndarray, seuil: float) -> dict[str, int]:
    """Échecs repérés, échecs manqués, fausses alertes et élèves signalés au seuil (une ligne = un élève)."""
    echec, alerte = y == CLASSE_ECHEC, p >= seuil
    return {"reperes": int((echec & alerte).sum()), "manques": int((echec & ~alerte).sum()),
            "fausses_alertes": int((~echec & alerte).sum()), "signales": int(alerte.sum()), "eleves": int(y.size),
            "echecs": int(echec.sum())}


def mesurer(y: np.ndarray, p: np.ndarray, seuil: float, *, tirages: int = TIRAGES, graine: int = 0) -> dict:
    """Rappel, précision, exactitude et taux d'alerte au seuil, avec leur IC 95 % (bootstrap par élève)."""
    n = y.size
    tirages = max(100, min(tirages, CELLULES_TIRAGES_MAX // max(n, 1)))
    echec = (y == CLASSE_ECHEC).astype(int)
    alerte = (p >= seuil).astype(int)
    eleves = np.arange(n)
    point = metriques_comptes(comptes_ponderes(echec, alerte, np.ones((1, n)), eleves, n))
    poids = np.random.default_rng(graine).multinomial(n, np.full(n, 1 / n), size=tirages).astype(float)
    tires = metriques_comptes(comptes_ponderes(echec, alerte, poids, eleves, n))
    return {nom: {"valeur": float(point[nom][0]), "ic95": intervalle(tires[nom])}
            for nom in ("rappel_echec", "precision_echec", "exactitude", "taux_selection")}


def auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Aire sous la courbe ROC (échec = positif), par les rangs (ex aequo au rang moyen) ; None sans les deux issues."""
    echec = y == CLASSE_ECHEC
    positifs, negatifs = int(echec.sum()), int((~echec).sum())
    if positifs == 0 or negatifs == 0:
        return None
    ordre = np.argsort(p, kind="mergesort")
    rangs = np.empty(p.size)
    tries = p[ordre]
    debut = 0
    for fin in range(1, p.size + 1):  # rang moyen des ex aequo
        if fin == p.size or tries[fin] != tries[debut]:
            rangs[ordre[debut:fin]] = (debut + fin + 1) / 2
            debut = fin
    return float((rangs[echec].sum() - positifs * (positifs + 1) / 2) / (positifs * negatifs))


def recalibrer_probabilites(y: np.ndarray, probabilites: dict[str, np.ndarray], seuils_servis: dict[str, float],
                            rappel: float) -> dict:
    """Par configuration : seuil choisi pour ``rappel`` (plus la marge), seuil servi et leurs mesures.
    C'est le calcul de ``make recalibrer`` et de la vérification d'une classe sur la page ``/classe``."""
    verifier(y)
    resultats = {}
    for configuration, p in probabilites.items():
        seuil, _ = choisir_seuil(y, p, rappel_vise=min(rappel + MARGE_RAPPEL, 1.0))
        resultats[configuration] = {
            "seuil": seuil, "mesures": mesurer(y, p, seuil),
            "seuil_servi": float(seuils_servis[configuration]),
            "mesures_seuil_servi": mesurer(y, p, seuils_servis[configuration]),
        }
    return resultats


def ligne_seuils(resultats: dict) -> str:
    """``SEUIL_DECISION=A=…,B=…,C=…`` : la variable à donner au service pour appliquer ces seuils."""
    return "SEUIL_DECISION=" + ",".join(f"{c}={r['seuil']:.6g}" for c, r in resultats.items())

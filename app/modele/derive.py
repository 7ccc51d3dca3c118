"""Dérive des élèves reçus par rapport aux données d'entraînement (numpy seul : servi par ``GET /derive``
et lu par le rapport d'équité, ``app.entrainement.rapport``).

Indice de stabilité de population (PSI) par variable :
    PSI = Σ_k (a_k − e_k) · ln(a_k / e_k)
où e_k est la part des élèves d'entraînement dans la case k et a_k celle des élèves récents. Les
parts sont planchers à ``PLANCHER`` (une case vide ne rend pas le PSI infini).

Cases (``cases_reference``, figées dans ``code/reference_derive.json`` par ``make reference``) :
- variable catégorielle : une case par valeur permise du schéma ;
- entier à 8 valeurs possibles au plus (échelles 1–5, études 0–4, âge…) : une case par valeur ;
- ``absences``, ``G1``, ``G2`` : cases entre les déciles des données d'entraînement (valeurs
  distinctes seulement) ; une note absente (configurations B, C) n'entre pas dans sa variable.

Niveaux (seuils d'usage courant du PSI) : < 0,1 « stable », 0,1 à 0,25 « moderee » (à surveiller),
≥ 0,25 « forte » (les élèves reçus ne ressemblent plus à ceux de l'entraînement). Sur un petit
échantillon, le hasard seul donne un PSI d'environ (k − 1)·(1/n + 1/m) (k cases, n élèves récents,
m d'entraînement) : c'est ``psi_hasard``, renvoyé avec chaque variable.

Taux d'alerte (prédictions « échec ») par configuration : comparé au taux qu'a le modèle servi sur
les élèves d'entraînement qu'il n'a pas vus (prédictions hors plis, au seuil servi) ; drapeau
quand ce taux sort de l'intervalle de Wilson à 95 % du taux observé.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from app.modele.classes import CLASSE_ECHEC
from app.modele.schema import CATEGORIES, CHAMPS, bornes

SEUIL_MODERE = 0.10
SEUIL_FORT = 0.25
PLANCHER = 1e-4
VALEURS_MAX_PAR_CASE = 8
"""Un entier qui a au plus ce nombre de valeurs possibles a une case par valeur ; sinon, des déciles."""
QUANTILES = tuple(np.linspace(0.1, 0.9, 9))
CASES_PROBABILITE = tuple(np.round(np.linspace(0.1, 0.9, 9), 1))
"""Bornes intérieures des cases de P(échec) : dix cases de largeur 0,1."""
FORMAT_REFERENCE = 1


def niveau(psi: float) -> str:
    if psi >= SEUIL_FORT:
        return "forte"
    if psi >= SEUIL_MODERE:
        return "moderee"
    return "stable"


def psi(reference: Sequence[float], observees: Sequence[float]) -> float:
    """PSI entre deux distributions sur les mêmes cases (parts ou effectifs, normalisés ici)."""
    e = np.asarray(reference, dtype=float)
    a = np.asarray(observees, dtype=float)
    e = np.maximum(e / e.sum(), PLANCHER)
    a = np.maximum(a / a.sum(), PLANCHER) if a.sum() > 0 else np.full_like(e, PLANCHER)
    return float(np.sum((a - e) * np.log(a / e)))


def cases_reference(nom: str, valeurs: np.ndarray) -> dict:
    """La définition des cases d'une variable : ``{"type": "categories", "valeurs": [...]}`` ou
    ``{"type": "bornes", "bornes": [...]}`` (bornes intérieures, cases ]-∞, b0[, [b0, b1[, …)."""
    if nom in CATEGORIES:
        return {"type": "categories", "valeurs": list(CATEGORIES[nom])}
    minimum, maximum = bornes(nom)
    if maximum - minimum + 1 <= VALEURS_MAX_PAR_CASE:
        return {"type": "bornes", "bornes": [float(v) + 0.5 for v in range(minimum, maximum)]}
    deciles = np.unique(np.quantile(valeurs.astype(float), QUANTILES))
    # Une borne sépare des entiers : au milieu, pour qu'une valeur égale à un décile tombe à droite.
    return {"type": "bornes", "bornes": [float(v) + 0.5 for v in deciles if v < maximum]}


def compter(cases: dict, valeurs: Iterable) -> np.ndarray:
    """Effectif de chaque case (les valeurs None, notes absentes, ne comptent pas)."""
    presentes = [v for v in valeurs if v is not None]
    if cases["type"] == "categories":  # compté par Counter (en C), pas élément par élément dans un tableau numpy
        frequences = Counter(presentes)
        return np.array([frequences[v] for v in dict.fromkeys(cases["valeurs"])], dtype=float)
    limites = np.asarray(cases["bornes"], dtype=float)
    positions = np.searchsorted(limites, np.asarray(presentes, dtype=float), side="right")
    return np.bincount(positions, minlength=len(limites) + 1).astype(float)


def construire_reference(enregistrements: Sequence[Mapping], probabilites: Mapping[str, np.ndarray],
                         seuils: Mapping[str, float], *, source: dict) -> dict:
    """La référence de dérive (petit JSON) : cases et effectifs de chaque variable sur les données
    d'entraînement, distribution de P(échec) hors plis et taux d'alerte au seuil servi par configuration."""
    variables = {}
    for nom in CHAMPS:
        colonne = [e[nom] for e in enregistrements]
        presentes = np.asarray([v for v in colonne if v is not None], dtype=object if nom in CATEGORIES else float)
        cases = cases_reference(nom, presentes)
        variables[nom] = {**cases, "effectifs": compter(cases, colonne).astype(int).tolist()}
    prediction = {}
    for configuration, p in probabilites.items():
        cases = {"type": "bornes", "bornes": list(CASES_PROBABILITE)}
        prediction[configuration] = {
            "seuil": float(seuils[configuration]),
            "taux_alerte": float(np.mean(p >= seuils[configuration])),
            "effectifs_probabilite": compter(cases, p.tolist()).astype(int).tolist(),
        }
    return {"format": FORMAT_REFERENCE, "source": source, "eleves": len(enregistrements),
            "seuils_psi": {"moderee": SEUIL_MODERE, "forte": SEUIL_FORT}, "variables": variables,
            "prediction": prediction}


def lire_reference(chemin: str | Path) -> dict:
    reference = json.loads(Path(chemin).read_text(encoding="utf-8"))
    if reference.get("format") != FORMAT_REFERENCE or set(reference.get("variables", {})) != set(CHAMPS):
        raise ValueError(f"référence de dérive illisible ou d'un autre format : {chemin}")
    return reference


def _wilson(succes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = succes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    demi = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - demi), min(1.0, centre + demi)


def _variable(cases: dict, reference: np.ndarray, observes: np.ndarray) -> dict:
    n, m = int(observes.sum()), int(reference.sum())
    if n == 0:
        return {"n": 0, "psi": None, "niveau": "inconnu", "psi_hasard": None}
    valeur = psi(reference, observes)
    return {"n": n, "psi": round(valeur, 4), "niveau": niveau(valeur),
            "psi_hasard": round((len(reference) - 1) * (1 / n + 1 / m), 4)}


def derive(reference: Mapping, enregistrements: Sequence[Mapping]) -> dict:
    """La dérive d'enregistrements de prédictions (lignes du journal : ``entrees``, ``configuration``,
    ``prediction``, ``probabilite_echec``) par rapport à la référence. Agrégats seulement : aucune
    valeur d'élève dans le résultat."""
    configurations = [e.get("configuration") for e in enregistrements]
    comptees = reference["prediction"].keys()  # prédiction et probabilité lues pour ces configurations seulement
    classes = [e["prediction"] if c in comptees else None for e, c in zip(enregistrements, configurations)]
    probabilites = [e["probabilite_echec"] if c in comptees else None for e, c in zip(enregistrements, configurations)]
    colonnes = {nom: [e["entrees"].get(nom) for e in enregistrements] for nom in reference["variables"]}
    return derive_colonnes(reference, colonnes, configurations, classes, probabilites)


def derive_colonnes(reference: Mapping, colonnes: Mapping[str, Sequence], configurations: Sequence,
                    classes: Sequence, probabilites: Sequence) -> dict:
    """``derive`` d'élèves donnés en colonnes (une classe de la page ``/classe``, ``app.modele.colonnes``) :
    valeurs de chaque variable, configuration, classe prédite et probabilité d'échec de chaque élève."""
    variables = {}
    for nom, cases in reference["variables"].items():
        observes = compter(cases, colonnes[nom])
        variables[nom] = _variable(cases, np.asarray(cases["effectifs"], dtype=float), observes)
    taux = {}
    for configuration, ref in reference["prediction"].items():
        rangs = [i for i, c in enumerate(configurations) if c == configuration]
        if not rangs:
            continue
        alertes = sum(classes[i] == CLASSE_ECHEC for i in rangs)
        bas, haut = _wilson(alertes, len(rangs))
        cases = {"type": "bornes", "bornes": list(CASES_PROBABILITE)}
        distribution = _variable(cases, np.asarray(ref["effectifs_probabilite"], dtype=float),
                                 compter(cases, (probabilites[i] for i in rangs)))
        taux[configuration] = {
            "n": len(rangs), "taux_alerte": round(alertes / len(rangs), 4),
            "ic95": [round(bas, 4), round(haut, 4)], "taux_alerte_reference": round(ref["taux_alerte"], 4),
            "ecart": not bas <= ref["taux_alerte"] <= haut,
            "psi_probabilite": distribution["psi"], "niveau_probabilite": distribution["niveau"],
        }
    return {
        "n": len(configurations),
        "seuils_psi": {"moderee": SEUIL_MODERE, "forte": SEUIL_FORT},
        "variables": variables,
        "derivees": sorted((nom for nom, v in variables.items() if v["niveau"] in ("moderee", "forte")),
                           key=lambda nom: -variables[nom]["psi"]),
        "taux_echec_predit": taux,
    }

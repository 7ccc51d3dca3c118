"""Explication d'une prédiction : contribution de chaque champ, le long des chemins de décision.

Pour chaque arbre, on suit le chemin de l'élève depuis la racine ; chaque coupure déplace
la valeur du nœud (probabilité d'échec pour un arbre ou une forêt, log-cote pour le
gradient boosting) et ce déplacement est attribué au champ testé (méthode de Saabas).
La somme des contributions plus la valeur de la racine redonne exactement la prédiction.
Les colonnes one-hot sont rattachées au champ brut dont elles viennent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat

import numpy as np

from app.modele.classes import CLASSE_ECHEC
from app.modele.schema import CATEGORIES, Eleve

NOMBRE_FACTEURS = 5
EFFETS = ("augmente", "diminue")
"""Le sens d'un facteur : il augmente ou diminue le risque d'échec (énumération ``Effet`` du contrat, HTTP et
gRPC) ; la phrase entière est dans ``texte``."""
POIDS_MINIMUM = 0.02
"""Les facteurs de moins de 2 % du total ne sont pas cités : ils n'expliquent rien."""


@lru_cache(maxsize=None)
def libelle(champ: str) -> str:
    """Le libellé court d'un champ, tiré de sa description dans le schéma."""
    description = Eleve.model_fields[champ].description or champ
    return re.split(r" \(| :| ;|,", description, maxsplit=1)[0]


@dataclass(frozen=True)
class _Arbre:
    gauche: np.ndarray
    droite: np.ndarray
    variable: np.ndarray
    seuil: np.ndarray
    valeur: np.ndarray
    """Valeur de chaque nœud dans l'espace « risque d'échec » (plus grand = plus de risque)."""


class Explicateur:
    """Décompose la prédiction d'un pipeline arborescent en contributions par champ brut.

    C'est la référence : ``app.modele.compile.arbres`` refait ce calcul plus vite, et les tests
    vérifient que les deux donnent les mêmes contributions."""

    def __init__(self, pipeline, classifieur=None):
        from sklearn.ensemble import GradientBoostingClassifier, VotingClassifier

        preparation = pipeline[:-1]
        classifieur = pipeline[-1] if classifieur is None else classifieur
        sorties = list(preparation.get_feature_names_out())
        champs = list(preparation.feature_names_in_)
        self._champ_de_colonne = np.array([self._champ(nom, champs) for nom in sorties])
        self._champs = champs
        self._membres: list[tuple[float, Explicateur]] = []
        if isinstance(classifieur, VotingClassifier):
            # Vote souple : moyenne pondérée des probabilités ; chaque membre est expliqué dans
            # l'espace des probabilités, puis pondéré comme dans le vote.
            if classifieur.voting != "soft":
                raise TypeError("explication : seul le vote souple (voting='soft') est pris en charge")
            poids = np.ones(len(classifieur.estimators_)) if classifieur.weights is None \
                else np.asarray(classifieur.weights, dtype=float)
            self._membres = [(float(w / poids.sum()), Explicateur(pipeline, membre))
                             for w, membre in zip(poids, classifieur.estimators_)]
            self.en_probabilite, self._arbres, self._initial = True, [], 0.0
            return
        self.en_probabilite, self._arbres = self._arbres_de(classifieur)
        self._initial = 0.0
        if isinstance(classifieur, GradientBoostingClassifier):
            # Log-cote de départ (a priori des classes), avant le premier arbre.
            signe = -1.0 if classifieur.classes_[1] != CLASSE_ECHEC else 1.0
            zero = np.zeros((1, classifieur.n_features_in_))
            self._initial = signe * float(classifieur._raw_predict_init(zero)[0, 0])

    @staticmethod
    def _champ(colonne: str, champs: list[str]) -> int:
        if colonne in champs:
            return champs.index(colonne)
        for position, champ in enumerate(champs):
            if champ in CATEGORIES and colonne.startswith(champ + "_") \
                    and colonne[len(champ) + 1:] in CATEGORIES[champ]:
                return position
        raise ValueError(f"colonne transformée sans champ d'origine : {colonne}")

    @staticmethod
    def _arbres_de(classifieur) -> tuple[bool, list[_Arbre]]:
        from sklearn.ensemble import (
            ExtraTreesClassifier,
            GradientBoostingClassifier,
            RandomForestClassifier,
        )
        from sklearn.tree import DecisionTreeClassifier

        def arbre(t, valeur):
            return _Arbre(t.children_left, t.children_right, t.feature, t.threshold, valeur)

        if isinstance(classifieur, DecisionTreeClassifier):
            estimateurs, poids = [classifieur], 1.0
        elif isinstance(classifieur, (RandomForestClassifier, ExtraTreesClassifier)):
            estimateurs, poids = classifieur.estimators_, 1.0 / len(classifieur.estimators_)
        elif isinstance(classifieur, GradientBoostingClassifier):
            # Arbres de régression sur la log-cote de classes_[1] : signe inversé si c'est la réussite.
            signe = -1.0 if classifieur.classes_[1] != CLASSE_ECHEC else 1.0
            taux = classifieur.learning_rate
            return False, [arbre(e.tree_, signe * taux * e.tree_.value[:, 0, 0])
                           for e in classifieur.estimators_[:, 0]]
        else:
            raise TypeError(f"explication non prise en charge pour {type(classifieur).__name__}")
        colonne = list(classifieur.classes_).index(CLASSE_ECHEC)
        return True, [arbre(e.tree_, poids * e.tree_.value[:, 0, colonne]) for e in estimateurs]

    def contributions_en_probabilite(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Comme ``contributions``, ramenées à la probabilité d'échec.

        Pour le gradient boosting (log-cote), chaque contribution est multipliée par le même
        facteur positif (p − p_départ) / (somme des log-cotes) : les signes et l'ordre sont
        gardés, et la somme redonne exactement la probabilité.
        """
        depart, par_champ = self.contributions(x)
        if self.en_probabilite:
            return depart, par_champ
        return log_cotes_en_probabilite(depart, par_champ)

    def contributions(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """(valeur de départ, contribution de chaque champ brut) pour une ligne transformée."""
        if self._membres:
            depart, par_champ = 0.0, np.zeros(len(self._champs))
            for poids, membre in self._membres:
                d, c = membre.contributions_en_probabilite(x)
                depart += poids * d
                par_champ = par_champ + poids * c
            return depart, par_champ
        par_colonne = np.zeros(len(self._champ_de_colonne))
        depart = self._initial
        for arbre in self._arbres:
            noeud = 0
            depart += arbre.valeur[0]
            while arbre.gauche[noeud] != -1:
                variable = arbre.variable[noeud]
                suivant = arbre.gauche[noeud] if x[variable] <= arbre.seuil[noeud] else arbre.droite[noeud]
                par_colonne[variable] += arbre.valeur[suivant] - arbre.valeur[noeud]
                noeud = suivant
        par_champ = np.bincount(self._champ_de_colonne, weights=par_colonne, minlength=len(self._champs))
        return depart, par_champ

    def expliquer(self, x: np.ndarray, valeurs: dict) -> list[dict]:
        """Les facteurs principaux, du plus au moins important, en français."""
        _, par_champ = self.contributions(x)
        return facteurs(par_champ, self._champs, valeurs, self.en_probabilite)


def log_cotes_en_probabilite(depart: float, par_champ: np.ndarray) -> tuple[float, np.ndarray]:
    """(départ, contributions) en log-cote → en probabilité d'échec : une ligne (1-D) ou un lot (2-D).

    Chaque contribution d'une ligne est multipliée par le même facteur positif
    (p − p_départ) / (somme des log-cotes) : signes et ordre gardés, la somme redonne exactement
    la probabilité. Seule définition : le modèle compilé (``app.modele.compile.vote``) l'appelle aussi.
    """
    p_depart = 1.0 / (1.0 + np.exp(-depart))
    somme = par_champ.sum(axis=-1)
    p = 1.0 / (1.0 + np.exp(-(depart + somme)))
    if par_champ.ndim == 1:
        if somme == 0.0:
            return float(p_depart), np.zeros_like(par_champ)
        return float(p_depart), par_champ * ((p - p_depart) / somme)
    with np.errstate(divide="ignore", invalid="ignore"):
        echelle = np.where(somme == 0.0, 0.0, (p - p_depart) / somme)
    return float(p_depart), np.where((somme == 0.0)[:, None], 0.0, par_champ * echelle[:, None])


def facteurs(par_champ: np.ndarray, champs, valeurs: dict, en_probabilite: bool) -> list[dict]:
    """Les facteurs principaux d'une prédiction, du plus au moins important, en français.

    ``par_champ`` : contribution de chaque champ de ``champs`` (même ordre)."""
    absolues = np.abs(par_champ)
    ordre = np.argsort(-absolues, kind="stable")[:NOMBRE_FACTEURS]
    return _rediger(ordre.tolist(), par_champ[ordre].tolist(), float(absolues.sum()), champs, valeurs, en_probabilite)


def facteurs_lot(par_champ: np.ndarray, champs, valeurs: Sequence[dict], en_probabilite: bool) -> list[list[dict]]:
    """``facteurs`` de chaque ligne de ``par_champ`` (élèves × champs) : le tri et les totaux en une
    opération numpy pour tout le lot, seule la rédaction reste élève par élève (mêmes résultats)."""
    absolues = np.abs(par_champ)
    ordres = np.argsort(-absolues, axis=1, kind="stable")[:, :NOMBRE_FACTEURS]
    principales = np.take_along_axis(par_champ, ordres, axis=1)
    return [_rediger(ordre, contributions, total, champs, v, en_probabilite) for ordre, contributions, total, v
            in zip(ordres.tolist(), principales.tolist(), absolues.sum(axis=1).tolist(), valeurs)]


def facteurs_colonnes(par_champ: np.ndarray, champs, colonnes: Sequence[Sequence], rangs: Sequence[int],
                      en_probabilite: bool) -> list[list[dict]]:
    """``facteurs_lot`` sans un mapping par élève : ``colonnes[j]`` donne la valeur du champ ``champs[j]`` de
    chaque élève du lot, ``rangs`` le rang dans le lot de chaque ligne de ``par_champ``. Tri, totaux, poids et
    leur arrondi, et choix des facteurs cités en tableaux pour toute la configuration ; seuls restent par
    facteur la phrase (en cache, ``_phrase``) et son dict. Mêmes résultats, flottant pour flottant
    (test/test_lot_colonnes.py)."""
    if not len(par_champ):
        return []
    absolues = np.abs(par_champ)
    ordres = np.argsort(-absolues, axis=1, kind="stable")[:, :NOMBRE_FACTEURS]
    principales = np.take_along_axis(par_champ, ordres, axis=1)
    totaux = absolues.sum(axis=1)
    totaux = np.where(totaux == 0.0, 1.0, totaux)  # ``total or 1.0`` de _rediger
    poids = np.abs(principales) / totaux[:, None]  # la division de _rediger, élément par élément
    cites = np.logical_and.accumulate(~(poids < POIDS_MINIMUM), axis=1)  # _rediger s'arrête au premier sous le seuil
    lignes, places = np.nonzero(cites)  # ligne après ligne, du plus au moins important
    poids_cites = poids[lignes, places]
    ordre_l = ordres[lignes, places].tolist()
    contributions_l = principales[lignes, places].tolist()
    arrondis = _arrondir_4(poids_cites)
    rangs_l = np.asarray(rangs)[lignes].tolist()
    noms = [champs[o] for o in ordre_l]
    valeurs = [colonnes[o][r] for o, r in zip(ordre_l, rangs_l)]
    phrases = map(_phrase, noms, valeurs, contributions_l, repeat(en_probabilite))
    if en_probabilite:
        cites_l = [{"champ": nom, "valeur": valeur, "effet": sens, "contribution": arrondie, "poids": p, "texte": texte}
                   for nom, (valeur, sens, arrondie, texte), p in zip(noms, phrases, arrondis)]
    else:
        cites_l = [{"champ": nom, "valeur": valeur, "effet": sens, "contribution": arrondie, "poids": p,
                    "texte": f"{texte}{100 * brut:.0f} % de l'explication)"}
                   for nom, (valeur, sens, arrondie, texte), p, brut in zip(noms, phrases, arrondis, poids_cites.tolist())]
    fins = np.cumsum(cites.sum(axis=1)).tolist()
    return [cites_l[debut:fin] for debut, fin in zip([0, *fins[:-1]], fins)]


def _arrondir_4(valeurs: np.ndarray) -> list[float]:
    """``round(v, 4)`` de chaque valeur (arrondi décimal exact de Python), en tableau : ``rint(v × 10⁴) / 10⁴``
    donne le même flottant sauf si v × 10⁴ tombe près d'une demie (l'erreur du produit pourrait changer
    d'entier) : ces valeurs-là, et les grandes, passent par ``round`` lui-même."""
    echelle = valeurs * 1e4
    arrondis = (np.rint(echelle) / 1e4).tolist()
    douteux = np.flatnonzero((np.abs(echelle - np.floor(echelle) - 0.5) < 1e-6) | ~(np.abs(valeurs) < 1e6))
    if len(douteux):
        brutes = valeurs.tolist()
        for i in douteux.tolist():
            arrondis[i] = round(brutes[i], 4)
    return arrondis


def _rediger(ordre: list[int], contributions: list[float], total: float, champs, valeurs: dict,
             en_probabilite: bool) -> list[dict]:
    """Les phrases des champs ``ordre`` (du plus au moins important), de contributions ``contributions``."""
    total = total or 1.0
    resultat = []
    for position, contribution in zip(ordre, contributions):
        poids = abs(contribution) / total
        if poids < POIDS_MINIMUM:
            break
        champ = champs[position]
        valeur, sens, arrondie, texte = _phrase(champ, valeurs[champ], contribution, en_probabilite)
        resultat.append({
            "champ": champ,
            "valeur": valeur,
            "effet": sens,
            "contribution": arrondie,
            "poids": round(poids, 4),
            "texte": texte if en_probabilite else f"{texte}{100 * poids:.0f} % de l'explication)",
        })
    return resultat


@lru_cache(maxsize=1 << 13)
def _phrase(champ: str, valeur, contribution: float, en_probabilite: bool) -> tuple[str, str, float, str]:
    """(valeur en texte, effet, contribution arrondie, phrase) d'un facteur ; sans ``en_probabilite``, la phrase
    s'arrête avant son ampleur (« NN % de l'explication) », qui dépend du total de l'élève).

    Un modèle d'arbres ne donne qu'un petit nombre de contributions différentes par champ : la même phrase
    revient d'un élève à l'autre. Mise en cache, elle n'est plus formatée qu'une fois (un lot de 1 000 élèves
    passait le tiers de son explication à formater des flottants). Une contribution nulle n'arrive jamais ici
    (poids 0, sous ``POIDS_MINIMUM``) : 0,0 et -0,0, égaux pour le cache, ne se confondent pas. 8 192 phrases au
    plus (quelques Mio par worker) : les 1 000 élèves d'un lot en donnent moins de 2 000 différentes."""
    sens = EFFETS[0] if contribution > 0 else EFFETS[1]
    debut = f"{libelle(champ)} ({champ} = {valeur}) : {sens} le risque d'échec ("
    if en_probabilite:
        texte = debut + f"{100 * contribution:+.1f} points de probabilité d'échec".replace(".", ",") + ")"
    else:
        texte = debut
    return str(valeur), sens, round(contribution, 4), texte

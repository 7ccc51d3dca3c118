"""Un lot d'élèves validé en colonnes : une liste par champ, sans objet pydantic par élève.

``POST /predire/lot`` (liste JSON) et ``POST /predire/lot/partiel`` (classe CSV) validaient, puis lisaient,
un ``DemandePrediction`` par élève : le quart du CPU d'un lot de 1 000 (``make banc``). Ici, chaque champ est
jugé d'une traite sur tout le lot, avec les règles du schéma (``app.modele.schema``, seule source des
32 champs) : champs permis et obligatoires (``DemandePrediction.model_fields``), valeurs permises
(``CATEGORIES``), bornes (``bornes``), entiers écrits en texte (``ENTIERS_TEXTE``), identifiant
(``identifiant_valide``). La conversion d'un entier est celle de ``schema._entier_strict`` mise en table :
un entier, un flottant entier (11.0) ou son texte (« 11 ») ; jamais un booléen.

Ce module ne rédige aucun refus : un lot (JSON) ou une ligne (CSV) qu'il ne juge pas valide passe par la
validation pydantic, qui nomme chaque problème en français comme avant. Il ne doit donc jamais accepter ce
que pydantic refuse, ni changer une valeur : test/test_lot_colonnes.py le vérifie sur des milliers d'élèves
tirés au hasard et de valeurs modifiées.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter

import numpy as np

from app.modele.identifiants import identifiant_valide
from app.modele.schema import CATEGORIES, CHAMPS, ENTIERS_TEXTE, NUMERIQUES, DemandePrediction, bornes

PERMIS = frozenset(DemandePrediction.model_fields)
"""Les clés d'un élève : les 32 champs et ``user_id``."""
OBLIGATOIRES = frozenset(nom for nom, info in DemandePrediction.model_fields.items() if info.is_required())
FACULTATIFS = tuple(nom for nom in DemandePrediction.model_fields if nom not in OBLIGATOIRES)
"""Absents, ils valent None (leur défaut dans le schéma) : G1, G2 et user_id."""
if any(DemandePrediction.model_fields[nom].default is not None for nom in FACULTATIFS):
    raise TypeError("un champ facultatif du schéma a un défaut autre que None : app.modele.colonnes à revoir")
_VALEURS_PERMISES = {nom: frozenset(valeurs) for nom, valeurs in CATEGORIES.items()}
_RANGS = {nom: {valeur: rang for rang, valeur in enumerate(valeurs)} for nom, valeurs in CATEGORIES.items()}
_BORNES = {nom: bornes(nom) for nom in NUMERIQUES}


def _table_entiers(nom: str) -> dict:
    """Valeur reçue → entier validé, pour ce que ``_entier_strict`` puis les bornes du champ acceptent. Un
    flottant entier (11.0) trouve la clé 11 (même hachage, égal) ; un booléen aussi (True == 1) : il est
    écarté avant (``_TYPES_ENTIER``). None pour un champ facultatif."""
    minimum, maximum = _BORNES[nom]
    table: dict = {n: n for n in range(minimum, maximum + 1)}
    table.update((texte, n) for texte, n in ENTIERS_TEXTE.items() if minimum <= n <= maximum)
    if nom in FACULTATIFS:
        table[None] = None
    return table


_TABLES = {nom: _table_entiers(nom) for nom in NUMERIQUES}
_TEXTES = {nom: {cle: n for cle, n in table.items() if type(cle) is not int} for nom, table in _TABLES.items()}
"""Les mêmes tables pour une cellule CSV : texte (ou None, cellule vide d'une note) seulement."""
_TYPES_ENTIER = frozenset({int, float, str, type(None)})
"""Les types qu'un champ entier peut recevoir ; un booléen (et tout le reste) est refusé par ``_entier_strict``."""
_INVALIDE = object()


@dataclass
class LotColonnes:
    """Les élèves valides d'un lot : les valeurs validées de chaque champ (``colonnes``, ``user_id`` compris),
    leurs ``entrees`` (dict des 32 champs de chaque élève, comme ``DemandePrediction.entrees``), et les
    tableaux du prédicteur (``Predicteur.predire_tableaux``)."""

    colonnes: dict[str, list]
    entrees: list[dict]
    nombres: np.ndarray = field(repr=False)
    codes: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.entrees)


def _assembler(colonnes: dict[str, list], entrees: list[dict] | None = None) -> LotColonnes:
    n = len(colonnes[CHAMPS[0]])
    if entrees is None:
        entrees = list(map(dict, map(zip, repeat(CHAMPS), zip(*(colonnes[nom] for nom in CHAMPS)))))
    nombres = np.empty((n, len(NUMERIQUES)))
    for j, nom in enumerate(NUMERIQUES):  # entiers exacts en float64 ; None (note absente) → NaN
        nombres[:, j] = np.fromiter(colonnes[nom], dtype=np.float64, count=n)
    codes = np.empty((n, len(CATEGORIES)), dtype=np.intp)
    for j, nom in enumerate(CATEGORIES):
        codes[:, j] = np.fromiter(map(_RANGS[nom].__getitem__, colonnes[nom]), dtype=np.intp, count=n)
    return LotColonnes(colonnes=colonnes, entrees=entrees, nombres=nombres, codes=codes)


def _entiers(nom: str, valeurs: list) -> list | None:
    """Les entiers validés d'une colonne JSON (la liste elle-même si rien n'est à convertir), None si une valeur
    est refusée."""
    types = set(map(type, valeurs))
    if types <= {int} or (types <= {int, type(None)} and nom in FACULTATIFS):
        presents = valeurs if type(None) not in types else [v for v in valeurs if v is not None]
        minimum, maximum = _BORNES[nom]
        return valeurs if not presents or (min(presents) >= minimum and max(presents) <= maximum) else None
    if not types <= _TYPES_ENTIER:
        return None
    try:
        return list(map(_TABLES[nom].__getitem__, valeurs))
    except (KeyError, TypeError):  # hors table, ou non hachable
        return None


def _identifiants_valides(valeurs: list) -> bool:
    return all(v is None or (type(v) is str and identifiant_valide(v)) for v in valeurs)


def lot_json(documents: Sequence) -> LotColonnes | None:
    """Une liste JSON d'élèves (analysée) en colonnes si chaque élément est un élève valide, sinon None :
    ``app.modele.lots.lot_json`` (pydantic) en nomme alors les problèmes."""
    if not documents or set(map(type, documents)) != {dict}:
        return None
    formes = set(map(tuple, documents))  # d'ordinaire une seule : les clés de chaque élève, dans l'ordre
    if not all(PERMIS.issuperset(forme) and OBLIGATOIRES.issubset(forme) for forme in formes):
        return None
    if len(formes) == 1:  # mêmes clés dans le même ordre : les valeurs se transposent d'un trait
        (forme,) = formes
        colonnes = dict(zip(forme, map(list, zip(*map(dict.values, documents)))))
        colonnes.update((nom, [None] * len(documents)) for nom in FACULTATIFS if nom not in colonnes)
    else:
        colonnes = {nom: list(map(itemgetter(nom), documents)) if nom in OBLIGATOIRES
                    else list(map(dict.get, documents, repeat(nom))) for nom in (*CHAMPS, "user_id")}
    for nom in CATEGORIES:
        try:
            if not _VALEURS_PERMISES[nom].issuperset(colonnes[nom]):
                return None
        except TypeError:  # une valeur non hachable (liste, objet)
            return None
    inchangees = True
    for nom in NUMERIQUES:
        valeurs = _entiers(nom, colonnes[nom])
        if valeurs is None:
            return None
        inchangees = inchangees and valeurs is colonnes[nom]
        colonnes[nom] = valeurs
    if not _identifiants_valides(colonnes["user_id"]):
        return None
    # Chaque élément a exactement les 32 champs, dans l'ordre, et des valeurs déjà validées : c'est son dict
    # d'entrées, sans copie (un lot envoyé par un programme, le cas courant).
    canonique = inchangees and formes == {CHAMPS}
    return _assembler(colonnes, list(documents) if canonique else None)


@dataclass
class CellulesJugees:
    """Les colonnes d'un CSV (cellules déjà nettoyées, ``_document_csv``) jugées en bloc : les valeurs validées
    de chaque champ, et les rangs des lignes qu'une valeur au moins fait refuser (pydantic les détaillera)."""

    colonnes: dict[str, list]
    refusees: set[int]


def juger_cellules(cellules: dict[str, list], n: int) -> CellulesJugees:
    """``cellules`` : colonne du schéma (ou ``user_id``) → cellules de ses ``n`` lignes, ``""`` déjà changé en
    None pour les notes et ``user_id`` ; une colonne absente (G1, G2, user_id) vaut None partout."""
    colonnes: dict[str, list] = {}
    refusees: set[int] = set()
    for nom in (*CHAMPS, "user_id"):
        valeurs = cellules.get(nom)
        if valeurs is None:
            colonnes[nom] = [None] * n
            continue
        if nom in CATEGORIES:
            permises = _VALEURS_PERMISES[nom]
            if not permises.issuperset(valeurs):
                refusees.update(i for i, v in enumerate(valeurs) if v not in permises)
            colonnes[nom] = valeurs
        elif nom in NUMERIQUES:
            converties = list(map(_TEXTES[nom].get, valeurs, repeat(_INVALIDE)))
            if _INVALIDE in converties:
                refusees.update(i for i, v in enumerate(converties) if v is _INVALIDE)
            colonnes[nom] = converties
        else:
            if not _identifiants_valides(valeurs):
                refusees.update(i for i, v in enumerate(valeurs) if not _identifiants_valides([v]))
            colonnes[nom] = valeurs
    return CellulesJugees(colonnes=colonnes, refusees=refusees)


def garder(jugees: CellulesJugees, rangs: Sequence[int]) -> LotColonnes:
    """Le lot des lignes ``rangs`` (toutes valides) de colonnes jugées."""
    if len(rangs) == len(jugees.colonnes[CHAMPS[0]]):
        return _assembler(jugees.colonnes)
    if not rangs:
        return _assembler({nom: [] for nom in jugees.colonnes})
    prendre = itemgetter(*rangs) if len(rangs) > 1 else (lambda valeurs: (valeurs[rangs[0]],))
    return _assembler({nom: list(prendre(valeurs)) for nom, valeurs in jugees.colonnes.items()})

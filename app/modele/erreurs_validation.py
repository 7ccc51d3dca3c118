"""Traduction des erreurs de validation pydantic en messages français, champ par champ."""

from __future__ import annotations

import difflib

from pydantic import ValidationError

from app.modele.schema import CATEGORIES, CHAMPS, NUMERIQUES, bornes

DETAILS_MAX = 100
"""Problèmes détaillés au plus dans toute réponse d'erreur (le message donne le total), seule borne du
projet (``app.web.erreurs`` tronque toute réponse à cette longueur) : la réponse et le travail qui la
prépare (une suggestion « vouliez-vous dire » par champ inconnu) restent bornés quel que soit le corps."""


def _nom_champ(loc: tuple) -> str:
    return ".".join(str(partie) for partie in loc) if loc else "(corps)"


def _message(erreur: dict) -> str:
    type_erreur = erreur["type"]
    champ = erreur["loc"][-1] if erreur["loc"] else None
    valeur = erreur.get("input")
    if type_erreur == "missing":
        return "champ obligatoire manquant"
    if type_erreur == "extra_forbidden":
        proches = difflib.get_close_matches(str(champ), CHAMPS, n=1, cutoff=0.6)
        proches = proches or [c for c in CHAMPS if c.lower() == str(champ).lower()]
        suggestion = f" ; vouliez-vous dire « {proches[0]} » ?" if proches else ""
        return "champ inconnu : il ne fait pas partie des 32 attributs d'un élève" + suggestion
    if champ in CATEGORIES:
        permises = ", ".join(CATEGORIES[champ])
        if valeur is None:
            return f"null n'est pas permis ; valeurs permises : {permises}"
        return f"valeur non permise {valeur!r} ; valeurs permises : {permises}"
    if champ in NUMERIQUES and type_erreur in ("greater_than_equal", "less_than_equal"):
        minimum, maximum = bornes(champ)
        return f"valeur {valeur!r} hors limites : entier de {minimum} à {maximum} attendu"
    if type_erreur in ("entier", "identifiant"):
        return erreur["msg"]
    limites = erreur.get("ctx") or {}
    if type_erreur == "greater_than_equal":
        return f"valeur {valeur!r} hors limites : au moins {limites.get('ge')}"
    if type_erreur == "less_than_equal":
        return f"valeur {valeur!r} hors limites : au plus {limites.get('le')}"
    if type_erreur == "string_type":
        return "doit être une chaîne"
    if type_erreur in ("int_type", "int_parsing") and valeur is None:
        return "null n'est pas permis : nombre entier attendu"
    if type_erreur in ("int_type", "int_parsing", "int_from_float"):
        return "doit être un nombre entier"
    return "valeur invalide"


def detailler(erreur: ValidationError, maximum: int = DETAILS_MAX) -> list[dict[str, str]]:
    """Une entrée ``{"champ", "message"}`` par problème, dans l'ordre du schéma, ``maximum`` au plus
    (le total est ``erreur.error_count()``) : les messages des suivants ne sont jamais calculés."""
    return [
        {"champ": _nom_champ(e["loc"]), "message": _message(e)}
        for e in erreur.errors(include_url=False)[:max(maximum, 0)]
    ]


def resume(details: list[dict[str, str]], total: int | None = None) -> str:
    """Le message d'ensemble d'un élève refusé (réponse 400 de l'API HTTP, statut INVALID_ARGUMENT de gRPC) ;
    ``total`` : le nombre de problèmes quand ``details`` n'en garde que ``DETAILS_MAX``."""
    total = len(details) if total is None else total
    champs = ", ".join(d["champ"] for d in details[:5]) + (" …" if total > 5 else "")
    return f"données de l'élève invalides ({total} problème(s) : {champs})"

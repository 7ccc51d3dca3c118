"""Élèves valides tirés au hasard dans le schéma (bornes et valeurs permises) : vérifications et banc d'essai."""

from __future__ import annotations

import random

from app.modele.schema import CATEGORIES, CHAMPS, NOTES, bornes


def eleves_aleatoires(nombre: int, graine: int = 0, notes_absentes: float = 0.0) -> list[dict]:
    """``nombre`` enregistrements valides ; chaque note manque (None) avec la probabilité ``notes_absentes``."""
    hasard = random.Random(graine)
    intervalles = {nom: bornes(nom) for nom in CHAMPS if nom not in CATEGORIES}
    eleves = []
    for _ in range(nombre):
        eleve = {}
        for nom in CHAMPS:
            if nom in CATEGORIES:
                eleve[nom] = hasard.choice(CATEGORIES[nom])
            elif nom in NOTES and hasard.random() < notes_absentes:
                eleve[nom] = None
            else:
                eleve[nom] = hasard.randint(*intervalles[nom])
        eleves.append(eleve)
    return eleves

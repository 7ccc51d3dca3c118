"""JSON rapide pour les réponses (``app.web.fabrique``) et le journal (``app.stockage``) : orjson, avec repli sur ``json`` pour ce qu'il refuse.

Sur ``/predire``, encoder la réponse avec ``json`` coûtait autant que la prédiction elle-même.
orjson écrit le même JSON compact en UTF-8 ; il refuse ce que ``json`` sait écrire (entier de
plus de 64 bits recopié d'une entrée invalide dans un message d'erreur, type inconnu) : ces cas
rares passent par ``json``, jamais par une erreur 500.
"""

from __future__ import annotations

import json

import orjson

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def en_octets(document) -> bytes:
    """``document`` en JSON compact UTF-8 (non-ASCII tel quel, sans espaces)."""
    try:
        return orjson.dumps(document, option=_OPTIONS)
    except TypeError:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")

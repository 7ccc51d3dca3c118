"""JSON rapide pour les réponses (``app.web.fabrique``) et le journal (``app.stockage``) : orjson, avec repli sur ``json`` pour ce qu'il refuse.

Sur ``/predire``, encoder la réponse avec ``json`` coûtait autant que la prédiction elle-même.
orjson écrit le même JSON compact en UTF-8 ; il refuse ce que ``json`` sait écrire (entier de
plus de 64 bits recopié d'une entrée invalide dans un message d'erreur, type inconnu) : ces cas
rares passent par ``json``, jamais par une erreur 500.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import orjson

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def en_octets(document) -> bytes:
    """``document`` en JSON compact UTF-8 (non-ASCII tel quel, sans espaces)."""
    try:
        return orjson.dumps(document, option=_OPTIONS)
    except TypeError:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def liste_fusionnee_en_octets(cle: str, premiers: Sequence[dict], seconds: Sequence[dict], reste: dict) -> bytes:
    """``en_octets({cle: [{**a, **b} for a, b in zip(premiers, seconds)], **reste})``, octet pour octet, sans
    construire les dicts fusionnés : chaque moitié est écrite par orjson (clés distinctes, aucune moitié vide),
    puis les morceaux sont mis bout à bout. Un lot de 1 000 élèves recopiait ses 32 entrées dans 1 000 dicts
    de 44 clés avant de les écrire (``make banc``, décomposition d'un lot)."""
    try:
        if not all(premiers) or not all(seconds):
            raise TypeError("moitié vide")
        morceaux = b",".join([orjson.dumps(a, option=_OPTIONS)[:-1] + b"," + orjson.dumps(b, option=_OPTIONS)[1:]
                              for a, b in zip(premiers, seconds, strict=True)])
        fin = orjson.dumps(reste, option=_OPTIONS)
        return b"{" + orjson.dumps(cle) + b":[" + morceaux + b"]" + (b"," + fin[1:] if reste else b"}")
    except TypeError:  # ce qu'orjson refuse : en_octets s'en charge (repli sur json), avec les dicts fusionnés
        return en_octets({cle: [{**a, **b} for a, b in zip(premiers, seconds)], **reste})

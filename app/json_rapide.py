"""JSON rapide pour les réponses et le journal : orjson, avec repli sur ``json`` pour ce qu'il refuse.

Sur ``/predire``, encoder la réponse avec ``json`` coûtait autant que la prédiction elle-même.
orjson écrit le même JSON compact en UTF-8 ; il refuse ce que ``json`` sait écrire (entier de
plus de 64 bits recopié d'une entrée invalide dans un message d'erreur, type inconnu) : ces cas
rares passent par ``json``, jamais par une erreur 500.
"""

from __future__ import annotations

import json

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def en_octets(document) -> bytes:
    """``document`` en JSON compact UTF-8 (non-ASCII tel quel, sans espaces)."""
    try:
        return orjson.dumps(document, option=_OPTIONS)
    except TypeError:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


class FournisseurJson(DefaultJSONProvider):
    """Le ``jsonify`` de Flask, écrit par orjson (clés dans l'ordre d'insertion, UTF-8)."""

    sort_keys = False
    ensure_ascii = False

    def dumps(self, obj, **kwargs) -> str:
        return en_octets(obj).decode("utf-8") if not kwargs else super().dumps(obj, **kwargs)

    def response(self, *args, **kwargs):
        document = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(en_octets(document), mimetype=self.mimetype)

"""Identifiants de requête : fournis par l'appelant (X-Request-ID) ou générés."""

from __future__ import annotations

import re
import uuid

FORME_IDENTIFIANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
REGLE_IDENTIFIANT = "1 à 128 caractères parmi lettres, chiffres, . _ : - (commençant par une lettre ou un chiffre)"


def nouvel_identifiant() -> str:
    return uuid.uuid4().hex


def identifiant_valide(valeur: str) -> bool:
    return bool(FORME_IDENTIFIANT.fullmatch(valeur))  # « $ » accepterait un saut de ligne final (« abc\n »)

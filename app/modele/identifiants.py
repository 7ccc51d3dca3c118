"""Identifiants de requête : fournis par l'appelant (X-Request-ID) ou générés."""

from __future__ import annotations

import os
import re
import threading
import uuid

FORME_IDENTIFIANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
REGLE_IDENTIFIANT = "1 à 128 caractères parmi lettres, chiffres, . _ : - (commençant par une lettre ou un chiffre)"
REGLE_IDENTIFIANT_CHOISI = ("un identifiant choisi est réservé aux appelants identifiés (Authorization: Bearer "
                            "<API_TOKEN>, ou la connexion du personnel) : sans justificatif, omettez-le et le service "
                            "en attribue un")


def choix_permis(identifie: bool, justificatifs_configures: bool) -> bool:
    """Issue 28 (B5) : un identifiant déjà pris est refusé (409, ALREADY_EXISTS) ; choisi par un appelant anonyme,
    ce refus lui dirait qu'une prédiction le porte. Seul un appelant identifié choisit donc l'identifiant
    conservé, dès qu'un justificatif existe (API_TOKEN, IAP, OpenID Connect). Sans aucun (mode local sans
    API_TOKEN : un seul utilisateur, sur la boucle locale par défaut, et personne ne peut relire), rien ne
    distingue un appelant d'un autre : le choix reste permis. HTTP et gRPC appliquent cette même règle."""
    return identifie or not justificatifs_configures

_RESERVE = 4096
"""Octets aléatoires tirés d'un coup (256 identifiants) : un appel système pour 256 requêtes au lieu d'un par
requête (chacun rend le verrou global de Python, que les autres fils du worker se disputent)."""


class _Aleas(threading.local):
    reserve = b""
    position = 0


_aleas = _Aleas()
os.register_at_fork(after_in_child=lambda: setattr(_aleas, "reserve", b""))
"""Après un fork (workers gunicorn), la réserve héritée est jetée : deux processus ne tirent jamais les mêmes.
Seul le fil qui a forké existe dans l'enfant (les fils créés ensuite ont une réserve neuve)."""


def nouvel_identifiant() -> str:
    """Un UUID version 4 en hexadécimal (32 caractères), comme ``uuid.uuid4().hex`` : 122 bits de ``os.urandom``."""
    aleas = _aleas
    if aleas.position >= len(aleas.reserve):
        aleas.reserve, aleas.position = os.urandom(_RESERVE), 0
    debut = aleas.position
    aleas.position = debut + 16
    return uuid.UUID(bytes=aleas.reserve[debut:debut + 16], version=4).hex  # uuid pose version et variante


def identifiant_valide(valeur: str) -> bool:
    return bool(FORME_IDENTIFIANT.fullmatch(valeur))  # « $ » accepterait un saut de ligne final (« abc\n »)

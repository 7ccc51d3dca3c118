"""Identifiants de requête : fournis par l'appelant (X-Request-ID) ou générés."""

from __future__ import annotations

import os
import re
import threading
import time

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

ALEA_OCTETS = 10
"""Octets aléatoires par identifiant : 80 bits, dont 74 restent après la version et la variante."""
_RESERVE = 256 * ALEA_OCTETS
"""Octets aléatoires tirés d'un coup (256 identifiants) : un appel système pour 256 requêtes au lieu d'un par
requête (chacun rend le verrou global de Python, que les autres fils du worker se disputent)."""
_VERSION_7 = 7 << 76
_VARIANTE_RFC = 0b10 << 62
_MASQUE = ~((0xF << 76) | (0b11 << 62))


class _Aleas(threading.local):
    reserve = b""
    position = 0


_aleas = _Aleas()
os.register_at_fork(after_in_child=lambda: setattr(_aleas, "reserve", b""))
"""Après un fork (workers gunicorn), la réserve héritée est jetée : deux processus ne tirent jamais les mêmes.
Seul le fil qui a forké existe dans l'enfant (les fils créés ensuite ont une réserve neuve)."""


def nouvel_identifiant() -> str:
    """Un UUID version 7 (RFC 9562) en hexadécimal (32 caractères) : l'instant en millisecondes (48 bits), puis
    74 bits de ``os.urandom``. Ordonnés dans le temps, les identifiants générés s'ajoutent à droite de l'index
    unique des ``request_id`` en base au lieu de toucher une page de l'index au hasard (un UUID 4) : le suiveur
    écrivait presque une page par prédiction à chaque transaction (mesuré : 36,6 µs de CPU par enregistrement
    contre 16,3, SQLite, table de 300 000 lignes ; journal de projet du 8 décembre 2026). 74 bits aléatoires par
    milliseconde restent impossibles à deviner ; l'instant qu'ils portent, la prédiction conservée le donne déjà
    (``horodatage``)."""
    aleas = _aleas
    debut = aleas.position
    if debut + ALEA_OCTETS > len(aleas.reserve):
        aleas.reserve, debut = os.urandom(_RESERVE), 0
    aleas.position = debut + ALEA_OCTETS
    entier = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(aleas.reserve[debut:debut + ALEA_OCTETS], "big")
    return f"{entier & _MASQUE | _VERSION_7 | _VARIANTE_RFC:032x}"


def identifiant_valide(valeur: str) -> bool:
    return bool(FORME_IDENTIFIANT.fullmatch(valeur))  # « $ » accepterait un saut de ligne final (« abc\n »)

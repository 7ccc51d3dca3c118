"""Jeton d'accès des routes d'historique et de ``/derive`` : ``Authorization: Bearer <API_TOKEN>``.

Les routes l'exigent par ``app.web.identite.exiger`` (mode local ; hors mode local, l'identité du personnel
— IAP ou OpenID Connect — ou ce même jeton pour les scripts).

Sans ``API_TOKEN`` configuré, ces routes sont fermées (403) : relire ou effacer l'historique
d'un élève ne doit jamais être ouvert à tous par oubli. La comparaison se fait en temps
constant (``hmac.compare_digest``) ; le jeton reçu n'est jamais journalisé.

Chaque tentative refusée (401 : jeton absent ou invalide) est journalisée (gabarit de route et motif,
jamais le jeton ni l'URL, qui peut porter un user_id) ; elle est comptée par ``app.web.observation``
(métrique Prometheus ``prediction_etudiante_jetons_refuses_total``, par route).

Issue 28 : les essais ratés sont limités par client (``JETON_ESSAIS_MAX``, 10 par défaut, par
``FENETRE_ESSAIS_S`` et par processus ; avant : 564 essais par seconde) ; au-delà, 429 avec Retry-After, sans comparer le jeton. Le
client est l'adresse vue par gunicorn, ou sur Cloud Run la dernière de X-Forwarded-For (celle que le
frontal de Google ajoute ; les précédentes viennent du client et ne comptent pas).
"""

from __future__ import annotations

import hmac
import logging

from flask import request

from app.limite_essais import FENETRE_ESSAIS_S, LimiteEssais
from app.web.erreurs import ErreurRequete
from app.web.services import services

DEFI = 'Bearer realm="prediction-etudiante"'
journal = logging.getLogger("prediction_etudiante")


def _refuser(motif: str) -> None:
    """Journalise une tentative refusée : le motif et le gabarit de route, jamais le jeton ni le chemin."""
    route = request.url_rule.rule if request.url_rule is not None else "<inconnue>"
    journal.warning("accès refusé aux routes d'historique : %s (route %s)", motif, route)


LIMITE = LimiteEssais()


def _client() -> str:
    if services().configuration.service_cloud_run:
        transmis = request.headers.get("X-Forwarded-For", "")
        if transmis:
            return transmis.rsplit(",", 1)[-1].strip()[:64]
    return request.remote_addr or "?"


def verifier(en_tete: str | None, attendu: str) -> None:
    """Lève 403 si aucun jeton n'est configuré, 429 après trop d'essais ratés de ce client, 401 si l'en-tête
    manque ou ne correspond pas."""
    if not attendu:
        raise ErreurRequete(403, "routes d'historique et de dérive désactivées : définissez la variable d'environnement "
                                 "API_TOKEN (au moins 32 caractères) sur le serveur pour les activer, puis "
                                 "envoyez l'en-tête Authorization: Bearer <jeton>")
    client, maximum = _client(), services().configuration.essais_jeton_max
    attente = LIMITE.attente(client, maximum)
    if attente > 0:
        _refuser("trop d'essais ratés")
        raise ErreurRequete(429, f"trop d'essais de jeton ratés ({maximum} par {FENETRE_ESSAIS_S:.0f} s) : "
                                 f"réessayez dans {attente:.0f} s", entetes={"Retry-After": str(int(attente) + 1)})
    schema, _, fourni = (en_tete or "").strip().partition(" ")
    if schema.lower() != "bearer" or not fourni.strip():
        LIMITE.rate(client, maximum)
        _refuser("jeton absent")
        raise ErreurRequete(401, "authentification requise : en-tête Authorization: Bearer <jeton> attendu",
                            entetes={"WWW-Authenticate": DEFI})
    if not hmac.compare_digest(fourni.strip().encode("utf-8"), attendu.encode("utf-8")):
        LIMITE.rate(client, maximum)
        _refuser("jeton invalide")
        raise ErreurRequete(401, "jeton d'accès invalide",
                            entetes={"WWW-Authenticate": DEFI + ', error="invalid_token"'})

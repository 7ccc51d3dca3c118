"""Connexion OpenID Connect (mode ``oidc``) : code d'autorisation avec PKCE, contre le fournisseur d'``OIDC_ISSUER``.

- ``GET /connexion`` : redirige vers le fournisseur (``state``, ``nonce``, défi PKCE S256 gardés dans le cookie
  de session signé) ;
- ``GET /connexion/retour`` : échange le code (``OIDC_CLIENT_ID`` / ``OIDC_CLIENT_SECRET``), vérifie le jeton
  d'identité (``app.web.jetons`` : signature, émetteur, audience, expiration, nonce), ouvre une session dans la
  base partagée (``app.stockage.journal_acces.Sessions``) et revient à la page ;
- ``POST /deconnexion`` : ferme la session (le cookie ne vaut plus rien, même rejoué) ; jeton anti-CSRF exigé.

Le point de terminaison du fournisseur est lu dans son document de découverte, une fois. Aucun mot de passe
n'est vu ni gardé ici.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import secrets
import threading
import urllib.parse
import urllib.request

from flask import Blueprint, Response, redirect, request, session, url_for

from app.web.erreurs import reponse_erreur
from app.web.identite import verifier_origine
from app.web.jetons import ALGORITHMES_OIDC, ClesInjoignables, JetonRefuse, Verificateur
from app.web.services import services

bp = Blueprint("oidc", __name__)
DUREE_SESSION = dt.timedelta(hours=8)
DELAI_S = 10
MODE_LOCAL = "Ce service n'est pas en mode OpenID Connect : aucune connexion n'est à faire ici."


class ClientOidc:
    """Le fournisseur (document de découverte, clés) et le client inscrit chez lui."""

    def __init__(self, emetteur: str, client_id: str, secret: str):
        self.emetteur, self.client_id, self._secret = emetteur, client_id, secret
        self._decouverte: dict | None = None
        self._verificateur: Verificateur | None = None
        self._verrou = threading.Lock()

    def decouverte(self) -> dict:
        with self._verrou:
            if self._decouverte is None:
                try:
                    with urllib.request.urlopen(self.emetteur + "/.well-known/openid-configuration",
                                                timeout=DELAI_S) as r:
                        document = json.load(r)
                except (OSError, ValueError):
                    raise ClesInjoignables(self.emetteur) from None
                if document.get("issuer", "").rstrip("/") != self.emetteur:
                    raise JetonRefuse("le document de découverte annonce un autre émetteur")
                algorithmes = tuple(a for a in document.get("id_token_signing_alg_values_supported", ["RS256"])
                                    if a in ALGORITHMES_OIDC)
                self._verificateur = Verificateur(document["jwks_uri"], document["issuer"], self.client_id, algorithmes)
                self._decouverte = document
            return self._decouverte

    def verificateur(self) -> Verificateur:
        self.decouverte()
        return self._verificateur

    def echanger(self, code: str, retour: str, verificateur_pkce: str) -> dict:
        """Le code contre les jetons (client_secret_basic) ; la réponse JSON du fournisseur."""
        corps = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": retour,
                                        "code_verifier": verificateur_pkce}).encode("ascii")
        identifiants = f"{urllib.parse.quote(self.client_id, safe='')}:{urllib.parse.quote(self._secret, safe='')}"
        requete = urllib.request.Request(self.decouverte()["token_endpoint"], data=corps, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
            "Authorization": "Basic " + base64.b64encode(identifiants.encode("utf-8")).decode("ascii")})
        with urllib.request.urlopen(requete, timeout=DELAI_S) as reponse:
            return json.load(reponse)


def _b64(octets: bytes) -> str:
    return base64.urlsafe_b64encode(octets).rstrip(b"=").decode("ascii")


def page(titre: str, texte: str, statut: int = 200, lien: tuple[str, str] | None = None) -> Response:
    """Une petite page HTML en français (connexion, refus, déconnexion), sans script ni style en ligne, pour un
    navigateur ; une erreur demandée par un client de l'API (qui préfère JSON) reste l'erreur JSON de l'API."""
    if statut >= 400 and request.accept_mimetypes.best_match(("application/json", "text/html")) != "text/html":
        return reponse_erreur(statut, texte[:1].lower() + texte[1:])
    suite = f'<p><a href="{html.escape(lien[0])}">{html.escape(lien[1])}</a></p>' if lien else ""
    corps = (f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{html.escape(titre)}</title>'
             f'<link rel="stylesheet" href="/static/classe.css"></head><body><main><h1>{html.escape(titre)}</h1>'
             f"<p>{html.escape(texte)}</p>{suite}</main></body></html>")
    return Response(corps, status=statut, mimetype="text/html")


def _retour() -> str:
    return url_for("oidc.retour", _external=True)


@bp.get("/connexion")
def connexion():
    client = services().identification.oidc
    if client is None:
        return page("Connexion", MODE_LOCAL, 404, ("/classe", "Ouvrir la page"))
    try:
        point_autorisation = client.decouverte()["authorization_endpoint"]
    except ClesInjoignables:
        return page("Connexion impossible", "Le fournisseur d'identité ne répond pas : réessayez dans un instant.", 503)
    verificateur_pkce = secrets.token_urlsafe(48)
    session.clear()
    session.update(etat=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24), pkce=verificateur_pkce)
    parametres = {"response_type": "code", "client_id": client.client_id, "redirect_uri": _retour(),
                  "scope": "openid email", "state": session["etat"], "nonce": session["nonce"],
                  "code_challenge": _b64(hashlib.sha256(verificateur_pkce.encode("ascii")).digest()),
                  "code_challenge_method": "S256"}
    return redirect(point_autorisation + "?" + urllib.parse.urlencode(parametres))


@bp.get("/connexion/retour")
def retour():
    s = services()
    client = s.identification.oidc
    recommencer = ("/connexion", "Se connecter à nouveau")
    if client is None:
        return page("Connexion", MODE_LOCAL, 404, ("/classe", "Ouvrir la page"))
    etat, nonce, pkce = session.pop("etat", None), session.pop("nonce", None), session.pop("pkce", None)
    if not etat or request.args.get("state") != etat or not request.args.get("code"):
        return page("Connexion refusée", "Réponse du fournisseur d'identité inattendue (état absent ou différent) : "
                                         "recommencez la connexion.", 401, recommencer)
    try:
        jetons = client.echanger(request.args["code"], _retour(), pkce)
        revendications = client.verificateur().verifier(jetons.get("id_token", ""))
    except (JetonRefuse, ClesInjoignables, OSError, ValueError):
        return page("Connexion refusée", "Le fournisseur d'identité n'a pas confirmé la connexion (jeton "
                                         "d'identité invalide ou échange refusé) : recommencez.", 401, recommencer)
    if revendications.get("nonce") != nonce or revendications.get("email_verified") is False:
        return page("Connexion refusée", "Jeton d'identité rejoué ou adresse non vérifiée : recommencez.", 401,
                    recommencer)
    identifiant = secrets.token_urlsafe(32)
    s.identification.sessions.ouvrir(identifiant, revendications["email"].strip().lower(), DUREE_SESSION)
    session.clear()
    session.update(sid=identifiant, csrf=secrets.token_urlsafe(32))
    session.permanent = True
    return redirect(url_for("classe.classe"))


@bp.post("/deconnexion")
def deconnexion():
    if services().identification.oidc is None:  # mode local ou IAP : pas de session ici
        return page("Déconnecté", "Aucune session ouverte sur ce service.", 200)
    identifiant = session.get("sid")
    if isinstance(identifiant, str):
        verifier_origine("session")
        services().identification.sessions.fermer(identifiant)
    session.clear()
    return page("Déconnecté", "Votre session est fermée sur ce service.", 200, ("/connexion", "Se reconnecter"))

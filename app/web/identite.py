"""Qui fait la requête, avec quel rôle et pour quelles écoles (docs/securite-identite.md).

Trois modes, choisis par la configuration (``Configuration.mode_identite``) :

- ``local`` (ni IAP ni OpenID Connect) : mode mono-utilisateur d'aujourd'hui ; la page et les prédictions
  sont ouvertes, les données personnelles demandent ``Authorization: Bearer <API_TOKEN>``.
- ``iap`` : l'identité est l'adresse de l'assertion signée ``X-Goog-IAP-JWT-Assertion`` (vérifiée par
  ``app.web.jetons``) ; l'en-tête non signé ``X-Goog-Authenticated-User-Email`` n'est jamais lu.
- ``oidc`` : l'identité est celle de la session ouverte par ``app.web.oidc`` (cookie signé), ou d'un jeton
  d'identité du fournisseur présenté en ``Authorization: Bearer`` (scripts).

Dans les trois modes, ``API_TOKEN`` reste le justificatif des scripts (toutes les écoles, sauf ``/acces``).
Le rôle et les écoles viennent du fichier d'accès (``app.web.droits``). Un appel qui change l'état, fait avec
le cookie de session ou par IAP, doit venir de la même origine (``Origin``, ``Sec-Fetch-Site``) et, en mode
OpenID Connect, porter le jeton anti-CSRF de la session (en-tête ``X-CSRF-Token`` ou champ ``csrf``).
"""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import g, request, session

from app.modele.identifiants import REGLE_IDENTIFIANT_CHOISI, choix_permis
from app.web.authentification import DEFI, verifier
from app.web.droits import TOUTES
from app.web.erreurs import ErreurRequete
from app.web.jetons import ClesInjoignables, JetonRefuse
from app.web.services import services

EN_TETE_IAP = "X-Goog-IAP-JWT-Assertion"
EN_TETE_CSRF = "X-CSRF-Token"
CAPACITES = {
    "prediction": {"local", "jeton", "conseiller", "direction", "dpo"},
    "eleve": {"jeton", "conseiller", "direction", "dpo"},
    "pilotage": {"jeton", "direction", "dpo"},
    "acces": {"jeton", "dpo"},
}
"""Ce que chaque rôle peut faire : prédire et ouvrir la page ; lire et effacer un élève ; export et dérive ;
journal des accès. ``jeton`` : API_TOKEN (en mode local seulement pour /acces)."""
METHODES_SURES = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Identite:
    qui: str
    role: str
    ecoles: frozenset[str]
    source: str
    """``local``, ``jeton`` (API_TOKEN), ``iap``, ``session`` (cookie OIDC) ou ``oidc`` (jeton d'identité)."""

    @property
    def toutes_ecoles(self) -> bool:
        return self.role in ("local", "jeton", "dpo") or TOUTES in self.ecoles

    def voit(self, ecole: str | None) -> bool:
        return self.toutes_ecoles or ecole in self.ecoles

    def ecoles_vues(self) -> list[str] | None:
        """Les écoles de la personne, ou None pour toutes."""
        return None if self.toutes_ecoles else sorted(self.ecoles)


LOCAL = Identite("local", "local", frozenset({TOUTES}), "local")
JETON = Identite("jeton-api", "jeton", frozenset({TOUTES}), "jeton")


def _non_authentifie(message: str) -> ErreurRequete:
    return ErreurRequete(401, message, entetes={"WWW-Authenticate": DEFI})


def _adresse_signee() -> tuple[str | None, str]:
    """(adresse vérifiée ou None, source) selon le mode ; ``ErreurRequete`` 401 si un jeton présenté est mauvais."""
    s = services()
    mode = s.configuration.mode_identite
    try:
        if mode == "iap":
            assertion = request.headers.get(EN_TETE_IAP)
            if not assertion:
                return None, "iap"
            return s.identification.verificateur().verifier(assertion)["email"], "iap"
        schema, _, jeton = (request.headers.get("Authorization") or "").strip().partition(" ")
        if schema.lower() == "bearer" and jeton.strip():
            return s.identification.verificateur().verifier(jeton.strip())["email"], "oidc"
    except JetonRefuse:
        raise _non_authentifie("jeton d'identité refusé (signature, émetteur, audience ou expiration invalide)") from None
    except ClesInjoignables:
        raise ErreurRequete(503, "clés publiques du fournisseur d'identité injoignables : réessayez",
                            entetes={"Retry-After": "30"}) from None
    sid = session.get("sid")
    return (s.identification.sessions.qui(sid) if isinstance(sid, str) else None), "session"


def identifier(capacite: str) -> Identite:
    """L'identité de la requête, autorisée pour ``capacite`` ; 401 ou 403 en français sinon."""
    s = services()
    config = s.configuration
    autorisation = request.headers.get("Authorization")
    if config.mode_identite == "local":
        if capacite == "prediction" and not (autorisation and config.jeton_api):
            return LOCAL  # prédire reste ouvert ; un jeton présenté est vérifié (il identifie l'appelant)
        verifier(autorisation, config.jeton_api)
        return JETON
    schema, _, fourni = (autorisation or "").strip().partition(" ")
    if config.jeton_api and schema.lower() == "bearer" and hmac.compare_digest(
            fourni.strip().encode("utf-8"), config.jeton_api.encode("utf-8")):
        identite = JETON
    else:
        adresse, source = _adresse_signee()
        if adresse is None:
            raise _non_authentifie("connexion requise : ouvrez /classe pour vous connecter avec votre compte "
                                   "d'établissement" if config.mode_identite == "oidc" else
                                   "connexion requise : assertion IAP (X-Goog-IAP-JWT-Assertion) absente")
        droits = s.identification.droits()
        personne = droits.personne(adresse)
        if personne is None:
            contact = f" : demandez-le à {droits.contact}" if droits.contact else \
                " : demandez-le à l'administrateur de votre établissement"
            raise ErreurRequete(403, f"{adresse} n'a pas d'accès à ce service{contact}")
        identite = Identite(adresse.strip().lower(), personne.role, personne.ecoles, source)
        if request.method not in METHODES_SURES:
            verifier_origine(source)
    if identite.role not in CAPACITES[capacite] or (capacite == "acces" and identite.role == "jeton"):
        raise ErreurRequete(403, f"rôle {identite.role} : cette route est réservée aux rôles "
                                 f"{', '.join(sorted(CAPACITES[capacite] - {'local', 'jeton'}))}")
    return identite


def verifier_origine(source: str) -> None:
    """Appel qui change l'état fait par un navigateur : même origine exigée ; jeton de session en mode OIDC."""
    origine = request.headers.get("Origin")
    attendue = "{0.scheme}://{0.netloc}".format(urlsplit(request.host_url))
    if origine is not None and origine not in (attendue, "null"):
        raise ErreurRequete(403, f"requête d'une autre origine refusée (Origin {origine!r}, attendue {attendue})")
    # « Origin: null » : envoyé par le formulaire d'une page en Referrer-Policy no-referrer (comme /classe) ;
    # la même origine est alors prouvée par Sec-Fetch-Site, que le navigateur pose et qu'une page ne peut changer.
    site = request.headers.get("Sec-Fetch-Site", "" if origine == "null" else "same-origin")
    if site not in ("same-origin", "none"):
        raise ErreurRequete(403, "requête d'un autre site refusée (Sec-Fetch-Site)")
    if source == "session":
        attendu = session.get("csrf")
        fourni = request.headers.get(EN_TETE_CSRF) or request.form.get("csrf") or ""
        if not isinstance(attendu, str) or not hmac.compare_digest(fourni.encode("utf-8"), attendu.encode("utf-8")):
            raise ErreurRequete(403, f"jeton anti-CSRF absent ou invalide (en-tête {EN_TETE_CSRF})")


def verifier_identifiant_choisi(identite: Identite) -> None:
    """400 si un appelant anonyme a choisi son X-Request-ID alors qu'un justificatif existe (``choix_permis``)."""
    config = services().configuration
    if "request_id_fourni" in g and not choix_permis(identite.source != "local",
                                                     config.justificatifs_configures):
        raise ErreurRequete(400, "en-tête X-Request-ID refusé à un appelant anonyme",
                            [{"champ": "X-Request-ID", "message": REGLE_IDENTIFIANT_CHOISI}])


def exiger(capacite: str):
    """Décorateur de route : identité vérifiée (``g.identite``) avant toute autre lecture de la requête ; pour
    prédire, un X-Request-ID choisi demande une identité (``verifier_identifiant_choisi``)."""
    def decorer(vue):
        @functools.wraps(vue)
        def protegee(*args, **kwargs):
            g.identite = identifier(capacite)
            if capacite == "prediction":
                verifier_identifiant_choisi(g.identite)
            return vue(*args, **kwargs)

        return protegee

    return decorer


def identite_courante() -> Identite:
    return g.get("identite", LOCAL)


def inscrire_acces(ecoles, eleves: int, user_id: str | None = None) -> None:
    """Une ligne au journal des accès pour cette requête (route par son gabarit, jamais son URL)."""
    route = f"{request.method} {request.url_rule.rule if request.url_rule is not None else '?'}"
    services().identification.journal_acces.inscrire(identite_courante().qui, route, ecoles, eleves, user_id)


def verifier_ecoles(ecoles) -> None:
    """403 si un élève à conserver est d'une école hors de celles de la personne connectée."""
    identite = identite_courante()
    hors = sorted({str(e) for e in ecoles if not identite.voit(e)})
    if hors:
        raise ErreurRequete(403, f"école {', '.join(hors)} hors de vos écoles ({', '.join(sorted(identite.ecoles))}) : "
                                 "prédiction non conservée",
                            [{"champ": "school", "message": "une école de votre entrée du fichier d'accès attendue"}])

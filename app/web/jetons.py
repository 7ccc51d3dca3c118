"""Vérification des jetons signés (JWT) par PyJWT : assertion d'IAP et jeton d'identité OpenID Connect.

Signature contre les clés publiées par l'émetteur (JWKS, lues et gardées en cache par ``jwt.PyJWKClient``),
émetteur, audience, expiration et algorithmes permis exactement (``alg: none`` n'en est jamais un). Aucune
cryptographie écrite ici : tout est fait par PyJWT et cryptography.
"""

from __future__ import annotations

import logging

import jwt

EMETTEUR_IAP = "https://cloud.google.com/iap"
ALGORITHMES_IAP = ("ES256",)
ALGORITHMES_OIDC = ("RS256", "PS256", "ES256", "EdDSA")
"""Algorithmes asymétriques acceptés d'un fournisseur OpenID Connect (ceux qu'il annonce, parmi ceux-ci)."""
TOLERANCE_S = 30
"""Décalage d'horloge toléré entre l'émetteur et le service (expiration, émission)."""
journal = logging.getLogger("prediction_etudiante")


class JetonRefuse(Exception):
    """Jeton absent, mal formé, mal signé, expiré ou pour un autre destinataire (→ 401)."""


class ClesInjoignables(Exception):
    """Les clés publiques de l'émetteur n'ont pas pu être lues (→ 503)."""


class Verificateur:
    """Les clés d'un émetteur (JWKS), et la vérification de ses jetons."""

    def __init__(self, url_cles: str, emetteur: str, audience: str, algorithmes: tuple[str, ...]):
        self._cles = jwt.PyJWKClient(url_cles, cache_keys=True, lifespan=3600, timeout=5)
        self.emetteur, self.audience, self.algorithmes = emetteur, audience, list(algorithmes)

    def verifier(self, jeton: str, exiges: tuple[str, ...] = ("exp", "iat", "iss", "aud", "email")) -> dict:
        """Les revendications du jeton, s'il est valide ; ``JetonRefuse`` sinon (le motif, jamais le jeton)."""
        try:
            entete = jwt.get_unverified_header(jeton)
            if entete.get("alg") not in self.algorithmes:
                raise JetonRefuse(f"algorithme {entete.get('alg')!r} refusé")
            cle = self._cles.get_signing_key_from_jwt(jeton)
            revendications = jwt.decode(jeton, cle.key, algorithms=self.algorithmes, audience=self.audience,
                                        issuer=self.emetteur, leeway=TOLERANCE_S, options={"require": list(exiges)})
        except jwt.PyJWKClientConnectionError as erreur:
            journal.warning("clés de %s injoignables (%s)", self.emetteur, type(erreur).__name__)
            raise ClesInjoignables(self.emetteur) from None
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as erreur:
            raise JetonRefuse(type(erreur).__name__) from None
        # Plusieurs destinataires : le jeton doit avoir été délivré à ce client (OpenID Connect, azp).
        if isinstance(revendications.get("aud"), list) and len(revendications["aud"]) > 1 \
                and revendications.get("azp") != self.audience:
            raise JetonRefuse("azp")
        if "azp" in revendications and revendications["azp"] != self.audience and self.emetteur != EMETTEUR_IAP:
            raise JetonRefuse("azp")
        return revendications

"""Aides des tests de l'identité : une paire de clés d'essai, ses clés publiques (JWKS) servies sur la boucle
locale par un vrai serveur HTTP, et des jetons signés par PyJWT — bons ou cassés exprès."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


class PaireCles:
    def __init__(self, algorithme: str = "ES256", kid: str = "cle-essai-1"):
        self.algorithme, self.kid = algorithme, kid
        self.privee = (ec.generate_private_key(ec.SECP256R1()) if algorithme == "ES256"
                       else rsa.generate_private_key(public_exponent=65537, key_size=2048))
        classe = jwt.algorithms.ECAlgorithm if algorithme == "ES256" else jwt.algorithms.RSAAlgorithm
        self.jwk_public = {**json.loads(classe.to_jwk(self.privee.public_key())), "kid": kid, "alg": algorithme,
                           "use": "sig"}
        self.jwk_prive = {**json.loads(classe.to_jwk(self.privee)), "kid": kid, "alg": algorithme, "use": "sig"}

    def signer(self, revendications: dict, **entete) -> str:
        return jwt.encode(revendications, self.privee, algorithm=self.algorithme, headers={"kid": self.kid, **entete})


def revendications(emetteur: str, audience: str, email: str, duree: int = 300, **autres) -> dict:
    maintenant = int(time.time())
    return {"iss": emetteur, "aud": audience, "email": email, "sub": email, "iat": maintenant,
            "exp": maintenant + duree, **autres}


def sans_signature(charge: dict) -> str:
    """Un jeton ``alg: none`` (non signé), que PyJWT sait écrire mais qu'aucun vérificateur ne doit accepter."""
    return jwt.encode(charge, None, algorithm="none")


@contextlib.contextmanager
def serveur_jwks(*paires: PaireCles):
    """Un serveur HTTP sur 127.0.0.1 qui sert ``{"keys": [...]}`` ; rend son URL."""
    document = json.dumps({"keys": [p.jwk_public for p in paires]}).encode()

    class Gestionnaire(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - nom imposé par http.server
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args):
            pass

    serveur = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Gestionnaire)
    fil = threading.Thread(target=serveur.serve_forever, daemon=True)
    fil.start()
    try:
        yield f"http://127.0.0.1:{serveur.server_address[1]}/cles.json"
    finally:
        serveur.shutdown()
        serveur.server_close()

"""Le worker gunicorn de production : ``gthread``, mais ses propres erreurs en JSON, en français.

Gunicorn répond lui-même, avant Flask, aux requêtes qu'il ne sait pas lire : ligne de requête trop
longue (414, au-delà de ``limit_request_line``), en-têtes trop nombreux ou trop longs (431), requête
mal formée (400)… Il écrit alors une page HTML en anglais, contre la promesse de l'API (toute erreur
est du JSON ``{"erreur", "details"}`` en français, schéma ``Erreur`` de l'OpenAPI).

``handle_error`` laisse gunicorn classer l'erreur et la journaliser (son code reste la référence :
rien n'est recopié), capture la réponse HTML qu'il allait écrire pour en lire le statut, et écrit à
la place le corps JSON. Le message reçu de gunicorn n'est jamais renvoyé : il peut citer la requête.
"""

from __future__ import annotations

import http
import json

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker


class _Capture:
    """Tient lieu de socket pour ``util.write_error`` : garde les octets au lieu de les envoyer."""

    def __init__(self) -> None:
        self.octets = b""

    def gettimeout(self) -> float:
        return 0.0  # write_nonblock ne touche alors pas au mode bloquant

    def sendall(self, donnees: bytes) -> None:
        self.octets += donnees


def corps_erreur(statut: int, cfg) -> dict:
    """Le corps JSON d'une erreur répondue par gunicorn, selon son statut et les limites configurées."""
    if statut == 414:
        regle = f"{cfg.limit_request_line} octets au plus pour la méthode, le chemin et les paramètres"
        return {"erreur": f"ligne de requête trop longue : {regle}",
                "details": [{"champ": "(ligne de requête)", "message": regle}]}
    if statut == 431:
        regle = (f"{cfg.limit_request_fields} en-têtes au plus, de {cfg.limit_request_field_size} octets "
                 "chacun au plus")
        return {"erreur": f"en-têtes de requête trop volumineux : {regle}",
                "details": [{"champ": "(en-têtes)", "message": regle}]}
    messages = {
        400: "requête HTTP mal formée (ligne de requête, en-têtes ou découpage du corps) : elle n'a pas été lue",
        403: "requête refusée",
        417: "en-tête Expect non pris en charge",
        500: "erreur interne du serveur ; elle a été journalisée",
        501: "codage de transfert (Transfer-Encoding) non pris en charge",
    }
    return {"erreur": messages.get(statut, "requête refusée par le serveur HTTP"), "details": []}


def reponse_http(statut: int, corps: dict) -> bytes:
    octets = json.dumps(corps, ensure_ascii=False).encode("utf-8")
    try:
        raison = http.HTTPStatus(statut).phrase
    except ValueError:
        raison = "Error"
    tete = (f"HTTP/1.1 {statut} {raison}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(octets)}\r\n\r\n")
    return tete.encode("latin-1") + octets


class TravailleurJson(ThreadWorker):
    """``worker_class`` de ``gunicorn.conf.py``."""

    def handle_error(self, req, client, addr, exc):
        capture = _Capture()
        super().handle_error(req, capture, addr, exc)  # classement, journal et journal d'accès de gunicorn
        try:
            statut = int(capture.octets.split(b" ", 2)[1])
        except (IndexError, ValueError):
            statut = 500
        try:
            util.write_nonblock(client, reponse_http(statut, corps_erreur(statut, self.cfg)))
        except Exception:  # noqa: BLE001 - client parti : rien à lui dire
            self.log.debug("réponse d'erreur non envoyée")

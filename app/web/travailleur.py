"""Le travailleur gunicorn de production : gthread, dont aucun fil n'attend un client lent.

Le travailleur ``gthread`` de gunicorn confie chaque connexion à un fil dès qu'un octet arrive ; le
fil lit ensuite la requête en bloquant, sans délai (``timeout = 0``). 24 clients qui envoient un
octet toutes les 2 s occupaient ainsi tous les fils et ``/health`` ne répondait plus.

``TravailleurBorne`` lit d'abord chaque requête **dans la boucle d'événements**, sans fil, comme le
frontal de Cloud Run le fait devant le conteneur : en-têtes et corps jusqu'à ``TAMPON_MAX`` octets
(tout ``/predire``, l'historique, ``/health`` ; le début d'un gros lot). Une requête qui n'est pas
arrivée en ``DELAI_REQUETE_S`` reçoit 408 et la connexion est fermée : elle n'a jamais tenu de fil.
Au-delà du tampon (lots de plus de 64 Kio, corps en morceaux), le fil lit le reste avec un délai par
opération (``DELAI_OPERATION_S``) et une échéance pour tout le corps (``DELAI_CORPS_S``) ; ces lots
sont en outre bornés par ``PlacesLots`` (2 × LOTS_SIMULTANES par processus).

``Expect: 100-continue`` : la boucle répond « 100 Continue » elle-même dès les en-têtes reçus. HTTP/2 en
clair (réglage ``http2_cleartext`` de gunicorn, désactivé par défaut) n'est pas pris en charge ici.
Mémoire : au plus ``TAMPON_MAX`` (≈ 2 × au pire) par connexion en lecture, ``worker_connections`` (1000)
connexions par processus.

Aussi : la réponse ne porte plus l'en-tête ``Server: gunicorn`` (gunicorn n'a pas de réglage pour
l'ôter). Rien ici n'est importé par l'application Flask : seul gunicorn charge ce module
(``worker_class`` de ``gunicorn.conf.py``).

Ses propres erreurs en JSON, en français : gunicorn répond lui-même, avant Flask, aux requêtes qu'il
ne sait pas lire (ligne de requête trop longue : 414 ; en-têtes trop nombreux ou trop longs : 431 ;
requête mal formée : 400) par une page HTML en anglais. ``handle_error`` le laisse classer l'erreur et
la journaliser (son code reste la référence), capture la page qu'il allait écrire pour en lire le
statut, et écrit à la place le corps JSON ``{"erreur", "details"}`` du schéma ``Erreur``. Le message
de gunicorn n'est jamais renvoyé : il peut citer la requête.
"""

from __future__ import annotations

import errno
import http
import json
import logging
import re
import selectors
import socket
import time
from collections import deque
from functools import partial

from gunicorn import util
from gunicorn.http import wsgi
from gunicorn.workers import gthread

TAMPON_MAX = 80 * 1024
"""Octets lus sans fil : un corps ``/predire`` (TAILLE_MAX_CORPS, 64 Kio par défaut) et ses en-têtes."""
DELAI_REQUETE_S = 10.0
"""Pour envoyer les en-têtes et le corps (jusqu'à TAMPON_MAX) ; au-delà, 408 et connexion fermée."""
DELAI_OPERATION_S = 10.0
"""Un fil attend au plus cela chaque lecture ou écriture sur la connexion."""
DELAI_CORPS_S = 120.0
"""Un fil lit au plus cela le reste d'un gros corps (16 Mio à 140 kio/s)."""
DEBIT_MIN_OCTETS_S = 16 * 1024
GRACE_DEBIT_S = 5.0
"""Débit minimal du reste d'un corps lu par un fil, moyenné depuis le début de sa lecture, après un délai de
grâce : un envoi plus lent est coupé (issue 28 : 80 Kio puis une ligne toutes les 8 s tenaient une place de
lot 120 s ; dix d'entre eux bloquaient tous les lots)."""
_LONGUEUR = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,12})")
_ATTENTE = re.compile(rb"\r\nexpect:[ \t]*100-continue[ \t]*(?=\r\n)", re.IGNORECASE)
_REPONSE_408 = ("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\n"
                "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nContent-Length: {}\r\n\r\n{}")
_CORPS_408 = ('{"erreur":"requête trop lente : en-têtes et corps doivent arriver en %d s ; connexion fermée",'
              '"details":[]}' % DELAI_REQUETE_S)
REPONSE_408 = _REPONSE_408.format(len(_CORPS_408.encode()), _CORPS_408).encode()

journal = logging.getLogger("prediction_etudiante")


class _ReponseSansBanniere(wsgi.Response):
    """La réponse de gunicorn, sans ``Server: gunicorn`` (ni nom ni version du serveur)."""

    def default_headers(self):
        return [ligne for ligne in super().default_headers() if not ligne.startswith("Server:")]


wsgi.Response = _ReponseSansBanniere  # ``wsgi.create`` la lit à chaque requête


class _PriseBornee(socket.socket):
    """La prise d'un client : en mode bloquant (dans un fil), chaque opération attend au plus
    ``DELAI_OPERATION_S`` et les lectures s'arrêtent à ``echeance``."""

    echeance: float | None = None
    debut: float = 0.0
    recus: int = 0

    def setblocking(self, bloquante: bool) -> None:
        self.settimeout(DELAI_OPERATION_S if bloquante else 0.0)

    def confier(self) -> None:
        """La requête passe à un fil : échéance du corps et compte du débit repartent de maintenant."""
        self.debut = time.monotonic()
        self.echeance, self.recus = self.debut + DELAI_CORPS_S, 0

    def _borner(self) -> None:
        if self.echeance is None or self.gettimeout() == 0.0:
            return
        maintenant = time.monotonic()
        # Au débit minimal, les octets reçus « paient » jusqu'à cet instant ; au-delà sans octet, trop lent.
        debit = self.debut + GRACE_DEBIT_S + self.recus / DEBIT_MIN_OCTETS_S
        reste = min(self.echeance, debit) - maintenant
        if reste <= 0:
            raise _trop_lent()
        self.settimeout(min(DELAI_OPERATION_S, reste))

    def recv(self, *args):
        self._borner()
        try:
            donnees = super().recv(*args)
        except TimeoutError:
            raise _trop_lent() from None
        self.recus += len(donnees)
        return donnees

    def sendall(self, *args):
        """La réponse : ``DELAI_OPERATION_S`` pour l'envoyer, quel que soit le délai laissé par la lecture."""
        if self.gettimeout() != 0.0:
            self.settimeout(DELAI_OPERATION_S)
        return super().sendall(*args)

    def recv_into(self, *args):
        self._borner()
        try:
            lus = super().recv_into(*args)
        except TimeoutError:
            raise _trop_lent() from None
        self.recus += lus
        return lus


def _trop_lent() -> OSError:
    """Une connexion réinitialisée pour gunicorn (qui la ferme sans trace d'erreur), journalisée ici."""
    journal.info("client trop lent : connexion fermée (délai de lecture dépassé)")
    return ConnectionResetError(errno.ECONNRESET, "délai de lecture dépassé")


class _Connexion(gthread.TConn):
    def __init__(self, *args):
        super().__init__(*args)
        self.tampon = bytearray()
        self.pret = False
        self.limite = 0.0

    def init(self):
        super().init()
        if self.tampon:  # ce que la boucle a déjà lu : le parseur le relit d'abord
            self.parser.unreader.unread(bytes(self.tampon))
            self.tampon = bytearray()


def requete_complete(tampon: bytes | bytearray) -> bool:
    """Vrai quand le tampon contient les en-têtes et le corps (ou ``TAMPON_MAX`` octets)."""
    if len(tampon) >= TAMPON_MAX:
        return True
    fin = tampon.find(b"\r\n\r\n")
    if fin < 0:
        return False
    entetes = bytes(tampon[:fin]).lower()
    if b"\r\ntransfer-encoding:" in entetes:
        return morceaux_complets(tampon, fin + 4)
    longueur = _LONGUEUR.search(entetes)
    return len(tampon) - fin - 4 >= (int(longueur.group(1)) if longueur else 0)


def morceaux_complets(tampon: bytes | bytearray, position: int) -> bool:
    """Le corps en morceaux (``Transfer-Encoding: chunked``) qui commence à ``position`` est-il arrivé en
    entier, jusqu'à la ligne vide qui suit le morceau nul et ses éventuels champs de fin (trailers) ?
    Issue 28 : « le tampon finit par 0\\r\\n\\r\\n » ratait une requête suivie d'une autre (pipeline) ou portant
    des trailers : 408 après 10 s, requête perdue. Mal formé : vrai (le parseur de gunicorn répondra 400)."""
    while True:
        fin_ligne = tampon.find(b"\r\n", position)
        if fin_ligne < 0:
            return False
        taille = bytes(tampon[position:fin_ligne]).split(b";", 1)[0].strip()
        try:
            octets = int(taille, 16)
        except ValueError:
            return True
        if octets < 0:
            return True
        position = fin_ligne + 2
        if octets == 0:
            break
        position += octets + 2  # le morceau et son CRLF
        if position > len(tampon):
            return False
    while True:  # champs de fin, jusqu'à la ligne vide
        fin_ligne = tampon.find(b"\r\n", position)
        if fin_ligne < 0:
            return False
        if fin_ligne == position:
            return True
        position = fin_ligne + 2


def repondre_continuer(tampon: bytearray) -> bool:
    """``Expect: 100-continue`` (curl au-delà de 1 Kio) : le client attend « 100 Continue » avant d'envoyer
    le corps. Quand les en-têtes sont là et le corps pas encore, retire l'en-tête du tampon (gunicorn ne
    répondra pas une seconde fois) et renvoie vrai : la boucle envoie alors « 100 Continue » elle-même."""
    fin = tampon.find(b"\r\n\r\n")
    if fin < 0 or len(tampon) > fin + 4:
        return False
    attente = _ATTENTE.search(tampon, 0, fin + 2)
    if attente is None:
        return False
    del tampon[attente.start():attente.end()]
    return True


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
            "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n"
            f"Content-Length: {len(octets)}\r\n\r\n")
    return tete.encode("latin-1") + octets


class TravailleurBorne(gthread.ThreadWorker):
    """``gthread`` dont les fils ne reçoivent que des requêtes déjà arrivées, et dont les erreurs sont du
    JSON en français (voir le module) : ``worker_class`` de ``gunicorn.conf.py``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.en_lecture: deque[_Connexion] = deque()

    def accept(self, listener):
        try:
            client, adresse = listener.accept()
        except OSError as erreur:
            if erreur.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        prise = _PriseBornee(fileno=client.detach())
        self.enqueue_req(_Connexion(self.cfg, prise, adresse, listener.getsockname()))

    def enqueue_req(self, conn):
        if getattr(conn, "pret", True):
            conn.pret = False
            conn.sock.confier()
            return super().enqueue_req(conn)
        if conn.parser is not None:  # octets d'une requête suivante déjà lus par le parseur
            conn.tampon += conn.parser.unreader.take_buffered()
        if requete_complete(conn.tampon):
            return self._confier(conn)
        conn.sock.setblocking(False)
        conn.limite = time.monotonic() + DELAI_REQUETE_S
        self.en_lecture.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._lire, conn))

    def _confier(self, conn):
        conn.pret = conn.data_ready = True
        self.enqueue_req(conn)

    def _lire(self, conn, _prise):
        try:
            morceau = conn.sock.recv(TAMPON_MAX)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            morceau = b""
        if morceau:
            conn.tampon += morceau
            if repondre_continuer(conn.tampon):
                try:
                    conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                except OSError:
                    pass
            if not requete_complete(conn.tampon):
                return
        self._retirer(conn)
        if morceau:
            self._confier(conn)
        else:  # connexion fermée par le client
            self.nr_conns -= 1
            conn.close()

    def _retirer(self, conn):
        self.poller.unregister(conn.sock)
        self.en_lecture.remove(conn)

    def murder_pending(self):
        super().murder_pending()
        maintenant = time.monotonic()
        while self.en_lecture and self.en_lecture[0].limite <= maintenant:
            conn = self.en_lecture[0]
            self._retirer(conn)
            self.nr_conns -= 1
            try:
                conn.sock.send(REPONSE_408)  # non bloquant : tant pis si le client ne lit pas
            except OSError:
                pass
            journal.info("client trop lent : 408, connexion fermée sans avoir occupé de fil")
            conn.close()

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

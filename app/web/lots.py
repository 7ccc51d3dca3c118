"""Places de traitement des lots de ``POST /predire/lot`` : la mémoire d'un worker reste bornée.

La lecture et la validation des lots sont dans ``app.modele.lots`` (partagées avec ``python -m app.lot``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from app.web.erreurs import ErreurRequete

ATTENTE_PLACE_S = 30.0
"""Attente maximale d'une place de traitement (``LOTS_SIMULTANES``) avant de répondre 503."""


class PlacesLots:
    """Borne la mémoire d'un worker : un lot de 10 000 élèves occupe ~100 Mio au pic ; huit à la
    fois (les 8 fils d'un worker) dépassaient 800 Mio, au-delà des 512 Mio d'une instance Cloud Run.

    ``places`` lots sont traités à la fois ; autant peuvent attendre leur tour (``attente_s`` au
    plus) ; au-delà, 503 tout de suite, avec Retry-After. La file est bornée pour que des lots en
    attente n'occupent pas tous les fils du worker : ``/predire`` reste servi tant que
    2 × ``LOTS_SIMULTANES`` < ``GUNICORN_THREADS`` (4 < 8 par défaut)."""

    def __init__(self, places: int, attente_s: float = ATTENTE_PLACE_S):
        self._traitement = threading.BoundedSemaphore(places)
        self._entree = threading.BoundedSemaphore(2 * places)  # en traitement + en attente
        self.attente_s = attente_s

    @contextlib.contextmanager
    def une_place(self) -> Iterator[None]:
        if not self._entree.acquire(blocking=False):
            raise ErreurRequete(503, "trop de lots en attente : réessayez dans quelques secondes",
                                entetes={"Retry-After": "5"})
        try:
            if not self._traitement.acquire(timeout=self.attente_s):
                raise ErreurRequete(503, f"trop de lots en cours de traitement : réessayez dans quelques secondes "
                                         f"(aucune place libérée en {self.attente_s:.0f} s)",
                                    entetes={"Retry-After": "5"})
            try:
                yield
            finally:
                self._traitement.release()
        finally:
            self._entree.release()

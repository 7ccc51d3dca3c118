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
CORPS_PETIT = 64 * 1024
"""Un corps annoncé de cette taille au plus arrive entier avec ses en-têtes dans le tampon que la boucle du
travailleur lit avant de confier la requête à un fil (``TAMPON_MAX``, 80 Kio, app/web/travailleur.py) : les
envois de la page (une classe de 400 élèves : ~40 Ko) ne passent pas par la file des lots."""


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
    def une_place(self, lire=None, petit: bool = False) -> Iterator[None]:
        """``lire()`` (le corps, avec le débit minimal et l'échéance du travailleur) avant la place de
        traitement : un envoi lent ne tient jamais une place de traitement (issue 28 : dix envois lents
        bloquaient tous les lots 120 s). Un ``petit`` corps, déjà en mémoire quand la requête arrive (lu par
        la boucle du travailleur), ne passe pas par la file d'entrée que les envois lents peuvent remplir."""
        entree = not petit
        if entree and not self._entree.acquire(blocking=False):
            raise ErreurRequete(503, "trop de lots en attente : réessayez dans quelques secondes",
                                entetes={"Retry-After": "5"})
        try:
            if lire is not None:
                lire()
            if not self._traitement.acquire(timeout=self.attente_s):
                raise ErreurRequete(503, f"trop de lots en cours de traitement : réessayez dans quelques secondes "
                                         f"(aucune place libérée en {self.attente_s:.0f} s)",
                                    entetes={"Retry-After": "5"})
            try:
                yield
            finally:
                self._traitement.release()
        finally:
            if entree:
                self._entree.release()

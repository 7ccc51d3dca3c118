"""Essais de jeton ratés, limités par client (issue 28) : commun à l'API HTTP (``app.web.authentification``) et
au serveur gRPC (``app.rpc.service``), pour qu'aucun des deux ne laisse essayer des jetons au plus vite."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

FENETRE_ESSAIS_S = 60.0
CLIENTS_SUIVIS_MAX = 10_000
"""Mémoire bornée : au-delà, le client suivi depuis le plus longtemps est oublié."""


class LimiteEssais:
    """Essais ratés par client sur une fenêtre glissante (par processus)."""

    def __init__(self) -> None:
        self._essais: OrderedDict[str, list[float]] = OrderedDict()
        self._verrou = threading.Lock()

    def attente(self, client: str, maximum: int) -> float:
        """Secondes avant qu'un nouvel essai de ce client soit examiné (0 : tout de suite)."""
        maintenant = time.monotonic()
        with self._verrou:
            essais = [t for t in self._essais.get(client, ()) if maintenant - t < FENETRE_ESSAIS_S]
            if len(essais) < maximum:
                return 0.0
            return FENETRE_ESSAIS_S - (maintenant - essais[-maximum])

    def rate(self, client: str, maximum: int) -> None:
        maintenant = time.monotonic()
        with self._verrou:
            essais = [t for t in self._essais.pop(client, ()) if maintenant - t < FENETRE_ESSAIS_S]
            self._essais[client] = [*essais, maintenant][-maximum:]
            while len(self._essais) > CLIENTS_SUIVIS_MAX:
                self._essais.popitem(last=False)

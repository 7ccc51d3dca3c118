"""Les fils de fond du stockage (alimentation de la base, suivi des effacements) ne meurent jamais en
silence : une exception imprévue est journalisée, comptée par fil, et la boucle reprend après une pause.
Avant (issue 28), un ``sqlite3.OperationalError`` sur un disque plein tuait le fil d'alimentation, relancé
en silence par la requête suivante, et ``/ready`` oscillait. Les relances sont lues par ``/ready`` et
comptées dans ``/metrics`` (l'observateur est branché par la couche web : le stockage n'importe rien
au-dessus de lui)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

journal = logging.getLogger("prediction_etudiante")

PAUSE_RELANCE_S = 1.0
_relances: dict[str, int] = {}
_dernieres: dict[str, str] = {}
_verrou = threading.Lock()
observateur: Callable[[str], None] | None = None
"""Appelé à chaque relance avec le nom du fil (métrique ``prediction_etudiante_fils_relances_total``)."""


def relancer_toujours(nom: str, corps: Callable[[], None], arret: threading.Event) -> None:
    """Exécute ``corps`` (la boucle d'un fil) ; s'il lève, compte la relance et le reprend après une pause,
    jusqu'à ``arret``. Un ``corps`` qui rend la main normalement termine le fil."""
    while True:
        try:
            corps()
            return
        except Exception as erreur:  # noqa: BLE001 - un fil de fond ne doit jamais mourir en silence
            with _verrou:
                _relances[nom] = _relances.get(nom, 0) + 1
                _dernieres[nom] = type(erreur).__name__
            journal.exception("fil %s : erreur imprévue (%s), relancé dans %.0f s", nom, type(erreur).__name__,
                              PAUSE_RELANCE_S)
            if observateur is not None:
                try:
                    observateur(nom)
                except Exception:  # noqa: BLE001 - une métrique ne doit pas arrêter la relance
                    journal.exception("métrique des relances du fil %s", nom)
            if arret.wait(PAUSE_RELANCE_S):
                return


def relances() -> dict[str, dict]:
    """Pour ``/ready`` : nom du fil → {relances, derniere_erreur} (type d'exception seulement)."""
    with _verrou:
        return {nom: {"relances": nombre, "derniere_erreur": _dernieres[nom]} for nom, nombre in _relances.items()}

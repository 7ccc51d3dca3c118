"""``python -m app.web.suiveur`` : le suiveur du journal (``app.stockage.suiveur``) lancé par gunicorn, avec
les métriques de ``GET /metrics`` (retard entre journal et base, arriéré, octets du journal) : il les écrit
dans le dossier multiprocessus de Prometheus comme un worker ; les fichiers d'un suiveur précédent (tué)
sont retirés à son départ, sans quoi son arriéré compterait encore."""

from __future__ import annotations

import os
import sys

from app.stockage import suiveur
from app.web import metriques


def _oublier_le_precedent(pid: int) -> None:
    if pid and pid != os.getpid() and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def main() -> int:
    return suiveur.main(observateur=metriques.observer_suiveur, au_depart=_oublier_le_precedent)


if __name__ == "__main__":
    sys.exit(main())

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


def servir_en_place(noyau, ordres: int, compte_rendu: int) -> int:
    """Le suiveur du noyau de ce processus, forké du maître gunicorn (``Noyau.lancer_suiveur``) : rien à
    réimporter ni à relire de la configuration ; les connexions à la base du maître ne sont pas reprises."""
    noyau.magasin.moteur.dispose(close=False)
    return suiveur.servir(noyau.magasin, noyau.journal, noyau.conservation.retention_jours, ordres, compte_rendu,
                          metriques.observer_suiveur, _oublier_le_precedent)


def main() -> int:
    return suiveur.main(observateur=metriques.observer_suiveur, au_depart=_oublier_le_precedent)


if __name__ == "__main__":
    sys.exit(main())

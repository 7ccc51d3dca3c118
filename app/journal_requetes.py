"""Le journal des requêtes (``requetes_enrg.jsonl``) : une ligne JSON par prédiction servie.

Sûr avec plusieurs processus gunicorn et plusieurs fils : chaque ligne complète est écrite
en un seul ``write`` sur un fichier ouvert en ajout, sous un verrou inter-processus
(``flock`` sur un fichier ``.lock`` voisin, stable même quand le journal est réécrit).
Le fichier est rouvert à chaque écriture : après une réécriture (droit à l'effacement),
les écritures vont au nouveau fichier, jamais à l'ancien.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path


class ErreurJournal(OSError):
    """Le journal ne peut pas être écrit : la prédiction ne doit pas être servie."""


def ligne_json(enregistrement: dict) -> bytes:
    return (json.dumps(enregistrement, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class JournalRequetes:
    def __init__(self, chemin: str | Path, mode: str = "fichier"):
        self.chemin = Path(chemin)
        self.mode = mode
        self.chemin_verrou = self.chemin.with_name(self.chemin.name + ".lock")

    @property
    def vers_fichier(self) -> bool:
        return self.mode in ("fichier", "les_deux")

    @property
    def vers_stdout(self) -> bool:
        return self.mode in ("stdout", "les_deux")

    @contextlib.contextmanager
    def verrou(self) -> Iterator[None]:
        """Verrou exclusif partagé par les écrivains et la purge du journal."""
        descripteur = os.open(self.chemin_verrou, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descripteur, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descripteur)  # libère le verrou

    def ecrire(self, enregistrements: list[dict]) -> None:
        """Ajoute les lignes en une écriture ; lève ``ErreurJournal`` si c'est impossible."""
        if not enregistrements or self.mode == "aucun":
            return
        octets = b"".join(ligne_json(e) for e in enregistrements)
        if self.vers_fichier:
            try:
                with self.verrou():
                    descripteur = os.open(self.chemin, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                    try:
                        ecrits = os.write(descripteur, octets)
                        if ecrits != len(octets):
                            # Écriture partielle (disque plein) : on retire le morceau écrit.
                            os.ftruncate(descripteur, os.fstat(descripteur).st_size - ecrits)
                            raise OSError(28, "écriture partielle du journal")
                    finally:
                        os.close(descripteur)
            except OSError as erreur:
                raise ErreurJournal(erreur.errno, f"journal des requêtes non inscriptible ({erreur.strerror})") from erreur
        if self.vers_stdout:
            sys.stdout.flush()
            os.write(sys.stdout.fileno(), octets)

    def inscriptible(self) -> tuple[bool, str]:
        """Le journal peut-il recevoir une ligne ? (pour ``/ready``) — sans rien y écrire."""
        if not self.vers_fichier:
            return True, f"mode {self.mode}"
        dossier = self.chemin.parent if str(self.chemin.parent) else Path(".")
        try:
            with self.verrou():
                descripteur = os.open(self.chemin, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.close(descripteur)
            libre = os.statvfs(dossier).f_bavail * os.statvfs(dossier).f_frsize
        except OSError as erreur:
            return False, f"journal non inscriptible : {erreur.strerror}"
        if libre < 64 * 1024:
            return False, "journal : disque plein"
        return True, "journal inscriptible"

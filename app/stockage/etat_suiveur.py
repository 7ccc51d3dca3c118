"""L'état que publie le suiveur du journal (``app.stockage.suiveur``) : une page partagée en mémoire
(``<journal>.segments/.suiveur.etat``, ``mmap``), écrite par lui seul, lue par les workers sans appel
système ni verrou (numéro de séquence impair pendant une écriture : le lecteur relit). Persistée sur le
disque : un suiveur relancé (kill -9) reprend à la position de son prédécesseur."""

from __future__ import annotations

import mmap
import os
import struct
import time
from pathlib import Path

from app.stockage.journal import JournalRequetes

NOM_ETAT = ".suiveur.etat"
ABSENT_S = 2.0
"""Le suiveur actif publie au moins toutes les ``BATTEMENT_S`` (app.stockage.suiveur) ; muet depuis ``ABSENT_S``,
il est tenu pour absent."""

_ENTETE = struct.Struct("<Q")  # numéro de séquence (impair : écriture en cours)
_CHAMPS = struct.Struct("<QQQQQQQdddI?")
"""pid, inode, signature (crc32 de la première ligne : un inode peut être réutilisé par un autre fichier),
position stockée, position lue, prédictions stockées, en attente (estimé), battement, en retard depuis,
retard du dernier paquet, effacements dus, réconciliation due."""
_ERREUR = 128  # octets du dernier message d'erreur (sans donnée personnelle : types et messages de la base)
_DEMANDE = 512  # compteur écrit par les lecteurs qui attendent (hors de la zone du suiveur)
TAILLE_ETAT = 4096


class EtatSuiveur:
    """La page partagée où le suiveur publie sa position ; lue par les workers (``mmap``, sans verrou :
    numéro de séquence impair pendant une écriture, le lecteur relit)."""

    def __init__(self, chemin: Path):
        self.chemin = chemin
        descripteur = os.open(chemin, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(descripteur).st_size < TAILLE_ETAT:
                os.ftruncate(descripteur, TAILLE_ETAT)
            self._page = mmap.mmap(descripteur, TAILLE_ETAT)
        finally:
            os.close(descripteur)

    @classmethod
    def de(cls, registre: JournalRequetes) -> EtatSuiveur:
        registre.segments.creer()
        return cls(registre.segments.dossier / NOM_ETAT)

    def publier(self, **champs) -> None:
        sequence = _ENTETE.unpack_from(self._page, 0)[0]
        _ENTETE.pack_into(self._page, 0, sequence + 1)
        actuel = dict(zip(_NOMS, _CHAMPS.unpack_from(self._page, _ENTETE.size)))
        actuel.update((k, v) for k, v in champs.items() if k in actuel)
        _CHAMPS.pack_into(self._page, _ENTETE.size, *(actuel[n] for n in _NOMS))
        if "erreur" in champs:
            texte = champs["erreur"].encode("utf-8", "replace")[:_ERREUR - 1]
            self._page[_ENTETE.size + _CHAMPS.size:_ENTETE.size + _CHAMPS.size + _ERREUR] = texte.ljust(_ERREUR, b"\0")
        _ENTETE.pack_into(self._page, 0, sequence + 2)

    def lire(self) -> dict:
        while True:
            avant = _ENTETE.unpack_from(self._page, 0)[0]
            valeurs = _CHAMPS.unpack_from(self._page, _ENTETE.size)
            erreur = bytes(self._page[_ENTETE.size + _CHAMPS.size:_ENTETE.size + _CHAMPS.size + _ERREUR])
            if avant % 2 == 0 and _ENTETE.unpack_from(self._page, 0)[0] == avant:
                etat = dict(zip(_NOMS, valeurs))
                etat["erreur"] = erreur.rstrip(b"\0").decode("utf-8", "replace")
                return etat

    def presser(self) -> None:
        """Une lecture attend : le paquet en formation part sans attendre sa période."""
        valeur = _ENTETE.unpack_from(self._page, _DEMANDE)[0]
        _ENTETE.pack_into(self._page, _DEMANDE, valeur + 1)

    def demandes(self) -> int:
        return _ENTETE.unpack_from(self._page, _DEMANDE)[0]

    def present(self, etat: dict | None = None) -> bool:
        etat = etat or self.lire()
        return etat["pid"] != 0 and time.monotonic() - etat["battement"] < ABSENT_S

    def atteint(self, chemin: Path, cible: tuple[int, int]) -> bool:
        """Tout ce que le journal actif contenait en ``cible`` (inode, taille) est-il en base ?"""
        etat = self.lire()
        inode, taille = cible
        if inode == 0:
            return True
        if etat["inode"] == inode:
            return etat["stockee"] >= taille
        # Le suiveur ne passe à un nouveau fichier qu'après avoir fini l'ancien : s'il lit le journal actif
        # d'aujourd'hui et que la cible était un autre inode, la cible a été scellée et finie avant.
        try:
            actuel = os.stat(chemin).st_ino
        except FileNotFoundError:
            return False
        return actuel != inode and etat["inode"] == actuel


_NOMS = ("pid", "inode", "signature", "stockee", "lue", "stockees", "en_attente", "battement", "en_retard_depuis",
         "retard", "effacements_dus", "reconciliation_due")


def position_du_journal(chemin: Path) -> tuple[int, int]:
    """(inode, taille) du journal actif maintenant ; (0, 0) s'il n'existe pas."""
    try:
        etat = os.stat(chemin)
    except FileNotFoundError:
        return 0, 0
    return etat.st_ino, etat.st_size



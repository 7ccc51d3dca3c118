"""L'état que publie le suiveur du journal (``app.stockage.suiveur``) : une page partagée en mémoire
(``<journal>.segments/.suiveur.etat``, ``mmap``), écrite par lui seul, lue par les workers sans appel
système ni verrou (numéro de séquence impair pendant une écriture : le lecteur relit). Persistée sur le
disque : un suiveur relancé (kill -9) reprend à la position de son prédécesseur."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import socket
import struct
from pathlib import Path

from app.stockage.journal import JournalRequetes

NOM_ETAT = ".suiveur.etat"
NOM_VERROU = ".suiveur"
"""Verrou d'instance : tenu (exclusif) par le suiveur actif ; un second attend en réserve."""

_ENTETE = struct.Struct("<Q")  # numéro de séquence (impair : écriture en cours)
_CHAMPS = struct.Struct("<QQQQQQQdddI?d")
"""pid, inode, signature (empreinte du début du fichier, ``PrefixeActif.signature`` : un inode peut être réutilisé
par un autre fichier),
position stockée, position lue, prédictions stockées, en attente (estimé), battement, en retard depuis,
retard du dernier paquet, effacements dus, réconciliation due, instant (époque) du dernier registre des
effacements appliqué en entier au journal."""
_ERREUR = 128  # octets du dernier message d'erreur (sans donnée personnelle : types et messages de la base)
TAILLE_ETAT = 4096


class EtatSuiveur:
    """La page où le suiveur publie sa position. Les lecteurs (workers) la voient par un ``mmap`` en lecture
    seule, sans verrou (numéro de séquence impair pendant une écriture : le lecteur relit) ; le suiveur
    l'écrit par ``pwrite`` sur un descripteur ouvert le temps de l'écriture. Aucun processus ne garde donc
    ouvert en écriture un fichier du dossier du journal : le disque peut être remonté en lecture seule
    (essai de panne) sans qu'un descripteur ne l'en empêche. Un lecteur qui attend réveille le suiveur par
    un datagramme sur une socket Unix abstraite (hors du système de fichiers), propre à ce journal."""

    def __init__(self, chemin: Path):
        self.chemin = chemin
        descripteur = os.open(chemin, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(descripteur).st_size < TAILLE_ETAT:
                os.ftruncate(descripteur, TAILLE_ETAT)
        finally:
            os.close(descripteur)
        descripteur = os.open(chemin, os.O_RDONLY)
        try:
            self._page = mmap.mmap(descripteur, TAILLE_ETAT, prot=mmap.PROT_READ)
        finally:
            os.close(descripteur)
        self.adresse_reveil = b"\0prediction-etudiante-suiveur-" + hashlib.sha256(
            os.path.realpath(chemin).encode("utf-8", "surrogateescape")).hexdigest()[:32].encode("ascii")
        self._courant = dict(zip(_NOMS, _CHAMPS.unpack_from(self._page, _ENTETE.size)))
        self._sequence = _ENTETE.unpack_from(self._page, 0)[0] & ~1  # pair : un suiveur tué en écrivant est dépassé
        self._erreur = b""
        self._socket: socket.socket | None = None
        self._pid_socket = 0

    @classmethod
    def de(cls, registre: JournalRequetes) -> EtatSuiveur:
        creer_dossier(registre)
        return cls(registre.segments.dossier / NOM_ETAT)

    def publier(self, **champs) -> None:
        """Par le suiveur seul. Disque en lecture seule : rien n'est publié (les lecteurs le voient muet)."""
        self._courant.update((k, v) for k, v in champs.items() if k in self._courant)
        if "erreur" in champs:
            self._erreur = champs["erreur"].encode("utf-8", "replace")[:_ERREUR - 1]
        try:
            descripteur = os.open(self.chemin, os.O_WRONLY)
        except OSError:
            return
        try:
            self._sequence += 1  # impair : écriture en cours
            os.pwrite(descripteur, _ENTETE.pack(self._sequence), 0)
            os.pwrite(descripteur, _CHAMPS.pack(*(self._courant[n] for n in _NOMS)) + self._erreur.ljust(_ERREUR, b"\0"),
                      _ENTETE.size)
            self._sequence += 1
            os.pwrite(descripteur, _ENTETE.pack(self._sequence), 0)
        except OSError:
            pass
        finally:
            os.close(descripteur)

    def lire(self) -> dict:
        for _ in range(10_000):  # un suiveur tué au milieu d'une écriture laisse un numéro impair : borné
            avant = _ENTETE.unpack_from(self._page, 0)[0]
            valeurs = _CHAMPS.unpack_from(self._page, _ENTETE.size)
            erreur = bytes(self._page[_ENTETE.size + _CHAMPS.size:_ENTETE.size + _CHAMPS.size + _ERREUR])
            if avant % 2 == 0 and _ENTETE.unpack_from(self._page, 0)[0] == avant:
                break
        etat = dict(zip(_NOMS, valeurs))
        etat["erreur"] = erreur.rstrip(b"\0").decode("utf-8", "replace")
        return etat

    def ecouter(self) -> socket.socket | None:
        """Par le suiveur actif : la socket où les lecteurs le réveillent (None si l'adresse est prise)."""
        ecoute = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            ecoute.bind(self.adresse_reveil)
        except OSError:
            ecoute.close()
            return None
        ecoute.setblocking(False)
        return ecoute

    def presser(self) -> None:
        """Une lecture attend : le paquet en formation part sans attendre sa période (un datagramme, perdu
        sans dommage si personne n'écoute)."""
        if self._socket is None or self._pid_socket != os.getpid():
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
            self._pid_socket = os.getpid()
        with contextlib.suppress(OSError):
            self._socket.sendto(b"p", self.adresse_reveil)

    def present(self) -> bool:
        """Un suiveur actif tient le verrou d'instance (``NOM_VERROU``) : un essai de verrou partagé échoue.
        Mort (même par kill -9), son verrou est libéré aussitôt."""
        try:
            descripteur = os.open(self.chemin.with_name(NOM_VERROU), os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(descripteur, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(descripteur)  # libère l'essai
        return False

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
         "retard", "effacements_dus", "reconciliation_due", "rattrape")


def creer_dossier(registre: JournalRequetes) -> None:
    """Le dossier des segments (0700), sans ses parents : un journal dans un dossier absent reste refusé
    (503), le suiveur n'y crée rien."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(registre.segments.dossier, 0o700)


def position_du_journal(chemin: Path) -> tuple[int, int]:
    """(inode, taille) du journal actif maintenant ; (0, 0) s'il n'existe pas."""
    try:
        etat = os.stat(chemin)
    except FileNotFoundError:
        return 0, 0
    return etat.st_ino, etat.st_size



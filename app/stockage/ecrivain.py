"""Les descripteurs d'un processus qui écrit au journal actif, gardés ouverts entre deux requêtes.

Rouvrir le verrou et le journal à chaque ligne coûtait sept à neuf appels système par requête (issue 26). Ici, par processus :

- le verrou des écrivains (``flock`` sur ``<journal>.lock``) est pris sur un descripteur gardé ouvert,
  derrière un verrou de fils (deux fils d'un processus partagent ce descripteur) ;
- le journal actif reste ouvert en ajout. La première page du fichier de verrou, partagée (``mmap``) et
  écrite sous ce seul verrou, porte trois nombres : une **génération**, incrémentée par chaque scellement
  (renommage du fichier actif) : un écrivain sait sans appel système si son descripteur vise encore le
  fichier actif ; la **fin** du journal actif après la dernière écriture, d'où qu'elle vienne : la taille
  qui décide d'un scellement, sans ``fstat`` ; le pid de l'écrivain **en cours** : noté avant le ``write``,
  effacé après. S'il est encore là quand un écrivain prend le verrou, son auteur est mort en écrivant
  (kill -9) et a pu laisser un début de ligne : la fin du fichier est relue et la ligne suivante mise sur
  sa propre ligne. Une écriture coûte ainsi ``flock``, ``write``, ``flock``, sans gestionnaire de contexte (``prendre``,
  ``rendre``) ;
- descripteurs et page restés inutilisés une seconde sont fermés (un fil par processus, réveillé chaque
  seconde tant qu'ils sont ouverts ; il voit aussi un journal actif retiré à la main) : un processus au
  repos ne garde aucun fichier du journal ouvert en écriture, et le disque peut être remonté en lecture
  seule (``test/test_fiabilite_pannes.py``).

Après un ``fork``, l'enfant ferme ses copies et repart sans rien (``os.register_at_fork``) : les
descripteurs hérités ne sont jamais utilisés (un ``flock`` relâché par l'enfant relâcherait celui du parent).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import mmap
import os
import struct
import threading
import time
import weakref
from pathlib import Path

DROITS = 0o600
TAILLE_PAGE = 4096
"""Le fichier de verrou porte, dans sa première page (``mmap`` partagé), ce que se disent les écrivains."""
_PAGE = struct.Struct("<Qqq")
"""Génération (scellements), fin du journal actif après la dernière écriture (-1 : inconnue), pid d'un écrivain
en cours d'écriture (0 : aucun ; resté là : tué pendant son ``write``)."""
INACTIVITE_S = 1.0
"""Un descripteur du journal inutilisé depuis ce délai est fermé."""

_ECRIVAINS: weakref.WeakSet[EcrivainJournal] = weakref.WeakSet()


def _libc_sans_rendre_le_gil():
    """``flock`` et ``write`` de la libc appelés sans rendre le verrou global de Python (``ctypes.PyDLL``) ; None
    hors d'une libc qui les a. ``fcntl.flock`` et ``os.write`` le rendent, puis le reprennent : avec huit fils par
    worker, un autre fil le prend entre-temps, arrive au verrou des écrivains et s'y endort. Mesuré à 32 connexions
    sur une écriture réduite à ``flock``, ``write``, ``flock`` sous un verrou de fils : 69 % des req/s de la
    contre-épreuve en rendant le GIL, 85 % sans (journal de projet du 8 décembre 2026). Un appel ainsi fait ne bloque jamais : le
    verrou est d'abord essayé sans attendre (``LOCK_NB``), et une écriture dans un fichier régulier ne fait que
    copier dans le cache de pages."""
    try:
        libc = ctypes.PyDLL(None, use_errno=True)
        verrouiller, ecrire = libc.flock, libc.write
    except (OSError, AttributeError):
        return None
    verrouiller.argtypes, verrouiller.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    ecrire.argtypes, ecrire.restype = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t), ctypes.c_ssize_t
    return verrouiller, ecrire


_LIBC = _libc_sans_rendre_le_gil()
_ATTENDRE = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EINTR)


def verrouiller(descripteur: int) -> None:
    """``flock(LOCK_EX)`` : essayé sans rendre le GIL ; tenu par un autre processus, attendu en le rendant."""
    if _LIBC is not None:
        if _LIBC[0](descripteur, fcntl.LOCK_EX | fcntl.LOCK_NB) == 0:
            return
        numero = ctypes.get_errno()
        if numero not in _ATTENDRE:
            raise OSError(numero, os.strerror(numero))
    fcntl.flock(descripteur, fcntl.LOCK_EX)


def deverrouiller(descripteur: int) -> None:
    if _LIBC is None or _LIBC[0](descripteur, fcntl.LOCK_UN) != 0:
        fcntl.flock(descripteur, fcntl.LOCK_UN)  # repli, ou l'erreur de la libc levée en OSError


def ecrire(descripteur: int, octets: bytes) -> int:
    """``os.write`` sans rendre le GIL (le nombre d'octets écrits ; ``OSError`` sur erreur)."""
    if _LIBC is None:
        return os.write(descripteur, octets)
    ecrits = _LIBC[1](descripteur, octets, len(octets))
    if ecrits < 0:
        numero = ctypes.get_errno()
        if numero == errno.EINTR:
            return os.write(descripteur, octets)
        raise OSError(numero, os.strerror(numero))
    return ecrits


def _oublier_apres_fork() -> None:
    for ecrivain in list(_ECRIVAINS):
        ecrivain.fermer_les_herites()
        ecrivain.oublier()


os.register_at_fork(after_in_child=_oublier_apres_fork)


class EcrivainJournal:
    """Verrou des écrivains et descripteur du journal actif d'un processus (voir le module)."""

    def __init__(self, chemin: Path, chemin_verrou: Path):
        self.chemin = chemin
        self.chemin_verrou = chemin_verrou
        self.oublier()
        _ECRIVAINS.add(self)

    def oublier(self) -> None:
        """État neuf (création, ou enfant d'un fork : les descripteurs hérités ne sont pas les siens)."""
        self._mutex = threading.Lock()
        self._fil = threading.local()
        self._verrou: int | None = None
        self._page: mmap.mmap | None = None
        self._descripteur: int | None = None
        self._generation = -1
        self._pid = os.getpid()
        self._derniere_ecriture = 0.0
        self._veilleur: threading.Thread | None = None

    def fermer_les_herites(self) -> None:
        """Dans l'enfant d'un fork : ses copies des descripteurs et de la page du parent sont fermées (un
        worker ne garderait sinon le journal ouvert en écriture toute sa vie). Fermer une copie ne relâche pas
        le ``flock`` du parent : il appartient à la description de fichier, que le parent garde."""
        with contextlib.suppress(OSError, ValueError, BufferError):
            if self._page is not None:
                self._page.close()
        for descripteur in (self._descripteur, self._verrou):
            if descripteur is not None:
                with contextlib.suppress(OSError):
                    os.close(descripteur)

    # --- verrou des écrivains -----------------------------------------------------------------------

    def prendre(self) -> None:
        """Prend le verrou des écrivains, exclusif entre tous ceux de l'instance ; réentrant dans un même fil.
        Deux appels de fonction plutôt qu'un gestionnaire de contexte : c'est le chemin de chaque requête.
        ``OSError`` si le fichier de verrou ne s'ouvre pas (rien n'est alors pris)."""
        fil = self._fil
        if getattr(fil, "profondeur", 0):
            fil.profondeur += 1
            return
        self._mutex.acquire()
        try:
            verrouiller(self._descripteur_verrou())
        except BaseException:
            self._mutex.release()
            raise
        fil.profondeur = 1

    def rendre(self) -> None:
        """Rend ce que ``prendre`` a pris (le verrou n'est relâché qu'au dernier niveau)."""
        fil = self._fil
        fil.profondeur -= 1
        if fil.profondeur:
            return
        try:
            deverrouiller(self._verrou)
        finally:
            self._mutex.release()

    def _descripteur_verrou(self) -> int:
        if self._verrou is None:
            descripteur = os.open(self.chemin_verrou, os.O_RDWR | os.O_CREAT, DROITS)
            try:
                if os.fstat(descripteur).st_size < TAILLE_PAGE:  # neuf, ou un ancien fichier de verrou vide
                    # Sous le verrou : un autre écrivain ne lit la page qu'en le tenant, donc jamais à moitié faite.
                    fcntl.flock(descripteur, fcntl.LOCK_EX)
                    try:
                        if os.fstat(descripteur).st_size < TAILLE_PAGE:
                            os.ftruncate(descripteur, TAILLE_PAGE)
                            os.pwrite(descripteur, _PAGE.pack(0, -1, 0), 0)
                    finally:
                        fcntl.flock(descripteur, fcntl.LOCK_UN)
                self._page = mmap.mmap(descripteur, TAILLE_PAGE)
            except BaseException:
                os.close(descripteur)
                raise
            self._verrou = descripteur
            self._veiller()
        self._derniere_ecriture = time.monotonic()
        return self._verrou

    def _lire(self) -> tuple[int, int, int]:
        return _PAGE.unpack_from(self._page, 0)

    def _noter(self, generation: int, fin: int, en_cours: int) -> None:
        _PAGE.pack_into(self._page, 0, generation, fin, en_cours)

    def nouveau_fichier(self, fin: int = 0) -> None:
        """Sous le verrou, après avoir déplacé (``fin`` 0 : le prochain écrivain crée un fichier vide) ou
        remplacé (``fin`` -1 : taille inconnue) le journal actif : les autres écrivains le rouvriront."""
        generation, _, _ = self._lire()
        self._noter(generation + 1, fin, 0)
        self.fermer()

    def avant_ecriture(self) -> tuple[int, bool]:
        """Sous le verrou : (fin du journal actif, vrai si elle est à relire : inconnue, ou un écrivain est
        mort pendant son écriture) ; l'écrivain en cours est noté."""
        generation, fin, en_cours = self._lire()
        self._noter(generation, fin, self._pid)
        return fin, fin < 0 or en_cours != 0

    def apres_ecriture(self, fin: int) -> None:
        """Sous le verrou : ``fin`` -1 après une erreur (taille à relire)."""
        generation, _, _ = self._lire()
        self._noter(generation, fin, 0)

    # --- journal actif ------------------------------------------------------------------------------

    def actif(self) -> int:
        """Sous le verrou (``prendre`` a ouvert la page) : le descripteur du journal actif, rouvert s'il a été
        scellé ou remplacé."""
        generation = self._lire()[0]
        if self._descripteur is not None and generation != self._generation:
            self.fermer()
        if self._descripteur is None:
            self._descripteur = os.open(self.chemin, os.O_RDWR | os.O_APPEND | os.O_CREAT, DROITS)
            self._generation = generation
            # Rare (ouverture) : la fin notée est relue à la prochaine écriture, au cas où le fichier aurait été
            # recréé (journal actif retiré à la main) depuis qu'elle l'a été.
            _, _, en_cours = self._lire()
            self._noter(generation, -1, en_cours)
        return self._descripteur

    def fermer(self) -> None:
        """Sous le verrou de fils : la prochaine écriture rouvre le journal actif."""
        descripteur, self._descripteur = self._descripteur, None
        if descripteur is not None:
            with contextlib.suppress(OSError):
                os.close(descripteur)

    def _tout_fermer(self) -> None:
        """Sous le verrou de fils, hors du verrou des écrivains : plus rien d'ouvert dans ce processus."""
        self.fermer()
        page, self._page = self._page, None
        verrou, self._verrou = self._verrou, None
        if page is not None:
            page.close()
        if verrou is not None:
            with contextlib.suppress(OSError):
                os.close(verrou)

    def _veiller(self) -> None:
        if self._veilleur is None or not self._veilleur.is_alive():
            self._veilleur = threading.Thread(target=self._fermer_si_inactif, name="journal-inactif", daemon=True)
            self._veilleur.start()

    def _fermer_si_inactif(self) -> None:
        while True:
            time.sleep(INACTIVITE_S)
            if not self._mutex.acquire(blocking=False):
                continue  # une écriture est en cours : ils serviront encore
            try:
                if self._verrou is None:
                    return
                if time.monotonic() - self._derniere_ecriture >= INACTIVITE_S:
                    self._tout_fermer()
                    return
                if self._descripteur is not None and os.fstat(self._descripteur).st_nlink == 0:
                    self.fermer()  # journal actif retiré à la main : la prochaine écriture le recrée
            except OSError:
                self.fermer()
            finally:
                self._mutex.release()

"""Le journal des requêtes (``requetes_enrg.jsonl``) : une ligne JSON par prédiction servie.

Sûr avec plusieurs processus gunicorn et plusieurs fils : chaque ligne complète est écrite
en un seul ``write`` sur un fichier ouvert en ajout, sous un verrou inter-processus
(``flock`` sur un fichier ``.lock`` voisin, stable même quand le journal est réécrit).
Le fichier est rouvert à chaque écriture : après une réécriture (droit à l'effacement),
les écritures vont au nouveau fichier, jamais à l'ancien.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from app.json_rapide import en_octets

BLOC_LECTURE = 1 << 16
DROITS = 0o600
"""Journal, verrou et fichier temporaire de réécriture : données personnelles, lisibles du seul service
(un fichier existant garde ses droits, sauf après un effacement : la réécriture ne les élargit jamais)."""


FSYNC_TOUJOURS = 0.0
FSYNC_JAMAIS = None
PERIODE_FSYNC_DEFAUT = 0.1
"""``JOURNAL_FSYNC`` : ``toujours`` (fsync avant chaque réponse), ``100ms`` par défaut (au plus 100 ms de
lignes non synchronisées, par le fil d'alimentation de chaque processus), ``jamais`` (le noyau décide,
environ 30 s sous Linux). Voir le README, « Durabilité »."""


class ErreurJournal(OSError):
    """Le journal ne peut pas être écrit : la prédiction ne doit pas être servie."""


def ligne_json(enregistrement: dict) -> bytes:
    return en_octets(enregistrement) + b"\n"


class JournalRequetes:
    def __init__(self, chemin: str | Path, mode: str = "fichier", chemin_verrou: str | Path | None = None,
                 periode_fsync: float | None = PERIODE_FSYNC_DEFAUT):
        self.chemin = Path(chemin)
        self.mode = mode
        self.periode_fsync = periode_fsync
        """0 : fsync à chaque écriture, avant la réponse ; None : jamais ; sinon au plus cette période (s)."""
        self._a_synchroniser = False
        self._dernier_fsync = time.monotonic()
        # Le verrou (et le temporaire de réécriture) à côté du journal, sauf si un autre dossier est donné :
        # l'image met un journal monté seul (-v fichier:/app/requetes_enrg.jsonl) avec un verrou dans
        # /app/donnees, /app n'étant pas inscriptible par le service.
        self.chemin_verrou = Path(chemin_verrou) if chemin_verrou else self.chemin.with_name(self.chemin.name + ".lock")
        self._fil = threading.local()

    @property
    def vers_fichier(self) -> bool:
        return self.mode in ("fichier", "les_deux")

    @property
    def vers_stdout(self) -> bool:
        return self.mode in ("stdout", "les_deux")

    @contextlib.contextmanager
    def verrou(self) -> Iterator[None]:
        """Verrou exclusif partagé par les écrivains et la purge du journal.

        Réentrant dans un même fil : la conservation (``app.stockage.conservation``) peut le prendre
        autour de toute la transaction, puis ``ecrire`` ou ``retirer`` le reprendre sans se
        bloquer elle-même (deux ``flock`` sur deux descripteurs s'excluent, même dans un fil).
        """
        if getattr(self._fil, "profondeur", 0):
            self._fil.profondeur += 1
            try:
                yield
            finally:
                self._fil.profondeur -= 1
            return
        try:
            descripteur = os.open(self.chemin_verrou, os.O_RDWR | os.O_CREAT, DROITS)
        except OSError as erreur:
            raise ErreurJournal(erreur.errno, f"verrou du journal impossible à créer ({erreur.strerror})") from erreur
        try:
            fcntl.flock(descripteur, fcntl.LOCK_EX)
            self._fil.profondeur = 1
            try:
                yield
            finally:
                self._fil.profondeur = 0
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
                    descripteur = os.open(self.chemin, os.O_WRONLY | os.O_APPEND | os.O_CREAT, DROITS)
                    try:
                        ecrits = os.write(descripteur, octets)
                        if ecrits != len(octets):
                            # Écriture partielle (disque plein) : on retire le morceau écrit.
                            os.ftruncate(descripteur, os.fstat(descripteur).st_size - ecrits)
                            raise OSError(28, "écriture partielle du journal")
                        if self.periode_fsync == FSYNC_TOUJOURS:
                            os.fsync(descripteur)
                        else:
                            self._a_synchroniser = self.periode_fsync is not FSYNC_JAMAIS
                    finally:
                        os.close(descripteur)
            except OSError as erreur:
                raise ErreurJournal(erreur.errno, f"journal des requêtes non inscriptible ({erreur.strerror})") from erreur
        if self.vers_stdout:
            sys.stdout.flush()
            os.write(sys.stdout.fileno(), octets)

    def synchroniser(self, force: bool = False) -> bool:
        """Politique « période » : fsync du journal si des lignes attendent depuis au moins la période
        (ou ``force``) ; appelé par le fil d'alimentation de chaque processus. Renvoie vrai s'il a eu lieu."""
        if not self._a_synchroniser or not self.vers_fichier:
            return False
        if not force and time.monotonic() - self._dernier_fsync < (self.periode_fsync or 0):
            return False
        self._a_synchroniser = False
        self._dernier_fsync = time.monotonic()
        try:
            descripteur = os.open(self.chemin, os.O_RDONLY)
        except OSError:
            return False
        try:
            os.fsync(descripteur)
        except OSError:
            self._a_synchroniser = True
            return False
        finally:
            os.close(descripteur)
        return True

    def parcourir(self, paquet: int = 10_000) -> Iterator[list[tuple[str, bytes]]]:
        """Toutes les lignes du journal, par paquets de (request_id, ligne) : le request_id est lu dans la
        ligne sans la décoder (réconciliation : seules les lignes absentes de la base sont décodées). Une
        ligne sans request_id lisible est ignorée. Lecture sans verrou (chaque ligne est d'un seul ``write``) :
        ce qui s'ajoute pendant la lecture est déjà entre les mains du fil d'alimentation."""
        if not self.vers_fichier:
            return
        try:
            source = open(self.chemin, "rb")
        except FileNotFoundError:
            return
        except OSError as erreur:
            raise ErreurJournal(erreur.errno, f"journal des requêtes illisible ({erreur.strerror})") from erreur
        cle = b'"request_id":"'
        with source:
            morceau: list[tuple[str, bytes]] = []
            for ligne in source:
                debut = ligne.find(cle)
                if debut < 0 or not ligne.endswith(b"\n"):
                    continue  # ligne abîmée, ou en cours d'écriture (dernière, sans fin de ligne)
                debut += len(cle)
                fin = ligne.find(b'"', debut)
                if fin < 0:
                    continue
                morceau.append((ligne[debut:fin].decode("utf-8", "replace"), ligne))
                if len(morceau) >= paquet:
                    yield morceau
                    morceau = []
            if morceau:
                yield morceau

    def retirer_avant(self, limite: str) -> int:
        """Rétention : retire du début du journal les lignes dont l'horodatage (ISO UTC) précède ``limite``.
        Les lignes s'ajoutent dans l'ordre du temps (horodatage posé sous le verrou, à l'écriture) : seul un
        préfixe est visé, lu sans décoder le JSON ; rien à retirer coûte la lecture d'une ligne."""
        if not self.vers_fichier:
            return 0
        cle = b'"horodatage":"'
        temporaire = self.chemin_verrou.with_name(f".{self.chemin.name}.{os.getpid()}.retention.tmp")
        try:
            with self.verrou():
                try:
                    source = open(self.chemin, "rb")
                except FileNotFoundError:
                    return 0
                with source:
                    retirees = 0
                    for ligne in source:
                        debut = ligne.find(cle)
                        if debut < 0 or ligne[debut + len(cle):debut + len(cle) + 32].decode("ascii", "replace") >= limite:
                            break
                        retirees += 1
                    if not retirees:
                        return 0
                    source.seek(0)
                    for _ in range(retirees):
                        source.readline()
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(temporaire)
                    try:
                        with open(os.open(temporaire, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DROITS), "wb") as cible:
                            shutil.copyfileobj(source, cible, 1 << 20)
                            cible.flush()
                            os.fsync(cible.fileno())
                        os.replace(temporaire, self.chemin)
                    finally:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(temporaire)
                _synchroniser_dossier(self.chemin.parent)
                return retirees
        except OSError as erreur:
            raise ErreurJournal(erreur.errno, f"journal des requêtes non réécrit ({erreur.strerror})") from erreur

    def retirer(self, a_retirer: Callable[[dict], bool], motif: bytes = b"") -> int:
        """Réécrit le journal sans les lignes visées (droit à l'effacement) ; renvoie leur nombre.

        Sous le verrou des écrivains : aucune ligne ne s'ajoute pendant la réécriture, et celles
        qui attendent le verrou iront au nouveau fichier (rouvert à chaque écriture). Le nouveau
        contenu est écrit dans un fichier temporaire voisin, synchronisé, puis renommé par-dessus
        le journal : une panne laisse l'ancien journal entier. ``motif`` (facultatif) est un
        extrait d'octets que toute ligne visée contient, pour ne décoder que celles-là ; les
        lignes illisibles sont gardées telles quelles. Lève ``ErreurJournal`` en cas d'échec.
        """
        if not self.vers_fichier:
            return 0
        temporaire = self.chemin_verrou.with_name(f".{self.chemin.name}.{os.getpid()}.tmp")
        try:
            with self.verrou():
                try:
                    return self._reecrire_sans(a_retirer, motif, temporaire)
                finally:  # sous le verrou : le fichier temporaire d'un autre fil ne peut pas être visé
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(temporaire)
        except OSError as erreur:
            raise ErreurJournal(erreur.errno, f"journal des requêtes non réécrit ({erreur.strerror})") from erreur

    def _reecrire_sans(self, a_retirer: Callable[[dict], bool], motif: bytes, temporaire: Path) -> int:
        try:
            source = open(self.chemin, "rb")
        except FileNotFoundError:
            return 0
        with source:
            if not any(motif in ligne and _visee(ligne, a_retirer) for ligne in source):
                return 0  # rien à retirer : pas de copie du journal sous le verrou des écrivains
            source.seek(0)
            retirees = 0
            # Créé 0600 et neuf (O_EXCL ; un reste d'arrêt brutal est d'abord retiré) : il ne contient que
            # les lignes gardées, jamais celles effacées.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporaire)
            with open(os.open(temporaire, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DROITS), "wb") as cible:
                for ligne in source:
                    if motif in ligne and _visee(ligne, a_retirer):
                        retirees += 1
                        continue
                    cible.write(ligne)
                cible.flush()
                os.fsync(cible.fileno())
            os.chmod(temporaire, os.fstat(source.fileno()).st_mode & DROITS)
        try:
            os.replace(temporaire, self.chemin)
            _synchroniser_dossier(self.chemin.parent)
        except OSError as erreur:
            if erreur.errno not in (errno.EBUSY, errno.EXDEV):
                raise
            _recopier_sur_place(temporaire, self.chemin)
        return retirees

    def recents(self, motif: bytes, octets: int = 2 << 20) -> list[tuple[str, bytes]]:
        """(request_id, ligne) des lignes des ``octets`` derniers octets du journal qui contiennent ``motif``
        (sans décoder le JSON) : ce que les autres workers ont pu servir et pas encore mis en base."""
        if not self.vers_fichier:
            return []
        try:
            with open(self.chemin, "rb") as fichier:
                fin = fichier.seek(0, os.SEEK_END)
                fichier.seek(max(0, fin - octets))
                bloc = fichier.read(octets)
        except FileNotFoundError:
            return []
        except OSError as erreur:
            raise ErreurJournal(erreur.errno, f"journal des requêtes illisible ({erreur.strerror})") from erreur
        cle = b'"request_id":"'
        ids = []
        position = bloc.find(motif)
        while position >= 0:
            debut_ligne = bloc.rfind(b"\n", 0, position) + 1
            fin_ligne = bloc.find(b"\n", position)
            ligne = bloc[debut_ligne:fin_ligne if fin_ligne >= 0 else len(bloc)]
            debut = ligne.find(cle)
            if debut >= 0 and fin_ligne >= 0:
                debut += len(cle)
                ids.append((ligne[debut:ligne.find(b'"', debut)].decode("utf-8", "replace"), ligne))
            if fin_ligne < 0:
                break
            position = bloc.find(motif, fin_ligne)
        return ids

    def dernieres(self, nombre: int) -> tuple[list[dict], int]:
        """Les ``nombre`` dernières lignes du journal (les plus anciennes d'abord), décodées, et le nombre
        de lignes ignorées parmi elles (pas un objet JSON avec ``entrees``). Lit le fichier à rebours
        par blocs, sans verrou (chaque ligne est écrite d'un seul ``write``) : la mémoire et le temps
        ne dépendent que de ``nombre``, jamais de la taille du journal. Rien n'est journalisé."""
        if not self.vers_fichier:
            return [], 0
        try:
            with open(self.chemin, "rb") as fichier:
                position = fichier.seek(0, os.SEEK_END)
                morceaux: list[bytes] = []
                fins = 0
                while position > 0 and fins <= nombre:
                    taille = min(BLOC_LECTURE, position)
                    position -= taille
                    fichier.seek(position)
                    morceau = fichier.read(taille)
                    fins += morceau.count(b"\n")
                    morceaux.append(morceau)
        except FileNotFoundError:
            return [], 0
        except OSError as erreur:
            raise ErreurJournal(erreur.errno, f"journal des requêtes illisible ({erreur.strerror})") from erreur
        lignes = b"".join(reversed(morceaux)).split(b"\n")
        if position > 0:
            lignes = lignes[1:]  # début de ligne coupé par le bloc
        lignes = [ligne for ligne in lignes if ligne.strip()][-nombre:] if nombre > 0 else []
        enregistrements = []
        for ligne in lignes:
            try:
                enregistrement = json.loads(ligne)
            except ValueError:
                continue
            if isinstance(enregistrement, dict) and isinstance(enregistrement.get("entrees"), dict):
                enregistrements.append(enregistrement)
        return enregistrements, len(lignes) - len(enregistrements)

    def inscriptible(self) -> tuple[bool, str]:
        """Le journal peut-il recevoir une ligne ? (pour ``/ready``) — sans rien y écrire."""
        if not self.vers_fichier:
            return True, f"mode {self.mode}"
        try:
            with self.verrou():
                descripteur = os.open(self.chemin, os.O_WRONLY | os.O_APPEND | os.O_CREAT, DROITS)
                os.close(descripteur)
            disque = os.statvfs(self.chemin.parent)
            libre = disque.f_bavail * disque.f_frsize
        except OSError as erreur:
            return False, f"journal non inscriptible : {erreur.strerror}"
        if libre < 64 * 1024:
            return False, "journal : disque plein"
        return True, "journal inscriptible"


def _recopier_sur_place(source: Path, cible: Path) -> None:
    """Repli quand le journal est un fichier monté seul (``docker run -v fichier:…``) : le
    renommage y est impossible (EBUSY). On recopie le contenu filtré dans le même fichier,
    toujours sous le verrou des écrivains ; moins sûr qu'un renommage face à une panne
    pendant la copie, d'où le conseil du README de monter un dossier."""
    with open(source, "rb") as entree, open(cible, "r+b") as sortie:
        shutil.copyfileobj(entree, sortie, 1 << 20)
        sortie.truncate()
        sortie.flush()
        os.fsync(sortie.fileno())


def _visee(ligne: bytes, a_retirer: Callable[[dict], bool]) -> bool:
    """``a_retirer(enregistrement)`` ; une ligne qui n'est pas un objet JSON n'est jamais visée (gardée)."""
    try:
        enregistrement = json.loads(ligne)
    except ValueError:
        return False
    return isinstance(enregistrement, dict) and bool(a_retirer(enregistrement))


def _synchroniser_dossier(dossier: Path) -> None:
    """Rend le renommage durable (fsync du dossier) ; sans effet là où ce n'est pas permis."""
    with contextlib.suppress(OSError):
        descripteur = os.open(dossier, os.O_RDONLY)
        try:
            os.fsync(descripteur)
        finally:
            os.close(descripteur)

"""Le journal des requêtes (``requetes_enrg.jsonl``) : une ligne JSON par prédiction servie.

Sûr avec plusieurs processus gunicorn et plusieurs fils : chaque ligne complète est écrite
en un seul ``write`` sur un fichier ouvert en ajout, sous un verrou inter-processus
(``flock`` sur un fichier ``.lock`` voisin, stable même quand le journal est scellé).
Verrou et journal restent ouverts d'une écriture à l'autre (``app.stockage.ecrivain``) : un
scellement incrémente une génération que chaque écrivain lit sous le verrou, sans appel système ;
après un scellement, les écritures vont au nouveau fichier, jamais à l'ancien.

Le journal est en segments (``app.stockage.segments``) : le fichier actif, scellé dans
``<journal>.segments/`` dès qu'il dépasse ``JOURNAL_SEGMENT``. Un effacement ne retient les
écrivains que le temps d'un renommage ; il réécrit ensuite, sans eux, les seuls segments que
l'index désigne. Avec une borne (``JOURNAL_BORNE``, Cloud Run), les segments confirmés en
base quittent le disque et le journal refuse d'écrire (503) plutôt que de dépasser la borne.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.json_rapide import en_octets
from app.stockage.ecrivain import EcrivainJournal, ecrire
from app.stockage.enregistrement import horodatage_utc
from app.stockage.segments import (CLE_HORODATAGE, CLE_REQUEST_ID, Cible, DossierSegments, fsync,
                                   rendre_durable, sceller, synchroniser_dossier, valeur)

journal = logging.getLogger("prediction_etudiante")

BLOC_LECTURE = 1 << 16
BLOC_PARCOURS = 4 << 20
"""Réconciliation : le journal est lu par blocs de 4 Mio (les request_id y sont cherchés en C)."""
DROITS = 0o600
"""Journal, verrou, segments et fichiers temporaires : données personnelles, lisibles du seul service
(un fichier existant garde ses droits ; une réécriture ne les élargit jamais)."""
MIO = 1 << 20
SEGMENT_OCTETS_DEFAUT = 16 * MIO
"""Taille à laquelle le journal actif est scellé : ce qu'un effacement lit au plus sans index."""
MARGE_BORNE = 4096
"""``/ready`` dit le journal plein quand il ne reste pas de quoi écrire quelques prédictions (~740 octets chacune)."""
PERIODE_CONTROLE_BORNE_S = 0.25
"""Avec une borne, la taille des segments est relue au plus à cette période (par processus)."""


FSYNC_TOUJOURS = 0.0
FSYNC_JAMAIS = None
PERIODE_FSYNC_DEFAUT = 0.1
"""``JOURNAL_FSYNC`` : ``toujours`` (fsync avant chaque réponse), ``100ms`` par défaut (au plus 100 ms de
lignes non synchronisées, par le fil d'alimentation de chaque processus), ``jamais`` (le noyau décide,
environ 30 s sous Linux). Voir le README, « Durabilité »."""


class ErreurJournal(OSError):
    """Le journal ne peut pas être écrit : la prédiction ne doit pas être servie."""


@contextlib.contextmanager
def _disque(action: str) -> Iterator[None]:
    """Erreurs du disque (``OSError``) et de l'index des segments (``sqlite3.Error`` : « database or disk is
    full ») → ``ErreurJournal`` : 503 avec Retry-After, jamais 500 (issue 28 : effacement sur disque plein)."""
    try:
        yield
    except ErreurJournal:
        raise
    except OSError as erreur:
        raise ErreurJournal(erreur.errno, f"journal des requêtes non réécrit pendant {action} "
                                          f"({erreur.strerror})") from erreur
    except sqlite3.Error as erreur:
        raise ErreurJournal(errno.EIO, f"index des segments du journal inutilisable pendant {action} "
                                       f"({type(erreur).__name__} : {erreur})") from erreur


TETE_PREFIXE = 512
"""Octets du début du journal actif dont l'empreinte identifie le fichier avec son inode (``PrefixeActif``)."""


@dataclass(frozen=True)
class PrefixeActif:
    """Le début du journal actif dont chaque ligne est en base (réconcilié) : ``octets`` (une fin de ligne) du
    fichier d'inode ``inode`` dont les ``longueur_tete`` premiers octets ont l'empreinte ``tete`` (sha256 ; un
    autre fichier sous un inode réutilisé, ou le même vidé et réécrit, ne l'a pas). Le journal actif ne fait
    que grandir entre deux scellements : ce début ne change pas ; un démarrage le saute."""

    inode: int
    octets: int
    longueur_tete: int
    tete: str

    @classmethod
    def de(cls, descripteur: int, octets: int) -> PrefixeActif:
        longueur = min(TETE_PREFIXE, octets)
        return cls(os.fstat(descripteur).st_ino, octets, longueur,
                   hashlib.sha256(os.pread(descripteur, longueur, 0)).hexdigest())

    @property
    def signature(self) -> int:
        """Les 64 premiers bits de ``tete`` : ce que la page d'état du suiveur publie avec sa position."""
        return int(self.tete[:16], 16)

    def debut_dans(self, descripteur: int) -> int:
        """Où commencer la lecture de ce fichier : après ce début s'il est bien le sien, sinon 0."""
        etat = os.fstat(descripteur)
        if etat.st_ino != self.inode or etat.st_size < self.octets:
            return 0
        if hashlib.sha256(os.pread(descripteur, self.longueur_tete, 0)).hexdigest() != self.tete:
            return 0
        return self.octets


def ligne_json(enregistrement: dict) -> bytes:
    return en_octets(enregistrement) + b"\n"


def _horodater(enregistrements: list[dict], instant: str) -> None:
    for enregistrement in enregistrements:
        enregistrement["horodatage"] = instant


def _motif_horodatage(instant: str) -> bytes:
    """L'horodatage tel qu'une ligne du journal le porte (``ligne_json``) : la clé entre guillemets n'apparaît
    qu'une fois par ligne (dans une chaîne, un guillemet est échappé ; ``entrees`` n'a pas cette clé)."""
    return CLE_HORODATAGE + instant.encode("ascii") + b'"'


PROVISOIRE = "0000-01-01T00:00:00.000000+00:00"
"""L'horodatage des lignes écrites en JSON avant le verrou, remplacé sous le verrou par l'instant final : jamais écrit."""
_MOTIF_PROVISOIRE = _motif_horodatage(PROVISOIRE)


def _non_inscriptible(erreur: OSError) -> ErreurJournal:
    return ErreurJournal(erreur.errno, f"journal des requêtes non inscriptible ({erreur.strerror})")


class JournalRequetes:
    def __init__(self, chemin: str | Path, mode: str = "fichier", chemin_verrou: str | Path | None = None,
                 periode_fsync: float | None = PERIODE_FSYNC_DEFAUT, segment_octets: int = SEGMENT_OCTETS_DEFAUT,
                 borne_octets: int = 0):
        self.chemin = Path(chemin)
        self.mode = mode
        self.periode_fsync = periode_fsync
        """0 : fsync à chaque écriture, avant la réponse ; None : jamais ; sinon au plus cette période (s)."""
        self._a_synchroniser = False
        self._dernier_fsync = time.monotonic()
        # Le verrou (et les segments) à côté du journal, sauf si un autre dossier est donné : un journal
        # monté seul (-v fichier:/app/…/requetes_enrg.jsonl) garde son verrou et ses segments ailleurs.
        self.chemin_verrou = Path(chemin_verrou) if chemin_verrou else self.chemin.with_name(self.chemin.name + ".lock")
        self.segments = DossierSegments(self.chemin_verrou.with_name(self.chemin.name + ".segments"))
        self.segment_octets = segment_octets
        self.borne_octets = borne_octets
        """0 : pas de borne (les segments restent) ; sinon les segments confirmés en base sont retirés et
        le journal refuse d'écrire au-delà (Cloud Run : le disque y est de la mémoire)."""
        self._taille_scellee = 0
        self._inode_actif = -1
        self._prochain_controle = 0.0
        self._ecrivain = EcrivainJournal(self.chemin, self.chemin_verrou)

    @classmethod
    def depuis_configuration(cls, config) -> JournalRequetes:
        """Le journal que décrit la configuration (``app.config.Configuration``) : service, serveur gRPC,
        sauvegarde et restauration ouvrent le même, avec les mêmes réglages."""
        return cls(config.chemin_journal, config.mode_journal, config.chemin_verrou_journal, config.periode_fsync,
                   segment_octets=config.segment_journal, borne_octets=config.borne_journal)

    @property
    def vers_fichier(self) -> bool:
        return self.mode in ("fichier", "les_deux")

    @property
    def vers_stdout(self) -> bool:
        return self.mode in ("stdout", "les_deux")

    @contextlib.contextmanager
    def verrou(self) -> Iterator[None]:
        """Verrou exclusif des écrivains du journal actif (sans effet si le journal ne va pas dans un fichier).

        Réentrant dans un même fil : la conservation (``app.stockage.conservation``) peut le prendre
        autour de toute l'écriture (horodatage compris), puis ``ecrire`` le reprendre sans se
        bloquer elle-même. Descripteur gardé ouvert par processus (``app.stockage.ecrivain``).
        """
        if not self.vers_fichier:  # journal hors fichier (stdout, aucun) : rien à exclure
            yield
            return
        self._prendre()
        try:
            yield
        finally:
            self._ecrivain.rendre()

    def _prendre(self) -> None:
        """Le verrou des écrivains ; ``ErreurJournal`` si son fichier ne peut être créé (disque plein, en lecture
        seule)."""
        try:
            self._ecrivain.prendre()
        except OSError as erreur:
            raise ErreurJournal(erreur.errno, f"verrou du journal impossible à créer ({erreur.strerror})") from erreur

    # --- écriture -----------------------------------------------------------------------------------

    def ecrire(self, enregistrements: list[dict], horodater: bool = False) -> None:
        """Ajoute les lignes en une écriture ; lève ``ErreurJournal`` si c'est impossible. ``horodater`` : leur
        ``horodatage`` est l'instant pris sous le verrou des écrivains, donc après tout effacement déjà écrit au
        journal (``Conservation.effacer`` prend le sien sous ce verrou) ; un seul passage par le verrou. Les lignes
        sont écrites en JSON avant, avec un instant provisoire que l'instant final remplace sous le verrou : le JSON
        d'un lot de 1 000 élèves (1,5 ms, ``make banc``) n'est plus fait pendant que les autres écrivains attendent."""
        if not enregistrements:
            return
        if not self.vers_fichier:
            if horodater:
                _horodater(enregistrements, horodatage_utc())
            if self.vers_stdout:
                self._vers_stdout(b"".join(ligne_json(e) for e in enregistrements))
            return
        octets = None
        if horodater:
            _horodater(enregistrements, PROVISOIRE)
            octets = b"".join(ligne_json(e) for e in enregistrements)
            if octets.count(_MOTIF_PROVISOIRE) != len(enregistrements):
                octets = None  # une valeur contient l'instant provisoire (jamais une entrée validée) : lignes
                # écrites sous le verrou, comme avant
        self._prendre()
        try:
            if horodater:
                instant = horodatage_utc()
                _horodater(enregistrements, instant)
            if octets is None:
                octets = b"".join(ligne_json(e) for e in enregistrements)
            else:
                octets = octets.replace(_MOTIF_PROVISOIRE, _motif_horodatage(instant))
            scelle = self._ajouter(octets)
        except ErreurJournal:
            raise
        except OSError as erreur:
            raise _non_inscriptible(erreur) from erreur
        finally:
            self._ecrivain.rendre()
        try:
            self._rendre_durable(scelle)
        except OSError as erreur:
            raise _non_inscriptible(erreur) from erreur
        if self.vers_stdout:
            self._vers_stdout(octets)

    @staticmethod
    def _vers_stdout(octets: bytes) -> None:
        sys.stdout.flush()
        os.write(sys.stdout.fileno(), octets)

    def _ajouter(self, octets: bytes) -> Path | None:
        """Sous le verrou des écrivains : une écriture sur le descripteur gardé ouvert (``app.stockage.ecrivain``) ;
        renvoie le segment scellé si le journal actif a atteint sa taille. Une erreur ferme le descripteur."""
        ecrivain = self._ecrivain
        try:
            descripteur = ecrivain.actif()
            fin, a_relire = ecrivain.avant_ecriture()
            if a_relire or self.borne_octets:
                etat = os.fstat(descripteur)
                fin = etat.st_size
                if self.borne_octets:
                    self._controler_borne(etat, len(octets))
                if fin and os.pread(descripteur, 1, fin - 1) != b"\n":
                    # Un écrivain tué (kill -9) pendant son écriture peut laisser un début de ligne sans fin (le
                    # noyau arrête une écriture à une frontière de page) : sans ce saut de ligne, la ligne
                    # suivante, servie en 200, y serait collée et illisible.
                    octets = b"\n" + octets
            ecrits = ecrire(descripteur, octets)  # sans rendre le GIL (app.stockage.ecrivain)
            if ecrits != len(octets):
                # Écriture partielle (disque plein) : on retire le morceau écrit.
                os.ftruncate(descripteur, os.fstat(descripteur).st_size - ecrits)
                raise OSError(errno.ENOSPC, "écriture partielle du journal")
            fin += ecrits
            ecrivain.apres_ecriture(fin)
            if self.periode_fsync == FSYNC_TOUJOURS:
                os.fsync(descripteur)
            else:
                self._a_synchroniser = self.periode_fsync is not FSYNC_JAMAIS
        except OSError:
            with contextlib.suppress(OSError, ValueError, TypeError):
                ecrivain.apres_ecriture(-1)
            ecrivain.fermer()
            raise
        return self._sceller() if fin >= self.segment_octets else None

    def _sceller(self) -> Path | None:
        """Sous le verrou des écrivains : le journal actif devient un segment scellé (un renommage)."""
        cible = self.segments.nouveau()
        scelle = sceller(self.chemin, cible)
        self._ecrivain.nouveau_fichier()  # les écrivains des autres processus rouvriront le journal actif
        return cible if scelle else None

    def _rendre_durable(self, scelle: Path | None) -> None:
        """Après ``_sceller``, hors du verrou des écrivains : fsync du segment (sauf ``jamais``) et des dossiers."""
        if scelle is not None:
            rendre_durable(scelle, self.chemin, self.periode_fsync is not FSYNC_JAMAIS)

    def _controler_borne(self, actif: os.stat_result, a_ecrire: int) -> None:
        """Sous le verrou des écrivains : le journal actif est mesuré exactement ; la taille des segments
        scellés est relue quand le journal actif a changé (un scellement, par n'importe quel worker, en
        crée un nouveau) et au plus tous les 0,25 s (segments retirés une fois confirmés) : la borne est
        exacte pour tous les workers de l'instance, sans relire le dossier à chaque écriture."""
        maintenant = time.monotonic()
        if maintenant >= self._prochain_controle or actif.st_ino != self._inode_actif:
            self._prochain_controle = maintenant + PERIODE_CONTROLE_BORNE_S
            self._inode_actif = actif.st_ino
            self._taille_scellee = self.segments.taille()
        if actif.st_size + self._taille_scellee + a_ecrire > self.borne_octets:
            raise ErreurJournal(errno.ENOSPC, f"journal de l'instance plein (borne JOURNAL_BORNE de "
                                f"{self.borne_octets / MIO:g} Mio atteinte : la base des résultats n'a pas "
                                "confirmé les segments précédents)")

    def taille(self) -> int:
        """Octets du journal de l'instance : fichier actif et segments scellés."""
        try:
            actif = os.stat(self.chemin).st_size
        except FileNotFoundError:
            actif = 0
        return actif + self.segments.taille()

    def synchroniser(self, force: bool = False) -> bool:
        """Politique « période » : fsync du journal si des lignes attendent depuis au moins la période
        (ou ``force``) ; appelé par le fil d'alimentation de chaque processus. Renvoie vrai s'il a eu lieu."""
        if not self._a_synchroniser or not self.vers_fichier:
            return False
        if not force and time.monotonic() - self._dernier_fsync < (self.periode_fsync or 0):
            return False
        self._a_synchroniser = False
        self._dernier_fsync = time.monotonic()
        if not fsync(self.chemin):
            self._a_synchroniser = True
            return False
        return True

    # --- lecture ------------------------------------------------------------------------------------

    def fichiers(self) -> list[Path]:
        """Les fichiers du journal, du plus ancien au plus récent : segments scellés puis journal actif."""
        return [*self.segments.lister(), self.chemin]

    def parcourir(self, bloc: int = BLOC_PARCOURS, exclure: set[str] = frozenset(), actif: bool = True,
                  lus: list[Path] | None = None, actif_depuis: PrefixeActif | None = None,
                  actif_lu: list[PrefixeActif] | None = None) -> Iterator[tuple[Path | None, bytes]]:
        """Le journal par blocs de lignes entières (~``bloc`` octets, chacune finie par ``\\n``), avec le
        segment scellé d'où ils viennent (None : le journal actif) ; ``exclure`` : noms de segments à sauter ;
        ``actif`` : le journal actif aussi ; ``lus`` reçoit chaque segment lu en entier. La dernière ligne du
        journal actif, en cours d'écriture (sans fin de ligne), est laissée. Des blocs plutôt que des lignes :
        l'appelant y cherche les request_id en C (``segments.REQUEST_ID``), sans un objet Python par ligne.
        Sans verrou : le journal actif est ouvert avant la liste des segments (un scellement pendant la
        lecture ne le fait pas perdre, et il n'est pas relu en double). ``actif_depuis`` : le début du journal
        actif déjà en base, sauté s'il est bien celui de ce fichier ; ``actif_lu`` reçoit, le journal actif lu
        jusqu'au bout, le ``PrefixeActif`` de ce qui a été lu."""
        if not self.vers_fichier:
            return
        try:
            source_active = open(self.chemin, "rb") if actif else None
        except FileNotFoundError:
            source_active = None
        except OSError as erreur:
            raise ErreurJournal(erreur.errno, f"journal des requêtes illisible ({erreur.strerror})") from erreur
        with source_active or contextlib.nullcontext():
            inode = os.fstat(source_active.fileno()).st_ino if source_active else None
            for chemin in self.segments.lister():
                if chemin.name in exclure:
                    continue
                try:
                    with open(chemin, "rb") as source:
                        if os.fstat(source.fileno()).st_ino == inode:
                            continue  # le journal actif, scellé depuis son ouverture : lu plus bas
                        for morceau in _blocs(source, bloc):
                            yield chemin, morceau
                except FileNotFoundError:
                    continue  # retiré (effacement vidant, borne) depuis la liste
                if lus is not None:
                    lus.append(chemin)
            if source_active is not None:
                fin = actif_depuis.debut_dans(source_active.fileno()) if actif_depuis else 0
                source_active.seek(fin)
                for morceau in _blocs(source_active, bloc):
                    fin += len(morceau)
                    yield None, morceau
                if actif_lu is not None and fin:
                    actif_lu.append(PrefixeActif.de(source_active.fileno(), fin))

    def recents(self, motif: bytes, octets: int = 2 << 20) -> list[tuple[str, bytes]]:
        """(request_id, ligne) des lignes des ``octets`` derniers octets du journal (actif, puis le segment
        scellé précédent s'il le faut) qui contiennent ``motif``, sans décoder le JSON : ce que les autres
        workers ont pu servir et pas encore mis en base."""
        if not self.vers_fichier:
            return []
        bloc = b"".join(reversed(list(self._fins(octets))))
        ids = []
        position = bloc.find(motif)
        while position >= 0:
            debut_ligne = bloc.rfind(b"\n", 0, position) + 1
            fin_ligne = bloc.find(b"\n", position)
            if fin_ligne < 0:
                break  # dernière ligne, en cours d'écriture
            ligne = bloc[debut_ligne:fin_ligne]
            request_id = valeur(ligne, CLE_REQUEST_ID)
            if request_id:
                ids.append((request_id, ligne))
            position = bloc.find(motif, fin_ligne)
        return ids

    def _fins(self, octets: int) -> Iterator[bytes]:
        """Les ``octets`` derniers octets du journal, par fichier, du plus récent au plus ancien (chaque
        morceau commence à une ligne entière, sauf le tout premier lu s'il est coupé)."""
        for chemin in reversed(self.fichiers()):
            if octets <= 0:
                return
            try:
                with open(chemin, "rb") as fichier:
                    fin = fichier.seek(0, os.SEEK_END)
                    debut = max(0, fin - octets)
                    fichier.seek(debut)
                    morceau = fichier.read(fin - debut)
            except FileNotFoundError:
                continue
            except OSError as erreur:
                raise ErreurJournal(erreur.errno, f"journal des requêtes illisible ({erreur.strerror})") from erreur
            if debut > 0:
                morceau = morceau[morceau.find(b"\n") + 1:]  # début de ligne coupé
            octets -= len(morceau) or 1
            yield morceau

    def dernieres(self, nombre: int) -> tuple[list[dict], int]:
        """Les ``nombre`` dernières lignes du journal (les plus anciennes d'abord), décodées, et le nombre
        de lignes ignorées parmi elles (pas un objet JSON avec ``entrees``). Lit les fichiers à rebours
        par blocs, sans verrou (chaque ligne est écrite d'un seul ``write``) : la mémoire et le temps
        ne dépendent que de ``nombre``, jamais de la taille du journal. Rien n'est journalisé."""
        if not self.vers_fichier or nombre <= 0:
            return [], 0
        lues: list[bytes] = []
        try:
            for chemin in reversed(self.fichiers()):
                if len(lues) >= nombre:
                    break
                lues[:0] = _dernieres_lignes(chemin, nombre - len(lues))
        except OSError as erreur:
            raise ErreurJournal(erreur.errno, f"journal des requêtes illisible ({erreur.strerror})") from erreur
        enregistrements = []
        for ligne in lues:
            try:
                enregistrement = json.loads(ligne)
            except ValueError:
                continue
            if isinstance(enregistrement, dict) and isinstance(enregistrement.get("entrees"), dict):
                enregistrements.append(enregistrement)
        return enregistrements, len(lues) - len(enregistrements)

    # --- effacement, rétention, confirmation (segments) ------------------------------------------------

    def effacer(self, empreintes: dict[str, str | None], motif: bytes = b"", verrou_pris: bool = False) -> list[str]:
        """Retire du journal les lignes des utilisateurs dont l'empreinte est donnée, antérieures ou égales à
        l'instant associé (``None`` : toutes) ; renvoie leurs request_id. ``motif`` : extrait que contient
        toute ligne visée (tri rapide, sans décoder).

        Le journal actif n'est lu que s'il peut contenir ces lignes, et sans verrou pour l'essentiel ; s'il
        en contient, il est scellé (un renommage sous le verrou des écrivains : ce qu'ils attendent). Les
        segments que l'index désigne sont ensuite réécrits sous le verrou des segments, sans retenir les
        écrivains. Coût : le journal actif, les segments de ces utilisateurs, et l'index des nouveaux.
        ``verrou_pris`` : l'appelant tient déjà le verrou des segments (``Conservation.effacer``)."""
        if not self.vers_fichier or not empreintes:
            return []
        cible = Cible(empreintes, motif)
        with _disque("un effacement"), (contextlib.nullcontext() if verrou_pris else self.segments.verrou()):
            self._sceller_si(cible)
            retirees: list[bytes] = []
            with self.segments.index() as index:
                self.segments.noter_effacements(index, empreintes)
                self.segments.indexer(index, cible)
                for chemin in self.segments.contenant(index, list(empreintes)):
                    retirees += self.segments.reecrire(chemin, cible.etendues, index, cible)
        return [valeur(ligne, CLE_REQUEST_ID) for ligne in retirees]

    def _sceller_si(self, cible: Cible) -> None:
        """Scelle le journal actif s'il contient une ligne visée. Il est lu sans verrou jusqu'à sa taille du
        moment, puis, sous le verrou des écrivains, de là jusqu'à sa fin (s'il n'a pas été scellé entre-temps
        par un écrivain, auquel cas l'index le lira)."""
        try:
            with open(self.chemin, "rb") as actif:
                inode = os.fstat(actif.fileno()).st_ino
                debut = actif.read()
        except FileNotFoundError:
            inode, debut = None, b""
        vise = cible.dans(debut)
        scelle = None
        with self.verrou():
            try:
                with open(self.chemin, "rb") as actif:
                    if os.fstat(actif.fileno()).st_ino == inode:
                        actif.seek(debut.rfind(b"\n") + 1)  # la dernière ligne lue pouvait être en cours d'écriture
                        vise = vise or cible.dans(actif.read())
                    else:  # scellé (et peut-être remplacé) depuis : ce qui est là est neuf, lu en entier
                        vise = cible.dans(actif.read())
            except FileNotFoundError:
                return
            if vise:
                scelle = self._sceller()
        self._rendre_durable(scelle)

    def retirer_avant(self, limite: str) -> int:
        """Rétention : retire du journal les lignes dont l'horodatage (ISO UTC) précède ``limite``. Les lignes
        s'ajoutent dans l'ordre du temps (horodatage posé sous le verrou, à l'écriture) : les segments
        entièrement plus vieux sont supprimés (l'index donne leur dernier horodatage), celui qui chevauche la
        limite est réécrit ; le journal actif n'est scellé que si sa première ligne précède la limite."""
        if not self.vers_fichier:
            return 0
        cible = Cible({})
        with _disque("la rétention"), self.segments.verrou():
            with self.verrou():
                try:
                    with open(self.chemin, "rb") as actif:
                        premiere = actif.readline()
                except FileNotFoundError:
                    premiere = b""
                scelle = self._sceller() if premiere and valeur(premiere, CLE_HORODATAGE) < limite else None
            self._rendre_durable(scelle)
            retirees = 0
            with self.segments.index() as index:
                # Un effacement plus ancien que la rétention ne protège plus rien : ses lignes sont parties.
                index.execute("DELETE FROM effacements WHERE instant < ?", (limite,))
                self.segments.indexer(index, cible)
                for nom, lignes_segment, premier, dernier in index.execute(
                        "SELECT nom, lignes, premier, dernier FROM segments WHERE premier < ? ORDER BY nom",
                        (limite,)).fetchall():
                    chemin = self.segments.dossier / nom
                    if dernier < limite:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(chemin)
                        self.segments.oublier(index, nom)
                        retirees += lignes_segment
                    else:
                        retirees += len(self.segments.reecrire(
                            chemin, lambda donnees: _prefixe_avant(donnees, limite), index, cible))
            synchroniser_dossier(self.segments.dossier)
            return retirees

    def segments_confirmes(self, jeunes_depuis: str = "", identite: str | None = None) -> set[str]:
        """Les noms des segments scellés dont chaque ligne est en base (index mis à jour d'abord) ; avec
        ``jeunes_depuis`` (ISO UTC), aussi ceux dont la dernière ligne est plus récente : le fil
        d'alimentation de leur worker les insère encore, les confirmer maintenant referait son travail.
        ``identite`` (``MagasinResultats.identite``) : la base où « en base » doit valoir ; des confirmations
        notées pour une autre sont annulées d'abord. Un segment inconnu de l'index, ou dont la taille a
        changé, n'est pas confirmé."""
        if not self.vers_fichier or not self.segments.dossier.exists():
            return set()
        with _disque("la confirmation des segments"), self.segments.verrou(), self.segments.index() as index:
            if identite is not None:
                annulees = self.segments.accorder_a_la_base(index, identite)
                if annulees:
                    journal.warning("index des segments : %d segment(s) confirmé(s) pour une autre base (DATABASE_URL "
                                    "changée, base restaurée ou remplacée) ; confirmations annulées, tout le journal "
                                    "est réconcilié avec cette base", annulees)
            modifies = self.segments.oublier_les_modifies(index)
            if modifies:
                journal.warning("index des segments : %d segment(s) confirmé(s) modifié(s) depuis (taille) : "
                                "réconciliés de nouveau", modifies)
            self.segments.indexer(index, Cible({}))
            return {nom for (nom,) in index.execute(
                "SELECT nom FROM segments WHERE en_base = 1 OR (? != '' AND dernier > ?)", (jeunes_depuis, jeunes_depuis))}

    def prefixe_confirme(self, identite: str) -> PrefixeActif | None:
        """Le début du journal actif noté en base d'identité ``identite`` (``confirmer``), s'il y en a un."""
        if not self.vers_fichier or not self.segments.chemin_index.exists():
            return None
        with _disque("la confirmation des segments"), self.segments.verrou(), self.segments.index() as index:
            if not self.segments.confirmations_pour(index, identite):
                return None
            ligne = index.execute("SELECT inode, octets, longueur_tete, tete FROM actif").fetchone()
        return PrefixeActif(*ligne) if ligne else None

    def confirmer(self, segments: list[Path], identite: str | None = None, actif: PrefixeActif | None = None) -> int:
        """Ces segments sont entièrement en base (réconciliés) : notés comme tels, ou retirés du disque avec
        une borne ; renvoie le nombre de segments retirés. Un segment réécrit entre-temps par un effacement
        n'a pu que perdre des lignes : il reste confirmé. ``identite`` : la base où ils ont été réconciliés ;
        si l'index est accordé à une autre depuis (``segments_confirmes``), rien n'est confirmé. ``actif`` : le
        début du journal actif réconcilié, noté aussi (``prefixe_confirme``)."""
        if not segments and (actif is None or not self.segments.dossier.exists()):
            return 0  # un journal jamais scellé (moins d'un segment, vite relu) : pas de dossier créé pour lui
        retires = 0
        with _disque("la confirmation des segments"), self.segments.verrou(), self.segments.index() as index:
            if identite is not None and not self.segments.confirmations_pour(index, identite):
                return 0
            if actif is not None:
                index.execute("DELETE FROM actif")
                index.execute("INSERT INTO actif VALUES (?, ?, ?, ?)",
                              (actif.inode, actif.octets, actif.longueur_tete, actif.tete))
            for chemin in segments:
                if self.borne_octets:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(chemin)
                        retires += 1
                    self.segments.oublier(index, chemin.name)
                else:
                    index.execute("UPDATE segments SET en_base = 1 WHERE nom = ?", (chemin.name,))
        if retires:
            synchroniser_dossier(self.segments.dossier)
            self._prochain_controle = 0.0  # la place libérée compte dès la prochaine écriture
        return retires

    # --- sauvegarde et restauration ----------------------------------------------------------------

    def copier_vers(self, dossier: Path) -> int:
        """Copie cohérente du journal actif et de ses segments (index compris) dans ``dossier`` : sous le
        verrou des segments puis celui des écrivains, le temps de la copie ; renvoie le nombre de lignes."""
        if not self.vers_fichier:
            return 0
        dossier_segments = dossier / self.segments.dossier.name
        dossier_segments.mkdir(parents=True, mode=0o700)
        lignes = 0
        copies: set[str] = set()
        with self.segments.verrou():  # les segments scellés ne changent que sous ce verrou
            for chemin in self.segments.lister():
                lignes += _copier(chemin, dossier_segments / chemin.name)
                copies.add(chemin.name)
            if self.segments.chemin_index.exists():
                with contextlib.closing(sqlite3.connect(self.segments.chemin_index)) as source, \
                        contextlib.closing(sqlite3.connect(dossier_segments / self.segments.chemin_index.name)) as copie:
                    source.backup(copie)
            with self.verrou():  # les écrivains n'attendent que la copie du journal actif
                for chemin in self.segments.lister():  # scellés pendant la copie des autres
                    if chemin.name not in copies:
                        lignes += _copier(chemin, dossier_segments / chemin.name)
                if self.chemin.exists():
                    lignes += _copier(self.chemin, dossier / self.chemin.name)
        return lignes

    def reprendre_de(self, dossier: Path, nom_actif: str) -> None:
        """L'inverse de ``copier_vers`` : le journal actif (``nom_actif``) et les segments copiés dans
        ``dossier`` remis à leur place (droits 0600, fsync), quand le journal d'ici a disparu."""
        self.chemin.parent.mkdir(parents=True, exist_ok=True)
        if (dossier / nom_actif).exists():
            _copier(dossier / nom_actif, self.chemin)
            with self.verrou():
                self._ecrivain.nouveau_fichier(fin=-1)
        segments = dossier / self.segments.dossier.name
        if segments.exists():
            self.segments.creer()
            for fichier in segments.iterdir():
                _copier(fichier, self.segments.dossier / fichier.name)
            synchroniser_dossier(self.segments.dossier)

    def existe(self) -> bool:
        """Un journal est-il là (actif ou segments) ? Sinon, une restauration le reprend de la sauvegarde."""
        return self.vers_fichier and (self.chemin.exists() or bool(self.segments.lister()))

    def effacements_notes(self) -> dict[str, str]:
        """Le registre des effacements côté journal (empreinte → instant ISO UTC)."""
        if not self.vers_fichier or not self.segments.chemin_index.exists():
            return {}
        with self.segments.verrou(), self.segments.index() as index:
            return dict(index.execute("SELECT empreinte, instant FROM effacements"))

    def oublier_les_confirmations(self) -> None:
        """Après la restauration d'une base plus ancienne : aucun segment n'est plus sûr d'y être."""
        if self.vers_fichier and self.segments.chemin_index.exists():
            with self.segments.verrou(), self.segments.index() as index:
                index.execute("UPDATE segments SET en_base = 0")
                index.execute("DELETE FROM actif")

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
        if self.borne_octets:
            taille = self.taille()
            if taille + MARGE_BORNE > self.borne_octets:
                return False, f"journal de l'instance plein ({taille / MIO:.1f} Mio, borne {self.borne_octets / MIO:g} Mio)"
            return True, f"journal inscriptible ({taille / MIO:.1f} Mio sur {self.borne_octets / MIO:g} Mio)"
        return True, "journal inscriptible"


def _copier(source: Path, cible: Path) -> int:
    """Copie un fichier du journal (droits 0600) ; renvoie son nombre de lignes."""
    donnees = source.read_bytes()
    descripteur = os.open(cible, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DROITS)
    with os.fdopen(descripteur, "wb") as fichier:
        fichier.write(donnees)
        fichier.flush()
        os.fsync(fichier.fileno())
    return donnees.count(b"\n")


def _prefixe_avant(donnees: bytes, limite: str) -> list[tuple[int, int]]:
    """Les étendues des premières lignes d'horodatage antérieur à ``limite`` (les lignes sont dans l'ordre du
    temps : la première qui ne l'est pas arrête la lecture)."""
    etendues: list[tuple[int, int]] = []
    debut = 0
    while debut < len(donnees):
        fin = donnees.find(b"\n", debut)
        fin = len(donnees) if fin < 0 else fin + 1
        if valeur(donnees[debut:fin], CLE_HORODATAGE) >= limite:
            break
        etendues.append((debut, fin))
        debut = fin
    return etendues


def _blocs(source, taille: int) -> Iterator[bytes]:
    """Des blocs de lignes entières ; le reste sans fin de ligne (ligne en cours d'écriture) est laissé."""
    reste = b""
    while morceau := source.read(taille):
        morceau = reste + morceau if reste else morceau
        fin = morceau.rfind(b"\n") + 1
        reste = morceau[fin:]
        if fin:
            yield morceau[:fin]


def _dernieres_lignes(chemin: Path, nombre: int) -> list[bytes]:
    """Les ``nombre`` dernières lignes non vides d'un fichier, lues à rebours par blocs."""
    try:
        with open(chemin, "rb") as fichier:
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
        return []
    decoupees = b"".join(reversed(morceaux)).split(b"\n")
    if position > 0:
        decoupees = decoupees[1:]  # début de ligne coupé par le bloc
    return [ligne for ligne in decoupees if ligne.strip()][-nombre:]

"""Les segments scellés du journal des requêtes et leur index : un effacement ne réécrit que les
segments qui contiennent l'utilisateur, jamais le journal entier, et n'arrête pas les écrivains.

Le journal actif reste ``requetes_enrg.jsonl`` ; passé ``JOURNAL_SEGMENT``, il est scellé :
renommé, sous le verrou des écrivains (une opération de métadonnées), dans le dossier
``<journal>.segments/`` sous un nom qui croît avec le temps. Un segment scellé ne reçoit plus
aucune ligne : seuls un effacement, la rétention ou sa confirmation en base le réécrivent ou le
retirent, sous le verrou des segments (``.verrou`` du dossier), que les écrivains ne prennent jamais.

L'index (``index.sqlite3`` du dossier, 0600, lu et écrit sous ce verrou seulement) dit quels
segments contiennent quelle empreinte d'utilisateur (HMAC par EFFACEMENT_SEL, jamais le user_id), leurs
nombres de lignes, premier et dernier horodatages, et si chacune de leurs lignes est en base : en base
*de l'identité notée* (table ``confirmations``, ``MagasinResultats.identite``). Une autre base (``DATABASE_URL``
changée, base restaurée) rend ces confirmations caduques ; un index perdu ou illisible est mis de côté et
refait, sans rien de confirmé : le démarrage suivant réconcilie alors tout le journal (issue 26).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.stockage.enregistrement import avec_cle, controle_sel, empreinte_utilisateur

journal = logging.getLogger("prediction_etudiante")

DROITS = 0o600
SUFFIXE = ".jsonl"
USER_ID = re.compile(rb'"user_id":"([A-Za-z0-9][A-Za-z0-9._:-]{0,127})"')
"""Le user_id d'une ligne (``app.modele.identifiants`` : rien à échapper en JSON), sans décoder la ligne ;
sa première occurrence est la clé de l'enregistrement (horodatage et request_id la précèdent)."""
CLE_HORODATAGE = b'"horodatage":"'
REQUEST_ID = re.compile(rb'"request_id":"([^"\\\n]{1,256})"')
"""Le request_id de chaque ligne d'un bloc du journal, cherché en C (réconciliation)."""
CLE_REQUEST_ID = b'"request_id":"'


def valeur(ligne: bytes, cle: bytes) -> str:
    """La valeur texte de ``cle`` dans une ligne du journal (sans la décoder), ou "" si elle manque."""
    debut = ligne.find(cle)
    if debut < 0:
        return ""
    debut += len(cle)
    fin = ligne.find(b'"', debut)
    return ligne[debut:fin].decode("utf-8", "replace") if fin >= 0 else ""


class Cible:
    """Les lignes à effacer : celles des empreintes données, d'horodatage antérieur ou égal à l'instant
    associé (``None`` : toutes). Une prédiction servie après l'effacement de son utilisateur est gardée."""

    def __init__(self, empreintes: dict[str, str | None], motif: bytes = b""):
        self.empreintes = empreintes
        self.motif = motif
        """Extrait que contient toute ligne visée (``"user_id":"…"`` d'un effacement local) : tri rapide."""
        self._empreintes_vues: dict[bytes, str] = {}

    def empreinte(self, user_id: bytes) -> str:
        empreinte = self._empreintes_vues.get(user_id)
        if empreinte is None:
            empreinte = self._empreintes_vues[user_id] = empreinte_utilisateur(user_id.decode("ascii"))
        return empreinte

    def vise(self, ligne: bytes) -> bool:
        if self.motif and self.motif not in ligne:
            return False
        trouve = USER_ID.search(ligne)
        if trouve is None:
            return False
        empreinte = self.empreinte(trouve.group(1))
        if empreinte not in self.empreintes:
            return False
        instant = self.empreintes[empreinte]
        return instant is None or valeur(ligne, CLE_HORODATAGE) <= instant

    def etendues(self, donnees: bytes) -> list[tuple[int, int]]:
        """Les (début, fin) des lignes visées de ``donnees``, dans l'ordre : recherche en C du motif (ou du
        user_id), puis décision pour les seules lignes trouvées."""
        return list(self._visees(donnees))

    def dans(self, bloc: bytes) -> bool:
        """Une ligne de ``bloc`` est-elle visée ? (arrêt à la première)"""
        return next(self._visees(bloc), None) is not None

    def _visees(self, donnees: bytes) -> Iterator[tuple[int, int]]:
        fin_precedente = 0
        for position in self._candidates(donnees):
            debut, fin = etendue_de_ligne(donnees, position)
            if debut < fin_precedente:
                continue  # même ligne
            if self.vise(donnees[debut:fin]):
                fin_precedente = fin
                yield debut, fin

    def _candidates(self, donnees: bytes) -> Iterator[int]:
        if not self.motif:
            yield from (t.start() for t in USER_ID.finditer(donnees) if self.empreinte(t.group(1)) in self.empreintes)
            return
        position = donnees.find(self.motif)
        while position >= 0:
            yield position
            position = donnees.find(self.motif, position + 1)


@dataclass(frozen=True)
class Contenu:
    """Ce que l'index sait d'un segment."""

    lignes: int
    octets: int
    premier: str
    dernier: str
    utilisateurs: Counter


def decrire(donnees: bytes, cible: Cible) -> Contenu:
    """Lignes, taille, premier et dernier horodatages et empreintes d'utilisateurs d'un segment. Sans
    découper le segment en lignes : une recherche en C par user_id (les fils de la requête qui indexe
    n'attendent jamais le découpage de 16 Mio d'un coup)."""
    ids = Counter(trouve.group(1) for trouve in USER_ID.finditer(donnees))
    utilisateurs: Counter = Counter()
    for user_id, nombre in ids.items():
        utilisateurs[cible.empreinte(user_id)] += nombre
    corps = donnees.strip(b"\n")
    fin_premiere = corps.find(b"\n")
    return Contenu(lignes=corps.count(b"\n") + 1 if corps else 0, octets=len(donnees),
                   premier=valeur(corps if fin_premiere < 0 else corps[:fin_premiere], CLE_HORODATAGE),
                   dernier=valeur(corps[corps.rfind(b"\n") + 1:], CLE_HORODATAGE),
                   utilisateurs=utilisateurs)


INSTANT_TOUT = "9999-12-31T23:59:59.999999+00:00"
"""Instant d'un effacement de toutes les lignes d'un utilisateur, quelle que soit leur date."""


class DossierSegments:
    """Le dossier des segments scellés, leur verrou et leur index."""

    def __init__(self, dossier: Path):
        self.dossier = dossier
        self.chemin_index = dossier / "index.sqlite3"

    def lister(self) -> list[Path]:
        """Les segments scellés, du plus ancien au plus récent (leur nom croît avec le temps)."""
        try:
            noms = sorted(n for n in os.listdir(self.dossier) if n.endswith(SUFFIXE) and n[:-len(SUFFIXE)].isdigit())
        except FileNotFoundError:
            return []
        return [self.dossier / n for n in noms]

    def creer(self) -> None:
        os.makedirs(self.dossier, mode=0o700, exist_ok=True)

    def nouveau(self) -> Path:
        """Le nom du prochain segment (sous le verrou des écrivains) : après tous ceux du dossier."""
        self.creer()
        existants = self.lister()
        numero = time.time_ns()
        if existants:
            numero = max(numero, int(existants[-1].name[:-len(SUFFIXE)]) + 1)
        return self.dossier / f"{numero:020d}{SUFFIXE}"

    def taille(self) -> int:
        total = 0
        for chemin in self.lister():
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(chemin).st_size
        return total

    @contextlib.contextmanager
    def verrou(self, bloquant: bool = True, nom: str = ".verrou") -> Iterator[bool]:
        """Verrou des segments (réécriture, retrait, index) ; jamais pris par les écrivains du journal.
        Non bloquant : rend faux si un autre le tient (le fil d'alimentation repassera). ``nom`` : un autre
        verrou du dossier (``.confirmation`` : un seul processus confirme les segments à la fois)."""
        self.creer()
        descripteur = os.open(self.dossier / nom, os.O_RDWR | os.O_CREAT, DROITS)
        try:
            try:
                fcntl.flock(descripteur, fcntl.LOCK_EX | (0 if bloquant else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(descripteur)

    @contextlib.contextmanager
    def index(self) -> Iterator[sqlite3.Connection]:
        """L'index, sous le verrou des segments ; une transaction validée à la sortie."""
        try:
            connexion = self._ouvrir_index()
        except sqlite3.DatabaseError as erreur:
            if type(erreur) is not sqlite3.DatabaseError:  # verrou, disque plein… : pas une corruption
                raise
            self._mettre_de_cote_index(erreur)
            connexion = self._ouvrir_index()
        try:
            with connexion:
                _accorder_au_sel(connexion)
                yield connexion
        finally:
            connexion.close()

    def _ouvrir_index(self) -> sqlite3.Connection:
        if not self.chemin_index.exists():
            os.close(os.open(self.chemin_index, os.O_WRONLY | os.O_CREAT, DROITS))
        connexion = sqlite3.connect(self.chemin_index, timeout=30)
        try:
            connexion.execute("PRAGMA secure_delete = ON")  # une empreinte effacée ne reste pas dans le fichier
            connexion.executescript("""
                CREATE TABLE IF NOT EXISTS segments (nom TEXT PRIMARY KEY, lignes INTEGER NOT NULL,
                    octets INTEGER NOT NULL, premier TEXT NOT NULL, dernier TEXT NOT NULL,
                    en_base INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE IF NOT EXISTS utilisateurs (empreinte TEXT NOT NULL, nom TEXT NOT NULL,
                    lignes INTEGER NOT NULL, PRIMARY KEY (empreinte, nom)) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS utilisateurs_par_segment ON utilisateurs (nom);
                CREATE TABLE IF NOT EXISTS effacements (empreinte TEXT PRIMARY KEY, instant TEXT NOT NULL)
                    WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS cle (controle TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS confirmations (identite TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS actif (inode INTEGER NOT NULL, octets INTEGER NOT NULL,
                    longueur_tete INTEGER NOT NULL, tete TEXT NOT NULL);
            """)
        except BaseException:
            connexion.close()
            raise
        return connexion

    def _mettre_de_cote_index(self, erreur: sqlite3.DatabaseError) -> None:
        """Index illisible (« file is not a database », « malformed ») : mis de côté (0600, pour l'exploitant),
        puis refait à partir des segments, aucun confirmé (ce n'est qu'un index ; le registre des effacements
        qu'il gardait est aussi dans la base)."""
        cote = self.chemin_index.with_name(f"{self.chemin_index.name}.illisible-{time.time_ns()}")
        os.replace(self.chemin_index, cote)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{self.chemin_index}-journal")
        journal.warning("index des segments du journal illisible (%s) : mis de côté sous %s et refait ; aucun "
                        "segment n'est plus confirmé, la réconciliation relira tout le journal", erreur, cote.name)

    @staticmethod
    def accorder_a_la_base(index: sqlite3.Connection, identite: str) -> int:
        """Les confirmations valent pour la base d'identité ``identite`` ; notées pour une autre (ou avant
        l'issue 26, sans identité), elles sont annulées. Renvoie le nombre de segments qui ne sont plus
        confirmés."""
        if DossierSegments.confirmations_pour(index, identite):
            return 0
        annulees = index.execute("UPDATE segments SET en_base = 0 WHERE en_base = 1").rowcount
        index.execute("DELETE FROM actif")  # le début du journal actif noté en base (journal.PrefixeActif)
        index.execute("DELETE FROM confirmations")
        index.execute("INSERT INTO confirmations VALUES (?)", (identite,))
        return annulees

    @staticmethod
    def confirmations_pour(index: sqlite3.Connection, identite: str) -> bool:
        """Les confirmations de l'index sont-elles notées pour la base d'identité ``identite`` ?"""
        inscrite = index.execute("SELECT identite FROM confirmations").fetchone()
        return inscrite is not None and inscrite[0] == identite

    def oublier_les_modifies(self, index: sqlite3.Connection) -> int:
        """Un segment confirmé dont la taille n'est plus celle de l'index (remplacé ou recopié à la main) est
        oublié : ``indexer`` le reprend, non confirmé. Un ``stat`` par segment confirmé, sans le lire."""
        oublies = 0
        for nom, octets in index.execute("SELECT nom, octets FROM segments WHERE en_base = 1").fetchall():
            try:
                taille = os.stat(self.dossier / nom).st_size
            except FileNotFoundError:
                continue  # disparu : indexer l'oublie
            if taille != octets:
                self.oublier(index, nom)
                oublies += 1
        return oublies

    def indexer(self, index: sqlite3.Connection, cible: Cible) -> int:
        """Indexe les segments scellés qui ne le sont pas encore, et oublie ceux qui ont disparu ; renvoie
        le nombre de segments indexés. Coût : celui des segments nouveaux seulement."""
        presents = {chemin.name: chemin for chemin in self.lister()}
        connus = {nom for (nom,) in index.execute("SELECT nom FROM segments")}
        for nom in connus - set(presents):
            self.oublier(index, nom)
        nouveaux = [presents[nom] for nom in sorted(set(presents) - connus)]
        for chemin in nouveaux:
            try:
                donnees = chemin.read_bytes()
            except FileNotFoundError:
                continue
            self.inscrire(index, chemin.name, decrire(donnees, cible))
        return len(nouveaux)

    @staticmethod
    def inscrire(index: sqlite3.Connection, nom: str, contenu: Contenu, en_base: bool = False) -> None:
        index.execute("DELETE FROM utilisateurs WHERE nom = ?", (nom,))
        index.execute("INSERT OR REPLACE INTO segments VALUES (?, ?, ?, ?, ?, ?)",
                      (nom, contenu.lignes, contenu.octets, contenu.premier, contenu.dernier, int(en_base)))
        index.executemany("INSERT INTO utilisateurs VALUES (?, ?, ?)",
                          [(empreinte, nom, nombre) for empreinte, nombre in contenu.utilisateurs.items()])

    @staticmethod
    def noter_effacements(index: sqlite3.Connection, empreintes: dict[str, str | None]) -> None:
        """Le registre des effacements côté journal : il survit à la perte de la base, et une base restaurée
        d'une sauvegarde plus ancienne le réapplique (app.stockage.sauvegarde) : un élève effacé après la
        sauvegarde le reste. Seulement l'empreinte et l'instant, comme le registre de la base."""
        index.executemany(
            "INSERT INTO effacements VALUES (?, ?) ON CONFLICT (empreinte) DO UPDATE "
            "SET instant = max(instant, excluded.instant)",
            [(empreinte, instant or INSTANT_TOUT) for empreinte, instant in empreintes.items()])

    @staticmethod
    def oublier(index: sqlite3.Connection, nom: str) -> None:
        index.execute("DELETE FROM utilisateurs WHERE nom = ?", (nom,))
        index.execute("DELETE FROM segments WHERE nom = ?", (nom,))

    def contenant(self, index: sqlite3.Connection, empreintes: list[str]) -> list[Path]:
        """Les segments qui contiennent au moins une de ces empreintes (recherche par clé dans l'index)."""
        noms: set[str] = set()
        for debut in range(0, len(empreintes), 500):
            paquet = empreintes[debut:debut + 500]
            noms.update(nom for (nom,) in index.execute(
                f"SELECT DISTINCT nom FROM utilisateurs WHERE empreinte IN ({', '.join('?' * len(paquet))})", paquet))
        return [self.dossier / nom for nom in sorted(noms)]

    def reecrire(self, chemin: Path, visees, index: sqlite3.Connection, cible: Cible) -> list[bytes]:
        """Réécrit un segment scellé sans les lignes que ``visees(donnees)`` désigne (liste d'étendues
        (début, fin) croissantes) : fichier temporaire synchronisé puis renommé (une panne laisse l'ancien
        segment entier) ; l'index est corrigé des seules lignes retirées. Renvoie ces lignes ; un segment
        vidé est retiré. Le travail en Python est proportionnel aux lignes retirées, pas au segment."""
        try:
            donnees = chemin.read_bytes()
        except FileNotFoundError:
            self.oublier(index, chemin.name)
            return []
        etendues = visees(donnees)
        if not etendues:
            return []
        retirees = [donnees[debut:fin] for debut, fin in etendues]
        morceaux, position = [], 0
        for debut, fin in etendues:
            morceaux.append(donnees[position:debut])
            position = fin
        morceaux.append(donnees[position:])
        contenu = b"".join(morceaux)
        if not contenu.strip():
            os.unlink(chemin)
            self.oublier(index, chemin.name)
        else:
            temporaire = chemin.with_name(f".{chemin.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporaire)
            with open(os.open(temporaire, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DROITS), "wb") as sortie:
                sortie.write(contenu)
                sortie.flush()
                os.fsync(sortie.fileno())
            os.replace(temporaire, chemin)
            self._decompter(index, chemin.name, contenu, retirees, cible)
        synchroniser_dossier(self.dossier)
        return retirees

    @staticmethod
    def _decompter(index: sqlite3.Connection, nom: str, contenu: bytes, retirees: list[bytes], cible: Cible) -> None:
        """L'index d'un segment réécrit : ses nombres moins les lignes retirées, ses bornes relues."""
        parties: Counter = Counter()
        for ligne in retirees:
            trouve = USER_ID.search(ligne)
            if trouve is not None:
                parties[cible.empreinte(trouve.group(1))] += 1
        index.executemany("UPDATE utilisateurs SET lignes = lignes - ? WHERE empreinte = ? AND nom = ?",
                          [(nombre, empreinte, nom) for empreinte, nombre in parties.items()])
        index.execute("DELETE FROM utilisateurs WHERE nom = ? AND lignes <= 0", (nom,))
        premiere = contenu[:contenu.find(b"\n") + 1 or len(contenu)]
        derniere = contenu.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        index.execute("UPDATE segments SET lignes = lignes - ?, octets = ?, premier = ?, dernier = ? WHERE nom = ?",
                      (len(retirees), len(contenu), valeur(premiere, CLE_HORODATAGE), valeur(derniere, CLE_HORODATAGE),
                       nom))


def _accorder_au_sel(index: sqlite3.Connection) -> None:
    """L'index écrit sans clé (avant l'issue 28) est migré en place (HMAC de chaque empreinte) ; écrit avec
    un autre sel, il est vidé : ce n'est qu'un index, ``indexer`` le refait à partir des segments."""
    attendu = controle_sel()
    inscrit = index.execute("SELECT controle FROM cle").fetchone()
    inscrit = inscrit[0] if inscrit else ""
    if inscrit == attendu:
        return
    if inscrit:
        index.execute("DELETE FROM utilisateurs")
        index.execute("DELETE FROM segments")
        index.execute("DELETE FROM effacements")  # empreintes d'un autre sel : plus rien à quoi les comparer
    else:
        index.create_function("avec_cle", 1, avec_cle, deterministic=True)
        index.execute("UPDATE utilisateurs SET empreinte = avec_cle(empreinte)")
        index.execute("UPDATE effacements SET empreinte = avec_cle(empreinte)")
    index.execute("DELETE FROM cle")
    index.execute("INSERT INTO cle VALUES (?)", (attendu,))


def etendue_de_ligne(donnees: bytes, position: int) -> tuple[int, int]:
    """(début, fin) de la ligne qui contient ``position``, fin de ligne comprise."""
    debut = donnees.rfind(b"\n", 0, position) + 1
    fin = donnees.find(b"\n", position)
    return debut, (fin + 1 if fin >= 0 else len(donnees))


def sceller(actif: Path, cible: Path) -> bool:
    """Déplace le journal actif en segment scellé (sous le verrou des écrivains) ; faux s'il est vide.
    Les dossiers sont synchronisés ensuite, hors du verrou (``rendre_durable``). Un journal monté seul (``docker run -v fichier:…``, EBUSY) ou sur un autre disque (EXDEV) est
    recopié puis vidé : coût borné par la taille d'un segment."""
    try:
        if os.stat(actif).st_size == 0:
            return False
    except FileNotFoundError:
        return False
    try:
        os.rename(actif, cible)
    except OSError as erreur:
        if erreur.errno not in (errno.EBUSY, errno.EXDEV):
            raise
        with open(actif, "r+b") as source, open(os.open(cible, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DROITS),
                                                 "wb") as sortie:
            while morceau := source.read(1 << 20):
                sortie.write(morceau)
            sortie.flush()
            os.fsync(sortie.fileno())
            source.truncate(0)
    return True


def rendre_durable(segment: Path, actif: Path, fichier: bool) -> None:
    """Après un scellement, hors du verrou des écrivains (qu'ils n'attendent pas ces fsync) : le segment
    (sauf ``JOURNAL_FSYNC=jamais``) et les deux dossiers, pour que le renommage survive à une panne."""
    if fichier:
        fsync(segment)
    synchroniser_dossier(segment.parent)
    synchroniser_dossier(actif.parent)


def fsync(chemin: Path) -> bool:
    """fsync d'un fichier ou d'un dossier ; faux là où ce n'est pas permis ou possible."""
    try:
        descripteur = os.open(chemin, os.O_RDONLY)
    except OSError:
        return False
    try:
        os.fsync(descripteur)
        return True
    except OSError:
        return False
    finally:
        os.close(descripteur)


def synchroniser_dossier(dossier: Path) -> None:
    """Rend un renommage durable (fsync du dossier) ; sans effet là où ce n'est pas permis."""
    fsync(dossier)

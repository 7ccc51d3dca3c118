"""Le magasin des résultats : chaque prédiction servie, dans une base SQL (SQLAlchemy 2, Core).

Un fichier SQLite par défaut (``BASE_SQLITE_CHEMIN``), PostgreSQL quand ``DATABASE_URL``
vaut ``postgresql+psycopg://…`` (Cloud SQL en production, plusieurs instances). Le schéma
est créé au démarrage s'il manque (idempotent) ; si la base est injoignable à ce moment,
il l'est à la première opération qui la trouve joignable.

Toute erreur de la base devient ``ErreurMagasin`` (l'API répond 503, jamais 500) ; un
``request_id`` déjà présent devient ``DoublonRequete`` (409). Les messages ne contiennent
jamais l'URL de la base (mot de passe).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from operator import itemgetter

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.json_rapide import en_octets
from app.stockage.enregistrement import (
    COLONNES_ENREGISTREMENT,
    LONGUEUR_MAX_IDENTIFIANT,
    avec_cle,
    colonnes_sql,
    controle_sel,
    empreinte_utilisateur,
)

journal = logging.getLogger("prediction_etudiante")

DELAI_CONNEXION_S = 5
ATTENTE_VERROU_SQLITE_S = 30
CLE_VERROU_SCHEMA = 7_372_001  # verrou consultatif PostgreSQL : une seule instance crée le schéma
CLE_VERROU_EFFACEMENTS = 7_372_002
"""Verrou consultatif PostgreSQL : partagé par les écrivains (alimentation, réconciliation), exclusif pour un
effacement. Une insertion validée avant l'effacement est supprimée par lui ; une insertion après lui lit le
registre et saute les prédictions effacées : rien d'effacé ne revient en base."""

metadonnees = MetaData()

PREDICTIONS = Table(
    "predictions", metadonnees,
    Column("numero", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    *colonnes_sql(),  # une colonne par champ de app.stockage.enregistrement.Enregistrement
    Index("ix_predictions_user_id_horodatage", "user_id", "horodatage", "numero"),
)

EFFACEMENTS = Table(
    "effacements", metadonnees,
    Column("numero", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("empreinte", String(64), nullable=False),  # HMAC du user_id effacé par EFFACEMENT_SEL, jamais le user_id
    Column("horodatage", DateTime(timezone=True), nullable=False),
)
INDEX_EFFACEMENTS = Index("ix_effacements_empreinte", EFFACEMENTS.c.empreinte)
"""Chaque paquet inséré en base lit le registre par empreinte (``Transaction.inserer_nouveaux``)."""
"""Le registre des effacements : chaque instance l'applique à son propre journal (app.stockage.effacements)."""
RESERVATIONS = Table(
    "request_id_reserves", metadonnees,
    Column("request_id", String(LONGUEUR_MAX_IDENTIFIANT), primary_key=True),
    Column("horodatage", DateTime(timezone=True), nullable=False),
)
"""Les X-Request-ID fournis par les clients, réservés dans la base partagée avant toute réponse (issue 28 :
le même identifiant envoyé à la fois par trois clients, deux en HTTP et un en gRPC, recevait trois 200 ; le
journal gardait trois lignes, la base une, et deux clients relisaient le dossier d'un autre élève). Une
réservation n'a plus d'usage une fois la prédiction en base (contrainte unique de ``predictions``) : elle est
retirée après ``DUREE_RESERVATION``."""
DUREE_RESERVATION = dt.timedelta(hours=1)
CLE_REGISTRE = Table(
    "effacements_cle", metadonnees,
    Column("controle", String(64), primary_key=True),
)
"""Avec quel EFFACEMENT_SEL le registre est écrit (``controle_sel``, qui ne révèle pas le sel) ; vide :
registre d'avant l'issue 28 (sha256 sans clé), migré au premier démarrage avec un sel."""
MARGE_PURGE_REGISTRE = dt.timedelta(days=1)
"""Une entrée du registre est purgée un jour après que la rétention a retiré tout ce qu'elle protège : chaque
instance applique la rétention à son journal toutes les heures et à la réconciliation de son démarrage."""
ACCES = Table(
    "acces", metadonnees,
    Column("numero", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("horodatage", DateTime(timezone=True), nullable=False, index=True),
    Column("qui", String(320), nullable=False),  # adresse, compte de service ou « jeton-api »
    Column("route", String(128), nullable=False),  # gabarit de route (jamais l'URL : elle peut porter un user_id)
    Column("ecole", String(128), nullable=True),  # écoles concernées, séparées par des virgules
    Column("eleves", Integer, nullable=False),
    Column("empreinte", String(64), nullable=True),  # empreinte du registre des effacements, jamais le user_id
)
"""Le journal des accès aux données personnelles (app.stockage.journal_acces), partagé par les instances."""
SESSIONS = Table(
    "sessions", metadonnees,
    Column("empreinte", String(64), primary_key=True),  # sha256 de l'identifiant de session, jamais lui
    Column("qui", String(320), nullable=False),
    Column("expire", DateTime(timezone=True), nullable=False),
)
"""Sessions ouvertes du mode OpenID Connect : la déconnexion supprime la ligne, le cookie ne vaut plus rien."""
IDENTITE = Table(
    "identite_base", metadonnees,
    Column("cle", Integer, primary_key=True),  # toujours 1 : une seule ligne, même créée par deux processus
    Column("identifiant", String(32), nullable=False),
)
"""L'identité de cette base (un nombre aléatoire écrit une fois, refait à chaque restauration) : l'index des
segments du journal la note avec ses confirmations ; une autre (autre fichier SQLite, autre schéma ou serveur
PostgreSQL, base restaurée) les rend caduques et le démarrage réconcilie tout le journal (issue 26)."""
CANAL_EFFACEMENTS = "prediction_etudiante_effacements"
"""Canal PostgreSQL (LISTEN/NOTIFY) qui réveille les autres instances à chaque effacement."""


class _Ecritures:
    """Les requêtes d'écriture, compilées une fois par SQLAlchemy pour le dialecte de la base, et
    exécutées par le curseur DB-API d'une connexion de son pool : sur ``/predire``, l'exécution par
    SQLAlchemy (contexte, compilation en cache, conversions) coûtait plus que l'insertion elle-même.
    Les valeurs passent par les convertisseurs de types de SQLAlchemy (``bind_processor``) : la
    base reçoit ce qu'``insert(PREDICTIONS)`` lui enverrait (vérifié par les tests)."""

    def __init__(self, dialecte):
        insertion = insert(PREDICTIONS).inline().values({c: bindparam(c) for c in COLONNES_ENREGISTREMENT})
        self.insertion, ordre = _compiler(insertion, dialecte)  # inline : sans RETURNING
        # Alimentation et réconciliation : idempotentes par request_id (une ligne déjà en base est sautée).
        if dialecte.name == "postgresql":
            self.insertion_idempotente = self.insertion + " ON CONFLICT (request_id) DO NOTHING"
        else:
            self.insertion_idempotente = self.insertion.replace("INSERT INTO", "INSERT OR IGNORE INTO", 1)
        self.verrou_ecrivain = ("SELECT pg_advisory_xact_lock_shared(%d)" % CLE_VERROU_EFFACEMENTS
                                if dialecte.name == "postgresql" else "BEGIN IMMEDIATE")
        self.verrou_effacement = ("SELECT pg_advisory_xact_lock(%d)" % CLE_VERROU_EFFACEMENTS
                                  if dialecte.name == "postgresql" else "BEGIN IMMEDIATE")
        # Les prédictions de l'utilisateur servies jusqu'à l'instant de l'effacement (une prédiction servie
        # après lui est gardée, comme au journal), et leurs request_id (le compte rendu de l'effacement).
        self.suppression, self._ordre_suppression = _compiler(
            delete(PREDICTIONS).where(PREDICTIONS.c.user_id == bindparam("user_id"),
                                      PREDICTIONS.c.horodatage <= bindparam("instant"))
            .returning(PREDICTIONS.c.request_id), dialecte)
        self._horodatage_suppression = PREDICTIONS.c.horodatage.type.dialect_impl(dialecte).bind_processor(dialecte)
        self.registre_effacement, self._ordre_registre = _compiler(
            insert(EFFACEMENTS).inline().values(empreinte=bindparam("empreinte"), horodatage=bindparam("horodatage")),
            dialecte)
        self._horodatage_registre = EFFACEMENTS.c.horodatage.type.dialect_impl(dialecte).bind_processor(dialecte)
        self.notification = (f"SELECT pg_notify('{CANAL_EFFACEMENTS}', '')" if dialecte.name == "postgresql" else None)
        # Une liste de valeurs en un seul paramètre (tableau PostgreSQL, JSON pour SQLite) : une seule requête
        # préparée quelle que soit sa longueur. Avec « IN (?, ?, …) », chaque longueur était une requête de
        # plus dans le cache des requêtes préparées de chaque connexion (jusqu'à 128 requêtes de milliers de
        # paramètres) : des centaines de Mio gardés par un worker au fil des réconciliations.
        postgresql = dialecte.name == "postgresql"
        self.dans_liste = "= ANY(%s)" if postgresql else "IN (SELECT value FROM json_each(?))"
        self.liste = list if postgresql else (lambda valeurs: json.dumps(list(valeurs)))
        self.existants = f"SELECT request_id FROM {PREDICTIONS.name} WHERE request_id {self.dans_liste}"
        self.reservations_effacees = f"DELETE FROM {RESERVATIONS.name} WHERE request_id {self.dans_liste}"
        self.effacements = (f"SELECT empreinte, max(horodatage) FROM {EFFACEMENTS.name} WHERE empreinte "
                            f"{self.dans_liste} GROUP BY empreinte")
        self.dialecte = dialecte
        self.lignes_journal = _insertion_de_lignes(dialecte.name)
        self._nommes = ordre is None  # %(nom)s (PostgreSQL) : dicts ; « ? » (SQLite) : tuples dans l'ordre
        self._colonnes = COLONNES_ENREGISTREMENT if ordre is None else ordre
        self._extraire = itemgetter(*self._colonnes)
        self._horodatage = self._colonnes.index("horodatage")
        self._convertisseurs = tuple((rang, f) for rang, c in enumerate(self._colonnes)
                                     if (f := PREDICTIONS.c[c].type.dialect_impl(dialecte).bind_processor(dialecte)))
        self._entrees = self._colonnes.index("entrees")
        self._lignes_rapides = self._convertisseurs_connus()
        self._autres_convertisseurs = tuple((rang, f) for rang, f in self._convertisseurs
                                            if rang not in (self._horodatage, self._entrees))

    def _convertisseurs_connus(self) -> bool:
        """SQLite : les convertisseurs de l'horodatage (texte « AAAA-MM-JJ HH:MM:SS.ffffff ») et d'``entrees``
        (orjson), vérifiés ici sur un exemple : ``parametres_lignes`` les fait sans eux (les autres, appliqués)."""
        rangs = {rang for rang, _ in self._convertisseurs}
        if self._nommes or not {self._horodatage, self._entrees} <= rangs:
            return False
        exemple, document = "2026-01-02T03:04:05.000006+00:00", {"a": 1.5, "b": "é"}
        convertis = dict(self._convertisseurs)
        return (convertis[self._horodatage](dt.datetime.fromisoformat(exemple)) == _instant_sqlite(exemple)
                and convertis[self._entrees](document) == en_octets(document).decode("utf-8"))

    def parametres_lignes(self, lignes: list[bytes]) -> list[tuple] | None:
        """SQLite : les paramètres de l'``executemany`` depuis les lignes du journal, un seul décodage JSON par
        ligne (orjson, en C), l'horodatage ISO UTC découpé plutôt que relu en ``datetime`` ; None si une ligne
        ne s'y prête pas (illisible, champ manquant, autre fuseau) : l'appelant passe par le chemin décodé."""
        if not self._lignes_rapides:
            return None
        extraire, horodatage, entrees, autres = self._extraire, self._horodatage, self._entrees, self._autres_convertisseurs
        parametres = []
        try:
            for ligne in lignes:
                document = orjson.loads(ligne)
                if "canal" not in document:
                    document["canal"] = "http"  # lignes d'avant le serveur gRPC
                valeurs = list(extraire(document))
                valeurs[horodatage] = _instant_sqlite(valeurs[horodatage])
                valeurs[entrees] = en_octets(valeurs[entrees]).decode("utf-8")
                for rang, convertir in autres:
                    valeurs[rang] = convertir(valeurs[rang])
                parametres.append(tuple(valeurs))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        return parametres

    def parametres_insertion(self, enregistrements: list[dict]) -> list:
        """Les paramètres de l'``executemany`` : valeurs extraites en C (``itemgetter``), horodatage ISO
        relu en ``datetime``, puis convertisseurs de SQLAlchemy, position par position."""
        lignes = []
        for enregistrement in enregistrements:
            valeurs = list(self._extraire(enregistrement))
            valeurs[self._horodatage] = dt.datetime.fromisoformat(valeurs[self._horodatage])
            for rang, convertir in self._convertisseurs:
                valeurs[rang] = convertir(valeurs[rang])
            lignes.append(dict(zip(self._colonnes, valeurs)) if self._nommes else tuple(valeurs))
        return lignes

    def parametres_suppression(self, user_id: str, instant: dt.datetime):
        if self._horodatage_suppression:
            instant = self._horodatage_suppression(instant)
        valeurs = {"user_id": user_id, "instant": instant}
        return valeurs if self._ordre_suppression is None else tuple(valeurs[c] for c in self._ordre_suppression)

    def parametres_registre(self, user_id: str, instant: dt.datetime):
        empreinte = empreinte_utilisateur(user_id)
        if self._horodatage_registre:
            instant = self._horodatage_registre(instant)
        valeurs = {"empreinte": empreinte, "horodatage": instant}
        return valeurs if self._ordre_registre is None else tuple(valeurs[c] for c in self._ordre_registre)


_TYPES_PG = {"horodatage": "timestamptz", "prediction": "smallint", "probabilite_echec": "double precision",
             "probabilite_reussite": "double precision", "seuil": "double precision", "entrees": "json"}


def _insertion_de_lignes(dialecte: str) -> tuple[str, ...]:
    """PostgreSQL : l'insertion idempotente de lignes du journal telles quelles (suiveur) : ``COPY`` dans une
    table temporaire, puis ``json_to_record`` ; le JSON est lu par la base, sans un objet Python par ligne, et
    ``entrees`` garde le texte exact de la ligne (type ``json`` et non ``jsonb`` : ordre des clés et nombres
    tels qu'écrits). SQLite : rien (ses fonctions JSON relisent la ligne pour chaque champ : 19 µs par ligne,
    transaction comprise, contre 10 µs avec le décodage par orjson de ``_Ecritures.parametres_lignes`` ; SQLite
    3.40, variante écartée du banc ``outils.banc_suiveur``)."""
    colonnes = ", ".join(COLONNES_ENREGISTREMENT)
    if dialecte == "postgresql":
        types = ", ".join(f"{c} {_TYPES_PG.get(c, 'text')}" for c in COLONNES_ENREGISTREMENT)
        valeurs = ", ".join("coalesce(x.canal, 'http')" if c == "canal" else f"x.{c}" for c in COLONNES_ENREGISTREMENT)
        return ("CREATE TEMP TABLE IF NOT EXISTS lignes_journal (l json) ON COMMIT DELETE ROWS",
                "COPY lignes_journal (l) FROM STDIN",
                f"INSERT INTO {PREDICTIONS.name} ({colonnes}) SELECT {valeurs} FROM lignes_journal, "
                f"json_to_record(l) AS x({types}) ON CONFLICT (request_id) DO NOTHING")
    return ()


def _instant_sqlite(instant: str) -> str:
    """« 2026-01-02T03:04:05.000006+00:00 » → « 2026-01-02 03:04:05.000006 » (ce qu'écrit SQLAlchemy) ;
    ValueError pour toute autre forme."""
    if len(instant) != 32 or instant[26:] != "+00:00" or instant[10] != "T":
        raise ValueError(instant)
    return instant[:10] + " " + instant[11:26]


def _compiler(requete, dialecte) -> tuple[str, tuple[str, ...] | None]:
    """(SQL du dialecte, ordre des paramètres si positionnels — « ? » de SQLite — sinon None : %(nom)s)."""
    compilee = requete.compile(dialect=dialecte)
    return compilee.string, (tuple(compilee.positiontup) if compilee.positional else None)


def _ajouter_colonnes_manquantes(connexion) -> list[str]:
    """Une base créée avant un champ de l'enregistrement (``canal``) reçoit sa colonne, avec sa valeur
    par défaut pour les lignes existantes ; idempotent (la colonne présente n'est pas touchée), dans la
    transaction de ``_assurer_schema`` (sous le verrou consultatif avec PostgreSQL)."""
    presentes = {c["name"] for c in inspect(connexion).get_columns(PREDICTIONS.name)}
    ajoutees = []
    for colonne in PREDICTIONS.columns:
        if colonne.name in presentes:
            continue
        if colonne.server_default is None and not colonne.nullable:
            raise ErreurMagasin(f"colonne {colonne.name} absente de la table {PREDICTIONS.name}, sans valeur par "
                                "défaut pour les lignes existantes : migration manuelle nécessaire")
        dialecte = connexion.dialect
        definition = f"{dialecte.identifier_preparer.quote(colonne.name)} {colonne.type.compile(dialect=dialecte)}"
        if colonne.server_default is not None:
            defaut = colonne.server_default.arg.replace("'", "''")
            definition += f" DEFAULT '{defaut}'"
        if not colonne.nullable:
            definition += " NOT NULL"
        connexion.execute(text(f"ALTER TABLE {dialecte.identifier_preparer.quote(PREDICTIONS.name)} ADD COLUMN {definition}"))
        journal.info("base des résultats : colonne %s ajoutée à la table %s", colonne.name, PREDICTIONS.name)
        ajoutees.append(colonne.name)
    return ajoutees


class ErreurMagasin(Exception):
    """La base des résultats est injoignable ou a refusé l'opération (message en français, sans secret)."""


class ErreurSelEffacement(ErreurMagasin):
    """Le registre des effacements a été écrit avec un autre EFFACEMENT_SEL : ses empreintes ne
    désigneraient plus personne. Refus de démarrer (le sel d'origine doit être remis)."""


class DoublonRequete(Exception):
    """Ce ``request_id`` est déjà enregistré."""


@contextlib.contextmanager
def _traduire(action: str, erreurs_dbapi: type[Exception] = SQLAlchemyError) -> Iterator[None]:
    """Erreurs de SQLAlchemy (et du pilote DB-API, pour les écritures directes) → ``ErreurMagasin``."""
    try:
        yield
    except (SQLAlchemyError, erreurs_dbapi) as erreur:
        origine = type(getattr(erreur, "orig", None) or erreur).__name__
        journal.warning("base des résultats : échec de %s (%s)", action, origine)
        raise ErreurMagasin(f"base des résultats indisponible : échec de {action} ({origine})") from erreur


def _migrer_registre(connexion) -> None:
    """Registre écrit sans clé (avant l'issue 28) et sel donné : chaque empreinte devient son HMAC par le sel
    (``avec_cle``), dans la transaction de ``_assurer_schema`` (sous le verrou consultatif avec PostgreSQL),
    puis le contrôle du sel est inscrit. Registre écrit avec un autre sel : ``ErreurSelEffacement``."""
    attendu = controle_sel()
    inscrit = connexion.execute(select(CLE_REGISTRE.c.controle)).scalar()
    if (inscrit or "") == attendu:
        return
    if inscrit:
        raise ErreurSelEffacement(
            "EFFACEMENT_SEL ne correspond pas à celui du registre des effacements de cette base (ou est absent) : "
            "ses empreintes ne désigneraient plus personne ; remettez le secret d'origine")
    anciennes = connexion.execute(select(EFFACEMENTS.c.numero, EFFACEMENTS.c.empreinte)).all()
    if anciennes:
        connexion.execute(EFFACEMENTS.update().where(EFFACEMENTS.c.numero == bindparam("n"))
                          .values(empreinte=bindparam("e")),
                          [{"n": numero, "e": avec_cle(empreinte)} for numero, empreinte in anciennes])
    connexion.execute(insert(CLE_REGISTRE).values(controle=attendu))
    journal.info("registre des effacements : %d empreinte(s) migrée(s) vers HMAC-SHA256 (EFFACEMENT_SEL)",
                 len(anciennes))


def _json_texte(document) -> str:
    """La colonne ``entrees`` écrite par orjson, comme la ligne du journal (json : 3 fois plus lent)."""
    return en_octets(document).decode("utf-8")


def instant_iso(instant) -> str:
    """Un instant lu en base, au format de ``horodatage`` du journal (ISO 8601 UTC, microsecondes) :
    comparable, comme texte, à celui d'un enregistrement. SQLite ne garde pas le fuseau (tout est UTC)."""
    if isinstance(instant, str):
        instant = dt.datetime.fromisoformat(instant)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.timezone.utc)
    return instant.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def _depuis_base(ligne) -> dict:
    enregistrement = {cle: ligne[cle] for cle in COLONNES_ENREGISTREMENT}
    enregistrement["horodatage"] = instant_iso(ligne["horodatage"])
    return enregistrement


def _options_moteur(moteur_sql: str, connexions: int) -> dict:
    """SQLite : attente du verrou. PostgreSQL : un pool de ``connexions`` (la concurrence du processus,
    GUNICORN_THREADS) et pas plus, pour qu'instances × workers × fils reste sous la limite de
    connexions de Cloud SQL (README, « Cloud Run »)."""
    if moteur_sql == "sqlite":
        return {"connect_args": {"timeout": ATTENTE_VERROU_SQLITE_S}}
    return {"pool_pre_ping": True, "pool_size": connexions, "max_overflow": 0,
            "pool_timeout": DELAI_CONNEXION_S, "connect_args": {"connect_timeout": DELAI_CONNEXION_S}}


def _regler_sqlite(connexion_dbapi, _enregistrement) -> None:
    curseur = connexion_dbapi.cursor()
    curseur.execute("PRAGMA journal_mode=WAL")  # lecteurs et écrivain ne se bloquent pas
    # En WAL, NORMAL ne synchronise le disque qu'aux points de contrôle, pas à chaque commit (2,5 ms
    # de fsync par prédiction sinon) : un commit survit à l'arrêt brutal du processus, pas forcément
    # à une coupure de courant — la même garantie que le journal JSONL (écrit sans fsync).
    curseur.execute("PRAGMA synchronous=NORMAL")
    curseur.execute(f"PRAGMA busy_timeout={ATTENTE_VERROU_SQLITE_S * 1000}")
    # Effacement sans trace : une ligne supprimée est écrasée de zéros (pages de la base et leurs copies
    # dans le WAL), et le WAL ne garde pas au-delà de TAILLE_MAX_WAL d'anciennes pages après un point de
    # contrôle (il est en outre vidé à zéro octet après chaque effacement : purger_apres_effacement).
    curseur.execute("PRAGMA secure_delete=ON")
    curseur.execute(f"PRAGMA journal_size_limit={TAILLE_MAX_WAL}")
    curseur.close()


TAILLE_MAX_WAL = 4 * 1024 * 1024


def _creer_prive(adresse) -> None:
    """Crée le fichier SQLite en 0600 s'il manque : SQLite crée ensuite -wal et -shm avec les mêmes
    droits (il les aligne sur la base). Un fichier existant garde les siens."""
    chemin = adresse.database
    if not chemin or chemin == ":memory:" or chemin.startswith("file:"):
        return
    with contextlib.suppress(OSError):
        os.close(os.open(chemin, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))


class Transaction:
    """Une transaction ouverte sur une connexion DB-API du pool : rien n'est validé sans ``valider()`` ;
    abandonnée sinon (``rollback`` à la fermeture)."""

    def __init__(self, connexion, ecritures: _Ecritures, dbapi):
        self._connexion = connexion
        self._curseur = connexion.cursor()
        self._ecritures = ecritures
        self._dbapi = dbapi

    def inserer(self, enregistrements: list[dict]) -> None:
        """Insertion groupée (un seul ``executemany``) ; ``DoublonRequete`` si un request_id existe déjà."""
        with _traduire("l'enregistrement des prédictions", self._dbapi.Error):
            try:
                self._curseur.executemany(self._ecritures.insertion,
                                          self._ecritures.parametres_insertion(enregistrements))
            except self._dbapi.IntegrityError:  # seule contrainte que des données validées peuvent violer
                raise DoublonRequete(enregistrements[0]["request_id"]) from None

    def inserer_nouveaux(self, enregistrements: list[dict]) -> int:
        """Insertion idempotente (alimentation, réconciliation) : un request_id déjà en base est sauté, et une
        prédiction d'un utilisateur effacé, antérieure à son effacement, aussi (registre des effacements, lu
        sous le verrou partagé des écrivains : un effacement ne peut pas se glisser entre la lecture et
        l'insertion). Renvoie le nombre de prédictions présentées moins celles sautées pour effacement."""
        with _traduire("l'enregistrement des prédictions", self._dbapi.Error):
            self._curseur.execute(self._ecritures.verrou_ecrivain)
            empreintes = {e["user_id"]: empreinte_utilisateur(e["user_id"])
                          for e in enregistrements if e.get("user_id") is not None}
            effaces = self._effacements(set(empreintes.values())) if empreintes else {}
            if effaces:
                enregistrements = [e for e in enregistrements
                                   if not (e.get("user_id") is not None and empreintes[e["user_id"]] in effaces
                                           and e["horodatage"] <= effaces[empreintes[e["user_id"]]])]
            if enregistrements:
                self._curseur.executemany(self._ecritures.insertion_idempotente,
                                          self._ecritures.parametres_insertion(enregistrements))
            return len(enregistrements)

    def inserer_lignes(self, lignes: list[bytes], empreintes: set[str]) -> bool:
        """Comme ``inserer_nouveaux``, pour des lignes du journal telles quelles (suiveur), ``empreintes`` étant
        celles des user_id qu'elles contiennent (``empreinte_utilisateur``) : faux, sans rien insérer, si l'un d'eux est au registre des effacements, ou
        si une ligne ne se décode pas (SQLite) ; l'appelant décode alors les lignes et passe par
        ``inserer_nouveaux`` (instants comparés, illisibles sautées)."""
        with _traduire("l'enregistrement des prédictions", self._dbapi.Error):
            self._curseur.execute(self._ecritures.verrou_ecrivain)
            if empreintes and self._effacements(empreintes):
                return False
            requetes = self._ecritures.lignes_journal
            if not requetes:  # SQLite
                parametres = self._ecritures.parametres_lignes(lignes)
                if parametres is None:
                    return False
                self._curseur.executemany(self._ecritures.insertion_idempotente, parametres)
                return True
            creation, copie, insertion = requetes
            self._curseur.execute(creation)
            with self._curseur.copy(copie) as flux:
                flux.write(b"\n".join(lignes).replace(b"\\", b"\\\\"))  # format texte : « \ » y échappe
            self._curseur.execute(insertion)
            return True

    def _effacements(self, empreintes: set[str]) -> dict[str, str]:
        """empreinte → instant (ISO UTC) de son dernier effacement, pour celles du registre."""
        self._curseur.execute(self._ecritures.effacements, (self._ecritures.liste(empreintes),))
        return {empreinte: instant_iso(instant) for empreinte, instant in self._curseur.fetchall()}

    def supprimer_utilisateur(self, user_id: str, instant: dt.datetime | None = None) -> set[str]:
        """Supprime ses prédictions servies jusqu'à ``instant`` et l'inscrit au registre des effacements avec
        cet instant (même transaction, sous le verrou exclusif des effacements) ; avec PostgreSQL, les autres
        instances en sont averties au commit (NOTIFY). Renvoie les request_id supprimés."""
        instant = instant or dt.datetime.now(dt.timezone.utc)
        with _traduire("la suppression des prédictions", self._dbapi.Error):
            self._curseur.execute(self._ecritures.verrou_effacement)
            self._curseur.execute(self._ecritures.suppression,
                                  self._ecritures.parametres_suppression(user_id, instant))
            supprimees = {request_id for (request_id,) in self._curseur.fetchall()}
            if supprimees:  # leurs réservations aussi : rien de l'élève ne reste (issue 28)
                self._curseur.execute(self._ecritures.reservations_effacees, (self._ecritures.liste(supprimees),))
            self._curseur.execute(self._ecritures.registre_effacement,
                                  self._ecritures.parametres_registre(user_id, instant))
            if self._ecritures.notification:
                self._curseur.execute(self._ecritures.notification)
            return supprimees

    def valider(self) -> None:
        with _traduire("la validation (commit)", self._dbapi.Error):
            self._connexion.commit()


class MagasinResultats:
    def __init__(self, url: str, connexions: int = 8):
        adresse = make_url(url)
        self.moteur_sql = adresse.get_backend_name()
        self.description = adresse.render_as_string(hide_password=True)
        self.moteur = create_engine(url, json_serializer=_json_texte, **_options_moteur(self.moteur_sql, connexions))
        if self.moteur_sql == "sqlite":
            _creer_prive(adresse)
            event.listen(self.moteur, "connect", _regler_sqlite)
        self._ecritures = _Ecritures(self.moteur.dialect)
        self._dbapi = self.moteur.dialect.dbapi
        self._schema_pret = False
        self._verrou_schema = threading.Lock()

    @property
    def dbapi_erreur(self) -> type[Exception]:
        """La classe d'erreur du pilote (psycopg.Error, sqlite3.Error)."""
        return self._dbapi.Error

    @property
    def nom(self) -> str:
        return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(self.moteur_sql, self.moteur_sql)

    def preparer(self) -> bool:
        """Au démarrage : crée le schéma s'il manque, puis ferme les connexions (avant le fork de gunicorn)."""
        try:
            self._assurer_schema()
            return True
        except ErreurSelEffacement:
            raise
        except ErreurMagasin as erreur:
            journal.warning("%s ; le schéma sera créé dès qu'elle répondra", erreur)
            return False
        finally:
            self.moteur.dispose()

    def _assurer_schema(self) -> None:
        if self._schema_pret:
            return
        with self._verrou_schema, _traduire("la création du schéma"):
            if self._schema_pret:
                return
            if self.moteur_sql == "postgresql" and self._schema_deja_complet():
                self._schema_pret = True
                return
            for essai in (1, 2):  # deux processus peuvent créer la table en même temps : le second revoit
                try:
                    with self.moteur.begin() as connexion:
                        if self.moteur_sql == "postgresql":
                            connexion.execute(text("SELECT pg_advisory_xact_lock(:cle)"), {"cle": CLE_VERROU_SCHEMA})
                        metadonnees.create_all(connexion, checkfirst=True)
                        INDEX_EFFACEMENTS.create(connexion, checkfirst=True)  # base créée avant l'index
                        _ajouter_colonnes_manquantes(connexion)
                        _migrer_registre(connexion)
                        if connexion.execute(select(IDENTITE.c.identifiant)).first() is None:
                            connexion.execute(insert(IDENTITE).values(cle=1, identifiant=secrets.token_hex(16)))
                    break
                except SQLAlchemyError:
                    if essai == 2:
                        raise
            self._schema_pret = True

    def _schema_deja_complet(self) -> bool:
        """PostgreSQL, au démarrage : tables, colonnes et index déjà là, sel du registre inscrit et identité
        présente, lus en deux requêtes au catalogue (sans verrou consultatif ni DDL) ; sinon (base neuve,
        colonne ou index à ajouter, registre à migrer) ``_assurer_schema`` fait le chemin complet. Le chemin
        complet (``create_all`` avec ``checkfirst``) coûtait une vingtaine d'allers-retours à chaque démarrage."""
        tables = [table.name for table in metadonnees.sorted_tables]
        attendus = {(table.name, colonne.name) for table in metadonnees.sorted_tables for colonne in table.columns}
        index = {i.name for table in metadonnees.sorted_tables for i in table.indexes} | {INDEX_EFFACEMENTS.name}
        with self.moteur.connect() as connexion:
            presents = set(connexion.execute(text(
                "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(:tables) "
                "AND a.attnum > 0 AND NOT a.attisdropped "
                "UNION ALL SELECT '', indexname FROM pg_indexes WHERE schemaname = current_schema()"),
                {"tables": tables}).tuples())
            if not attendus <= presents or not {("", nom) for nom in index} <= presents:
                return False
            controle, identite = connexion.execute(select(
                select(CLE_REGISTRE.c.controle).limit(1).scalar_subquery(),
                select(IDENTITE.c.identifiant).limit(1).scalar_subquery())).one()
        return (controle or "") == controle_sel() and identite is not None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        self._assurer_schema()
        with _traduire("la connexion", self._dbapi.Error):
            connexion = self.moteur.raw_connection()  # DB-API, du pool (pre-ping PostgreSQL compris)
        try:
            yield Transaction(connexion, self._ecritures, self._dbapi)
        finally:
            with contextlib.suppress(SQLAlchemyError, self._dbapi.Error):
                connexion.close()  # rendue au pool, qui annule ce qui n'a pas été validé (rollback au retour)

    def purger_apres_effacement(self) -> None:
        """Après un effacement validé : SQLite recopie le WAL dans la base et le vide à zéro octet
        (``wal_checkpoint(TRUNCATE)``, qui attend les lecteurs en cours) : les anciennes versions des pages
        effacées n'y restent pas. PostgreSQL : rien ici (VACUUM, voir le README)."""
        if self.moteur_sql != "sqlite":
            return
        with _traduire("le point de contrôle après effacement", self._dbapi.Error):
            connexion = self.moteur.raw_connection()
            try:
                curseur = connexion.cursor()
                occupe, _, _ = curseur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                curseur.close()
            finally:
                connexion.close()
        if occupe:
            journal.warning("SQLite : WAL non vidé après un effacement (lecteur en cours) ; il le sera au "
                            "prochain effacement ou point de contrôle")

    def lire(self, request_id: str) -> dict | None:
        self._assurer_schema()
        with _traduire("la lecture"), self.moteur.connect() as connexion:
            ligne = connexion.execute(select(PREDICTIONS).where(PREDICTIONS.c.request_id == request_id)).mappings().first()
        return None if ligne is None else _depuis_base(ligne)

    def historique(self, user_id: str, limite: int, decalage: int,
                   ecoles: list[str] | None = None) -> tuple[list[dict], int]:
        """Les prédictions d'un utilisateur, les plus récentes d'abord, et leur nombre total ; avec ``ecoles``,
        seulement celles dont l'élève est de ces écoles (champ ``school`` des entrées)."""
        self._assurer_schema()
        filtre = PREDICTIONS.c.user_id == user_id
        if ecoles is not None:
            filtre = filtre & PREDICTIONS.c.entrees["school"].as_string().in_(ecoles)
        requete = (select(PREDICTIONS).where(filtre)
                   .order_by(PREDICTIONS.c.horodatage.desc(), PREDICTIONS.c.numero.desc())
                   .limit(limite).offset(decalage))
        with _traduire("la lecture de l'historique"), self.moteur.connect() as connexion:
            total = connexion.scalar(select(func.count()).select_from(PREDICTIONS).where(filtre))
            lignes = connexion.execute(requete).mappings().all()
        return [_depuis_base(l) for l in lignes], int(total or 0)

    def parcourir(self, depuis: dt.datetime | None = None, jusqua: dt.datetime | None = None,
                  paquet: int = 1000) -> Iterator[dict]:
        """Toutes les prédictions conservées (de toutes les instances qui partagent la base), dans
        l'ordre d'insertion, filtrées sur ``depuis <= horodatage < jusqua`` ; lues par paquets (pagination
        par ``numero``) : la mémoire reste bornée quel que soit le nombre de lignes."""
        self._assurer_schema()
        filtre = []
        if depuis is not None:
            filtre.append(PREDICTIONS.c.horodatage >= depuis)
        if jusqua is not None:
            filtre.append(PREDICTIONS.c.horodatage < jusqua)
        dernier = 0
        while True:
            requete = (select(PREDICTIONS).where(PREDICTIONS.c.numero > dernier, *filtre)
                       .order_by(PREDICTIONS.c.numero).limit(paquet))
            with _traduire("la lecture de l'export"), self.moteur.connect() as connexion:
                lignes = connexion.execute(requete).mappings().all()
            for ligne in lignes:
                yield _depuis_base(ligne)
            if len(lignes) < paquet:
                return
            dernier = lignes[-1]["numero"]

    def effacements_depuis(self, numero: int) -> tuple[dict[str, str], int]:
        """Les empreintes inscrites au registre après ``numero`` (→ instant ISO UTC de leur dernier
        effacement), et le dernier numéro lu."""
        self._assurer_schema()
        requete = (select(EFFACEMENTS.c.numero, EFFACEMENTS.c.empreinte, EFFACEMENTS.c.horodatage)
                   .where(EFFACEMENTS.c.numero > numero))
        with _traduire("la lecture du registre des effacements"), self.moteur.connect() as connexion:
            lignes = connexion.execute(requete.order_by(EFFACEMENTS.c.numero)).all()
        empreintes: dict[str, str] = {}
        for ligne in lignes:
            empreintes[ligne.empreinte] = max(empreintes.get(ligne.empreinte, ""), instant_iso(ligne.horodatage))
        return empreintes, (lignes[-1].numero if lignes else numero)

    def supprimer_avant(self, limite: dt.datetime) -> int:
        """Rétention : supprime les prédictions antérieures à ``limite`` ; renvoie leur nombre. Le registre
        des effacements perd les entrées antérieures à ``limite - MARGE_PURGE_REGISTRE`` : tout ce qu'elles
        protègent est plus vieux que la rétention, donc déjà retiré du journal de chaque instance et de la base
        (et la réconciliation ne relit rien d'aussi vieux)."""
        self._assurer_schema()
        with _traduire("la purge de rétention"), self.moteur.begin() as connexion:
            supprimees = connexion.execute(delete(PREDICTIONS).where(PREDICTIONS.c.horodatage < limite)).rowcount
            connexion.execute(delete(EFFACEMENTS).where(EFFACEMENTS.c.horodatage < limite - MARGE_PURGE_REGISTRE))
            return supprimees or 0

    def reserver(self, request_ids: list[str]) -> bool:
        """Réserve ces request_id, atomiquement entre processus et instances (clé primaire) : faux si l'un
        l'était déjà (par un autre appel, de n'importe quel processus). Les réservations plus vieilles que
        ``DUREE_RESERVATION`` sont retirées dans la même transaction."""
        self._assurer_schema()
        maintenant = dt.datetime.now(dt.timezone.utc)
        try:
            with self.moteur.begin() as connexion:
                perimees = RESERVATIONS.c.horodatage < maintenant - DUREE_RESERVATION
                connexion.execute(delete(RESERVATIONS).where(perimees))
                connexion.execute(insert(RESERVATIONS),
                                  [{"request_id": i, "horodatage": maintenant} for i in request_ids])
        except IntegrityError:
            return False
        except SQLAlchemyError as erreur:
            origine = type(getattr(erreur, "orig", None) or erreur).__name__
            raise ErreurMagasin(f"base des résultats indisponible : échec de la réservation ({origine})") from erreur
        return True

    def liberer(self, request_ids: list[str]) -> None:
        """Rend des réservations (la prédiction n'a pas été servie : le client peut renvoyer le même id)."""
        with _traduire("la libération des réservations"), self.moteur.begin() as connexion:
            connexion.execute(delete(RESERVATIONS).where(RESERVATIONS.c.request_id.in_(request_ids)))

    def existants(self, request_ids: list[str]) -> set[str]:
        """Ceux de ces request_id déjà en base (réconciliation, X-Request-ID réutilisé)."""
        self._assurer_schema()
        if not request_ids:
            return set()
        with _traduire("la lecture"), self.moteur.connect() as connexion:
            return {request_id for (request_id,) in connexion.exec_driver_sql(
                self._ecritures.existants, (self._ecritures.liste(request_ids),))}

    def inserer_lignes(self, lignes: list[bytes], empreintes: set[str]) -> bool:
        """Une transaction d'insertion idempotente de lignes du journal (``Transaction.inserer_lignes``), validée
        si elle a eu lieu."""
        with self.transaction() as transaction:
            if not transaction.inserer_lignes(lignes, empreintes):
                return False
            transaction.valider()
        return True

    def inserer_nouveaux(self, enregistrements: list[dict]) -> int:
        """Une transaction d'insertion idempotente (``Transaction.inserer_nouveaux``), validée."""
        with self.transaction() as transaction:
            inserees = transaction.inserer_nouveaux(enregistrements)
            transaction.valider()
        return inserees

    def compter(self) -> dict[str, int]:
        """Le nombre de prédictions et d'effacements inscrits (manifeste d'une sauvegarde, restauration)."""
        self._assurer_schema()
        with _traduire("le comptage"), self.moteur.connect() as connexion:
            return {"predictions": int(connexion.scalar(select(func.count()).select_from(PREDICTIONS))),
                    "effacements": int(connexion.scalar(select(func.count()).select_from(EFFACEMENTS)))}

    def schema_courant(self) -> str | None:
        """PostgreSQL : le schéma où vivent les tables (premier du search_path) ; SQLite : None."""
        if self.moteur_sql != "postgresql":
            return None
        with _traduire("la lecture du schéma"), self.moteur.connect() as connexion:
            return connexion.scalar(text("SELECT current_schema()"))

    def identite(self) -> str:
        """L'identité de cette base (``IDENTITE``), lue à chaque appel : une base remplacée sous le même
        ``DATABASE_URL`` (restauration) en change."""
        self._assurer_schema()
        with _traduire("la lecture de l'identité de la base"), self.moteur.connect() as connexion:
            identifiant = connexion.scalar(select(IDENTITE.c.identifiant).where(IDENTITE.c.cle == 1))
        return identifiant or self.renouveler_identite()  # ligne retirée à la main : une nouvelle identité

    def renouveler_identite(self) -> str:
        """Après une restauration : une nouvelle identité, pour que les confirmations de l'index des segments
        de chaque instance (faites avant, contre la base d'avant) ne valent plus."""
        self._assurer_schema()
        identifiant = secrets.token_hex(16)
        with _traduire("le renouvellement de l'identité de la base"), self.moteur.begin() as connexion:
            connexion.execute(delete(IDENTITE))
            connexion.execute(insert(IDENTITE).values(cle=1, identifiant=identifiant))
        return identifiant

    def reappliquer_effacements(self, effacements: dict[str, str]) -> int:
        """Après la restauration d'une sauvegarde : chaque effacement du registre côté journal (empreinte →
        instant ISO UTC) que la base restaurée ne connaît pas y est refait (prédictions antérieures
        supprimées, registre complété), en une transaction. Les user_id de la base sont reconnus par leur
        empreinte : le registre ne garde jamais l'identifiant. Renvoie le nombre de prédictions supprimées."""
        self._assurer_schema()
        supprimees = 0
        with _traduire("la réapplication des effacements"), self.moteur.begin() as connexion:
            connus = {empreinte: instant_iso(instant) for empreinte, instant in connexion.execute(
                select(EFFACEMENTS.c.empreinte, func.max(EFFACEMENTS.c.horodatage)).group_by(EFFACEMENTS.c.empreinte))}
            a_refaire = {e: dt.datetime.fromisoformat(i) for e, i in effacements.items() if connus.get(e, "") < i}
            if not a_refaire:
                return 0
            utilisateurs = connexion.execute(select(PREDICTIONS.c.user_id).where(PREDICTIONS.c.user_id.is_not(None))
                                             .distinct()).scalars()
            par_empreinte = {empreinte_utilisateur(u): u for u in utilisateurs}
            for empreinte, instant in a_refaire.items():
                if empreinte in par_empreinte:
                    supprimees += connexion.execute(delete(PREDICTIONS).where(
                        PREDICTIONS.c.user_id == par_empreinte[empreinte], PREDICTIONS.c.horodatage <= instant)).rowcount
                connexion.execute(insert(EFFACEMENTS).values(empreinte=empreinte, horodatage=instant))
        self.purger_apres_effacement()
        return supprimees

    def connexion_ecoute(self):
        """Une connexion DB-API hors du pool, en autocommit, à l'écoute du canal des effacements
        (PostgreSQL seulement) : elle reste ouverte tant que l'instance vit."""
        arguments, options = self.moteur.dialect.create_connect_args(self.moteur.url)
        connexion = self._dbapi.connect(*arguments, **{**options, "autocommit": True})
        connexion.execute(f"LISTEN {CANAL_EFFACEMENTS}")
        return connexion

    def joignable(self) -> tuple[bool, str]:
        """Pour ``/ready`` : la base répond et le schéma existe."""
        try:
            self._assurer_schema()
            with _traduire("la vérification"), self.moteur.connect() as connexion:
                connexion.execute(select(func.count()).select_from(PREDICTIONS).where(PREDICTIONS.c.numero < 0))
        except ErreurMagasin as erreur:
            return False, f"{self.nom} : {erreur}"
        return True, f"base {self.nom} joignable, schéma prêt"

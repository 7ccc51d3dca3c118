"""Configuration de l'API, lue dans les variables d'environnement — en un seul endroit."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

VERSION = "2.0.0"
"""Version de l'API (document OpenAPI, GET /) ; celle du modèle est dans sa fiche."""
RACINE = Path(__file__).resolve().parent.parent
MODES_JOURNAL = ("fichier", "stdout", "les_deux", "aucun")
KIO, MIO = 1024, 1024 * 1024
SEGMENT_CLOUD_RUN, BORNE_CLOUD_RUN = 4 * MIO, 64 * MIO
"""Sur Cloud Run, le journal de l'instance est en mémoire : segments de 4 Mio, au plus 64 Mio non confirmés."""
SCHEMAS_BASE = ("postgresql+psycopg://", "sqlite:///")
LONGUEUR_MIN_JETON = 32
POINTS_A_ABORDER = (
    "Comment l'élève vit-il l'année : ce qui va, ce qui est difficile ?",
    "Assiduité et ponctualité : y a-t-il une raison aux absences ?",
    "Méthodes de travail et temps de travail personnel",
    "Aides déjà en place (soutien, tutorat, famille) et ce qui manque",
    "Qui associer : professeur principal, infirmerie, assistante sociale, famille",
)
"""Par défaut : une trame d'échange, jamais une décision (POINTS_A_ABORDER la remplace)."""
CLES_IAP_GOOGLE = "https://www.gstatic.com/iap/verify/public_key-jwk"


class ErreurConfiguration(ValueError):
    """Une variable d'environnement a une valeur invalide ; le message la nomme."""


@dataclass(frozen=True)
class Configuration:
    hote: str = "127.0.0.1"
    """Interface d'écoute (HOTE) : la boucle locale par défaut, pour qu'un portable sur le réseau d'un
    établissement n'ouvre pas l'API des données personnelles ; l'image met HOTE=0.0.0.0."""
    port: int = 8080
    port_grpc: int = 50051
    """Port du serveur gRPC (``python -m app.rpc``, ``make grpc``)."""
    fils_grpc: int = 8
    """Appels gRPC servis en même temps (un flux occupe un fil pendant toute sa durée)."""
    flux_grpc_max: int = 0
    """GRPC_FLUX_MAX : flux ``PredireFlux`` ouverts en tout ; 0 (défaut) : GRPC_FILS - 2, au moins 1. Les fils
    restants servent la santé et les appels unaires, jamais affamés par des flux (issue 28)."""
    flux_grpc_par_client: int = 2
    """GRPC_FLUX_PAR_CLIENT : flux ouverts en même temps par adresse de client."""
    inactivite_flux_s: int = 30
    """GRPC_FLUX_INACTIVITE_S : un flux sans message depuis ce nombre de secondes est fermé (DEADLINE_EXCEEDED)."""
    chemin_modele: Path = RACINE / "code" / "modele_trees.pkl"
    chemin_variables: Path = RACINE / "code" / "features.pkl"
    chemin_fiche: Path = RACINE / "code" / "model_card.json"
    chemin_compile: Path = RACINE / "code" / "modele_compile.npz"
    chemin_reference_derive: Path = RACINE / "code" / "reference_derive.json"
    """Distributions des données d'entraînement pour ``GET /derive`` (``make reference``)."""
    sha256_modele: str = ""
    sha256_variables: str = ""
    """Empreintes attendues des pickles ; vides : celles ancrées dans le code (app.modele.empreintes_modele)."""
    chemin_journal: Path = Path("requetes_enrg.jsonl")
    chemin_verrou_journal: Path | None = None
    """Verrou du journal ; par défaut ``<journal>.lock`` à côté de lui."""
    mode_journal: str = "fichier"
    periode_fsync: float | None = 0.1
    segment_journal: int = 16 * MIO
    """JOURNAL_SEGMENT : taille à laquelle le journal actif est scellé en segment (app.stockage.segments)."""
    borne_journal: int = 0
    """JOURNAL_BORNE : 0, pas de borne (les segments restent sur le disque) ; sinon les segments confirmés
    en base quittent le disque et le journal refuse d'écrire (503) au-delà. Défaut sur Cloud Run (K_SERVICE) :
    64 Mio, avec des segments de 4 Mio (le disque y est la mémoire de l'instance)."""
    retention_jours: int = 0
    """RETENTION_JOURS : prédictions purgées du journal et de la base après ce nombre de jours ; 0 = jamais."""
    """JOURNAL_FSYNC : ``toujours`` (0 : fsync avant chaque réponse), ``100ms`` par défaut (période en
    secondes), ``jamais`` (None). Ce que chacun perd sur une coupure de courant : README, « Durabilité »."""
    seuils_forces: dict[str, float] = field(default_factory=dict)
    points_a_aborder: tuple[str, ...] = POINTS_A_ABORDER
    """POINTS_A_ABORDER : les points d'échange proposés par la fiche d'un élève sur la page ``/classe``,
    séparés par « | » ; l'établissement y met les siens (dispositifs d'aide, interlocuteurs)."""
    taille_max_corps: int = 64 * 1024
    taille_max_lot: int = 16 * 1024 * 1024
    lots_simultanes: int = 2
    """Lots traités en même temps par processus : un lot de 10 000 élèves occupe ~100 Mio au pic."""
    # Secrets : jamais dans repr() (donc jamais dans un journal ni un message d'erreur).
    database_url: str = field(default="", repr=False)
    mot_de_passe_base: str = field(default="", repr=False)
    """DATABASE_PASSWORD (Secret Manager sur Cloud Run) : mis dans l'URL, qui n'en porte alors pas."""
    chemin_base_sqlite: Path = Path("resultats.sqlite3")
    jeton_api: str = field(default="", repr=False)
    jeton_metriques: str = field(default="", repr=False)
    """METRIQUES_TOKEN : exigé par GET /metrics s'il est défini (sinon /metrics est ouvert)."""
    sel_effacement: str = field(default="", repr=False)
    """EFFACEMENT_SEL : clé HMAC-SHA256 des empreintes du registre des effacements et de l'index des
    segments (app.stockage.enregistrement) ; secret par déploiement (Secret Manager, deploy/deployer.sh),
    exigé sur Cloud Run. Vide en local : empreintes sans clé, un avertissement le dit au démarrage."""
    essais_jeton_max: int = 10
    """JETON_ESSAIS_MAX : essais de jeton ratés permis par client, par minute et par processus ; au-delà 429."""
    fils: int = 8
    """GUNICORN_THREADS : requêtes simultanées par processus, donc taille du pool de connexions."""
    service_cloud_run: str = ""
    """K_SERVICE, que Cloud Run définit : journaux JSON et magasin partagé exigé."""
    instance_unique: bool = False
    """INSTANCE_UNIQUE=1 : sur Cloud Run sans base partagée, accepté si le service n'a qu'une instance."""
    journaux_json: bool = False
    """JOURNAUX_FORMAT=json (défaut sur Cloud Run) : une ligne JSON par message, pour Cloud Logging."""
    projet_gcp: str = ""
    """GOOGLE_CLOUD_PROJECT : préfixe des traces (``projects/<projet>/traces/<id>``)."""
    # Identité du personnel (docs/securite-identite.md) : mode local (aucun des deux), IAP ou OpenID Connect.
    chemin_acces: Path | None = None
    """ACCES_FICHIER : le fichier TOML des personnes, de leur rôle et de leurs écoles (app.web.droits)."""
    iap_audience: str = ""
    """IAP_AUDIENCE : ``/projects/<numéro>/locations/<région>/services/<service>`` ; défini, le mode est IAP."""
    iap_cles_url: str = CLES_IAP_GOOGLE
    """IAP_CLES_URL : les clés publiques (JWKS) qui signent X-Goog-IAP-JWT-Assertion ; celles de Google par défaut."""
    oidc_issuer: str = ""
    """OIDC_ISSUER : l'émetteur OpenID Connect (document de découverte) ; défini, le mode est OIDC."""
    oidc_client_id: str = ""
    oidc_client_secret: str = field(default="", repr=False)
    secret_session: str = field(default="", repr=False)
    """SESSION_SECRET : signe le cookie de session (mode OIDC) ; au moins 32 caractères."""
    retention_acces_jours: int = 365
    """RETENTION_ACCES_JOURS : durée de conservation du journal des accès (app.stockage.journal_acces)."""

    @property
    def mode_identite(self) -> str:
        """``iap``, ``oidc`` ou ``local`` (ni l'un ni l'autre : mode mono-utilisateur, jeton API)."""
        return "iap" if self.iap_audience else "oidc" if self.oidc_issuer else "local"

    @property
    def justificatifs_configures(self) -> bool:
        """Un appelant peut s'identifier (API_TOKEN, IAP ou OpenID Connect) : un appelant anonyme ne choisit
        alors pas son identifiant de requête (``app.modele.identifiants.choix_permis``)."""
        return bool(self.jeton_api) or self.mode_identite != "local"
    job_cloud_run: str = ""
    """CLOUD_RUN_JOB, que Cloud Run Jobs définit : la commande de lot (``app.lot``) y écrit des lignes JSON."""
    tache_index: int = 0
    tache_nombre: int = 1
    """CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT : la part des fichiers que prend cette tâche de ``app.lot``."""

    @property
    def sur_cloud_run(self) -> bool:
        """Service (K_SERVICE) ou job (CLOUD_RUN_JOB) Cloud Run : disque en mémoire, instances éphémères."""
        return bool(self.service_cloud_run or self.job_cloud_run)

    @property
    def empreintes(self) -> tuple[str, str] | None:
        """(sha256 du modèle, sha256 de features.pkl) imposés par l'environnement, sinon None (ancrées)."""
        if self.sha256_modele or self.sha256_variables:
            return self.sha256_modele, self.sha256_variables
        return None

    @property
    def url_base(self) -> str:
        """DATABASE_URL (PostgreSQL) ou, à défaut, le fichier SQLite embarqué ; DATABASE_PASSWORD, s'il
        est donné, y devient le mot de passe (Cloud SQL : l'URL est publique, le mot de passe secret)."""
        if not self.database_url:
            return f"sqlite:///{self.chemin_base_sqlite}"
        if not self.mot_de_passe_base:
            return self.database_url
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).set(password=self.mot_de_passe_base).render_as_string(hide_password=False)

    @property
    def flux_grpc_total(self) -> int:
        """Flux gRPC ouverts en tout au plus : GRPC_FLUX_MAX, ou GRPC_FILS - 2 (au moins 1)."""
        return self.flux_grpc_max or max(1, self.fils_grpc - 2)

    @property
    def base_partagee(self) -> bool:
        """Vrai pour PostgreSQL : toutes les instances lisent et effacent dans la même base."""
        return self.database_url.startswith("postgresql")

    @classmethod
    def depuis_environnement(cls, env: Mapping[str, str] | None = None) -> "Configuration":
        env = os.environ if env is None else env
        defaut = cls()

        def entier(nom: str, valeur_defaut: int, minimum: int, maximum: int) -> int:
            brut = env.get(nom, "").strip()
            if not brut:
                return valeur_defaut
            if not (brut.isascii() and brut.isdigit()) or not minimum <= int(brut) <= maximum:
                raise ErreurConfiguration(f"{nom}={brut!r} : entier de {minimum} à {maximum} attendu")
            return int(brut)

        def chemin(nom: str, valeur_defaut: Path) -> Path:
            brut = env.get(nom, "").strip()
            return Path(brut) if brut else valeur_defaut

        def empreinte(nom: str) -> str:
            brut = env.get(nom, "").strip().lower()
            if brut and not (len(brut) == 64 and all(c in "0123456789abcdef" for c in brut)):
                raise ErreurConfiguration(f"{nom}={brut!r} : sha256 attendu (64 chiffres hexadécimaux)")
            return brut

        def booleen(nom: str) -> bool:
            brut = env.get(nom, "").strip().lower()
            if brut not in ("", "0", "1", "false", "true", "non", "oui"):
                raise ErreurConfiguration(f"{nom}={brut!r} : 1 ou 0 attendu")
            return brut in ("1", "true", "oui")

        sur_cloud_run = bool(env.get("K_SERVICE", "").strip() or env.get("CLOUD_RUN_JOB", "").strip())
        mode = env.get("JOURNAL_MODE", "").strip() or defaut.mode_journal
        if mode not in MODES_JOURNAL:
            raise ErreurConfiguration(f"JOURNAL_MODE={mode!r} : valeurs permises {', '.join(MODES_JOURNAL)}")
        config = cls(
            hote=hote_d_ecoute(env),
            port=entier("PORT", defaut.port, 1, 65535),
            port_grpc=entier("GRPC_PORT", defaut.port_grpc, 1, 65535),
            fils_grpc=entier("GRPC_FILS", defaut.fils_grpc, 1, 256),
            flux_grpc_max=entier("GRPC_FLUX_MAX", defaut.flux_grpc_max, 0, 256),
            flux_grpc_par_client=entier("GRPC_FLUX_PAR_CLIENT", defaut.flux_grpc_par_client, 1, 256),
            inactivite_flux_s=entier("GRPC_FLUX_INACTIVITE_S", defaut.inactivite_flux_s, 1, 3600),
            chemin_modele=chemin("MODELE_CHEMIN", defaut.chemin_modele),
            chemin_variables=chemin("VARIABLES_CHEMIN", defaut.chemin_variables),
            chemin_fiche=chemin("FICHE_MODELE_CHEMIN", defaut.chemin_fiche),
            chemin_compile=chemin("MODELE_COMPILE_CHEMIN", defaut.chemin_compile),
            chemin_reference_derive=chemin("REFERENCE_DERIVE_CHEMIN", defaut.chemin_reference_derive),
            sha256_modele=empreinte("MODELE_SHA256"),
            sha256_variables=empreinte("VARIABLES_SHA256"),
            chemin_journal=chemin("JOURNAL_CHEMIN", defaut.chemin_journal),
            chemin_verrou_journal=chemin("JOURNAL_VERROU_CHEMIN", None),
            mode_journal=mode,
            periode_fsync=_fsync(env.get("JOURNAL_FSYNC", "")),
            segment_journal=_taille("JOURNAL_SEGMENT", env.get("JOURNAL_SEGMENT", ""),
                                    SEGMENT_CLOUD_RUN if sur_cloud_run else defaut.segment_journal, minimum=4 * KIO),
            borne_journal=_taille("JOURNAL_BORNE", env.get("JOURNAL_BORNE", ""),
                                  BORNE_CLOUD_RUN if sur_cloud_run else defaut.borne_journal, minimum=0),
            retention_jours=entier("RETENTION_JOURS", defaut.retention_jours, 0, 36_500),
            seuils_forces=_seuils(env.get("SEUIL_DECISION", "")),
            points_a_aborder=tuple(p.strip() for p in env.get("POINTS_A_ABORDER", "").split("|") if p.strip())
            or defaut.points_a_aborder,
            taille_max_corps=entier("TAILLE_MAX_CORPS", defaut.taille_max_corps, 1024, 256 * 1024 * 1024),
            taille_max_lot=entier("TAILLE_MAX_LOT", defaut.taille_max_lot, 1024, 256 * 1024 * 1024),
            lots_simultanes=entier("LOTS_SIMULTANES", defaut.lots_simultanes, 1, 64),
            database_url=_url_base(env.get("DATABASE_URL", "")),
            mot_de_passe_base=env.get("DATABASE_PASSWORD", "").strip(),
            chemin_base_sqlite=chemin("BASE_SQLITE_CHEMIN", defaut.chemin_base_sqlite),
            jeton_api=_jeton(env.get("API_TOKEN", ""), "API_TOKEN"),
            jeton_metriques=_jeton(env.get("METRIQUES_TOKEN", ""), "METRIQUES_TOKEN"),
            sel_effacement=_jeton(env.get("EFFACEMENT_SEL", ""), "EFFACEMENT_SEL"),
            essais_jeton_max=entier("JETON_ESSAIS_MAX", defaut.essais_jeton_max, 1, 1_000_000),
            fils=entier("GUNICORN_THREADS", defaut.fils, 1, 256),
            service_cloud_run=env.get("K_SERVICE", "").strip(),
            instance_unique=booleen("INSTANCE_UNIQUE"),
            journaux_json=_format_journaux(env.get("JOURNAUX_FORMAT", ""), sur_cloud_run),
            projet_gcp=env.get("GOOGLE_CLOUD_PROJECT", "").strip(),
            chemin_acces=chemin("ACCES_FICHIER", None),
            iap_audience=env.get("IAP_AUDIENCE", "").strip(),
            iap_cles_url=_url("IAP_CLES_URL", env.get("IAP_CLES_URL", "")) or CLES_IAP_GOOGLE,
            oidc_issuer=_url("OIDC_ISSUER", env.get("OIDC_ISSUER", "")).rstrip("/"),
            oidc_client_id=env.get("OIDC_CLIENT_ID", "").strip(),
            oidc_client_secret=env.get("OIDC_CLIENT_SECRET", "").strip(),
            secret_session=_jeton(env.get("SESSION_SECRET", ""), "SESSION_SECRET"),
            retention_acces_jours=entier("RETENTION_ACCES_JOURS", defaut.retention_acces_jours, 1, 36_500),
            job_cloud_run=env.get("CLOUD_RUN_JOB", "").strip(),
            tache_index=entier("CLOUD_RUN_TASK_INDEX", 0, 0, 9_999),
            tache_nombre=entier("CLOUD_RUN_TASK_COUNT", 1, 1, 10_000),
        )
        if config.tache_index >= config.tache_nombre:
            raise ErreurConfiguration(f"CLOUD_RUN_TASK_INDEX={config.tache_index} : de 0 à CLOUD_RUN_TASK_COUNT - 1 "
                                      f"({config.tache_nombre - 1}) attendu")
        config.verifier_identite()
        config.verifier_magasin_partage()
        if sur_cloud_run and not config.sel_effacement:
            raise ErreurConfiguration(
                "EFFACEMENT_SEL absent sur Cloud Run (K_SERVICE ou CLOUD_RUN_JOB est défini) : sans ce secret, le registre des "
                "effacements se laisse inverser en hachant des identifiants candidats. deploy/deployer.sh le crée "
                "dans Secret Manager ; sinon : python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        if config.borne_journal and config.borne_journal < 2 * config.segment_journal:
            raise ErreurConfiguration(
                f"JOURNAL_BORNE ({config.borne_journal // KIO} Kio) doit valoir au moins deux fois JOURNAL_SEGMENT "
                f"({config.segment_journal // KIO} Kio) : le journal actif et un segment en attente de la base")
        return config

    def verifier_identite(self) -> None:
        """Un seul mode d'identité, complet, avec son fichier d'accès : sinon refus de démarrer."""
        if self.iap_audience and self.oidc_issuer:
            raise ErreurConfiguration("IAP_AUDIENCE et OIDC_ISSUER sont tous deux définis : choisissez un mode "
                                      "(IAP sur Cloud Run, OpenID Connect ailleurs)")
        if self.mode_identite == "oidc":
            manquants = [nom for nom, valeur in (("OIDC_CLIENT_ID", self.oidc_client_id),
                                                 ("OIDC_CLIENT_SECRET", self.oidc_client_secret),
                                                 ("SESSION_SECRET", self.secret_session)) if not valeur]
            if manquants:
                raise ErreurConfiguration(f"OIDC_ISSUER est défini : {', '.join(manquants)} manquant(s)")
        if self.mode_identite != "local" and self.chemin_acces is None:
            raise ErreurConfiguration(f"mode {self.mode_identite} : ACCES_FICHIER (fichier TOML des personnes, "
                                      "de leur rôle et de leurs écoles) est obligatoire")

    def verifier_magasin_partage(self) -> None:
        """Sur Cloud Run, chaque instance a son disque en mémoire : sans base partagée, l'historique d'un
        élève et son effacement n'atteindraient qu'une instance sur plusieurs. Refus de démarrer."""
        if self.sur_cloud_run and not self.base_partagee and not self.instance_unique:
            raise ErreurConfiguration(
                "DATABASE_URL absent ou non partagé sur Cloud Run (K_SERVICE ou CLOUD_RUN_JOB est défini) : chaque "
                "instance ou tâche "
                "garderait ses propres résultats et un effacement n'atteindrait qu'elle. Donnez "
                "DATABASE_URL=postgresql+psycopg://… (Cloud SQL, voir deploy/deployer.sh), ou "
                "INSTANCE_UNIQUE=1 si le service est limité à une instance (--max-instances=1)")


def hote_d_ecoute(env=None) -> str:
    """HOTE, lu aussi par gunicorn.conf.py (avant toute application) : 127.0.0.1 par défaut."""
    env = os.environ if env is None else env
    hote = env.get("HOTE", "").strip() or Configuration.hote
    if any(c.isspace() for c in hote) or "/" in hote:
        raise ErreurConfiguration(f"HOTE={hote!r} : une adresse ou un nom d'hôte attendu (127.0.0.1, 0.0.0.0, ::)")
    return hote


def _url_base(brut: str) -> str:
    """``postgresql+psycopg://…`` ou ``sqlite:///…`` ; la valeur n'est jamais recopiée (mot de passe)."""
    brut = brut.strip()
    if brut and not brut.startswith(SCHEMAS_BASE):
        raise ErreurConfiguration(
            "DATABASE_URL (valeur masquée) : postgresql+psycopg://utilisateur:mot_de_passe@hôte:5432/base "
            "ou sqlite:///chemin attendu")
    return brut


def _url(nom: str, brut: str) -> str:
    """Une URL http(s) ; vide permis (valeur par défaut)."""
    brut = brut.strip()
    if brut and not brut.startswith(("https://", "http://")):
        raise ErreurConfiguration(f"{nom}={brut!r} : une URL https://… attendue")
    return brut


def _taille(nom: str, brut: str, valeur_defaut: int, minimum: int) -> int:
    """Une taille en octets : ``16Mio``, ``512Kio``, ``1Gio`` (ou K, M, G ; sans unité : Mio) ; 0 permis
    si ``minimum`` vaut 0 (pas de borne)."""
    brut = brut.strip()
    if not brut:
        return valeur_defaut
    nombre, unite = brut.rstrip("KMGiokmgB "), brut[len(brut.rstrip("KMGiokmgB ")):].strip().lower()
    unites = {"": MIO, "k": KIO, "kio": KIO, "m": MIO, "mio": MIO, "g": 1024 * MIO, "gio": 1024 * MIO}
    if not (nombre.isascii() and nombre.isdigit()) or unite not in unites:
        raise ErreurConfiguration(f"{nom}={brut!r} : une taille comme 16Mio, 512Kio ou 1Gio attendue")
    taille = int(nombre) * unites[unite]
    if taille and taille < minimum or taille > 1024 * 1024 * MIO:
        raise ErreurConfiguration(f"{nom}={brut!r} : de {minimum // KIO} Kio à 1 Tio attendu")
    if not taille and not minimum == 0:
        raise ErreurConfiguration(f"{nom}={brut!r} : une taille non nulle attendue")
    return taille


def _fsync(brut: str) -> float | None:
    """``toujours``, ``jamais``, ou une période en millisecondes (``100ms`` ou ``100``, de 1 à 60 000)."""
    brut = brut.strip().lower()
    if not brut:
        return 0.1
    if brut == "toujours":
        return 0.0
    if brut == "jamais":
        return None
    nombre = brut.removesuffix("ms").strip()
    if not (nombre.isascii() and nombre.isdigit() and 1 <= int(nombre) <= 60_000):
        raise ErreurConfiguration(f"JOURNAL_FSYNC={brut!r} : toujours, jamais ou une période en millisecondes "
                                  "(par exemple 100ms) attendu")
    return int(nombre) / 1000


def _format_journaux(brut: str, sur_cloud_run: bool) -> bool:
    brut = brut.strip().lower()
    if brut not in ("", "json", "texte"):
        raise ErreurConfiguration(f"JOURNAUX_FORMAT={brut!r} : json ou texte attendu")
    return brut == "json" or (not brut and sur_cloud_run)


def _jeton(brut: str, nom: str) -> str:
    """Un secret (API_TOKEN : historique ; METRIQUES_TOKEN : métriques ; EFFACEMENT_SEL : clé du registre
    des effacements) ; vide = absent."""
    brut = brut.strip()
    if brut and (len(brut) < LONGUEUR_MIN_JETON or not (brut.isascii() and brut.isprintable()) or " " in brut):
        raise ErreurConfiguration(
            f"{nom} (valeur masquée) : au moins {LONGUEUR_MIN_JETON} caractères ASCII imprimables sans espace ; "
            "par exemple : python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return brut


def _seuils(brut: str) -> dict[str, float]:
    """``0.4`` (toutes les configurations) ou ``A=0.5,B=0.4,C=0.3``."""
    brut = brut.strip()
    if not brut:
        return {}
    message = f"SEUIL_DECISION={brut!r} : un nombre entre 0 et 1, ou A=0.5,B=0.4,C=0.3"
    try:
        if "=" not in brut:
            seuils = dict.fromkeys("ABC", float(brut))
        else:
            seuils = {}
            for morceau in brut.split(","):
                cle, valeur = (p.strip() for p in morceau.split("=", 1))
                if cle not in ("A", "B", "C"):
                    raise ValueError
                seuils[cle] = float(valeur)
    except ValueError:
        raise ErreurConfiguration(message) from None
    if not all(0.0 < s <= 1.0 for s in seuils.values()):
        raise ErreurConfiguration(message)
    return seuils

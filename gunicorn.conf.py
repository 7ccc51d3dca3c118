"""Configuration gunicorn de production (image Docker, Cloud Run).

Le modèle est chargé une fois avant le fork (``preload_app``) : les processus le partagent
en copie sur écriture. ``timeout = 0`` comme le recommande Cloud Run (qui gère lui-même le
délai des requêtes) : le délai de lecture d'un client lent est celui du travailleur
(``app.web.travailleur``), pas celui du maître ; à SIGTERM, gunicorn finit les requêtes en cours en ``graceful_timeout``
secondes, moins que les 10 s que Cloud Run laisse avant SIGKILL.
"""

import ctypes
import ctypes.util
import gc
import glob
import multiprocessing
import os
import stat
import tempfile

from app import journalisation
from app.config import hote_d_ecoute

# 127.0.0.1 par défaut (make api sur un portable) ; l'image met HOTE=0.0.0.0 (Docker, Cloud Run).
bind = f"{hote_d_ecoute()}:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "0")) or multiprocessing.cpu_count()
# 8 fils : les prédictions simultanées d'un processus sont conservées en une transaction (validation
# groupée, app.stockage.conservation) ; mesuré avec make banc : +7 % sur /predire et /health par rapport à 2.
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# gthread dont aucun fil n'attend un client lent : chaque requête est lue dans la boucle d'événements
# avant d'obtenir un fil (408 au-delà de 10 s), l'en-tête « Server: gunicorn » n'est plus envoyé, et les
# erreurs que gunicorn répond lui-même (414, 431, 400) sont du JSON français (app/web/travailleur.py ;
# README, « Clients lents »).
worker_class = "app.web.travailleur.TravailleurBorne"
preload_app = True
timeout = 0
graceful_timeout = 8
keepalive = 5
accesslog = "-" if os.environ.get("GUNICORN_ACCESSLOG", "0") == "1" else None
errorlog = "-"
if journalisation.json_demande():  # Cloud Run (K_SERVICE) ou JOURNAUX_FORMAT=json : une ligne JSON par message
    logconfig_dict = journalisation.configuration_gunicorn(acces=accesslog is not None)
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
wsgi_app = "app.wsgi:app"
# Issue 28 : pas de socket de contrôle (gunicorn ≥ 25 l'ouvrait par défaut à ~/.gunicorn/gunicorn.ctl : deux
# serveurs sur une machine se l'écrasaient puis se le supprimaient) ; aucun en-tête de « mandataire » lu
# (SCRIPT_NAME, PATH_INFO : envoyés depuis la boucle locale, ils donnaient 500 ; l'API n'est jamais montée
# sous un préfixe de chemin).
control_socket_disable = True
forwarder_headers = ""


def _regler_malloc(arenes: int = 2, seuil_mmap: int = 1 << 20) -> None:
    """Avec 8 fils, glibc donne à chaque fil son arène mémoire, jamais rendue : huit lots de
    10 000 élèves laissaient un worker à 620 Mio (350 Mio avec 2 arènes ; mesuré, voir README).
    Et glibc relève son seuil mmap à la taille de chaque gros bloc libéré (jusqu'à 32 Mio) : les
    blocs suivants (segments du journal relus, lots) viennent alors du tas, qui se fragmente et ne
    rend rien ; un seuil fixe (1 Mio) les laisse en mmap, rendus dès leur libération (mesuré : 8
    tours de deux lots de 10 000 avec le journal en segments, voir README, « Mémoire »).
    Réglé ici, dans le maître avant le fork, pour que tous les workers en héritent ;
    ``MALLOC_ARENA_MAX`` et ``MALLOC_MMAP_THRESHOLD_`` dans l'environnement gardent la priorité.
    Sans effet hors glibc."""
    M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # malloc.h
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if not os.environ.get("MALLOC_ARENA_MAX"):
            libc.mallopt(M_ARENA_MAX, arenes)
        if not os.environ.get("MALLOC_MMAP_THRESHOLD_"):
            libc.mallopt(M_MMAP_THRESHOLD, seuil_mmap)
    except (OSError, AttributeError):
        pass


_regler_malloc()


# Métriques Prometheus de tous les workers (GET /metrics) : prometheus_client en mode multiprocessus
# lit un dossier de fichiers partagé, créé ici à la lecture de cette configuration par le maître (avant
# que l'application préchargée ne crée ses métriques) ; les fichiers d'un worker qui sort sont retirés
# (child_exit), le dossier à l'arrêt. Issue 28 : nom imprévisible (mkdtemp, 0700, créé par nous seuls) ;
# avant, /tmp/prediction-etudiante-metriques-<pid> pouvait être un lien planté, suivi, et son contenu effacé.
# Un PROMETHEUS_MULTIPROC_DIR donné doit être un vrai dossier (pas un lien) à nous, fermé aux autres.


def _dossier_metriques() -> tuple[str, bool]:
    """(dossier, créé ici) ; refus (SystemExit 3) d'un dossier donné qui serait un lien ou ouvert à d'autres."""
    donne = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if not donne:
        return tempfile.mkdtemp(prefix="prediction-etudiante-metriques-"), True
    try:
        os.mkdir(donne, 0o700)
    except FileExistsError:
        pass
    etat = os.lstat(donne)
    if not stat.S_ISDIR(etat.st_mode) or etat.st_uid != os.getuid() or etat.st_mode & 0o077:
        journalisation.signaler_arret(f"PROMETHEUS_MULTIPROC_DIR={donne} : un dossier à cet utilisateur, fermé aux "
                                      "autres (0700) et pas un lien symbolique, est attendu")
        raise SystemExit(3)
    return donne, False


_METRIQUES, _METRIQUES_CREE = _dossier_metriques()
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _METRIQUES
for _fichier in glob.glob(os.path.join(glob.escape(_METRIQUES), "*.db")):
    if not os.path.islink(_fichier):
        os.remove(_fichier)


def when_ready(serveur):
    """Dans le maître, avant le fork des workers : le suiveur du journal de l'instance (un processus qui
    alimente la base ; les workers ne font qu'écrire au journal), relancé s'il meurt."""
    application = getattr(serveur.app, "callable", None)  # chargée avant le fork (preload_app)

    def fermer_l_ecoute():  # dans le suiveur forké : le port n'est qu'au maître et à ses workers
        for ecoute in serveur.LISTENERS:
            ecoute.close()

    for tache in (getattr(application, "extensions", None) or {}).get("taches_au_lancement", []):
        tache(apres_fork=fermer_l_ecoute)


def post_worker_init(worker):
    """Les fils de fond de l'application (suivi des effacements des autres instances), dans chaque worker."""
    for tache in worker.wsgi.extensions.get("taches_de_fond", []):
        tache()


def worker_exit(serveur, worker):
    """Dans le worker qui sort (SIGTERM : après ses requêtes en cours) : ce qui est au journal et pas encore
    en base y est inséré, en moins de 5 s, dans les 8 s de graceful_timeout."""
    wsgi = getattr(worker, "wsgi", None)
    for tache in (getattr(wsgi, "extensions", None) or {}).get("taches_d_arret", []):
        tache()


def child_exit(serveur, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(serveur):
    """Dans le maître, après la sortie de tous ses workers (SIGTERM) : le suiveur met en base ce qui reste au
    journal (ou, s'il est absent, chaque ligne du journal actif et des segments pas encore confirmés y est
    insérée), en 1,5 s au plus (8 s de graceful_timeout + 1,5 s,
    sous les 10 s de Cloud Run ; le reste éventuel : à la réconciliation du prochain démarrage) ; puis le
    dossier des métriques est vidé et retiré."""
    application = getattr(serveur.app, "callable", None)  # chargée avant le fork (preload_app)
    for tache in (getattr(application, "extensions", None) or {}).get("taches_de_sortie", []):
        tache()
    for fichier in glob.glob(os.path.join(glob.escape(_METRIQUES), "*.db")):
        if not os.path.islink(fichier):
            os.remove(fichier)
    if _METRIQUES_CREE:
        try:
            os.rmdir(_METRIQUES)  # vide : rien ne reste dans le dossier temporaire
        except OSError:
            pass


ROUTES_LOTS = "/predire/lot"


def pre_request(worker, req):
    """Un lot (``POST /predire/lot``, ``/csv``, ``/partiel``) ferme sa connexion après sa réponse : le lot
    suivant du même client se reconnecte et c'est le worker libre qui l'accepte (celui qui prédit encore tient
    son GIL et arrive après). En keep-alive, deux clients pouvaient garder leurs lots sur le même worker,
    l'autre restant inoccupé : la moitié des cœurs (``make banc``, lots de 1 000). Une connexion de plus par
    lot (quelques dizaines de µs) contre des lots de plusieurs ms. Le reste garde le keep-alive."""
    worker.log.debug("%s %s", req.method, req.path)  # ce que fait le crochet par défaut de gunicorn
    if req.method == "POST" and req.path.startswith(ROUTES_LOTS):
        req.must_close = True


SEUIL_GC = 10_000
"""Allocations d'objets conteneurs entre deux collectes de la jeune génération (700 par défaut)."""


def pre_fork(serveur, worker):
    """Dans le maître, avant chaque fork d'un worker : tout ce qui est chargé (modèle, modules, application) est
    gelé hors du ramasse-miettes (``gc.freeze``, ce que la documentation de Python conseille avant un fork), et
    la jeune génération n'est collectée que toutes les ``SEUIL_GC`` allocations. Un lot de 1 000 élèves crée
    ≈ 10 000 dicts et listes, libérés par leur compteur de références (aucun cycle) ; avec les réglages par
    défaut, il déclenchait ≈ 14 collectes, dont des collectes complètes qui parcouraient les ≈ 86 000 objets de
    l'application : 5,5 ms de CPU par lot (en processus ; 0,4 ms ainsi). Les pages gelées ne sont plus écrites
    par le ramasse-miettes : elles restent partagées entre workers (copie sur écriture)."""
    gc.set_threshold(SEUIL_GC, *gc.get_threshold()[1:])
    gc.freeze()

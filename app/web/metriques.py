"""Métriques Prometheus (``GET /metrics``), justes avec plusieurs workers gunicorn.

Sous gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` (posé par ``gunicorn.conf.py``) fait écrire chaque
worker dans ses fichiers ; ``/metrics`` les additionne tous, quel que soit le worker qui répond.
Sans lui (``python -m app.main``), le registre du processus suffit. Aucune étiquette ne porte de
donnée personnelle : les routes sont des gabarits (``/predictions/user/<user_id>``), jamais des chemins.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

PREFIXE = "prediction_etudiante"
REQUETES = Counter(f"{PREFIXE}_requetes", "Requêtes HTTP servies, par route (gabarit), méthode et statut",
                   ["route", "methode", "statut"])
DUREES = Histogram(f"{PREFIXE}_duree_requete_secondes", "Durée de traitement des requêtes HTTP, par route",
                   ["route"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
PREDICTIONS = Counter(f"{PREFIXE}_predictions", "Prédictions servies, par configuration (A, B, C) et classe",
                      ["configuration", "classe"])
TAILLES_LOTS = Histogram(f"{PREFIXE}_taille_lot_eleves", "Élèves par lot servi (POST /predire/lot)",
                         buckets=(1, 10, 30, 100, 400, 1000, 2500, 5000, 10000))
ERREURS_STOCKAGE = Counter(f"{PREFIXE}_erreurs_stockage", "Refus du stockage (journal ou base des résultats)",
                           ["stockage"])
JETONS_REFUSES = Counter(f"{PREFIXE}_jetons_refuses", "Jetons absents ou invalides sur les routes protégées",
                         ["route"])
RETARD_BASE = Histogram(f"{PREFIXE}_retard_base_secondes",
                        "Délai entre l'écriture d'une prédiction au journal et son commit en base (journal d'abord)",
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
EN_ATTENTE_BASE = Gauge(f"{PREFIXE}_base_en_attente", "Prédictions journalisées pas encore en base (tous workers)",
                        multiprocess_mode="livesum")
JOURNAL_OCTETS = Gauge(f"{PREFIXE}_journal_octets", "Taille du journal des requêtes de l'instance (fichier actif "
                       "et segments scellés)", multiprocess_mode="max")
JOURNAL_BORNE = Gauge(f"{PREFIXE}_journal_borne_octets", "JOURNAL_BORNE : au-delà, les prédictions reçoivent 503 "
                      "(0 : pas de borne)", multiprocess_mode="max")
FILS_RELANCES = Counter(f"{PREFIXE}_fils_relances", "Fils de fond relancés après une erreur imprévue (alimentation "
                        "de la base, suivi des effacements) ; détail dans /ready", ["fil"])
for _fil in ("alimentation", "suivi_effacements"):  # séries présentes à 0 : une alerte sur leur hausse marche
    FILS_RELANCES.labels(_fil)
MODELE = Gauge(f"{PREFIXE}_modele_info", "Version du modèle servi (valeur 1)", ["version"],
               multiprocess_mode="max")


def observer_alimentation(retards: list[float], en_attente: int, journal_octets: int | None = None) -> None:
    """Appelé par le fil d'alimentation de chaque worker (``app.stockage.conservation``) après chaque paquet."""
    for retard in retards:
        RETARD_BASE.observe(retard)
    EN_ATTENTE_BASE.set(en_attente)
    if journal_octets is not None:
        JOURNAL_OCTETS.set(journal_octets)


def observer_suiveur(retards: list[tuple[float, int]], en_attente: int, journal_octets: int | None = None) -> None:
    """Appelé par le suiveur du journal (``app.stockage.suiveur``, un processus par instance) après chaque paquet
    mis en base : (retard, nombre de prédictions) par morceau du journal lu d'un coup. Autant d'observations
    que de prédictions, ajoutées d'un coup (prometheus_client n'a pas d'observation groupée : ses compteurs
    par borne, ``_buckets``, sont incrémentés comme ``Histogram.observe`` le ferait ``nombre`` fois)."""
    for retard, nombre in retards:
        RETARD_BASE._sum.inc(retard * nombre)
        for rang, borne in enumerate(RETARD_BASE._upper_bounds):
            if retard <= borne:
                RETARD_BASE._buckets[rang].inc(nombre)
                break
    EN_ATTENTE_BASE.set(en_attente)
    if journal_octets is not None:
        JOURNAL_OCTETS.set(journal_octets)


_ENFANTS: dict[tuple, object] = {}
"""Les séries étiquetées déjà rencontrées (``labels()`` vérifie et verrouille à chaque appel) : routes
(gabarits), méthodes, statuts, configurations et classes sont en nombre borné."""


def _enfant(metrique, *etiquettes):
    cle = (metrique, *etiquettes)
    enfant = _ENFANTS.get(cle)
    if enfant is None:
        enfant = _ENFANTS[cle] = metrique.labels(*etiquettes)
    return enfant


METHODES = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
STATUTS = frozenset({200, 201, 204, 206, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 408, 409, 411, 413, 414,
                     415, 422, 429, 431, 500, 501, 503})
AUTRE = "autre"
"""Étiquettes d'ensembles fermés (issue 28) : une méthode inventée ou un statut imprévu compte dans « autre ».
Avant : 100 000 méthodes inventées faisaient passer /metrics de 26 Ko à 9 Mo et un worker de 124 Mo."""


def requete_servie(route: str, methode: str, statut: int, duree: float) -> None:
    """``route`` est un gabarit de route (ensemble fermé, « <inconnue> » pour un 404)."""
    methode = methode if methode in METHODES else AUTRE
    _enfant(REQUETES, route, methode, str(statut) if statut in STATUTS else AUTRE).inc()
    _enfant(DUREES, route).observe(duree)
    if statut == 401:
        _enfant(JETONS_REFUSES, route).inc()


def compter_predictions(configurations, classes) -> None:
    """Une prédiction par couple (configuration, classe) ; un lot se compte en une fois par couple."""
    totaux: dict[tuple[str, int], int] = {}
    for couple in zip(configurations, classes):
        totaux[couple] = totaux.get(couple, 0) + 1
    for (configuration, classe), nombre in totaux.items():
        _enfant(PREDICTIONS, configuration, "reussite" if int(classe) == 1 else "echec").inc(nombre)


def exposition() -> tuple[bytes, str]:
    """Le texte Prometheus de tous les workers (mode multiprocessus) ou de ce processus."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registre = CollectorRegistry()
        multiprocess.MultiProcessCollector(registre)
        return generate_latest(registre), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

"""Le serveur gRPC : service ``Prediction``, santé standard (``grpc.health.v1.Health``) et réflexion.

Démarrage : le port écoute tout de suite, la santé dit NOT_SERVING ; le modèle est chargé et vérifié
(``app.modele.noyau``, le même que l'API HTTP), puis SERVING. SIGTERM (``docker stop``, Cloud Run) :
NOT_SERVING, plus aucun appel nouveau, les appels en cours ont ``DELAI_ARRET_S`` secondes pour finir
(``server.stop(grace)``), puis sortie 0 — avant les 10 s après lesquelles Cloud Run tue le conteneur.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from app.config import Configuration, ErreurConfiguration
from app.journalisation import configurer as configurer_journaux
from app.journalisation import signaler_arret
from app.modele.artefacts import ErreurArtefacts
from app.modele.noyau import construire_noyau
from app.rpc import prediction_pb2, prediction_pb2_grpc
from app.rpc.reflexion import activer_reflexion
from app.rpc.service import ServicePrediction

journal = logging.getLogger("prediction_etudiante")

SERVICE = prediction_pb2.DESCRIPTOR.services_by_name["Prediction"].full_name
DELAI_ARRET_S = 8.0
"""Comme ``graceful_timeout`` de gunicorn : les appels en cours finissent avant les 10 s de Cloud Run."""


def construire(config: Configuration, adresse: str) -> tuple[grpc.Server, health.HealthServicer, ServicePrediction, int]:
    """Le serveur (pas encore démarré) : service sans noyau, santé NOT_SERVING, réflexion ; et son port."""
    serveur = grpc.server(ThreadPoolExecutor(max_workers=config.fils_grpc, thread_name_prefix="grpc"),
                          options=[("grpc.so_reuseport", 0)])
    service = ServicePrediction()
    prediction_pb2_grpc.add_PredictionServicer_to_server(service, serveur)
    sante = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(sante, serveur)
    for nom in ("", SERVICE):
        sante.set(nom, health_pb2.HealthCheckResponse.NOT_SERVING)
    activer_reflexion((SERVICE, health.SERVICE_NAME), serveur)  # v1 et v1alpha
    port = serveur.add_insecure_port(adresse)
    return serveur, sante, service, port


def main(arguments: list[str] | None = None) -> int:
    configurer_journaux()  # texte en local, JSON sur Cloud Run (K_SERVICE) ou JOURNAUX_FORMAT=json
    try:
        config = Configuration.depuis_environnement()
    except ErreurConfiguration as erreur:
        signaler_arret(f"démarrage impossible : {erreur}")
        return 3
    analyseur = argparse.ArgumentParser(prog="python -m app.rpc", description="Serveur gRPC de prediction-etudiante")
    analyseur.add_argument("--adresse", default=f"{config.hote}:{config.port_grpc}",
                           help="hôte:port d'écoute (défaut $HOTE:$GRPC_PORT, HOTE=127.0.0.1 hors de l'image)")
    options = analyseur.parse_args(arguments)

    arret = threading.Event()
    for signal_ in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_, lambda *_: arret.set())
    try:
        serveur, sante, service, port = construire(config, options.adresse)
    except RuntimeError as erreur:
        signaler_arret(f"démarrage impossible : {options.adresse} ({erreur})")
        return 3
    serveur.start()
    journal.info("serveur gRPC à l'écoute sur %s (port %d), modèle en cours de chargement", options.adresse, port)
    try:
        noyau = construire_noyau(config)
    except (ErreurArtefacts, ErreurConfiguration) as erreur:
        signaler_arret(f"démarrage impossible : {erreur}")
        serveur.stop(None)
        return 3
    service.noyau = noyau
    noyau.demarrer()  # suivi des effacements des autres instances ; la base suit le journal
    for nom in ("", SERVICE):
        sante.set(nom, health_pb2.HealthCheckResponse.SERVING)
    journal.info("modèle %s chargé ; résultats conservés dans %s (%s) ; service gRPC prêt (SERVING)",
                 noyau.predicteur.version, noyau.magasin.nom, noyau.magasin.description)
    while not arret.wait(0.5):  # réveil régulier : le gestionnaire de signal s'exécute dans ce fil
        pass
    journal.info("arrêt demandé : appels en cours terminés en %.0f s au plus", DELAI_ARRET_S)
    sante.enter_graceful_shutdown()
    serveur.stop(DELAI_ARRET_S).wait()
    noyau.conservation.arreter()  # ce qui est au journal et pas encore en base y est inséré avant la sortie
    journal.info("serveur gRPC arrêté")
    return 0

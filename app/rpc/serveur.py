"""Le serveur gRPC : service ``Prediction``, santé standard (``grpc.health.v1.Health``) et réflexion.

Démarrage : le port écoute tout de suite, la santé dit NOT_SERVING ; le modèle est chargé et vérifié
(``app.modele.noyau``, le même que l'API HTTP), puis SERVING. SIGTERM (``docker stop``, Cloud Run) :
NOT_SERVING, plus aucun appel nouveau, les appels en cours ont ``DELAI_ARRET_S`` secondes pour finir
(``server.stop(grace)``), puis sortie 0 — avant les 10 s après lesquelles Cloud Run tue le conteneur.

Le gestionnaire de signal ne prend aucun verrou (``AttenteArret``) : il s'exécute dans le fil principal
entre deux instructions, y compris pendant que ce fil tient un verrou ; l'ancien ``arret.set()`` (verrou
de l'``Event``) s'y bloquait pour toujours quand deux SIGTERM se suivaient de près (issue 28).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
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
from app.rpc.service import Justificatifs, PlacesFlux, ServicePrediction

journal = logging.getLogger("prediction_etudiante")

SERVICE = prediction_pb2.DESCRIPTOR.services_by_name["Prediction"].full_name
DELAI_ARRET_S = 8.0
"""Comme ``graceful_timeout`` de gunicorn : les appels en cours finissent avant les 10 s de Cloud Run."""


SIGNAUX_ARRET = (signal.SIGTERM, signal.SIGINT)


def _ne_rien_faire(*_) -> None:
    """Gestionnaire Python des signaux d'arrêt : vide. Le réveil passe par le tube de ``set_wakeup_fd``,
    écrit par le gestionnaire C de CPython (un ``write`` d'un octet, sans verrou ni allocation)."""


class AttenteArret:
    """SIGTERM ou SIGINT réveille le fil principal par un tube (``signal.set_wakeup_fd``) : aucun
    gestionnaire de ce processus ne prend de verrou, une rafale de signaux ne peut donc pas le bloquer.
    Installée avant tout le reste : un signal reçu pendant le chargement du modèle reste dans le tube,
    ``attendre`` rend alors la main tout de suite."""

    def __init__(self) -> None:
        self._lecture, ecriture = os.pipe()
        os.set_blocking(ecriture, False)  # exigé par set_wakeup_fd : un tube plein n'arrête pas le signal
        signal.set_wakeup_fd(ecriture, warn_on_full_buffer=False)
        for signal_ in SIGNAUX_ARRET:
            signal.signal(signal_, _ne_rien_faire)

    def attendre(self) -> int:
        """Bloque jusqu'à un signal d'arrêt ; renvoie son numéro. ``os.read`` est repris après EINTR (PEP 475)."""
        while True:
            for numero in os.read(self._lecture, 512):
                if numero in SIGNAUX_ARRET:
                    return numero


def arreter(serveur: grpc.Server, sante: health.HealthServicer) -> None:
    """NOT_SERVING, plus d'appel nouveau, ``DELAI_ARRET_S`` pour ceux en cours. Les signaux suivants
    n'écrivent qu'un octet dans le tube, que plus personne ne lit ; après l'arrêt ils sont ignorés (à sa
    fin, CPython remet l'action par défaut des signaux qu'il gère : un SIGTERM tardif tuerait le processus
    avec le code -15 au lieu de 0)."""
    journal.info("arrêt demandé : appels en cours terminés en %.0f s au plus", DELAI_ARRET_S)
    sante.enter_graceful_shutdown()
    serveur.stop(DELAI_ARRET_S).wait()
    for signal_ in SIGNAUX_ARRET:
        signal.signal(signal_, signal.SIG_IGN)


def construire(config: Configuration, adresse: str) -> tuple[grpc.Server, health.HealthServicer, ServicePrediction, int]:
    """Le serveur (pas encore démarré) : service sans noyau, santé NOT_SERVING, réflexion ; et son port."""
    serveur = grpc.server(ThreadPoolExecutor(max_workers=config.fils_grpc, thread_name_prefix="grpc"),
                          options=[("grpc.so_reuseport", 0)])
    service = ServicePrediction(places=PlacesFlux(config.flux_grpc_total, config.flux_grpc_par_client),
                                inactivite_s=config.inactivite_flux_s,
                                justificatifs=Justificatifs(config.jeton_api, config.justificatifs_configures,
                                                            config.essais_jeton_max))
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

    attente = AttenteArret()
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
    noyau.lancer_suiveur()  # la base suit le journal (en réserve si gunicorn suit déjà le même journal)
    noyau.demarrer()
    for nom in ("", SERVICE):
        sante.set(nom, health_pb2.HealthCheckResponse.SERVING)
    journal.info("modèle %s chargé ; résultats conservés dans %s (%s) ; service gRPC prêt (SERVING)",
                 noyau.predicteur.version, noyau.magasin.nom, noyau.magasin.description)
    attente.attendre()
    arreter(serveur, sante)
    noyau.conservation.arreter()  # sans suiveur (journal hors fichier) : ce qui attend la base y est inséré
    noyau.arreter_instance()  # le suiveur vide le journal en base avant la sortie
    journal.info("serveur gRPC arrêté")
    return 0

"""``python -m app.lot ENTREE SORTIE`` (``make lot ENTREE=… SORTIE=…``) : chaque fichier de classe d'ENTREE
donne ``SORTIE/<nom>.resultats.csv`` et ``SORTIE/<nom>.resume.json``.

Configuration : celle de l'API (``app.config`` : modèle, journal, base, seuils), plus la part de cette tâche
(``CLOUD_RUN_TASK_INDEX`` / ``CLOUD_RUN_TASK_COUNT``). Code de sortie : 0 ; 1 si un fichier était
illisible (les autres sont écrits) ; 2 si la commande ne peut pas démarrer (configuration, ENTREE absente) ;
3 si le journal ou la base refuse les prédictions (arrêt : une relance reprend où elle en était).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from app.config import Configuration, ErreurConfiguration
from app.journalisation import configurer, signaler_arret
from app.lot.fichier import traiter
from app.lot.partage import fichiers_entree, part_de
from app.lot.progression import Progression
from app.modele.noyau import construire_noyau
from app.stockage import refus
from app.stockage.journal import ErreurJournal
from app.stockage.magasin import ErreurMagasin

journal = logging.getLogger("prediction_etudiante")
DELAI_VIDAGE_FINAL_S = 600.0
"""À la fin, attente au plus que la base ait reçu tout ce qui a été journalisé (sinon la prochaine
réconciliation l'y mettra : le journal est le point de durabilité)."""


def main(arguments: list[str] | None = None) -> int:
    analyseur = argparse.ArgumentParser(
        prog="python -m app.lot", description="Note chaque fichier de classe d'ENTREE : SORTIE/<nom>.resultats.csv et "
        "SORTIE/<nom>.resume.json. Tâche d'un job : CLOUD_RUN_TASK_INDEX et CLOUD_RUN_TASK_COUNT.",
        epilog="Codes de sortie : 0 tout lu, 1 un fichier illisible (les autres écrits), 2 démarrage impossible, "
        "3 journal ou base indisponible (relancez : les fichiers complets sont sautés).")
    analyseur.add_argument("entree", type=Path, help="dossier de fichiers CSV de classes (ou un fichier)")
    analyseur.add_argument("sortie", type=Path, help="dossier des résultats (créé s'il manque)")
    options = analyseur.parse_args(arguments)
    try:
        config = Configuration.depuis_environnement()
    except ErreurConfiguration as erreur:
        signaler_arret(f"configuration invalide : {erreur}")
        return 2
    en_json = bool(config.job_cloud_run) or not sys.stderr.isatty()
    configurer(config.journaux_json or en_json)
    logging.getLogger("prediction_etudiante").setLevel(logging.WARNING)  # l'avancement dit le reste
    try:
        tous = fichiers_entree(options.entree)
    except FileNotFoundError as erreur:
        signaler_arret(str(erreur))
        return 2
    mes_fichiers = part_de(tous, config.tache_index, config.tache_nombre)
    options.sortie.mkdir(parents=True, exist_ok=True)
    try:
        noyau = construire_noyau(config)  # réconcilie le journal d'un passage interrompu avant de commencer
    except (ErreurJournal, ErreurMagasin) as erreur:
        signaler_arret(refus.message_indisponible(erreur, "aucun fichier n'a été lu, relancez plus tard"))
        return 3
    # Le fil d'alimentation de la base seul : pas d'écoute des effacements (une connexion de plus par tâche,
    # comptée contre la limite de Cloud SQL) ; une insertion lit le registre des effacements de toute façon.
    noyau.conservation.demarrer()
    progression = Progression(len(mes_fichiers), config.tache_index, config.tache_nombre, en_json)
    try:
        for chemin in mes_fichiers:
            progression.fichier(traiter(chemin, options.sortie, noyau))
    except (ErreurJournal, ErreurMagasin) as erreur:  # rien ne garderait les prédictions suivantes
        noyau.conservation.arreter()  # ce qui est au journal ira en base à la prochaine réconciliation
        consequence = f"arrêt après {progression.fichiers} fichier(s), relancez : les fichiers complets seront sautés"
        signaler_arret(refus.message_indisponible(erreur, consequence))
        return 3
    noyau.conservation.vider(DELAI_VIDAGE_FINAL_S)
    noyau.conservation.arreter()
    resume = progression.fin()
    return 1 if resume["illisibles"] else 0

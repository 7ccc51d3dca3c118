"""Le noyau commun aux deux points d'entrée (API HTTP ``app.web``, serveur gRPC ``app.rpc``) : modèle
vérifié et chargé une fois, prédicteur, journal des requêtes, magasin des résultats et conservation
groupée. Mêmes objets, mêmes enregistrements, quel que soit le canal."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from app.config import Configuration, ErreurConfiguration
from app.modele import artefacts
from app.modele.artefacts import Artefacts
from app.modele.compile.chargement import compiles_pour
from app.modele.predicteur import Predicteur
from app.stockage.conservation import DELAI_RECONCILIATION_SORTIE_S, Conservation
from app.stockage.effacements import SuiviEffacements
from app.stockage.enregistrement import definir_sel
from app.stockage.etat_suiveur import EtatSuiveur
from app.stockage.journal import ErreurJournal, JournalRequetes
from app.stockage.magasin import ErreurMagasin, ErreurSelEffacement, MagasinResultats
from app.stockage.suiveur import DELAI_VIDAGE_ARRET_S, Superviseur

journal = logging.getLogger("prediction_etudiante")


@dataclass
class Noyau:
    artefacts: Artefacts
    predicteur: Predicteur
    journal: JournalRequetes
    magasin: MagasinResultats
    conservation: Conservation
    suivi: SuiviEffacements
    """Applique au journal de ce processus les effacements reçus par d'autres instances (``demarrer``
    après le fork : gunicorn.conf.py, post_worker_init ; app.main ; app.rpc)."""

    superviseur: Superviseur | None = None
    """Le suiveur du journal de l'instance (``lancer_suiveur``) : il alimente la base et suit les effacements
    des autres instances ; les workers n'ont alors plus de fil de fond."""

    def lancer_suiveur(self, module: str = "app.stockage.suiveur", en_place=None, apres_fork=None) -> bool:
        """Dans le processus qui lance l'instance (maître gunicorn avant le fork des workers, ``app.main``,
        ``app.rpc``) : le suiveur du journal, relancé s'il meurt. Journal hors fichier : rien à suivre, les
        workers gardent leur fil d'alimentation (et la réponse attend la base). ``en_place(noyau, ordres,
        compte_rendu)`` : le suiveur de ce noyau, lancé par un fork de ce processus (maître gunicorn, avant
        tout fil ; ``Superviseur.demarrer``)."""
        if not self.journal.vers_fichier or self.superviseur is not None:
            return False
        try:
            etat = EtatSuiveur.de(self.journal)
        except OSError as erreur:
            journal.warning("suiveur du journal impossible (%s) : chaque processus alimente la base", erreur.strerror)
            return False
        self.superviseur = Superviseur(module)
        self.superviseur.demarrer(None if en_place is None else (lambda o, r: en_place(self, o, r)), apres_fork,
                                  etat if en_place is not None else None)
        self.conservation.servie_par(etat)
        return True

    def demarrer(self) -> None:
        """Les fils de fond de ce processus, après le fork (un fil ne le traverse pas) : sans suiveur, suivi des
        effacements reçus par d'autres instances et alimentation de la base derrière les réponses."""
        if self.superviseur is not None:
            self.superviseur.oublier()  # dans un worker : les tubes du suiveur restent au maître
            return
        self.suivi.demarrer()
        self.conservation.demarrer()

    def arreter_instance(self) -> None:
        """À l'arrêt de l'instance (après ses workers) : le suiveur vide le journal en base ; s'il est absent,
        le journal actif et les segments non confirmés sont réconciliés d'ici ; 1,5 s au plus en tout."""
        debut = time.monotonic()
        if self.superviseur is not None and self.superviseur.arreter(DELAI_VIDAGE_ARRET_S):
            journal.info("arrêt : le suiveur a mis en base tout le journal en %.2f s", time.monotonic() - debut)
            return
        reste = DELAI_RECONCILIATION_SORTIE_S - (time.monotonic() - debut)
        if reste > 0.2:
            self.conservation.reconcilier_a_l_arret(reste)


def construire_noyau(config: Configuration) -> Noyau:
    """Charge et vérifie le modèle (sha256), lit le modèle compilé (sans scikit-learn si le cache est
    valide), prépare le schéma de la base (colonnes manquantes comprises) puis ferme ses connexions."""
    charges = artefacts.charger(modele=config.chemin_modele, variables=config.chemin_variables,
                                fiche=config.chemin_fiche, differe=True, empreintes=config.empreintes)
    compiles = compiles_pour(charges, config.chemin_compile)
    definir_sel(config.sel_effacement)  # avant toute empreinte (registre, index des segments, migration)
    if not config.sel_effacement:
        journal.warning("EFFACEMENT_SEL absent : empreintes du registre des effacements sans clé (acceptable en "
                        "local seulement ; exigé sur Cloud Run)")
    magasin = MagasinResultats(config.url_base, connexions=config.fils)
    try:  # schéma créé s'il manque, registre migré vers le sel ; connexions fermées avant le fork de gunicorn
        magasin.preparer()
    except ErreurSelEffacement as erreur:
        raise ErreurConfiguration(str(erreur)) from None
    registre = JournalRequetes.depuis_configuration(config)
    suivi = SuiviEffacements(magasin, registre)
    conservation = Conservation(magasin, registre, config.retention_jours)
    try:  # avant de servir : les effacements reçus par d'autres instances pendant notre absence
        suivi.rattraper()
    except (ErreurMagasin, ErreurJournal) as erreur:
        journal.warning("registre des effacements non appliqué au démarrage (%s) : il le sera dès que possible",
                        erreur)
    try:  # avant de servir (et donc avant que /ready réponde 200) : chaque ligne du journal est en base
        # Le journal actif et les segments que l'index ne dit pas confirmés dans cette base, seulement : le
        # démarrage ne grandit pas avec le journal (issue 26) ; tout le journal : make reconcilier.
        bilan = conservation.reconcilier()
        journal.info("réconciliation : %d ligne(s) du journal lues (journal actif et segments non confirmés ; "
                     "%d segment(s) confirmé(s) dans cette base non relus), %d insérée(s) en base, %d illisible(s), "
                     "en %.2f s", bilan.lignes, bilan.sautes, bilan.inserees, bilan.illisibles, bilan.duree_s)
    except (ErreurMagasin, ErreurJournal) as erreur:
        conservation.reconciliation_due = True  # le fil d'alimentation de chaque processus la refera
        journal.warning("réconciliation du journal impossible au démarrage (%s) : elle sera refaite dès que la "
                        "base répondra", erreur)
    finally:
        magasin.moteur.dispose()  # aucune connexion ouverte ne doit traverser le fork de gunicorn
    return Noyau(artefacts=charges, predicteur=Predicteur(charges, config.seuils_forces, compiles),
                 journal=registre, magasin=magasin, conservation=conservation, suivi=suivi)

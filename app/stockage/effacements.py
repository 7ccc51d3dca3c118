"""Un effacement atteint le journal de chaque instance, pas seulement celle qui l'a reçu.

Le registre des effacements (table ``effacements`` de la base partagée) garde l'empreinte (sha256)
de chaque user_id effacé, jamais le user_id. Chaque instance l'applique à son propre journal :
- au démarrage, avant de servir : tout le registre (une instance arrêtée pendant un effacement
  l'applique en revenant) ;
- ensuite, en continu : un fil par worker écoute le canal PostgreSQL (``LISTEN``, réveil au commit
  de l'effacement) et relit le registre au moins toutes les ``PERIODE_S`` secondes (si une
  notification se perd, ou si la base a redémarré).
Avec SQLite, la base n'est qu'à une instance : rien à suivre en continu ; mais le registre entier est
appliqué au démarrage, comme avec PostgreSQL : un effacement fait en base sur un disque plein, dont le journal
n'a pas pu être réécrit, l'est au démarrage suivant (issue 28).
"""

from __future__ import annotations

import logging
import threading

from app.stockage import fils
from app.stockage.journal import ErreurJournal, JournalRequetes
from app.stockage.magasin import ErreurMagasin, MagasinResultats

journal = logging.getLogger("prediction_etudiante")

PERIODE_S = 5.0


class SuiviEffacements:
    def __init__(self, magasin: MagasinResultats, registre: JournalRequetes):
        self.magasin = magasin
        self.registre = registre
        self.dernier = 0
        self._verrou = threading.Lock()
        self._arret = threading.Event()
        self._fil: threading.Thread | None = None

    @property
    def utile(self) -> bool:
        """Un registre à appliquer à un journal en fichier (au démarrage, quelle que soit la base)."""
        return self.registre.vers_fichier

    @property
    def a_suivre(self) -> bool:
        """D'autres instances effacent dans la même base : le fil d'écoute (PostgreSQL seulement)."""
        return self.magasin.moteur_sql == "postgresql" and self.registre.vers_fichier

    def rattraper(self) -> int:
        """Applique au journal les effacements inscrits depuis la dernière fois ; renvoie les lignes retirées."""
        if not self.utile:
            return 0
        with self._verrou:
            empreintes, dernier = self.magasin.effacements_depuis(self.dernier)
            retirees = 0
            if empreintes:
                # Les lignes antérieures à l'effacement seulement : une prédiction servie après lui (même
                # utilisateur) n'est pas effacée (app.stockage.conservation : instant pris sous le verrou).
                # Le journal actif est lu (sans retenir les écrivains) ; des segments scellés, seuls ceux que
                # l'index désigne.
                # Sans motif : chaque user_id est trouvé en C et comparé par son empreinte (mise en cache).
                retirees = len(self.registre.effacer(empreintes))
                if retirees:
                    journal.info("effacements d'autres instances appliqués : %d ligne(s) retirée(s) du journal", retirees)
            self.dernier = dernier
            return retirees

    def demarrer(self) -> None:
        """Lance le fil d'écoute de ce processus (après le fork de gunicorn : un fil ne le traverse pas)."""
        if not self.a_suivre or (self._fil is not None and self._fil.is_alive()):
            return
        self._arret.clear()
        self._fil = threading.Thread(target=fils.relancer_toujours, name="suivi-effacements", daemon=True,
                                     args=("suivi_effacements", self._ecouter, self._arret))
        self._fil.start()

    def arreter(self) -> None:
        self._arret.set()

    def _ecouter(self) -> None:
        connexion = None
        while not self._arret.is_set():
            try:
                if connexion is None:
                    connexion = self.magasin.connexion_ecoute()
                    self.rattraper()  # ce qui a pu être inscrit pendant qu'on n'écoutait pas
                for _ in connexion.notifies(timeout=PERIODE_S, stop_after=1):
                    pass
                self.rattraper()
            except (ErreurMagasin, ErreurJournal, OSError, self.magasin.dbapi_erreur) as erreur:
                journal.warning("suivi des effacements interrompu (%s) : nouvel essai dans %.0f s",
                                type(erreur).__name__, PERIODE_S)
                if connexion is not None:
                    try:
                        connexion.close()
                    except Exception:  # noqa: BLE001 - connexion déjà perdue
                        pass
                connexion = None
                self._arret.wait(PERIODE_S)

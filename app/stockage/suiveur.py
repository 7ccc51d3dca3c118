"""Le suiveur du journal : un processus par instance (par journal) fait tout ce qui suit l'écriture.

Les workers ne font qu'ajouter leurs lignes au journal (``Conservation.conserver``) ; le suiveur :
- lit le journal actif à la suite (inode et position ; à un scellement, un renommage fait sous le verrou
  des écrivains, il finit l'ancien inode avant de passer au nouveau fichier) ;
- insère les lignes nouvelles en base par paquets (``inserer_nouveaux`` : idempotent, registre des
  effacements lu, un élève effacé ne revient jamais) ; fsync du journal selon ``JOURNAL_FSYNC`` ;
- note confirmé dans l'index chaque segment qu'il a lu en entier et mis en base (sans le relire ; retiré
  du disque avec ``JOURNAL_BORNE``) ; les segments qu'il n'a pas lus lui-même (suiveur tué, segment réécrit
  par un effacement) sont réconciliés par ``Conservation.confirmer_segments`` ;
- purge la rétention, applique au journal les effacements des autres instances (une fois par instance,
  pas une fois par worker) et ceux restés dus (disque plein) ;
- publie où il en est dans ``<journal>.segments/.suiveur.etat`` (une page partagée en mémoire,
  ``EtatSuiveur``) : ``/ready``, ``/metrics`` et les lectures (``Conservation.lire``) la lisent sans
  appel système.

Un seul suiveur actif par journal : il tient le verrou ``.suiveur`` du dossier des segments ; un second
(``python -m app.rpc`` sur le même journal que gunicorn) attend en réserve et prend la suite si le
premier meurt. Tué (kill -9), il ne perd rien : le journal est le point de durabilité, et le suivant
reprend à la position publiée (page persistée sur le disque), ou réconcilie la partie non confirmée.

Lancé par ``Superviseur`` (maître gunicorn, ``app.main``, ``app.rpc``) : relancé s'il meurt (fin du
tube qu'il tient, pas ``waitpid`` : gunicorn récolte tous ses fils), averti à l'arrêt (il vide ce qui
reste en ``DELAI_VIDAGE_ARRET_S`` au plus), et il s'arrête seul si son lanceur disparaît.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import errno
import fcntl
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.stockage.conservation import Conservation
from app.stockage.effacements import SuiviEffacements
from app.stockage.enregistrement import empreinte_utilisateur, relire_ligne
from app.stockage.etat_suiveur import NOM_VERROU, EtatSuiveur, creer_dossier, position_du_journal
from app.stockage.journal import TETE_PREFIXE, ErreurJournal, JournalRequetes, PrefixeActif
from app.stockage.magasin import ErreurMagasin, MagasinResultats
from app.stockage.segments import CLE_HORODATAGE, USER_ID, valeur

journal = logging.getLogger("prediction_etudiante")

LOT_MAX = 2000
"""Enregistrements insérés au plus par transaction."""
PERIODE_LOT_S = 0.1
"""Un paquet attend au plus ce temps d'autres lignes (moins de transactions, moins de CPU par prédiction) ;
une lecture qui attend (``EtatSuiveur.presser``) ou l'arrêt l'envoie tout de suite."""
ATTENTE_S = 0.01
"""Sommeil quand rien n'est neuf au journal (une lecture ``pread`` et un ``stat`` par réveil) ; un lecteur
qui attend le réveille tout de suite."""
BLOC_LECTURE = 4 << 20
EMPREINTES_GARDEES = 200_000
"""Empreintes d'élèves gardées en mémoire par le suiveur (≈ 30 Mo au plus), vidées au-delà."""
PAUSE_MIN_S, PAUSE_MAX_S = 0.1, 5.0
"""Délais entre deux essais quand la base refuse (doublé à chaque échec)."""
PERIODE_EFFACEMENTS_S = 5.0
"""Registre des effacements relu au moins à cette période (effacements dus au journal, SQLite compris)."""
PERIODE_CONFIRMATION_S = 1.0
PERIODE_IDENTITE_S = 5.0
"""L'identité de la base (``MagasinResultats.identite``), notée avec chaque confirmation, est relue au plus à cette
période, pas à chaque segment : une restauration la change, et une confirmation faite d'ici là pour l'ancienne
ne vaut pour aucune base (l'index est accordé à la nouvelle au prochain démarrage : tout y est réconcilié)."""
PERIODE_RETENTION_S = 3600.0
DELAI_VIDAGE_ARRET_S = 1.3
"""À l'arrêt de l'instance (maître gunicorn, après ses workers) : 8 s + 1,5 s sous les 10 s de Cloud Run."""
PAUSE_RELANCE_S = 1.0
ATTENTE_LANCEMENT_S = 5.0
"""Le maître gunicorn attend au plus ce temps que le suiveur tienne son verrou avant de lancer ses workers."""


def _instant_moyen(premiere: bytes, derniere: bytes) -> float:
    """L'instant d'écriture moyen (époque, s) d'un morceau du journal, d'après l'horodatage de sa première et de
    sa dernière ligne (deux lignes décodées, pas toutes) ; maintenant si elles ne se lisent pas."""
    try:
        return (dt.datetime.fromisoformat(valeur(premiere, CLE_HORODATAGE)).timestamp()
                + dt.datetime.fromisoformat(valeur(derniere, CLE_HORODATAGE)).timestamp()) / 2
    except ValueError:
        return time.time()


def _inode(chemin: Path) -> int:
    try:
        return os.stat(chemin).st_ino
    except FileNotFoundError:
        return 0


def _signature(descripteur: int | None, octets: int) -> int:
    """Avec l'inode, l'identité du fichier lu jusqu'à ``octets`` (un inode libéré peut être redonné à un autre
    journal, après une restauration ; un fichier peut être vidé puis réécrit) : l'empreinte de son début, celle
    de ``PrefixeActif``, réduite à 64 bits pour la page d'état ; 0 si rien n'est lu."""
    if descripteur is None or not octets:
        return 0
    return PrefixeActif.de(descripteur, octets).signature


def _rang_d_inode(segments: list[Path], inode: int) -> int | None:
    """Le rang du segment d'inode ``inode`` dans ``segments``, cherché en partant des plus récents (c'est là
    qu'est le fichier que le suiveur lisait) ; None s'il n'y est plus (réécrit par un effacement, retiré)."""
    if not inode:
        return None
    for rang in range(len(segments) - 1, -1, -1):
        if _inode(segments[rang]) == inode:
            return rang
    return None


# --- le suiveur -------------------------------------------------------------------------------------


class Suiveur:
    """La boucle du suiveur actif (voir le module)."""

    def __init__(self, magasin: MagasinResultats, registre: JournalRequetes, retention_jours: int = 0,
                 observateur: Callable[[list[tuple[float, int]], int, int | None], None] | None = None):
        self.magasin = magasin
        self.registre = registre
        self.conservation = Conservation(magasin, registre, retention_jours)
        self.suivi = SuiviEffacements(magasin, registre)
        self.observateur = observateur
        """Appelé après chaque paquet avec ([(retard, prédictions)] par morceau lu, en attente, octets du journal)."""
        self.etat = EtatSuiveur.de(registre)
        self.arret = threading.Event()
        self.vidage_echeance: float | None = None
        self._fichier: int | None = None  # descripteur du fichier lu
        self._inode = 0
        self._signature = 0
        self._signee = 0  # octets du début du fichier couverts par ``_signature``
        self._lue = 0  # position après la dernière ligne entière lue
        self._stockee = 0
        self._lot: list[bytes] = []  # lignes du journal telles quelles
        self._utilisateurs: set[bytes] = set()
        self._morceaux: list[tuple[float, int]] = []  # (instant d'écriture moyen, lignes) par lecture du journal
        self._empreintes: dict[bytes, str] = {}
        self._debut_lot = 0.0
        self._a_lire: list[Path] = []  # segments scellés à lire en entier avant le journal actif
        self._actif_suivant: int | None = None  # le journal actif, ouvert avant de lister ces segments
        self._synchronisee = 0
        self._dernier_fsync = time.monotonic()
        self._reveil = None
        self._presse_recu = False
        self._pause = 0.0
        self._en_retard_depuis = 0.0
        self._prochaine_confirmation = 0.0
        self._prochains_effacements = 0.0
        self._prochaine_retention = time.monotonic() + 60
        self._stockees = 0
        self._taille_moyenne = 740.0
        self._prochaine_taille, self._taille = 0.0, 0
        self.illisibles = 0
        self._erreur_lecture = 0
        self._identite: str | None = None
        self._identite_relue = 0.0

    # --- position ------------------------------------------------------------------------------------

    def reprendre(self) -> None:
        """Au démarrage : reprend à la position publiée par le suiveur précédent si son fichier est là (journal
        actif, ou segment scellé depuis : lu en entier, puis ceux scellés après lui) ; sinon, les segments
        scellés pas encore confirmés en base, lus en entier, puis le journal actif depuis le début (insertion
        idempotente). Le journal actif est ouvert avant de lister les segments : un scellement pendant ce
        temps ne fait rien perdre. Quand le suiveur lit le journal actif, tout ce qui le précède est en base."""
        publie = self.etat.lire()
        try:
            actif = os.open(self.registre.chemin, os.O_RDONLY)
        except FileNotFoundError:
            actif = None
        inode_actif = os.fstat(actif).st_ino if actif is not None else 0
        if publie["inode"] and publie["inode"] == inode_actif:
            self._adopter(actif, publie["stockee"], publie["signature"])
            self._publier()
            return
        segments = self.registre.segments.lister()
        suivants: list[Path] = []
        position = signature = 0
        rang = _rang_d_inode(segments, publie["inode"])
        if rang is not None:
            suivants, position, signature = segments[rang:], publie["stockee"], publie["signature"]
        if not suivants:
            try:
                confirmes = self.registre.segments_confirmes()
            except ErreurJournal:
                confirmes = {chemin.name for chemin in segments}  # index illisible : la réconciliation de secours
            suivants = [chemin for chemin in segments if chemin.name not in confirmes]
            self._prochaine_confirmation = 0.0
        suivants = [chemin for chemin in suivants if _inode(chemin) not in (0, inode_actif)]
        if suivants:
            self._a_lire, self._actif_suivant = suivants[1:], actif
            self._ouvrir(suivants[0], position, signature)
        else:
            self._adopter(actif)
        self._publier()

    def _ouvrir(self, chemin: Path, position: int, signature: int = 0) -> bool:
        try:
            descripteur = os.open(chemin, os.O_RDONLY)
        except FileNotFoundError:
            descripteur = None
        return self._adopter(descripteur, position, signature)

    def _adopter(self, descripteur: int | None, position: int = 0, signature: int = 0) -> bool:
        """Lit désormais ``descripteur`` (déjà ouvert), à partir de ``position`` si le fichier est le même ; publié
        aussitôt (un lecteur qui attend le passage au nouveau fichier n'attend pas la prochaine ligne)."""
        self._fermer()
        self._fichier = descripteur
        if descripteur is None:
            self._inode = self._lue = self._stockee = self._signature = self._signee = 0
            self._publier()
            return False
        etat = os.fstat(self._fichier)
        self._inode = etat.st_ino
        self._lue = self._stockee = self._synchronisee = position if position <= etat.st_size else 0
        if self._lue and (_signature(self._fichier, self._lue) != signature
                          or os.pread(self._fichier, 1, self._lue - 1) != b"\n"):
            # Un autre fichier sous le même inode, ou une position hors fin de ligne : tout relire (idempotent).
            self._lue = self._stockee = self._synchronisee = 0
        self._signer()
        self._publier()
        return True

    def _signer(self) -> None:
        """La signature publiée avec la position stockée (``_signature``) : recalculée tant que la position
        n'a pas dépassé ``TETE_PREFIXE`` octets, fixe ensuite (le début du fichier ne change plus)."""
        self._signature = _signature(self._fichier, self._stockee)
        self._signee = min(self._stockee, TETE_PREFIXE)

    def _fermer(self) -> None:
        if self._fichier is not None:
            with contextlib.suppress(OSError):
                os.close(self._fichier)
            self._fichier = None

    def _lire(self) -> int:
        """Les lignes entières nouvelles du fichier lu, ajoutées au paquet ; renvoie les octets consommés."""
        if self._fichier is None or len(self._lot) >= LOT_MAX:
            return 0
        try:
            morceau = os.pread(self._fichier, BLOC_LECTURE, self._lue)
        except OSError as erreur:  # journal illisible (un dossier à sa place, disque en panne) : nouvel essai
            if erreur.errno != self._erreur_lecture:
                journal.warning("suiveur du journal : journal illisible (%s)", erreur.strerror)
                self._erreur_lecture = erreur.errno
            return 0
        self._erreur_lecture = 0
        fin = morceau.rfind(b"\n") + 1
        if not fin:
            return 0  # rien, ou une ligne en cours d'écriture
        bloc = morceau[:fin]
        lignes = bloc.split(b"\n")
        lignes.pop()  # après la dernière fin de ligne
        if b"" in lignes:
            lignes = [ligne for ligne in lignes if ligne]
        if lignes:
            if not self._lot:
                self._debut_lot = time.monotonic()
            self._lot += lignes
            self._utilisateurs.update(USER_ID.findall(bloc))  # le registre des effacements est lu pour eux
            self._morceaux.append((_instant_moyen(lignes[0], lignes[-1]), len(lignes)))
            self._taille_moyenne = fin / len(lignes)
        self._lue += fin
        return fin

    def _fichier_suivant(self) -> bool:
        """Le fichier lu est fini (tout en base) : passe au suivant s'il a été scellé ; vrai si c'est fait.
        Plusieurs scellements ont pu se suivre depuis le dernier passage : les segments scellés après celui
        qu'on vient de finir sont lus en entier, dans l'ordre, avant le journal actif (ouvert avant de lister
        le dossier : un scellement de plus pendant ce temps ne le fait pas perdre)."""
        if self._a_lire:
            self._confirmer_lu()
            self._ouvrir(self._a_lire.pop(0), 0)
            return True
        if self._actif_suivant is not None:
            self._confirmer_lu()
            descripteur, self._actif_suivant = self._actif_suivant, None
            self._adopter(descripteur)
            return True
        inode_actif, _ = position_du_journal(self.registre.chemin)
        if inode_actif == self._inode or (inode_actif == 0 and self._fichier is None):
            return False
        if self._fichier is not None:
            # Scellé (renommé sous le verrou des écrivains) : plus personne n'y écrit ; ce qui reste est lu d'abord.
            if self._lire():
                return True
            self._confirmer_lu()
        fini = self._inode
        try:
            actif = os.open(self.registre.chemin, os.O_RDONLY)
        except FileNotFoundError:
            actif = None
        inode_actif = os.fstat(actif).st_ino if actif is not None else 0
        self._a_lire = self._scelles_apres(fini, inode_actif) if fini else []
        if self._a_lire:
            self._actif_suivant = actif
            self._ouvrir(self._a_lire.pop(0), 0)
        else:
            self._adopter(actif)
        return True

    def _scelles_apres(self, inode: int, inode_actif: int) -> list[Path]:
        """Les segments scellés après celui d'inode ``inode`` (retrouvé en partant des plus récents), sauf le
        journal actif d'``inode_actif`` ; introuvable (réécrit par un effacement) : aucun, et la réconciliation
        de secours des segments non confirmés passe tout de suite."""
        segments = self.registre.segments.lister()
        rang = _rang_d_inode(segments, inode)
        if rang is not None:
            return [chemin for chemin in segments[rang + 1:] if _inode(chemin) not in (0, inode_actif)]
        self._prochaine_confirmation = 0.0
        return []

    def _confirmer_lu(self) -> None:
        """Le segment scellé qu'on vient de finir est en base : noté confirmé (ou retiré avec une borne),
        sans le relire. Retrouvé par son inode ; réécrit entre-temps (effacement), il ne l'est plus : la
        réconciliation de secours le confirmera."""
        segments = self.registre.segments.lister()
        rang = _rang_d_inode(segments, self._inode)
        if rang is None:
            return
        try:
            identite = self._identite_base()  # confirmé dans cette base (issue 26, démarrage)
            self.registre.segments_confirmes(identite=identite)  # indexé d'abord : ligne connue
            self.registre.confirmer([segments[rang]], identite)
        except (ErreurJournal, ErreurMagasin) as erreur:
            journal.warning("suiveur du journal : segment non confirmé (%s)", type(erreur).__name__)

    def _identite_base(self) -> str:
        """``MagasinResultats.identite``, relue au plus toutes les ``PERIODE_IDENTITE_S`` secondes."""
        maintenant = time.monotonic()
        if self._identite is None or maintenant >= self._identite_relue:
            self._identite = self.magasin.identite()
            self._identite_relue = maintenant + PERIODE_IDENTITE_S
        return self._identite

    def _noter_prefixe(self) -> None:
        """Le début du journal actif déjà en base, noté dans l'index (``PrefixeActif``) : le démarrage suivant
        ne le relit pas (issue 26 : /ready ne grandit pas avec le journal)."""
        if self._fichier is None or not self._stockee or self._a_lire or self._actif_suivant is not None:
            return
        if position_du_journal(self.registre.chemin)[0] != self._inode:
            return
        try:
            self.registre.confirmer([], self._identite_base(), PrefixeActif.de(self._fichier, self._stockee))
        except (ErreurJournal, ErreurMagasin) as erreur:
            journal.warning("suiveur du journal : début du journal actif non noté (%s)", type(erreur).__name__)

    # --- base ---------------------------------------------------------------------------------------

    def _envoyer(self) -> bool:
        """Insère le paquet ; faux si la base refuse (le paquet est gardé, nouvel essai plus tard)."""
        try:
            self._inserer()
        except Exception as erreur:  # noqa: BLE001 - base injoignable (ErreurMagasin) ou imprévu
            message = str(erreur) if isinstance(erreur, ErreurMagasin) else type(erreur).__name__
            if not isinstance(erreur, ErreurMagasin):
                journal.exception("suiveur du journal : erreur imprévue à l'insertion")
            self._pause = min(max(self._pause * 2, PAUSE_MIN_S), PAUSE_MAX_S)
            if not self._en_retard_depuis:
                self._en_retard_depuis = time.monotonic()
            journal.warning("base des résultats en retard : %d prédiction(s) journalisée(s) en attente ; nouvel "
                            "essai dans %.1f s", self._en_attente(), self._pause)
            self.etat.publier(erreur=message)
            self._publier()
            return False
        fin = time.monotonic()
        retard = fin - self._debut_lot
        self._stockees += len(self._lot)
        retards = [(max(0.0, time.time() - instant), nombre) for instant, nombre in self._morceaux]
        self._lot = []
        self._utilisateurs = set()
        self._morceaux = []
        self._stockee = self._lue
        if self._signee < TETE_PREFIXE and self._stockee > self._signee:
            self._signer()
        self._pause = 0.0
        if self._en_retard_depuis:
            journal.info("base des résultats rattrapée après %.1f s de retard ; %d en attente",
                         fin - self._en_retard_depuis, self._en_attente())
            self._en_retard_depuis = 0.0
            self.etat.publier(erreur="")
        self._publier(retard)
        if self.observateur is not None:
            try:
                self.observateur(retards, self._en_attente(), self._taille_journal())
            except Exception:  # noqa: BLE001 - une métrique ne doit jamais arrêter le suiveur
                journal.exception("métriques du suiveur")
        return True

    def _inserer(self) -> None:
        """Les lignes telles quelles, lues par la base (``inserer_lignes`` : ni décodage ni objet Python par
        ligne) ; un utilisateur du paquet au registre des effacements, ou une ligne que la base refuse (début
        de ligne d'un worker tué) : décodées ici, puis ``inserer_nouveaux`` (instants comparés, illisibles
        sautées)."""
        try:
            if self.magasin.inserer_lignes(self._lot, self._empreintes_du_lot()):
                return
        except ErreurMagasin:
            pass  # base refusée : le chemin décodé le redira, ou insère ce qui se lit
        enregistrements = [e for e in map(relire_ligne, self._lot) if e is not None]
        illisibles = len(self._lot) - len(enregistrements)
        if illisibles:
            self.illisibles += illisibles
            journal.warning("suiveur du journal : %d ligne(s) illisible(s) sautée(s)", illisibles)
        if enregistrements:
            self.magasin.inserer_nouveaux(enregistrements)

    def _empreintes_du_lot(self) -> set[str]:
        """Les empreintes (HMAC) des élèves du paquet, gardées d'un paquet à l'autre (un élève revient)."""
        connues = self._empreintes
        if len(connues) > EMPREINTES_GARDEES:
            connues.clear()
        manquantes = self._utilisateurs.difference(connues)
        for user_id in manquantes:
            connues[user_id] = empreinte_utilisateur(user_id.decode("ascii"))
        return {connues[user_id] for user_id in self._utilisateurs}

    def _en_attente(self) -> int:
        """Prédictions journalisées pas encore en base : le paquet, plus le reste du fichier estimé."""
        non_lus = 0
        if self._fichier is not None:
            with contextlib.suppress(OSError):
                non_lus = max(0, os.fstat(self._fichier).st_size - self._lue)
        return len(self._lot) + int(non_lus / self._taille_moyenne)

    def _taille_journal(self) -> int | None:
        if time.monotonic() >= self._prochaine_taille:
            self._prochaine_taille = time.monotonic() + 1.0
            with contextlib.suppress(OSError):
                self._taille = self.registre.taille()
        return self._taille

    def _publier(self, retard: float | None = None) -> None:
        champs = dict(pid=os.getpid(), inode=self._inode, signature=self._signature, stockee=self._stockee, lue=self._lue,
                      stockees=self._stockees, en_attente=self._en_attente(), battement=time.monotonic(),
                      en_retard_depuis=self._en_retard_depuis, effacements_dus=int(bool(self.suivi_en_echec)),
                      reconciliation_due=self.conservation.reconciliation_due)
        if retard is not None:
            champs["retard"] = retard
        self.etat.publier(**champs)

    suivi_en_echec = False

    # --- tâches périodiques ---------------------------------------------------------------------------

    def _synchroniser(self, force: bool = False) -> None:
        """fsync du journal actif selon ``JOURNAL_FSYNC`` (les workers n'en font aucun, sauf ``toujours``)."""
        periode = self.registre.periode_fsync
        if periode is None or not periode or self._fichier is None or self._lue <= self._synchronisee:
            return
        if force or time.monotonic() - self._dernier_fsync >= periode:
            with contextlib.suppress(OSError):
                os.fsync(self._fichier)
            self._synchronisee = self._lue
            self._dernier_fsync = time.monotonic()

    def _periodiques(self) -> None:
        maintenant = time.monotonic()
        if maintenant >= self._prochains_effacements:
            self._prochains_effacements = maintenant + PERIODE_EFFACEMENTS_S
            try:
                debut = time.time()
                self.suivi.rattraper()  # effacements d'autres instances (SQLite : restés dus au journal)
                self.suivi_en_echec = False
                self.etat.publier(rattrape=debut)  # tout effacement inscrit avant ``debut`` est au journal
            except (ErreurMagasin, OSError) as erreur:  # ErreurJournal en est une
                self.suivi_en_echec = True
                journal.warning("suiveur du journal : effacements non appliqués au journal (%s) ; nouvel essai "
                                "dans %.0f s", type(erreur).__name__, PERIODE_EFFACEMENTS_S)
        if self.conservation.retention_jours and maintenant >= self._prochaine_retention:
            self._prochaine_retention = maintenant + PERIODE_RETENTION_S
            try:
                self.conservation.purger_retention()
            except (ErreurMagasin, OSError) as erreur:  # ErreurJournal en est une
                journal.warning("rétention : purge reportée (%s)", type(erreur).__name__)
        if (maintenant >= self._prochaine_confirmation and not self._lot and not self._a_lire
                and self.registre.segments.lister()):
            self._prochaine_confirmation = maintenant + PERIODE_CONFIRMATION_S
            try:
                if self.conservation.reconciliation_due:
                    self.conservation.reconcilier()
                else:  # segments que ce suiveur n'a pas lus (réécrits, ou scellés pendant son absence)
                    self.conservation.confirmer_segments()
            except (ErreurMagasin, OSError) as erreur:  # ErreurJournal en est une
                journal.warning("suiveur du journal : confirmation des segments reportée (%s)", type(erreur).__name__)
            self._noter_prefixe()

    # --- boucle ----------------------------------------------------------------------------------------

    def tourner(self) -> None:
        """Jusqu'à ``arret`` ; avec ``vidage_echeance``, tout ce qui est au journal est mis en base avant."""
        self.suivi.demarrer()  # écoute PostgreSQL des effacements des autres instances
        self.reprendre()
        self._reveil = self.etat.ecouter()
        try:
            self._boucle()
        finally:
            if self._reveil is not None:
                self._reveil.close()
        self._synchroniser(force=True)
        self._noter_prefixe()
        self.suivi.arreter()
        self._publier()

    def _boucle(self) -> None:
        while True:
            vidage = self.vidage_echeance is not None
            if vidage and time.monotonic() >= self.vidage_echeance:
                return
            if self._pause and not vidage:
                self.arret.wait(self._pause)
            neuf = self._lire()
            presse = self._presse()
            if self._lot:
                age = time.monotonic() - self._debut_lot
                if len(self._lot) >= LOT_MAX or presse or vidage or age >= PERIODE_LOT_S:
                    if not self._envoyer() and vidage:
                        return  # base absente à l'arrêt : le prochain démarrage réconciliera depuis le journal
                elif not neuf:
                    self._dormir(min(ATTENTE_S, PERIODE_LOT_S - age))  # le paquet se forme
                continue
            if neuf or self._fichier_suivant():
                continue
            if vidage or self.arret.is_set():
                return
            self._synchroniser()
            self._periodiques()
            self._dormir(ATTENTE_S)

    def _dormir(self, delai: float) -> None:
        """Sommeil interrompu par un lecteur qui attend (``EtatSuiveur.presser``)."""
        if self._reveil is None:
            self.arret.wait(delai)
        elif select.select([self._reveil], [], [], max(delai, 0))[0]:
            self._presse_recu = True

    def _presse(self) -> bool:
        presse, self._presse_recu = self._presse_recu, False
        if self._reveil is not None:
            with contextlib.suppress(OSError):
                while self._reveil.recv(64):
                    presse = True
        return presse

    def a_jour(self) -> bool:
        """Tout le journal est-il en base (rien dans le paquet, fichier lu jusqu'au bout, pas scellé depuis) ?"""
        if self._lot or self._a_lire or self._actif_suivant is not None:
            return False
        inode_actif, taille = position_du_journal(self.registre.chemin)
        return inode_actif == self._inode and taille <= self._lue

    def vider(self, delai: float = DELAI_VIDAGE_ARRET_S) -> None:
        self.vidage_echeance = time.monotonic() + delai


# --- processus : verrou d'instance, lanceur, superviseur -----------------------------------------------


def _verrou_instance(registre: JournalRequetes, ordres: int | None) -> int | None:
    """Le verrou ``.suiveur`` du dossier des segments (un suiveur actif par journal) ; en réserve, attend
    qu'il se libère, ou que le lanceur disparaisse (None)."""
    creer_dossier(registre)
    # En lecture seule : flock y suffit, et un descripteur ouvert en écriture empêcherait de remonter le disque
    # du journal en lecture seule (essai de panne).
    descripteur = os.open(registre.segments.dossier / NOM_VERROU, os.O_RDONLY | os.O_CREAT, 0o600)
    annonce = False
    while True:
        try:
            fcntl.flock(descripteur, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return descripteur
        except BlockingIOError:
            if not annonce:
                journal.info("suiveur du journal en réserve : un autre suit déjà ce journal")
                annonce = True
        if ordres is not None:
            pret, _, _ = select.select([ordres], [], [], 0.5)
            if pret:  # « v » ou fin du tube : le lanceur s'arrête
                os.close(descripteur)
                return None
        else:
            time.sleep(0.5)


def _ecouter_ordres(suiveur: Suiveur, ordres: int) -> None:
    """Le tube du lanceur : « v » (vider puis sortir) ; sa fin (lanceur mort) : vider puis sortir."""
    while True:
        try:
            donnees = os.read(ordres, 64)
        except OSError:
            donnees = b""
        if not donnees or b"v" in donnees:
            suiveur.vider()
            suiveur.arret.set()
            return


def servir(magasin: MagasinResultats, registre: JournalRequetes, retention_jours: int = 0, ordres: int | None = None,
           compte_rendu: int | None = None, observateur=None, au_depart: Callable[[int], None] | None = None) -> int:
    """Le processus suiveur : verrou d'instance (réserve tant qu'un autre le tient), puis la boucle."""
    verrou = _verrou_instance(registre, ordres)
    if verrou is None:
        return 0
    suiveur = Suiveur(magasin, registre, retention_jours, observateur)
    if au_depart is not None:
        au_depart(suiveur.etat.lire()["pid"])
    if ordres is not None:
        threading.Thread(target=_ecouter_ordres, args=(suiveur, ordres), name="ordres", daemon=True).start()
    journal.info("suiveur du journal actif (pid %d)", os.getpid())
    try:
        suiveur.tourner()
    finally:
        if compte_rendu is not None:
            with contextlib.suppress(OSError):
                os.write(compte_rendu, b"f" if suiveur.a_jour() else b"r")
        magasin.moteur.dispose()
        os.close(verrou)
    return 0


def _signaux_du_suiveur(tous: bool = False) -> None:
    """Seul son lanceur arrête le suiveur (ordre « v », ou fin du tube) : un Ctrl-C au groupe ou un SIGTERM à
    tous les processus ne doit pas l'arrêter avant les workers, qui écrivent encore pendant leur arrêt. ``tous``
    (fork du maître gunicorn) : les autres signaux que le maître gère reviennent à leur action par défaut."""
    for numero in (signal.SIGTERM, signal.SIGINT):
        signal.signal(numero, signal.SIG_IGN)
    if tous:
        for numero in (signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTTIN, signal.SIGTTOU,
                       signal.SIGWINCH, signal.SIGCHLD):
            signal.signal(numero, signal.SIG_DFL)
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)


class Superviseur:
    """Dans le processus qui sert : lance le suiveur (``python -m <module>``), le relance s'il meurt,
    lui demande de vider le journal à l'arrêt. Sa mort se voit à la fin d'un tube (jamais par ``waitpid`` :
    le maître gunicorn récolte tous ses fils) ; il est détaché (double fork) : ce n'est pas un worker."""

    def __init__(self, module: str = "app.stockage.suiveur"):
        self.module = module
        self._ordres: int | None = None  # écriture : vers le suiveur
        self._comptes_rendus: int | None = None  # lecture : depuis le suiveur
        self._pid = os.getpid()
        self._arret = threading.Event()
        self._fini = threading.Event()
        self._vide = False
        self._verrou = threading.Lock()  # les tubes : fil de surveillance contre arrêt
        self.relances = 0

    def demarrer(self, en_place: Callable[[int, int], int] | None = None,
                 apres_fork: Callable[[], None] | None = None, etat: EtatSuiveur | None = None,
                 attente_s: float = ATTENTE_LANCEMENT_S) -> None:
        """Lance le suiveur. ``en_place`` (maître gunicorn, dans ``when_ready``, avant tout fil) : par un fork de
        ce processus, sans rien réimporter (quelques millisecondes, contre une seconde pour ``python -m``) ;
        ``apres_fork`` y ferme ce que le suiveur ne doit pas garder (sockets d'écoute). Avec ``etat``, attend
        qu'un suiveur tienne le verrou d'instance (``attente_s`` au plus) : les workers, lancés ensuite, ont
        leur suiveur dès la première requête. Les relances passent par ``python -m`` (un fil ne forke pas)."""
        if en_place is None or not self._lancer_par_fork(en_place, apres_fork):
            self._lancer()
        threading.Thread(target=self._surveiller, name="superviseur-suiveur", daemon=True).start()
        fin = time.monotonic() + attente_s
        while etat is not None and not etat.present() and time.monotonic() < fin:
            time.sleep(0.005)

    def _lancer_par_fork(self, en_place: Callable[[int, int], int], apres_fork: Callable[[], None] | None) -> bool:
        ordres_lecture, ordres_ecriture = os.pipe()
        rendus_lecture, rendus_ecriture = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            for descripteur in (ordres_lecture, ordres_ecriture, rendus_lecture, rendus_ecriture):
                os.close(descripteur)
            return False
        if pid == 0:  # processus intermédiaire, puis le suiveur : jamais de retour dans le code du lanceur
            code = 1
            try:
                if os.fork():
                    os._exit(0)
                os.close(ordres_ecriture)
                os.close(rendus_lecture)
                _signaux_du_suiveur(tous=True)
                if apres_fork is not None:
                    apres_fork()
                code = en_place(ordres_lecture, rendus_ecriture)
            except BaseException:  # noqa: BLE001 - le suiveur ne doit jamais revenir dans le maître
                with contextlib.suppress(BaseException):
                    journal.exception("suiveur du journal : arrêt sur erreur imprévue")
            finally:
                os._exit(code)
        os.close(ordres_lecture)
        os.close(rendus_ecriture)
        with self._verrou:
            self._ordres, self._comptes_rendus = ordres_ecriture, rendus_lecture
        self._intermediaire = pid
        return True

    def _lancer(self) -> None:
        ordres_lecture, ordres_ecriture = os.pipe()
        rendus_lecture, rendus_ecriture = os.pipe()
        processus = subprocess.Popen(
            [sys.executable, "-m", self.module, "--ordres", str(ordres_lecture), "--compte-rendu",
             str(rendus_ecriture), "--detacher"], pass_fds=(ordres_lecture, rendus_ecriture), stdin=subprocess.DEVNULL)
        os.close(ordres_lecture)
        os.close(rendus_ecriture)
        with self._verrou:
            self._ordres, self._comptes_rendus = ordres_ecriture, rendus_lecture
        self._intermediaire = processus

    def _recolter(self) -> None:
        """Le processus intermédiaire du double fork, récolté par le fil de surveillance : le lanceur (maître
        gunicorn dans ``when_ready``) n'attend pas l'import du suiveur. Gunicorn peut l'avoir récolté avant."""
        if isinstance(self._intermediaire, subprocess.Popen):
            with contextlib.suppress(ChildProcessError, subprocess.TimeoutExpired):
                self._intermediaire.wait(30)
            return
        fin = time.monotonic() + 30
        while time.monotonic() < fin:
            try:
                if os.waitpid(self._intermediaire, os.WNOHANG)[0]:
                    return
            except ChildProcessError:
                return
            time.sleep(0.01)

    def _surveiller(self) -> None:
        self._recolter()
        while True:
            lecture = self._comptes_rendus
            try:
                donnees = os.read(lecture, 64) if lecture is not None else b""
            except OSError:
                donnees = b""
            if donnees:
                if b"f" in donnees:
                    self._vide = True
                continue
            self._fini.set()
            if self._arret.is_set() or os.getpid() != self._pid:
                return
            self.relances += 1
            journal.warning("suiveur du journal arrêté ; relancé dans %.0f s", PAUSE_RELANCE_S)
            self._fermer_les_tubes()
            if self._arret.wait(PAUSE_RELANCE_S):
                return
            self._fini.clear()
            self._lancer()
            self._recolter()

    def _fermer_les_tubes(self) -> None:
        """Ferme et oublie les bouts des tubes : un numéro de descripteur fermé peut être redonné aussitôt à un
        autre fichier (la base SQLite), où un « v » écrit plus tard par ``arreter`` la corromprait."""
        with self._verrou:
            for descripteur in (self._ordres, self._comptes_rendus):
                if descripteur is not None:
                    with contextlib.suppress(OSError):
                        os.close(descripteur)
            self._ordres = self._comptes_rendus = None

    def arreter(self, delai: float = DELAI_VIDAGE_ARRET_S) -> bool:
        """Demande au suiveur de vider le journal en base puis de sortir ; vrai s'il l'a fait dans ``delai``."""
        if os.getpid() != self._pid:
            return False
        self._arret.set()
        with self._verrou:
            if self._ordres is not None:
                with contextlib.suppress(OSError):
                    os.write(self._ordres, b"v")
        self._fini.wait(delai + 0.2)
        return self._vide

    def oublier(self) -> None:
        """Dans un worker (après le fork du maître) : ses bouts des tubes du suiveur sont fermés (la fin du
        tube des ordres doit suivre la mort du maître seul)."""
        if os.getpid() == self._pid:
            return
        self._verrou = threading.Lock()  # celui du maître a pu être pris au moment du fork
        self._fermer_les_tubes()


def main(arguments: list[str] | None = None, observateur=None, au_depart=None) -> int:
    from app.config import Configuration, ErreurConfiguration
    from app.journalisation import configurer as configurer_journaux
    from app.stockage.enregistrement import definir_sel

    analyseur = argparse.ArgumentParser(prog="python -m app.stockage.suiveur")
    analyseur.add_argument("--ordres", type=int)
    analyseur.add_argument("--compte-rendu", type=int)
    analyseur.add_argument("--detacher", action="store_true")
    options = analyseur.parse_args(arguments)
    if options.detacher and os.fork():
        os._exit(0)  # le lanceur récolte ce processus intermédiaire ; le suiveur n'est pas un fils du maître
    _signaux_du_suiveur()
    configurer_journaux()
    try:
        config = Configuration.depuis_environnement()
    except ErreurConfiguration as erreur:
        journal.error("suiveur du journal : configuration invalide (%s)", erreur)
        return 3
    definir_sel(config.sel_effacement)
    registre = JournalRequetes.depuis_configuration(config)
    if not registre.vers_fichier:
        return 0
    magasin = MagasinResultats(config.url_base, connexions=2)
    try:
        return servir(magasin, registre, config.retention_jours, options.ordres, options.compte_rendu,
                      observateur, au_depart)
    except OSError as erreur:
        if erreur.errno in (errno.EROFS, errno.ENOSPC, errno.EACCES):
            journal.error("suiveur du journal : dossier des segments inutilisable (%s)", erreur.strerror)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())

"""Journal d'abord : le journal des requêtes est le point de durabilité, la base des résultats le suit.

- ``Conservation.conserver`` : rend la main quand les lignes sont écrites au journal (un seul ``write``
  pour les requêtes simultanées de tous les fils du processus : validation groupée), fsync selon
  ``JOURNAL_FSYNC`` ; une réponse 200 n'est envoyée qu'après. Journal impossible à écrire :
  ``ErreurJournal`` (503), rien n'est confié à la base.
- Un suiveur par instance (``app.stockage.suiveur``, un processus : ``servie_par``) lit le journal à la
  suite et insère ses lignes en base ; les workers n'y font alors qu'ajouter. Sans suiveur (outils, tests,
  ``python -m app.lot``, journal hors fichier), un fil d'alimentation par processus insère ensuite ces
  enregistrements en base, par paquets,
  derrière la réponse (idempotent par request_id) ; base injoignable : il réessaie avec un délai
  croissant (0,1 s à 5 s), ``/ready`` et les journaux disent que la base est en retard, et le retard
  se résorbe quand elle revient. À l'arrêt (SIGTERM), il vide ce qui reste avant la sortie.
- ``reconcilier`` : au démarrage comme à l'arrêt (SIGTERM, maître gunicorn), le journal actif (au-delà
  du début déjà réconcilié) et les segments que l'index ne dit pas confirmés *dans cette base* : chaque ligne dont le request_id manque
  en base y est insérée (lignes d'un worker tué, d'une base tombée pendant un arrêt) ; un temps borné
  par la taille d'un segment, pas par celle du journal (issue 26). Le fil d'alimentation confirme chaque
  segment scellé (réconcilié puis noté avec l'identité de la base, ou retiré du disque avec
  ``JOURNAL_BORNE``). Tout le journal est relu si l'index ne vaut pas pour cette base (autre
  ``DATABASE_URL``, base restaurée, index perdu ou illisible), et sur demande : ``make reconcilier``.
- ``Conservation.effacer`` : l'instant de l'effacement est pris sous le verrou du journal (chaque ligne
  déjà écrite lui est antérieure, chaque ligne à venir postérieure) ; puis, sans ce verrou, dans une
  transaction validée : suppression en base et inscription au registre des effacements ; puis retrait des
  lignes du journal (``JournalRequetes.effacer`` : les seuls segments qui les contiennent) et de ce qui
  attendait la base. Disque plein (issue 28) : la base et le registre sont effacés d'abord, le journal dès
  que la place le permet (essai du fil d'alimentation, et de tout le registre au démarrage suivant :
  ``SuiviEffacements.rattraper``) ; la réponse est 503 avec Retry-After (``EffacementIncomplet``).
  Toute insertion lit le registre (``Transaction.inserer_nouveaux``) : une prédiction antérieure à
  l'effacement de son utilisateur ne revient jamais en base, ni par le fil d'alimentation d'un autre
  processus, ni par une réconciliation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass

from app.json_rapide import en_octets
from app.stockage import fils
from app.stockage.enregistrement import empreinte_utilisateur, relire_ligne
from app.stockage.etat_suiveur import EtatSuiveur, position_du_journal
from app.stockage.journal import FSYNC_TOUJOURS, ErreurJournal, JournalRequetes
from app.stockage.magasin import DoublonRequete, ErreurMagasin, MagasinResultats
from app.stockage.segments import REQUEST_ID, etendue_de_ligne

journal = logging.getLogger("prediction_etudiante")

PAQUET_RECONCILIATION = 10_000
"""request_id vérifiés en base par requête pendant une réconciliation."""
LOT_MAX = 2000
"""Enregistrements insérés au plus par transaction du fil d'alimentation."""
PERIODE_LOT_S = 0.1
"""Après un paquet, le fil d'alimentation laisse le suivant se former pendant ce temps (sauf lecture ou
effacement qui attend, ou paquet plein) : moins de transactions, donc moins de CPU par prédiction (banc de
#12 : alimentation SQLite 37-40 µs par prédiction à 20 ms, 24-25 µs à 100 ms ; retard toujours < 1 s)."""
ATTENTE_S = 0.05
"""Sommeil du fil d'alimentation quand rien n'attend (il est réveillé à chaque écriture du journal)."""
PAUSE_MIN_S, PAUSE_MAX_S = 0.1, 5.0
"""Délais entre deux essais quand la base refuse (doublé à chaque échec)."""
PERIODE_RETENTION_S = 3600.0
"""Rétention (``RETENTION_JOURS``) : purge une minute après le démarrage du processus, puis toutes les heures."""
DELAI_RECONCILIATION_SORTIE_S = 1.5
"""À SIGTERM, après les workers (``graceful_timeout`` = 8 s) : 8 + 1,5 s sous les 10 s de Cloud Run."""
DELAI_VIDAGE_S = 5.0
"""Attente au plus d'une lecture d'historique qui vide d'abord ce que ce processus n'a pas encore stocké."""
PERIODE_CONFIRMATION_S = 1.0
AGE_CONFIRMATION_S = 2.0
"""Un segment n'est confirmé qu'une fois sa dernière ligne vieille de 2 s : les fils d'alimentation l'ont
alors mis en base (retard mesuré : p99 < 0,5 s), et la confirmation ne fait que le vérifier."""
"""Le fil d'alimentation cherche au plus à cette période les segments scellés à confirmer en base."""


PERIODE_EFFACEMENTS_DUS_S = 5.0
"""Un effacement resté dû au journal (disque plein) est réessayé par le fil d'alimentation à cette période."""


class EffacementIncomplet(ErreurJournal):
    """La base et le registre sont effacés, pas encore le journal (disque plein) : 503, à redemander."""


@dataclass(frozen=True)
class Effacement:
    predictions: int
    lignes_journal: int | None  # None : le journal ne va pas dans un fichier (rien à réécrire)


@dataclass(frozen=True)
class Reconciliation:
    lignes: int
    inserees: int
    illisibles: int
    duree_s: float
    complete: bool = True
    sautes: int = 0
    """Segments scellés non relus : confirmés dans cette base par l'index."""


def _motif(cle: str, valeur: str) -> bytes:
    """L'extrait que contient toute ligne du journal où ``cle`` vaut ``valeur`` (voir ``ligne_json``)."""
    return f'"{cle}":'.encode("utf-8") + en_octets(valeur)


class _Billet:
    """Les prédictions d'une requête qui attendent l'écriture groupée du journal, et son issue."""

    __slots__ = ("enregistrements", "fini", "erreur")

    def __init__(self, enregistrements: list[dict]):
        self.enregistrements = enregistrements
        self.fini = False
        self.erreur: BaseException | None = None


class Conservation:
    """Le journal écrit avant la réponse (validation groupée entre fils), la base alimentée derrière elle."""

    def __init__(self, magasin: MagasinResultats, registre: JournalRequetes, retention_jours: int = 0):
        self.magasin = magasin
        self.registre = registre
        self.retention_jours = retention_jours
        """0 : rien n'est purgé ; sinon les lignes du journal et de la base plus vieilles que ce nombre de jours."""
        self._prochaine_retention = time.monotonic() + 60
        self._prochaine_confirmation = 0.0
        self._prochaine_taille, self._taille = 0.0, 0
        # Écriture groupée du journal : la première requête qui trouve la voie libre écrit pour toutes celles
        # arrivées pendant l'écriture précédente (meneuse) ; aucune attente quand il n'y a personne.
        self._condition = threading.Condition(threading.Lock())
        self._en_attente: list[_Billet] = []
        self._ecriture_en_cours = False
        # Alimentation de la base.
        self._file = threading.Condition(threading.Lock())
        self._a_stocker: dict[str, tuple[dict, float]] = {}  # request_id → (enregistrement, instant d'écriture)
        self._reserves: set[str] = set()  # X-Request-ID fournis en cours de vérification
        self._arret = threading.Event()
        self._presse = threading.Event()  # une lecture, un effacement ou l'arrêt attend la base
        self._fil: threading.Thread | None = None
        self._pid = 0
        self.en_retard_depuis: float | None = None
        self.derniere_erreur = ""
        self.reconciliation_due = False
        self.stockees = 0
        self.observateur = None
        """Appelé après chaque paquet avec (retards du paquet, en attente, octets du journal ou None) : les
        métriques (app.web.metriques),
        branchées par la couche web ; le stockage n'importe rien au-dessus de lui."""
        self.retards: deque[float] = deque(maxlen=200_000)
        self.suiveur: EtatSuiveur | None = None
        """L'état publié par le suiveur de l'instance quand il y en a un (``servie_par``) : ni fil
        d'alimentation ni ``_a_stocker`` dans ce processus."""
        self.effacements_dus: dict[str, str] = {}
        """empreinte → instant : effacés en base et au registre, pas encore au journal (disque plein)."""
        self._prochain_effacement_du = 0.0
        """Délais (s) entre l'écriture au journal et le commit en base, pour le banc d'essai."""

    # --- écriture au journal (avant la réponse) ---------------------------------------------------------

    def conserver(self, enregistrements: list[dict], verifier_doublons: bool = False) -> None:
        """Rend la main quand ces enregistrements sont au journal ; ``ErreurJournal`` sinon. Avec
        ``verifier_doublons`` (request_id fourni par le client), ``DoublonRequete`` si l'un d'eux est déjà
        au journal de ce processus ou en base."""
        reserves = self._reserver(enregistrements) if verifier_doublons else ()
        try:
            if self.suiveur is not None and self.registre.periode_fsync != FSYNC_TOUJOURS:
                # Ni fsync à attendre ni file à remplir : chaque fil écrit lui-même, en un passage par le verrou.
                # Grouper les fils (ci-dessous) les faisait s'attendre : des commutations de contexte en plus
                # à chaque requête (mesuré, voir le journal de projet du 8 décembre 2026).
                self.registre.ecrire(enregistrements, horodater=True)
            else:
                self._ecrire_groupe(enregistrements)
            if not self.registre.vers_fichier:
                # JOURNAL_MODE=stdout ou aucun : pas de fichier à réconcilier, la base est le seul point de
                # durabilité ; la réponse attend donc qu'ils y soient (503 si la base ne les prend pas à temps).
                self._attendre_en_base({e["request_id"] for e in enregistrements})
        except BaseException:
            if reserves:  # pas servie : le client peut renvoyer le même X-Request-ID
                with contextlib.suppress(ErreurMagasin):
                    self.magasin.liberer(reserves)
            raise
        finally:
            if reserves:
                with self._file:
                    self._reserves.difference_update(reserves)

    def _reserver(self, enregistrements: list[dict]) -> list[str]:
        ids = [e["request_id"] for e in enregistrements]
        with self._file:
            if len(set(ids)) != len(ids) or any(i in self._reserves or i in self._a_stocker for i in ids):
                raise DoublonRequete(ids[0])
            self._reserves.update(ids)
        try:
            # En base, ou réservé à l'instant par un autre processus ou une autre instance : atomique (issue 28).
            if self.magasin.existants(ids) or not self.magasin.reserver(ids):
                raise DoublonRequete(ids[0])
        except ErreurMagasin:
            # Base injoignable : la prédiction est servie quand même (le journal suffit) ; si le request_id
            # existait, la base garde la première (insertion idempotente). Voir le README.
            pass
        except BaseException:
            with self._file:
                self._reserves.difference_update(ids)
            raise
        return ids

    def _ecrire_groupe(self, enregistrements: list[dict]) -> None:
        billet = _Billet(enregistrements)
        with self._condition:
            self._en_attente.append(billet)
            while self._ecriture_en_cours and not billet.fini:
                self._condition.wait()
            groupe = None
            if not billet.fini:
                self._ecriture_en_cours = True
                groupe, self._en_attente = self._en_attente, []
        if groupe is not None:
            try:
                self._ecrire([e for b in groupe for e in b.enregistrements])
            except BaseException as erreur:  # journal refusé, ou bogue : chacun reçoit l'erreur
                for b in groupe:
                    b.erreur = erreur
            finally:
                with self._condition:
                    for b in groupe:
                        b.fini = True
                    self._ecriture_en_cours = False
                    self._condition.notify_all()
        if billet.erreur is not None:
            raise billet.erreur

    def _ecrire(self, enregistrements: list[dict]) -> None:
        with self.registre.verrou():  # confiés au fil d'alimentation avant qu'un effacement ne prenne son instant
            self.registre.ecrire(enregistrements, horodater=True)
            self._confier(enregistrements)

    def servie_par(self, etat: EtatSuiveur) -> None:
        """Un suiveur (processus) alimente la base depuis le journal de l'instance : ce processus n'y fait
        plus qu'ajouter ses lignes ; ses lectures attendent la position publiée par le suiveur."""
        self.suiveur = etat

    def _confier(self, enregistrements: list[dict]) -> None:
        if self.suiveur is not None:
            return  # le suiveur de l'instance les lira au journal
        self._assurer_fil()
        instant = time.monotonic()
        with self._file:
            for e in enregistrements:
                self._a_stocker[e["request_id"]] = (e, instant)
            self._file.notify_all()

    # --- alimentation de la base (derrière la réponse) --------------------------------------------------

    def _assurer_fil(self) -> None:
        """Le fil d'alimentation de ce processus (relancé après un fork : un fil ne le traverse pas)."""
        if self._pid == os.getpid() and self._fil is not None and self._fil.is_alive():
            return
        with self._file:
            if self._pid == os.getpid() and self._fil is not None and self._fil.is_alive():
                return
            if self._pid != os.getpid():  # après un fork : rien de ce qui attendait n'est à ce processus
                self._a_stocker.clear()
                self._reserves.clear()
            self._pid = os.getpid()
            self._arret.clear()
            self._fil = threading.Thread(target=fils.relancer_toujours, name="alimentation-base", daemon=True,
                                         args=("alimentation", self._alimenter, self._arret))
            self._fil.start()

    def demarrer(self) -> None:
        if self.suiveur is None:
            self._assurer_fil()

    def _alimenter(self) -> None:
        pause = 0.0
        while True:
            with self._file:
                if self._arret.is_set() and (not self._a_stocker or pause):
                    return
                if not self._a_stocker:
                    self._file.wait(ATTENTE_S)
                lot = list(itertools.islice(self._a_stocker.items(), LOT_MAX))
            self.registre.synchroniser()
            if self.effacements_dus and time.monotonic() >= self._prochain_effacement_du:
                self._prochain_effacement_du = time.monotonic() + PERIODE_EFFACEMENTS_DUS_S
                self._effacer_dus()
            if self.retention_jours and time.monotonic() >= self._prochaine_retention:
                self._prochaine_retention = time.monotonic() + PERIODE_RETENTION_S
                try:
                    self.purger_retention()
                except (ErreurMagasin, ErreurJournal) as erreur:
                    journal.warning("rétention : purge reportée (%s)", type(erreur).__name__)
            if self.reconciliation_due and not self._essayer_reconciliation():
                pause = self._echec(pause)
                continue
            # Confirmer les segments scellés quand ce fil a rattrapé son arriéré seulement : sinon la confirmation
            # insérerait ce qu'il s'apprête à insérer (double travail, arriéré qui grossit, mémoire avec lui).
            if time.monotonic() >= self._prochaine_confirmation and len(lot) < LOT_MAX:
                self._prochaine_confirmation = time.monotonic() + PERIODE_CONFIRMATION_S
                try:
                    self.confirmer_segments()
                except (ErreurMagasin, ErreurJournal) as erreur:
                    self.derniere_erreur = str(erreur)
                    pause = self._echec(pause)
                    continue
            if not lot:
                continue
            try:
                self.magasin.inserer_nouveaux([e for _, (e, _) in lot])
            except Exception as erreur:  # noqa: BLE001 - base injoignable (ErreurMagasin) ou imprévu
                self.derniere_erreur = str(erreur) if isinstance(erreur, ErreurMagasin) else type(erreur).__name__
                if not isinstance(erreur, ErreurMagasin):
                    journal.exception("alimentation de la base : erreur imprévue")
                pause = self._echec(pause)
                continue
            fin = time.monotonic()
            retards = [fin - instant for _, (_, instant) in lot]
            with self._file:
                for request_id, (e, _) in lot:
                    if self._a_stocker.get(request_id, (None,))[0] is e:
                        del self._a_stocker[request_id]
                self.retards.extend(retards)
                self.stockees += len(lot)
                en_attente = len(self._a_stocker)
                self._file.notify_all()
            if self.observateur is not None:
                try:
                    self.observateur(retards, en_attente, self._taille_journal())
                except Exception:  # noqa: BLE001 - une métrique ne doit jamais arrêter l'alimentation
                    journal.exception("métriques de l'alimentation")
            if self.en_retard_depuis is not None:
                journal.info("base des résultats rattrapée après %.1f s de retard ; %d en attente",
                             fin - self.en_retard_depuis, len(self._a_stocker))
                self.en_retard_depuis = None
            pause = 0.0
            if len(self._a_stocker) < LOT_MAX:
                self._presse.wait(PERIODE_LOT_S)
            self._presse.clear()

    def _taille_journal(self) -> int | None:
        """Octets du journal de l'instance (pour les métriques), relus au plus une fois par seconde."""
        if not self.registre.vers_fichier:
            return None
        if time.monotonic() >= self._prochaine_taille:
            self._prochaine_taille = time.monotonic() + 1.0
            self._taille = self.registre.taille()
        return self._taille

    def _echec(self, pause: float) -> float:
        if self.observateur is not None:
            with contextlib.suppress(Exception):
                self.observateur([], len(self._a_stocker), self._taille_journal())
        if self._arret.is_set():  # arrêt : ce qui reste est au journal, la réconciliation le reprendra
            return max(pause, PAUSE_MIN_S)
        pause = min(max(pause * 2, PAUSE_MIN_S), PAUSE_MAX_S)
        if self.en_retard_depuis is None:
            self.en_retard_depuis = time.monotonic()
        journal.warning("base des résultats en retard : %d prédiction(s) journalisée(s) en attente ; "
                        "nouvel essai dans %.1f s", len(self._a_stocker), pause)
        self._arret.wait(pause)
        return pause

    def _essayer_reconciliation(self) -> bool:
        try:
            bilan = self.reconcilier()
        except (ErreurMagasin, ErreurJournal) as erreur:
            self.derniere_erreur = str(erreur)
            return False
        journal.info("réconciliation différée : %d ligne(s) du journal lues, %d insérée(s) en base en %.2f s",
                     bilan.lignes, bilan.inserees, bilan.duree_s)
        return True

    def _effacer_dus(self) -> None:
        """Réessaie au journal les effacements déjà faits en base (disque plein à leur demande)."""
        with self._file:
            dus = dict(self.effacements_dus)
        try:
            retirees = self.registre.effacer(dus)
        except ErreurJournal as erreur:
            journal.warning("%d effacement(s) toujours dû(s) au journal (%s) : nouvel essai dans %.0f s", len(dus),
                            erreur.strerror, PERIODE_EFFACEMENTS_DUS_S)
            return
        with self._file:
            for empreinte, instant in dus.items():
                if self.effacements_dus.get(empreinte) == instant:
                    del self.effacements_dus[empreinte]
        journal.info("%d effacement(s) dû(s) appliqué(s) au journal : %d ligne(s) retirée(s)", len(dus), len(retirees))

    def etat(self) -> tuple[bool, str, dict]:
        """Pour ``/ready`` : (à jour ?, message, chiffres) ; jamais de donnée personnelle."""
        if self.suiveur is not None:
            return self._etat_suiveur()
        with self._file:
            en_attente = len(self._a_stocker)
            plus_ancien = min((t for _, t in self._a_stocker.values()), default=None)
            dus = len(self.effacements_dus)
        retard = 0.0 if plus_ancien is None else time.monotonic() - plus_ancien
        chiffres = {"en_attente": en_attente, "retard_s": round(retard, 3), "effacements_dus_au_journal": dus,
                    "fils_relances": fils.relances(), "suiveur": None}
        if self.en_retard_depuis is not None or self.reconciliation_due:
            return False, (f"base des résultats en retard : {en_attente} prédiction(s) journalisée(s) en attente "
                           f"depuis {retard:.1f} s (elles y seront insérées à son retour)"), chiffres
        return True, f"base des résultats à jour ({en_attente} en attente, retard {retard * 1000:.0f} ms)", chiffres

    def _dus_avant(self, rattrape: float) -> int:
        """Effacements de ce worker restés dus au journal (disque plein) que le suiveur n'a pas encore appliqués :
        ceux inscrits au registre après son dernier passage réussi (``rattrape``, époque) ; les autres sont oubliés."""
        with self._file:
            for empreinte, instant in list(self.effacements_dus.items()):
                if dt.datetime.fromisoformat(instant).timestamp() < rattrape:
                    del self.effacements_dus[empreinte]
            return len(self.effacements_dus)

    def _etat_suiveur(self) -> tuple[bool, str, dict]:
        etat = self.suiveur.lire()
        present = self.suiveur.present()
        en_retard = present and etat["en_retard_depuis"] > 0
        retard = time.monotonic() - etat["en_retard_depuis"] if en_retard else etat["retard"]
        chiffres = {"en_attente": etat["en_attente"], "retard_s": round(retard, 3),
                    "effacements_dus_au_journal": max(etat["effacements_dus"], self._dus_avant(etat["rattrape"])),
                    "fils_relances": fils.relances(),
                    "suiveur": {"actif": present, "stockees": etat["stockees"]}}
        if en_retard or (present and etat["reconciliation_due"]):
            return False, (f"base des résultats en retard : {etat['en_attente']} prédiction(s) journalisée(s) en "
                           f"attente depuis {retard:.1f} s (elles y seront insérées à son retour)"), chiffres
        if not present:
            position = position_du_journal(self.registre.chemin)
            if self.suiveur.atteint(self.registre.chemin, position):
                return True, "base des résultats à jour (suiveur du journal absent, relancé)", chiffres
            chiffres["en_attente"] = _lignes_apres(self.registre.chemin, etat, position)
            return False, (f"base des résultats en retard : suiveur du journal absent (il est relancé) ; "
                           f"{chiffres['en_attente']} prédiction(s) journalisée(s) en attente"), chiffres
        return True, (f"base des résultats à jour ({etat['en_attente']} en attente, dernier paquet en "
                      f"{retard * 1000:.0f} ms)"), chiffres

    def _attendre_suiveur(self, delai: float = DELAI_VIDAGE_S) -> str:
        """Attend que le suiveur ait mis en base tout ce que le journal contenait à l'appel : « atteint », « absent »
        (muet depuis ``ABSENT_S`` ou plus : l'appelant insère lui-même), ou « en_retard » (base refusée)."""
        chemin = self.registre.chemin
        cible = position_du_journal(chemin)
        if not cible[0]:
            # Journal actif scellé à l'instant, pas encore recréé : il l'est ici (vide, sous le verrou des écrivains,
            # comme à la prochaine écriture) ; le suiveur n'y passera qu'après avoir fini le segment scellé.
            with contextlib.suppress(OSError):
                with self.registre.verrou():
                    os.close(os.open(chemin, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
                cible = position_du_journal(chemin)
            if not cible[0]:
                return "absent"  # disque en lecture seule ou plein : l'appelant lit le journal lui-même
        if self.suiveur.atteint(chemin, cible):
            return "atteint"
        self.suiveur.presser()
        fin = time.monotonic() + delai
        pause = 0.001
        while time.monotonic() < fin:
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
            if self.suiveur.atteint(chemin, cible):
                return "atteint"
            etat = self.suiveur.lire()
            if not self.suiveur.present():
                return "absent"
            if etat["en_retard_depuis"]:
                return "en_retard"
        return "en_retard"

    def vider(self, delai: float = DELAI_VIDAGE_S) -> bool:
        """Attend que ce qui attendait la base à l'appel y soit ; faux si le délai passe (base en retard)."""
        if self.suiveur is not None:
            return self._attendre_suiveur(delai) != "en_retard"
        with self._file:
            cles = set(self._a_stocker)
        if not cles:
            return True
        self._assurer_fil()
        self._presse.set()
        fin = time.monotonic() + delai
        with self._file:
            self._file.notify_all()
            while not cles.isdisjoint(self._a_stocker):
                reste = fin - time.monotonic()
                if reste <= 0:
                    return False
                self._file.wait(reste)
        return True

    def _attendre_en_base(self, ids: set[str], delai: float = DELAI_VIDAGE_S) -> None:
        self._presse.set()
        fin = time.monotonic() + delai
        with self._file:
            while not ids.isdisjoint(self._a_stocker):
                reste = fin - time.monotonic()
                if reste <= 0:
                    raise ErreurMagasin(f"base des résultats indisponible ({self.derniere_erreur or 'lente'}) "
                                        "et journal hors fichier : rien ne garderait cette prédiction")
                self._file.wait(reste)

    def _vider_ou_refuser(self) -> None:
        if not self.vider():
            self._refuser()

    def _refuser(self) -> None:
        if self.suiveur is not None:
            self.derniere_erreur = self.suiveur.lire()["erreur"]
        raise ErreurMagasin(f"base des résultats en retard ({self.derniere_erreur or 'lente'}) : "
                                "les prédictions sont journalisées et y seront insérées à son retour")

    def arreter(self, delai: float = DELAI_VIDAGE_S) -> int:
        """À l'arrêt du processus : vide ce qui attend la base ; renvoie ce qui reste (la réconciliation du
        prochain démarrage l'insérera, depuis le journal)."""
        if self._fil is None or self._pid != os.getpid() or self.suiveur is not None:
            return 0
        self.vider(delai)
        self._arret.set()
        self._presse.set()
        with self._file:
            self._file.notify_all()
        self._fil.join(1.0)
        self.registre.synchroniser(force=True)
        reste = len(self._a_stocker)
        if reste:
            journal.warning("arrêt : %d prédiction(s) journalisée(s) pas encore en base ; la réconciliation du "
                            "prochain démarrage les insérera", reste)
        return reste

    # --- lectures : jamais un 404 pour une prédiction que ce processus a servie -------------------------

    def lire(self, request_id: str) -> dict | None:
        if self.suiveur is not None:
            return self._lire_suivi(request_id)
        with self._file:
            en_attente = request_id in self._a_stocker
        if en_attente:
            self._vider_ou_refuser()
        enregistrement = self.magasin.lire(request_id)
        if enregistrement is None and self._attendre_les_autres(_motif("request_id", request_id)):
            enregistrement = self.magasin.lire(request_id)
        return enregistrement

    def _lire_suivi(self, request_id: str) -> dict | None:
        """Avec un suiveur : en base d'abord (le cas courant, sans attente) ; sinon, ce que le journal contenait
        à l'appel y est attendu (503 si la base refuse) ; suiveur absent ou lignes d'un segment pas encore
        réconcilié : les lignes récentes du journal sont insérées d'ici, comme sans suiveur."""
        enregistrement = self.magasin.lire(request_id)
        if enregistrement is not None:
            return enregistrement
        if self._attendre_suiveur() == "en_retard":
            self._refuser()
        enregistrement = self.magasin.lire(request_id)
        if enregistrement is None and self._attendre_les_autres(_motif("request_id", request_id), delai=0):
            enregistrement = self.magasin.lire(request_id)
        return enregistrement

    def historique(self, user_id: str, limite: int, decalage: int,
                   ecoles: list[str] | None = None) -> tuple[list[dict], int]:
        if self.suiveur is not None:
            issue = self._attendre_suiveur()
            if issue == "en_retard":
                self._refuser()
            if issue == "absent":
                self._attendre_les_autres(_motif("user_id", user_id), delai=0)
            return self.magasin.historique(user_id, limite, decalage, ecoles)
        with self._file:
            en_attente = any(e.get("user_id") == user_id for e, _ in self._a_stocker.values())
        if en_attente:
            self._vider_ou_refuser()
        self._attendre_les_autres(_motif("user_id", user_id))
        return self.magasin.historique(user_id, limite, decalage, ecoles)

    def _attendre_les_autres(self, motif: bytes, delai: float = 0.5) -> bool:
        """Les lignes récentes du journal (partagé par les workers de l'instance) qui contiennent ``motif`` et
        manquent en base sont celles qu'un autre worker n'a pas encore insérées (ou qu'un worker tué n'insérera
        jamais) : on lui laisse ``delai``, puis on les insère d'ici (idempotent, registre des effacements lu).
        Vrai s'il y en avait."""
        recentes = dict(self.registre.recents(motif))
        if not recentes:
            return False
        manquants = set(recentes) - self.magasin.existants(list(recentes))
        fin = time.monotonic() + delai
        while manquants and time.monotonic() < fin:
            time.sleep(0.01)
            manquants -= self.magasin.existants(sorted(manquants))
        if manquants:
            enregistrements = [e for e in (relire_ligne(recentes[i]) for i in sorted(manquants)) if e is not None]
            if enregistrements:
                self.magasin.inserer_nouveaux(enregistrements)
        return True

    # --- réconciliation et effacement -------------------------------------------------------------------

    def limite_retention(self) -> dt.datetime | None:
        if not self.retention_jours:
            return None
        return dt.datetime.now(dt.UTC) - dt.timedelta(days=self.retention_jours)

    def purger_retention(self) -> tuple[int, int]:
        """Retire du journal puis de la base les prédictions plus vieilles que la rétention (journal d'abord :
        la réconciliation ne peut pas ramener ce que la base vient de perdre) ; (lignes, lignes en base)."""
        limite = self.limite_retention()
        if limite is None:
            return 0, 0
        lignes = self.registre.retirer_avant(limite.isoformat(timespec="microseconds"))
        supprimees = self.magasin.supprimer_avant(limite)
        if lignes or supprimees:
            journal.info("rétention (%d jours) : %d ligne(s) du journal et %d prédiction(s) en base purgées",
                         self.retention_jours, lignes, supprimees)
        return lignes, supprimees

    def reconcilier(self, complete: bool = False, actif: bool = True, echeance: float | None = None,
                    jeunes_depuis: str = "") -> Reconciliation:
        """Insère en base chaque ligne du journal dont le request_id y manque (idempotent ; les prédictions
        d'un utilisateur effacé depuis sont sautées), puis confirme les segments scellés lus en entier.
        Les segments que l'index dit confirmés dans cette base (même identité, même taille) sont sautés,
        comme le début du journal actif déjà réconcilié (``PrefixeActif``), sauf avec ``complete`` (tout le
        journal : ``make reconcilier``) ; ``actif`` : le journal actif aussi. ``echeance``
        (``time.monotonic()``) : arrêt entre deux paquets passé cet instant (``Reconciliation.complete`` faux ;
        le prochain démarrage reprendra le reste)."""
        debut = time.monotonic()
        lues = inserees = illisibles = 0
        limite = self.limite_retention()
        limite_iso = limite.isoformat(timespec="microseconds") if limite else ""
        identite = self.magasin.identite() if self.registre.vers_fichier else None
        confirmes = self.registre.segments_confirmes(jeunes_depuis, identite)
        exclure = set() if complete else confirmes
        prefixe = self.registre.prefixe_confirme(identite) if actif and identite and not complete else None
        lus: list = []
        actif_lu: list = []
        interrompue = False
        for _, bloc in self.registre.parcourir(exclure=exclure, actif=actif, lus=lus, actif_depuis=prefixe,
                                               actif_lu=actif_lu):
            trouves = [(t.group(1).decode("utf-8", "replace"), t.start()) for t in REQUEST_ID.finditer(bloc)]
            for rang in range(0, len(trouves), PAQUET_RECONCILIATION):
                if echeance is not None and time.monotonic() >= echeance:
                    interrompue = True
                    break
                paquet = trouves[rang:rang + PAQUET_RECONCILIATION]
                lues += len(paquet)
                presents = self.magasin.existants([request_id for request_id, _ in paquet])
                manquants = []
                for request_id, position in paquet:
                    if request_id in presents:
                        continue
                    enregistrement = relire_ligne(bloc[slice(*etendue_de_ligne(bloc, position))])
                    if enregistrement is None:
                        illisibles += 1
                    elif str(enregistrement["horodatage"]) >= limite_iso:  # hors rétention : pas ramené en base
                        manquants.append(enregistrement)
                if manquants:
                    inserees += self.magasin.inserer_nouveaux(manquants)
                self._retirer_de_l_attente(paquet)
            if interrompue:
                break
        self.registre.confirmer(lus, identite, actif_lu[0] if actif_lu and not interrompue else None)
        if actif and not jeunes_depuis and not interrompue:  # le reste du journal est confirmé dans cette base
            self.reconciliation_due = False
        return Reconciliation(lignes=lues, inserees=inserees, illisibles=illisibles,
                              duree_s=time.monotonic() - debut, complete=not interrompue,
                              sautes=len(exclure & {c.name for c in self.registre.segments.lister()}))

    def _retirer_de_l_attente(self, paquet: list[tuple[str, int]]) -> None:
        """Ces request_id sont en base (réconciliés) : le fil d'alimentation n'a plus à les insérer."""
        with self._file:
            if not self._a_stocker:
                return
            for request_id, _ in paquet:
                self._a_stocker.pop(request_id, None)
            self._file.notify_all()

    def confirmer_segments(self) -> Reconciliation | None:
        """Fil d'alimentation : réconcilie les segments scellés pas encore confirmés (un processus à la fois),
        puis les note confirmés, ou les retire du disque avec une borne (Cloud Run)."""
        if not self.registre.vers_fichier or not self.registre.segments.dossier.exists():
            return None
        with self.registre.segments.verrou(bloquant=False, nom=".confirmation") as obtenu:
            if not obtenu:
                return None
            jeunes = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=AGE_CONFIRMATION_S)
            return self.reconcilier(complete=False, actif=False,
                                    jeunes_depuis=jeunes.isoformat(timespec="microseconds"))

    def reconcilier_a_l_arret(self, delai: float = DELAI_RECONCILIATION_SORTIE_S) -> Reconciliation | None:
        """À l'arrêt de l'instance (maître gunicorn, après ses workers) : le journal actif et les segments pas
        encore confirmés, en ``delai`` secondes au plus (SIGTERM de Cloud Run : 10 s avant SIGKILL)."""
        if not self.registre.vers_fichier:
            return None
        try:
            bilan = self.reconcilier(complete=False, echeance=time.monotonic() + delai)
        except (ErreurMagasin, ErreurJournal) as erreur:
            journal.warning("arrêt : réconciliation du journal impossible (%s) ; le prochain démarrage la fera",
                            type(erreur).__name__)
            return None
        finally:
            self.magasin.moteur.dispose()
        journal.info("arrêt : réconciliation du journal actif et des segments non confirmés%s : %d ligne(s) lues, "
                     "%d insérée(s) en base, en %.2f s", "" if bilan.complete else " (interrompue, délai atteint)",
                     bilan.lignes, bilan.inserees, bilan.duree_s)
        return bilan

    def effacer(self, user_id: str) -> Effacement:
        """Efface toutes les prédictions d'un utilisateur servies jusqu'ici : base, journal, et ce qui
        attendait entre les deux. Les écrivains du journal n'attendent que la prise de l'instant et, si le
        journal actif contient l'utilisateur, son scellement (un renommage) : jamais la réécriture."""
        self.vider()  # ce que ce processus a servi est d'abord en base
        with self.registre.verrou():
            instant = dt.datetime.now(dt.UTC)  # après chaque ligne déjà écrite, avant chaque ligne à venir
        instant_iso = instant.isoformat(timespec="microseconds")
        # Le verrou des segments, pris avant que la base ne valide : le suivi des effacements des autres workers
        # de l'instance (réveillé par la validation, PostgreSQL) attend que ce worker ait réécrit le journal qu'ils
        # partagent, et le compte des lignes retirées rendu à l'appelant est juste. Disque plein (verrou
        # impossible à créer) : l'effacement se fait sans lui, la base et le registre d'abord.
        verrou = contextlib.ExitStack()
        verrou_pris = False
        if self.registre.vers_fichier:
            with contextlib.suppress(OSError):
                verrou.enter_context(self.registre.segments.verrou())
                verrou_pris = True
        with verrou:
            # La base et le registre d'abord (validés) : toute insertion lit le registre, rien d'effacé n'y revient,
            # même si le journal ne peut pas encore être réécrit (disque plein).
            with self.magasin.transaction() as transaction:
                en_base = transaction.supprimer_utilisateur(user_id, instant)
                transaction.valider()
            with self._file:
                en_attente = {r for r, (e, _) in self._a_stocker.items()
                              if e.get("user_id") == user_id and e["horodatage"] <= instant_iso}
                for request_id in en_attente:
                    del self._a_stocker[request_id]
            self.magasin.purger_apres_effacement()  # SQLite : plus rien de l'élève dans le WAL
            empreinte = empreinte_utilisateur(user_id)
            try:
                au_journal = self.registre.effacer({empreinte: instant_iso}, _motif("user_id", user_id), verrou_pris)
            except ErreurJournal as erreur:
                erreur_journal = erreur
            else:
                erreur_journal = None
        if erreur_journal is not None:
            erreur = erreur_journal
            with self._file:  # avec un suiveur, c'est lui qui relit le registre et réessaie ; /ready le compte ici
                self.effacements_dus[empreinte] = instant_iso  # jusqu'à son prochain passage réussi (_dus_avant)
            if self.suiveur is None:
                self._assurer_fil()
            raise EffacementIncomplet(
                erreur.errno, f"prédictions effacées de la base et inscrites au registre des effacements, mais le "
                              f"journal n'a pas pu être réécrit ({erreur.strerror}) : il le sera dès que la place le "
                              "permettra") from erreur
        with self._file:
            self.effacements_dus.pop(empreinte, None)
        # Les réservations d'X-Request-ID des prédictions pas encore en base (attente d'un autre worker) : sans
        # cela, leurs identifiants resteraient une heure dans la base, après l'effacement de l'élève.
        restes = sorted((set(au_journal) | en_attente) - en_base - {""})
        if restes:
            with contextlib.suppress(ErreurMagasin):
                self.magasin.liberer(restes)
                self.magasin.purger_apres_effacement()
        return Effacement(predictions=len((en_base | en_attente | set(au_journal)) - {""}),
                          lignes_journal=len(au_journal) if self.registre.vers_fichier else None)


def _lignes_apres(chemin, etat: dict, position: tuple[int, int], borne: int = 4 << 20) -> int:
    """Lignes du journal actif après la position stockée publiée par le suiveur (toutes s'il lisait un autre
    fichier), comptées sur ``borne`` octets au plus puis estimées : ``/ready`` quand le suiveur est absent."""
    inode, taille = position
    debut = etat["stockee"] if etat["inode"] == inode else 0
    try:
        with open(chemin, "rb") as fichier:
            fichier.seek(debut)
            lu = fichier.read(min(max(taille - debut, 0), borne))
    except OSError:
        return 0
    lignes = lu.count(b"\n")
    return lignes if taille - debut <= borne or not lignes else int(lignes * (taille - debut) / len(lu))


def conserver(magasin: MagasinResultats, registre: JournalRequetes, enregistrements: list[dict]) -> None:
    """Conserve des enregistrements et attend qu'ils soient aussi en base (outils, tests) ;
    ``DoublonRequete`` si un request_id existe déjà."""
    conservation = Conservation(magasin, registre)
    conservation.conserver(enregistrements, verifier_doublons=True)
    try:
        conservation._vider_ou_refuser()
    finally:
        conservation.arreter(0)


def effacer_utilisateur(magasin: MagasinResultats, registre: JournalRequetes, user_id: str) -> Effacement:
    """Efface toutes les prédictions d'un utilisateur, en base et au journal."""
    return Conservation(magasin, registre).effacer(user_id)

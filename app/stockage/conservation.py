"""Garder la base des résultats et le journal des requêtes d'accord : conserver, effacer.

Ordre suivi partout : base d'abord, journal ensuite, validation (commit) en dernier.
Avec SQLite, le verrou du journal est pris avant la transaction (voir ``_un_ecrivain_a_la_fois``),
dans ``conserver`` comme dans ``effacer_utilisateur`` : même ordre de verrous, pas d'interblocage.

- ``conserver`` : insertion (409 si un request_id existe, 503 si la base ne répond pas), lignes
  du journal (en cas d'échec : annulation, 503), commit. Si le commit échoue après les lignes,
  elles sont retirées du journal (compensation) et l'erreur remonte (503) : rien n'est
  servi sans être conservé des deux côtés.
- ``ConservationGroupee`` : la même chose pour des requêtes simultanées, réunies en une
  transaction (validation groupée) ; chaque requête garde sa propre issue.
- ``effacer_utilisateur`` : suppression des lignes de la base, réécriture du journal sans les
  lignes de l'utilisateur, commit. Si le journal ne peut pas être réécrit : annulation, rien
  n'est effacé. Si le commit échoue après la réécriture : 503, et un nouvel appel (idempotent)
  termine l'effacement.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass

from app.json_rapide import en_octets
from app.stockage.journal import ErreurJournal, JournalRequetes
from app.stockage.magasin import DoublonRequete, ErreurMagasin, MagasinResultats

journal = logging.getLogger("prediction_etudiante")


@dataclass(frozen=True)
class Effacement:
    predictions: int
    lignes_journal: int | None  # None : le journal ne va pas dans un fichier (rien à réécrire)


def _motif(cle: str, valeur: str) -> bytes:
    """L'extrait que contient toute ligne du journal où ``cle`` vaut ``valeur`` (voir ``ligne_json``)."""
    return f'"{cle}":'.encode("utf-8") + en_octets(valeur)


def _un_ecrivain_a_la_fois(magasin: MagasinResultats, registre: JournalRequetes):
    """Avec SQLite, les écritures sont de toute façon une à la fois ; on fait attendre les autres
    sur le verrou du journal (réveil immédiat par le noyau) plutôt que dans SQLite, qui attend par
    paliers de 1 à 100 ms. Ordre des verrous inchangé partout : journal, puis base. PostgreSQL
    écrit en parallèle : pas de verrou global."""
    if magasin.moteur_sql == "sqlite" and registre.vers_fichier:
        return registre.verrou()
    return contextlib.nullcontext()


def conserver(magasin: MagasinResultats, registre: JournalRequetes, enregistrements: list[dict]) -> None:
    """Conserve des prédictions servies, toutes en base et au journal, ou aucune : insertion groupée
    (un seul ``executemany``), lignes du journal en une écriture, commit ; si le commit échoue, les
    lignes sont retirées du journal (compensation)."""
    with _un_ecrivain_a_la_fois(magasin, registre), magasin.transaction() as transaction:
        transaction.inserer(enregistrements)
        registre.ecrire(enregistrements)
        try:
            transaction.valider()
        except ErreurMagasin:
            identifiants = {e["request_id"] for e in enregistrements}
            prefixe = os.path.commonprefix(sorted(identifiants))  # ne décoder que les lignes qui peuvent être visées
            try:
                registre.retirer(lambda e: e.get("request_id") in identifiants, _motif("request_id", prefixe)[:-1])
            except ErreurJournal:
                journal.error("commit refusé et %d ligne(s) non retirée(s) du journal : request_id %s…",
                              len(identifiants), prefixe)
            raise


class _Billet:
    """Les prédictions d'une requête qui attendent leur validation groupée, et son issue."""

    __slots__ = ("enregistrements", "fini", "erreur")

    def __init__(self, enregistrements: list[dict]):
        self.enregistrements = enregistrements
        self.fini = False
        self.erreur: BaseException | None = None


class ConservationGroupee:
    """Validation groupée (*group commit*) : les requêtes qui arrivent pendant qu'une écriture est en
    cours attendent, puis la suivante écrit pour toutes, en une transaction, une écriture du journal
    et un commit. La garantie de ``conserver`` est la même pour chaque requête (rien n'est servi
    qui ne soit conservé des deux côtés, et chacune reçoit sa propre issue : un request_id en
    double ne fait échouer que la sienne) ; le coût fixe d'une transaction est partagé.

    Pas de fil d'écriture dédié : la première requête qui trouve la voie libre écrit (meneuse),
    les autres dorment sur une condition ; aucune attente n'est ajoutée quand il n'y a personne.
    """

    def __init__(self, magasin: MagasinResultats, registre: JournalRequetes):
        self.magasin = magasin
        self.registre = registre
        self._condition = threading.Condition(threading.Lock())
        self._en_attente: list[_Billet] = []
        self._ecriture_en_cours = False

    def conserver(self, enregistrements: list[dict]) -> None:
        """Rend la main quand ces enregistrements sont conservés ; lève l'erreur de ``conserver`` sinon."""
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
                self._ecrire(groupe)
            except BaseException as erreur:  # bogue imprévu : chacun le reçoit, personne n'attend pour rien
                for b in groupe:
                    b.erreur = b.erreur or erreur
                raise
            finally:
                with self._condition:
                    for b in groupe:
                        b.fini = True
                    self._ecriture_en_cours = False
                    self._condition.notify_all()
        if billet.erreur is not None:
            raise billet.erreur

    def _ecrire(self, groupe: list[_Billet]) -> None:
        try:
            conserver(self.magasin, self.registre, [e for b in groupe for e in b.enregistrements])
        except DoublonRequete as erreur:
            if len(groupe) == 1:
                groupe[0].erreur = erreur
                return
            for b in groupe:  # un request_id déjà pris : chaque requête seule, pour que seule la fautive échoue
                try:
                    conserver(self.magasin, self.registre, b.enregistrements)
                except (DoublonRequete, ErreurMagasin, ErreurJournal) as refus:
                    b.erreur = refus
        except (ErreurMagasin, ErreurJournal) as erreur:
            for b in groupe:
                b.erreur = erreur


def effacer_utilisateur(magasin: MagasinResultats, registre: JournalRequetes, user_id: str) -> Effacement:
    """Efface toutes les prédictions d'un utilisateur, en base et au journal."""
    with _un_ecrivain_a_la_fois(magasin, registre), magasin.transaction() as transaction:
        supprimees = transaction.supprimer_utilisateur(user_id)
        lignes = registre.retirer(lambda e: e.get("user_id") == user_id, _motif("user_id", user_id))
        transaction.valider()
    magasin.purger_apres_effacement()  # SQLite : plus rien de l'élève dans le WAL
    return Effacement(predictions=supprimees, lignes_journal=lignes if registre.vers_fichier else None)

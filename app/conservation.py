"""Garder la base des résultats et le journal des requêtes d'accord : conserver, effacer.

Ordre suivi partout : base d'abord, journal ensuite, validation (commit) en dernier.
Avec SQLite, le verrou du journal est pris avant la transaction (voir ``_un_ecrivain_a_la_fois``),
dans ``conserver`` comme dans ``effacer_utilisateur`` : même ordre de verrous, pas d'interblocage.

- ``conserver`` : insertion (409 si le request_id existe, 503 si la base ne répond pas), ligne
  du journal (en cas d'échec : annulation, 503), commit. Si le commit échoue après la ligne,
  la ligne est retirée du journal (compensation) et l'erreur remonte (503) : rien n'est
  servi sans être conservé des deux côtés.
- ``effacer_utilisateur`` : suppression des lignes de la base, réécriture du journal sans les
  lignes de l'utilisateur, commit. Si le journal ne peut pas être réécrit : annulation, rien
  n'est effacé. Si le commit échoue après la réécriture : 503, et un nouvel appel (idempotent)
  termine l'effacement.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass

from app.journal_requetes import ErreurJournal, JournalRequetes
from app.magasin import ErreurMagasin, MagasinResultats

journal = logging.getLogger("prediction_etudiante")


@dataclass(frozen=True)
class Effacement:
    predictions: int
    lignes_journal: int | None  # None : le journal ne va pas dans un fichier (rien à réécrire)


def _motif(cle: str, valeur: str) -> bytes:
    """L'extrait que contient toute ligne du journal où ``cle`` vaut ``valeur`` (voir ``ligne_json``)."""
    return f'"{cle}":{json.dumps(valeur, ensure_ascii=False)}'.encode("utf-8")


def _un_ecrivain_a_la_fois(magasin: MagasinResultats, registre: JournalRequetes):
    """Avec SQLite, les écritures sont de toute façon une à la fois ; on fait attendre les autres
    sur le verrou du journal (réveil immédiat par le noyau) plutôt que dans SQLite, qui attend par
    paliers de 1 à 100 ms. Ordre des verrous inchangé partout : journal, puis base. PostgreSQL
    écrit en parallèle : pas de verrou global."""
    if magasin.moteur_sql == "sqlite" and registre.vers_fichier:
        return registre.verrou()
    return contextlib.nullcontext()


def conserver(magasin: MagasinResultats, registre: JournalRequetes, enregistrement: dict) -> None:
    """Conserve une prédiction servie, en base et au journal, ou nulle part."""
    request_id = enregistrement["request_id"]
    with _un_ecrivain_a_la_fois(magasin, registre), magasin.transaction() as transaction:
        transaction.inserer(enregistrement)
        registre.ecrire([enregistrement])
        try:
            transaction.valider()
        except ErreurMagasin:
            try:
                registre.retirer(lambda e: e.get("request_id") == request_id, _motif("request_id", request_id))
            except ErreurJournal:
                journal.error("commit refusé et ligne du journal non retirée : request_id %s", request_id)
            raise


def conserver_lot(magasin: MagasinResultats, registre: JournalRequetes, enregistrements: list[dict],
                  prefixe: str) -> None:
    """Conserve les prédictions d'un lot, toutes ou aucune : même ordre que ``conserver`` (insertion
    groupée, lignes du journal en une écriture, commit ; compensation si le commit échoue).
    ``prefixe`` : début commun des request_id du lot (pour ne relire que ses lignes du journal)."""
    identifiants = {e["request_id"] for e in enregistrements}
    with _un_ecrivain_a_la_fois(magasin, registre), magasin.transaction() as transaction:
        transaction.inserer_lot(enregistrements)
        registre.ecrire(enregistrements)
        try:
            transaction.valider()
        except ErreurMagasin:
            try:
                registre.retirer(lambda e: e.get("request_id") in identifiants, _motif("request_id", prefixe)[:-1])
            except ErreurJournal:
                journal.error("commit refusé et lignes du lot non retirées du journal : préfixe %s", prefixe)
            raise


def effacer_utilisateur(magasin: MagasinResultats, registre: JournalRequetes, user_id: str) -> Effacement:
    """Efface toutes les prédictions d'un utilisateur, en base et au journal."""
    with _un_ecrivain_a_la_fois(magasin, registre), magasin.transaction() as transaction:
        supprimees = transaction.supprimer_utilisateur(user_id)
        lignes = registre.retirer(lambda e: e.get("user_id") == user_id, _motif("user_id", user_id))
        transaction.valider()
    return Effacement(predictions=supprimees, lignes_journal=lignes if registre.vers_fichier else None)

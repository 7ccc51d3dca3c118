"""Banc d'essai du suiveur du journal (``app.stockage.suiveur``) : ``python -m outils.banc_suiveur
[--lignes N] [--url postgresql+psycopg://…]``.

Affiche, côte à côte, pour SQLite (temporaire) et, avec ``--url``, PostgreSQL (schéma neuf, supprimé à la
fin) :
- le coût par enregistrement du suiveur : un journal de N lignes d'essai lu à la suite et mis en base
  (CPU du processus du suiveur, ce que la base fait de son côté non compté pour PostgreSQL), et sa
  décomposition : lecture et décodage JSON des lignes, préparation des paramètres, ``executemany`` et commit ;
- le même travail par l'ancienne alimentation (un fil par worker, les enregistrements déjà en mémoire) ;
- le CPU d'un worker par prédiction conservée : ancien (journal + file + fil d'alimentation du processus)
  et nouveau (journal seulement ; le suiveur fait le reste dans son processus).
Rien n'est gardé.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import RACINE
from app.stockage.conservation import LOT_MAX, Conservation
from app.stockage.enregistrement import (
    COLONNES_ENREGISTREMENT,
    empreinte_utilisateur,
    nouvel_enregistrement,
    relire_ligne,
)
from app.stockage.etat_suiveur import EtatSuiveur, position_du_journal
from app.stockage.journal import JournalRequetes
from app.stockage.magasin import MagasinResultats
from app.stockage.segments import USER_ID
from app.stockage.suiveur import Suiveur
from outils.banc_reconciliation import ecrire_journal

_OUVERTS: list[MagasinResultats] = []


def _cpu(fonction) -> tuple[float, float]:
    """(secondes de CPU de ce processus, secondes écoulées) de ``fonction()``."""
    debut_cpu, debut = time.process_time(), time.perf_counter()
    fonction()
    return time.process_time() - debut_cpu, time.perf_counter() - debut


def _base(url_donnee: str, dossier: Path, nom: str) -> tuple[str, str | None]:
    if not url_donnee:
        return f"sqlite:///{dossier / (nom + '.sqlite3')}", None
    schema = f"banc_{uuid.uuid4().hex[:12]}"
    with create_engine(url_donnee).begin() as connexion:
        connexion.execute(text(f'CREATE SCHEMA "{schema}"'))
    return make_url(url_donnee).update_query_dict({"options": f"-csearch_path={schema}", "application_name": schema}
                                                  ).render_as_string(hide_password=False), schema


def cpu_serveur(magasin: MagasinResultats) -> float | None:
    """Secondes de CPU des processus du serveur PostgreSQL qui servent ce magasin (ses connexions, repérées par
    leur ``application_name`` ; lues dans /proc : serveur local seulement) ; None pour SQLite ou hors d'atteinte."""
    if magasin.moteur_sql != "postgresql":
        return None
    nom = magasin.moteur.url.query.get("application_name")
    with magasin.moteur.connect() as connexion:
        pids = list(connexion.scalars(text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"), {"n": nom}))
    total = 0.0
    for pid in pids:
        try:
            champs = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(champs[11]) + int(champs[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _magasin(url_donnee: str, dossier: Path, nom: str, schemas: list[str]) -> MagasinResultats:
    url, schema = _base(url_donnee, dossier, nom)
    if schema:
        schemas.append(schema)
    magasin = MagasinResultats(url, connexions=2)
    magasin.preparer()
    _OUVERTS.append(magasin)
    return magasin


def suiveur_par_enregistrement(journal: Path, magasin: MagasinResultats, lignes: int) -> tuple[float, float]:
    """Le suiveur lit le journal entier et le met en base : (µs de CPU, µs écoulées) par enregistrement."""
    copie = journal.with_name(f"suivi-{uuid.uuid4().hex[:8]}.jsonl")  # position publiée propre à ce journal
    copie.write_bytes(journal.read_bytes())
    journal = copie
    registre = JournalRequetes(journal, segment_octets=1 << 40)
    suiveur = Suiveur(magasin, registre)
    suiveur._prochains_effacements = suiveur._prochaine_confirmation = float("inf")  # le flux seul
    etat = EtatSuiveur.de(registre)
    cible = position_du_journal(journal)
    fil = threading.Thread(target=suiveur.tourner)

    def suivre():
        fil.start()
        while not etat.atteint(journal, cible):
            time.sleep(0.01)  # ce fil compte dans le CPU mesuré : peu de réveils (1 ms : +0,4 à 0,7 µs par ligne)

    cpu, duree = _cpu(suivre)
    suiveur.arret.set()
    fil.join()
    assert magasin.compter()["predictions"] == lignes, magasin.compter()
    return cpu / lignes * 1e6, duree / lignes * 1e6


def decomposition(journal: Path, magasin: MagasinResultats) -> dict[str, float]:
    """µs de CPU par enregistrement des étapes du suiveur, par paquets de ``LOT_MAX`` : découpage des lignes et
    user_id (en C), empreintes des élèves (HMAC, gardées d'un paquet à l'autre), paramètres (SQLite : un
    décodage orjson par ligne ; PostgreSQL : aucun, la base lit le JSON), puis la transaction entière
    (``inserer_lignes`` : registre des effacements, executemany ou COPY, commit)."""
    donnees = journal.read_bytes()
    lignes: list[bytes] = []
    utilisateurs: set[bytes] = set()

    def decouper():
        lignes.extend(donnees.split(b"\n")[:-1])
        utilisateurs.update(USER_ID.findall(donnees))

    n = donnees.count(b"\n")
    parts = {"découpage": _cpu(decouper)[0]}
    empreintes: dict[bytes, str] = {}
    parts["empreintes"] = _cpu(lambda: empreintes.update(
        (u, empreinte_utilisateur(u.decode("ascii"))) for u in utilisateurs))[0]
    paquets = [lignes[i:i + LOT_MAX] for i in range(0, len(lignes), LOT_MAX)]
    if not magasin._ecritures.lignes_journal:
        parts["paramètres (décodage orjson)"] = _cpu(lambda: [magasin._ecritures.parametres_lignes(p) for p in paquets])[0]
    des_paquets = [{empreintes[u] for u in USER_ID.findall(b"\n".join(p))} for p in paquets]
    parts["inserer_lignes (transaction entière)"] = _cpu(lambda: [
        magasin.inserer_lignes(p, e) for p, e in zip(paquets, des_paquets)])[0]
    return {cle: valeur / n * 1e6 for cle, valeur in parts.items()}


def _insertion_decodee_par_sqlite() -> str:
    """La variante écartée pour SQLite : le paquet passé en un seul tableau JSON, chaque ligne décodée par
    SQLite (``json_each``, un ``->>`` par colonne), sans objet Python par ligne ; mêmes valeurs en base."""
    valeurs = []
    for colonne in COLONNES_ENREGISTREMENT:
        if colonne == "horodatage":  # « 2026-01-02T03:04:05.000006+00:00 » → ce qu'écrit SQLAlchemy
            valeurs.append("substr(value->>'horodatage', 1, 10) || ' ' || substr(value->>'horodatage', 12, 15)")
        elif colonne == "entrees":
            valeurs.append("value->'entrees'")
        elif colonne == "canal":
            valeurs.append("coalesce(value->>'canal', 'http')")
        else:
            valeurs.append(f"value->>'{colonne}'")
    return (f"INSERT OR IGNORE INTO predictions ({', '.join(COLONNES_ENREGISTREMENT)}) "
            f"SELECT {', '.join(valeurs)} FROM json_each(?)")


def decodage_par_sqlite(journal: Path, magasin: MagasinResultats) -> float:
    """µs de CPU par enregistrement de la variante écartée (``_insertion_decodee_par_sqlite``), transaction
    entière par paquets de ``LOT_MAX``, registre des effacements non lu : à comparer à ``inserer_lignes``."""
    lignes = journal.read_bytes().split(b"\n")[:-1]
    requete = _insertion_decodee_par_sqlite()
    connexion = magasin.moteur.raw_connection()

    def inserer():
        curseur = connexion.cursor()
        for debut in range(0, len(lignes), LOT_MAX):
            curseur.execute("BEGIN IMMEDIATE")
            curseur.execute(requete, ((b"[" + b",".join(lignes[debut:debut + LOT_MAX]) + b"]").decode("utf-8"),))
            connexion.commit()

    try:
        cpu, _ = _cpu(inserer)
    finally:
        connexion.close()
    assert magasin.compter()["predictions"] == len(lignes)
    return cpu / len(lignes) * 1e6


def ancienne_alimentation(journal: Path, magasin: MagasinResultats, lignes: int) -> float:
    """L'ancien fil d'alimentation d'un worker (enregistrements déjà en mémoire, confiés par paquets) : µs de
    CPU par enregistrement (file comprise ; sans la confirmation des segments, qui relisait le journal)."""
    enregistrements = [relire_ligne(ligne) for ligne in journal.read_bytes().split(b"\n")[:-1]]
    conservation = Conservation(magasin, JournalRequetes(journal.with_name("inutile.jsonl")))
    conservation._prochaine_confirmation = float("inf")

    def alimenter():
        for i in range(0, len(enregistrements), LOT_MAX):
            conservation._confier(enregistrements[i:i + LOT_MAX])
        assert conservation.vider(120)

    cpu, _ = _cpu(alimenter)
    conservation.arreter(0)
    return cpu / lignes * 1e6


def worker_par_prediction(dossier: Path, magasin: MagasinResultats, nombre: int, avec_suiveur: bool) -> float:
    """CPU d'un worker (ce processus) par prédiction conservée, un fil, au plus vite."""
    exemple = json.loads((RACINE / "test" / "donnees.json").read_text(encoding="utf-8"))
    registre = JournalRequetes(dossier / f"worker-{avec_suiveur}.jsonl")
    conservation = Conservation(magasin, registre)
    if avec_suiveur:  # le suiveur tourne ailleurs : ici, seulement l'écriture au journal
        conservation.servie_par(EtatSuiveur.de(registre))
    conservation._prochaine_confirmation = float("inf")
    compteur = itertools.count()

    def servir():
        for _ in range(nombre):
            i = next(compteur)
            conservation.conserver([nouvel_enregistrement(
                request_id=f"w-{avec_suiveur}-{i}", user_id=f"eleve-{i % 500}", configuration="A", entrees=exemple,
                prediction=1, probabilite_echec=0.2, probabilite_reussite=0.8, seuil=0.5, model_version="banc",
                canal="http")])
        conservation.vider(120)

    cpu, _ = _cpu(servir)
    conservation.arreter(0)
    return cpu / nombre * 1e6


def main() -> None:
    analyseur = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    analyseur.add_argument("--lignes", type=int, default=100_000)
    analyseur.add_argument("--predictions", type=int, default=20_000)
    analyseur.add_argument("--url", default="", help="PostgreSQL (sinon SQLite temporaire seulement)")
    options = analyseur.parse_args()
    with tempfile.TemporaryDirectory() as brut:
        dossier = Path(brut)
        journal = dossier / "requetes.jsonl"
        ecrire_journal(journal, options.lignes)
        print(f"journal : {options.lignes} lignes, {journal.stat().st_size / options.lignes:.0f} octets par ligne")
        for url in ([""] + ([options.url] if options.url else [])):
            schemas: list[str] = []
            try:
                nom = "PostgreSQL" if url else "SQLite"
                magasin = _magasin(url, dossier, "suiveur", schemas)
                cpu, ecoule = suiveur_par_enregistrement(journal, magasin, options.lignes)
                serveur = cpu_serveur(magasin)
                print(f"{nom} — suiveur : {cpu:.1f} µs de CPU par enregistrement ({ecoule:.1f} µs écoulées ; "
                      f"cible ≤ 5 µs)" + ("" if serveur is None else
                                         f" ; serveur PostgreSQL : {serveur / options.lignes * 1e6:.1f} µs de plus"))
                parts = decomposition(journal, _magasin(url, dossier, "decomposition", schemas))
                print(f"{nom} — décomposition (µs/enregistrement) : "
                      + ", ".join(f"{cle} {valeur:.1f}" for cle, valeur in parts.items()))
                if not url:
                    variante = decodage_par_sqlite(journal, _magasin(url, dossier, "json_sqlite", schemas))
                    print(f"{nom} — variante écartée, lignes décodées par SQLite (json_each, ->>) : {variante:.1f} µs "
                          f"par enregistrement, transaction entière, contre "
                          f"{parts['inserer_lignes (transaction entière)']:.1f} µs (décodage orjson)")
                magasin = _magasin(url, dossier, "ancienne", schemas)
                ancien = ancienne_alimentation(journal, magasin, options.lignes)
                serveur = cpu_serveur(magasin)
                print(f"{nom} — ancienne alimentation (fil de chaque worker) : {ancien:.1f} µs de CPU par "
                      f"enregistrement" + ("" if serveur is None else
                                           f" ; serveur PostgreSQL : {serveur / options.lignes * 1e6:.1f} µs de plus")
                      + f" ; suiveur / ancienne : {cpu / ancien:.2f}")
                magasin = _magasin(url, dossier, "worker", schemas)
                avant = worker_par_prediction(dossier, magasin, options.predictions, avec_suiveur=False)
                apres = worker_par_prediction(dossier, magasin, options.predictions, avec_suiveur=True)
                print(f"{nom} — CPU d'un worker par prédiction conservée : {avant:.1f} µs avec son fil "
                      f"d'alimentation, {apres:.1f} µs en n'écrivant qu'au journal ({apres / avant:.2f}×)")
            finally:
                for ouvert in _OUVERTS:
                    ouvert.moteur.dispose()
                _OUVERTS.clear()
                for schema in schemas:
                    with create_engine(options.url).begin() as connexion:
                        connexion.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()

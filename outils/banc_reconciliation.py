"""Banc d'essai de la réconciliation (journal → base) et du retard de la base : ``python -m
outils.banc_reconciliation [--lignes N] [--retard N] [--url postgresql+psycopg://…]``.

Retard : 8 fils conservent N prédictions une à une, au plus vite (``Conservation.conserver`` : journal,
puis fil d'alimentation) ; le délai entre l'écriture au journal et le commit en base est affiché (p50, p99,
max). Puis :

Écrit un journal de N lignes d'essai (élève d'exemple, user_id pseudonymes) dans un dossier temporaire, puis
mesure : la réconciliation d'une base vide (chaque ligne manque : toutes insérées), puis une seconde
(chaque ligne déjà présente : rien à insérer, le cas d'un démarrage ordinaire). Sans URL : SQLite temporaire.
Avec une URL PostgreSQL, les tables sont créées dans un schéma neuf, supprimé à la fin. Rien n'est gardé.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import RACINE
from app.stockage.conservation import Conservation
from app.stockage.enregistrement import nouvel_enregistrement
from app.stockage.journal import JournalRequetes, ligne_json
from app.stockage.magasin import MagasinResultats


def ecrire_journal(chemin: Path, lignes: int) -> None:
    exemple = json.loads((RACINE / "test" / "donnees.json").read_text(encoding="utf-8"))
    with open(chemin, "wb") as fichier:
        paquet = []
        for i in range(lignes):
            paquet.append(ligne_json(nouvel_enregistrement(
                request_id=f"banc-{i}", user_id=f"eleve-{i % 5000}", configuration="A", entrees=exemple,
                prediction=1, probabilite_echec=0.2, probabilite_reussite=0.8, seuil=0.5, model_version="banc",
                canal="http")))
            if len(paquet) == 10_000:
                fichier.write(b"".join(paquet))
                paquet = []
        fichier.write(b"".join(paquet))


def mesurer_retard(magasin: MagasinResultats, journal: Path, nombre: int, fils: int = 8) -> str:
    exemple = json.loads((RACINE / "test" / "donnees.json").read_text(encoding="utf-8"))
    conservation = Conservation(magasin, JournalRequetes(journal))

    def servir(rang: int) -> None:
        for i in range(rang, nombre, fils):
            conservation.conserver([nouvel_enregistrement(
                request_id=f"retard-{i}", user_id=f"eleve-{i % 500}", configuration="A", entrees=exemple,
                prediction=1, probabilite_echec=0.2, probabilite_reussite=0.8, seuil=0.5, model_version="banc",
                canal="http")])

    debut = time.perf_counter()
    travail = [threading.Thread(target=servir, args=(r,)) for r in range(fils)]
    for fil in travail:
        fil.start()
    for fil in travail:
        fil.join()
    servi = time.perf_counter() - debut
    conservation.vider(60)
    conservation.arreter()
    retards = sorted(conservation.retards)
    quantiles = statistics.quantiles(retards, n=100)
    return (f"{magasin.nom} — retard de la base : {nombre} prédictions journalisées par {fils} fils en {servi:.1f} s "
            f"({nombre / servi:,.0f}/s) ; journal → commit p50 {quantiles[49] * 1000:.1f} ms, p99 "
            f"{quantiles[98] * 1000:.1f} ms, max {retards[-1] * 1000:.1f} ms")


def main() -> None:
    analyseur = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    analyseur.add_argument("--lignes", type=int, default=1_000_000)
    analyseur.add_argument("--retard", type=int, default=20_000)
    analyseur.add_argument("--url", default="")
    options = analyseur.parse_args()
    with tempfile.TemporaryDirectory() as dossier:
        journal = Path(dossier) / "requetes.jsonl"
        debut = time.perf_counter()
        ecrire_journal(journal, options.lignes)
        print(f"journal : {options.lignes} lignes, {journal.stat().st_size / 2**20:.0f} Mio, écrit en "
              f"{time.perf_counter() - debut:.1f} s")
        schema = None
        url = options.url or f"sqlite:///{Path(dossier) / 'resultats.sqlite3'}"
        if options.url:
            schema = f"banc_{uuid.uuid4().hex[:12]}"
            with create_engine(options.url).begin() as connexion:
                connexion.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = make_url(options.url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
                hide_password=False)
        try:
            magasin = MagasinResultats(url)
            magasin.preparer()
            if options.retard:
                print(mesurer_retard(magasin, Path(dossier) / "retard.jsonl", options.retard))
            conservation = Conservation(magasin, JournalRequetes(journal))
            for cas in ("base vide (tout à insérer)", "base à jour (rien à insérer)"):
                bilan = conservation.reconcilier()
                print(f"{magasin.nom} — réconciliation, {cas} : {bilan.lignes} lignes lues, {bilan.inserees} "
                      f"insérées, en {bilan.duree_s:.1f} s ({bilan.lignes / bilan.duree_s:,.0f} lignes/s)")
            magasin.moteur.dispose()
        finally:
            if schema:
                with create_engine(options.url).begin() as connexion:
                    connexion.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()

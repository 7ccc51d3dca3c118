"""Banc d'essai de la réconciliation (journal → base) et du retard de la base : ``python -m
outils.banc_reconciliation [--lignes N] [--retard N] [--url postgresql+psycopg://…]``.

Démarrage (issue 26) : ``python -m outils.banc_reconciliation --demarrage 10000000 [--url …]`` prépare un
journal de N lignes, toutes en base, scellé en segments de 16 Mio que l'index dit confirmés, plus un journal
actif plein, puis lance un vrai gunicorn (``gunicorn.conf.py``, boucle locale) et mesure le temps jusqu'au
premier 200 de ``/ready`` : journal vide, ancienne réconciliation (tout le journal, ce que faisait chaque
démarrage : confirmations de l'index rendues caduques) et nouvelle (ce que l'index ne dit pas en base :
rien après un arrêt normal ; le journal actif entier après un kill -9), SQLite puis PostgreSQL avec ``--url``. Pour ne pas écrire 13 Go, les segments sont des liens
durs vers quelques segments modèles (request_id distincts dans chacun) : la base n'a que les lignes des
modèles, et l'ancienne réconciliation relit un segment depuis le cache du noyau (elle serait plus lente
sur un vrai journal, lu du disque). Le banc l'affiche.

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
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import RACINE, Configuration
from app.stockage.conservation import Conservation
from app.stockage.enregistrement import definir_sel, nouvel_enregistrement
from app.stockage.journal import SEGMENT_OCTETS_DEFAUT, JournalRequetes, ligne_json
from app.stockage.magasin import MagasinResultats
from app.stockage.segments import Cible, DossierSegments, decrire
from outils.banc_essai import _arreter, _port_libre


def _enregistrements(debut: int, nombre: int):
    exemple = json.loads((RACINE / "test" / "donnees.json").read_text(encoding="utf-8"))
    for i in range(debut, debut + nombre):
        yield nouvel_enregistrement(
            request_id=f"banc-{i}", user_id=f"eleve-{i % 5000}", configuration="A", entrees=exemple,
            prediction=1, probabilite_echec=0.2, probabilite_reussite=0.8, seuil=0.5, model_version="banc",
            canal="http")


def ecrire_journal(chemin: Path, lignes: int, debut: int = 0, magasin: MagasinResultats | None = None) -> None:
    """``lignes`` lignes d'essai (request_id ``banc-<debut>``…) ; avec ``magasin``, aussi insérées en base."""
    with open(chemin, "wb") as fichier:
        paquet = []
        for enregistrement in _enregistrements(debut, lignes):
            paquet.append(enregistrement)
            if len(paquet) == 10_000:
                fichier.write(b"".join(map(ligne_json, paquet)))
                if magasin is not None:
                    magasin.inserer_nouveaux(paquet)
                paquet = []
        fichier.write(b"".join(map(ligne_json, paquet)))
        if magasin is not None and paquet:
            magasin.inserer_nouveaux(paquet)


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


MODELES = 4
"""Segments modèles distincts ; les autres segments sont des liens durs vers eux."""


def preparer_journal(dossier: Path, lignes: int, magasin: MagasinResultats) -> tuple[Path, int, int]:
    """Un journal d'environ ``lignes`` lignes, toutes en base : des segments scellés de 16 Mio (liens durs vers
    ``MODELES`` segments modèles), que l'index dit confirmés dans cette base comme le fil d'alimentation l'aurait
    noté, et un journal actif plein (une copie d'un modèle). Renvoie (journal, lignes, segments)."""
    taille_ligne = len(ligne_json(next(_enregistrements(10**9, 1))))
    par_segment = SEGMENT_OCTETS_DEFAUT // taille_ligne - 1
    registre = JournalRequetes(dossier / "requetes.jsonl")
    registre.segments.creer()
    modeles = []
    for rang in range(MODELES):
        chemin = dossier / f"modele-{rang}.jsonl"
        ecrire_journal(chemin, par_segment, rang * par_segment, magasin)
        modeles.append((chemin, decrire(chemin.read_bytes(), Cible({}))))
    scelles = max(1, round(lignes / par_segment) - 1)
    with registre.segments.verrou(), registre.segments.index() as index:
        DossierSegments.accorder_a_la_base(index, magasin.identite())
        for numero in range(scelles):
            modele, contenu = modeles[numero % MODELES]
            nom = f"{numero + 1:020d}.jsonl"
            os.link(modele, registre.segments.dossier / nom)
            DossierSegments.inscrire(index, nom, contenu, en_base=True)
    shutil.copyfile(modeles[0][0], registre.chemin)
    return registre.chemin, (scelles + 1) * par_segment, scelles


def _jusqu_a_ready(dossier: Path, env: dict, nom: str) -> tuple[float, str]:
    """gunicorn (configuration de production) lancé sur la boucle locale ; secondes jusqu'au premier 200 de
    ``/ready``, et la ligne de la réconciliation du démarrage (des nombres seulement)."""
    port = _port_libre()
    sortie = dossier / f"gunicorn-{nom}.log"
    with open(sortie, "wb") as fichier:
        debut = time.perf_counter()
        processus = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(RACINE / "gunicorn.conf.py"),
                                      "--bind", f"127.0.0.1:{port}"], cwd=RACINE, env={**os.environ, "API_TOKEN": "",
                                                                                       "PORT": str(port), **env},
                                     stdout=fichier, stderr=subprocess.STDOUT)
        try:
            while True:
                if processus.poll() is not None or time.perf_counter() - debut > 300:
                    raise RuntimeError(f"gunicorn ne répond pas : {sortie.read_text(errors='replace')[-1500:]}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as reponse:
                        if reponse.status == 200:
                            duree = time.perf_counter() - debut
                            break
                except OSError:
                    pass
                time.sleep(0.005)
        finally:
            _arreter(processus)
    ligne = re.search(r"réconciliation : (\d+) ligne\(s\) du journal lues.*?(\d+) segment\(s\) confirmé", sortie.read_text(
        errors="replace"))
    return duree, f"{int(ligne.group(1)):,} lignes relues, {ligne.group(2)} segments sautés" if ligne else "?"


def mesurer_demarrage(lignes: int, url_pg: str, essais: int = 3, sqlite: bool = True) -> None:
    definir_sel(Configuration.depuis_environnement().sel_effacement)  # l'index est écrit avec le sel du service
    with tempfile.TemporaryDirectory() as racine:
        for nom_base in ("SQLite",) * sqlite + ("PostgreSQL",) * bool(url_pg):
            dossier = Path(racine) / nom_base
            dossier.mkdir()
            with _base(url_pg if nom_base == "PostgreSQL" else "", dossier) as url:
                magasin = MagasinResultats(url)
                magasin.preparer()
                debut = time.perf_counter()
                journal, total, scelles = preparer_journal(dossier, lignes, magasin)
                print(f"{nom_base} — journal de {total:,} lignes : {scelles} segments scellés de 16 Mio (liens durs "
                      f"vers {MODELES} modèles, {MODELES * (total // (scelles + 1)):,} prédictions distinctes en base), "
                      f"confirmés dans l'index, et un journal actif plein ; préparé en {time.perf_counter() - debut:.1f} s")
                magasin.moteur.dispose()
                env = {"DATABASE_URL": url, "BASE_SQLITE_CHEMIN": str(dossier / "resultats.sqlite3")}
                (dossier / "vide").mkdir()
                vide, _ = _mediane(essais, lambda: _jusqu_a_ready(
                    dossier, {**env, "JOURNAL_CHEMIN": str(dossier / "vide" / "r.jsonl")}, "vide"))
                registre = JournalRequetes(journal)
                with registre.segments.verrou(), registre.segments.index() as index:  # « avant l'issue 26 »
                    index.execute("UPDATE confirmations SET identite = 'banc-ancienne-reconciliation'")
                ancienne, lu_ancienne = _jusqu_a_ready(dossier, {**env, "JOURNAL_CHEMIN": str(journal)}, "ancienne")
                nouvelle, lu_nouvelle = _mediane(essais, lambda: _jusqu_a_ready(
                    dossier, {**env, "JOURNAL_CHEMIN": str(journal)}, "nouvelle"))

                def apres_arret_brutal():  # kill -9 : le début du journal actif n'a pas été noté en base
                    with registre.segments.verrou(), registre.segments.index() as index:
                        index.execute("DELETE FROM actif")
                    return _jusqu_a_ready(dossier, {**env, "JOURNAL_CHEMIN": str(journal)}, "brutal")

                brutal, lu_brutal = _mediane(essais, apres_arret_brutal)
                print(f"{nom_base} — démarrage jusqu'au premier 200 de /ready (médiane de {essais}, sauf l'ancienne) : "
                      f"journal vide {vide:.2f} s | ancienne réconciliation (tout le journal) {ancienne:.2f} s "
                      f"({lu_ancienne}) | nouvelle, après un arrêt normal {nouvelle:.2f} s ({lu_nouvelle}) | nouvelle, "
                      f"après un kill -9 (journal actif plein relu) {brutal:.2f} s ({lu_brutal}) ; "
                      f"{ancienne / brutal:.0f}× plus tôt ; objectif ≤ 1 s au pire : "
                      f"{'atteint' if brutal <= 1 else 'NON atteint'} (charge de la machine : "
                      f"{os.getloadavg()[0]:.1f} sur {os.cpu_count()} cœurs)")


def _mediane(essais: int, mesure) -> tuple[float, str]:
    """La médiane des durées de ``essais`` mesures (durée, description), avec la description de la dernière."""
    resultats = [mesure() for _ in range(essais)]
    return statistics.median(d for d, _ in resultats), resultats[-1][1]


@contextlib.contextmanager
def _base(url_pg: str, dossier: Path):
    """SQLite dans ``dossier`` ; ou un schéma PostgreSQL neuf, supprimé à la fin."""
    if not url_pg:
        yield f"sqlite:///{dossier / 'resultats.sqlite3'}"
        return
    schema = f"banc_{uuid.uuid4().hex[:12]}"
    with create_engine(url_pg).begin() as connexion:
        connexion.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(url_pg).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with create_engine(url_pg).begin() as connexion:
            connexion.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def main() -> None:
    analyseur = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    analyseur.add_argument("--lignes", type=int, default=1_000_000)
    analyseur.add_argument("--retard", type=int, default=20_000)
    analyseur.add_argument("--url", default="")
    analyseur.add_argument("--demarrage", type=int, default=0,
                           help="seulement le démarrage (temps jusqu'à /ready) avec un journal de ce nombre de lignes")
    analyseur.add_argument("--sans-sqlite", action="store_true", help="avec --demarrage et --url : PostgreSQL seul")
    options = analyseur.parse_args()
    if options.demarrage:
        mesurer_demarrage(options.demarrage, options.url, sqlite=not options.sans_sqlite)
        return
    with tempfile.TemporaryDirectory() as dossier:
        journal = Path(dossier) / "requetes.jsonl"
        debut = time.perf_counter()
        ecrire_journal(journal, options.lignes)
        print(f"journal : {options.lignes} lignes, {journal.stat().st_size / 2**20:.0f} Mio, écrit en "
              f"{time.perf_counter() - debut:.1f} s")
        with _base(options.url, Path(dossier)) as url:
            magasin = MagasinResultats(url)
            magasin.preparer()
            if options.retard:
                print(mesurer_retard(magasin, Path(dossier) / "retard.jsonl", options.retard))
            conservation = Conservation(magasin, JournalRequetes(journal))
            for cas in ("base vide (tout à insérer)", "base à jour (rien à insérer)"):
                bilan = conservation.reconcilier(complete=True)
                print(f"{magasin.nom} — réconciliation, {cas} : {bilan.lignes} lignes lues, {bilan.inserees} "
                      f"insérées, en {bilan.duree_s:.1f} s ({bilan.lignes / bilan.duree_s:,.0f} lignes/s)")
            magasin.moteur.dispose()


if __name__ == "__main__":
    main()

"""Banc d'essai de la commande de lot : ``python -m outils.banc_lot [--fichiers 1000] [--eleves 400] [--taches 2]``.

Écrit ``--fichiers`` fichiers de classes de ``--eleves`` élèves valides (tirés au hasard dans le schéma, une
colonne « nom » fictive en plus ; chaque fichier a son contenu, donc ses request_id) dans un dossier
temporaire, puis lance ``--taches`` processus ``python -m app.lot`` en même temps (CLOUD_RUN_TASK_INDEX /
CLOUD_RUN_TASK_COUNT), sur le même journal et la même base SQLite, comme deux tâches d'un job Cloud Run.

Affiche la durée totale (du lancement à la sortie de la dernière tâche : prédiction, journal, base et
sorties compris), le débit, le pic de mémoire (RSS) de chaque tâche, et les prédictions en base à la fin.
Avec ``--comparer``, refait la mesure sur un dixième des fichiers : des pics égaux montrent une mémoire
plate (elle ne croît pas avec le nombre de fichiers). Rien n'est gardé.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.config import RACINE
from app.modele.eleves_aleatoires import eleves_aleatoires
from app.modele.schema import CHAMPS

RESERVE = 5000
"""Élèves tirés une fois ; chaque fichier en prend ``--eleves`` à partir d'un rang qui dépend de lui."""


def ecrire_fichiers(dossier: Path, fichiers: int, eleves: int) -> None:
    lignes = []
    for eleve in eleves_aleatoires(RESERVE, graine=1, notes_absentes=0.05):
        sortie = io.StringIO()
        csv.writer(sortie, delimiter=";", lineterminator="\n").writerow(
            ["" if eleve[c] is None else eleve[c] for c in CHAMPS])
        lignes.append(sortie.getvalue())
    entete = ";".join(["nom", *CHAMPS]) + "\n"
    for f in range(fichiers):
        debut = (f * 37) % (RESERVE - eleves)
        corps = "".join(f"eleve-{f}-{i};{ligne}" for i, ligne in enumerate(lignes[debut:debut + eleves]))
        (dossier / f"classe-{f:05d}.csv").write_text(entete + corps, encoding="utf-8")


def mesurer(fichiers: int, eleves: int, taches: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="banc-lot-") as temporaire:
        dossier = Path(temporaire)
        (dossier / "entree").mkdir()
        ecrire_fichiers(dossier / "entree", fichiers, eleves)
        env = {**os.environ, "JOURNAL_CHEMIN": str(dossier / "requetes_enrg.jsonl"),
               "BASE_SQLITE_CHEMIN": str(dossier / "resultats.sqlite3"), "CLOUD_RUN_TASK_COUNT": str(taches)}
        debut = time.perf_counter()
        processus = [subprocess.Popen([sys.executable, "-m", "app.lot", str(dossier / "entree"), str(dossier / "sortie")],
                                      cwd=RACINE, env={**env, "CLOUD_RUN_TASK_INDEX": str(t)},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                     for t in range(taches)]
        pics, codes = {}, {}
        for _ in processus:
            pid, statut, usage = os.wait4(-1, 0)
            pics[pid], codes[pid] = usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(statut)
        duree = time.perf_counter() - debut
        for p in processus:
            p.returncode = codes[p.pid]
            if p.returncode != 0:
                raise SystemExit(f"tâche en échec ({p.returncode}) : {p.stderr.read().decode()[-2000:]}")
            p.stderr.close()
        with sqlite3.connect(dossier / "resultats.sqlite3") as base:
            en_base = base.execute("SELECT count(*) FROM predictions WHERE canal = 'lot'").fetchone()[0]
        sorties = len(list((dossier / "sortie").glob("*.resultats.csv")))
    return {"duree_s": duree, "pics_mio": [pics[p.pid] for p in processus], "en_base": en_base,
            "sorties": sorties, "eleves": fichiers * eleves}


def afficher(titre: str, m: dict) -> None:
    print(f"{titre} : {m['eleves']} élèves en {m['duree_s']:.1f} s ({m['eleves'] / m['duree_s']:.0f} élèves/s) ; "
          f"pic RSS par tâche : {', '.join(f'{p:.0f} Mio' for p in m['pics_mio'])} ; "
          f"{m['sorties']} fichiers de résultats, {m['en_base']} prédictions en base")


def main() -> None:
    analyseur = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    analyseur.add_argument("--fichiers", type=int, default=1000)
    analyseur.add_argument("--eleves", type=int, default=400)
    analyseur.add_argument("--taches", type=int, default=2)
    analyseur.add_argument("--comparer", action="store_true", help="refaire sur un dixième des fichiers (mémoire)")
    options = analyseur.parse_args()
    m = mesurer(options.fichiers, options.eleves, options.taches)
    afficher(f"{options.fichiers} fichiers × {options.eleves} élèves, {options.taches} tâches", m)
    if options.comparer:
        petit = max(options.fichiers // 10, options.taches)
        p = mesurer(petit, options.eleves, options.taches)
        afficher(f"{petit} fichiers × {options.eleves} élèves, {options.taches} tâches", p)
        print(f"pic de mémoire, {options.fichiers} fichiers / {petit} : "
              f"{max(m['pics_mio']) / max(p['pics_mio']):.2f}")


if __name__ == "__main__":
    main()

"""Banc d'essai de l'effacement à grande échelle : ``python -m outils.banc_effacement [--lignes 100000 1000000]``.

Pour chaque taille N, un journal de N lignes d'essai (élève d'exemple, ~20 prédictions par user_id,
réparties sur tout le journal : le cas d'un élève suivi pendant l'année) est écrit deux fois dans un dossier
temporaire : en segments (le journal d'aujourd'hui, ``JOURNAL_SEGMENT`` = 16 Mio) et en un seul fichier.
La référence, mesurée dans la même exécution, est l'effacement d'avant les segments : tout le fichier relu
et réécrit sous le verrou des écrivains (ce que faisait ``JournalRequetes.retirer``).

Pendant chaque effacement, un fil écrit une prédiction au journal toutes les millisecondes : la plus longue
écriture est ce qu'un effacement fait attendre aux prédictions de l'instance (cible : 50 ms au plus).
Deux cas : un élève présent (~20 lignes) et un élève absent. L'index des segments est construit avant
(en service, le fil d'alimentation le tient à jour à chaque scellement) : sa durée est donnée à part.
Rien n'est gardé ; aucune donnée personnelle (élève d'exemple, identifiants générés).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from app.config import RACINE
from app.stockage.enregistrement import empreinte_utilisateur, nouvel_enregistrement
from app.stockage.journal import JournalRequetes

PAR_ELEVE = 20


def ecrire(registre: JournalRequetes, nombre: int, paquet: int = 2000) -> None:
    """Les N lignes, par paquets, scellées en segments comme en service (``JournalRequetes.ecrire``) ; user_id
    ``eleve-{i % (N / 20)}`` : chaque élève a ~20 lignes réparties sur tout le journal."""
    exemple = json.loads((RACINE / "test" / "donnees.json").read_text(encoding="utf-8"))
    eleves = max(1, nombre // PAR_ELEVE)
    for debut in range(0, nombre, paquet):
        registre.ecrire([nouvel_enregistrement(
            request_id=f"banc-{i}", user_id=f"eleve-{i % eleves}", configuration="A", entrees=exemple, prediction=1,
            probabilite_echec=0.2, probabilite_reussite=0.8, seuil=0.5, model_version="banc", canal="http")
            for i in range(debut, min(nombre, debut + paquet))])


def effacer_ancien(registre: JournalRequetes, user_id: str) -> int:
    """La référence : l'effacement d'avant les segments (tout le journal relu et réécrit sous le verrou)."""
    motif = f'"user_id":"{user_id}"'.encode()
    temporaire = registre.chemin.with_name(".ancien.tmp")
    with registre.verrou():
        with open(registre.chemin, "rb") as source:
            if not any(motif in ligne and json.loads(ligne).get("user_id") == user_id for ligne in source):
                return 0
            source.seek(0)
            retirees = 0
            with open(temporaire, "wb") as cible:
                for ligne in source:
                    if motif in ligne and json.loads(ligne).get("user_id") == user_id:
                        retirees += 1
                        continue
                    cible.write(ligne)
                cible.flush()
                os.fsync(cible.fileno())
        os.replace(temporaire, registre.chemin)
    return retirees


def pendant_des_ecritures(chemin: Path, segment: int, action) -> tuple[float, object, float, float, int]:
    """(durée de ``action``, son résultat, plus longue écriture, p99 des écritures, écritures) pendant elle."""
    ecrivain = JournalRequetes(chemin, segment_octets=segment, periode_fsync=None)
    durees: list[float] = []
    actif, fin = threading.Event(), threading.Event()

    def ecrire_en_continu():
        i = 0
        while not fin.is_set():
            pendant = actif.is_set()  # une écriture commencée pendant l'effacement compte, même finie après
            debut = time.perf_counter()
            ecrivain.ecrire([{"horodatage": "2026-12-02T00:00:00.000000+00:00", "request_id": f"pendant-{i}",
                              "user_id": "eleve-pendant"}])
            if pendant:
                durees.append(time.perf_counter() - debut)
            i += 1
            time.sleep(0.001)

    fil = threading.Thread(target=ecrire_en_continu)
    fil.start()
    time.sleep(0.05)
    actif.set()
    debut = time.perf_counter()
    resultat = action()
    duree = time.perf_counter() - debut
    actif.clear()
    time.sleep(0.01)  # l'écriture éventuellement retenue par l'effacement se termine
    fin.set()
    fil.join()
    durees.sort()
    p99 = durees[int(len(durees) * 0.99)] if durees else 0.0
    return duree, resultat, (durees[-1] if durees else 0.0), p99, len(durees)


def mesurer(nombre: int, dossier: Path) -> list[str]:
    segment = 16 << 20
    lignes = []
    present, absent = f"eleve-{nombre // PAR_ELEVE // 2}", "eleve-absent"
    for nom in ("segments", "ancien"):
        sous_dossier = dossier / nom
        sous_dossier.mkdir()
        chemin = sous_dossier / "requetes.jsonl"
        taille_segment = segment if nom == "segments" else 1 << 62
        registre = JournalRequetes(chemin, segment_octets=taille_segment, periode_fsync=None)
        ecrire(registre, nombre)
        octets = registre.taille()
        index_s = ""
        if nom == "segments":
            debut = time.perf_counter()
            registre.segments_confirmes()  # construit l'index (en service : à chaque scellement, en fond)
            index_s = (f" ; index de {len(registre.segments.lister())} segments construit en "
                       f"{time.perf_counter() - debut:.2f} s")
        for eleve in (present, absent):
            if nom == "segments":
                action = lambda e=eleve: len(registre.effacer({empreinte_utilisateur(e): None},  # noqa: E731
                                                              f'"user_id":"{e}"'.encode()))
            else:
                action = lambda e=eleve: effacer_ancien(registre, e)  # noqa: E731
            duree, retirees, attente_max, p99, ecritures = pendant_des_ecritures(chemin, taille_segment, action)
            lignes.append(f"| {nombre:,} | {nom} | {'présent' if eleve == present else 'absent'} | {retirees} | "
                          f"{duree * 1000:,.0f} ms | {attente_max * 1000:.1f} ms | {p99 * 1000:.2f} ms | {ecritures} |")
        print(f"  {nombre:,} lignes, {nom} : {octets / 2**20:,.0f} Mio{index_s}", flush=True)
        shutil.rmtree(sous_dossier)
    return lignes


def main(arguments: list[str] | None = None) -> int:
    analyse = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    analyse.add_argument("--lignes", type=int, nargs="+", default=[100_000, 1_000_000])
    options = analyse.parse_args(arguments)
    lignes = ["| lignes au journal | journal | élève | lignes retirées | durée de l'effacement | "
              "plus longue écriture pendant (cible ≤ 50 ms) | p99 des écritures | écritures pendant |",
              "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="banc-effacement-") as dossier:
        for nombre in options.lignes:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(Path(dossier) / str(nombre))
            (Path(dossier) / str(nombre)).mkdir()
            lignes += mesurer(nombre, Path(dossier) / str(nombre))
    print("\n".join(lignes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

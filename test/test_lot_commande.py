"""La commande de lot (``python -m app.lot``), lancée comme en production : de vrais processus, un vrai
journal, une vraie base SQLite ; les tâches d'un job Cloud Run par CLOUD_RUN_TASK_INDEX / COUNT.

Aucune donnée d'élève n'est affichée : les assertions portent sur des comptes et des identifiants."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from app.modele.eleves_aleatoires import eleves_aleatoires
from app.modele.schema import CHAMPS
from test.conftest import RACINE, contenu_journal, ids_en_base


def ecrire_classe(chemin: Path, eleves: int, graine: int, mauvaise_ligne: bool = False) -> None:
    """Un fichier de classe comme un export de tableur : « ; », une colonne « nom » en plus, G1/G2 parfois vides."""
    sortie = io.StringIO()
    redacteur = csv.writer(sortie, delimiter=";", lineterminator="\n")
    redacteur.writerow(["nom", *CHAMPS])
    for i, eleve in enumerate(eleves_aleatoires(eleves, graine=graine, notes_absentes=0.1)):
        ligne = [f"eleve-{graine}-{i}", *("" if eleve[c] is None else eleve[c] for c in CHAMPS)]
        if mauvaise_ligne and i == 1:
            ligne[CHAMPS.index("age") + 1] = "99"  # hors bornes : la page refuse cette ligne seule
        if mauvaise_ligne and i == 2:
            ligne = ligne[:5]  # trop peu de valeurs
        redacteur.writerow(ligne)
    chemin.write_text(sortie.getvalue(), encoding="utf-8")


def lancer(entree: Path, sortie: Path, donnees: Path, index: int = 0, nombre: int = 1, attendre: bool = True,
           env: dict | None = None):
    env = {**os.environ, "JOURNAL_CHEMIN": str(donnees / "requetes_enrg.jsonl"),
           "BASE_SQLITE_CHEMIN": str(donnees / "resultats.sqlite3"), "DATABASE_URL": "",
           "CLOUD_RUN_TASK_INDEX": str(index), "CLOUD_RUN_TASK_COUNT": str(nombre), **(env or {})}
    env.pop("CLOUD_RUN_JOB", None)
    processus = subprocess.Popen([sys.executable, "-m", "app.lot", str(entree), str(sortie)], cwd=RACINE, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not attendre:
        return processus
    stdout, stderr = processus.communicate(timeout=300)
    return processus.returncode, [json.loads(ligne) for ligne in stdout.splitlines()], stderr


def base(donnees: Path) -> str:
    """L'URL de la base SQLite d'un dossier de données (celle de ``lancer`` et de l'image)."""
    return f"sqlite:///{donnees / 'resultats.sqlite3'}"


def ids_au_journal(donnees: Path) -> list[str]:
    ids = []
    for ligne in contenu_journal(donnees / "requetes_enrg.jsonl").splitlines():
        try:
            document = json.loads(ligne)
        except ValueError:  # une ligne coupée par kill -9 : la réconciliation la compte illisible
            continue
        assert document["canal"] == "lot"
        ids.append(document["request_id"])
    return ids


def lignes_resultats(chemin: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(chemin.read_text(encoding="utf-8")), delimiter=";"))


@pytest.mark.parametrize("taches", [1, 2, 3, 4, 5])
def test_chaque_fichier_est_pris_par_exactement_une_tache(tmp_path, taches):
    entree, sortie, donnees = tmp_path / "entree", tmp_path / "sortie", tmp_path / "donnees"
    entree.mkdir()
    donnees.mkdir()
    noms = [f"classe-{i:02d}.csv" for i in range(7)]
    for i, nom in enumerate(noms):
        ecrire_classe(entree / nom, 5, graine=i)
    (entree / "notes.txt").write_text("pas une classe", encoding="utf-8")  # ignoré : pas un .csv
    processus = [lancer(entree, sortie, donnees, index=t, nombre=taches, attendre=False) for t in range(taches)]
    pris = Counter()
    for t, p in enumerate(processus):
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr[-2000:]
        evenements = [json.loads(ligne) for ligne in stdout.splitlines()]
        assert {e["tache"] for e in evenements} == {t}
        pris.update(e["fichier"] for e in evenements if e["evenement"] == "fichier")
    assert pris == Counter(noms), "chaque fichier une fois, sur toutes les tâches"
    assert sorted(f.name for f in sortie.iterdir()) == sorted(
        f"classe-{i:02d}.{s}" for i in range(7) for s in ("resultats.csv", "resume.json"))
    assert len(ids_en_base(base(donnees))) == len(set(ids_en_base(base(donnees)))) == 7 * 5


def test_tache_hors_de_sa_plage_refusee_sans_rien_ecrire(tmp_path):
    (tmp_path / "entree").mkdir()
    code, _, stderr = lancer(tmp_path / "entree", tmp_path / "sortie", tmp_path, index=2, nombre=2)
    assert code == 2 and "CLOUD_RUN_TASK_INDEX=2" in stderr
    assert not (tmp_path / "sortie").exists()


def test_kill_9_a_mi_chemin_puis_reprise_sans_doublon(tmp_path):
    entree, sortie, donnees = tmp_path / "entree", tmp_path / "sortie", tmp_path / "donnees"
    entree.mkdir()
    donnees.mkdir()
    fichiers, eleves = 120, 400
    for i in range(fichiers):
        ecrire_classe(entree / f"classe-{i:03d}.csv", eleves, graine=i)
    processus = lancer(entree, sortie, donnees, attendre=False)
    limite = time.monotonic() + 120
    while len(list(sortie.glob("*.resume.json"))) < 20 and time.monotonic() < limite and processus.poll() is None:
        time.sleep(0.02)
    processus.send_signal(signal.SIGKILL)
    processus.communicate()
    faits = len(list(sortie.glob("*.resume.json")))
    assert 20 <= faits < fichiers, f"tué à mi-chemin : {faits} fichiers faits sur {fichiers}"

    code, evenements, stderr = lancer(entree, sortie, donnees)
    assert code == 0, stderr[-2000:]
    statuts = Counter(e["statut"] for e in evenements if e["evenement"] == "fichier")
    assert statuts["saute"] >= faits - 1 and statuts["saute"] + statuts["termine"] == fichiers
    for i in range(fichiers):
        resume = json.loads((sortie / f"classe-{i:03d}.resume.json").read_text(encoding="utf-8"))
        assert resume["statut"] == "termine" and resume["predits"] == eleves
        assert len(lignes_resultats(sortie / f"classe-{i:03d}.resultats.csv")) == eleves
    assert not list(sortie.glob(".*.tmp")), "les temporaires d'un passage tué sont retirés"
    en_base = ids_en_base(base(donnees))
    assert len(en_base) == len(set(en_base)) == fichiers * eleves, "chaque élève une fois en base"
    journal = Counter(ids_au_journal(donnees))
    assert set(journal) == set(en_base) and set(journal.values()) == {1}, "chaque élève une fois au journal"

    # Tué entre le journal et les sorties (le cas que kill -9 ne vise pas à coup sûr) : sorties retirées.
    (sortie / "classe-007.resume.json").unlink()
    (sortie / "classe-008.resultats.csv").unlink()
    code, evenements, _ = lancer(entree, sortie, donnees)
    assert code == 0
    refaits = [e for e in evenements if e["evenement"] == "fichier" and e["statut"] != "saute"]
    assert [e["fichier"] for e in refaits] == ["classe-007.csv", "classe-008.csv"]
    assert all(e["eleves"] == eleves for e in refaits)
    assert evenements[-1]["deja_conserves"] == 2 * eleves, "leurs élèves étaient déjà conservés : rien de plus"
    assert len(lignes_resultats(sortie / "classe-008.resultats.csv")) == eleves
    assert Counter(ids_au_journal(donnees)) == journal
    assert sorted(ids_en_base(base(donnees))) == sorted(en_base)


def test_ligne_refusee_comme_par_la_page_et_fichier_illisible(tmp_path, serveur):
    entree, sortie, donnees = tmp_path / "entree", tmp_path / "sortie", tmp_path / "donnees"
    entree.mkdir()
    donnees.mkdir()
    ecrire_classe(entree / "avec-erreurs.csv", 6, graine=3, mauvaise_ligne=True)
    (entree / "illisible.csv").write_text("nom;age\nx;15\n", encoding="utf-8")
    code, evenements, _ = lancer(entree, sortie, donnees)
    assert code == 1, "un fichier illisible : code de sortie non nul, les autres écrits"
    assert evenements[-1]["evenement"] == "fin" and evenements[-1]["fichiers_illisibles"] == ["illisible.csv"]

    page = requests.post(serveur.url + "/predire/lot/partiel", data=(entree / "avec-erreurs.csv").read_bytes(),
                         headers={"Content-Type": "text/csv"}, timeout=60)
    assert page.status_code == 200
    resume = json.loads((sortie / "avec-erreurs.resume.json").read_text(encoding="utf-8"))
    assert resume["rejets"] == page.json()["rejets"] and len(resume["rejets"]) == 2
    assert {r["position"] for r in resume["rejets"]} == {3, 4}  # lignes du fichier (en-tête = 1)
    assert resume["recus"] == 6 and resume["predits"] == 4 and resume["rejetes"] == 2
    resultats = lignes_resultats(sortie / "avec-erreurs.resultats.csv")
    assert [r["nom"] for r in resultats] == [r["supplementaires"]["nom"] for r in page.json()["resultats"]]
    assert [float(r["probabilite_echec"]) for r in resultats] == [r["probabilite_echec"]
                                                                  for r in page.json()["resultats"]]
    # La fiabilité de chaque configuration servie vient de la fiche du modèle, comme GET /modele la donne.
    modele = requests.get(serveur.url + "/modele", timeout=10).json()
    assert resume["model_version"] == modele["model_version"]
    for configuration, fiabilite in resume["fiabilite"].items():
        assert fiabilite["metriques"] == modele["configurations"][configuration]["metriques"]
        assert fiabilite["seuil"] == modele["configurations"][configuration]["seuil"]

    illisible = json.loads((sortie / "illisible.resume.json").read_text(encoding="utf-8"))
    refus = requests.post(serveur.url + "/predire/lot/partiel", data=(entree / "illisible.csv").read_bytes(),
                          headers={"Content-Type": "text/csv"}, timeout=60)
    assert refus.status_code == 400
    assert illisible["statut"] == "illisible"
    assert (illisible["erreur"], illisible["details"]) == (refus.json()["erreur"], refus.json()["details"])
    assert not (sortie / "illisible.resultats.csv").exists()


def test_configuration_d_une_tache_de_job():
    from app.config import Configuration, ErreurConfiguration

    config = Configuration.depuis_environnement({"CLOUD_RUN_TASK_INDEX": "3", "CLOUD_RUN_TASK_COUNT": "5"})
    assert (config.tache_index, config.tache_nombre, config.sur_cloud_run) == (3, 5, False)
    assert (Configuration.depuis_environnement({}).tache_index, Configuration.depuis_environnement({}).tache_nombre) == (0, 1)
    for env, message in (({"CLOUD_RUN_TASK_INDEX": "5", "CLOUD_RUN_TASK_COUNT": "5"}, "CLOUD_RUN_TASK_INDEX=5"),
                         ({"CLOUD_RUN_TASK_COUNT": "0"}, "CLOUD_RUN_TASK_COUNT"),
                         ({"CLOUD_RUN_JOB": "lot"}, "CLOUD_RUN_JOB")):  # job Cloud Run sans base partagée
        with pytest.raises(ErreurConfiguration, match=message):
            Configuration.depuis_environnement(env)
    with pytest.raises(ErreurConfiguration, match="EFFACEMENT_SEL"):  # le job écrit au registre des effacements
        Configuration.depuis_environnement({"CLOUD_RUN_JOB": "lot", "DATABASE_URL": "postgresql+psycopg://u@h/b"})
    job = Configuration.depuis_environnement({"CLOUD_RUN_JOB": "lot", "DATABASE_URL": "postgresql+psycopg://u@h/b",
                                              "EFFACEMENT_SEL": "s" * 32})
    assert job.sur_cloud_run and job.journaux_json and job.borne_journal == 64 << 20


def test_deux_taches_sur_postgresql_avec_une_connexion_chacune(tmp_path, base_postgresql):
    """Comme le job déployé (JOB_FILS=1 : GUNICORN_THREADS=1, pool d'une connexion par tâche) : le fil qui insère
    et celui qui vérifie les request_id se la partagent ; chaque élève une fois en base."""
    entree, sortie = tmp_path / "entree", tmp_path / "sortie"
    entree.mkdir()
    for i in range(6):
        ecrire_classe(entree / f"classe-{i}.csv", 50, graine=200 + i)
    env = {"DATABASE_URL": base_postgresql, "GUNICORN_THREADS": "1"}
    for t in range(2):  # chaque tâche son journal (Cloud Run : le disque en mémoire de la tâche)
        (tmp_path / f"donnees-{t}").mkdir()
    for _ in range(2):  # le second passage saute tout
        processus = [lancer(entree, sortie, tmp_path / f"donnees-{t}", t, 2, attendre=False, env=env) for t in range(2)]
        for p in processus:
            _, stderr = p.communicate(timeout=300)
            assert p.returncode == 0, stderr[-2000:]
        ids = ids_en_base(base_postgresql)
        assert len(ids) == len(set(ids)) == 6 * 50


def test_journal_plein_arret_code_3_sans_sortie_puis_reprise(tmp_path):
    """Le journal refuse (borne atteinte, comme sur Cloud Run quand la base ne suit pas) : arrêt net, code 3, aucune
    sortie pour le fichier refusé ; relancée avec de la place, la commande le fait."""
    entree, sortie = tmp_path / "entree", tmp_path / "sortie"
    entree.mkdir()
    ecrire_classe(entree / "classe.csv", 50, graine=7)
    code, _, stderr = lancer(entree, sortie, tmp_path, env={"JOURNAL_SEGMENT": "4Kio", "JOURNAL_BORNE": "8Kio"})
    assert code == 3 and "journal des requêtes ne peut pas être écrit" in stderr and "relancez" in stderr
    assert list(sortie.iterdir()) == [] and ids_en_base(base(tmp_path)) == []
    code, evenements, stderr = lancer(entree, sortie, tmp_path)
    assert code == 0, stderr[-2000:]
    assert [e["statut"] for e in evenements if e["evenement"] == "fichier"] == ["termine"]
    assert len(ids_en_base(base(tmp_path))) == 50

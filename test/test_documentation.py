"""Les exemples du README et de docs/ tournent tels qu'ils sont écrits.

Chaque bloc ```bash ou ```python d'une page est exécuté, dans l'ordre de la page, depuis une copie de la
racine du dépôt (liens vers ses dossiers : ce que les exemples écrivent, ``classe.csv`` par exemple, ne
touche aucun fichier versionné), contre un vrai gunicorn lancé pour le test et, si la page parle gRPC, un
vrai serveur gRPC : leurs ports remplacent 8080 et 50051 dans le texte, et l'environnement des exemples est
celui du serveur (``API_TOKEN``, journal et base temporaires). Un bloc ```console n'est pas exécuté : la
page dit pourquoi (gcloud, moteur de conteneurs, service qui reste lancé, durée). Le site, lui, est
construit en ``--strict`` par ``make docs`` (lancé par .ci/run).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test.conftest import RACINE, Serveur, port_libre

BLOC = re.compile(r"^```([a-z]+)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
EXECUTES = {"bash", "python"}
PERMIS = EXECUTES | {"console", "text", "toml", "json", "yaml", "csv", "proto"}
PAGES = [RACINE / "README.md", *sorted((RACINE / "docs").glob("*.md"))]
JETON = "jeton-essai-documentation-0123456789abcdef"


def blocs(page: Path) -> list[tuple[str, str, int]]:
    """(langage, code, numéro de ligne) de chaque bloc de la page."""
    texte = page.read_text(encoding="utf-8")
    return [(m.group(1), m.group(2), texte.count("\n", 0, m.start()) + 1) for m in BLOC.finditer(texte)]


def test_chaque_bloc_dit_s_il_est_execute():
    """Un bloc sans langage, ou d'un langage inconnu, n'est ni exécuté ni déclaré non exécutable : refusé."""
    inconnus = [f"{page.relative_to(RACINE)}:{ligne} ({langage})" for page in PAGES
                for langage, _, ligne in blocs(page) if langage not in PERMIS]
    nus = [f"{page.relative_to(RACINE)}:{numero}" for page in PAGES
           for numero, ligne in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
           if ligne.strip() == "```" and not _ferme_un_bloc(page, numero)]
    assert not inconnus and not nus, f"blocs sans langage permis : {inconnus + nus}"


def _ferme_un_bloc(page: Path, numero: int) -> bool:
    lignes = page.read_text(encoding="utf-8").splitlines()[:numero]
    return sum(1 for l in lignes if l.startswith("```")) % 2 == 0


@pytest.fixture(scope="module")
def serveurs(tmp_path_factory):
    dossier = tmp_path_factory.mktemp("documentation")
    serveur = Serveur(dossier / "http", workers=1, env={"API_TOKEN": JETON}).attendre()
    port_grpc = port_libre()
    env = {**os.environ, "API_TOKEN": JETON, "JOURNAL_CHEMIN": str(serveur.journal),
           "BASE_SQLITE_CHEMIN": str(serveur.base), "DATABASE_URL": ""}
    sortie = open(dossier / "grpc.log", "wb")
    grpc = subprocess.Popen([sys.executable, "-m", "app.rpc", "--adresse", f"127.0.0.1:{port_grpc}"], cwd=RACINE,
                            env=env, stdout=sortie, stderr=subprocess.STDOUT)
    yield serveur, port_grpc, env
    grpc.terminate()
    grpc.wait(20)
    sortie.close()
    serveur.arreter()


def _copie_de_la_racine(dossier: Path) -> Path:
    """Un dossier de travail qui voit le dépôt (liens) sans pouvoir y ajouter de fichier à la racine."""
    dossier.mkdir()
    for entree in RACINE.iterdir():
        if entree.name not in (".git", "requetes_enrg.jsonl", "site") and not entree.name.startswith("requetes_enrg"):
            (dossier / entree.name).symlink_to(entree)
    return dossier


def _attendre_grpc(port: int) -> None:
    import grpc

    canal = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(canal).result(timeout=60)
    finally:
        canal.close()


@pytest.mark.parametrize("page", [p for p in PAGES if any(l in EXECUTES for l, _, _ in blocs(p))],
                         ids=lambda p: str(p.relative_to(RACINE)))
def test_les_exemples_de_la_page_tournent(page, serveurs, tmp_path):
    serveur, port_grpc, env = serveurs
    travail = _copie_de_la_racine(tmp_path / "racine")
    # Les exemples tournent dans l'environnement de ce test : make n'a pas à réinstaller .venv.
    env = {**env, "PATH": f"{RACINE / '.venv' / 'bin'}:{Path(sys.executable).parent}:{env.get('PATH', '')}",
           "DEJA_INSTALLE": "1"}
    avant = _etat_git()
    executes = 0
    for langage, code, ligne in blocs(page):
        if langage not in EXECUTES:
            continue
        if "50051" in code:
            _attendre_grpc(port_grpc)
        code = code.replace("127.0.0.1:8080", f"127.0.0.1:{serveur.port}").replace("127.0.0.1:50051",
                                                                                  f"127.0.0.1:{port_grpc}")
        commande = ["bash", "-e", "-o", "pipefail", "-c", code] if langage == "bash" else [sys.executable, "-c", code]
        debut = time.monotonic()
        resultat = subprocess.run(commande, cwd=travail, env=env, capture_output=True, text=True, timeout=600)
        # Jamais la sortie d'un exemple dans le rapport (elle peut contenir des données d'élèves) : sa fin d'erreur seulement.
        assert resultat.returncode == 0, (f"{page.relative_to(RACINE)}:{ligne} ({langage}) : code {resultat.returncode} "
                                          f"en {time.monotonic() - debut:.1f} s\n{resultat.stderr[-1500:]}")
        executes += 1
    assert executes, "aucun exemple exécuté"
    assert _etat_git() == avant, "un exemple a modifié ou ajouté un fichier du dépôt (git status)"


def _etat_git() -> str:
    """``git status`` du dépôt (fichiers suivis et non ignorés) : un exemple ne doit rien y changer."""
    resultat = subprocess.run(["git", "-C", str(RACINE), "status", "--porcelain"], capture_output=True, text=True)
    return resultat.stdout if resultat.returncode == 0 else ""

"""L'architecture en couches, vérifiée sur le code : dossiers de ``app/``, sens des imports, aucun cycle.

web → modele → stockage ; ``rpc`` (serveur gRPC) au rang du web : second adaptateur d'entrée du même
noyau, il importe modele et stockage, jamais web (ni web lui) ; ``lot`` (``python -m app.lot``, un district
en tâche de fond) au même rang, troisième entrée du même noyau ; ``entrainement`` à côté (il lit le
modèle), jamais importé par le service ;
``config``, ``json_rapide``, ``journalisation`` et ``limite_essais`` sont des feuilles que tout le monde peut lire.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from test.conftest import RACINE

APP = RACINE / "app"
# Rang de chaque couche : un module n'importe que des rangs strictement inférieurs, ou sa propre couche.
RANGS = {"feuille": 0, "stockage": 1, "modele": 2, "web": 3, "rpc": 3, "lot": 3, "entrainement": 3, "entree": 4}
FEUILLES = {"app.config", "app.json_rapide", "app.journalisation", "app.limite_essais"}
ENTREES = {"app", "app.main", "app.wsgi"}


def _module(chemin: Path) -> str:
    parties = list(chemin.relative_to(RACINE).with_suffix("").parts)
    if parties[-1] == "__init__":
        parties.pop()
    return ".".join(parties)


def _couche(module: str) -> str:
    if module in FEUILLES:
        return "feuille"
    if module in ENTREES:
        return "entree"
    return module.split(".")[1]


def _imports(chemin: Path) -> set[str]:
    """Tous les modules ``app.*`` importés, au niveau du module comme dans les fonctions."""
    trouves = set()
    for noeud in ast.walk(ast.parse(chemin.read_text(encoding="utf-8"))):
        if isinstance(noeud, ast.Import):
            trouves.update(alias.name for alias in noeud.names)
        elif isinstance(noeud, ast.ImportFrom) and noeud.module and noeud.level == 0:
            trouves.add(noeud.module)
            trouves.update(f"{noeud.module}.{alias.name}" for alias in noeud.names)
    return trouves


@pytest.fixture(scope="module")
def graphe() -> dict[str, set[str]]:
    fichiers = {_module(f): f for f in APP.rglob("*.py") if f.name != "__main__.py"}
    return {m: {i for i in _imports(f) if i in fichiers and i != m} for m, f in fichiers.items()}


def test_les_couches_sont_des_dossiers_et_app_reste_petit():
    directs = sorted(f.name for f in APP.glob("*.py"))
    assert len(directs) <= 8, directs
    assert {d.name for d in APP.iterdir() if d.is_dir() and d.name != "__pycache__"} == \
        {"web", "rpc", "lot", "modele", "stockage", "entrainement"}


def test_un_import_ne_fait_que_descendre(graphe):
    montees = [(m, i) for m, importes in graphe.items() for i in importes
               if _couche(i) != _couche(m) and RANGS[_couche(i)] >= RANGS[_couche(m)]]
    assert montees == []


def test_le_service_n_importe_jamais_l_entrainement(graphe):
    service = [m for m in graphe if _couche(m) != "entrainement"]
    assert [(m, i) for m in service for i in graphe[m] if _couche(i) == "entrainement"] == []


def test_aucun_cycle_d_imports(graphe):
    etat: dict[str, int] = {}
    cycles = []

    def visiter(module: str, pile: list[str]) -> None:
        etat[module] = 1
        for suivant in sorted(graphe[module]):
            if etat.get(suivant) == 1:
                cycles.append(pile[pile.index(suivant):] + [suivant] if suivant in pile else [module, suivant])
            elif suivant not in etat:
                visiter(suivant, pile + [suivant])
        etat[module] = 2

    for module in sorted(graphe):
        if module not in etat:
            visiter(module, [module])
    # Un paquet et ses sous-modules (app.web → app.web.fabrique) ne sont pas un cycle de code.
    assert [c for c in cycles if not all(a.startswith(c[0]) or c[0].startswith(a) for a in c)] == []


def test_la_commande_de_lot_n_importe_ni_le_web_ni_le_grpc_ni_l_entrainement(graphe):
    lot = [m for m in graphe if _couche(m) == "lot"]
    assert "app.lot.commande" in lot and "app.lot.fichier" in lot
    assert [(m, i) for m in lot for i in graphe[m] if _couche(i) in ("web", "rpc", "entrainement")] == []
    assert [(m, i) for m in graphe if _couche(m) in ("web", "rpc") for i in graphe[m] if _couche(i) == "lot"] == []


def test_l_adaptateur_grpc_n_importe_ni_le_web_ni_l_entrainement(graphe):
    rpc = [m for m in graphe if _couche(m) == "rpc"]
    assert "app.rpc.service" in rpc and "app.rpc.serveur" in rpc
    assert [(m, i) for m in rpc for i in graphe[m] if _couche(i) in ("web", "entrainement")] == []
    assert [(m, i) for m in graphe if _couche(m) == "web" for i in graphe[m] if _couche(i) == "rpc"] == []


@pytest.mark.parametrize("demarrage", ["from app import create_app\ncreate_app(config)",
                                       "from app.modele.noyau import construire_noyau\nimport app.rpc.serveur\n"
                                       "construire_noyau(config)"], ids=["http", "grpc"])
def test_le_service_demarre_sans_pandas_ni_scikit_learn_ni_entrainement(tmp_path, demarrage):
    """Avec le cache compilé, l'API (et le serveur gRPC) ne chargent que numpy : l'image de service n'a besoin
    de rien d'autre."""
    programme = (
        "import sys\n"
        "from app.config import Configuration\n"
        f"config = Configuration.depuis_environnement({{'JOURNAL_CHEMIN': r'{tmp_path / 'j.jsonl'}', "
        f"'BASE_SQLITE_CHEMIN': r'{tmp_path / 'r.sqlite3'}'}})\n"
        f"{demarrage}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'sklearn', 'scipy', 'joblib')"
        " or m.startswith('app.entrainement')))\n"
    )
    sortie = subprocess.run([sys.executable, "-c", programme], cwd=RACINE, capture_output=True, text=True, timeout=120)
    assert sortie.returncode == 0, sortie.stderr[-2000:]
    assert sortie.stdout.strip().splitlines()[-1] == "[]"

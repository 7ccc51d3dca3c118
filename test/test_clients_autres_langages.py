"""Le contrat tel que d'autres langages le voient, contre de vrais serveurs de cette machine.

- TypeScript : types générés depuis ``/openapi.json`` d'un vrai gunicorn par openapi-typescript (options par
  défaut), compilés par tsc (``strict``, ``noUncheckedIndexedAccess``), puis le client (openapi-fetch) lancé
  par Node : prédire, lot JSON, lot CSV, relire, historique, une 400 lue par élément, effacer — sans aucune
  conversion de type sur une réponse (``test/clients/typescript/src/client.ts``).
- gRPC : un client Node qui ne connaît que l'adresse du serveur construit ses types par la réflexion v1
  (``test/clients/typescript/src/grpc-reflexion.mjs``), sans .proto ni talon du dépôt.

Les versions exactes sont dans ``test/clients/typescript/package-lock.json`` ; ``npm ci`` les installe au
premier usage (``node_modules`` n'est pas versionné). Node vient de Debian (``.ci/run`` l'installe s'il manque).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from test.conftest import EN_CI, RACINE

PROJET = RACINE / "test" / "clients" / "typescript"
JETON = "jeton-clients-" + "t" * 40


def _node_ou_sauter() -> None:
    if shutil.which("node") and shutil.which("npm"):
        return
    if EN_CI:
        pytest.fail("node et npm absents en CI : .ci/run doit installer les paquets Debian nodejs et npm")
    pytest.skip("node et npm absents : apt-get install -y nodejs npm (ou lancez bash .ci/run)")


def _executer(commande: list[str], cwd, env: dict | None = None, delai: int = 600) -> str:
    execution = subprocess.run(commande, cwd=cwd, capture_output=True, text=True, timeout=delai,
                               env={**os.environ, "NO_COLOR": "1", **(env or {})})
    sortie = execution.stdout + execution.stderr
    assert execution.returncode == 0, f"{' '.join(commande[:3])} : code {execution.returncode}\n{sortie[-4000:]}"
    return sortie


@pytest.fixture(scope="module")
def modules_node():
    """``npm ci`` au premier usage, ou quand ``package-lock.json`` a changé depuis la dernière installation."""
    _node_ou_sauter()
    installe = PROJET / "node_modules" / ".package-lock.json"
    if not installe.exists() or installe.stat().st_mtime < (PROJET / "package-lock.json").stat().st_mtime:
        _executer(["npm", "ci", "--no-audit", "--no-fund"], PROJET)
    return PROJET / "node_modules"


@pytest.fixture()
def eleve_json(tmp_path, exemple):
    chemin = tmp_path / "eleve.json"
    chemin.write_text(json.dumps(exemple), encoding="utf-8")
    return chemin


def test_source_sans_conversion_de_type():
    """« Aucun cast » se lit dans le source : ni ``as`` ni ``<Type>`` ni ``!`` de non-nullité."""
    source = (PROJET / "src" / "client.ts").read_text(encoding="utf-8")
    code = "\n".join(ligne.split("//", 1)[0] for ligne in source.splitlines())
    assert not re.search(r"\)\s+as\s|\w\s+as\s+(?!const\b)[A-Za-z{]|<[A-Z]\w*>\s*\w|\w!\.", code)


def test_client_typescript_genere_compile_strict_et_appelle_l_api(modules_node, demarrer_serveur, tmp_path,
                                                                   eleve_json, mesurer):
    serveur = demarrer_serveur(env={"API_TOKEN": JETON}).attendre()
    # Un dossier de construction à part : source, configuration, types générés, sortie de tsc.
    for nom in ("package.json", "tsconfig.json"):
        shutil.copy(PROJET / nom, tmp_path / nom)
    shutil.copytree(PROJET / "src", tmp_path / "src", ignore=shutil.ignore_patterns("*.mjs"))
    (tmp_path / "node_modules").symlink_to(modules_node)
    bin_ = modules_node / ".bin"
    _executer([str(bin_ / "openapi-typescript"), serveur.url + "/openapi.json", "-o", "src/api.d.ts"], tmp_path)
    types = (tmp_path / "src" / "api.d.ts").read_text(encoding="utf-8")
    # Ce que le contrat promet, tel que TypeScript le lit : clés de réponse requises, entiers en nombres.
    resultat = re.search(r"\n        Resultat: \{\n(.*?)\n        \};", types, re.S)
    assert resultat, types[:2000]
    assert re.search(r"\n\s+age: number;", resultat[1]) and re.search(r"\n\s+avertissements: string\[\];", resultat[1])
    assert "?:" not in resultat[1]
    _executer([str(bin_ / "tsc"), "-p", "tsconfig.json"], tmp_path)
    sortie = _executer(["node", "dist/client.js"], tmp_path,
                       env={"URL_API": serveur.url, "JETON_API": JETON, "ELEVE_JSON": str(eleve_json)})
    bilan = re.search(r"(\d+) vérifications passées", sortie)
    assert bilan and int(bilan[1]) >= 10, sortie
    mesurer("client TypeScript (openapi-typescript + tsc strict + openapi-fetch)", bilan[0])


def test_client_grpc_node_par_la_seule_reflexion(modules_node, tmp_path, eleve_json, mesurer):
    from test.test_rpc import ServeurGrpc

    serveur = ServeurGrpc(tmp_path / "grpc", env={"JOURNAL_CHEMIN": str(tmp_path / "j.jsonl"),
                                                   "BASE_SQLITE_CHEMIN": str(tmp_path / "r.sqlite3")}).attendre()
    try:
        sortie = _executer(["node", str(PROJET / "src" / "grpc-reflexion.mjs")], tmp_path,
                           env={"ADRESSE_GRPC": serveur.adresse, "ELEVE_JSON": str(eleve_json)})
    finally:
        serveur.arreter()
    bilan = re.search(r"(\d+) vérifications passées", sortie)
    assert bilan and int(bilan[1]) >= 6, sortie
    mesurer("client gRPC Node (réflexion v1 seule)", bilan[0])

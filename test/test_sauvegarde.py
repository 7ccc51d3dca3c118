"""Exercice de restauration, sur SQLite et sur PostgreSQL, contre un vrai gunicorn : des prédictions, une
sauvegarde (service en marche), d'autres prédictions et un effacement, la perte de la base, la restauration
(``python -m app.stockage.sauvegarde``, la commande de ``make restauration``), puis la réconciliation au
démarrage. Chaque prédiction revient exactement une fois ; l'élève effacé après la sauvegarde reste effacé."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from test.conftest import RACINE

JETON = "jeton-essai-sauvegarde-0123456789abcdef"
AUTORISE = {"Authorization": f"Bearer {JETON}"}


def _commande(env: dict, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.stockage.sauvegarde", *arguments], cwd=RACINE,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def _predire(url: str, exemple: dict, user_id: str, absences: int) -> str:
    reponse = requests.post(f"{url}/predire", json={**exemple, "absences": absences, "user_id": user_id}, timeout=30)
    assert reponse.status_code == 200, (reponse.status_code, reponse.text[:300])
    return reponse.json()["request_id"]


def _en_base(url_base: str) -> tuple[Counter, Counter]:
    """request_id → nombre de lignes, user_id → nombre de lignes (relus par une connexion à part)."""
    moteur = create_engine(url_base)
    try:
        with moteur.connect() as connexion:
            lignes = connexion.execute(text("SELECT request_id, user_id FROM predictions")).all()
    finally:
        moteur.dispose()
    return Counter(r for r, _ in lignes), Counter(u for _, u in lignes)


def _identite(url_base: str) -> str:
    """L'identité de la base (issue 26) : les confirmations de l'index des segments ne valent que pour elle."""
    moteur = create_engine(url_base)
    try:
        with moteur.connect() as connexion:
            return connexion.scalar(text("SELECT identifiant FROM identite_base"))
    finally:
        moteur.dispose()


def _perdre_la_base(url_base: str, chemin_sqlite: Path) -> None:
    if url_base.startswith("sqlite"):
        for suffixe in ("", "-wal", "-shm"):
            Path(f"{chemin_sqlite}{suffixe}").unlink(missing_ok=True)
        return
    moteur = create_engine(url_base)
    with moteur.begin() as connexion:
        connexion.execute(text("DROP TABLE predictions, effacements CASCADE"))
    moteur.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def base(request, tmp_path):
    if request.param == "sqlite":
        chemin = tmp_path / "donnees" / "resultats.sqlite3"
        return f"sqlite:///{chemin}", {"BASE_SQLITE_CHEMIN": str(chemin), "DATABASE_URL": ""}, chemin
    url = request.getfixturevalue("base_postgresql")
    return url, {"DATABASE_URL": url}, None


def test_exercice_de_restauration(demarrer_serveur, base, exemple, tmp_path):
    url_base, env_base, chemin_sqlite = base
    donnees = tmp_path / "donnees"
    donnees.mkdir(exist_ok=True)
    env = {**env_base, "API_TOKEN": JETON, "JOURNAL_CHEMIN": str(donnees / "requetes_enrg.jsonl"),
           "JOURNAL_SEGMENT": "4096"}  # de petits segments : des lignes scellées et d'autres dans le journal actif
    suffixe = uuid.uuid4().hex[:8]
    eleves = [f"eleve-{i}-{suffixe}" for i in range(4)]
    efface = eleves[1]

    serveur = demarrer_serveur(workers=2, env=env).attendre()
    avant = [_predire(serveur.url, exemple, eleves[i % 4], i % 90) for i in range(24)]
    sauvegarde = _commande(env, "sauvegarder", "--dossier", str(tmp_path / "sauvegardes"))
    assert sauvegarde.returncode == 0, sauvegarde.stderr
    dossier = next((tmp_path / "sauvegardes").iterdir())
    manifeste = json.loads((dossier / "manifeste.json").read_text(encoding="utf-8"))
    assert manifeste["lignes_journal"] == 24 and manifeste["sha256"]
    assert oct(dossier.stat().st_mode & 0o777) == "0o700"

    apres = [_predire(serveur.url, exemple, eleves[i % 4], (i + 7) % 90) for i in range(24)]
    effacement = requests.post(f"{serveur.url}/effacement", json={"user_id": efface}, headers=AUTORISE, timeout=60)
    assert effacement.status_code == 200, effacement.text
    apres_effacement = [_predire(serveur.url, exemple, eleves[0], i) for i in range(3)]
    serveur.arreter()
    assert any((donnees / "requetes_enrg.jsonl.segments").glob("*.jsonl")), "aucun segment scellé : essai trop petit"

    identite = _identite(url_base)
    _perdre_la_base(url_base, chemin_sqlite)
    restauration = _commande(env, "restaurer", str(dossier))
    assert restauration.returncode == 0, restauration.stderr
    # Une nouvelle identité : l'index de toute autre instance sur cette base ne vaut plus (tout y sera relu).
    assert _identite(url_base) not in (identite, None)
    assert "1 effacement(s) postérieur(s) à la sauvegarde réappliqué(s)" in restauration.stdout

    serveur = demarrer_serveur(workers=2, env=env).attendre()  # la réconciliation au démarrage, avant de servir
    par_requete, par_eleve = _en_base(url_base)
    efface_ids = {r for i, r in enumerate(avant + apres) if eleves[i % 4] == efface}
    attendus = set(avant + apres + apres_effacement) - efface_ids
    assert set(par_requete) == attendus, "prédictions manquantes ou en trop après la restauration"
    assert set(par_requete.values()) == {1}, "une prédiction en double après la restauration"
    assert par_eleve[efface] == 0, "l'élève effacé après la sauvegarde est revenu"
    historique = requests.post(f"{serveur.url}/historique", json={"user_id": efface}, headers=AUTORISE, timeout=30)
    assert historique.status_code == 200 and historique.json()["pagination"]["total"] == 0
    serveur.arreter()


def test_une_sauvegarde_abimee_est_refusee(tmp_path, exemple, demarrer_serveur):
    env = {"BASE_SQLITE_CHEMIN": str(tmp_path / "b.sqlite3"), "DATABASE_URL": "",
           "JOURNAL_CHEMIN": str(tmp_path / "requetes_enrg.jsonl")}
    serveur = demarrer_serveur(workers=1, env=env).attendre()
    _predire(serveur.url, exemple, "eleve-x", 3)
    serveur.arreter()
    assert _commande(env, "sauvegarder", "--dossier", str(tmp_path / "s")).returncode == 0
    dossier = next((tmp_path / "s").iterdir())
    with open(dossier / "base.sqlite3", "r+b") as fichier:
        fichier.seek(200)
        fichier.write(b"\xff")
    refus = _commande(env, "restaurer", str(dossier))
    assert refus.returncode == 2 and "base.sqlite3 manquant ou modifié" in refus.stderr
    assert "Traceback" not in refus.stderr

"""Sauvegarde et restauration d'un serveur d'établissement : la base des résultats et le journal des requêtes.

``make sauvegarde`` (``python -m app.stockage.sauvegarde sauvegarder``) écrit un dossier daté, en 0700 :
- la base : copie en ligne de SQLite (API de sauvegarde de sqlite3 : cohérente pendant que le service écrit)
  ou ``pg_dump`` au format personnalisé du schéma des tables (PostgreSQL) ;
- le journal actif et ses segments, index compris, copiés sous leurs verrous (``JournalRequetes.copier_vers``) ;
- ``manifeste.json`` : date, moteur, comptes et sha256 de chaque fichier ; aucune donnée d'élève.

``make restauration SAUVEGARDE=dossier`` (service arrêté) vérifie les sha256, met de côté l'état présent (une
sauvegarde « avant-restauration »), remet la base (sqlite3 ou ``pg_restore``), reprend le journal de la
sauvegarde seulement s'il a disparu (sinon le journal présent, plus récent, fait foi), puis réapplique à la base
les effacements notés côté journal (``DossierSegments.noter_effacements``) : un élève effacé après la sauvegarde
le reste. Au démarrage suivant, la réconciliation remet en base chaque prédiction du journal postérieure à la
sauvegarde, une seule fois (idempotente par request_id).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.config import Configuration, ErreurConfiguration
from app.stockage.journal import JournalRequetes
from app.stockage.magasin import ErreurMagasin, MagasinResultats

MANIFESTE = "manifeste.json"
FORMAT = 1
FICHIER_SQLITE = "base.sqlite3"
FICHIER_PG = "base.dump"
DOSSIER_JOURNAL = "journal"


class ErreurSauvegarde(Exception):
    """Une sauvegarde ou une restauration impossible ; le message, en français, dit quoi faire."""


@dataclass(frozen=True)
class Restauration:
    predictions: int
    effacements_reappliques: int
    predictions_reeffacees: int
    journal_repris: bool
    mise_de_cote: Path | None


def _ouvrir(config: Configuration) -> tuple[MagasinResultats, JournalRequetes]:
    magasin = MagasinResultats(config.url_base, connexions=1)
    return magasin, JournalRequetes.depuis_configuration(config)


def _sha256(chemin: Path) -> str:
    with open(chemin, "rb") as fichier:
        return hashlib.file_digest(fichier, "sha256").hexdigest()


def _outil_postgresql(nom: str) -> str:
    chemin = shutil.which(nom)
    if chemin is None:
        raise ErreurSauvegarde(f"{nom} introuvable : installez le client PostgreSQL (apt-get install postgresql-client, "
                               "de la version du serveur ou plus récente)")
    return chemin


def _libpq(config: Configuration) -> tuple[str, dict[str, str]]:
    """L'adresse libpq de la base (sans mot de passe) et l'environnement qui porte le mot de passe : jamais
    dans la ligne de commande, visible de tous les processus."""
    adresse = make_url(config.url_base)
    env = {**os.environ}
    if adresse.password:
        env["PGPASSWORD"] = str(adresse.password)
    return adresse.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _executer(commande: list[str], env: dict[str, str], action: str) -> None:
    resultat = subprocess.run(commande, env=env, capture_output=True, text=True)
    if resultat.returncode != 0:
        raise ErreurSauvegarde(f"{action} a échoué (code {resultat.returncode}) : {resultat.stderr.strip()[-600:]}")


def sauvegarder(config: Configuration, dossier_parent: Path, nom: str | None = None) -> Path:
    """Écrit une sauvegarde complète dans ``dossier_parent/<date>`` ; renvoie son dossier."""
    magasin, registre = _ouvrir(config)
    nom = nom or dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    dossier = Path(dossier_parent) / nom
    Path(dossier_parent).mkdir(parents=True, exist_ok=True, mode=0o700)
    dossier.mkdir(mode=0o700)
    try:
        comptes = magasin.compter()
        if magasin.moteur_sql == "sqlite":
            fichier_base = dossier / FICHIER_SQLITE
            os.close(os.open(fichier_base, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            with contextlib.closing(sqlite3.connect(config.chemin_base_sqlite)) as source, \
                    contextlib.closing(sqlite3.connect(fichier_base)) as copie:
                source.backup(copie)  # en ligne : cohérente même si le service écrit pendant la copie
        else:
            fichier_base = dossier / FICHIER_PG
            adresse, env = _libpq(config)
            _executer([_outil_postgresql("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                       f"--schema={magasin.schema_courant()}", f"--file={fichier_base}", adresse], env, "pg_dump")
            os.chmod(fichier_base, 0o600)
        lignes = registre.copier_vers(dossier / DOSSIER_JOURNAL) if registre.vers_fichier else 0
    except (ErreurMagasin, OSError, sqlite3.Error) as erreur:
        shutil.rmtree(dossier, ignore_errors=True)
        raise ErreurSauvegarde(f"sauvegarde impossible : {erreur}") from erreur
    finally:
        magasin.moteur.dispose()
    fichiers = sorted(p for p in dossier.rglob("*") if p.is_file())
    manifeste = {"format": FORMAT, "cree_le": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                 "base": magasin.nom, "fichier_base": fichier_base.name, **comptes, "lignes_journal": lignes,
                 "nom_journal": registre.chemin.name,
                 "sha256": {str(p.relative_to(dossier)): _sha256(p) for p in fichiers}}
    (dossier / MANIFESTE).write_text(json.dumps(manifeste, ensure_ascii=False, indent=2), encoding="utf-8")
    return dossier


def lire_manifeste(dossier: Path) -> dict:
    """Le manifeste d'une sauvegarde, chaque fichier vérifié par son sha256 : une sauvegarde abîmée est refusée."""
    try:
        manifeste = json.loads((Path(dossier) / MANIFESTE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as erreur:
        raise ErreurSauvegarde(f"{dossier} : pas une sauvegarde lisible ({MANIFESTE} : {erreur})") from erreur
    if manifeste.get("format") != FORMAT:
        raise ErreurSauvegarde(f"{dossier} : format de sauvegarde {manifeste.get('format')!r} inconnu (attendu {FORMAT})")
    for relatif, attendu in manifeste["sha256"].items():
        chemin = Path(dossier) / relatif
        if not chemin.is_file() or _sha256(chemin) != attendu:
            raise ErreurSauvegarde(f"{dossier} : {relatif} manquant ou modifié depuis la sauvegarde (sha256) ; "
                                   "restauration refusée")
    return manifeste


def _restaurer_base(config: Configuration, magasin: MagasinResultats, dossier: Path, manifeste: dict) -> None:
    if manifeste["base"] != magasin.nom:
        raise ErreurSauvegarde(f"sauvegarde d'une base {manifeste['base']}, configuration vers {magasin.nom} : "
                               "restaurez vers le même moteur (DATABASE_URL)")
    magasin.moteur.dispose()
    if magasin.moteur_sql == "sqlite":
        cible = Path(config.chemin_base_sqlite)
        for suffixe in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{cible}{suffixe}")
        cible.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(cible, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        with contextlib.closing(sqlite3.connect(dossier / FICHIER_SQLITE)) as source, \
                contextlib.closing(sqlite3.connect(cible)) as copie:
            source.backup(copie)
        return
    schema = magasin.schema_courant()
    with magasin.moteur.begin() as connexion:  # le schéma reste (public, droits) ; ses tables sont remplacées
        connexion.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    adresse, env = _libpq(config)
    pg_restore = _outil_postgresql("pg_restore")
    table = subprocess.run([pg_restore, "--list", str(dossier / FICHIER_PG)], capture_output=True, text=True, env=env)
    if table.returncode != 0:
        raise ErreurSauvegarde(f"pg_restore --list a échoué : {table.stderr.strip()[-600:]}")
    liste = dossier.parent / f".{dossier.name}.liste"  # la table des matières, sans l'entrée du schéma lui-même
    liste.write_text("\n".join(l for l in table.stdout.splitlines() if " SCHEMA " not in l) + "\n", encoding="utf-8")
    try:
        _executer([pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--exit-on-error",
                   "--single-transaction", f"--use-list={liste}", f"--dbname={adresse}", str(dossier / FICHIER_PG)],
                  env, "pg_restore")
    finally:
        liste.unlink(missing_ok=True)


def _reprendre_journal(registre: JournalRequetes, dossier: Path, manifeste: dict) -> bool:
    """Reprend le journal de la sauvegarde s'il n'y en a plus ici ; sinon, celui d'ici, plus récent, fait foi."""
    if not registre.vers_fichier or registre.existe():
        return False
    source = dossier / DOSSIER_JOURNAL
    if not source.exists():
        return False
    registre.reprendre_de(source, manifeste["nom_journal"])
    return True


def restaurer(config: Configuration, dossier: Path, dossier_mise_de_cote: Path | None = None) -> Restauration:
    """Restaure la base (et le journal s'il a disparu) depuis ``dossier`` ; le service doit être arrêté."""
    dossier = Path(dossier)
    manifeste = lire_manifeste(dossier)
    magasin, registre = _ouvrir(config)
    mise_de_cote = None
    try:
        try:
            present = magasin.compter()["predictions"]
        except ErreurMagasin:
            present = 0  # base perdue ou illisible : rien à mettre de côté
        if present:
            horodatage = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
            mise_de_cote = sauvegarder(config, dossier_mise_de_cote or dossier.parent, f"avant-restauration-{horodatage}")
        _restaurer_base(config, magasin, dossier, manifeste)
        magasin = MagasinResultats(config.url_base, connexions=1)  # nouvelle base : nouvelles connexions
        journal_repris = _reprendre_journal(registre, dossier, manifeste)
        registre.oublier_les_confirmations()  # la base restaurée est plus ancienne que ce que l'index a confirmé
        magasin.renouveler_identite()  # et pour l'index de toute autre instance : ses confirmations ne valent plus
        effacements = registre.effacements_notes()
        avant = magasin.compter()["effacements"]
        reeffacees = magasin.reappliquer_effacements(effacements)
        comptes = magasin.compter()
    except (ErreurMagasin, OSError, sqlite3.Error) as erreur:
        raise ErreurSauvegarde(f"restauration impossible : {erreur}") from erreur
    finally:
        magasin.moteur.dispose()
    return Restauration(predictions=comptes["predictions"], effacements_reappliques=comptes["effacements"] - avant,
                        predictions_reeffacees=reeffacees, journal_repris=journal_repris, mise_de_cote=mise_de_cote)


def main(argv: list[str] | None = None) -> int:
    analyseur = argparse.ArgumentParser(prog="python -m app.stockage.sauvegarde",
                                        description="Sauvegarde et restauration de la base des résultats et du journal")
    actions = analyseur.add_subparsers(dest="action", required=True)
    action = actions.add_parser("sauvegarder", help="écrit une sauvegarde datée (service en marche ou non)")
    action.add_argument("--dossier", default="sauvegardes", help="dossier des sauvegardes (défaut : sauvegardes/)")
    action = actions.add_parser("restaurer", help="restaure une sauvegarde (service arrêté)")
    action.add_argument("sauvegarde", help="dossier d'une sauvegarde (sauvegardes/AAAAMMJJT…Z)")
    arguments = analyseur.parse_args(argv)
    try:
        config = Configuration.depuis_environnement()
        if arguments.action == "sauvegarder":
            dossier = sauvegarder(config, Path(arguments.dossier))
            manifeste = lire_manifeste(dossier)
            print(f"Sauvegarde écrite dans {dossier} : base {manifeste['base']} ({manifeste['predictions']} "
                  f"prédiction(s), {manifeste['effacements']} effacement(s)), journal ({manifeste['lignes_journal']} "
                  "ligne(s)). Elle contient des données personnelles : gardez-la chiffrée, hors de ce serveur.")
        else:
            bilan = restaurer(config, Path(arguments.sauvegarde))
            if bilan.mise_de_cote:
                print(f"État d'avant la restauration mis de côté dans {bilan.mise_de_cote}.")
            print(f"Base restaurée : {bilan.predictions} prédiction(s) ; {bilan.effacements_reappliques} effacement(s) "
                  f"postérieur(s) à la sauvegarde réappliqué(s) ({bilan.predictions_reeffacees} prédiction(s) retirée(s)) ; "
                  + ("journal repris de la sauvegarde. " if bilan.journal_repris else "journal présent conservé. ")
                  + "Au démarrage, la réconciliation remet en base les prédictions du journal postérieures à la sauvegarde.")
    except (ErreurSauvegarde, ErreurConfiguration) as erreur:
        print(f"erreur : {erreur}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

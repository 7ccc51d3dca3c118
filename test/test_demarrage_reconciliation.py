"""Le démarrage ne relit que ce que l'index des segments ne dit pas confirmé dans cette base (issue 26), sous
un vrai gunicorn, contre SQLite et PostgreSQL :

- un segment confirmé n'est pas relu : ses lignes, changées sur le disque à taille égale, ne vont pas en
  base ; un segment inconnu de l'index, un segment confirmé dont la taille a changé et le journal actif le
  sont ; ``make reconcilier`` (``python -m app.stockage.reconciliation``) relit tout ;
- des confirmations faites pour la base A ne valent pas pour la base B (autre fichier SQLite, autre schéma
  PostgreSQL) : démarré contre B, vide, chaque ligne du journal finit dans B ;
- un index perdu ou illisible : tout le journal est relu, jamais de plantage.

Seuls des nombres sont affichés, jamais le contenu du journal ni de la base."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys

import pytest
import requests
from sqlalchemy import create_engine, text

from app.config import RACINE
from app.stockage.journal import JournalRequetes, ligne_json
from app.stockage.segments import REQUEST_ID
from test.conftest import contenu_journal, enregistrement, ids_en_base, schema_neuf
from test.test_segments_service import _attendre

SEGMENT = "8Kio"


def _pret(serveur) -> bool:
    try:
        return requests.get(serveur.url + "/ready", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _servir_et_confirmer(demarrer_serveur, url: str, exemple: dict, env: dict | None = None):
    """Un gunicorn sert 60 prédictions en segments de 8 Kio ; chaque segment scellé est confirmé en base,
    puis le serveur est arrêté (SIGTERM). Renvoie (serveur arrêté, journal, noms des segments confirmés)."""
    serveur = demarrer_serveur(env={"DATABASE_URL": url, "JOURNAL_SEGMENT": SEGMENT, **(env or {})}).attendre()
    registre = JournalRequetes(serveur.journal)
    for rang in range(200):  # 60 prédictions, et au moins deux lignes au journal actif
        if rang >= 60 and registre.chemin.exists() and registre.chemin.read_bytes().count(b"\n") >= 2:
            break
        assert requests.post(serveur.url + "/predire", json={**exemple, "user_id": "eleve-dem"},
                             timeout=10).status_code == 200
    segments = {s.name for s in registre.segments.lister()}
    assert len(segments) >= 3
    assert _attendre(lambda: segments <= registre.segments_confirmes())
    assert serveur.arreter() < 10
    return serveur, registre, segments


def _redemarrer(demarrer_serveur, journal, url: str):
    serveur = demarrer_serveur(env={"DATABASE_URL": url, "JOURNAL_SEGMENT": SEGMENT,
                                    "JOURNAL_CHEMIN": str(journal)}).attendre()
    assert _attendre(lambda: _pret(serveur)), serveur.journal_serveur()
    return serveur


def _bilan_demarrage(serveur) -> tuple[int, int, int]:
    """(lignes lues, segments confirmés non relus, insérées) de la réconciliation du démarrage (journal de gunicorn)."""
    trouve = re.search(r"réconciliation : (\d+) ligne\(s\) du journal lues \(journal actif et segments non confirmés ; "
                       r"(\d+) segment\(s\) confirmé\(s\) dans cette base non relus\), (\d+) insérée\(s\)",
                       serveur.journal_serveur())
    assert trouve, serveur.journal_serveur()
    return int(trouve.group(1)), int(trouve.group(2)), int(trouve.group(3))


def _ids_du_journal(journal) -> list[str]:
    return [json.loads(ligne)["request_id"] for ligne in contenu_journal(journal).splitlines()]


def _alterer_a_taille_egale(chemin) -> list[str]:
    """Change chaque request_id d'un segment (premier caractère), sans changer sa taille ; renvoie les nouveaux."""
    donnees = chemin.read_bytes()
    nouveaux: list[str] = []

    def changer(trouve: re.Match) -> bytes:
        ancien = trouve.group(1)
        nouveau = (b"y" if ancien[:1] == b"z" else b"z") + ancien[1:]
        nouveaux.append(nouveau.decode())
        return trouve.group(0).replace(ancien, nouveau)

    altere = REQUEST_ID.sub(changer, donnees)
    assert len(altere) == len(donnees) and nouveaux
    chemin.write_bytes(altere)
    return nouveaux


def test_le_demarrage_ne_relit_pas_les_segments_confirmes(demarrer_serveur, url_base, exemple, mesurer):
    premier, registre, confirmes = _servir_et_confirmer(demarrer_serveur, url_base, exemple)
    avant = set(ids_en_base(url_base))
    assert avant == set(_ids_du_journal(premier.journal))
    noms = sorted(confirmes)
    # Un segment confirmé, changé sur le disque à taille égale : s'il était relu, ses lignes iraient en base.
    alteres = _alterer_a_taille_egale(registre.segments.dossier / noms[0])
    # De même la dernière ligne du journal actif, déjà réconciliée à l'arrêt (après ses 512 premiers octets).
    actif = registre.chemin.read_bytes()
    debut_derniere = actif.rstrip(b"\n").rfind(b"\n") + 1
    assert debut_derniere > 512
    derniere = registre.chemin.with_name("derniere.tmp")
    derniere.write_bytes(actif[debut_derniere:])
    alteres += _alterer_a_taille_egale(derniere)
    registre.chemin.write_bytes(actif[:debut_derniere] + derniere.read_bytes())  # même fichier (inode), même taille
    derniere.unlink()
    # Un segment confirmé qui a grandi (recopié à la main) : sa taille n'est plus celle de l'index, il est relu.
    ajoutee = enregistrement("eleve-dem", exemple, 1)
    with open(registre.segments.dossier / noms[1], "ab") as segment:
        segment.write(ligne_json(ajoutee))
    # Un segment que l'index ne connaît pas (copié à la main) et des lignes au journal actif (worker tué).
    inconnues = [enregistrement("eleve-dem", exemple, i) for i in range(2, 5)]
    nom_inconnu = f"{int(noms[-1][:-len('.jsonl')]) + 1:020d}.jsonl"
    (registre.segments.dossier / nom_inconnu).write_bytes(b"".join(ligne_json(e) for e in inconnues))
    orphelines = [enregistrement("eleve-dem", exemple, i) for i in range(5, 7)]
    registre.ecrire(orphelines)

    serveur = _redemarrer(demarrer_serveur, premier.journal, url_base)
    lues, sautes, inserees = _bilan_demarrage(serveur)
    en_base = set(ids_en_base(url_base))
    attendues = {e["request_id"] for e in [ajoutee, *inconnues, *orphelines]}
    assert attendues <= en_base
    assert inserees == len(attendues)
    assert en_base.isdisjoint(alteres)  # le segment confirmé n'a pas été lu
    assert sautes == len(confirmes) - 1  # tous les confirmés, sauf celui qui a grandi
    total = len(contenu_journal(premier.journal).splitlines())
    grandi = (registre.segments.dossier / noms[1]).read_bytes().count(b"\n")
    assert lues == grandi + len(inconnues) + len(orphelines)  # rien d'autre : ni confirmé, ni début de l'actif
    serveur.arreter()

    # Sur demande, tout le journal : les lignes du segment changé vont en base cette fois.
    sortie = subprocess.run([sys.executable, "-m", "app.stockage.reconciliation"], cwd=RACINE, capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, "DATABASE_URL": url_base, "JOURNAL_CHEMIN": str(premier.journal),
                                 "JOURNAL_SEGMENT": SEGMENT, "API_TOKEN": ""})
    assert sortie.returncode == 0, sortie.stderr
    assert f"{total} ligne(s) du journal lues, {len(alteres)} insérée(s)" in sortie.stdout, sortie.stdout
    assert set(alteres) <= set(ids_en_base(url_base))
    mesurer(f"démarrage, segments confirmés non relus ({url_base.split(':')[0]})",
            f"{lues} ligne(s) lues sur {total} au journal, {sautes} segment(s) sautés, {inserees} insérée(s)")


@contextlib.contextmanager
def _autre_base(url_base: str, dossier):
    """Une base B vide à côté de A : un autre fichier SQLite, ou un autre schéma du même serveur PostgreSQL."""
    if url_base.startswith("sqlite"):
        yield f"sqlite:///{dossier / 'autre.sqlite3'}"
        return
    with schema_neuf(url_base) as autre:
        yield autre


def test_des_confirmations_faites_pour_une_autre_base_ne_valent_pas(demarrer_serveur, url_base, exemple, tmp_path):
    premier, registre, confirmes = _servir_et_confirmer(demarrer_serveur, url_base, exemple)
    journal = _ids_du_journal(premier.journal)
    with _autre_base(url_base, tmp_path) as autre:
        serveur = _redemarrer(demarrer_serveur, premier.journal, autre)
        lues, sautes, inserees = _bilan_demarrage(serveur)
        assert sorted(ids_en_base(autre)) == sorted(journal)  # chaque ligne finit dans B, une fois
        assert "confirmé(s) pour une autre base" in serveur.journal_serveur()
        assert (lues, sautes, inserees) == (len(journal), 0, len(journal))
        serveur.arreter()
        # Confirmés maintenant pour B : de retour sur A, ils sont relus (A n'a rien perdu : rien à insérer).
        serveur = _redemarrer(demarrer_serveur, premier.journal, url_base)
        assert _bilan_demarrage(serveur) == (len(journal), 0, 0)
        serveur.arreter()
    assert confirmes <= registre.segments_confirmes()  # et reconfirmés pour A


@pytest.mark.parametrize("index", ["absent", "illisible"])
def test_un_index_perdu_ou_illisible_fait_tout_relire(demarrer_serveur, url_base, exemple, index):
    premier, registre, _ = _servir_et_confirmer(demarrer_serveur, url_base, exemple)
    journal = _ids_du_journal(premier.journal)
    moteur = create_engine(url_base)
    with moteur.begin() as connexion:  # la base a perdu ses prédictions ; seul un index perdu le révèle
        connexion.execute(text("DELETE FROM predictions"))
    moteur.dispose()
    chemin_index = registre.segments.chemin_index
    if index == "absent":
        chemin_index.unlink()
    else:
        chemin_index.write_bytes(os.urandom(4096))
    serveur = _redemarrer(demarrer_serveur, premier.journal, url_base)
    assert sorted(ids_en_base(url_base)) == sorted(journal)
    assert _bilan_demarrage(serveur) == (len(journal), 0, len(journal))
    if index == "illisible":
        assert "index des segments du journal illisible" in serveur.journal_serveur()
        assert [p.name for p in chemin_index.parent.glob("index.sqlite3.illisible-*")]
    serveur.arreter()


def test_un_journal_actif_vide_puis_reecrit_est_relu_depuis_le_debut(demarrer_serveur, url_base, exemple):
    """Le début du journal actif réconcilié est reconnu à son inode et à ses premiers octets : le même fichier
    vidé puis réécrit (scellement recopié, EXDEV) est relu en entier."""
    premier, registre, _ = _servir_et_confirmer(demarrer_serveur, url_base, exemple)
    taille = registre.chemin.stat().st_size
    inode = registre.chemin.stat().st_ino
    nouvelles = [enregistrement("eleve-dem", exemple, i) for i in range(10, 30)]
    with open(registre.chemin, "r+b") as actif:
        actif.truncate(0)
        actif.write(b"".join(ligne_json(e) for e in nouvelles))
    assert registre.chemin.stat().st_ino == inode and registre.chemin.stat().st_size >= taille
    serveur = _redemarrer(demarrer_serveur, premier.journal, url_base)
    assert {e["request_id"] for e in nouvelles} <= set(ids_en_base(url_base))
    assert _bilan_demarrage(serveur)[0] == len(nouvelles)
    serveur.arreter()

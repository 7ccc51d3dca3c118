"""Le journal en segments : effacement pendant que d'autres écrivent (aucune ligne perdue), coût limité aux
segments de l'utilisateur, écrivains retenus le temps d'un renommage seulement, fichier monté seul."""

import datetime as dt
import errno
import json
import os
import subprocess
import threading
import time

import pytest

from app.stockage.enregistrement import empreinte_utilisateur
from app.stockage.journal import JournalRequetes
from outils.banc_effacement import pendant_des_ecritures
from test.conftest import ACTIVER_CI, contenu_journal, sauter

SEGMENT = 8 * 1024


def _ligne(request_id: str, user_id: str | None, instant: str | None = None) -> dict:
    return {"horodatage": instant or dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
            "request_id": request_id, "user_id": user_id, "remplissage": "x" * 60}


def _effacer(registre: JournalRequetes, user_id: str) -> list[str]:
    return registre.effacer({empreinte_utilisateur(user_id): None}, f'"user_id":"{user_id}"'.encode())


def _restantes(chemin) -> list[dict]:
    return [json.loads(ligne) for ligne in contenu_journal(chemin).splitlines()]


def test_effacements_pendant_des_ecritures_concurrentes(tmp_path):
    chemin = tmp_path / "requetes.jsonl"
    JournalRequetes(chemin, segment_octets=SEGMENT).ecrire(
        [_ligne(f"a-{i}", "a") for i in range(300)] + [_ligne(f"c-{i}", "c") for i in range(300)])
    ecrits = {"a": [], "b": []}
    fin = threading.Event()

    def ecrivain(user_id, nombre):
        registre = JournalRequetes(chemin, segment_octets=SEGMENT)  # son propre descripteur, comme un autre processus
        for i in range(nombre):
            request_id = f"{user_id}-{threading.get_ident()}-{i}"
            registre.ecrire([_ligne(request_id, user_id)])
            ecrits[user_id].append(request_id)
            time.sleep(0.001)  # laisse les effacements s'intercaler

    effacees = []

    def effaceur():
        registre = JournalRequetes(chemin, segment_octets=SEGMENT)
        while not fin.is_set():
            effacees.extend(_effacer(registre, "a"))

    fils = [threading.Thread(target=ecrivain, args=("b", 300)) for _ in range(3)]
    fils.append(threading.Thread(target=ecrivain, args=("a", 300)))  # chaque effacement a de quoi retirer
    effacement = threading.Thread(target=effaceur)
    effacement.start()
    for fil in fils:
        fil.start()
    for fil in fils:
        fil.join()
    fin.set()
    effacement.join()
    effacees.extend(_effacer(JournalRequetes(chemin, segment_octets=SEGMENT), "a"))
    registre = JournalRequetes(chemin, segment_octets=SEGMENT)
    assert len(registre.segments.lister()) > 5  # le journal a bien été scellé en segments pendant ce temps
    restantes = _restantes(chemin)
    assert not [e for e in restantes if e["user_id"] == "a"]
    assert sorted(effacees) == sorted([f"a-{i}" for i in range(300)] + ecrits["a"])  # chacune une fois
    assert sorted(e["request_id"] for e in restantes if e["user_id"] == "b") == sorted(ecrits["b"])
    assert [e["request_id"] for e in restantes if e["user_id"] == "c"] == [f"c-{i}" for i in range(300)]
    assert not [n for n in os.listdir(registre.segments.dossier) if n.endswith(".tmp")]


def test_effacement_ne_reecrit_que_les_segments_de_l_utilisateur(tmp_path):
    registre = JournalRequetes(tmp_path / "requetes.jsonl", segment_octets=SEGMENT)
    for lot in range(20):  # 20 lots d'environ un segment ; l'élève « rare » dans le 7e seulement
        registre.ecrire([_ligne(f"{lot}-{i}", "rare" if (lot, i) == (7, 3) else f"u{i % 9}") for i in range(60)])
    registre.ecrire([_ligne("fin", "u0")])  # le journal actif, après le dernier scellement
    segments = registre.segments.lister()
    assert len(segments) >= 19
    avant = {s.name: os.stat(s).st_ino for s in segments}
    actif = os.stat(registre.chemin).st_ino
    assert _effacer(registre, "absent") == []
    assert {s.name: os.stat(s).st_ino for s in registre.segments.lister()} == avant  # rien réécrit
    assert os.stat(registre.chemin).st_ino == actif  # ni le journal actif scellé
    assert _effacer(registre, "rare") == ["7-3"]
    apres = {s.name: os.stat(s).st_ino for s in registre.segments.lister()}
    assert [nom for nom in avant if apres.get(nom) != avant[nom]] == [segments[7].name]  # le sien seulement
    assert os.stat(registre.chemin).st_ino == actif
    assert "rare" not in contenu_journal(registre.chemin)
    with registre.segments.index() as index:  # l'index ne garde pas l'empreinte de l'élève effacé
        assert index.execute("SELECT count(*) FROM utilisateurs WHERE empreinte = ?",
                             (empreinte_utilisateur("rare"),)).fetchone() == (0,)
        assert index.execute("SELECT count(*) FROM segments").fetchone()[0] == len(apres)
        # L'index corrigé des seules lignes retirées dit la même chose qu'un index refait de zéro.
        comptes = {nom: (lignes, octets) for nom, lignes, octets in index.execute("SELECT nom, lignes, octets FROM segments")}
        reels = {s.name: (len(s.read_bytes().splitlines()), s.stat().st_size) for s in registre.segments.lister()}
        assert comptes == reels
        par_eleve = dict(index.execute("SELECT empreinte, sum(lignes) FROM utilisateurs GROUP BY empreinte").fetchall())
        assert par_eleve == {empreinte_utilisateur(f"u{k}"): sum(1 for e in _restantes(registre.chemin)
                                                                 if e["user_id"] == f"u{k}" and e["request_id"] != "fin")
                             for k in range(9)}


def test_journal_actif_scelle_seulement_s_il_contient_l_utilisateur(tmp_path):
    registre = JournalRequetes(tmp_path / "requetes.jsonl")
    registre.ecrire([_ligne("x-1", "x"), _ligne("y-1", "y")])
    assert _effacer(registre, "x") == ["x-1"]
    assert registre.chemin.exists() is False  # scellé (puis réécrit) : le prochain écrit le recrée
    registre.ecrire([_ligne("y-2", "y")])
    assert [e["request_id"] for e in _restantes(registre.chemin)] == ["y-1", "y-2"]


def test_une_prediction_posterieure_a_l_effacement_est_gardee(tmp_path):
    registre = JournalRequetes(tmp_path / "requetes.jsonl", segment_octets=SEGMENT)
    registre.ecrire([_ligne("avant", "u", "2026-01-01T00:00:00.000000+00:00"),
                     _ligne("apres", "u", "2026-01-01T00:00:02.000000+00:00")])
    retirees = registre.effacer({empreinte_utilisateur("u"): "2026-01-01T00:00:01.000000+00:00"})
    assert retirees == ["avant"]
    assert [e["request_id"] for e in _restantes(registre.chemin)] == ["apres"]


def test_les_ecrivains_ne_sont_retenus_que_le_temps_d_un_renommage(tmp_path, mesurer):
    """Écritures en continu pendant l'effacement d'un élève présent dans tous les segments d'un journal de
    ~60 000 lignes : on mesure la plus longue écriture (chiffre montré, pas d'assertion de temps), et on
    vérifie que des écritures ont abouti pendant la réécriture des segments (elle ne les bloque pas)."""
    chemin = tmp_path / "requetes.jsonl"
    registre = JournalRequetes(chemin, segment_octets=256 << 10, periode_fsync=None)
    for lot in range(60):
        registre.ecrire([_ligne(f"{lot}-{i}", "partout" if i == 0 else f"u{i}") for i in range(1000)])
    assert len(registre.segments.lister()) >= 30
    # La mesure du banc d'essai (outils.banc_effacement) : un autre écrivain, une ligne par milliseconde.
    duree, retirees, plus_longue, _, pendant = pendant_des_ecritures(
        chemin, 256 << 10, lambda: _effacer(registre, "partout"))
    assert len(retirees) == 60
    assert pendant >= 10  # des prédictions journalisées pendant l'effacement, pas après lui
    mesurer("effacement dans un journal de 60 000 lignes en segments (élève dans chacun)",
            f"{duree * 1000:.0f} ms ; écriture la plus longue pendant ce temps {plus_longue * 1000:.1f} ms "
            f"({pendant} écritures pendant l'effacement)")


def test_lectures_a_travers_les_segments(tmp_path):
    registre = JournalRequetes(tmp_path / "requetes.jsonl", segment_octets=SEGMENT)
    ecrites = [_ligne(f"r-{i}", f"u{i % 5}") | {"entrees": {"age": 15}} for i in range(500)]
    for debut in range(0, 500, 7):
        registre.ecrire(ecrites[debut:debut + 7])
    assert len(registre.segments.lister()) > 3
    lus, ignorees = registre.dernieres(120)
    assert [e["request_id"] for e in lus] == [f"r-{i}" for i in range(380, 500)] and ignorees == 0
    assert [e["request_id"] for e in registre.dernieres(10_000)[0]] == [f"r-{i}" for i in range(500)]
    recents = registre.recents(b'"user_id":"u3"', octets=30_000)
    assert [r for r, _ in recents] == [f"r-{i}" for i in range(500) if i % 5 == 3][-len(recents):]
    assert len(recents) > 30  # au-delà du journal actif
    lus = []
    parcourues = [json.loads(l)["request_id"] for _, bloc in registre.parcourir(bloc=1000, lus=lus)
                  for l in bloc.splitlines()]
    assert parcourues == [f"r-{i}" for i in range(500)] and lus == registre.segments.lister()


def test_borne_refuse_au_dela_et_se_libere_des_segments_confirmes(tmp_path):
    registre = JournalRequetes(tmp_path / "requetes.jsonl", segment_octets=SEGMENT, borne_octets=4 * SEGMENT)
    ecrites = 0
    with pytest.raises(OSError) as plein:
        for i in range(10_000):
            registre.ecrire([_ligne(f"b-{i}", "u")])
            ecrites += 1
    assert plein.value.errno == errno.ENOSPC and "JOURNAL_BORNE" in str(plein.value)
    assert registre.taille() <= 4 * SEGMENT
    assert registre.inscriptible()[0] is False
    assert len(_restantes(registre.chemin)) == ecrites  # chaque écriture acceptée est là, aucune de refusée
    retires = registre.confirmer(registre.segments.lister())
    assert retires >= 3 and registre.inscriptible()[0] is True
    registre.ecrire([_ligne("apres", "u")])
    assert _restantes(registre.chemin)[-1]["request_id"] == "apres"


def test_fichier_monte_seul(tmp_path):
    """Comme ``docker run -v fichier:/app/requetes_enrg.jsonl`` : le renommage y échoue (EBUSY) ; le journal
    est scellé par copie puis remise à zéro, et l'effacement marche de même."""
    hote = tmp_path / "hote.jsonl"
    monte = tmp_path / "monte" / "requetes.jsonl"
    monte.parent.mkdir()
    hote.write_bytes(b"")
    monte.write_bytes(b"")
    if subprocess.run(["mount", "--bind", str(hote), str(monte)], capture_output=True).returncode != 0:
        sauter("mount --bind impossible ici", f"lancez les tests en root (sudo make tests), {ACTIVER_CI}")
    try:
        journal = JournalRequetes(monte, segment_octets=SEGMENT)
        autre = monte.with_name("autre")
        autre.write_bytes(b"")
        with pytest.raises(OSError) as renommage:
            os.replace(autre, monte)  # ce qu'un scellement fait d'habitude : impossible ici
        assert renommage.value.errno == errno.EBUSY
        for i in range(300):
            journal.ecrire([_ligne(f"x-{i}", "a" if i % 2 else "b")])
        assert len(journal.segments.lister()) >= 2 and hote.stat().st_size < SEGMENT
        assert len(_effacer(journal, "a")) == 150
        assert [e["request_id"] for e in _restantes(monte)] == [f"x-{i}" for i in range(0, 300, 2)]
        assert os.path.samefile(hote, monte)  # toujours le même fichier monté
    finally:
        subprocess.run(["umount", str(monte)], check=False)


def test_rien_a_effacer_sans_fichier(tmp_path):
    registre = JournalRequetes(tmp_path / "requetes.jsonl")
    assert _effacer(registre, "a") == []  # journal absent
    assert JournalRequetes(tmp_path / "autre.jsonl", mode="stdout").effacer({"e": None}) == []

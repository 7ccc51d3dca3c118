"""Réécriture du journal (droit à l'effacement) pendant que d'autres écrivent : aucune ligne perdue."""

import json
import os
import threading
import time

from app.stockage.journal import JournalRequetes


def test_purges_pendant_des_ecritures_concurrentes(tmp_path):
    chemin = tmp_path / "requetes.jsonl"
    JournalRequetes(chemin).ecrire([{"request_id": f"a-{i}", "user_id": "a"} for i in range(3000)]
                                   + [{"request_id": f"c-{i}", "user_id": "c"} for i in range(3000)])
    ecrits = {"a": [], "b": []}
    fin = threading.Event()

    def ecrivain(user_id, nombre):
        registre = JournalRequetes(chemin)  # son propre descripteur, comme un autre processus
        for i in range(nombre):
            request_id = f"{user_id}-{threading.get_ident()}-{i}"
            registre.ecrire([{"request_id": request_id, "user_id": user_id}])
            ecrits[user_id].append(request_id)
            time.sleep(0.001)  # laisse les purges s'intercaler

    reecritures = []

    def purgeur():
        registre = JournalRequetes(chemin)
        while not fin.is_set():
            if registre.retirer(lambda e: e.get("user_id") == "a", b'"user_id":"a"'):
                reecritures.append(1)

    fils = [threading.Thread(target=ecrivain, args=("b", 400)) for _ in range(3)]
    fils.append(threading.Thread(target=ecrivain, args=("a", 400)))  # chaque purge a de quoi réécrire
    purge = threading.Thread(target=purgeur)
    purge.start()
    for fil in fils:
        fil.start()
    for fil in fils:
        fil.join()
    fin.set()
    purge.join()
    JournalRequetes(chemin).retirer(lambda e: e.get("user_id") == "a")
    assert len(reecritures) > 5  # les réécritures ont bien eu lieu pendant les écritures
    restantes = [json.loads(l) for l in chemin.read_text(encoding="utf-8").splitlines()]
    assert not [e for e in restantes if e["user_id"] == "a"]
    assert sorted(e["request_id"] for e in restantes if e["user_id"] == "b") == sorted(ecrits["b"])
    assert sum(e["user_id"] == "c" for e in restantes) == 3000
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_rien_a_retirer_ne_reecrit_pas(tmp_path):
    registre = JournalRequetes(tmp_path / "requetes.jsonl")
    assert registre.retirer(lambda e: True) == 0  # journal absent
    registre.ecrire([{"request_id": "x", "user_id": "b"}])
    avant = os.stat(registre.chemin).st_ino
    assert registre.retirer(lambda e: e.get("user_id") == "a") == 0
    assert os.stat(registre.chemin).st_ino == avant
    assert JournalRequetes(tmp_path / "autre.jsonl", mode="stdout").retirer(lambda e: True) == 0


def test_purge_d_un_fichier_monte_seul(tmp_path):
    """Comme ``docker run -v fichier:/app/requetes_enrg.jsonl`` : le renommage y échoue (EBUSY)."""
    import errno
    import subprocess

    import pytest

    hote = tmp_path / "hote.jsonl"
    monte = tmp_path / "monte" / "requetes.jsonl"
    monte.parent.mkdir()
    hote.write_bytes(b"")
    monte.write_bytes(b"")
    if subprocess.run(["mount", "--bind", str(hote), str(monte)], capture_output=True).returncode != 0:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("mount --bind impossible en CI (root attendu)")
        pytest.skip("mount --bind impossible ici (il faut être root)")
    try:
        journal = JournalRequetes(monte)
        journal.ecrire([{"request_id": f"x-{i}", "user_id": "a" if i % 2 else "b"} for i in range(100)])
        autre = monte.with_name("autre")
        autre.write_bytes(b"")
        with pytest.raises(OSError) as renommage:
            os.replace(autre, monte)  # ce que la purge fait d'habitude : impossible ici
        assert renommage.value.errno == errno.EBUSY
        assert journal.retirer(lambda e: e.get("user_id") == "a") == 50
        restantes = [json.loads(l) for l in hote.read_text().splitlines()]
        assert [e["request_id"] for e in restantes] == [f"x-{i}" for i in range(0, 100, 2)]
    finally:
        subprocess.run(["umount", str(monte)], check=False)

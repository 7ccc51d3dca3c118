"""Le verrou partagé des écrivains du journal : les écrivains ne s'attendent pas entre eux, ce qui prend
le verrou exclusif (effacement, scellement, rétention) les arrête tous ; une écriture partielle est
retirée même quand d'autres lignes ont été ajoutées après elle."""

import json
import os
import threading

from app.stockage.journal import JournalRequetes, _position_partielle
from test.conftest import lignes


def _ligne(numero: int) -> dict:
    return {"horodatage": f"2026-12-02T10:00:00.{numero:06d}+00:00", "request_id": f"r{numero}", "user_id": None}


def _octets(numero: int) -> bytes:
    return json.dumps(_ligne(numero), separators=(",", ":")).encode() + b"\n"


def test_un_ecrivain_n_attend_pas_un_autre_ecrivain(tmp_path):
    registre = JournalRequetes(tmp_path / "j.jsonl")
    assert registre.ecriture_partagee
    tenu, relache, ecrit = threading.Event(), threading.Event(), threading.Event()

    def ecrivain_lent():
        with registre.verrou(partage=True):  # un écrivain au milieu de son écriture
            tenu.set()
            relache.wait(10)

    fil = threading.Thread(target=ecrivain_lent)
    fil.start()
    try:
        assert tenu.wait(10)
        autre = threading.Thread(target=lambda: (registre.ecrire([_ligne(1)]), ecrit.set()))
        autre.start()
        assert ecrit.wait(5), "un écrivain a attendu un autre écrivain"
        autre.join(5)
    finally:
        relache.set()
        fil.join(10)
    assert [l["request_id"] for l in lignes(registre)] == ["r1"]


def test_le_verrou_exclusif_arrete_les_ecrivains(tmp_path):
    registre = JournalRequetes(tmp_path / "j.jsonl")
    tenu, relache, ecrit = threading.Event(), threading.Event(), threading.Event()

    def effacement():
        with registre.verrou():  # exclusif, comme un effacement qui prend son instant
            tenu.set()
            relache.wait(10)

    fil = threading.Thread(target=effacement)
    fil.start()
    assert tenu.wait(10)
    autre = threading.Thread(target=lambda: (registre.ecrire([_ligne(2)]), ecrit.set()))
    autre.start()
    assert not ecrit.wait(0.3), "une ligne a été écrite sous le verrou exclusif"
    relache.set()
    fil.join(10)
    assert ecrit.wait(10)
    autre.join(10)


def test_avec_une_borne_les_ecrivains_reprennent_l_exclusif(tmp_path):
    assert not JournalRequetes(tmp_path / "j.jsonl", borne_octets=1 << 20).ecriture_partagee


def test_position_d_une_ecriture_partielle():
    ligne = _octets(1)
    morceau = _octets(2)[:30]
    assert _position_partielle(ligne + morceau, morceau) == len(ligne)  # en fin de fichier
    assert _position_partielle(ligne + morceau + _octets(3), morceau) == len(ligne)  # ligne suivante collée
    assert _position_partielle(morceau + _octets(3), morceau) == 0
    # Le même début dans une ligne complète n'est pas une écriture partielle.
    assert _position_partielle(_octets(2) + ligne, morceau) == -1


def test_ecriture_partielle_retiree_sans_perdre_les_lignes_ajoutees_apres(tmp_path):
    """Disque plein sous le verrou partagé : le morceau écrit est suivi de lignes d'autres workers quand son
    écrivain prend l'exclusif pour le retirer. Elles sont gardées, entières."""
    registre = JournalRequetes(tmp_path / "j.jsonl")
    morceau = _octets(2)[:41]
    registre.chemin.write_bytes(_octets(1) + morceau)
    fin = registre.chemin.stat().st_size
    inode = registre.chemin.stat().st_ino
    with open(registre.chemin, "ab") as autre_worker:
        autre_worker.write(_octets(3) + _octets(4))
    with registre.verrou():
        registre._retirer_partielle(morceau, fin, inode)
    assert registre.chemin.read_bytes() == _octets(1) + _octets(3) + _octets(4)
    assert registre.chemin.stat().st_ino == inode  # retirée sur place, sans nouveau fichier


def test_ecriture_partielle_en_fin_de_fichier_tronquee(tmp_path):
    registre = JournalRequetes(tmp_path / "j.jsonl")
    morceau = _octets(2)[:7]
    registre.chemin.write_bytes(_octets(1) + morceau)
    etat = os.stat(registre.chemin)
    with registre.verrou():
        registre._retirer_partielle(morceau, etat.st_size, etat.st_ino)
    assert registre.chemin.read_bytes() == _octets(1)

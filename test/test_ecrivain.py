"""Les descripteurs du journal gardés ouverts par processus (``app.stockage.ecrivain``) : un scellement fait
ailleurs est vu sans rouvrir à chaque écriture, un processus au repos ne garde rien d'ouvert, un journal actif
retiré à la main est recréé. Deux ``JournalRequetes`` sur le même chemin se comportent comme deux processus
(descripteurs, verrou de fils et ``flock`` distincts)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from app.stockage.ecrivain import INACTIVITE_S
from app.stockage.journal import JournalRequetes
from test.conftest import enregistrement, fichiers_ouverts
from test.test_segments_service import _attendre


def _ids(chemin: Path) -> list[str]:
    return [json.loads(ligne)["request_id"] for ligne in chemin.read_bytes().splitlines()]


def _ouverts(*chemins: Path) -> set[str]:
    """Ceux de ces fichiers qu'un descripteur de ce processus vise encore."""
    return {str(c) for c in chemins} & set(fichiers_ouverts())


def test_un_scellement_par_un_autre_ecrivain_envoie_la_ligne_suivante_au_nouveau_fichier(tmp_path, exemple):
    chemin = tmp_path / "requetes.jsonl"
    premier = JournalRequetes(chemin)
    second = JournalRequetes(chemin, segment_octets=1)  # scelle après chacune de ses écritures
    premier.ecrire([enregistrement("a", exemple, 0, request_id="premier-1")])
    second.ecrire([enregistrement("b", exemple, 1, request_id="second-1")])  # scelle le fichier que vise `premier`
    assert not chemin.exists()
    premier.ecrire([enregistrement("a", exemple, 2, request_id="premier-2")])
    segments = premier.segments.lister()
    assert len(segments) == 1 and _ids(segments[0]) == ["premier-1", "second-1"]
    assert _ids(chemin) == ["premier-2"], "la ligne est allée au segment scellé, pas au journal actif"


def test_un_processus_au_repos_ne_garde_ni_journal_ni_verrou_ouverts(tmp_path, exemple):
    registre = JournalRequetes(tmp_path / "requetes.jsonl")
    registre.ecrire([enregistrement("a", exemple, 0)])
    fichiers = (registre.chemin, registre.chemin_verrou)
    assert _ouverts(*fichiers) == {str(f) for f in fichiers}, "gardés ouverts entre deux écritures"
    assert _attendre(lambda: not _ouverts(*fichiers), 4 * INACTIVITE_S), "toujours ouverts au repos"
    registre.ecrire([enregistrement("a", exemple, 1, request_id="apres-repos")])  # rouverts au besoin
    assert _ids(registre.chemin)[-1] == "apres-repos"


def test_un_journal_actif_retire_a_la_main_est_recree(tmp_path, exemple):
    registre = JournalRequetes(tmp_path / "requetes.jsonl")
    arret = time.monotonic() + 4 * INACTIVITE_S
    registre.ecrire([enregistrement("a", exemple, 0, request_id="avant")])
    os.unlink(registre.chemin)
    # Des écritures continues (le descripteur n'est jamais « au repos ») : le veilleur voit le fichier retiré.
    n = 0
    while not registre.chemin.exists() and time.monotonic() < arret:
        n += 1
        registre.ecrire([enregistrement("a", exemple, n, request_id=f"pendant-{n}")])
        time.sleep(0.05)
    assert registre.chemin.exists(), "le journal retiré n'a pas été recréé"
    registre.ecrire([enregistrement("a", exemple, 0, request_id="apres")])
    assert _ids(registre.chemin)[-1] == "apres"


def test_l_enfant_d_un_fork_ne_garde_pas_les_descripteurs_du_parent(tmp_path, exemple):
    """gunicorn forke ses workers (et le suiveur) depuis le maître : l'enfant ferme ses copies, sans toucher au
    verrou du parent, qui écrit ensuite comme avant."""
    registre = JournalRequetes(tmp_path / "requetes.jsonl")
    registre.ecrire([enregistrement("a", exemple, 0, request_id="parent-1")])
    fichiers = (registre.chemin, registre.chemin_verrou)
    assert _ouverts(*fichiers)
    pid = os.fork()
    if pid == 0:
        os._exit(3 if _ouverts(*fichiers) else 0)
    assert os.waitpid(pid, 0)[1] == 0, "l'enfant garde le journal ou le verrou du parent ouvert"
    registre.ecrire([enregistrement("a", exemple, 1, request_id="parent-2")])
    assert _ids(registre.chemin) == ["parent-1", "parent-2"]


def test_un_ancien_fichier_de_verrou_vide_recoit_sa_page(tmp_path, exemple):
    """Une instance d'avant l'issue 26 laisse un ``.lock`` vide et un journal non vide : la page est créée
    (fin inconnue, donc relue), et une ligne restée sans fin ne colle pas la suivante."""
    registre = JournalRequetes(tmp_path / "requetes.jsonl")
    registre.chemin_verrou.touch()
    registre.chemin.write_bytes(b'{"horodatage":"20')  # début de ligne laissé par l'ancienne version tuée
    registre.ecrire([enregistrement("a", exemple, 0, request_id="premiere")])
    assert registre.chemin_verrou.stat().st_size == 4096
    lignes = registre.chemin.read_bytes().split(b"\n")
    assert lignes[0] == b'{"horodatage":"20' and json.loads(lignes[1])["request_id"] == "premiere"


def test_l_horodatage_est_pose_sous_le_verrou_et_l_instant_provisoire_jamais_ecrit(tmp_path, exemple):
    """``ecrire(horodater=True)`` écrit les lignes en JSON avant le verrou avec un instant provisoire, remplacé sous
    le verrou : chaque ligne porte l'instant de son dict, pris pendant l'écriture, et aucune l'instant provisoire."""
    import datetime as dt

    from app.stockage.journal import PROVISOIRE

    chemin = tmp_path / "requetes.jsonl"
    journal = JournalRequetes(chemin)
    une = [enregistrement("a", exemple, 0)]
    lot = [enregistrement(f"e{i}", exemple, i) for i in range(1000)]
    avant = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
    journal.ecrire(une, horodater=True)
    journal.ecrire(lot, horodater=True)
    apres = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
    octets = chemin.read_bytes()
    assert PROVISOIRE.encode() not in octets
    lignes = [json.loads(ligne) for ligne in octets.splitlines()]
    assert [ligne["horodatage"] for ligne in lignes] == [e["horodatage"] for e in une + lot]
    assert avant <= une[0]["horodatage"] <= lot[0]["horodatage"] <= apres
    assert len({e["horodatage"] for e in lot}) == 1  # un lot : un instant


def test_l_instant_provisoire_dans_une_valeur_n_est_pas_remplace(tmp_path, exemple):
    """Une valeur qui contiendrait la clé et l'instant provisoires (jamais le cas d'une entrée validée) : les
    lignes sont alors écrites sous le verrou, comme avant, et la valeur reste telle quelle."""
    from app.stockage.journal import PROVISOIRE

    chemin = tmp_path / "requetes.jsonl"
    piege = enregistrement("a", {**exemple, "horodatage": PROVISOIRE}, 0)
    JournalRequetes(chemin).ecrire([piege], horodater=True)
    ligne = json.loads(chemin.read_bytes())
    assert ligne["entrees"]["horodatage"] == PROVISOIRE
    assert ligne["horodatage"] == piege["horodatage"] != PROVISOIRE

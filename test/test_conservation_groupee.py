"""La validation groupée (``ConservationGroupee``) : des requêtes simultanées, une transaction,
et pour chacune sa propre issue ; contre SQLite et PostgreSQL réels."""

import contextlib
import fcntl
import os
import threading
import time

import pytest

from app.stockage.conservation import ConservationGroupee
from app.stockage.journal import JournalRequetes
from app.stockage.magasin import DoublonRequete, ErreurMagasin, MagasinResultats
from test.conftest import enregistrement, lignes


def attendre(condition, delai=10.0):
    fin = time.monotonic() + delai
    while not condition():
        assert time.monotonic() < fin, "délai dépassé"
        time.sleep(0.002)


@contextlib.contextmanager
def journal_bloque(registre):
    """Tient le verrou du journal depuis un autre descripteur : la requête qui écrit s'y arrête."""
    descripteur = os.open(registre.chemin_verrou, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descripteur, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descripteur)


def lancer(groupee, lots):
    """Un fil par lot ; renvoie (fils, issues) où issues[i] est None (conservé) ou l'exception."""
    issues = [None] * len(lots)

    def requete(i):
        try:
            groupee.conserver(lots[i])
        except Exception as erreur:  # noqa: BLE001 - l'issue est vérifiée par le test
            issues[i] = erreur

    return [threading.Thread(target=requete, args=(i,)) for i in range(len(lots))], issues


def en_groupe(groupee, registre, premier, suivants):
    """``premier`` commence d'écrire et reste bloqué ; ``suivants`` arrivent pendant ce temps."""
    fils, issues = lancer(groupee, [premier, *suivants])
    with journal_bloque(registre):
        fils[0].start()
        attendre(lambda: groupee._ecriture_en_cours)
        for f in fils[1:]:
            f.start()
        attendre(lambda: len(groupee._en_attente) == len(suivants))
    for f in fils:
        f.join(30)
        assert not f.is_alive()
    return issues


def test_requetes_simultanees_une_transaction_chacune_conservee(magasin, registre, exemple):
    groupee = ConservationGroupee(magasin, registre)
    ecritures = []
    ecrire = registre.ecrire
    registre.ecrire = lambda enregistrements: (ecritures.append(len(enregistrements)), ecrire(enregistrements))
    lots = [[enregistrement(f"eleve-{i}", exemple, i)] for i in range(10)]
    issues = en_groupe(groupee, registre, lots[0], lots[1:])
    assert issues == [None] * 10
    assert ecritures == [1, 9]  # la première seule, puis les neuf arrivées pendant son écriture : deux transactions
    conservees = sorted(l["request_id"] for l in lignes(registre))
    assert conservees == sorted(lot[0]["request_id"] for lot in lots)
    assert all(magasin.lire(lot[0]["request_id"]) == lot[0] for lot in lots)


def test_un_request_id_en_double_n_echoue_que_sa_requete(magasin, registre, exemple):
    groupee = ConservationGroupee(magasin, registre)
    groupee.conserver([enregistrement("eleve-x", exemple, request_id="deja-pris")])
    premier = [enregistrement("eleve-a", exemple, 1)]
    suivants = [[enregistrement("eleve-b", exemple, 2)],
                [enregistrement("eleve-c", exemple, 3, request_id="deja-pris")],
                [enregistrement("eleve-d", exemple, 4), enregistrement("eleve-d", exemple, 5)]]  # un lot de deux
    issues = en_groupe(groupee, registre, premier, suivants)
    assert issues[0] is None and issues[1] is None and issues[3] is None
    assert isinstance(issues[2], DoublonRequete)
    attendues = ["deja-pris"] + [e["request_id"] for lot in (premier, suivants[0], suivants[2]) for e in lot]
    assert sorted(l["request_id"] for l in lignes(registre)) == sorted(attendues)
    assert magasin.lire("deja-pris")["user_id"] == "eleve-x"
    assert magasin.historique("eleve-d", 10, 0)[1] == 2


def test_base_injoignable_chaque_requete_du_groupe_recoit_l_erreur(tmp_path, exemple):
    magasin = MagasinResultats(f"sqlite:///{tmp_path / 'absent' / 'resultats.sqlite3'}")
    registre = JournalRequetes(tmp_path / "requetes.jsonl")
    groupee = ConservationGroupee(magasin, registre)
    issues = en_groupe(groupee, registre, [enregistrement("u0", exemple)],
                       [[enregistrement(f"u{i}", exemple, i)] for i in range(1, 5)])
    assert all(isinstance(issue, ErreurMagasin) for issue in issues)
    assert lignes(registre) == []
    assert not groupee._ecriture_en_cours and groupee._en_attente == []


def test_une_requete_seule_n_attend_personne(magasin, registre, exemple):
    groupee = ConservationGroupee(magasin, registre)
    e = enregistrement("seul", exemple)
    groupee.conserver([e])
    assert lignes(registre) == [e] and magasin.lire(e["request_id"]) == e
    with pytest.raises(DoublonRequete):
        groupee.conserver([e])
    assert lignes(registre) == [e]

"""Journal d'abord (``Conservation``) : le journal écrit avant la réponse en une écriture groupée, la base
alimentée derrière, la réconciliation et l'effacement ; contre SQLite et PostgreSQL réels."""

import contextlib
import fcntl
import os
import threading
import time

import pytest

from app.stockage.conservation import Conservation
from app.stockage.journal import ErreurJournal, JournalRequetes
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


def ids_en_base_de(magasin, user_id) -> set[str]:
    """Tous les request_id de ``user_id`` en base, sans limite (``parcourir`` pagine jusqu'au bout) : une page
    d'historique (``limite``) tronque en silence, et une prédiction hors de la page semblerait perdue."""
    return {p["request_id"] for p in magasin.parcourir() if p["user_id"] == user_id}


def lancer(conservation, lots, verifier=False):
    """Un fil par lot ; renvoie (fils, issues) où issues[i] est None (journalisé) ou l'exception."""
    issues = [None] * len(lots)

    def requete(i):
        try:
            conservation.conserver(lots[i], verifier)
        except Exception as erreur:  # noqa: BLE001 - l'issue est vérifiée par le test
            issues[i] = erreur

    return [threading.Thread(target=requete, args=(i,)) for i in range(len(lots))], issues


def en_groupe(conservation, registre, premier, suivants, verifier=False):
    """``premier`` commence d'écrire et reste bloqué ; ``suivants`` arrivent pendant ce temps."""
    fils, issues = lancer(conservation, [premier, *suivants], verifier)
    with journal_bloque(registre):
        fils[0].start()
        attendre(lambda: conservation._ecriture_en_cours)
        for f in fils[1:]:
            f.start()
        attendre(lambda: len(conservation._en_attente) == len(suivants))
    for f in fils:
        f.join(30)
        assert not f.is_alive()
    return issues


@pytest.fixture()
def conservation(magasin, registre):
    instance = Conservation(magasin, registre)
    yield instance
    instance.arreter(5)


def test_requetes_simultanees_une_ecriture_du_journal_puis_la_base(conservation, magasin, registre, exemple):
    ecritures = []
    ecrire = registre.ecrire
    registre.ecrire = lambda enregistrements, **options: (ecritures.append(len(enregistrements)),
                                                         ecrire(enregistrements, **options))
    lots = [[enregistrement(f"eleve-{i}", exemple, i)] for i in range(10)]
    issues = en_groupe(conservation, registre, lots[0], lots[1:])
    assert issues == [None] * 10
    assert ecritures == [1, 9]  # la première seule, puis les neuf arrivées pendant son écriture : deux write
    assert sorted(l["request_id"] for l in lignes(registre)) == sorted(lot[0]["request_id"] for lot in lots)
    assert conservation.vider()  # la base suit : tout y est, identique à la ligne du journal
    assert all(magasin.lire(lot[0]["request_id"]) == lot[0] for lot in lots)
    assert conservation.etat()[0] is True and len(conservation.retards) == 10


def test_un_request_id_fourni_en_double_n_echoue_que_sa_requete(conservation, magasin, registre, exemple):
    conservation.conserver([enregistrement("eleve-x", exemple, request_id="deja-pris")], True)
    premier = [enregistrement("eleve-a", exemple, 1)]
    suivants = [[enregistrement("eleve-b", exemple, 2)],
                [enregistrement("eleve-d", exemple, 4), enregistrement("eleve-d", exemple, 5)]]  # un lot de deux
    issues = en_groupe(conservation, registre, premier, suivants, verifier=True)
    assert issues == [None, None, None]
    with pytest.raises(DoublonRequete):  # au journal de ce processus, pas encore forcément en base
        conservation.conserver([enregistrement("eleve-c", exemple, request_id="deja-pris")], True)
    assert conservation.vider()
    with pytest.raises(DoublonRequete):  # en base
        conservation.conserver([enregistrement("eleve-c", exemple, request_id="deja-pris")], True)
    attendues = ["deja-pris"] + [e["request_id"] for lot in (premier, *suivants) for e in lot]
    assert sorted(l["request_id"] for l in lignes(registre)) == sorted(attendues)
    assert magasin.lire("deja-pris")["user_id"] == "eleve-x"
    assert magasin.historique("eleve-d", 10, 0)[1] == 2


def test_base_injoignable_tout_est_journalise_et_la_base_est_en_retard(tmp_path, exemple):
    magasin = MagasinResultats(f"sqlite:///{tmp_path / 'absent' / 'resultats.sqlite3'}")
    registre = JournalRequetes(tmp_path / "requetes.jsonl")
    conservation = Conservation(magasin, registre)
    issues = en_groupe(conservation, registre, [enregistrement("u0", exemple)],
                       [[enregistrement(f"u{i}", exemple, i)] for i in range(1, 5)])
    assert issues == [None] * 5 and len(lignes(registre)) == 5
    attendre(lambda: conservation.etat()[0] is False)
    ok, message, chiffres = conservation.etat()
    assert "en retard" in message and chiffres["en_attente"] == 5
    assert conservation.vider(0.3) is False
    (tmp_path / "absent").mkdir()  # la base revient : le retard se résorbe, sans rien perdre
    assert conservation.vider(15)
    assert {magasin.lire(l["request_id"])["user_id"] for l in lignes(registre)} == {f"u{i}" for i in range(5)}
    attendre(lambda: conservation.etat()[0] is True)
    conservation.arreter()


def test_journal_impossible_chaque_requete_recoit_l_erreur_rien_pour_la_base(magasin, tmp_path, exemple):
    registre = JournalRequetes(tmp_path / "absent" / "requetes.jsonl")
    conservation = Conservation(magasin, registre)
    lots = [[enregistrement(f"u{i}", exemple, i)] for i in range(4)]
    fils, issues = lancer(conservation, lots)
    for f in fils:
        f.start()
    for f in fils:
        f.join(30)
    assert all(isinstance(issue, ErreurJournal) for issue in issues)
    assert conservation.etat()[2]["en_attente"] == 0 and not conservation._ecriture_en_cours
    assert all(magasin.lire(lot[0]["request_id"]) is None for lot in lots)


def test_reconciliation_idempotente_et_sans_ce_qui_a_ete_efface(magasin, registre, exemple):
    """Un journal dont la base n'a rien reçu (worker tué) : la réconciliation insère chaque ligne manquante,
    une seule fois ; celles d'un utilisateur effacé depuis ne reviennent pas."""
    gardes = [enregistrement("garde", exemple, i) for i in range(30)]
    effaces = [enregistrement("efface", exemple, i) for i in range(20)]
    registre.ecrire(gardes[:10] + effaces + gardes[10:])
    with open(registre.chemin, "ab") as fichier:  # lignes abîmées : ignorées
        fichier.write(b'{"request_id":"abime"}\npas du json\n')
    conservation = Conservation(magasin, registre)
    magasin.inserer_nouveaux(gardes[:5])
    with magasin.transaction() as transaction:  # effacé en base (registre), ses lignes restées au journal d'un autre
        transaction.supprimer_utilisateur("efface")
        transaction.valider()
    bilan = conservation.reconcilier()
    assert (bilan.lignes, bilan.inserees, bilan.illisibles) == (51, 25, 1)
    assert magasin.historique("garde", 100, 0)[1] == 30
    assert magasin.historique("efface", 100, 0)[1] == 0
    assert conservation.reconcilier().inserees == 0  # idempotent
    assert magasin.historique("garde", 100, 0)[1] == 30


def test_effacement_pendant_les_predictions_en_vol_et_une_reconciliation(magasin, registre, exemple):
    """L'effacement d'un élève pendant que ses prédictions arrivent (plusieurs fils) et qu'une réconciliation
    tourne : après lui, le journal et la base sont d'accord, et rien d'antérieur à lui ne revient, ni par le
    fil d'alimentation, ni par la réconciliation (même refaite)."""
    conservation = Conservation(magasin, registre)
    registre.ecrire([enregistrement("cible", exemple, i) for i in range(3000)])  # une réconciliation qui dure
    arret = threading.Event()
    servis: list[dict] = []

    def predire(numero):
        while not arret.is_set():
            e = enregistrement("cible", exemple, numero)
            conservation.conserver([e])
            servis.append(e)
            # Une requête rend le verrou global de Python en lisant et en écrivant sa socket ; quatre boucles qui
            # ne le rendent jamais (l'écriture du journal le garde) affameraient le fil d'alimentation de la base.
            time.sleep(0.0005)

    fils = [threading.Thread(target=predire, args=(n,)) for n in range(4)]
    for f in fils:
        f.start()
    reconciliation = threading.Thread(target=conservation.reconcilier)
    reconciliation.start()
    attendre(lambda: len(servis) > 50)
    effacement = conservation.effacer("cible")
    avant = len(servis)
    attendre(lambda: len(servis) > avant + 20)  # des prédictions de l'élève servies après l'effacement
    arret.set()
    for f in fils:
        f.join(30)
    reconciliation.join(60)
    assert effacement.lignes_journal > 0
    assert conservation.vider(15)
    conservation.reconcilier()  # refaite après coup : rien ne revient
    au_journal = {l["request_id"] for l in lignes(registre) if l["user_id"] == "cible"}
    en_base = ids_en_base_de(magasin, "cible")  # souvent plus de 10 000 : pas une page d'historique
    assert au_journal == en_base, "le journal et la base diffèrent après l'effacement"
    assert not {e["request_id"] for e in servis[:50]} & en_base, "une prédiction effacée est revenue"
    assert {e["request_id"] for e in servis[avant + 20:]} <= en_base, "une prédiction d'après l'effacement perdue"
    conservation.arreter()


def test_plus_d_une_page_de_predictions_apres_un_effacement_toutes_en_base(magasin, registre, exemple):
    """Plus de 10 000 prédictions d'un élève servies après son effacement (ce que le test précédent sert souvent :
    relues par une page d'historique de 10 000, les plus anciennes semblaient perdues) : toutes au journal et en
    base, après le fil d'alimentation et une réconciliation ; rien d'antérieur à l'effacement ne revient."""
    conservation = Conservation(magasin, registre)
    avant = [enregistrement("cible", exemple, i) for i in range(20)]
    conservation.conserver(avant)
    assert conservation.effacer("cible").predictions == len(avant)
    apres = [enregistrement("cible", exemple, i) for i in range(10_050)]
    for debut in range(0, len(apres), 150):
        conservation.conserver(apres[debut:debut + 150])
    assert conservation.vider(15)
    conservation.reconcilier()
    au_journal = {l["request_id"] for l in lignes(registre) if l["user_id"] == "cible"}
    assert au_journal == {e["request_id"] for e in apres}
    assert ids_en_base_de(magasin, "cible") == au_journal
    assert magasin.historique("cible", 1, 0)[1] == len(apres)
    conservation.arreter()


def test_reglage_journal_fsync(tmp_path, exemple):
    from app.config import Configuration, ErreurConfiguration

    lire = lambda brut: Configuration.depuis_environnement({"JOURNAL_FSYNC": brut}).periode_fsync  # noqa: E731
    assert (lire(""), lire("toujours"), lire("jamais"), lire("250ms"), lire("20")) == (0.1, 0.0, None, 0.25, 0.02)
    for brut in ("souvent", "0ms", "-5", "100 s"):
        with pytest.raises(ErreurConfiguration, match="JOURNAL_FSYNC"):
            lire(brut)
    toujours = JournalRequetes(tmp_path / "toujours.jsonl", periode_fsync=0.0)
    toujours.ecrire([enregistrement("u", exemple)])
    assert toujours.synchroniser(force=True) is False  # déjà synchronisé avant de rendre la main
    periodique = JournalRequetes(tmp_path / "periode.jsonl", periode_fsync=0.1)
    periodique.ecrire([enregistrement("u", exemple)])
    assert periodique.synchroniser(force=True) is True and periodique.synchroniser(force=True) is False
    jamais = JournalRequetes(tmp_path / "jamais.jsonl", periode_fsync=None)
    jamais.ecrire([enregistrement("u", exemple)])
    assert jamais.synchroniser(force=True) is False


def test_retention_purge_journal_et_base_sans_retour_par_reconciliation(magasin, registre, exemple):
    anciens = [enregistrement("ancien", exemple, i) for i in range(5)]
    recents = [enregistrement("recent", exemple, i) for i in range(3)]
    for e in anciens:
        e["horodatage"] = "2020-01-01T08:00:00.000000+00:00"
    registre.ecrire(anciens + recents)
    conservation = Conservation(magasin, registre, retention_jours=30)
    assert conservation.reconcilier().inserees == 3  # hors rétention : pas ramenés en base
    magasin.inserer_nouveaux(anciens)  # une base qui les avait déjà
    assert Conservation(magasin, registre).purger_retention() == (0, 0)  # désactivée par défaut
    assert conservation.purger_retention() == (5, 5)
    assert [l["request_id"] for l in lignes(registre)] == [e["request_id"] for e in recents]
    assert magasin.historique("ancien", 10, 0)[1] == 0 and magasin.historique("recent", 10, 0)[1] == 3
    assert conservation.purger_retention() == (0, 0)
    fichiers = [f for f in [*registre.fichiers(), registre.segments.chemin_index] if f.exists()]
    assert fichiers and {oct(f.stat().st_mode & 0o777) for f in fichiers} == {"0o600"}


def test_lecture_d_une_prediction_d_un_autre_worker_jamais_404(magasin, registre, exemple):
    """Un autre processus (ici : un worker tué avant d'insérer) a journalisé sans mettre en base : la lecture
    par request_id ou par élève la trouve quand même (le journal de l'instance est relu, la ligne insérée)."""
    orphelines = [enregistrement("orphelin", exemple, i) for i in range(3)]
    registre.ecrire(orphelines)  # au journal, jamais confiées au fil d'alimentation de ce processus
    lecteur = Conservation(magasin, registre)
    assert lecteur.lire(orphelines[0]["request_id"]) == orphelines[0]
    assert lecteur.historique("orphelin", 10, 0)[1] == 3
    assert lecteur.lire("jamais-servie") is None


def test_journal_hors_fichier_la_reponse_attend_la_base(magasin, tmp_path, exemple):
    """JOURNAL_MODE=aucun : rien à réconcilier, donc rien n'est rendu avant d'être en base ; base absente : refus."""
    conservation = Conservation(magasin, JournalRequetes(tmp_path / "j.jsonl", mode="aucun"))
    e = enregistrement("sans-fichier", exemple)
    conservation.conserver([e])
    assert magasin.lire(e["request_id"]) == e  # sans vider : déjà en base au retour
    conservation.arreter()
    absente = Conservation(MagasinResultats(f"sqlite:///{tmp_path / 'absent' / 'r.sqlite3'}"),
                           JournalRequetes(tmp_path / "j.jsonl", mode="aucun"))
    with pytest.raises(ErreurMagasin):
        absente.conserver([enregistrement("sans-fichier", exemple, 1)])
    absente.arreter(0)

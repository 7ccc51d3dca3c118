"""Le suiveur du journal (``app.stockage.suiveur``) : les workers n'écrivent qu'au journal, un processus par
instance alimente la base. Sous un vrai gunicorn : suiveur tué (kill -9) sous charge, rien de perdu, il est
relancé et reprend ; dans le processus : scellements suivis (segments confirmés sans relecture) et réserve
(un second suiveur attend que le premier lâche le verrou d'instance)."""

import concurrent.futures
import contextlib
import datetime as dt
import fcntl
import os
import random
import signal
import sqlite3
import threading
import time

import pytest
import requests

from app.modele.eleves_aleatoires import eleves_aleatoires
from app.stockage import suiveur as module_suiveur
from app.stockage.enregistrement import COLONNES_ENREGISTREMENT, empreinte_utilisateur, relire_ligne
from app.stockage.etat_suiveur import EtatSuiveur, position_du_journal
from app.stockage.journal import JournalRequetes, ligne_json
from app.stockage.magasin import MagasinResultats
from app.stockage.suiveur import LOT_MAX, NOM_VERROU, Suiveur, servir
from test.conftest import enregistrement, ids_en_base

JETON = "jeton-de-test-" + "s" * 40
AUTORISE = {"Authorization": f"Bearer {JETON}"}


def attendre(condition, delai=30.0, message="délai dépassé"):
    fin = time.monotonic() + delai
    while not condition():
        assert time.monotonic() < fin, message
        time.sleep(0.01)


def vivant(pid: int) -> bool:
    """Le processus existe et n'est pas un zombie (un suiveur détaché est récolté par init, quand il le peut)."""
    try:
        with open(f"/proc/{pid}/stat") as fichier:
            return fichier.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _index(journal, requete: str) -> list[tuple]:
    """Les lignes d'une requête sur l'index des segments du journal."""
    with contextlib.closing(sqlite3.connect(f"{journal}.segments/index.sqlite3")) as index:
        return index.execute(requete).fetchall()


def segments_confirmes(journal) -> tuple[int, int]:
    """(segments de l'index, dont confirmés en base)."""
    return _index(journal, "SELECT count(*), coalesce(sum(en_base), 0) FROM segments")[0]


def test_suiveur_tue_sous_charge_rien_de_perdu(demarrer_serveur, exemple, mesurer):
    serveur = demarrer_serveur(workers=2, env={"JOURNAL_SEGMENT": "64Kio", "API_TOKEN": JETON}).attendre()
    etat = EtatSuiveur.de(JournalRequetes(serveur.journal))  # la page que publie le suiveur actif

    def actif() -> int:
        return etat.lire()["pid"] if etat.present() else 0

    # Le maître lance le suiveur sans l'attendre : il prend son verrou et publie son pid un peu après.
    attendre(lambda: actif() != 0, message="aucun suiveur lancé par gunicorn")
    premier = actif()
    assert vivant(premier)
    servis: list[str] = []
    verrou = threading.Lock()

    def predire(n: int) -> None:
        with requests.Session() as session:
            for k in range(40):
                reponse = session.post(serveur.url + "/predire", json={**exemple, "absences": (n + k) % 94}, timeout=30)
                assert reponse.status_code == 200, reponse.text[:200]
                with verrou:
                    servis.append(reponse.json()["request_id"])

    with concurrent.futures.ThreadPoolExecutor(4) as groupe:
        taches = [groupe.submit(predire, n) for n in range(8)]
        attendre(lambda: len(servis) >= 100)
        os.kill(premier, signal.SIGKILL)  # sous charge, au milieu d'un paquet peut-être
        for tache in taches:
            tache.result()
    attendre(lambda: actif() not in (0, premier), message="suiveur non relancé")
    relance = actif()
    assert not vivant(premier) and vivant(relance)
    url = f"sqlite:///{serveur.base}"
    attendre(lambda: set(ids_en_base(url)) == set(servis), message="des prédictions servies manquent en base")
    assert len(servis) == 320
    # Une relecture juste après une réponse : jamais 404 (elle attend la position publiée par le suiveur).
    for n in range(5):
        request_id = requests.post(serveur.url + "/predire", json={**exemple, "absences": n}, timeout=30).json()["request_id"]
        assert requests.get(f"{serveur.url}/predictions/{request_id}", headers=AUTORISE, timeout=30).status_code == 200
    pret = requests.get(serveur.url + "/ready", timeout=30).json()["verifications"]["alimentation"]
    assert pret["ok"] and pret["suiveur"]["actif"], pret
    segments, confirmes = segments_confirmes(serveur.journal)
    assert segments >= 3 and confirmes >= 1, (segments, confirmes)
    duree = serveur.arreter()
    assert serveur.processus.returncode == 0 and duree < 10
    assert not vivant(relance) and not etat.present(), "le suiveur survit à l'arrêt de gunicorn"
    tout = set(ids_en_base(url))
    assert set(servis) <= tout
    mesurer("suiveur tué sous charge", f"{len(servis)} prédictions servies, suiveur tué (kill -9) puis relancé : "
                                       f"toutes en base ; {confirmes}/{segments} segments confirmés ; arrêt en {duree:.1f} s")


@pytest.fixture()
def instance(tmp_path):
    registre = JournalRequetes(tmp_path / "requetes.jsonl", segment_octets=8192)
    magasin = MagasinResultats(f"sqlite:///{tmp_path / 'resultats.sqlite3'}")
    magasin.preparer()
    yield registre, magasin
    magasin.moteur.dispose()


def test_scellements_suivis_et_segments_confirmes_sans_relecture(instance):
    registre, magasin = instance
    suiveur = Suiveur(magasin, registre)
    fil = threading.Thread(target=suiveur.tourner, daemon=True)
    fil.start()
    ecrits = []
    for n in range(60):  # ~8 Kio par segment : plusieurs scellements pendant le suivi
        lot = [enregistrement(f"e{n % 5}", {"absences": n}, numero=n * 3 + k) for k in range(3)]
        registre.ecrire(lot)
        ecrits += [e["request_id"] for e in lot]
    etat = EtatSuiveur.de(registre)
    attendre(lambda: magasin.existants(ecrits) == set(ecrits))
    attendre(lambda: etat.atteint(registre.chemin, position_du_journal(registre.chemin)))
    suiveur.vider()
    suiveur.arret.set()
    fil.join(10)
    assert not fil.is_alive()
    segments, confirmes = segments_confirmes(registre.chemin)
    assert segments >= 3 and confirmes == segments, (segments, confirmes)
    assert suiveur.conservation.reconcilier(complete=False, actif=False).lignes == 0  # rien à relire


def test_un_second_suiveur_attend_en_reserve(instance):
    registre, magasin = instance
    registre.segments.creer()
    premier = os.open(registre.segments.dossier / NOM_VERROU, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(premier, fcntl.LOCK_EX)  # un suiveur actif (ici : son verrou seulement)
    ordres_lecture, ordres_ecriture = os.pipe()
    fil = threading.Thread(target=servir, args=(magasin, registre), kwargs={"ordres": ordres_lecture}, daemon=True)
    fil.start()
    lot = [enregistrement("e1", {"absences": n}, numero=n) for n in range(5)]
    registre.ecrire(lot)
    ids = [e["request_id"] for e in lot]
    time.sleep(0.5)
    assert magasin.existants(ids) == set(), "le suiveur en réserve a alimenté la base"
    os.close(premier)  # le suiveur actif meurt : la réserve prend la suite
    attendre(lambda: magasin.existants(ids) == set(ids))
    os.close(ordres_ecriture)  # le lanceur disparaît : le suiveur vide et sort
    fil.join(10)
    assert not fil.is_alive()


def test_lignes_telles_quelles_conservees_comme_les_enregistrements(magasin, registre):
    """``inserer_lignes`` (le suiveur : COPY pour PostgreSQL, un décodage orjson pour SQLite) conserve exactement
    ce que ``inserer_nouveaux`` conserve ; un élève effacé, ou une ligne illisible, fait passer le paquet par le
    chemin décodé (instants comparés, illisibles sautées)."""
    entrees = {"absences": 3, "nom": 'Zoé "la" \\ grande', "taux": 1e-05, "liste": [1, 2.5, None], "vide": {}}
    modeles = [enregistrement("e1", entrees, numero=1), enregistrement(None, {"absences": 0}, numero=2)]
    ancien = enregistrement("e2", entrees, numero=3)
    del ancien["canal"]  # ligne d'avant le serveur gRPC
    decodes = [dict(e, request_id=f"decode-{i}") for i, e in enumerate([*modeles, dict(ancien, canal="http")])]
    bruts = [dict(e, request_id=f"brut-{i}") for i, e in enumerate([*modeles, ancien])]
    magasin.inserer_nouveaux(decodes)
    lignes = [ligne_json(e)[:-1] for e in bruts]
    assert magasin.inserer_lignes(lignes, {empreinte_utilisateur("e1"), empreinte_utilisateur("e2")}) is True
    for i in range(3):
        attendu, obtenu = magasin.lire(f"decode-{i}"), magasin.lire(f"brut-{i}")
        assert obtenu == dict(attendu, request_id=f"brut-{i}")
    assert list(obtenu["entrees"]) == list(ancien["entrees"])  # ordre des clés gardé

    # Un élève effacé après ces prédictions : le paquet n'est pas inséré tel quel, le suiveur le décode.
    with magasin.transaction() as transaction:
        transaction.supprimer_utilisateur("e9")
        transaction.valider()
    efface = enregistrement("e9", entrees, numero=4, request_id="efface")
    lisible = enregistrement("e1", entrees, numero=5, request_id="lisible")
    assert magasin.inserer_lignes([ligne_json(efface)[:-1]], {empreinte_utilisateur("e9")}) is False
    suiveur = Suiveur(magasin, registre)
    suiveur._lot = [ligne_json(efface)[:-1], b'{"horodatage":"2026-11-23T08:00', ligne_json(lisible)[:-1]]
    suiveur._utilisateurs = {b"e9", b"e1"}
    suiveur._inserer()
    assert magasin.lire("efface") is None and magasin.lire("lisible") is not None
    assert suiveur.illisibles == 1


def _valeurs_brutes(magasin, prefixe: str) -> dict[str, tuple]:
    """Chaque ligne de la table dont le request_id commence par ``prefixe`` (→ sans lui) : pour chaque autre colonne, son
    type dans la base, sa valeur lue par le pilote et, pour PostgreSQL, son texte (JSON tel que stocké)."""
    sqlite = magasin.moteur_sql == "sqlite"
    champs = []
    for colonne in (c for c in COLONNES_ENREGISTREMENT if c != "request_id"):
        champs += [f"typeof({colonne})", colonne] if sqlite else [f"pg_typeof({colonne})::text", colonne,
                                                                  f"{colonne}::text"]
    marque = "?" if sqlite else "%s"
    connexion = magasin.moteur.raw_connection()
    try:
        curseur = connexion.cursor()
        curseur.execute(f"SELECT request_id, {', '.join(champs)} FROM predictions WHERE request_id LIKE {marque}",
                        (prefixe + "%",))
        return {ligne[0][len(prefixe):]: tuple(ligne[1:]) for ligne in curseur.fetchall()}
    finally:
        connexion.close()


def test_chemin_des_lignes_et_chemin_decode_ecrivent_les_memes_valeurs(magasin):
    """Sur 3 000 lignes d'élèves tirés au hasard : ``inserer_lignes`` (le suiveur : un décodage orjson et l'horodatage
    découpé pour SQLite, ``COPY`` et ``json_to_record`` pour PostgreSQL) écrit en base, colonne par colonne, le même
    type et la même valeur que le chemin décodé (``relire_ligne`` puis ``inserer_nouveaux``) : horodatage au
    format de SQLAlchemy, texte JSON d'``entrees`` octet pour octet, flottants exacts, ``canal`` par défaut des
    lignes anciennes, user_id absent. Une seconde insertion des mêmes lignes ne change rien (idempotente)."""
    hasard = random.Random(26)
    eleves = eleves_aleatoires(3000, graine=26, notes_absentes=0.1)
    lignes = []
    for rang, eleve in enumerate(eleves):
        entrees = dict(eleve)
        if rang % 7 == 0:
            entrees.update(nom='Zoé « \\ » "guillemets" \u2028 😀', taux=hasard.random() * 1e-7, grand=2 ** 53 + 1,
                           liste=[1, 2.5, None, True], vide={})
        probabilite = hasard.random()
        e = enregistrement(None if rang % 11 == 0 else f"eleve-{rang % 400}", entrees, numero=rang,
                           request_id=f"{rang:05d}")
        e.update(horodatage=(dt.datetime(2026, 12, 7, 21, tzinfo=dt.UTC)
                             + dt.timedelta(microseconds=hasard.randrange(10 ** 11))).isoformat(timespec="microseconds"),
                 probabilite_echec=1 - probabilite, probabilite_reussite=probabilite, seuil=hasard.choice([0.4, 0.55]),
                 canal=("http", "grpc", "lot")[rang % 3])
        if rang % 5 == 0:
            del e["canal"]  # ligne d'avant le serveur gRPC
        lignes.append(ligne_json(e)[:-1])
    decodes = [relire_ligne(ligne) for ligne in lignes]
    assert None not in decodes
    magasin.inserer_nouveaux([dict(e, request_id="decode-" + e["request_id"]) for e in decodes])
    bruts = [ligne.replace(b'"request_id":"', b'"request_id":"brut-', 1) for ligne in lignes]
    empreintes = {empreinte_utilisateur(e["user_id"]) for e in decodes if e["user_id"]}
    for _ in range(2):  # idempotent : la seconde fois, rien ne change
        for debut in range(0, len(bruts), LOT_MAX):
            assert magasin.inserer_lignes(bruts[debut:debut + LOT_MAX], empreintes) is True
    attendu, obtenu = _valeurs_brutes(magasin, "decode-"), _valeurs_brutes(magasin, "brut-")
    assert len(attendu) == len(obtenu) == len(lignes)
    differences = [cle for cle in attendu if attendu[cle] != obtenu[cle]]
    assert not differences, f"{len(differences)} ligne(s) écrites autrement par le chemin des lignes"
    assert magasin.compter()["predictions"] == 2 * len(lignes)


def test_identite_de_la_base_gardee_puis_relue_apres_une_restauration(instance, monkeypatch):
    """Le suiveur garde l'identité de la base en mémoire (pas une requête par segment confirmé) et la relit au plus
    toutes les ``PERIODE_IDENTITE_S`` secondes : après une restauration (identité renouvelée), les segments qu'il
    finit de lire sont confirmés pour la nouvelle base."""
    monkeypatch.setattr(module_suiveur, "PERIODE_IDENTITE_S", 2.0)
    registre, magasin = instance
    ancienne = magasin.identite()
    suiveur = Suiveur(magasin, registre)
    monkeypatch.setattr(suiveur.conservation, "confirmer_segments", lambda: None)  # seul le suiveur confirme
    appels = []
    identite = magasin.identite
    monkeypatch.setattr(magasin, "identite", lambda: appels.append(1) or identite())
    fil = threading.Thread(target=suiveur.tourner, daemon=True)
    fil.start()

    def ecrire(debut: int) -> set[str]:
        """Douze lignes de 3 Kio (un scellement toutes les trois), chacune en base avant la suivante : le suiveur
        lit lui-même chaque segment (ceux scellés sans lui sont laissés à la confirmation de secours)."""
        for n in range(debut, debut + 12):
            ligne = enregistrement(f"e{n % 5}", {"absences": n, "texte": "x" * 3000}, numero=n)
            registre.ecrire([ligne])
            attendre(lambda: magasin.existants([ligne["request_id"]]))
        return {chemin.name for chemin in registre.segments.lister()}

    def confirmes_pour(identite_attendue: str) -> set[str]:
        if _index(registre.chemin, "SELECT identite FROM confirmations") != [(identite_attendue,)]:
            return set()
        return {nom for (nom,) in _index(registre.chemin, "SELECT nom FROM segments WHERE en_base = 1")}

    try:
        premiers = ecrire(0)
        assert len(premiers) >= 3
        attendre(lambda: premiers <= confirmes_pour(ancienne))
        assert len(appels) < len(premiers)  # gardée en mémoire, pas relue à chaque segment
        nouvelle = magasin.renouveler_identite()  # ce que fait une restauration
        time.sleep(2.1)  # la période passée, le suiveur la relit
        suivants = ecrire(12) - premiers
        assert len(suivants) >= 3
        attendre(lambda: suivants <= confirmes_pour(nouvelle), message="segments confirmés pour l'ancienne base")
    finally:
        suiveur.vider()
        suiveur.arret.set()
        fil.join(10)


def test_un_journal_vide_puis_reecrit_sous_le_meme_inode_est_relu_depuis_le_debut(tmp_path):
    """Le suiveur suivant ne reprend à la position publiée que si le fichier est celui qui a été lu (même inode
    et même début, ``PrefixeActif``) : vidé puis réécrit d'autres lignes de même longueur (la position tombe sur
    une fin de ligne), il est relu depuis le début."""
    registre = JournalRequetes(tmp_path / "requetes.jsonl", segment_octets=1 << 30)
    magasin = MagasinResultats(f"sqlite:///{tmp_path / 'resultats.sqlite3'}")
    magasin.preparer()

    def suivre(prefixe: str) -> list[str]:
        lignes = [enregistrement(f"e{n % 3}", {"absences": n}, numero=n, request_id=f"{prefixe}-{n:04d}")
                  for n in range(40)]
        with open(registre.chemin, "r+b") as fichier:  # même inode : vidé puis réécrit
            fichier.truncate(0)
            fichier.write(b"".join(ligne_json(e) for e in lignes))
        ids = [e["request_id"] for e in lignes]
        suiveur = Suiveur(magasin, registre)
        fil = threading.Thread(target=suiveur.tourner, daemon=True)
        fil.start()
        try:
            attendre(lambda: magasin.existants(ids) == set(ids), delai=10, message="lignes réécrites laissées")
        finally:
            suiveur.vider()
            suiveur.arret.set()
            fil.join(10)
        return ids

    try:
        registre.chemin.touch()
        inode = os.stat(registre.chemin).st_ino
        suivre("a")
        assert EtatSuiveur.de(registre).lire()["stockee"] == os.stat(registre.chemin).st_size
        suivre("b")
        assert os.stat(registre.chemin).st_ino == inode
    finally:
        magasin.moteur.dispose()

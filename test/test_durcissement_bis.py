"""Durcissement, second tour (issue 28) : chaque attaque de la seconde revue rejouée contre un vrai gunicorn,
avec sa borne. Les chiffres sont affichés par ``mesurer`` ; aucune assertion ne porte sur une durée.
(Les rafales de SIGTERM du serveur gRPC : test_arret_signaux.py.)"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import uuid

import pytest
import requests

from app.rpc import prediction_pb2
from app.stockage.enregistrement import empreinte_sans_cle

JETON = "jeton-de-test-" + "e" * 40
AUTORISE = {"Authorization": f"Bearer {JETON}"}
SEL = "sel-de-deploiement-" + "s" * 40


@pytest.fixture(scope="module")
def serveur_bis(tmp_path_factory):
    from test.conftest import Serveur

    instance = Serveur(tmp_path_factory.mktemp("bis"), env={"API_TOKEN": JETON}).attendre()
    yield instance
    instance.arreter()


def _predire_puis_effacer(serveur, exemple, user_id: str) -> None:
    assert requests.post(serveur.url + "/predire", json={**exemple, "user_id": user_id}, timeout=30).status_code == 200
    reponse = requests.post(serveur.url + "/effacement", json={"user_id": user_id}, headers=AUTORISE, timeout=30)
    assert reponse.status_code == 200, reponse.text
    assert reponse.json()["supprimees"] == 1


def _registre(base) -> list[str]:
    with sqlite3.connect(base) as connexion:
        return [e for (e,) in connexion.execute("SELECT empreinte FROM effacements ORDER BY numero")]


# --- B7 : registre des effacements clé par un secret du déploiement -----------------------------------

def test_registre_des_effacements_en_hmac_par_le_sel_du_deploiement(demarrer_serveur, exemple, tmp_path, mesurer):
    """Avant : sha256(constante du code + id) ; un million d'identifiants candidats hachés en 2,3 s
    retrouvaient tous les élèves effacés. Après : HMAC-SHA256 par EFFACEMENT_SEL ; l'empreinte sans clé
    d'un élève effacé n'est nulle part dans le registre."""
    eleve = f"eleve-b7-{uuid.uuid4().hex[:12]}"
    serveur = demarrer_serveur(workers=1, env={"API_TOKEN": JETON, "EFFACEMENT_SEL": SEL}).attendre()
    _predire_puis_effacer(serveur, exemple, eleve)
    registre = _registre(serveur.base)
    attendue = hmac.new(SEL.encode(), empreinte_sans_cle(eleve).encode(), hashlib.sha256).hexdigest()
    assert registre == [attendue]
    assert empreinte_sans_cle(eleve) not in registre  # l'attaque par candidats ne trouve plus personne
    mesurer("B7 : registre des effacements", "HMAC-SHA256 par EFFACEMENT_SEL ; l'empreinte sans clé n'y est pas")


def test_registre_existant_migre_puis_autre_sel_refuse(tmp_path, exemple):
    """Un registre écrit sans sel (avant l'issue 28) est migré au premier démarrage avec EFFACEMENT_SEL
    (HMAC de chaque empreinte existante) ; un autre sel ensuite : refus de démarrer (code 3), jamais un
    registre qui ne désignerait plus personne."""
    from test.conftest import Serveur

    dossier = tmp_path / "instance"
    eleves = [f"eleve-migre-{i}-{uuid.uuid4().hex[:8]}" for i in range(2)]
    avant = Serveur(dossier, workers=1, env={"API_TOKEN": JETON}).attendre()
    try:
        for eleve in eleves:
            _predire_puis_effacer(avant, exemple, eleve)
    finally:
        avant.arreter()
    assert _registre(avant.base) == [empreinte_sans_cle(e) for e in eleves]

    apres = Serveur(dossier, workers=1, env={"API_TOKEN": JETON, "EFFACEMENT_SEL": SEL}).attendre()
    try:
        assert requests.get(apres.url + "/ready", timeout=10).status_code == 200
    finally:
        apres.arreter()
    assert _registre(apres.base) == [hmac.new(SEL.encode(), empreinte_sans_cle(e).encode(), hashlib.sha256).hexdigest()
                                     for e in eleves]

    autre = Serveur(dossier, workers=1, env={"API_TOKEN": JETON, "EFFACEMENT_SEL": "autre-sel-" + "x" * 40})
    try:
        assert autre.processus.wait(60) == 3
        assert "EFFACEMENT_SEL ne correspond pas" in autre.journal_serveur()
    finally:
        autre.arreter()


def test_effacement_applique_apres_migration_aux_segments_indexes(tmp_path, exemple):
    """L'index des segments écrit sans sel est migré en place : un effacement après la migration retrouve
    encore les lignes de l'élève dans les segments scellés avant elle."""
    from test.conftest import Serveur, contenu_journal

    dossier = tmp_path / "instance"
    eleve = f"eleve-index-{uuid.uuid4().hex[:8]}"
    env = {"API_TOKEN": JETON, "JOURNAL_SEGMENT": "4Kio"}
    avant = Serveur(dossier, workers=1, env=env).attendre()
    try:
        for _ in range(6):  # plus de 4 Kio : des segments scellés, indexés sans sel
            assert requests.post(avant.url + "/predire", json={**exemple, "user_id": eleve}, timeout=30).ok
        assert requests.post(avant.url + "/effacement", json={"user_id": "quelqu-un-d-autre"}, headers=AUTORISE,
                             timeout=30).ok  # indexe les segments
    finally:
        avant.arreter()
    assert contenu_journal(avant.journal).count(eleve) == 6
    apres = Serveur(dossier, workers=1, env={**env, "EFFACEMENT_SEL": SEL}).attendre()
    try:
        reponse = requests.post(apres.url + "/effacement", json={"user_id": eleve}, headers=AUTORISE, timeout=30)
        assert reponse.status_code == 200 and reponse.json()["lignes_journal_supprimees"] == 6
    finally:
        apres.arreter()
    assert eleve not in contenu_journal(apres.journal)


def _registre_de(magasin) -> list[str]:
    from app.stockage.magasin import EFFACEMENTS

    with magasin.moteur.connect() as connexion:
        return list(connexion.scalars(EFFACEMENTS.select().with_only_columns(EFFACEMENTS.c.empreinte)
                                      .order_by(EFFACEMENTS.c.numero)))


def test_registre_purge_apres_la_retention(magasin):
    """Règle de purge (SQLite et PostgreSQL) : une entrée du registre part quand tout ce qu'elle protège est
    plus vieux que la rétention, plus un jour de marge ; les plus récentes restent."""
    import datetime as dt

    from app.stockage.magasin import EFFACEMENTS, MARGE_PURGE_REGISTRE

    maintenant = dt.datetime.now(dt.timezone.utc)
    limite = maintenant - dt.timedelta(days=30)
    with magasin.moteur.begin() as connexion:
        connexion.execute(EFFACEMENTS.insert(), [
            {"empreinte": "a" * 64, "horodatage": limite - MARGE_PURGE_REGISTRE - dt.timedelta(hours=1)},
            {"empreinte": "b" * 64, "horodatage": limite - dt.timedelta(hours=1)},
            {"empreinte": "c" * 64, "horodatage": maintenant}])
    magasin.supprimer_avant(limite)
    assert _registre_de(magasin) == ["b" * 64, "c" * 64]


def test_migration_du_registre_sur_chaque_base(url_base):
    """La migration (HMAC des empreintes existantes, contrôle du sel inscrit) sur SQLite et PostgreSQL, une
    seule fois : un second démarrage avec le même sel ne touche à rien."""
    import datetime as dt

    from app.stockage import enregistrement
    from app.stockage.magasin import EFFACEMENTS, MagasinResultats

    anciennes = [empreinte_sans_cle(f"eleve-{i}") for i in range(3)]
    magasin = MagasinResultats(url_base)
    magasin.preparer()
    with magasin.moteur.begin() as connexion:
        connexion.execute(EFFACEMENTS.insert(), [{"empreinte": e, "horodatage": dt.datetime.now(dt.timezone.utc)}
                                                 for e in anciennes])
    enregistrement.definir_sel(SEL)
    try:
        for _ in range(2):
            nouveau = MagasinResultats(url_base)
            assert nouveau.preparer() is True
            assert _registre_de(nouveau) == [hmac.new(SEL.encode(), e.encode(), hashlib.sha256).hexdigest()
                                             for e in anciennes]
            nouveau.moteur.dispose()
    finally:
        enregistrement.definir_sel("")
        magasin.moteur.dispose()


def test_cloud_run_exige_effacement_sel():
    from app.config import Configuration, ErreurConfiguration

    with pytest.raises(ErreurConfiguration, match="EFFACEMENT_SEL"):
        Configuration.depuis_environnement({"K_SERVICE": "api", "INSTANCE_UNIQUE": "1"})
    with pytest.raises(ErreurConfiguration, match="EFFACEMENT_SEL"):
        Configuration.depuis_environnement({"EFFACEMENT_SEL": "court"})


# --- B6 : effacement sur un disque plein ------------------------------------------------------------

@pytest.fixture()
def disque_de_3_mio(tmp_path):
    """Un tmpfs de 3 Mio, comme celui de l'attaque (le journal seul y est ; la base est ailleurs)."""
    import subprocess

    point = tmp_path / "disque"
    point.mkdir()
    montage = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(point)],
                             capture_output=True, text=True, check=False)
    if montage.returncode != 0:
        pytest.skip(f"montage d'un tmpfs impossible ({montage.stderr.strip()}) : lancez ce test en root, comme "
                    "bash .ci/run")
    yield point
    subprocess.run(["umount", "-l", str(point)], check=False)


def test_effacement_sur_disque_plein_503_puis_journal_efface(disque_de_3_mio, tmp_path, exemple, mesurer):
    """Avant : 500 après 5 s (sqlite3.OperationalError de l'index des segments), effacement impossible.
    Après : 503 avec Retry-After ; la base et le registre sont déjà effacés ; le journal l'est dès que la
    place revient (fil d'alimentation), ou au démarrage suivant ; aucun fil de fond n'est mort."""
    from outils.attaques import remplir_disque
    from test.conftest import Serveur, contenu_journal
    from test.test_segments_service import _attendre

    env = {"API_TOKEN": JETON, "JOURNAL_CHEMIN": str(disque_de_3_mio / "requetes.jsonl"),
           "JOURNAL_SEGMENT": "8Kio", "EFFACEMENT_SEL": SEL}
    victimes = [f"eleve-plein-{i}-{uuid.uuid4().hex[:8]}" for i in range(2)]
    serveur = Serveur(tmp_path / "s", workers=1, env=env).attendre()
    try:
        for i in range(40):  # les lignes des victimes mêlées à d'autres, dans plusieurs segments
            user_id = victimes[i % 2] if i % 4 < 2 else f"autre-{i}"
            assert requests.post(serveur.url + "/predire", json={**exemple, "user_id": user_id}, timeout=30).ok
        remplissage = remplir_disque(disque_de_3_mio)
        reponse = requests.post(serveur.url + "/effacement", json={"user_id": victimes[0]}, headers=AUTORISE,
                                timeout=30)
        assert reponse.status_code == 503, reponse.text
        assert reponse.headers.get("Retry-After") and "effacées de la base" in reponse.json()["erreur"]
        historique = requests.post(serveur.url + "/historique", json={"user_id": victimes[0]}, headers=AUTORISE,
                                   timeout=30).json()
        assert historique["pagination"]["total"] == 0 and historique["predictions"] == []  # la base d'abord
        alimentation = requests.get(serveur.url + "/ready", timeout=10).json()["verifications"]["alimentation"]
        assert alimentation["effacements_dus_au_journal"] == 1
        remplissage.unlink()
        assert _attendre(lambda: victimes[0] not in contenu_journal(serveur.journal)), "journal jamais effacé"
        alimentation = requests.get(serveur.url + "/ready", timeout=10).json()["verifications"]["alimentation"]
        assert alimentation["effacements_dus_au_journal"] == 0 and alimentation["fils_relances"] == {}

        # Reprise qui survit à un redémarrage : disque plein, effacement, arrêt, place rendue, démarrage.
        remplissage = remplir_disque(disque_de_3_mio)
        reponse = requests.post(serveur.url + "/effacement", json={"user_id": victimes[1]}, headers=AUTORISE,
                                timeout=30)
        assert reponse.status_code == 503 and reponse.headers.get("Retry-After")
    finally:
        serveur.arreter()
    assert victimes[1] in contenu_journal(serveur.journal)
    remplissage.unlink()
    suivant = Serveur(tmp_path / "s", workers=1, env=env).attendre()
    try:
        assert victimes[1] not in contenu_journal(suivant.journal)
        assert contenu_journal(suivant.journal).count('"user_id":"autre-') == 20  # les autres lignes restent
    finally:
        suivant.arreter()
    assert "Exception in thread" not in serveur.sortie.read_text() + suivant.sortie.read_text()
    mesurer("B6 : effacement sur disque plein (tmpfs de 3 Mio)", "503 + Retry-After (avant : 500), base effacée "
            "d'abord, journal effacé dès la place rendue et au redémarrage")


def test_fil_de_fond_relance_et_compte(serveur_bis):
    """Un fil dont la boucle lève est relancé et compté (``/ready`` le lit), jamais mort en silence ; les
    séries de relance sont dans /metrics dès le démarrage (à 0), pour qu'une alerte sur leur hausse marche."""
    import threading

    from app.stockage import fils

    appels = []

    def corps():
        appels.append(1)
        if len(appels) == 1:
            raise RuntimeError("panne imprévue")

    fil = threading.Thread(target=fils.relancer_toujours, args=("essai", corps, threading.Event()))
    fil.start()
    fil.join(30)
    assert not fil.is_alive() and len(appels) == 2
    assert fils.relances()["essai"] == {"relances": 1, "derniere_erreur": "RuntimeError"}
    texte = requests.get(serveur_bis.url + "/metrics", timeout=10).text
    for nom in ("alimentation", "suivi_effacements"):
        assert f'prediction_etudiante_fils_relances_total{{fil="{nom}"}} 0.0' in texte
    alimentation = requests.get(serveur_bis.url + "/ready", timeout=10).json()["verifications"]["alimentation"]
    assert alimentation["fils_relances"] == {} and alimentation["effacements_dus_au_journal"] == 0


# --- B3 : étiquettes des métriques en ensembles fermés ; /metrics fermé sur Cloud Run -----------------

def test_methodes_inventees_comptees_dans_autre(serveur_bis, mesurer):
    """Avant : chaque méthode inventée ajoutait une série (100 000 requêtes : /metrics de 26 Ko à 9 Mo).
    Borne : la taille de /metrics ne dépend pas du nombre de méthodes inventées."""
    import socket

    def envoyer(nombre: int, depart: int) -> None:
        with socket.create_connection(("127.0.0.1", serveur_bis.port), timeout=30) as connexion:
            for i in range(depart, depart + nombre):  # une connexion, des requêtes à la suite (keep-alive)
                connexion.sendall(f"INVENTE{i} /predire/x{i} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n".encode())
                recu = b""
                while b"\r\n\r\n" not in recu:
                    recu += connexion.recv(65536)
                entete, _, reste = recu.partition(b"\r\n\r\n")
                longueur = int(next(ligne.split(b":")[1] for ligne in entete.split(b"\r\n")
                                    if ligne.lower().startswith(b"content-length")))
                while len(reste) < longueur:
                    reste += connexion.recv(65536)

    envoyer(50, 0)
    avant = len(requests.get(serveur_bis.url + "/metrics", timeout=10).content)
    envoyer(1000, 50)
    texte = requests.get(serveur_bis.url + "/metrics", timeout=10).text
    assert "INVENTE" not in texte and 'methode="autre"' in texte
    assert len(texte.encode()) - avant < 2048, "chaque méthode inventée ajoute encore une série"
    mesurer("B3 : 1 000 méthodes inventées", f"/metrics de {avant} à {len(texte.encode())} octets (avant : une série "
            "par méthode, 9 Mo pour 100 000)")


def test_metrics_ferme_sur_cloud_run_sans_jeton(demarrer_serveur):
    env = {"K_SERVICE": "api", "INSTANCE_UNIQUE": "1", "EFFACEMENT_SEL": SEL, "JOURNAUX_FORMAT": "texte"}
    ferme = demarrer_serveur(workers=1, env=env).attendre()
    reponse = requests.get(ferme.url + "/metrics", timeout=10)
    assert reponse.status_code == 403 and "METRIQUES_TOKEN" in reponse.json()["erreur"]
    jeton = "jeton-metriques-" + "m" * 40
    protege = demarrer_serveur(workers=1, env={**env, "METRIQUES_TOKEN": jeton}).attendre()
    assert requests.get(protege.url + "/metrics", timeout=10).status_code == 401
    assert requests.get(protege.url + "/metrics", headers={"Authorization": f"Bearer {jeton}"}, timeout=10).ok


# --- B9 : injection de formules dans les CSV (la page : test_page_classe) --------------------------------

def test_neutraliser_chaque_debut_de_formule_apres_tout_separateur():
    from app.modele.lots import neutraliser

    assert neutraliser("x,=cmd|' /C calc'!A0") == "x,'=cmd|' /C calc'!A0"
    assert neutraliser("y\t=2+2") == "y\t'=2+2"
    assert neutraliser("\t\t=1") == "'\t'\t'=1"  # chaque morceau, quel que soit le séparateur
    assert neutraliser("a|@SOMME(A1)") == "a|'@SOMME(A1)" and neutraliser("-3") == "'-3"
    assert neutraliser("Élève n°4 (a-b)") == "Élève n°4 (a-b)" and neutraliser(0.25) == 0.25


# --- Points plus petits : dossier des métriques, socket de contrôle, SCRIPT_NAME ------------------------

def _cartes(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as fichier:
        return fichier.read()


def test_dossier_des_metriques_imprevisible_ferme_et_retire(demarrer_serveur, tmp_path):
    """mkdtemp (nom imprévisible, 0700) sous TMPDIR ; retiré à l'arrêt ; pas de socket de contrôle
    (gunicorn ≥ 25 en ouvrait un à ~/.gunicorn/gunicorn.ctl, partagé entre serveurs)."""
    import os
    import stat

    from test.conftest import attendre_workers

    temporaire, maison = tmp_path / "tmp", tmp_path / "maison"
    temporaire.mkdir()
    maison.mkdir()
    env = {"TMPDIR": str(temporaire), "HOME": str(maison), "XDG_RUNTIME_DIR": "", "PROMETHEUS_MULTIPROC_DIR": ""}
    serveur = demarrer_serveur(workers=1, env=env).attendre()
    assert requests.get(serveur.url + "/metrics", timeout=10).ok
    worker = attendre_workers(serveur.processus.pid, 1)[0]
    dossiers = [d for d in temporaire.iterdir() if d.name.startswith("prediction-etudiante-metriques-")]
    assert len(dossiers) == 1 and dossiers[0].name != f"prediction-etudiante-metriques-{serveur.processus.pid}"
    assert stat.S_IMODE(os.lstat(dossiers[0]).st_mode) == 0o700 and str(dossiers[0]) in _cartes(worker)
    assert not (maison / ".gunicorn").exists() and "Control socket" not in serveur.journal_serveur()
    serveur.arreter()
    assert not dossiers[0].exists()


def test_dossier_des_metriques_lien_plante_refuse(demarrer_serveur, tmp_path):
    """Un PROMETHEUS_MULTIPROC_DIR qui est un lien symbolique (planté vers un dossier d'autrui) : refus de
    démarrer, rien d'effacé dans la cible."""
    cible = tmp_path / "autrui"
    cible.mkdir()
    (cible / "precieux.db").write_bytes(b"x")
    lien = tmp_path / "metriques"
    lien.symlink_to(cible)
    serveur = demarrer_serveur(workers=1, env={"PROMETHEUS_MULTIPROC_DIR": str(lien)})
    assert serveur.processus.wait(60) != 0
    assert "PROMETHEUS_MULTIPROC_DIR" in serveur.journal_serveur() and (cible / "precieux.db").exists()


def test_en_tete_script_name_depuis_la_boucle_locale_ignore(serveur_bis):
    """Avant : ``SCRIPT_NAME: /abc`` envoyé depuis 127.0.0.1 (mandataire de confiance par défaut) → 500."""
    for valeur in ("/abc", "x", "/health"):
        reponse = requests.get(serveur_bis.url + "/health", headers={"SCRIPT_NAME": valeur}, timeout=10)
        assert reponse.status_code == 200 and reponse.json() == {"statut": "ok"}


def test_essais_de_jeton_rates_limites(serveur_bis, mesurer):
    """Avant : 564 essais ratés par seconde, sans limite. Borne : JETON_ESSAIS_MAX par client et par
    processus sur la fenêtre ; au-delà 429 avec Retry-After, sans que le jeton soit comparé."""
    from app.config import Configuration

    maximum = Configuration().essais_jeton_max

    statuts = []
    with requests.Session() as session:
        for i in range(60):
            reponse = session.post(serveur_bis.url + "/historique", json={"user_id": "x"},
                                   headers={"Authorization": f"Bearer faux-{i:040d}"}, timeout=10)
            statuts.append(reponse.status_code)
            if reponse.status_code == 429:
                assert int(reponse.headers["Retry-After"]) > 0 and "essais de jeton" in reponse.json()["erreur"]
    assert set(statuts) == {401, 429}
    assert statuts.count(401) <= 2 * maximum  # deux workers, chacun sa fenêtre
    mesurer("jetons ratés", f"{statuts.count(401)} essais examinés sur 60, puis 429 (avant : 564 essais/s)")


# --- Corps en morceaux suivis d'une autre requête, ou avec des champs de fin -----------------------------

def _reponses(connexion, nombre: int) -> list[tuple[int, bytes]]:
    """Lit ``nombre`` réponses HTTP/1.1 (Content-Length) d'une connexion ; (statut, corps)."""
    tampon, reponses = b"", []
    while len(reponses) < nombre:
        fin = tampon.find(b"\r\n\r\n")
        if fin >= 0:
            entete = tampon[:fin].decode("latin-1")
            longueur = int(next(ligne.split(":")[1] for ligne in entete.split("\r\n")
                                if ligne.lower().startswith("content-length")))
            if len(tampon) >= fin + 4 + longueur:
                reponses.append((int(entete.split(" ")[1]), tampon[fin + 4:fin + 4 + longueur]))
                tampon = tampon[fin + 4 + longueur:]
                continue
        morceau = connexion.recv(65536)
        if not morceau:
            break
        tampon += morceau
    return reponses


@pytest.mark.parametrize("suite", ["pipeline", "trailers"])
def test_corps_en_morceaux_suivi_ou_avec_trailers_servi(serveur_bis, exemple, suite):
    """Avant : le tampon devait finir par « 0\\r\\n\\r\\n » ; une requête en morceaux suivie d'une autre dans
    le même envoi, ou portant des trailers, attendait 10 s puis recevait 408 (perdue). Après : servies."""
    import json
    import socket

    corps = json.dumps(exemple).encode()
    fin = b"0\r\nX-Fin: 1\r\n\r\n" if suite == "trailers" else b"0\r\n\r\n"
    requete = (b"POST /predire HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(corps):x}\r\n".encode() + corps + b"\r\n" + fin)
    if suite == "pipeline":
        requete += b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
    with socket.create_connection(("127.0.0.1", serveur_bis.port), timeout=30) as connexion:
        connexion.sendall(requete)
        reponses = _reponses(connexion, 2 if suite == "pipeline" else 1)
    assert [statut for statut, _ in reponses] == ([200, 200] if suite == "pipeline" else [200]), reponses
    assert json.loads(reponses[0][1])["resultats"]["configuration"] == "A"


# --- B1 : flux gRPC bornés (par client, en tout) et fermés après inactivité -------------------------------

def _ouvrir_flux_inactifs(rpc, nombre: int) -> list:
    """``nombre`` flux PredireFlux ouverts sans message ; chacun lu dans un fil : [code final]."""
    import queue
    import threading

    import grpc

    codes: list = []
    verrou = threading.Lock()

    def lire() -> None:
        a_envoyer: queue.Queue = queue.Queue()
        try:
            for _ in rpc.stub.PredireFlux(iter(a_envoyer.get, None), timeout=120):
                pass
            code = grpc.StatusCode.OK
        except grpc.RpcError as erreur:
            code = erreur.code()
        with verrou:
            codes.append(code)

    for _ in range(nombre):
        threading.Thread(target=lire, daemon=True).start()
    return codes


@pytest.mark.parametrize("reglage", ["par_client", "total"])
def test_flux_grpc_inactifs_n_affament_ni_la_sante_ni_les_appels_unaires(tmp_path, exemple, reglage, mesurer):
    """Avant : 8 flux inactifs et tout appel gRPC, santé comprise, tombait en DEADLINE_EXCEEDED. Après : les
    flux au-delà des bornes sont refusés (RESOURCE_EXHAUSTED) tout de suite ; santé et Predire répondent
    pendant que les autres sont ouverts ; ceux-ci sont fermés après GRPC_FLUX_INACTIVITE_S."""
    import grpc
    from grpc_health.v1 import health_pb2

    from test.test_rpc import ServeurGrpc, message
    from test.test_segments_service import _attendre

    env = {"JOURNAL_CHEMIN": str(tmp_path / "j.jsonl"), "BASE_SQLITE_CHEMIN": str(tmp_path / "r.sqlite3"),
           "GRPC_FILS": "8", "GRPC_FLUX_INACTIVITE_S": "20"}
    if reglage == "total":
        env["GRPC_FLUX_PAR_CLIENT"] = "100"  # tout vient de 127.0.0.1 : seule la borne totale (8 - 2) joue
    ouverts = 2 if reglage == "par_client" else 6
    rpc = ServeurGrpc(tmp_path / "grpc", env).attendre()
    try:
        codes = _ouvrir_flux_inactifs(rpc, 8)
        assert _attendre(lambda: len(codes) >= 8 - ouverts), codes
        assert codes == [grpc.StatusCode.RESOURCE_EXHAUSTED] * (8 - ouverts)  # les autres tiennent leur place
        assert rpc.sante.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
        assert rpc.stub.Predire(message(exemple), timeout=5).configuration == prediction_pb2.CONFIGURATION_A
        assert _attendre(lambda: len(codes) == 8, delai=60), codes  # inactivité : fermés par le serveur
        assert codes[8 - ouverts:] == [grpc.StatusCode.DEADLINE_EXCEEDED] * ouverts
    finally:
        rpc.arreter()
    mesurer(f"B1 : 8 flux gRPC inactifs ({reglage})", f"{8 - ouverts} refusés aussitôt, {ouverts} fermés après 20 s "
            "d'inactivité ; santé et Predire servis pendant ce temps (avant : DEADLINE_EXCEEDED pour tous)")


# --- B2 : envois lents de lots ----------------------------------------------------------------------------

def test_envois_lents_coupes_et_la_page_toujours_servie(serveur_bis, mesurer):
    """Avant : dix envois à /predire/lot/partiel (80 Kio, puis une ligne toutes les 8 s) tenaient les places
    des lots ~120 s ; tout lot, ceux de la page compris, recevait 503. Après : un envoi sous
    DEBIT_MIN_OCTETS_S (après GRACE_DEBIT_S) est coupé, sans jamais tenir une place de traitement ; un
    envoi de la page (classe de 40 élèves) pendant l'attaque est servi."""
    import socket
    import threading
    import time

    from test.conftest import DONNEES

    with open(DONNEES, encoding="utf-8") as fichier:
        lignes = fichier.read().splitlines()
    entete = lignes[0].replace(';"G3"', "").replace(";G3", "")
    rangs = [";".join(l.split(";")[:-1]) for l in lignes[1:]]
    tete = (entete + "\n" + "\n".join(rangs * 4)).encode()[:80 * 1024]
    tete = tete[:tete.rfind(b"\n") + 1]
    annonce = len(tete) + 200 * 1024
    durees: list[float] = []
    coupes: list[bool] = []

    def envoi_lent() -> None:
        debut = time.monotonic()
        with socket.create_connection(("127.0.0.1", serveur_bis.port), timeout=60) as prise:
            prise.sendall(b"POST /predire/lot/partiel HTTP/1.1\r\nHost: a\r\nContent-Type: text/csv\r\n"
                          + f"Content-Length: {annonce}\r\n\r\n".encode() + tete)
            try:
                for _ in range(30):  # 60 s au plus : coupé bien avant
                    time.sleep(2)
                    prise.sendall(rangs[0].encode() + b"\n")
                coupes.append(prise.recv(1) == b"")  # fermée de l'autre côté ?
            except OSError:
                coupes.append(True)
            durees.append(time.monotonic() - debut)

    attaque = [threading.Thread(target=envoi_lent) for _ in range(10)]
    for fil in attaque:
        fil.start()
    time.sleep(1)  # les envois lents ont rempli la file d'entrée des lots
    page = (entete + "\n" + "\n".join(rangs[:40]) + "\n").encode()
    statuts = [requests.post(serveur_bis.url + "/predire/lot/partiel", data=page, headers={"Content-Type": "text/csv"},
                             timeout=60).status_code for _ in range(3)]
    for fil in attaque:
        fil.join(90)
    assert statuts == [200, 200, 200]
    assert coupes == [True] * 10  # coupés par le serveur avant la fin de leurs 30 lignes
    mesurer("B2 : 10 envois lents de lots", f"envois de la page servis pendant l'attaque {statuts} ; envois lents "
            f"coupés après {min(durees):.0f} à {max(durees):.0f} s (avant : envois de la page sans réponse pendant "
            "l'attaque)")


# --- B4 : coût d'analyse d'un lot JSON borné avant de le matérialiser -------------------------------------

def test_deux_lots_json_hostiles_a_la_fois_sous_le_dimensionnement(demarrer_serveur, mesurer):
    """Avant : un lot de 16 Mio de ``{}`` faisait passer un worker de 152 à 569 Mio ; deux à la fois 985 Mio,
    au-delà du 1 Gio de Cloud Run (dimensionné pour 386). Après : refusé (400) avant ``json.loads`` ; le
    worker reste sous les 386 Mio du dimensionnement, deux lots hostiles à la fois."""
    import threading

    from test.test_durcissement import _rss_max_workers_mio

    serveur = demarrer_serveur(workers=1, env={"API_TOKEN": JETON}).attendre()
    hostiles = [b"[" + b",".join([b"{}"] * 5_500_000) + b"]", b"[" + b",".join([b"1"] * 8_000_000) + b"]"]
    statuts: list = []

    def envoyer(corps: bytes) -> None:
        reponse = requests.post(serveur.url + "/predire/lot", data=corps, headers={"Content-Type": "application/json"},
                                timeout=120)
        statuts.append((reponse.status_code, reponse.json()["erreur"]))

    fils = [threading.Thread(target=envoyer, args=(corps,)) for corps in hostiles]
    for fil in fils:
        fil.start()
    for fil in fils:
        fil.join(150)
    assert [s for s, _ in statuts] == [400, 400] and all("refusé avant son analyse" in e for _, e in statuts)
    pic = _rss_max_workers_mio(serveur)
    assert pic < 386, f"worker à {pic} Mio"
    mesurer("B4 : deux lots JSON hostiles de 16 Mio à la fois", f"400 chacun ; worker au plus {pic} Mio "
            "(avant : 569 Mio pour un, 985 Mio pour deux)")


# --- B5 : X-Request-ID envoyé à la fois par trois clients (deux HTTP, un gRPC) ------------------------------

def test_meme_request_id_par_trois_clients_un_seul_servi(tmp_path, exemple, mesurer):
    """Avant : 193 identifiants sur 200 recevaient trois 200 ; le journal gardait trois lignes, la base une, et
    deux clients relisaient le dossier d'un autre élève. Après : la réservation dans la base partagée est
    atomique (entre workers, serveur gRPC et instances) : un seul client servi, les autres 409 /
    ALREADY_EXISTS ; une ligne au journal ; relu, l'identifiant rend le dossier de l'élève servi."""
    import threading
    import uuid as uuid_

    import grpc

    from test.conftest import Serveur, attendre_workers
    from test.test_rpc import ServeurGrpc, message

    http = Serveur(tmp_path / "http", workers=2, env={"API_TOKEN": JETON}).attendre()
    rpc = ServeurGrpc(tmp_path / "grpc", {"JOURNAL_CHEMIN": str(http.journal), "BASE_SQLITE_CHEMIN": str(http.base),
                                          "API_TOKEN": JETON})
    try:
        rpc.attendre()
        attendre_workers(http.processus.pid, 2)
        sessions = [requests.Session(), requests.Session()]
        resultats: dict[str, list] = {}
        for n in range(40):
            request_id = f"partage-{n}-{uuid_.uuid4().hex[:8]}"
            issues: list = []
            depart = threading.Barrier(3)

            def par_http(k: int) -> None:
                depart.wait()
                r = sessions[k].post(http.url + "/predire", json={**exemple, "user_id": f"eleve-http{k}-{n}"},
                                     headers={"X-Request-ID": request_id, **AUTORISE}, timeout=30)
                issues.append((r.status_code, f"eleve-http{k}-{n}"))

            def par_grpc() -> None:
                depart.wait()
                try:
                    rpc.stub.Predire(message({**exemple, "user_id": f"eleve-grpc-{n}"}), timeout=30,
                                     metadata=(("x-request-id", request_id), ("authorization", f"Bearer {JETON}")))
                    issues.append((200, f"eleve-grpc-{n}"))
                except grpc.RpcError as erreur:
                    issues.append((409 if erreur.code() == grpc.StatusCode.ALREADY_EXISTS else erreur.code(), None))

            fils = [threading.Thread(target=par_http, args=(0,)), threading.Thread(target=par_http, args=(1,)),
                    threading.Thread(target=par_grpc)]
            for fil in fils:
                fil.start()
            for fil in fils:
                fil.join(60)
            resultats[request_id] = issues
        servis = {i: [u for s, u in issues if s == 200] for i, issues in resultats.items()}
        assert all(sorted(s for s, _ in issues) == [200, 409, 409] for issues in resultats.values()), resultats
        lignes = http.lignes_journal()
        for request_id, (eleve,) in servis.items():
            assert [l["user_id"] for l in lignes if l["request_id"] == request_id] == [eleve]
            relu = requests.get(http.url + f"/predictions/{request_id}", headers=AUTORISE, timeout=30).json()
            assert relu["user_id"] == eleve  # jamais le dossier d'un autre appelant
        # L'effacement retire aussi les réservations de ses prédictions.
        eleve = next(iter(servis.values()))[0]
        assert requests.post(http.url + "/effacement", json={"user_id": eleve}, headers=AUTORISE, timeout=30).ok
        with sqlite3.connect(http.base) as connexion:
            reservees = {r for (r,) in connexion.execute("SELECT request_id FROM request_id_reserves")}
        assert reservees == set(servis) - {i for i, (e,) in servis.items() if e == eleve}
    finally:
        rpc.arreter()
        http.arreter()
    mesurer("B5 : même X-Request-ID par 3 clients (2 HTTP, 1 gRPC), 40 fois",
            "un 200 et deux 409 chaque fois, une ligne au journal, relu : l'élève servi (avant : trois 200)")

"""Durcissement (issue 19) : chaque attaque trouvée par la revue de sécurité, rejouée contre un vrai
gunicorn, avec sa borne. Les chiffres (taille de réponse, durée, latence) sont affichés par ``mesurer`` ;
les assertions portent sur des bornes de taille et des comportements, jamais sur des durées."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time

import pytest
import requests

from app.config import Configuration, ErreurConfiguration
from app.modele.erreurs_validation import DETAILS_MAX
from app.modele.identifiants import identifiant_valide
from app.modele.lots import COLONNES_MAX
from app.web.requetes_json import CLES_MAX
from app.web.travailleur import DELAI_REQUETE_S, requete_complete

JETON = "jeton-de-test-" + "d" * 40
AUTORISE = {"Authorization": f"Bearer {JETON}"}
REPONSE_ERREUR_MAX = 64 * 1024
"""Une réponse d'erreur tient en DETAILS_MAX lignes courtes : bien moins de 64 Kio, quel que soit le corps."""


@pytest.fixture(scope="module")
def serveur_durci(tmp_path_factory):
    from test.conftest import Serveur

    instance = Serveur(tmp_path_factory.mktemp("durci"), env={"API_TOKEN": JETON}).attendre()
    yield instance
    instance.arreter()


def _rss_max_workers_mio(serveur) -> int:
    """Pic de mémoire résidente (VmHWM) du plus gros worker, en Mio."""
    enfants = open(f"/proc/{serveur.processus.pid}/task/{serveur.processus.pid}/children").read().split()
    pics = []
    for pid in enfants:
        for ligne in open(f"/proc/{pid}/status"):
            if ligne.startswith("VmHWM"):
                pics.append(int(ligne.split()[1]) // 1024)
    return max(pics)


# --- 1. Travail et réponse bornés ------------------------------------------------------------------

def test_entete_csv_de_10_mo_refuse_avant_toute_colonne(serveur_durci, mesurer):
    """Avant : un en-tête de 10 Mo donnait une réponse de 830 Mo (un problème par colonne) et un worker
    de 3,1 Go. Borne : COLONNES_MAX cellules ; la réponse tient en quelques centaines d'octets."""
    entete = ";".join(f"colonne{i}" for i in range(1_000_000)).encode()  # ~10 Mo
    debut = time.perf_counter()
    reponse = requests.post(serveur_durci.url + "/predire/lot", data=entete + b"\n1;2\n",
                            headers={"Content-Type": "text/csv"}, timeout=120)
    duree = time.perf_counter() - debut
    assert reponse.status_code == 400
    corps = reponse.json()
    assert "en-tête CSV trop long" in corps["erreur"] and f"{COLONNES_MAX} colonnes au plus" in corps["erreur"]
    assert len(corps["details"]) == 1 and len(reponse.content) < 1024
    mesurer("CSV, en-tête de 10 Mo (1 000 000 colonnes)",
            f"400 de {len(reponse.content)} octets en {duree:.2f} s ; worker au plus {_rss_max_workers_mio(serveur_durci)} Mio "
            "(avant : réponse de 830 Mo, worker de 3,1 Go)")


def test_ligne_csv_trop_longue_refusee_a_sa_lecture(serveur_durci):

    entete = ";".join(["school", "sex"])
    corps = entete + "\n" + ";" * 200_000 + "x\n"
    reponse = requests.post(serveur_durci.url + "/predire/lot", data=corps.encode(),
                            headers={"Content-Type": "text/csv"}, timeout=60)
    assert reponse.status_code == 400 and "ligne 2 trop long" in reponse.json()["erreur"]


def test_objet_json_a_un_million_de_cles_refuse_avant_pydantic(serveur_durci, mesurer):
    """Avant : des centaines de milliers de clés inconnues coûtaient 38 s (une suggestion par clé).
    Borne : CLES_MAX clés par objet, vérifié à la lecture du JSON."""
    objet = {f"k{i}": 1 for i in range(1_000_000)}
    corps = json.dumps([objet]).encode()
    assert len(corps) < 16 * 1024 * 1024
    debut = time.perf_counter()
    reponse = requests.post(serveur_durci.url + "/predire/lot", data=corps,
                            headers={"Content-Type": "application/json"}, timeout=120)
    duree = time.perf_counter() - debut
    assert reponse.status_code == 400 and f"{CLES_MAX} clés par élève" in reponse.json()["erreur"]  # compté avant json.loads
    assert len(reponse.content) < 1024
    mesurer("JSON, un objet de 1 000 000 clés inconnues (lot de 14 Mo)",
            f"400 de {len(reponse.content)} octets en {duree:.2f} s (avant : 38 s de calcul pour quelques centaines de milliers)")


def test_lot_de_10000_eleves_tous_invalides_borne(serveur_durci, exemple, mesurer):
    """Chaque élément a CLES_MAX - 33 clés inconnues : permis un à un, mais les problèmes ne sont détaillés
    (et leurs suggestions calculées) que DETAILS_MAX fois ; le total est dans le message."""
    inconnues = {f"Age{i}": 1 for i in range(CLES_MAX - 33)}
    lot = [{**exemple, **inconnues} for _ in range(10_000)]
    debut = time.perf_counter()
    reponse = requests.post(serveur_durci.url + "/predire/lot", json=lot, timeout=300)
    duree = time.perf_counter() - debut
    assert reponse.status_code == 400
    corps = reponse.json()
    assert len(corps["details"]) == DETAILS_MAX
    assert f"{10_000 * len(inconnues)} problème(s)" in corps["erreur"] and "10000 élément(s) invalide(s)" in corps["erreur"]
    assert len(reponse.content) < REPONSE_ERREUR_MAX
    mesurer("lot de 10 000 élèves à 31 clés inconnues chacun",
            f"400 de {len(reponse.content)} octets ({DETAILS_MAX} détails sur {10_000 * len(inconnues)}) en {duree:.2f} s")


def test_cles_max_couvre_le_plus_grand_objet_de_l_api():
    from app.modele.schema import DemandePrediction

    assert len(DemandePrediction.model_fields) == 33 <= CLES_MAX


def test_predire_objet_a_trop_de_cles(serveur_durci, exemple):
    corps = {**exemple, **{f"x{i}": 1 for i in range(CLES_MAX)}}
    reponse = requests.post(serveur_durci.url + "/predire", json=corps, timeout=30)
    assert reponse.status_code == 400 and "clés" in reponse.json()["erreur"]
    juste = {**exemple, **{f"x{i}": 1 for i in range(CLES_MAX - 32)}}
    reponse = requests.post(serveur_durci.url + "/predire", json=juste, timeout=30)
    assert reponse.status_code == 400 and "champ inconnu" in reponse.json()["details"][0]["message"]


# --- 2. Clients lents ------------------------------------------------------------------------------

def test_requete_complete():
    assert not requete_complete(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    assert requete_complete(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not requete_complete(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab")
    assert requete_complete(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
    assert not requete_complete(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    assert requete_complete(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")


def test_expect_100_continue_repondu_par_la_boucle(serveur_durci, exemple):
    """Un client qui attend « 100 Continue » avant d'envoyer son corps (curl au-delà de 1 Kio) le reçoit
    tout de suite, puis sa réponse : la lecture sans fil ne le fait pas attendre."""
    corps = json.dumps(exemple).encode()
    with socket.create_connection(("127.0.0.1", serveur_durci.port), timeout=30) as prise:
        prise.sendall(b"POST /predire HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Expect: 100-continue\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(corps))
        assert prise.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        prise.sendall(corps)
        reponse = b""
        while morceau := prise.recv(65536):
            reponse += morceau
    assert reponse.startswith(b"HTTP/1.1 200") and b"100 Continue" not in reponse


def test_32_clients_lents_n_affament_pas_le_serveur(demarrer_serveur, exemple, mesurer):
    """Avant : 24 clients envoyant un octet toutes les 2 s suffisaient à faire expirer /health (chaque
    client tenait un fil, sans délai). Maintenant la requête est lue sans fil ; au-delà de
    DELAI_REQUETE_S, 408 et connexion fermée."""
    serveur = demarrer_serveur(workers=2).attendre()
    port = serveur.port
    arret = threading.Event()
    reponses_lentes: list[bytes] = []

    def lent(en_tetes_seuls: bool):
        prise = socket.create_connection(("127.0.0.1", port))
        try:
            if en_tetes_seuls:  # slowloris : les en-têtes, octet par octet
                a_envoyer = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Lent: " + b"a" * 1000
            else:  # en-têtes complets, corps au goutte-à-goutte
                prise.sendall(b"POST /predire HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 5000\r\n\r\n")
                a_envoyer = b" " * 5000
            prise.settimeout(0.5)
            for octet in a_envoyer:
                if arret.is_set():
                    break
                prise.sendall(bytes([octet]))
                try:
                    recu = prise.recv(4096)
                    reponses_lentes.append(recu)
                    return
                except socket.timeout:
                    pass
                arret.wait(1.5)
        except OSError:
            reponses_lentes.append(b"(connexion fermee)")
        finally:
            prise.close()

    fils = [threading.Thread(target=lent, args=(i % 2 == 0,), daemon=True) for i in range(32)]
    for fil in fils:
        fil.start()
    time.sleep(3)  # tous les clients lents sont connectés et ont commencé
    latences, statuts = [], []
    with requests.Session() as session:
        for i in range(10):
            debut = time.perf_counter()
            sante = session.get(serveur.url + "/health", timeout=30)
            prediction = session.post(serveur.url + "/predire", json={**exemple, "absences": i}, timeout=30)
            latences.append(time.perf_counter() - debut)
            statuts.append((sante.status_code, prediction.status_code))
            time.sleep(0.2)
    for fil in fils:
        fil.join(DELAI_REQUETE_S + 30)
    arret.set()
    assert statuts == [(200, 200)] * 10
    assert len(reponses_lentes) == 32
    assert all(r.startswith(b"HTTP/1.1 408") for r in reponses_lentes), {r[:40] for r in reponses_lentes}
    mesurer("32 clients lents (1 octet / 1,5 s) : /health + /predire",
            f"10 sur 10 en 200, au plus {max(latences) * 1000:.0f} ms (avant : délai dépassé, aucune réponse en 5 s) ; "
            f"clients lents : 408 après {DELAI_REQUETE_S:.0f} s")


# --- 3. Effacement sans trace, droits des fichiers ------------------------------------------------

def test_apres_effacement_aucun_fichier_du_dossier_de_donnees_ne_contient_l_eleve(demarrer_serveur, tmp_path, exemple,
                                                                                   mesurer):
    donnees = tmp_path / "donnees"
    donnees.mkdir()
    serveur = demarrer_serveur(env={"API_TOKEN": JETON, "JOURNAL_CHEMIN": str(donnees / "requetes_enrg.jsonl"),
                                    "BASE_SQLITE_CHEMIN": str(donnees / "resultats.sqlite3")}).attendre()
    eleve, autre = "eleve-a-effacer-7391", "eleve-garde-5520"
    identifiants = [f"req-effacee-{i:03d}" for i in range(30)]
    for i, identifiant in enumerate(identifiants):
        assert requests.post(serveur.url + "/predire", json={**exemple, "user_id": eleve, "absences": i},
                             headers={"X-Request-ID": identifiant, **AUTORISE}, timeout=30).status_code == 200
        assert requests.post(serveur.url + "/predire", json={**exemple, "user_id": autre}, timeout=30).status_code == 200
    traces = [eleve.encode(), *(i.encode() for i in identifiants)]

    def fichiers_avec_traces():
        return sorted({p.name for p in donnees.rglob("*") if p.is_file()
                       for trace in traces if trace in p.read_bytes()})

    assert fichiers_avec_traces()  # témoin : l'élève est bien sur le disque avant l'effacement
    reponse = requests.post(serveur.url + "/effacement", json={"user_id": eleve}, headers=AUTORISE, timeout=30)
    # Journal d'abord : les 30 lignes sont au journal ; la base peut encore en attendre une ou deux dans
    # l'alimentation d'un autre worker : le compte est l'union des request_id retirés (base, journal, attente).
    assert reponse.status_code == 200 and reponse.json()["lignes_journal_supprimees"] == 30
    assert reponse.json()["supprimees"] == 30
    assert fichiers_avec_traces() == []
    garde = requests.post(serveur.url + "/historique", json={"user_id": autre}, headers=AUTORISE, timeout=30)
    assert garde.json()["pagination"]["total"] == 30
    mesurer("effacement SQLite : fichiers du dossier de données contenant encore l'élève",
            f"0 sur {len([p for p in donnees.rglob('*') if p.is_file()])} (avant : le fichier -wal gardait ses lignes)")


def test_fichiers_de_donnees_personnelles_crees_en_0600(demarrer_serveur, tmp_path, exemple, mesurer):
    ancien = os.umask(0o022)  # umask permissif : les droits viennent du code, pas de l'environnement
    try:
        serveur = demarrer_serveur(env={"API_TOKEN": JETON}).attendre()
    finally:
        os.umask(ancien)
    for user_id in ("e1", "e2"):
        assert requests.post(serveur.url + "/predire", json={**exemple, "user_id": user_id},
                             timeout=30).status_code == 200
    assert requests.post(serveur.url + "/effacement", json={"user_id": "e1"}, headers=AUTORISE,
                         timeout=30).status_code == 200
    assert requests.post(serveur.url + "/predire", json=exemple, timeout=30).status_code == 200
    dossier = serveur.journal.parent
    droits = {str(p.relative_to(dossier)): oct(stat.S_IMODE(p.stat().st_mode)) for p in dossier.rglob("*")
              if p.name.startswith(("requetes", "resultats")) or p.parent.name == "requetes.jsonl.segments"}
    assert {"requetes.jsonl", "requetes.jsonl.lock", "resultats.sqlite3", "resultats.sqlite3-wal",
            "resultats.sqlite3-shm", "requetes.jsonl.segments/index.sqlite3"} <= set(droits)
    assert len([n for n in droits if n.endswith(".jsonl")]) == 2  # le journal actif et un segment (scellé par l'effacement)
    # Le dossier des segments (0700), et chaque fichier : journal, segments, index, verrous (0600).
    assert droits.pop("requetes.jsonl.segments") == "0o700"
    assert set(droits.values()) == {"0o600"}, droits
    mesurer("droits des fichiers de données (umask 022)", f"{sorted(set(droits.values()))} (avant : 0o644)")


# --- 4. En-têtes, identifiants, jeton -------------------------------------------------------------

def test_en_tetes_de_securite_sur_chaque_reponse(serveur_durci):
    reponses = {
        "/health": requests.get(serveur_durci.url + "/health"),
        "/docs": requests.get(serveur_durci.url + "/docs"),
        "404": requests.get(serveur_durci.url + "/nulle-part"),
        "historique": requests.post(serveur_durci.url + "/historique", json={"user_id": "x"}, headers=AUTORISE),
        "401": requests.get(serveur_durci.url + "/predictions/user/x"),
    }
    for nom, reponse in reponses.items():
        assert reponse.headers["X-Content-Type-Options"] == "nosniff", nom
        assert reponse.headers["Cache-Control"] == "no-store", nom
        assert "Server" not in reponse.headers, nom
        assert "frame-ancestors 'none'" in reponse.headers["Content-Security-Policy"], nom
    csp = reponses["/docs"].headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    page = reponses["/docs"].text
    scripts = page.split("<script")[1:]
    assert all('type="application/json"' in s.split(">")[0] or "src=" in s.split(">")[0] for s in scripts)
    assert "<style" not in page
    script = requests.get(serveur_durci.url + "/static/docs.js")
    assert script.status_code == 200 and "fetch(\"/predire\"" in script.text
    assert script.headers["X-Content-Type-Options"] == "nosniff"


def test_identifiant_avec_saut_de_ligne_refuse(serveur_durci):
    assert not identifiant_valide("abc\n") and identifiant_valide("abc")
    reponse = requests.get(serveur_durci.url + "/predictions/user/abc%0A", headers=AUTORISE)
    assert reponse.status_code == 400  # avant : 200 (historique de « abc\n »)
    reponse = requests.post(serveur_durci.url + "/historique", json={"user_id": "abc\n"}, headers=AUTORISE)
    assert reponse.status_code == 400 and reponse.json()["details"][0]["champ"] == "user_id"


@pytest.mark.parametrize("jeton", ["é" * 40, "a" * 20 + "\u00a0" + "a" * 20, "a" * 20 + "\u2009" + "a" * 20,
                                   "a" * 20 + "ｂ" * 20])
def test_jeton_ascii_imprimable_seulement(jeton):
    with pytest.raises(ErreurConfiguration, match="ASCII"):
        Configuration.depuis_environnement({"API_TOKEN": jeton})


def test_routes_post_sans_user_id_dans_l_url(demarrer_serveur, exemple):
    serveur = demarrer_serveur(env={"API_TOKEN": JETON, "GUNICORN_ACCESSLOG": "1"}).attendre()
    eleve = "eleve-post-3141"
    for i in range(3):
        assert requests.post(serveur.url + "/predire", json={**exemple, "user_id": eleve, "absences": i}).status_code == 200
    page = requests.post(serveur.url + "/historique", json={"user_id": eleve, "limite": 2.0}, headers=AUTORISE)
    assert page.status_code == 200
    assert page.json()["pagination"] == {"limite": 2, "decalage": 0, "total": 3, "suivant": None, "decalage_suivant": 2}
    suite = requests.post(serveur.url + "/historique", json={"user_id": eleve, "limite": 2, "decalage": 2},
                          headers=AUTORISE).json()
    assert len(suite["predictions"]) == 1 and suite["pagination"]["decalage_suivant"] is None
    for corps, champ in (({}, "user_id"), ({"user_id": eleve, "limite": 0}, "limite"),
                         ({"user_id": eleve, "autre": 1}, "autre"), ({"user_id": eleve, "limite": True}, "limite"),
                         ({"user_id": eleve, "decalage": 1.5}, "decalage")):
        refus = requests.post(serveur.url + "/historique", json=corps, headers=AUTORISE)
        assert refus.status_code == 400 and refus.json()["details"][0]["champ"] == champ, refus.json()
    assert requests.post(serveur.url + "/effacement", json={"user_id": eleve}).status_code == 401
    efface = requests.post(serveur.url + "/effacement", json={"user_id": eleve}, headers=AUTORISE)
    assert efface.status_code == 200 and efface.json()["supprimees"] == 3
    # Les journaux d'accès ne voient que le chemin : l'élève n'y est pas ; la route par chemin, elle, l'y met.
    assert eleve not in serveur.journal_serveur()
    requests.get(serveur.url + f"/predictions/user/{eleve}", headers=AUTORISE)
    for _ in range(100):  # la ligne d'accès s'écrit après la réponse
        if eleve in serveur.journal_serveur():
            break
        time.sleep(0.1)
    assert eleve in serveur.journal_serveur()
    operations = requests.get(serveur.url + "/openapi.json").json()["paths"]
    assert operations["/historique"]["post"]["operationId"] == "rechercherHistorique"
    assert operations["/effacement"]["post"]["operationId"] == "effacerEleve"
    assert "journaux d'accès" in operations["/predictions/user/{user_id}"]["get"]["description"]


def test_tentatives_refusees_journalisees_et_comptees(demarrer_serveur):
    serveur = demarrer_serveur(env={"API_TOKEN": JETON}, workers=1).attendre()
    faux = "Bearer " + "z" * 45
    for _ in range(3):
        assert requests.post(serveur.url + "/historique", json={"user_id": "a"},
                             headers={"Authorization": faux}).status_code == 401
    assert requests.get(serveur.url + "/predictions/user/a").status_code == 401
    metriques = requests.get(serveur.url + "/metrics").text
    assert 'prediction_etudiante_jetons_refuses_total{route="/historique"} 3.0' in metriques
    assert 'prediction_etudiante_jetons_refuses_total{route="/predictions/user/<user_id>"} 1.0' in metriques
    sortie = serveur.journal_serveur()
    assert sortie.count("accès refusé aux routes d'historique : jeton invalide (route /historique)") == 3
    assert sortie.count("accès refusé aux routes d'historique : jeton absent (route /predictions/user/<user_id>)") == 1
    assert "z" * 45 not in sortie


def test_pas_de_banniere_server_meme_sur_une_erreur_de_gunicorn(serveur_durci):
    with socket.create_connection(("127.0.0.1", serveur_durci.port)) as prise:
        prise.sendall(b"GARBAGE\r\n\r\n")
        reponse = prise.recv(4096)
    assert reponse.startswith(b"HTTP/1.1 400") and b"\r\nServer:" not in reponse


# --- 5. /docs sous sa CSP, dans un vrai navigateur -------------------------------------------------

class _Navigateur:
    """Chromium sans tête piloté par le protocole DevTools (WebSocket minimal, bibliothèque standard)."""

    def __init__(self, dossier):
        import shutil
        import subprocess

        from test.conftest import port_libre

        executable = shutil.which("chromium") or shutil.which("chromium-browser")
        if executable is None:
            from test.conftest import ACTIVER_CI, sauter

            sauter("chromium absent", f"apt-get install -y chromium chromium-driver, {ACTIVER_CI}")
        port = port_libre()
        self.processus = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu", f"--remote-debugging-port={port}",
             "--remote-debugging-address=127.0.0.1", f"--user-data-dir={dossier}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                pages = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=1).json()
                adresse = next(p["webSocketDebuggerUrl"] for p in pages if p.get("type") == "page")
                break
            except (requests.RequestException, StopIteration, ValueError):
                time.sleep(0.1)
        else:
            self.fermer()
            raise RuntimeError("chromium ne répond pas")
        import base64
        import urllib.parse

        cible = urllib.parse.urlparse(adresse)
        self.prise = socket.create_connection((cible.hostname, cible.port), timeout=30)
        cle = base64.b64encode(os.urandom(16)).decode()
        self.prise.sendall((f"GET {cible.path} HTTP/1.1\r\nHost: {cible.netloc}\r\nUpgrade: websocket\r\n"
                            f"Connection: Upgrade\r\nSec-WebSocket-Key: {cle}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        reponse = b""
        while b"\r\n\r\n" not in reponse:
            reponse += self.prise.recv(1)
        assert b" 101 " in reponse.split(b"\r\n")[0]
        self.numero = 0
        self.evenements: list[dict] = []

    def _envoyer(self, texte: str) -> None:
        donnees = texte.encode()
        masque = os.urandom(4)
        longueur = len(donnees)
        entete = bytes([0x81])
        if longueur < 126:
            entete += bytes([0x80 | longueur])
        elif longueur < 1 << 16:
            entete += bytes([0x80 | 126]) + longueur.to_bytes(2, "big")
        else:
            entete += bytes([0x80 | 127]) + longueur.to_bytes(8, "big")
        self.prise.sendall(entete + masque + bytes(b ^ masque[i % 4] for i, b in enumerate(donnees)))

    def _exactement(self, n: int) -> bytes:
        morceaux = b""
        while len(morceaux) < n:
            morceau = self.prise.recv(n - len(morceaux))
            if not morceau:
                raise ConnectionError("DevTools fermé")
            morceaux += morceau
        return morceaux

    def _recevoir(self) -> dict:
        message = b""
        while True:
            premier, second = self._exactement(2)
            longueur = second & 0x7F
            if longueur == 126:
                longueur = int.from_bytes(self._exactement(2), "big")
            elif longueur == 127:
                longueur = int.from_bytes(self._exactement(8), "big")
            message += self._exactement(longueur)
            if premier & 0x80:
                return json.loads(message)

    def commande(self, methode: str, **parametres) -> dict:
        self.numero += 1
        self._envoyer(json.dumps({"id": self.numero, "method": methode, "params": parametres}))
        while True:
            message = self._recevoir()
            if message.get("id") == self.numero:
                return message.get("result", {})
            self.evenements.append(message)

    def evaluer(self, expression: str):
        return self.commande("Runtime.evaluate", expression=expression, awaitPromise=True,
                             returnByValue=True)["result"].get("value")

    def fermer(self) -> None:
        self.processus.kill()
        self.processus.wait()


def test_docs_fonctionne_sous_sa_csp_dans_chromium(serveur_durci, tmp_path, mesurer):
    """La page /docs (script et style servis par /static) marche sous sa CSP, qui bloque tout script en
    ligne : le formulaire se remplit, « Prédire » affiche la prédiction, un script injecté ne s'exécute pas."""
    navigateur = _Navigateur(tmp_path / "chromium")
    try:
        navigateur.commande("Log.enable")
        navigateur.commande("Page.enable")
        navigateur.commande("Page.navigate", url=serveur_durci.url + "/docs")
        for _ in range(100):
            if navigateur.evaluer("document.readyState") == "complete":
                break
            time.sleep(0.1)
        # docs.js a tourné : les champs portent l'exemple (vides, ou la première option, sans lui).
        assert navigateur.evaluer("[document.querySelector('[name=age]').value, "
                                  "document.querySelector('[name=Mjob]').value]") == ["16", "services"]
        assert navigateur.evaluer("getComputedStyle(document.body).maxWidth") == "1120px"  # docs.css : 70rem
        navigateur.evaluer("document.getElementById('envoyer').click()")
        texte = ""
        for _ in range(100):
            texte = navigateur.evaluer("document.getElementById('resultat').textContent") or ""
            if texte.startswith("Prédiction"):
                break
            time.sleep(0.1)
        assert texte.startswith("Prédiction : ") and "configuration A" in texte, texte
        # Témoin : la CSP est bien appliquée (un script en ligne injecté est refusé, et le navigateur le dit).
        assert navigateur.evaluer("(() => { const s = document.createElement('script'); "
                                  "s.textContent = 'window.injecte = 1'; document.body.appendChild(s); "
                                  "return window.injecte === undefined; })()") is True
        navigateur.evaluer("new Promise(r => setTimeout(r, 200))")
        violations = [e for e in navigateur.evenements if e.get("method") == "Log.entryAdded"
                      and "Content Security Policy" in e["params"]["entry"].get("text", "")]
        assert len(violations) == 1, [v["params"]["entry"]["text"][:120] for v in violations]
    finally:
        navigateur.fermer()
    mesurer("/docs dans Chromium sous CSP", "formulaire rempli, prédiction affichée, 1 seule violation (le témoin injecté)")

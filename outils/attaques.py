"""Les attaques de la seconde revue (issue 28), rejouées contre deux arbres du projet : avant / après.

    .venv/bin/python -m outils.attaques                 # avant : la base de la branche (merge-base avec main)
    .venv/bin/python -m outils.attaques --avant main    # ou toute autre référence git ; après : cet arbre
    .venv/bin/python -m outils.attaques_tour1 /tmp/avant   # les attaques du premier tour (issue 19)

Chaque arbre est lancé comme en production (gunicorn 2 workers de sa configuration, serveur gRPC), sur la
boucle locale, journal et SQLite temporaires, avec l'interpréteur courant. Une ligne par attaque :
``attaque | avant | après``. Quelques dizaines de secondes par arbre. Les épreuves avec leurs bornes sont
dans test/test_durcissement_bis.py et test/test_arret_signaux.py ; les chiffres du disque plein demandent
de pouvoir monter un tmpfs (root), sinon la ligne le dit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ICI = Path(__file__).resolve().parent.parent
JETON = "j" * 40
AUTORISE = {"Authorization": f"Bearer {JETON}"}
SEL = "s" * 40
EXEMPLE = json.loads((ICI / "test" / "donnees.json").read_text(encoding="utf-8"))


def _port() -> int:
    with socket.socket() as prise:
        prise.bind(("127.0.0.1", 0))
        return prise.getsockname()[1]


class Arbre:
    """Un arbre du projet et les serveurs qu'on y lance (tous arrêtés par ``fermer``)."""

    def __init__(self, racine: Path, dossier: Path):
        self.racine, self.dossier, self.processus = racine, dossier, []

    def env(self, nom: str, **env) -> dict:
        d = self.dossier / nom
        d.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        return {**base, "JOURNAL_CHEMIN": str(d / "requetes.jsonl"), "BASE_SQLITE_CHEMIN": str(d / "r.sqlite3"),
                "DATABASE_URL": "", "API_TOKEN": JETON, "GUNICORN_WORKERS": "2", "EFFACEMENT_SEL": SEL,
                "TMPDIR": str(d), "HOME": str(d), "XDG_RUNTIME_DIR": "", **env}

    def gunicorn(self, nom: str, **env) -> tuple[str, dict]:
        port = _port()
        e = self.env(nom, PORT=str(port), **env)
        sortie = open(Path(e["TMPDIR"]) / "gunicorn.log", "wb")
        self.processus.append(subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind",
                                                f"127.0.0.1:{port}"], cwd=self.racine, env=e, stdout=sortie,
                                               stderr=subprocess.STDOUT))
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if requests.get(url + "/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return url, e

    def grpc(self, nom: str, **env) -> str:
        adresse = f"127.0.0.1:{_port()}"
        self.processus.append(subprocess.Popen([sys.executable, "-m", "app.rpc", "--adresse", adresse], cwd=self.racine,
                                               env=self.env(nom, **env), stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        return adresse

    def fermer(self) -> None:
        for processus in self.processus:
            if processus.poll() is None:
                processus.terminate()
                try:
                    processus.wait(15)
                except subprocess.TimeoutExpired:
                    processus.kill()


# --- Les attaques : chacune rend un texte court (le chiffre mesuré) ------------------------------------

def b1_flux_inactifs(arbre: Arbre) -> str:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    sys.path.insert(0, str(arbre.racine))
    try:
        from app.rpc import prediction_pb2_grpc
    finally:
        sys.path.pop(0)
    adresse = arbre.grpc("b1")
    canal = grpc.insecure_channel(adresse)
    sante = health_pb2_grpc.HealthStub(canal)
    for _ in range(600):
        try:
            if sante.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                break
        except grpc.RpcError:
            pass
        time.sleep(0.1)
    stub = prediction_pb2_grpc.PredictionStub(canal)
    refuses = []

    def flux() -> None:
        try:
            for _ in stub.PredireFlux(iter(queue.Queue().get, None), timeout=15):
                pass
        except grpc.RpcError as erreur:
            refuses.append(erreur.code().name)
    for _ in range(8):
        threading.Thread(target=flux, daemon=True).start()
    time.sleep(2)
    try:
        sante.Check(health_pb2.HealthCheckRequest(), timeout=3)
        etat = "santé servie"
    except grpc.RpcError as erreur:
        etat = f"santé {erreur.code().name}"
    codes = {c: refuses.count(c) for c in sorted(set(refuses))}
    canal.close()
    return f"{etat} ; flux terminés dans les 2 s : {codes or 'aucun'}"


def b2_envois_lents(arbre: Arbre) -> str:
    url, _ = arbre.gunicorn("b2")
    port = int(url.rsplit(":", 1)[1])
    lignes = (ICI / "code" / "student-por.csv").read_text(encoding="utf-8").splitlines()
    entete = lignes[0].replace(';"G3"', "").replace(";G3", "")
    rangs = [";".join(l.split(";")[:-1]) for l in lignes[1:]]
    tete = (entete + "\n" + "\n".join(rangs * 4)).encode()[:80 * 1024]
    tete = tete[:tete.rfind(b"\n") + 1]
    arret = threading.Event()

    def lent() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as prise:
                prise.sendall(b"POST /predire/lot/partiel HTTP/1.1\r\nHost: a\r\nContent-Type: text/csv\r\n"
                              + f"Content-Length: {len(tete) + 200_000}\r\n\r\n".encode() + tete)
                while not arret.wait(2):
                    prise.sendall(rangs[0].encode() + b"\n")
        except OSError:
            pass
    for _ in range(10):
        threading.Thread(target=lent, daemon=True).start()
    time.sleep(1)
    page = (entete + "\n" + "\n".join(rangs[:40]) + "\n").encode()
    debut = time.monotonic()
    try:
        statut = requests.post(url + "/predire/lot/partiel", data=page, headers={"Content-Type": "text/csv"},
                               timeout=20).status_code
    except requests.RequestException as erreur:
        statut = type(erreur).__name__
    arret.set()
    return f"envoi de la page : {statut} en {time.monotonic() - debut:.1f} s"


def b3_metriques(arbre: Arbre) -> str:
    url, _ = arbre.gunicorn("b3")
    avant = len(requests.get(url + "/metrics", timeout=10).content)
    with requests.Session() as session:
        for i in range(2000):
            session.request(f"INVENTE{i}", url + "/x", timeout=10)
    apres = len(requests.get(url + "/metrics", timeout=10).content)
    cloud, _ = arbre.gunicorn("b3-cloud", K_SERVICE="api", INSTANCE_UNIQUE="1", JOURNAUX_FORMAT="texte")
    statut = requests.get(cloud + "/metrics", timeout=10).status_code
    return f"/metrics {avant / 1024:.0f} → {apres / 1024:.0f} Kio après 2 000 méthodes inventées ; Cloud Run sans jeton : {statut}"


def _pic_workers_mio(pid_maitre: int) -> int:
    pics = [0]
    for enfant in Path(f"/proc/{pid_maitre}/task/{pid_maitre}/children").read_text().split():
        for ligne in Path(f"/proc/{enfant}/status").read_text().splitlines():
            if ligne.startswith("VmHWM"):
                pics.append(int(ligne.split()[1]) // 1024)
    return max(pics)


def b4_lots_hostiles(arbre: Arbre) -> str:
    url, _ = arbre.gunicorn("b4", GUNICORN_WORKERS="1")
    corps = b"[" + b",".join([b"{}"] * 5_500_000) + b"]"
    statuts: list = []

    def envoyer() -> None:
        try:
            statuts.append(requests.post(url + "/predire/lot", data=corps, headers={"Content-Type": "application/json"},
                                         timeout=120).status_code)
        except requests.RequestException as erreur:
            statuts.append(type(erreur).__name__)
    fils = [threading.Thread(target=envoyer) for _ in range(2)]
    debut = time.monotonic()
    for fil in fils:
        fil.start()
    for fil in fils:
        fil.join(150)
    return (f"deux lots de {len(corps) / 2**20:.0f} Mio à la fois : {statuts} en {time.monotonic() - debut:.1f} s ; "
            f"worker au plus {_pic_workers_mio(arbre.processus[-1].pid)} Mio")


def remplir_disque(dossier: Path) -> Path:
    """Remplit le disque de ``dossier`` jusqu'au dernier bloc (ENOSPC) ; renvoie le fichier à retirer pour
    libérer la place (aussi pour test/test_durcissement_bis.py)."""
    chemin = dossier / "remplissage"
    descripteur = os.open(chemin, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for taille in (1 << 16, 4096, 512, 1):
            try:
                while True:
                    os.write(descripteur, b"\0" * taille)
            except OSError:
                pass
    finally:
        os.close(descripteur)
    return chemin


def b5_meme_identifiant(arbre: Arbre) -> str:
    import grpc

    sys.path.insert(0, str(arbre.racine))
    try:
        from app.rpc import prediction_pb2, prediction_pb2_grpc
    finally:
        sys.path.pop(0)
    url, e = arbre.gunicorn("b5")
    adresse = arbre.grpc("b5", JOURNAL_CHEMIN=e["JOURNAL_CHEMIN"], BASE_SQLITE_CHEMIN=e["BASE_SQLITE_CHEMIN"])
    canal = grpc.insecure_channel(adresse)
    stub = prediction_pb2_grpc.PredictionStub(canal)
    for _ in range(600):
        try:
            stub.Predire(prediction_pb2.DemandePrediction(**EXEMPLE), timeout=1)
            break
        except grpc.RpcError:
            time.sleep(0.1)
    sessions = [requests.Session(), requests.Session()]
    plusieurs, autre_dossier = 0, 0
    for n in range(50):
        request_id, servis = f"partage-{n}-{time.time_ns()}", []
        depart = threading.Barrier(3)

        def http(k: int) -> None:
            depart.wait()
            if sessions[k].post(url + "/predire", json={**EXEMPLE, "user_id": f"h{k}-{n}"},
                                headers={"X-Request-ID": request_id, **AUTORISE}, timeout=30).status_code == 200:
                servis.append(f"h{k}-{n}")

        def rpc() -> None:
            depart.wait()
            try:
                stub.Predire(prediction_pb2.DemandePrediction(**{**EXEMPLE, "user_id": f"g-{n}"}), timeout=30,
                             metadata=(("x-request-id", request_id), ("authorization", f"Bearer {JETON}")))
                servis.append(f"g-{n}")
            except grpc.RpcError:
                pass
        with ThreadPoolExecutor(3) as executeur:
            list(executeur.map(lambda appel: appel(), (lambda: http(0), lambda: http(1), rpc)))
        plusieurs += len(servis) > 1
        time.sleep(0.3)  # la base suit le journal
        relu = requests.get(url + f"/predictions/{request_id}", headers={"Authorization": f"Bearer {JETON}"}, timeout=30)
        autre_dossier += sum(1 for u in servis if relu.ok and relu.json().get("user_id") != u)
    # Un appelant anonyme sonde un identifiant pris et un neuf : ses deux réponses disent-elles lequel existe ?
    pris = requests.post(url + "/predire", json=EXEMPLE, headers={"X-Request-ID": request_id}, timeout=30)
    neuf = requests.post(url + "/predire", json=EXEMPLE, headers={"X-Request-ID": f"neuf-{time.time_ns()}"}, timeout=30)
    sondes = []
    for identifiant in (request_id, f"neuf-g-{time.time_ns()}"):
        try:
            stub.Predire(prediction_pb2.DemandePrediction(**EXEMPLE), timeout=30, metadata=(("x-request-id", identifiant),))
            sondes.append("OK")
        except grpc.RpcError as erreur:
            sondes.append(erreur.code().name)
    canal.close()
    return (f"{plusieurs}/50 identifiants servis à plusieurs clients ; {autre_dossier} client(s) relisant le dossier "
            f"d'un autre ; appelant anonyme, identifiant pris / neuf : HTTP {pris.status_code} / {neuf.status_code}, "
            f"gRPC {sondes[0]} / {sondes[1]}")


def b6_disque_plein(arbre: Arbre) -> str:
    point = arbre.dossier / "tmpfs"
    point.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(point)], capture_output=True).returncode:
        return "non mesuré (monter un tmpfs demande root)"
    try:
        url, _ = arbre.gunicorn("b6", JOURNAL_CHEMIN=str(point / "requetes.jsonl"), JOURNAL_SEGMENT="8Kio")
        for i in range(40):
            requests.post(url + "/predire", json={**EXEMPLE, "user_id": "victime" if i % 2 else f"autre-{i}"}, timeout=30)
        remplir_disque(point)
        debut = time.monotonic()
        r = requests.post(url + "/effacement", json={"user_id": "victime"}, headers={"Authorization": f"Bearer {JETON}"},
                          timeout=30)
        return f"POST /effacement : {r.status_code} en {time.monotonic() - debut:.1f} s (Retry-After : {r.headers.get('Retry-After')})"
    finally:
        for processus in arbre.processus:
            processus.terminate()
            processus.wait(15)
        subprocess.run(["umount", "-l", str(point)], check=False)


def b7_registre(arbre: Arbre) -> str:
    url, e = arbre.gunicorn("b7")
    effaces = [f"eleve-{n:06d}" for n in (17, 4242, 99999, 123456, 654321)]
    for user_id in effaces:
        requests.post(url + "/predire", json={**EXEMPLE, "user_id": user_id}, timeout=30)
        requests.post(url + "/effacement", json={"user_id": user_id}, headers={"Authorization": f"Bearer {JETON}"},
                      timeout=30)
    import sqlite3
    with sqlite3.connect(e["BASE_SQLITE_CHEMIN"]) as connexion:
        registre = {x for (x,) in connexion.execute("SELECT empreinte FROM effacements")}
    debut, retrouves = time.perf_counter(), 0
    for n in range(1_000_000):  # les candidats, hachés avec le sel du code
        candidat = f"eleve-{n:06d}".encode()
        if hashlib.sha256(b"prediction-etudiante/effacement\0" + candidat).hexdigest() in registre:
            retrouves += 1
    return f"{retrouves}/5 élèves effacés retrouvés (1 M candidats hachés en {time.perf_counter() - debut:.1f} s)"


def b8_page(arbre: Arbre) -> str:
    texte = (arbre.racine / "app" / "web" / "static" / "classe.js").read_text(encoding="utf-8")
    appels = sorted(set(re.findall(r'"(/predictions/user/|/historique|/effacement)"', texte)))
    return "routes de l'historique dans la page : " + ", ".join(appels)


def b9_csv(arbre: Arbre) -> str:
    texte = (arbre.racine / "app" / "web" / "static" / "classe.js").read_text(encoding="utf-8")
    debut = texte.index("function celluleCsv")
    prefixe = texte[texte.rfind("\n", 0, texte.rfind("const FORMULE", 0, debut)):debut] if "const FORMULE" in texte[:debut] else ""
    fonction = texte[debut:texte.index("\n  }\n", debut) + 4]
    attaques = ["x,=cmd|' /C calc'!A0", "y\t=2+2", "=1+1"]
    script = prefixe + fonction + f"\nconsole.log(JSON.stringify({json.dumps(attaques)}.map(celluleCsv)));"
    if not shutil.which("node"):
        return "non mesuré (node absent)"
    sorties = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout)
    formules = sum(1 for s in sorties for sep in (",", "\t") for c in s.split(sep) if c.lstrip(' "')[:1] in ("=", "+", "-", "@"))
    return f"{formules} formule(s) dans les cellules découpées par « , » ou une tabulation ({len(attaques)} attaques)"


def petits_points(arbre: Arbre) -> str:
    url, e = arbre.gunicorn("petits")
    port = int(url.rsplit(":", 1)[1])
    script = requests.get(url + "/health", headers={"SCRIPT_NAME": "/abc"}, timeout=10).status_code
    corps = json.dumps(EXEMPLE).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as prise:
        prise.sendall(b"POST /predire HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
                      b"\r\n\r\n" + f"{len(corps):x}\r\n".encode() + corps + b"\r\n0\r\n\r\nGET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        debut = time.monotonic()
        premier = prise.recv(64).split(b" ")[1].decode()
        pipeline = f"{premier} en {time.monotonic() - debut:.1f} s"
    statuts = []
    with requests.Session() as session:
        for i in range(60):
            statuts.append(session.post(url + "/historique", json={"user_id": "x"},
                                        headers={"Authorization": f"Bearer faux-{i:040d}"}, timeout=10).status_code)
    dossiers = [p.name for p in Path(e["TMPDIR"]).iterdir() if p.name.startswith("prediction-etudiante-metriques")]
    previsible = any(re.fullmatch(r"prediction-etudiante-metriques-\d+", d) for d in dossiers)
    controle = (Path(e["HOME"]) / ".gunicorn" / "gunicorn.ctl").exists()
    return (f"SCRIPT_NAME : {script} ; morceaux + pipeline : {pipeline} ; jetons faux examinés : "
            f"{statuts.count(401)}/60 ; dossier des métriques {'prévisible' if previsible else 'mkdtemp'} ; "
            f"socket de contrôle {'ouvert' if controle else 'fermé'}")


ATTAQUES = [
    ("B1 8 flux gRPC inactifs", b1_flux_inactifs),
    ("B2 10 envois lents de lots", b2_envois_lents),
    ("B3 méthodes inventées, /metrics", b3_metriques),
    ("B4 deux lots JSON de 16 Mio de {}", b4_lots_hostiles),
    ("B5 même X-Request-ID, 2 HTTP et 1 gRPC", b5_meme_identifiant),
    ("B6 effacement, disque plein", b6_disque_plein),
    ("B7 registre des effacements", b7_registre),
    ("B8 historique de la page", b8_page),
    ("B9 CSV téléchargé", b9_csv),
    ("petits points", petits_points),
]
NON_REJOUEES = {
    "SIGTERM en rafales (gRPC)": "test/test_arret_signaux.py : 200 démarrages ; avant 3 bloqués, après 0",
}


def extraire(reference: str, dossier: Path) -> Path:
    archive = subprocess.run(["git", "archive", "--format=tar", reference], cwd=ICI, capture_output=True, check=True).stdout
    arbre = dossier / "avant"
    arbre.mkdir()
    with tempfile.TemporaryFile() as fichier:
        fichier.write(archive)
        fichier.seek(0)
        with tarfile.open(fileobj=fichier) as tar:
            tar.extractall(arbre, filter="data")
    return arbre


def main() -> int:
    analyseur = argparse.ArgumentParser(prog="python -m outils.attaques", description=__doc__.splitlines()[0])
    analyseur.add_argument("--avant", default="", help="référence git de l'arbre « avant » (défaut : merge-base HEAD main)")
    analyseur.add_argument("--seulement", default="", help="préfixe des attaques à rejouer (p. ex. B3)")
    options = analyseur.parse_args()
    reference = options.avant or subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ICI, capture_output=True,
                                                text=True, check=True).stdout.strip()
    dossier = Path(tempfile.mkdtemp(prefix="attaques28-"))
    os.chmod(dossier, 0o700)
    try:
        arbres = {"avant": extraire(reference, dossier), "après": ICI}
        lignes = []
        for nom, attaque in ATTAQUES:
            if not nom.startswith(options.seulement):
                continue
            valeurs = {}
            for cote, racine in arbres.items():
                arbre = Arbre(racine, dossier / f"{nom.split()[0]}-{cote}")
                try:
                    valeurs[cote] = attaque(arbre)
                except Exception as erreur:  # noqa: BLE001 - une attaque qui échoue est un chiffre aussi
                    valeurs[cote] = f"échec de la mesure ({type(erreur).__name__} : {erreur})"[:160]
                finally:
                    arbre.fermer()
            lignes.append((nom, valeurs["avant"], valeurs["après"]))
            print(f"| {nom} | {valeurs['avant']} | {valeurs['après']} |", flush=True)
        for nom, texte in NON_REJOUEES.items():
            print(f"| {nom} | {texte} | |")
    finally:
        shutil.rmtree(dossier, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Les attaques du premier tour (issue 19), rejouées contre un arbre du projet (avant / après un changement).

    python -m outils.attaques_tour1 /tmp/avant    # l'arbre à attaquer, p. ex. : git archive main | tar -x -C /tmp/avant

Lance un gunicorn de cet arbre (2 workers, SQLite et journal temporaires, loopback seulement) avec
l'interpréteur courant et affiche un chiffre par attaque (JSON). Sert à comparer deux versions ; les
épreuves avec leurs bornes sont dans test/test_durcissement.py.
"""
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

RACINE = Path(sys.argv[1])
PY = sys.executable
JETON = "j" * 40
TMP = Path(tempfile.mkdtemp(prefix="att19-"))
os.umask(0o022)


def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def rss_pic(pid_maitre):
    total = 0
    for enfant in Path(f"/proc/{pid_maitre}/task/{pid_maitre}/children").read_text().split():
        for l in Path(f"/proc/{enfant}/status").read_text().splitlines():
            if l.startswith("VmHWM"):
                total = max(total, int(l.split()[1]) // 1024)
    return total


def serveur(nom, **env):
    d = TMP / nom; d.mkdir()
    p = port()
    e = {**os.environ, "PORT": str(p), "JOURNAL_CHEMIN": str(d / "requetes.jsonl"), "BASE_SQLITE_CHEMIN": str(d / "r.sqlite3"),
         "DATABASE_URL": "", "API_TOKEN": JETON, "GUNICORN_WORKERS": "2", **env}
    pr = subprocess.Popen([PY, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{p}"], cwd=RACINE, env=e,
                          stdout=open(d / "log", "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{p}"
    for _ in range(300):
        try:
            if requests.get(url + "/health", timeout=1).ok: break
        except Exception: pass
        time.sleep(0.1)
    return pr, url, d


ex = json.loads((Path(__file__).resolve().parent.parent / "test" / "donnees.json").read_text())
res = {}
pr, url, d = serveur("a")
try:
    # A1 : CSV à 1 Mo d'en-tête
    entete = ";".join(f"c{i}" for i in range(130_000)).encode()
    t = time.perf_counter(); r = requests.post(url + "/predire/lot", data=entete + b"\n", headers={"Content-Type": "text/csv"}, timeout=600)
    res["A1 csv colonnes"] = dict(corps=len(entete), statut=r.status_code, reponse=len(r.content), s=round(time.perf_counter() - t, 2),
                                  details=len(r.json()["details"]), rss_pic_mio=rss_pic(pr.pid))
    # A2 : objet JSON à clés inconnues, 1 Mo dans un lot, et 64 Kio sur /predire
    obj = {f"k{i}": 1 for i in range(100_000)}
    corps = json.dumps([obj]).encode()
    t = time.perf_counter(); r = requests.post(url + "/predire/lot", data=corps, headers={"Content-Type": "application/json"}, timeout=600)
    res["A2 json clés (lot)"] = dict(corps=len(corps), statut=r.status_code, reponse=len(r.content), s=round(time.perf_counter() - t, 2))
    obj = {f"k{i}": 1 for i in range(6000)}
    corps = json.dumps(obj).encode()
    t = time.perf_counter(); r = requests.post(url + "/predire", data=corps, headers={"Content-Type": "application/json"}, timeout=600)
    res["A2 json clés (/predire)"] = dict(corps=len(corps), statut=r.status_code, reponse=len(r.content), s=round(time.perf_counter() - t, 2))
    # A8 : identifiant avec saut de ligne
    r = requests.get(url + "/predictions/user/abc%0A", headers={"Authorization": "Bearer " + JETON})
    res["A8 abc%0A"] = r.status_code
    # A7 : en-têtes
    for chemin in ("/health", "/docs", "/predictions/user/abc"):
        r = requests.get(url + chemin, headers={"Authorization": "Bearer " + JETON})
        res[f"A7 {chemin}"] = {k: r.headers.get(k) for k in ("X-Content-Type-Options", "Cache-Control", "Content-Security-Policy", "Server")}
    # A5/A6 : effacement et droits
    uid = "eleve-secret-4242"
    for i in range(5):
        requests.post(url + "/predire", json={**ex, "user_id": uid, "absences": 7 + i}, timeout=30)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in d.iterdir() if p.name != "log"}
    res["A6 modes"] = modes
    r = requests.delete(url + f"/predictions/user/{uid}", headers={"Authorization": "Bearer " + JETON})
    trace = [p.name for p in d.iterdir() if p.is_file() and p.name != "log" and uid.encode() in p.read_bytes()]
    res["A5 effacement"] = dict(statut=r.status_code, fichiers_avec_id=trace)
    # A3 : 32 clients lents
    arret = threading.Event()

    def lent():
        try:
            s = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
            s.sendall(b"POST /predire HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            while not arret.is_set():
                s.sendall(b" "); arret.wait(2)
        except OSError:
            pass
    fils = [threading.Thread(target=lent, daemon=True) for _ in range(32)]
    for f in fils: f.start()
    time.sleep(3)
    lat = []
    for _ in range(5):
        t = time.perf_counter()
        try:
            ok = requests.get(url + "/health", timeout=5).status_code
            ok2 = requests.post(url + "/predire", json=ex, timeout=5).status_code
        except requests.RequestException as e:
            ok = ok2 = type(e).__name__
        lat.append((ok, ok2, round(time.perf_counter() - t, 2)))
        time.sleep(0.5)
    arret.set()
    res["A3 32 clients lents: /health+/predire"] = lat
finally:
    pr.terminate(); pr.wait()

# A4 : features.pkl piégé
class Piege:
    def __init__(self, m): self.m = m
    def __reduce__(self): return (open, (self.m, "w"))
dd = TMP / "code"; dd.mkdir()
for n in ("modele_trees.pkl", "features.pkl", "model_card.json"):
    shutil.copy(RACINE / "code" / n, dd / n)
marqueur = TMP / "piege"
(dd / "features.pkl").write_bytes(pickle.dumps(Piege(str(marqueur))))
r = subprocess.run([PY, "-c", f"from app.modele import artefacts; artefacts.charger({str(dd)!r})"], cwd=RACINE, capture_output=True, text=True)
res["A4 features.pkl piégé"] = dict(code_execute=marqueur.exists(), fin=r.stderr.strip().splitlines()[-1][:160] if r.stderr else "")
print(json.dumps(res, indent=1, ensure_ascii=False))

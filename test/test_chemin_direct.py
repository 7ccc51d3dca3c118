"""Le chemin direct de ``POST /predire`` (``app.web.chemin_direct``) répond exactement comme la vue Flask.

- La passe unique d'analyse et de validation (``demande_directe``) ne laisse passer que ce que la lecture
  stricte (``lire_json`` puis ``model_validate``) accepte, avec les mêmes valeurs, sur des milliers de corps
  modifiés (clés en double, NaN, espaces, échappements, textes d'entiers, BOM…) ; tout le reste va à la
  lecture stricte, qui nomme l'erreur.
- L'application réelle (modèle livré, journal et SQLite temporaires) : une demande valide ne traverse pas la
  vue Flask, une demande en morceaux si ; les deux reçoivent le même statut, les mêmes en-têtes et le même
  corps (hors request_id et durée), et chacune sa ligne au journal ; un request_id réutilisé reçoit le
  même 409 par les deux chemins ; un corps invalide passe par Flask, et son message est inchangé.
- Sous gunicorn : même comparaison, en-têtes compris, et un journal non inscriptible donne le même 503.
"""

import io
import json
import random

import pytest
import requests
from pydantic import ValidationError
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from app.modele.eleves_aleatoires import eleves_aleatoires
from app.modele.erreurs_validation import detailler
from app.modele.schema import CHAMPS, DemandePrediction
from app.web.erreurs import ErreurRequete
from app.web.requetes_json import demande_directe, lire_json

VARIABLES = ("request_id", "inference_time_ms")
"""Ce qui diffère d'une réponse à l'autre pour la même demande."""


def _stricte(brut: bytes):
    """La lecture stricte de la vue Flask : le modèle validé, ou (statut, message, détails) du refus."""
    requete = Request(EnvironBuilder(method="POST", data=brut, content_type="application/json").get_environ())
    try:
        document = lire_json(requete)
        if not isinstance(document, dict):
            return "pas un objet"
        return DemandePrediction.model_validate(document)
    except ErreurRequete as erreur:
        return erreur.statut, erreur.message, erreur.details
    except ValidationError as erreur:
        return 400, detailler(erreur)


def _variantes(eleve: dict, alea: random.Random) -> list[bytes]:
    """Un élève écrit de bien des façons, valides ou non."""
    texte = json.dumps(eleve)
    champ = alea.choice(CHAMPS)
    valeur = eleve[champ]
    autres = [
        json.dumps(eleve, indent=alea.choice([None, 1, "\t"]), separators=alea.choice([(",", ":"), (" , ", " : ")])),
        texte[:-1] + f', "{champ}": {json.dumps(valeur)}}}',  # clé en double, même valeur
        texte[:-1] + f', "{champ}": null}}',  # clé en double, autre valeur
        texte.replace(f'"{champ}"', '"' + "".join(f"\\u{ord(c):04x}" for c in champ) + '"', 1),  # clé échappée
        texte.replace(f'"{champ}": ', f'"{champ}": NaN, "_": ', 1),
        texte.replace(f'"{champ}": {json.dumps(valeur)}', f'"{champ}": NaN', 1),
        texte.replace(f'"{champ}": {json.dumps(valeur)}', f'"{champ}": Infinity', 1),
        texte.replace(f'"{champ}": {json.dumps(valeur)}', f'"{champ}": 1e400', 1),
        "\ufeff" + texte,
        texte + " \n\t\r",
        texte + " x",
        "[" + texte + "]",
        texte[: alea.randrange(len(texte))],
        json.dumps({**eleve, "user_id": alea.choice(["eleve-1", "a:b.c_d-e", "", " x", "é", "a\"b", "x" * 129])}),
        json.dumps({**eleve, "inconnu": 1}),
        json.dumps({k: v for k, v in eleve.items() if k != champ}),
    ]
    if isinstance(valeur, int):
        autres += [texte.replace(f'"{champ}": {valeur}', f'"{champ}": {forme}', 1)
                   for forme in (f'"{valeur}"', f"{valeur}.0", f"{valeur}e0", f"-{valeur}", f'" {valeur}"',
                                 f'"0{valeur}"', "true", f"{valeur}.5", f"{valeur}{'0' * 30}", f'"{valeur}.0"')]
    if isinstance(valeur, str):
        autres += [texte.replace(f'"{champ}": "{valeur}"', f'"{champ}": {forme}', 1)
                   for forme in (f'"{valeur.lower()}"', f'"{valeur} "', "1", "null", '"\\ud800"',
                                 '"' + "".join(f"\\u{ord(c):04x}" for c in valeur) + '"')]
    return [texte.encode(), *(a.encode("utf-8", "surrogatepass") for a in autres)]


def test_la_passe_unique_n_accepte_que_ce_que_la_lecture_stricte_accepte():
    alea = random.Random(12)
    acceptes = refuses = 0
    for eleve in eleves_aleatoires(300, graine=12, notes_absentes=0.3):
        for brut in _variantes(eleve, alea):
            directe, stricte = demande_directe(brut), _stricte(brut)
            if directe is None:
                refuses += 1
                continue
            acceptes += 1
            assert isinstance(stricte, DemandePrediction), (brut, stricte)
            assert directe.model_dump() == stricte.model_dump() and directe.model_fields_set == stricte.model_fields_set
            assert [type(v) for v in directe.__dict__.values()] == [type(v) for v in stricte.__dict__.values()]
    assert acceptes > 300 * 4 and refuses > 300 * 8  # les deux issues ont été essayées, souvent


def test_un_eleve_valide_passe_toujours_par_la_passe_unique():
    for eleve in eleves_aleatoires(500, graine=13, notes_absentes=0.3):
        for brut in (json.dumps(eleve).encode(), json.dumps({**eleve, "user_id": "eleve-7"}, indent=2).encode()):
            assert demande_directe(brut) is not None


# --- l'application réelle, en processus ------------------------------------------------------------------

@pytest.fixture()
def application(tmp_path):
    from app import create_app
    from app.config import Configuration

    app = create_app(Configuration(chemin_journal=tmp_path / "j.jsonl", chemin_base_sqlite=tmp_path / "r.sqlite3"))
    appels = []
    vue = app.view_functions["prediction.predire"]

    def vue_comptee(*args, **kwargs):
        appels.append(1)
        return vue(*args, **kwargs)

    app.view_functions["prediction.predire"] = vue_comptee
    yield app, appels, tmp_path / "j.jsonl"
    app.extensions["prediction_etudiante"].conservation.arreter(5)


def _en_morceaux(client, corps: bytes, entetes: dict | None = None):
    """La même demande annoncée en morceaux (Transfer-Encoding: chunked, que le serveur WSGI a déjà décodés) :
    le chemin direct la laisse à Flask."""
    return client.post("/predire", input_stream=io.BytesIO(corps), content_type="application/json",
                       headers={"Transfer-Encoding": "chunked", **(entetes or {})},
                       environ_overrides={"wsgi.input_terminated": True})


def _sans_variables(corps: dict) -> dict:
    """Le corps sans ce qui change d'une requête à l'autre (identifiant, durée), dans la réponse et son résultat."""
    if "request_id" not in corps:
        return corps
    corps = {k: v for k, v in corps.items() if k not in VARIABLES}
    if isinstance(corps.get("resultats"), dict):
        corps["resultats"] = {k: v for k, v in corps["resultats"].items() if k not in VARIABLES}
    return corps


def _comparable(reponse) -> tuple:
    corps = reponse.get_json()
    corps = _sans_variables(corps)
    entetes = [(k, v) for k, v in reponse.headers.items() if k not in ("X-Request-ID", "Content-Length")]
    return reponse.status_code, entetes, corps


def test_meme_reponse_par_les_deux_chemins(application, exemple):
    app, appels, journal = application
    client = app.test_client()
    sans_g2 = {**exemple, "G2": None}
    for rang, document in enumerate([exemple, sans_g2, {**exemple, "G1": None}, {**exemple, "user_id": "eleve-3"}]):
        corps = json.dumps(document).encode()
        directe = client.post("/predire", data=corps, content_type="application/json",
                              headers={"X-Request-ID": f"direct-{rang}"})
        assert len(appels) == rang  # pas de vue Flask
        par_flask = _en_morceaux(client, corps, {"X-Request-ID": f"flask-{rang}"})
        assert len(appels) == rang + 1
        assert directe.status_code == 200 and _comparable(directe) == _comparable(par_flask)
        assert directe.headers["X-Request-ID"] == directe.get_json()["request_id"] == f"direct-{rang}"
    generee = client.post("/predire", data=json.dumps(exemple), content_type="application/json")
    assert len(generee.headers["X-Request-ID"]) == 32 and generee.get_json()["request_id"] == generee.headers["X-Request-ID"]
    lignes = [json.loads(ligne) for ligne in journal.read_text(encoding="utf-8").splitlines()]
    ids = [ligne["request_id"] for ligne in lignes]
    assert sorted(ids) == sorted([f"direct-{r}" for r in range(4)] + [f"flask-{r}" for r in range(4)]
                                 + [generee.headers["X-Request-ID"]])
    # Le même élève donne la même ligne (hors identifiant et horodatage) par les deux chemins.
    par_id = {ligne["request_id"]: ligne for ligne in lignes}
    for rang in range(4):
        a, b = (dict(par_id[f"{c}-{rang}"]) for c in ("direct", "flask"))
        for ligne in (a, b):
            del ligne["request_id"], ligne["horodatage"]
        assert a == b


def test_refus_identiques_par_les_deux_chemins(application, exemple):
    app, appels, _journal = application
    client = app.test_client()
    corps = json.dumps(exemple).encode()
    assert client.post("/predire", data=corps, content_type="application/json",
                       headers={"X-Request-ID": "deja-vu"}).status_code == 200
    directe = client.post("/predire", data=corps, content_type="application/json", headers={"X-Request-ID": "deja-vu"})
    assert not appels
    par_flask = _en_morceaux(client, corps, {"X-Request-ID": "deja-vu"})
    assert directe.status_code == 409 and _comparable(directe) == _comparable(par_flask)
    # Corps invalides : Flask les lit (chemin strict) et les nomme comme avant.
    for invalide, extrait in [({**exemple, "age": 99}, "age"), ({**exemple, "agee": 16}, "vouliez-vous dire"),
                              (corps[:-1], "JSON mal formé"), (corps[:-1] + b', "age": 16}', "clé en double")]:
        donnees = invalide if isinstance(invalide, bytes) else json.dumps(invalide).encode()
        avant = len(appels)
        reponse = client.post("/predire", data=donnees, content_type="application/json")
        assert len(appels) == avant + 1 and reponse.status_code == 400 and extrait in json.dumps(reponse.get_json(),
                                                                                                 ensure_ascii=False)
        assert _comparable(reponse) == _comparable(_en_morceaux(client, donnees))


# --- sous gunicorn ---------------------------------------------------------------------------------------

def _poster(url: str, corps: bytes, entetes: dict, en_morceaux: bool):
    donnees = iter([corps[:100], corps[100:]]) if en_morceaux else corps
    return requests.post(url + "/predire", data=donnees, headers={"Content-Type": "application/json", **entetes},
                         timeout=30)


def _comparable_http(reponse) -> tuple:
    corps = reponse.json()
    corps = _sans_variables(corps)
    entetes = [(k, v) for k, v in reponse.headers.items() if k not in ("X-Request-ID", "Content-Length", "Date")]
    return reponse.status_code, entetes, corps


def test_meme_reponse_sous_gunicorn(serveur, exemple):
    corps = json.dumps(exemple).encode()
    directe = _poster(serveur.url, corps, {"X-Request-ID": "gunicorn-direct"}, False)
    par_flask = _poster(serveur.url, corps, {"X-Request-ID": "gunicorn-flask"}, True)
    assert directe.status_code == 200 and _comparable_http(directe) == _comparable_http(par_flask)
    ids = {ligne["request_id"] for ligne in serveur.lignes_journal()}
    assert {"gunicorn-direct", "gunicorn-flask"} <= ids


def test_journal_non_inscriptible_meme_503(demarrer_serveur, tmp_path, exemple):
    dossier = tmp_path / "absent"
    serveur = demarrer_serveur(env={"JOURNAL_CHEMIN": str(dossier / "sous" / "j.jsonl")}).attendre()
    corps = json.dumps(exemple).encode()
    directe, par_flask = (_poster(serveur.url, corps, {}, morceaux) for morceaux in (False, True))
    assert directe.status_code == 503 and directe.headers["Retry-After"] == "30"
    assert _comparable_http(directe) == _comparable_http(par_flask)
    assert not serveur.journal.exists()


def test_identifiants_generes_uuid7_ordonnes_uniques_y_compris_apres_un_fork():
    """``nouvel_identifiant`` tire ses octets par réserves de 256 : chaque identifiant est un UUID 7 (l'instant en
    millisecondes devant : ordonnés dans le temps, ils s'ajoutent à droite de l'index des ``request_id``), et un
    processus fils (worker gunicorn) ne reprend jamais la réserve de son parent."""
    import os
    import time
    import uuid

    from app.modele.identifiants import nouvel_identifiant

    avant = time.time_ns() // 1_000_000
    ids = [nouvel_identifiant() for _ in range(3000)]
    apres = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 and uuid.UUID(i).hex == i
               for i in ids)
    instants = [int(i[:12], 16) for i in ids]
    assert avant <= min(instants) and max(instants) <= apres and instants == sorted(instants)
    time.sleep(0.002)
    assert nouvel_identifiant() > max(ids)  # une milliseconde plus tard : après tous, dans l'ordre des chaînes
    # 74 bits aléatoires : dans une même milliseconde, l'ordre des identifiants n'est pas celui du tirage.
    meme_instant = [i for i in ids if i[:12] == ids[0][:12]]
    assert len({i[12:] for i in meme_instant}) == len(meme_instant)
    lecture, ecriture = os.pipe()
    pid = os.fork()
    if pid == 0:  # le fils : ses 10 prochains identifiants
        os.write(ecriture, " ".join(nouvel_identifiant() for _ in range(10)).encode())
        os._exit(0)
    os.close(ecriture)
    os.waitpid(pid, 0)
    fils = os.read(lecture, 4096).decode().split()
    os.close(lecture)
    parent = [nouvel_identifiant() for _ in range(10)]
    assert len(fils) == 10 and not set(fils) & set(parent)

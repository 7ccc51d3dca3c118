"""Magasin de résultats et droit à l'effacement, par HTTP, contre gunicorn (2 workers), SQLite et PostgreSQL."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.stockage.journal import JournalRequetes
from test.conftest import port_libre

JETON = "jeton-de-test-" + "x" * 40
AUTORISE = {"Authorization": f"Bearer {JETON}"}


def predire(url, exemple, user_id=None, session=requests, **options):
    corps = {**exemple, **({"user_id": user_id} if user_id else {})}
    return session.post(url + "/predire", json=corps, timeout=60, **options)


@pytest.fixture()
def serveur_sqlite(demarrer_serveur):
    return demarrer_serveur(env={"API_TOKEN": JETON}).attendre()


def test_sans_api_token_routes_fermees_403(serveur):
    for methode, route in (("GET", "/predictions/abc"), ("GET", "/predictions/user/u1"),
                           ("DELETE", "/predictions/user/u1")):
        reponse = requests.request(methode, serveur.url + route, headers=AUTORISE, timeout=10)
        assert reponse.status_code == 403 and "API_TOKEN" in reponse.json()["erreur"]


def test_jeton_manquant_ou_faux_401(serveur_sqlite):
    for entetes in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer " + JETON[:-1]}, {"Authorization": "Bearer " + JETON + "é"}):
        reponse = requests.get(serveur_sqlite.url + "/predictions/user/u1", headers=entetes, timeout=10)
        assert reponse.status_code == 401, entetes
        assert reponse.headers["WWW-Authenticate"].startswith("Bearer")
        assert JETON not in reponse.text
    assert JETON not in serveur_sqlite.journal_serveur()


def test_erreurs_400_404_409(serveur_sqlite, exemple):
    url = serveur_sqlite.url
    mauvais = predire(url, exemple, user_id="pas valide !")
    assert mauvais.status_code == 400 and mauvais.json()["details"][0]["champ"] == "user_id"
    assert predire(url, {**exemple, "user_id": 42}).status_code == 400
    premier = predire(url, exemple, user_id="u409", headers={"X-Request-ID": "rid-409", **AUTORISE})
    assert premier.status_code == 200 and premier.json()["resultats"]["user_id"] == "u409"
    doublon = predire(url, exemple, user_id="u409", headers={"X-Request-ID": "rid-409", **AUTORISE})
    assert doublon.status_code == 409 and "X-Request-ID" in doublon.json()["erreur"]
    assert sum(l["request_id"] == "rid-409" for l in serveur_sqlite.lignes_journal()) == 1
    assert requests.get(url + "/predictions/rid-inconnu", headers=AUTORISE, timeout=10).status_code == 404
    assert requests.get(url + "/predictions/pas%20valide", headers=AUTORISE, timeout=10).status_code == 400
    assert requests.delete(url + "/predictions/user/a%20b", headers=AUTORISE, timeout=10).status_code == 400
    for parametres in ("limite=0", "limite=101", "limite=abc", "decalage=-1", "limite=2&limite=3", "page=2"):
        reponse = requests.get(f"{url}/predictions/user/u409?{parametres}", headers=AUTORISE, timeout=10)
        assert reponse.status_code == 400 and reponse.json()["details"], parametres
    lue = requests.get(url + "/predictions/rid-409", headers=AUTORISE, timeout=10).json()
    assert lue["user_id"] == "u409" and lue["entrees"] == exemple
    assert lue["probabilite_echec"] == premier.json()["resultats"]["probabilite_echec"]


@pytest.fixture(params=["sqlite", "postgresql"])
def base_injoignable(request, tmp_path):
    if request.param == "sqlite":
        return {"BASE_SQLITE_CHEMIN": str(tmp_path / "absent" / "dossier" / "r.sqlite3")}
    request.getfixturevalue("base_postgresql")
    return {"DATABASE_URL": f"postgresql+psycopg://personne:secret@127.0.0.1:{port_libre()}/rien"}


def test_base_injoignable_predictions_journalisees_lectures_503_et_ready(demarrer_serveur, exemple,
                                                                         base_injoignable):
    """Journal d'abord : la base injoignable n'empêche pas de servir (chaque 200 est au journal) ; les
    lectures et l'effacement, qui ont besoin d'elle, répondent 503 ; /ready dit que la base est en retard."""
    serveur = demarrer_serveur(env={"API_TOKEN": JETON, **base_injoignable}).attendre()
    reponse = predire(serveur.url, exemple, user_id="u503")
    assert reponse.status_code == 200
    for methode, route in (("GET", f"/predictions/{reponse.json()['request_id']}"), ("GET", "/predictions/user/u503"),
                           ("DELETE", "/predictions/user/u")):
        refus = requests.request(methode, serveur.url + route, headers=AUTORISE, timeout=30)
        assert refus.status_code == 503 and refus.headers["Retry-After"], (route, refus.status_code)
        assert "base des résultats" in refus.json()["erreur"]
    alimentations = []
    for _ in range(40):  # l'état du suiveur du journal, lu par le worker qui répond
        pret = requests.get(serveur.url + "/ready", timeout=30)
        verifications = pret.json()["verifications"]
        assert pret.status_code == 503 and verifications["base"]["ok"] is False
        assert "secret" not in pret.text
        alimentations.append(verifications["alimentation"])
        if not verifications["alimentation"]["ok"]:
            break
    assert not alimentations[-1]["ok"] and "en retard" in alimentations[-1]["message"], alimentations
    assert alimentations[-1]["en_attente"] == 1
    assert [l["request_id"] for l in serveur.lignes_journal()] == [reponse.json()["request_id"]]
    # Toute la sortie (journal_serveur n'en garde que la fin, que les nouveaux essais de connexion remplissent) ;
    # le suiveur du journal, lancé par le maître sans retarder les workers, le dit dès son premier essai.
    fin = time.monotonic() + 30
    while "base des résultats en retard" not in serveur.sortie.read_text(errors="replace"):
        assert time.monotonic() < fin, "le retard de la base n'est pas journalisé"
        time.sleep(0.1)


def test_openapi_documente_historique_et_jeton(serveur):
    document = requests.get(serveur.url + "/openapi.json", timeout=10).json()
    assert "user_id" in document["components"]["schemas"]["DemandePrediction"]["properties"]
    assert document["components"]["securitySchemes"]["jetonApi"]["scheme"] == "bearer"
    assert {"409", "503"} <= set(document["paths"]["/predire"]["post"]["responses"])
    for chemin, methode in (("/predictions/{request_id}", "get"), ("/predictions/user/{user_id}", "get"),
                            ("/predictions/user/{user_id}", "delete")):
        operation = document["paths"][chemin][methode]
        assert operation["security"] == [{"jetonApi": []}]
        assert {"200", "400", "401", "403", "503"} <= set(operation["responses"])


def test_histoire_complete_deux_utilisateurs_effacement_concurrent(demarrer_serveur, url_base, exemple):
    """Deux élèves ; on relit leurs historiques ; on efface A pendant que B continue d'être prédit."""
    serveur = demarrer_serveur(workers=2, env={"API_TOKEN": JETON, "DATABASE_URL": url_base}).attendre()
    url = serveur.url
    suffixe = uuid.uuid4().hex[:8]
    a, b = f"eleve-a-{suffixe}", f"eleve-b-{suffixe}"
    JournalRequetes(serveur.journal).ecrire(  # un journal déjà gros : la réécriture prend du temps
        [{"request_id": f"ancien-{i}", "user_id": "ancien", "entrees": exemple} for i in range(20000)])

    def une(user_id, i, session=requests):
        reponse = predire(url, {**exemple, "absences": i % 94}, user_id=user_id, session=session)
        assert reponse.status_code == 200, reponse.status_code
        return reponse.json()["request_id"]

    with ThreadPoolExecutor(max_workers=4) as executeur:
        ids_a = list(executeur.map(lambda i: une(a, i), range(12)))
        ids_b = list(executeur.map(lambda i: une(b, i), range(12)))

    for user_id, ids in ((a, ids_a), (b, ids_b)):
        page = requests.get(f"{url}/predictions/user/{user_id}?limite=5", headers=AUTORISE, timeout=30).json()
        assert page["pagination"]["total"] == 12 and len(page["predictions"]) == 5 and page["pagination"]["suivant"]
        tout = requests.get(f"{url}/predictions/user/{user_id}?limite=100", headers=AUTORISE, timeout=30).json()
        horodatages = [p["horodatage"] for p in tout["predictions"]]
        assert horodatages == sorted(horodatages, reverse=True)
        assert {p["request_id"] for p in tout["predictions"]} == set(ids)
        assert [p["request_id"] for p in tout["predictions"][:5]] == [p["request_id"] for p in page["predictions"]]

    ids_b_pendant, effacement, demarre, fini = [], {}, threading.Event(), threading.Event()

    def predire_b_en_continu(debut):
        with requests.Session() as session:
            i = debut
            while not fini.is_set() or i < debut + 20:  # B continue pendant l'effacement, et après lui
                ids_b_pendant.append(une(b, i, session))
                demarre.set()
                i += 1

    fils = [threading.Thread(target=predire_b_en_continu, args=(k * 1000,)) for k in range(3)]
    for fil in fils:
        fil.start()
    demarre.wait(30)
    avant = len(ids_b_pendant)
    reponse = requests.delete(f"{url}/predictions/user/{a}", headers=AUTORISE, timeout=60)
    effacement.update(reponse.json(), statut=reponse.status_code, avant=avant, pendant=len(ids_b_pendant) - avant)
    fini.set()
    for fil in fils:
        fil.join()

    assert effacement["statut"] == 200
    assert (effacement["supprimees"], effacement["lignes_journal_supprimees"]) == (12, 12)
    assert effacement["avant"] > 0  # l'effacement a bien eu lieu pendant les prédictions de B
    historique_a = requests.get(f"{url}/predictions/user/{a}", headers=AUTORISE, timeout=30).json()
    assert historique_a["pagination"]["total"] == 0
    assert requests.get(f"{url}/predictions/{ids_a[0]}", headers=AUTORISE, timeout=30).status_code == 404
    tous_b = set(ids_b) | set(ids_b_pendant)
    assert len(tous_b) == 12 + len(ids_b_pendant)
    pages = [requests.get(f"{url}/predictions/user/{b}?limite=100&decalage={d}", headers=AUTORISE, timeout=30).json()
             for d in range(0, len(tous_b) + 100, 100)]
    assert {page["pagination"]["total"] for page in pages} == {len(tous_b)}
    assert {p["request_id"] for page in pages for p in page["predictions"]} == tous_b
    lignes = serveur.lignes_journal()
    assert not [l for l in lignes if l["user_id"] == a or l["request_id"] in set(ids_a)]
    assert sorted(l["request_id"] for l in lignes if l["user_id"] == b) == sorted(tous_b)
    assert sum(l["user_id"] == "ancien" for l in lignes) == 20000
    print(f"\nhistoire ({url_base.split(':')[0]}) : "
          f"A effacé ({effacement['supprimees']} lignes en base, {effacement['lignes_journal_supprimees']} au journal) "
          f"; {effacement['pendant']} prédictions de B servies pendant l'effacement ; B : {len(tous_b)} en base et "
          "au journal")


def test_routes_depreciees_annoncent_leur_fin_et_leur_remplacante(serveur_sqlite, exemple):
    """GET et DELETE /predictions/user/<user_id> répondent comme POST /historique et POST /effacement, avec
    Deprecation (RFC 9745), Sunset (RFC 8594) et le lien vers la route qui les remplace ; les POST, sans."""
    from app.web.routes.historique import DEPRECIATION, FIN_DE_VIE

    url = serveur_sqlite.url
    assert predire(url, exemple, user_id="u-depreciee").status_code == 200
    ancienne = requests.get(url + "/predictions/user/u-depreciee", headers=AUTORISE, timeout=10)
    nouvelle = requests.post(url + "/historique", json={"user_id": "u-depreciee"}, headers=AUTORISE, timeout=10)
    assert ancienne.status_code == nouvelle.status_code == 200
    assert ancienne.json()["predictions"] == nouvelle.json()["predictions"]
    assert (ancienne.headers["Deprecation"], ancienne.headers["Sunset"]) == (DEPRECIATION, FIN_DE_VIE)
    assert ancienne.headers["Link"] == '</historique>; rel="successor-version"'
    assert "Deprecation" not in nouvelle.headers and "Sunset" not in nouvelle.headers
    effacement = requests.delete(url + "/predictions/user/u-depreciee", headers=AUTORISE, timeout=10)
    assert effacement.status_code == 200 and effacement.json()["supprimees"] == 1
    assert effacement.headers["Deprecation"] == DEPRECIATION and "</effacement>" in effacement.headers["Link"]
    assert effacement.json()["avertissements"] == []  # toujours présent, vide ici

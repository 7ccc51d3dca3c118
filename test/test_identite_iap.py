"""Mode IAP contre un vrai gunicorn : assertions X-Goog-IAP-JWT-Assertion signées par une paire ES256 d'essai,
dont les clés publiques sont servies par un vrai serveur HTTP local (IAP_CLES_URL) ; portée par école et
journal des accès (GET /acces), tels que le conseiller, la direction et le dpo les voient."""

from __future__ import annotations

import csv
import io
import shutil
import time
import uuid

import pytest
import requests

from app.stockage.enregistrement import empreinte_utilisateur
from test.cles_essai import PaireCles, revendications, sans_signature, serveur_jwks
from test.conftest import RACINE, Serveur, port_libre

AUDIENCE = "/projects/123456/locations/europe-west1/services/prediction-etudiante"
EMETTEUR = "https://cloud.google.com/iap"
CONSEIL, DIRECTION, DPO, CONSEIL_MS = ("conseil.gp@lycee.example", "direction.gp@lycee.example",
                                       "dpo@academie.example", "conseil@ms.example")
CLES = PaireCles("ES256")
NAVIGATEUR = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    dossier = tmp_path_factory.mktemp("iap")
    acces = dossier / "acces.toml"
    shutil.copy(RACINE / "test" / "acces_essai.toml", acces)
    with serveur_jwks(CLES) as url_cles:
        instance = Serveur(dossier, workers=1, env={"IAP_AUDIENCE": AUDIENCE, "IAP_CLES_URL": url_cles,
                                                    "ACCES_FICHIER": str(acces)}).attendre()
        instance.acces = acces
        yield instance
        instance.arreter()


def assertion(email: str, **changements) -> dict:
    return {"X-Goog-IAP-JWT-Assertion": CLES.signer({**revendications(EMETTEUR, AUDIENCE, email), **changements})}


def predire(service, email, eleve, ecole) -> dict:
    user_id = f"eleve-{ecole.lower()}-{uuid.uuid4().hex[:8]}"
    reponse = requests.post(service.url + "/predire", json={**eleve, "school": ecole, "user_id": user_id},
                            headers=assertion(email), timeout=30)
    assert reponse.status_code == 200, reponse.text
    return {**reponse.json(), "user_id": user_id}


def historique(service, email, user_id):
    return requests.post(service.url + "/historique", json={"user_id": user_id}, headers=assertion(email), timeout=30)


def journal_acces(service, **filtres):
    reponse = requests.get(service.url + "/acces", params=filtres, headers=assertion(DPO), timeout=30)
    assert reponse.status_code == 200, reponse.text
    return reponse


AUTRE_CLE = PaireCles("ES256")  # même kid, autre clé : signature invalide


@pytest.mark.parametrize("cas, entetes", [
    ("sans assertion", {}),
    ("mauvaise audience", assertion(CONSEIL, aud="/projects/123456/locations/europe-west1/services/autre")),
    ("expiré", assertion(CONSEIL, exp=1_700_000_000, iat=1_699_999_000)),
    ("mauvais émetteur", assertion(CONSEIL, iss="https://accounts.google.com")),
    ("mauvaise signature", {"X-Goog-IAP-JWT-Assertion": AUTRE_CLE.signer(revendications(EMETTEUR, AUDIENCE, CONSEIL))}),
    ("alg none", {"X-Goog-IAP-JWT-Assertion": sans_signature(revendications(EMETTEUR, AUDIENCE, CONSEIL))}),
    ("jeton d'un autre client", {"X-Goog-IAP-JWT-Assertion": CLES.signer(
        revendications(EMETTEUR, "/projects/999/global/backendServices/42", CONSEIL))}),
    ("en-tête non signé seul", {"X-Goog-Authenticated-User-Email": "accounts.google.com:" + DPO}),
    ("assertion tronquée", {"X-Goog-IAP-JWT-Assertion": assertion(CONSEIL)["X-Goog-IAP-JWT-Assertion"][:-8]}),
])
def test_toute_assertion_cassee_recoit_401_en_francais(service, cas, entetes):
    for methode, route, corps in (("post", "/historique", {"user_id": "eleve-1"}), ("get", "/acces", None),
                                  ("post", "/predire", {})):
        reponse = requests.request(methode, service.url + route, json=corps, headers=entetes, timeout=30)
        assert reponse.status_code == 401, (cas, route, reponse.text)
        assert "jeton" in reponse.json()["erreur"] or "connexion requise" in reponse.json()["erreur"]
    page = requests.get(service.url + "/classe", headers={**entetes, "Accept": NAVIGATEUR}, timeout=30)
    assert page.status_code == 401 and "Connexion requise" in page.text and page.text.startswith("<!doctype html>")
    api = requests.get(service.url + "/classe", headers=entetes, timeout=30)  # client de l'API : erreur JSON
    assert api.status_code == 401 and api.json()["erreur"].startswith(("connexion requise", "jeton d'identité refusé"))


def test_en_tete_non_signe_ignore_a_cote_d_une_assertion_valide(service):
    """Un conseiller qui ajoute l'en-tête d'adresse d'IAP au nom du dpo reste un conseiller."""
    entetes = {**assertion(CONSEIL), "X-Goog-Authenticated-User-Email": "accounts.google.com:" + DPO}
    reponse = requests.get(service.url + "/acces", headers=entetes, timeout=30)
    assert reponse.status_code == 403 and "conseiller" in reponse.json()["erreur"]


def test_personne_absente_du_fichier_recoit_403_qui_dit_a_qui_demander(service):
    reponse = requests.post(service.url + "/historique", json={"user_id": "x"}, headers=assertion("inconnu@ailleurs.example"),
                            timeout=30)
    assert reponse.status_code == 403
    assert "inconnu@ailleurs.example" in reponse.json()["erreur"] and "dsi@lycee.example" in reponse.json()["erreur"]
    page = requests.get(service.url + "/classe", headers={**assertion("inconnu@ailleurs.example"), "Accept": NAVIGATEUR},
                        timeout=30)
    assert page.status_code == 403 and "Accès refusé" in page.text and "dsi@lycee.example" in page.text


def test_la_page_montre_qui_est_connecte_et_ne_demande_pas_de_jeton(service):
    page = requests.get(service.url + "/classe", headers=assertion(CONSEIL), timeout=30)
    assert page.status_code == 200
    assert f"<strong>{CONSEIL}</strong> (conseiller)" in page.text and "écoles : GP" in page.text
    assert '<form id="form-jeton" class="pile" hidden>' in page.text


def test_un_conseiller_de_gp_ne_peut_rien_savoir_d_un_eleve_de_ms(service, exemple):
    eleve = {k: v for k, v in exemple.items() if k != "user_id"}
    ms = predire(service, DPO, eleve, "MS")
    gp = predire(service, CONSEIL, eleve, "GP")
    inconnu = f"eleve-ms-{uuid.uuid4().hex[:8]}"  # même longueur que l'identifiant de l'élève de MS

    # Historique : exactement la réponse d'un élève inconnu (statut, corps à l'identifiant près, taille).
    vu, absent = historique(service, CONSEIL, ms["user_id"]), historique(service, CONSEIL, inconnu)
    assert vu.status_code == absent.status_code == 200
    assert vu.text.replace(ms["user_id"], "ID") == absent.text.replace(inconnu, "ID")
    assert len(vu.content) == len(absent.content)
    # Prédiction relue par son request_id : le 404 d'un request_id inconnu.
    autre = str(uuid.uuid4())
    lue = requests.get(f"{service.url}/predictions/{ms['request_id']}", headers=assertion(CONSEIL), timeout=30)
    manquante = requests.get(f"{service.url}/predictions/{autre}", headers=assertion(CONSEIL), timeout=30)
    assert lue.status_code == manquante.status_code == 404
    assert lue.text.replace(ms["request_id"], "ID") == manquante.text.replace(autre, "ID")
    # Effacement : la réponse d'un élève inconnu, et rien n'est effacé.
    efface = requests.post(service.url + "/effacement", json={"user_id": ms["user_id"]}, headers=assertion(CONSEIL),
                           timeout=30)
    rien = requests.post(service.url + "/effacement", json={"user_id": inconnu}, headers=assertion(CONSEIL), timeout=30)
    assert efface.status_code == rien.status_code == 200
    assert efface.text.replace(ms["user_id"], "ID") == rien.text.replace(inconnu, "ID")
    assert historique(service, DPO, ms["user_id"]).json()["pagination"]["total"] == 1
    # Ni export ni dérive pour un conseiller ; et pas de prédiction conservée pour un élève de MS.
    assert requests.get(service.url + "/predictions/export", headers=assertion(CONSEIL), timeout=30).status_code == 403
    assert requests.get(service.url + "/derive", headers=assertion(CONSEIL), timeout=30).status_code == 403
    refus = requests.post(service.url + "/predire", json={**eleve, "school": "MS", "user_id": "eleve-ms-x"},
                          headers=assertion(CONSEIL), timeout=30)
    assert refus.status_code == 403 and "MS" in refus.json()["erreur"]
    # Ses propres élèves, il les voit.
    assert historique(service, CONSEIL, gp["user_id"]).json()["pagination"]["total"] == 1
    # Un conseiller de MS (par son domaine) voit l'élève de MS, pas celui de GP.
    assert historique(service, CONSEIL_MS, ms["user_id"]).json()["pagination"]["total"] == 1
    assert historique(service, CONSEIL_MS, gp["user_id"]).json()["pagination"]["total"] == 0


def test_direction_ne_voit_que_ses_ecoles_dans_l_export_et_la_derive(service, exemple):
    eleve = {k: v for k, v in exemple.items() if k != "user_id"}
    predire(service, DPO, eleve, "MS")
    predire(service, DPO, eleve, "GP")
    export = requests.get(service.url + "/predictions/export", headers=assertion(DIRECTION), timeout=30)
    assert export.status_code == 200
    ecoles = {ligne.split('"school":"')[1][:2] for ligne in export.text.splitlines()}
    assert ecoles == {"GP"}
    tout = requests.get(service.url + "/predictions/export", headers=assertion(DPO), timeout=30)
    assert {ligne.split('"school":"')[1][:2] for ligne in tout.text.splitlines()} == {"GP", "MS"}
    derive_direction = requests.get(service.url + "/derive", params={"derniers": 10_000}, headers=assertion(DIRECTION),
                                    timeout=30)
    derive_dpo = requests.get(service.url + "/derive", params={"derniers": 10_000}, headers=assertion(DPO), timeout=30)
    assert derive_direction.status_code == derive_dpo.status_code == 200, derive_direction.text
    assert derive_direction.json()["n"] == len(export.text.splitlines())
    assert derive_dpo.json()["n"] == len(tout.text.splitlines()) > derive_direction.json()["n"]


def test_chaque_acces_une_fois_au_journal_sans_identifiant_en_clair(service, exemple):
    eleve = {k: v for k, v in exemple.items() if k != "user_id"}
    debut = journal_acces(service).json()["nombre"]
    gp = predire(service, CONSEIL, eleve, "GP")
    historique(service, CONSEIL, gp["user_id"])
    requests.get(f"{service.url}/predictions/{gp['request_id']}", headers=assertion(CONSEIL), timeout=30)
    requests.post(service.url + "/effacement", json={"user_id": gp["user_id"]}, headers=assertion(CONSEIL), timeout=30)
    predire(service, CONSEIL, eleve, "GP")  # un élève à exporter (une prédiction n'est pas une lecture : rien d'inscrit)
    requests.get(service.url + "/predictions/export", headers=assertion(DIRECTION), timeout=30)
    historique(service, CONSEIL, f"eleve-gp-{uuid.uuid4().hex[:8]}")  # élève inconnu : rien n'est lu, rien d'inscrit

    reponse = journal_acces(service)
    lignes = reponse.json()["acces"][debut:]
    assert [(l["qui"], l["route"]) for l in lignes] == [
        (CONSEIL, "POST /historique"), (CONSEIL, "GET /predictions/<request_id>"), (CONSEIL, "POST /effacement"),
        (DIRECTION, "GET /predictions/export")]
    assert [l["ecole"] for l in lignes] == ["GP", "GP", "GP", "GP"]
    assert [l["empreinte"] for l in lignes[:3]] == [empreinte_utilisateur(gp["user_id"])] * 3
    assert lignes[3]["empreinte"] is None and lignes[3]["eleves"] >= 1
    # Ni identifiant ni attribut d'élève dans le journal des accès.
    for format_ in ("json", "csv"):
        texte = journal_acces(service, format=format_).text
        assert gp["user_id"] not in texte and gp["request_id"] not in texte and '"age"' not in texte
    # Ni dans le journal du serveur (gunicorn, messages de l'application).
    assert gp["user_id"] not in service.journal_serveur()
    # Filtres : par personne, par dates, en CSV.
    par_personne = journal_acces(service, qui=DIRECTION).json()["acces"]
    assert par_personne and {l["qui"] for l in par_personne} == {DIRECTION}
    assert journal_acces(service, jusqua="2000-01-01").json()["nombre"] == 0
    assert journal_acces(service, depuis=lignes[0]["horodatage"], qui=CONSEIL).json()["nombre"] == 3
    lu = list(csv.DictReader(io.StringIO(journal_acces(service, format="csv", qui=CONSEIL).text)))
    assert [l["route"] for l in lu[-3:]] == ["POST /historique", "GET /predictions/<request_id>", "POST /effacement"]
    refuse = requests.get(service.url + "/acces", params={"format": "xml"}, headers=assertion(DPO), timeout=30)
    assert refuse.status_code == 400 and refuse.json()["details"][0]["champ"] == "format"


def test_le_fichier_d_acces_modifie_s_applique_sans_redemarrer(service):
    nouveau = "nouvelle.dpo@academie.example"
    assert requests.get(service.url + "/acces", headers=assertion(nouveau), timeout=30).status_code == 403
    texte = service.acces.read_text(encoding="utf-8")
    try:
        service.acces.write_text(texte + f'\n[[personnes]]\nqui = "{nouveau}"\nrole = "dpo"\necoles = ["*"]\n',
                                 encoding="utf-8")
        statuts = []
        for _ in range(60):  # relu au plus une seconde après sa modification : on redemande jusqu'à une minute
            statuts.append(requests.get(service.url + "/acces", headers=assertion(nouveau), timeout=30).status_code)
            if statuts[-1] == 200:
                break
            time.sleep(1)
        assert statuts[-1] == 200, statuts
        # Un fichier devenu invalide ne ferme rien : l'ancienne version reste en vigueur.
        service.acces.write_text("[[personnes]]\nqui = 3\n", encoding="utf-8")
        for _ in range(60):  # jusqu'à ce que le service l'ait relu (il le dit dans son journal)
            statuts.append(requests.get(service.url + "/acces", headers=assertion(nouveau), timeout=30).status_code)
            if "fichier d'accès modifié mais invalide" in service.journal_serveur():
                break
            time.sleep(1)
        assert "fichier d'accès modifié mais invalide" in service.journal_serveur()
        assert requests.get(service.url + "/acces", headers=assertion(nouveau), timeout=30).status_code == 200
    finally:
        service.acces.write_text(texte, encoding="utf-8")


def test_requete_d_un_autre_site_refusee_meme_avec_une_assertion_valide(service, exemple):
    """IAP ajoute l'assertion à toute requête du navigateur, même lancée par un autre site : l'origine est vérifiée."""
    corps = {**exemple, "school": "GP", "user_id": "eleve-csrf"}
    for entetes in ({"Origin": "https://attaquant.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "null", "Sec-Fetch-Site": "cross-site"}):
        reponse = requests.post(service.url + "/predire", json=corps, headers={**assertion(CONSEIL), **entetes},
                                timeout=30)
        assert reponse.status_code == 403, (entetes, reponse.text)
    meme_origine = requests.post(service.url + "/predire", json=corps, timeout=30, headers={
        **assertion(CONSEIL), "Origin": service.url, "Sec-Fetch-Site": "same-origin"})
    assert meme_origine.status_code == 200, meme_origine.text


def test_mode_local_la_page_le_dit_et_demande_le_jeton(serveur):
    page = requests.get(serveur.url + "/classe", timeout=30)
    assert page.status_code == 200 and "Mode local (mono-utilisateur)" in page.text
    assert '<form id="form-jeton" class="pile">' in page.text and 'name="csrf"' not in page.text


def test_cles_injoignables_503_jamais_500(demarrer_serveur, tmp_path):
    acces = tmp_path / "acces.toml"
    shutil.copy(RACINE / "test" / "acces_essai.toml", acces)
    ferme = f"http://127.0.0.1:{port_libre()}/cles.json"  # aucun serveur n'y écoute
    instance = demarrer_serveur(workers=1, env={"IAP_AUDIENCE": AUDIENCE, "IAP_CLES_URL": ferme,
                                                "ACCES_FICHIER": str(acces)}).attendre()
    reponse = requests.post(instance.url + "/historique", json={"user_id": "eleve-1"}, headers=assertion(CONSEIL),
                            timeout=30)
    assert reponse.status_code == 503 and "injoignables" in reponse.json()["erreur"]
    assert reponse.headers["Retry-After"] == "30"

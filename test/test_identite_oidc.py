"""Mode OpenID Connect contre un vrai fournisseur : le paquet certifié ``oidc-provider`` (npm), sur le Node de
Debian, lancé ici (test/fournisseur_oidc/, installé par ``npm ci`` au premier usage). Chromium se connecte par
le code d'autorisation avec PKCE et atteint /classe ; la déconnexion ferme la session (cookie rejoué refusé) ;
les appels qui changent l'état exigent le jeton anti-CSRF et la même origine ; les jetons d'identité cassés
présentés en Bearer reçoivent 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import time
import uuid

import pytest
import requests

from app.stockage.enregistrement import empreinte_utilisateur
from test.cles_essai import PaireCles, revendications, sans_signature
from test.conftest import ACTIVER_CI, RACINE, Serveur, port_libre, sauter
from test.test_page_classe import attendre, navigateur, telechargements  # noqa: F401 - fixtures partagées

selenium = pytest.importorskip("selenium", reason="selenium absent ; pour l'activer : make tests")
from selenium.webdriver.common.by import By  # noqa: E402

DOSSIER = RACINE / "test" / "fournisseur_oidc"
CLIENT, SECRET = "prediction-etudiante", "secret-client-essai-" + "s" * 32
CONSEIL, DPO = "conseil.gp@lycee.example", "dpo@academie.example"
CLES = PaireCles("RS256", kid="cle-fournisseur")


def installer_fournisseur() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        sauter("node ou npm absent", f"apt-get install -y nodejs npm, {ACTIVER_CI}")
    if not (DOSSIER / "node_modules" / "oidc-provider").is_dir():
        sortie = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=DOSSIER, capture_output=True, text=True,
                                timeout=600)
        assert sortie.returncode == 0, sortie.stderr[-2000:]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    installer_fournisseur()
    dossier = tmp_path_factory.mktemp("oidc")
    port = port_libre()
    emetteur = f"http://127.0.0.1:{port}"
    acces = dossier / "acces.toml"
    shutil.copy(RACINE / "test" / "acces_essai.toml", acces)
    instance = Serveur(dossier / "service", workers=1, env={
        "OIDC_ISSUER": emetteur, "OIDC_CLIENT_ID": CLIENT, "OIDC_CLIENT_SECRET": SECRET, "ACCES_FICHIER": str(acces),
        "SESSION_SECRET": "secret-de-session-essai-" + "x" * 32}).attendre()
    reglages = dossier / "fournisseur.json"
    reglages.write_text(json.dumps({
        "port": port, "cle_privee": CLES.jwk_prive, "cle_cookies": uuid.uuid4().hex,
        "clients": [{"client_id": CLIENT, "client_secret": SECRET, "redirect_uris": [instance.url + "/connexion/retour"],
                     "grant_types": ["authorization_code"], "response_types": ["code"],
                     "token_endpoint_auth_method": "client_secret_basic"}]}))
    journal = open(dossier / "fournisseur.log", "wb")
    fournisseur = subprocess.Popen(["node", str(DOSSIER / "fournisseur.js"), str(reglages)], cwd=DOSSIER,
                                   stdout=journal, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                if requests.get(emetteur + "/.well-known/openid-configuration", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("le fournisseur OpenID ne répond pas : " + (dossier / "fournisseur.log").read_text()[-2000:])
        instance.emetteur = emetteur
        yield instance
    finally:
        fournisseur.terminate()
        fournisseur.wait(10)
        journal.close()
        instance.arreter()


def se_connecter(navigateur, service, adresse):  # noqa: F811 - fixture importée
    navigateur.delete_all_cookies()
    navigateur.get(service.url + "/classe")
    attendre(navigateur, lambda: navigateur.current_url.startswith(service.emetteur))  # chez le fournisseur
    navigateur.find_element(By.NAME, "login").send_keys(adresse)
    navigateur.find_element(By.NAME, "password").send_keys("mot de passe connu du seul fournisseur")
    navigateur.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    attendre(navigateur, lambda: navigateur.current_url.startswith(service.url) or
             navigateur.find_elements(By.CSS_SELECTOR, "input[name=prompt][value=consent]"))
    if not navigateur.current_url.startswith(service.url):
        navigateur.find_element(By.CSS_SELECTOR, "button[type=submit]").click()  # consentement
    attendre(navigateur, lambda: navigateur.current_url == service.url + "/classe")
    attendre(navigateur, lambda: navigateur.find_element(By.ID, "identite").is_displayed())


def session_http(navigateur, service) -> requests.Session:  # noqa: F811
    """Les cookies du navigateur (session signée) dans un client HTTP, pour rejouer ses requêtes."""
    client = requests.Session()
    for cookie in navigateur.get_cookies():
        if cookie["domain"] in ("127.0.0.1", ".127.0.0.1"):
            client.cookies.set(cookie["name"], cookie["value"])
    return client


def test_chromium_se_connecte_atteint_la_classe_et_la_deconnexion_ferme_la_session(service, navigateur):  # noqa: F811
    se_connecter(navigateur, service, CONSEIL)
    bandeau = navigateur.find_element(By.ID, "identite").text
    assert CONSEIL in bandeau and "conseiller" in bandeau and "GP" in bandeau
    assert not navigateur.find_element(By.ID, "form-jeton").is_displayed()  # aucun jeton demandé
    cookie = next(c for c in navigateur.get_cookies() if c["name"] == "session_prediction")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # boucle locale : pas Secure
    client = session_http(navigateur, service)
    csrf = navigateur.find_element(By.CSS_SELECTOR, 'meta[name="csrf"]').get_attribute("content")
    assert client.post(service.url + "/historique", json={"user_id": "eleve-1"}, timeout=30,
                       headers={"X-CSRF-Token": csrf}).status_code == 200

    # La page envoie une prédiction (appel qui change l'état : jeton anti-CSRF posé par classe.js).
    statut = navigateur.execute_async_script("""
        const fin = arguments[arguments.length - 1];
        fetch('/historique', {method: 'POST', headers: {'Content-Type': 'application/json',
              'X-CSRF-Token': document.querySelector('meta[name="csrf"]').content},
              body: JSON.stringify({user_id: 'eleve-2'})}).then(r => fin(r.status));""")
    assert statut == 200

    navigateur.find_element(By.CSS_SELECTOR, "#form-deconnexion button").click()
    attendre(navigateur, lambda: "Déconnecté" in navigateur.page_source)
    # Le cookie d'avant la déconnexion, rejoué, n'ouvre plus rien.
    assert client.post(service.url + "/historique", json={"user_id": "eleve-1"}, timeout=30,
                       headers={"X-CSRF-Token": csrf}).status_code == 401
    page = client.get(service.url + "/classe", allow_redirects=False, timeout=30)
    assert page.status_code == 302 and page.headers["Location"].endswith("/connexion")


def test_appels_qui_changent_l_etat_proteges_contre_les_requetes_d_un_autre_site(service, navigateur, exemple):  # noqa: F811
    se_connecter(navigateur, service, CONSEIL)
    client = session_http(navigateur, service)
    csrf = navigateur.find_element(By.CSS_SELECTOR, 'meta[name="csrf"]').get_attribute("content")
    eleve = {**exemple, "school": "GP", "user_id": "eleve-csrf"}
    sans = client.post(service.url + "/predire", json=eleve, timeout=30)
    assert sans.status_code == 403 and "CSRF" in sans.json()["erreur"]
    mauvais = client.post(service.url + "/predire", json=eleve, headers={"X-CSRF-Token": "x" * 43}, timeout=30)
    assert mauvais.status_code == 403
    ailleurs = client.post(service.url + "/predire", json=eleve, timeout=30,
                           headers={"X-CSRF-Token": csrf, "Origin": "https://attaquant.example"})
    assert ailleurs.status_code == 403 and "origine" in ailleurs.json()["erreur"]
    autre_site = client.post(service.url + "/predire", json=eleve, timeout=30,
                             headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"})
    assert autre_site.status_code == 403
    bon = client.post(service.url + "/predire", json=eleve, timeout=30,
                      headers={"X-CSRF-Token": csrf, "Origin": service.url})
    assert bon.status_code == 200, bon.text
    ms = client.post(service.url + "/predire", json={**eleve, "school": "MS"}, headers={"X-CSRF-Token": csrf}, timeout=30)
    assert ms.status_code == 403  # pas de son école


def jeton(**changements) -> str:
    return CLES.signer({**revendications("", CLIENT, CONSEIL), **changements})


def hs256_cle_publique(charge: dict) -> str:
    """Confusion d'algorithmes : HMAC dont le secret est la clé publique du fournisseur (PyJWT refuse d'en
    écrire un : il est forgé ici à la main, comme le ferait un attaquant)."""
    def b64(octets: bytes) -> str:
        return base64.urlsafe_b64encode(octets).rstrip(b"=").decode()

    signe = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": CLES.kid}).encode()) + "." + b64(json.dumps(charge).encode())
    return signe + "." + b64(hmac.new(json.dumps(CLES.jwk_public).encode(), signe.encode(), hashlib.sha256).digest())


def test_jetons_d_identite_en_bearer(service):
    def appel(valeur):
        return requests.post(service.url + "/historique", json={"user_id": "eleve-1"},
                             headers={"Authorization": "Bearer " + valeur}, timeout=30)

    bon = appel(jeton(iss=service.emetteur))
    assert bon.status_code == 200, bon.text  # signé par la clé du fournisseur, pour ce client : accepté
    cas = {
        "mauvaise audience": jeton(iss=service.emetteur, aud="https://ailleurs.example"),
        "expiré": jeton(iss=service.emetteur, exp=1_700_000_000, iat=1_699_999_000),
        "mauvaise signature": PaireCles("RS256", kid="cle-fournisseur").signer(
            revendications(service.emetteur, CLIENT, CONSEIL)),
        "mauvais émetteur": jeton(iss="https://autre-fournisseur.example"),
        "alg none": sans_signature(revendications(service.emetteur, CLIENT, CONSEIL)),
        "jeton d'un autre client": jeton(iss=service.emetteur, aud=[CLIENT, "autre-client"], azp="autre-client"),
        "HS256 avec la clé publique": hs256_cle_publique(revendications(service.emetteur, CLIENT, CONSEIL)),
    }
    for nom, valeur in cas.items():
        reponse = appel(valeur)
        assert reponse.status_code == 401, (nom, reponse.text)
        assert reponse.json()["erreur"].startswith("jeton d'identité refusé")


def test_la_page_lit_et_efface_sans_jeton_avec_l_anti_csrf_et_le_journal_le_note(service, navigateur, exemple):  # noqa: F811
    """Connecté, le conseiller cherche un élève et l'efface depuis la page (classe.js pose X-CSRF-Token) ; le
    dpo, par un jeton d'identité du fournisseur, lit les deux accès au journal, une fois chacun."""
    se_connecter(navigateur, service, CONSEIL)
    client = session_http(navigateur, service)
    csrf = navigateur.find_element(By.CSS_SELECTOR, 'meta[name="csrf"]').get_attribute("content")
    eleve = f"eleve-page-{uuid.uuid4().hex[:8]}"
    assert client.post(service.url + "/predire", json={**exemple, "school": "GP", "user_id": eleve},
                       headers={"X-CSRF-Token": csrf}, timeout=30).status_code == 200
    navigateur.get(service.url + "/classe#historique")
    attendre(navigateur, lambda: navigateur.find_element(By.ID, "panneau-historique").is_displayed())
    navigateur.find_element(By.ID, "user-id").send_keys(eleve)
    navigateur.find_element(By.CSS_SELECTOR, "#form-historique button[type=submit]").click()
    table = navigateur.find_element(By.ID, "table-historique")
    attendre(navigateur, table.is_displayed)
    assert table.get_attribute("data-lignes") == "1"
    navigateur.find_element(By.ID, "effacer").click()
    navigateur.find_element(By.ID, "confirmer-effacement").click()
    attendre(navigateur, lambda: "effacé" in navigateur.find_element(By.ID, "etat-historique").text)

    dpo = {"Authorization": "Bearer " + jeton(iss=service.emetteur, email=DPO, sub=DPO)}
    journal = requests.get(service.url + "/acces", params={"qui": CONSEIL}, headers=dpo, timeout=30)
    assert journal.status_code == 200, journal.text
    routes = [l["route"] for l in journal.json()["acces"] if l["empreinte"] == empreinte_utilisateur(eleve)]
    assert len(routes) == 2 and routes[1] in ("DELETE /predictions/user/<user_id>", "POST /effacement"), routes
    assert eleve not in journal.text
    assert requests.get(service.url + "/acces", headers={"Authorization": "Bearer " + jeton(iss=service.emetteur)},
                        timeout=30).status_code == 403  # un conseiller ne lit pas le journal des accès

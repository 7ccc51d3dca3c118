"""Issue 28 (B5) : un X-Request-ID choisi par un appelant anonyme ne dit plus s'il existe.

Dès qu'un justificatif existe (API_TOKEN ici), seul un appelant identifié choisit l'identifiant conservé :
l'appelant anonyme reçoit le même 400 que l'identifiant soit pris ou neuf (plus de 409 pour lui), en HTTP
(chemin direct, vue Flask, lots) comme en gRPC. Sans justificatif configuré, rien ne change."""

from __future__ import annotations

import grpc
import pytest
import requests

from test.conftest import contenu_journal
from test.test_rpc import demarrer_deux_canaux, message, violations

JETON = "jeton-identifiant-choisi-" + "y" * 32
AUTORISE = {"Authorization": f"Bearer {JETON}"}


@pytest.fixture(scope="module")
def deux_canaux_avec_jeton(tmp_path_factory):
    with demarrer_deux_canaux(tmp_path_factory.mktemp("identifiant-choisi"), {"API_TOKEN": JETON}) as canaux:
        yield canaux


def _predire(url: str, exemple: dict, **entetes) -> requests.Response:
    return requests.post(url + "/predire", json={**exemple, "user_id": "eleve-b5"}, headers=entetes, timeout=10)


def test_http_anonyme_meme_400_que_l_identifiant_soit_pris_ou_neuf(deux_canaux_avec_jeton, exemple):
    http, _ = deux_canaux_avec_jeton
    assert _predire(http.url, exemple, **{"X-Request-ID": "b5-pris-1"}, **AUTORISE).status_code == 200
    lignes_avant = contenu_journal(http.journal).count("\n")
    pris = _predire(http.url, exemple, **{"X-Request-ID": "b5-pris-1"})
    neuf = _predire(http.url, exemple, **{"X-Request-ID": "b5-neuf-1"})
    for reponse in (pris, neuf):
        assert reponse.status_code == 400, reponse.text
        assert reponse.json()["details"][0]["champ"] == "X-Request-ID"
        assert "identifiés" in reponse.json()["details"][0]["message"]
    assert pris.json() == neuf.json()  # rien ne distingue l'identifiant pris du neuf
    assert contenu_journal(http.journal).count("\n") == lignes_avant  # rien de servi ni d'écrit
    # Le même identifiant neuf, avec le jeton : servi (le 400 n'a rien réservé) ; puis réutilisé : 409.
    assert _predire(http.url, exemple, **{"X-Request-ID": "b5-neuf-1"}, **AUTORISE).status_code == 200
    doublon = _predire(http.url, exemple, **{"X-Request-ID": "b5-neuf-1"}, **AUTORISE)
    assert doublon.status_code == 409 and doublon.json()["details"][0]["champ"] == "X-Request-ID"


def test_http_anonyme_sans_identifiant_servi_et_jeton_faux_refuse(deux_canaux_avec_jeton, exemple):
    http, _ = deux_canaux_avec_jeton
    servi = _predire(http.url, exemple)
    assert servi.status_code == 200 and len(servi.headers["X-Request-ID"]) == 32  # généré
    faux = _predire(http.url, exemple, Authorization="Bearer " + JETON[:-1])
    assert faux.status_code == 401 and "WWW-Authenticate" in faux.headers


def test_http_lot_anonyme_avec_identifiant_refuse(deux_canaux_avec_jeton, exemple):
    http, _ = deux_canaux_avec_jeton
    corps = [exemple, exemple]
    anonyme = requests.post(http.url + "/predire/lot", json=corps, headers={"X-Request-ID": "b5-lot"}, timeout=10)
    assert anonyme.status_code == 400 and anonyme.json()["details"][0]["champ"] == "X-Request-ID"
    identifie = requests.post(http.url + "/predire/lot", json=corps, headers={"X-Request-ID": "b5-lot", **AUTORISE},
                              timeout=10)
    assert identifie.status_code == 200 and identifie.json()["resultats"][1]["request_id"] == "b5-lot-2"


def test_grpc_anonyme_meme_refus_que_l_identifiant_soit_pris_ou_neuf(deux_canaux_avec_jeton, exemple):
    _, rpc = deux_canaux_avec_jeton
    requete = message({**exemple, "user_id": "eleve-b5"})
    jeton = ("authorization", f"Bearer {JETON}")
    reponse = rpc.stub.Predire(requete, metadata=(("x-request-id", "b5-grpc-pris"), jeton), timeout=10)
    assert reponse.request_id == "b5-grpc-pris"
    refus = []
    for identifiant in ("b5-grpc-pris", "b5-grpc-neuf"):
        with pytest.raises(grpc.RpcError) as erreur:
            rpc.stub.Predire(requete, metadata=(("x-request-id", identifiant),), timeout=10)
        assert erreur.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        refus.append((erreur.value.details(), violations(erreur.value)))
    assert refus[0] == refus[1] and refus[0][1][0]["champ"] == "x-request-id"
    with pytest.raises(grpc.RpcError) as erreur:  # identifié, l'identifiant pris : ALREADY_EXISTS
        rpc.stub.Predire(requete, metadata=(("x-request-id", "b5-grpc-pris"), jeton), timeout=10)
    assert erreur.value.code() == grpc.StatusCode.ALREADY_EXISTS
    # Anonyme sans identifiant : servi, identifiant généré.
    assert len(rpc.stub.Predire(requete, timeout=10).request_id) == 32
    flux = rpc.stub.PredireFlux(iter([requete]), metadata=(("x-request-id", "b5-flux"),), timeout=10)
    with pytest.raises(grpc.RpcError) as erreur:
        list(flux)
    assert erreur.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_grpc_jeton_faux_refuse_puis_essais_limites(deux_canaux_avec_jeton, exemple):
    _, rpc = deux_canaux_avec_jeton
    requete = message(exemple)
    codes = []
    for _ in range(11):
        with pytest.raises(grpc.RpcError) as erreur:
            rpc.stub.Predire(requete, metadata=(("authorization", "Bearer pas-le-bon"),), timeout=10)
        codes.append(erreur.value.code())
    assert codes[:10] == [grpc.StatusCode.UNAUTHENTICATED] * 10
    assert codes[10] == grpc.StatusCode.RESOURCE_EXHAUSTED  # JETON_ESSAIS_MAX = 10 par défaut


def test_sans_justificatif_configure_le_choix_reste_permis(serveur, exemple):
    """Mode local sans API_TOKEN : personne ne peut s'identifier ni relire ; l'identifiant choisi reste servi."""
    assert _predire(serveur.url, exemple, **{"X-Request-ID": "b5-local"}).status_code == 200
    assert _predire(serveur.url, exemple, **{"X-Request-ID": "b5-local"}).status_code == 409

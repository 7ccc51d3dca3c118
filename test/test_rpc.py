"""Le serveur gRPC (``python -m app.rpc``) lancé pour de vrai sur la boucle locale, à côté d'un vrai gunicorn :
même noyau, mêmes probabilités, mêmes règles de validation, mêmes enregistrements (canal compris),
santé standard, réflexion, arrêt propre sur SIGTERM."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from google.protobuf import descriptor_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_status import rpc_status
from sqlalchemy import text

from app.modele.pipeline import en_tableau
from app.modele.schema import CATEGORIES, CHAMPS, NOTES
from app.rpc import prediction_pb2 as pb
from app.rpc import prediction_pb2_grpc
from app.rpc.serveur import SERVICE
from test.conftest import RACINE, Serveur, port_libre

RETIREES = {"A": (), "B": ("G2",), "C": ("G1", "G2")}


class ServeurGrpc:
    """``python -m app.rpc`` sur 127.0.0.1, avec le journal et la base qu'on lui donne."""

    def __init__(self, dossier: Path, env: dict):
        dossier.mkdir(parents=True, exist_ok=True)
        self.port = port_libre()
        self.adresse = f"127.0.0.1:{self.port}"
        self.sortie = dossier / "grpc.log"
        self._fichier = open(self.sortie, "wb")
        environnement = {**os.environ, "DATABASE_URL": "", "API_TOKEN": "", **env}
        self.processus = subprocess.Popen([sys.executable, "-m", "app.rpc", "--adresse", self.adresse], cwd=RACINE,
                                          env=environnement, stdout=self._fichier, stderr=subprocess.STDOUT)
        self.canal = grpc.insecure_channel(self.adresse)
        self.stub = prediction_pb2_grpc.PredictionStub(self.canal)
        self.sante = health_pb2_grpc.HealthStub(self.canal)

    def statut_sante(self, service: str = "") -> int | None:
        try:
            return self.sante.Check(health_pb2.HealthCheckRequest(service=service), timeout=1).status
        except grpc.RpcError:
            return None

    def attendre(self, delai: float = 60.0) -> "ServeurGrpc":
        limite = time.monotonic() + delai
        while time.monotonic() < limite:
            if self.processus.poll() is not None:
                raise RuntimeError(f"app.rpc s'est arrêté (code {self.processus.returncode}) : {self.journal_serveur()}")
            if self.statut_sante() == health_pb2.HealthCheckResponse.SERVING:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"app.rpc ne répond pas : {self.journal_serveur()}")

    def journal_serveur(self) -> str:
        self._fichier.flush()
        return self.sortie.read_text(errors="replace")[-3000:]

    def arreter(self) -> None:
        self.canal.close()
        if self.processus.poll() is None:
            self.processus.send_signal(signal.SIGTERM)
            try:
                self.processus.wait(15)
            except subprocess.TimeoutExpired:
                self.processus.kill()
                self.processus.wait()
        self._fichier.close()


@contextlib.contextmanager
def demarrer_deux_canaux(dossier: Path, env: dict | None = None):
    """Un gunicorn et un serveur gRPC qui partagent le journal et la base SQLite (et ``env``)."""
    http = Serveur(dossier / "http", env=env).attendre()
    rpc = ServeurGrpc(dossier / "grpc", {"JOURNAL_CHEMIN": str(http.journal), "BASE_SQLITE_CHEMIN": str(http.base),
                                         **(env or {})})
    try:
        rpc.attendre()
        yield http, rpc
    finally:
        rpc.arreter()
        http.arreter()


@pytest.fixture(scope="module")
def deux_canaux(tmp_path_factory):
    with demarrer_deux_canaux(tmp_path_factory.mktemp("deux-canaux")) as canaux:
        yield canaux


def message(document: dict) -> pb.DemandePrediction:
    return pb.DemandePrediction(**{k: v for k, v in document.items() if v is not None})


def lignes_du_fichier(jeu, configuration: str) -> list[dict]:
    return [{k: v for k, v in ligne.items() if k not in RETIREES[configuration]}
            for ligne in jeu.X.to_dict(orient="records")]


def violations(erreur: grpc.RpcError) -> list[dict]:
    statut = rpc_status.from_call(erreur)
    assert statut is not None, "statut riche (grpc-status-details-bin) absent"
    assert len(statut.details) == 1 and statut.details[0].Is(error_details_pb2.BadRequest.DESCRIPTOR)
    requete = error_details_pb2.BadRequest()
    statut.details[0].Unpack(requete)
    return [{"champ": v.field, "message": v.description} for v in requete.field_violations]


# --- contrat -------------------------------------------------------------------------------------

def test_le_message_a_les_32_champs_et_les_types_du_json():
    champs = pb.DemandePrediction.DESCRIPTOR.fields
    assert [c.name for c in champs] == [*CHAMPS, "user_id"]
    for champ in champs[:32]:
        attendu = champ.TYPE_STRING if champ.name in CATEGORIES else champ.TYPE_INT32
        assert champ.type == attendu, champ.name
        assert champ.has_presence == (champ.name in NOTES), f"{champ.name} : seuls G1 et G2 sont optional"
    assert champs[32].type == champs[32].TYPE_STRING and champs[32].has_presence


# --- même noyau que HTTP --------------------------------------------------------------------------

@pytest.mark.parametrize("configuration", ["A", "B", "C"])
def test_memes_probabilites_que_http_pour_chaque_ligne_du_fichier(deux_canaux, jeu, configuration):
    http, rpc = deux_canaux
    lignes = lignes_du_fichier(jeu, configuration)
    session = requests.Session()

    def par_http(ligne):
        reponse = session.post(http.url + "/predire", json=ligne, timeout=60)
        assert reponse.status_code == 200
        return reponse.json()["resultats"]

    with ThreadPoolExecutor(max_workers=4) as executeur:
        attendues = list(executeur.map(par_http, lignes))
        unaires = list(executeur.map(lambda ligne: rpc.stub.Predire(message(ligne), timeout=60), lignes))
    en_flux = list(rpc.stub.PredireFlux(iter([message(ligne) for ligne in lignes]), timeout=120))
    assert len(unaires) == len(en_flux) == len(attendues) == len(jeu.X)
    for attendue, unaire, flux in zip(attendues, unaires, en_flux):
        for obtenue in (unaire, flux):
            assert pb.Configuration.Name(obtenue.configuration) == f"CONFIGURATION_{attendue['configuration']}" \
                == f"CONFIGURATION_{configuration}"
            assert obtenue.probabilite_echec == attendue["probabilite_echec"]  # mêmes flottants, pas une approximation
            assert obtenue.probabilite_reussite == attendue["probabilite_reussite"]
            assert obtenue.seuil == attendue["seuil"]
            assert obtenue.prediction == attendue["prediction"] and obtenue.libelle == attendue["libelle"]
            # Une seule représentation d'un facteur : valeur en texte, effet en énumération de mêmes noms.
            assert [(f.champ, f.valeur, pb.Effet.Name(f.effet), f.contribution, f.texte) for f in obtenue.explication] \
                == [(f["champ"], f["valeur"], "EFFET_" + f["effet"].upper(), f["contribution"], f["texte"])
                    for f in attendue["explication"]]


@pytest.mark.parametrize("configuration", ["A", "B", "C"])
def test_pretraitement_egal_au_column_transformer_pour_chaque_ligne(deux_canaux, jeu, artefacts_livres, configuration):
    """``POST /pretraitement`` et ``Pretraiter`` (encodage du modèle compilé, sans scikit-learn) rendent la
    sortie du ``ColumnTransformer`` du pipeline livré, colonne par colonne et nom par nom."""
    http, rpc = deux_canaux
    preparation = artefacts_livres.modele["configurations"][configuration]["pipeline"][0]
    lignes = lignes_du_fichier(jeu, configuration)
    attendues = preparation.transform(en_tableau(lignes, configuration))
    noms = [str(n) for n in preparation.get_feature_names_out()]
    session = requests.Session()
    for ligne, attendue in zip(lignes, attendues):
        corps = session.post(http.url + "/pretraitement", json=ligne, timeout=60).json()
        obtenu = rpc.stub.Pretraiter(message(ligne), timeout=60)
        assert f"CONFIGURATION_{corps['configuration']}" == pb.Configuration.Name(obtenu.configuration) \
            == f"CONFIGURATION_{configuration}"
        assert corps["variables"] == list(obtenu.variables) == noms
        assert np.array_equal(np.array(corps["valeurs"]), attendue)
        assert np.array_equal(np.array(obtenu.valeurs), attendue)


def test_meme_journal_et_meme_base_une_ligne_chacun_avec_son_canal(deux_canaux, exemple):
    from app.stockage.magasin import MagasinResultats

    http, rpc = deux_canaux
    id_http, id_grpc = f"http-{uuid.uuid4().hex}", f"grpc-{uuid.uuid4().hex}"
    assert requests.post(http.url + "/predire", json={**exemple, "user_id": "eleve-canaux"},
                         headers={"X-Request-ID": id_http}, timeout=30).status_code == 200
    reponse, appel = rpc.stub.Predire.with_call(message({**exemple, "user_id": "eleve-canaux"}), timeout=30,
                                                metadata=(("x-request-id", id_grpc),))
    assert reponse.request_id == id_grpc and reponse.user_id == "eleve-canaux"
    assert ("x-request-id", id_grpc) in tuple(appel.trailing_metadata())
    lignes = [l for l in http.lignes_journal() if l["request_id"] in (id_http, id_grpc)]
    assert sorted((l["request_id"], l["canal"]) for l in lignes) == sorted([(id_http, "http"), (id_grpc, "grpc")])
    assert lignes[0].keys() == lignes[1].keys()
    magasin = MagasinResultats(f"sqlite:///{http.base}")
    try:  # journal d'abord : la base suit chaque serveur de quelques millisecondes (plus sur une machine chargée)
        fin = time.monotonic() + 10
        while None in (conservees := {i: magasin.lire(i) for i in (id_http, id_grpc)}).values() and \
                time.monotonic() < fin:
            time.sleep(0.05)
    finally:
        magasin.moteur.dispose()
    assert conservees[id_http]["canal"] == "http" and conservees[id_grpc]["canal"] == "grpc"
    assert conservees[id_http]["probabilite_echec"] == conservees[id_grpc]["probabilite_echec"] == \
        reponse.probabilite_echec
    # Le même request_id une seconde fois : ALREADY_EXISTS (le 409 de HTTP), rien de plus n'est conservé.
    with pytest.raises(grpc.RpcError) as refus:
        rpc.stub.Predire(message(exemple), timeout=30, metadata=(("x-request-id", id_grpc),))
    assert refus.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert sum(l["request_id"] == id_grpc for l in http.lignes_journal()) == 1


# --- mêmes règles que la réponse 400 ----------------------------------------------------------------

def _sans(document: dict, *champs: str) -> dict:
    return {k: v for k, v in document.items() if k not in champs}


@pytest.mark.parametrize("modification", [
    lambda e: {**e, "age": 40},
    lambda e: {**e, "sex": "X", "Medu": 7, "G1": 25},
    lambda e: _sans(e, "school", "Mjob"),
    lambda e: {**e, "traveltime": 0, "health": -1},
    lambda e: {**e, "user_id": "pas un identifiant !"},
    lambda e: {**_sans(e, "G1"), "famrel": 9},
], ids=["age", "plusieurs", "manquants", "bornes", "user_id", "G2-seule"])
def test_entree_invalide_invalid_argument_comme_le_400(deux_canaux, exemple, modification):
    http, rpc = deux_canaux
    document = modification(exemple)
    reponse = requests.post(http.url + "/predire", json=document, timeout=30)
    assert reponse.status_code == 400
    for appel in (lambda: rpc.stub.Predire(message(document), timeout=30),
                  lambda: rpc.stub.Pretraiter(message(document), timeout=30)):
        with pytest.raises(grpc.RpcError) as erreur:
            appel()
        assert erreur.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert erreur.value.details() == reponse.json()["erreur"]
        assert violations(erreur.value) == reponse.json()["details"]


def test_flux_un_message_invalide_termine_le_flux_apres_avoir_servi_les_precedents(deux_canaux, exemple):
    http, rpc = deux_canaux
    identifiant = f"flux-{uuid.uuid4().hex[:12]}"
    messages = [message(exemple)] * 3 + [message({**exemple, "sex": "X"})] + [message(exemple)]
    recues = []
    with pytest.raises(grpc.RpcError) as erreur:
        for r in rpc.stub.PredireFlux(iter(messages), timeout=60, metadata=(("x-request-id", identifiant),)):
            recues.append(r.request_id)
    assert erreur.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Le 4e message, nommé comme l'« element » 4 d'une erreur de lot HTTP : un chemin de champ.
    assert violations(erreur.value) == [{"champ": "eleves[4].sex",
                                         "message": "valeur non permise 'X' ; valeurs permises : F, M"}]
    assert erreur.value.details().startswith("message 4 : ")
    assert ("x-request-id", identifiant) in tuple(erreur.value.trailing_metadata())  # refusé : relu quand même
    assert recues == [f"{identifiant}-{rang}" for rang in (1, 2, 3)]
    conservees = sorted(l["request_id"] for l in http.lignes_journal() if l["request_id"].startswith(identifiant))
    assert conservees == recues


def test_flux_x_request_id_dans_les_metadonnees_de_fin(deux_canaux, exemple):
    _, rpc = deux_canaux
    identifiant = f"flux-{uuid.uuid4().hex[:12]}"
    appel = rpc.stub.PredireFlux(iter([message(exemple)] * 2), timeout=60, metadata=(("x-request-id", identifiant),))
    assert [r.request_id for r in appel] == [f"{identifiant}-1", f"{identifiant}-2"]
    assert ("x-request-id", identifiant) in tuple(appel.trailing_metadata())
    sans = rpc.stub.PredireFlux(iter([message(exemple)]), timeout=60)
    genere = next(iter(sans)).request_id
    assert ("x-request-id", genere.rsplit("-", 1)[0]) in tuple(sans.trailing_metadata())


def test_champ_inconnu_refuse_comme_une_cle_en_trop(deux_canaux, exemple):
    """Un message d'une autre version du .proto (champ n° 34 inconnu ici) : INVALID_ARGUMENT, comme une clé en
    trop dans le JSON de /predire ; le détail nomme le numéro du champ."""
    _, rpc = deux_canaux
    predire_brut = rpc.canal.unary_unary(f"/{SERVICE}/Predire", request_serializer=lambda octets: octets,
                                         response_deserializer=pb.ReponsePrediction.FromString)
    with pytest.raises(grpc.RpcError) as erreur:
        predire_brut(message(exemple).SerializeToString() + bytes([0x90, 0x02, 0x01]), timeout=30)  # champ 34 = 1
    assert erreur.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v["champ"] for v in violations(erreur.value)] == ["champ n° 34"]
    assert predire_brut(message(exemple).SerializeToString(), timeout=30).configuration == pb.CONFIGURATION_A


def test_x_request_id_invalide(deux_canaux, exemple):
    _, rpc = deux_canaux
    with pytest.raises(grpc.RpcError) as erreur:
        rpc.stub.Predire(message(exemple), timeout=30, metadata=(("x-request-id", "pas valide !"),))
    assert erreur.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v["champ"] for v in violations(erreur.value)] == ["x-request-id"]


# --- santé standard, réflexion ----------------------------------------------------------------------

@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflexion_v1_et_v1alpha_decrivent_le_service_la_sante_et_elles_memes(deux_canaux, version):
    """Les deux versions de la réflexion (messages identiques octet pour octet : mêmes talons)."""
    _, rpc = deux_canaux
    info = rpc.canal.stream_stream(f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
                                   request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                   response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    requetes = [reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE)]
    liste, fichier = list(info(iter(requetes), timeout=30))
    assert {s.name for s in liste.list_services_response.service} == {
        SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection"}
    descripteur = descriptor_pb2.FileDescriptorProto.FromString(fichier.file_descriptor_response.file_descriptor_proto[0])
    assert [m.name for m in descripteur.service[0].method] == ["Predire", "PredireFlux", "Pretraiter"]
    assert {e.name for e in descripteur.enum_type} == {"ClassePredite", "Configuration", "Effet"}


def test_sante_not_serving_tant_que_le_modele_n_est_pas_charge(tmp_path, exemple):
    """Sans cache compilé inscriptible, le démarrage compile le modèle (scikit-learn, quelques secondes) : le
    port répond déjà, NOT_SERVING et UNAVAILABLE, puis SERVING une fois le modèle chargé."""
    lecture_seule = tmp_path / "lecture-seule"
    lecture_seule.mkdir()
    rpc = ServeurGrpc(tmp_path / "grpc", {"JOURNAL_CHEMIN": str(tmp_path / "j.jsonl"),
                                          "BASE_SQLITE_CHEMIN": str(tmp_path / "r.sqlite3"),
                                          "MODELE_COMPILE_CHEMIN": str(lecture_seule / "absent" / "m.npz")})
    try:
        vus, refus = [], []
        limite = time.monotonic() + 120
        while time.monotonic() < limite and health_pb2.HealthCheckResponse.SERVING not in vus:
            statut = rpc.statut_sante(SERVICE)
            if statut is not None and (not vus or vus[-1] != statut):
                vus.append(statut)
            if statut == health_pb2.HealthCheckResponse.NOT_SERVING and not refus:
                try:
                    rpc.stub.Predire(message(exemple), timeout=5)
                    refus.append(None)
                except grpc.RpcError as erreur:
                    refus.append(erreur.code())
            assert rpc.processus.poll() is None, rpc.journal_serveur()
            time.sleep(0.01)
        assert vus == [health_pb2.HealthCheckResponse.NOT_SERVING, health_pb2.HealthCheckResponse.SERVING]
        assert refus == [grpc.StatusCode.UNAVAILABLE]
        assert rpc.stub.Predire(message(exemple), timeout=30).configuration == pb.CONFIGURATION_A
    finally:
        rpc.arreter()


def test_sigterm_termine_les_appels_en_cours_avant_10_s(tmp_path, exemple, mesurer):
    """Un flux ouvert au moment du SIGTERM reçoit toutes ses réponses ; les appels nouveaux sont refusés ; le
    processus sort avec le code 0 (comme gunicorn, dans le délai de Cloud Run)."""
    rpc = ServeurGrpc(tmp_path / "grpc", {"JOURNAL_CHEMIN": str(tmp_path / "j.jsonl"),
                                          "BASE_SQLITE_CHEMIN": str(tmp_path / "r.sqlite3")}).attendre()
    try:
        a_envoyer: queue.Queue = queue.Queue()
        fin = object()
        a_envoyer.put(message(exemple))
        reponses = rpc.stub.PredireFlux(iter(a_envoyer.get, fin), timeout=60)
        premiere = next(reponses)  # le flux est en cours côté serveur
        debut = time.monotonic()
        rpc.processus.send_signal(signal.SIGTERM)
        limite = time.monotonic() + 5
        while rpc.statut_sante() is not None and time.monotonic() < limite:  # plus d'appel nouveau accepté
            time.sleep(0.05)
        assert rpc.statut_sante() is None, "après SIGTERM, un appel nouveau doit être refusé"
        for _ in range(2):
            a_envoyer.put(message(exemple))
        a_envoyer.put(fin)
        suivantes = list(reponses)
        assert rpc.processus.wait(15) == 0, rpc.journal_serveur()
        duree = time.monotonic() - debut
    finally:
        rpc.arreter()
    mesurer("gRPC : SIGTERM → sortie, flux en cours terminé", f"{duree:.1f} s")
    assert [r.request_id.rsplit("-", 1)[1] for r in [premiere, *suivantes]] == ["1", "2", "3"]
    assert duree < 10, f"arrêt en {duree:.1f} s : Cloud Run tue le conteneur après 10 s"
    assert len((tmp_path / "j.jsonl").read_text(encoding="utf-8").splitlines()) == 3


def test_pretraitement_decrit_dans_l_openapi_et_rien_n_est_conserve(deux_canaux, exemple):
    http, _ = deux_canaux
    operation = requests.get(http.url + "/openapi.json", timeout=30).json()["paths"]["/pretraitement"]["post"]
    assert operation["operationId"] == "pretraiter" and operation["tags"] == ["pretraitement"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("ReponsePretraitement")
    avant = len(http.lignes_journal())
    identifiant = f"pretraitement-{uuid.uuid4().hex}"
    reponse = requests.post(http.url + "/pretraitement", json={**exemple, "user_id": "eleve-p"},
                            headers={"X-Request-ID": identifiant}, timeout=30)
    assert reponse.status_code == 200 and reponse.json()["request_id"] == identifiant
    assert len(http.lignes_journal()) == avant


def test_journal_impossible_a_ecrire_unavailable_et_rien_de_conserve(tmp_path, exemple):
    """Comme le 503 de HTTP : si le journal ne peut pas être écrit, la prédiction n'est pas servie (UNAVAILABLE,
    message en français) et la base ne garde rien."""
    from app.stockage.magasin import MagasinResultats

    journal = tmp_path / "journal-dossier.jsonl"
    journal.mkdir()  # un dossier à la place du fichier : toute écriture échoue (même en root)
    base = tmp_path / "r.sqlite3"
    rpc = ServeurGrpc(tmp_path / "grpc", {"JOURNAL_CHEMIN": str(journal), "BASE_SQLITE_CHEMIN": str(base)}).attendre()
    try:
        identifiant = f"panne-{uuid.uuid4().hex}"
        with pytest.raises(grpc.RpcError) as erreur:
            rpc.stub.Predire(message(exemple), timeout=30, metadata=(("x-request-id", identifiant),))
        assert erreur.value.code() == grpc.StatusCode.UNAVAILABLE
        assert erreur.value.details().startswith("le journal des requêtes ne peut pas être écrit : la prédiction "
                                                 "n'a pas été servie")
        with pytest.raises(grpc.RpcError) as erreur_flux:
            list(rpc.stub.PredireFlux(iter([message(exemple)] * 3), timeout=30))
        assert erreur_flux.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        rpc.arreter()
    magasin = MagasinResultats(f"sqlite:///{base}")
    try:
        assert magasin.lire(identifiant) is None
        with magasin.moteur.connect() as connexion:
            assert connexion.execute(text("SELECT count(*) FROM predictions")).scalar() == 0
    finally:
        magasin.moteur.dispose()


def test_un_flux_annule_par_le_client_libere_son_fil(tmp_path, exemple):
    """Avec un seul fil de service (GRPC_FILS=1), un flux que le client annule pendant que le serveur attend
    son message suivant rend le fil : l'appel suivant est servi."""
    rpc = ServeurGrpc(tmp_path / "grpc", {"JOURNAL_CHEMIN": str(tmp_path / "j.jsonl"),
                                          "BASE_SQLITE_CHEMIN": str(tmp_path / "r.sqlite3"), "GRPC_FILS": "1"}).attendre()
    try:
        a_envoyer: queue.Queue = queue.Queue()
        a_envoyer.put(message(exemple))
        reponses = rpc.stub.PredireFlux(iter(a_envoyer.get, None), timeout=60)
        assert next(reponses).request_id.endswith("-1")
        reponses.cancel()  # le serveur attendait le message suivant
        assert rpc.stub.Predire(message(exemple), timeout=15).configuration == pb.CONFIGURATION_A
    finally:
        rpc.arreter()

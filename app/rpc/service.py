"""Le service ``prediction_etudiante.v1.Prediction`` : mêmes validations, même prédicteur et mêmes
enregistrements (canal « grpc ») que l'API HTTP.

Erreurs : INVALID_ARGUMENT avec un ``google.rpc.BadRequest`` (une violation par champ, messages de
``app.modele.erreurs_validation``, comme la réponse 400) ; ALREADY_EXISTS pour un request_id déjà
conservé (409 en HTTP) ; UNAVAILABLE quand la base ou le journal refusent (503) ; jamais un
message d'erreur brut de Python (INTERNAL, journalisé).
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
import inspect
import logging
import queue
import threading
import time
from collections.abc import Iterator

import grpc
from google.protobuf import any_pb2, unknown_fields
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from pydantic import ValidationError

from app.modele.erreurs_validation import detailler, resume
from app.limite_essais import FENETRE_ESSAIS_S, LimiteEssais
from app.modele.identifiants import (
    REGLE_IDENTIFIANT,
    REGLE_IDENTIFIANT_CHOISI,
    choix_permis,
    identifiant_valide,
    nouvel_identifiant,
)
from app.modele.noyau import Noyau
from app.modele.predicteur import Prediction, enregistrement
from app.modele.schema import CATEGORIES, CHAMPS, NOTES, DemandePrediction
from app.rpc import prediction_pb2 as pb
from app.rpc import prediction_pb2_grpc
from app.stockage import refus
from app.stockage.journal import ErreurJournal
from app.stockage.magasin import DoublonRequete, ErreurMagasin

journal = logging.getLogger("prediction_etudiante")

METADONNEE_ID = "x-request-id"
METADONNEE_JETON = "authorization"
MORCEAU_MAX = 512
"""Messages d'un flux prédits et conservés ensemble au plus (ceux déjà arrivés : jamais d'attente ajoutée)."""
MESSAGES_MAX_FLUX = 9_999_999
"""Messages d'un flux au plus : le rang, ajouté au x-request-id, garde 7 chiffres."""
LONGUEUR_MAX_ID_FLUX = 128 - 1 - len(str(MESSAGES_MAX_FLUX))
"""x-request-id d'un flux : ``-<rang>`` y est ajouté et chaque request_id garde 128 caractères au plus."""
_FIN = object()
CHAMP_INCONNU = "champ inconnu : il ne fait pas partie des 32 attributs d'un élève (autre version du .proto ?)"


class Refus(Exception):
    """Un appel refusé : code gRPC, message en français et violations par champ (``google.rpc.BadRequest``)."""

    def __init__(self, code: int, message: str, violations: list[dict] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.violations = violations or []

    def statut(self, metadonnees: tuple = ()) -> grpc.Status:
        """Le statut, avec dans ses métadonnées de fin celles déjà posées par l'appel (``x-request-id``) : un
        client relit l'identifiant d'un appel refusé comme celui d'un appel servi."""
        details = []
        if self.violations:
            requete = error_details_pb2.BadRequest(field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v["champ"], description=v["message"])
                for v in self.violations])
            detail = any_pb2.Any()
            detail.Pack(requete)
            details.append(detail)
        statut = rpc_status.to_status(status_pb2.Status(code=self.code, message=self.message, details=details))
        return StatutRefus(statut.code, statut.details, (*metadonnees, *statut.trailing_metadata))


@dataclasses.dataclass(frozen=True)
class StatutRefus(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple


def en_dict(message: pb.DemandePrediction) -> dict:
    """Le message en document JSON équivalent : une chaîne vide est un champ absent (défaut proto3),
    G1, G2 et user_id non envoyés sont absents (null)."""
    document = {}
    for nom in CHAMPS:
        if nom in NOTES:
            if message.HasField(nom):
                document[nom] = getattr(message, nom)
        elif nom in CATEGORIES:
            valeur = getattr(message, nom)
            if valeur != "":
                document[nom] = valeur
        else:
            document[nom] = getattr(message, nom)
    if message.HasField("user_id"):
        document["user_id"] = message.user_id
    return document


def valider(message: pb.DemandePrediction, rang: int | None = None) -> DemandePrediction:
    """Le schéma pydantic de ``/predire`` ; ``Refus`` INVALID_ARGUMENT avec le détail par champ sinon. Un champ
    que ce ``.proto`` ne connaît pas (client d'une autre version) est refusé, comme une clé en trop en JSON.
    ``rang`` : le rang du message dans un flux (à partir de 1) ; chaque violation le nomme alors dans son chemin,
    ``eleves[<rang>].<champ>`` (l'``element`` d'une erreur de lot HTTP)."""
    details = [{"champ": f"champ n° {champ.field_number}", "message": CHAMP_INCONNU}
               for champ in unknown_fields.UnknownFieldSet(message)]
    try:
        demande = DemandePrediction.model_validate(en_dict(message))
    except ValidationError as erreur:
        details = detailler(erreur) + details
    if details:
        prefixe = "" if rang is None else f"message {rang} : "
        chemin = "{}" if rang is None else f"eleves[{rang}].{{}}"
        raise Refus(code_pb2.INVALID_ARGUMENT, prefixe + resume(details),
                    [{"champ": chemin.format(d["champ"]), "message": d["message"]} for d in details])
    return demande


def refus_du_stockage(erreur: Exception, consequence: str, request_id: str) -> Refus:
    """Comme ``app.web.erreurs.refus_du_stockage`` : ALREADY_EXISTS (409) ou UNAVAILABLE (503)."""
    if isinstance(erreur, DoublonRequete):
        return Refus(code_pb2.ALREADY_EXISTS, refus.message_doublon(
                         request_id, f"une métadonnée {METADONNEE_ID} nouvelle, ou aucune"),
                     [{"champ": METADONNEE_ID, "message": refus.DOUBLON}])
    return Refus(code_pb2.UNAVAILABLE, refus.message_indisponible(erreur, consequence))


def configuration(nom: str) -> int:
    """``"A"`` → ``CONFIGURATION_A`` : l'énumération gRPC d'une configuration (chaîne en HTTP)."""
    return pb.Configuration.Value(f"CONFIGURATION_{nom}")


def facteur(f: dict) -> pb.Facteur:
    """Un facteur de l'explication : valeur en texte comme en HTTP, effet en énumération (``app.modele.explication.EFFETS`` en majuscules)."""
    return pb.Facteur(champ=f["champ"], valeur=f["valeur"], effet=pb.Effet.Value(f"EFFET_{f['effet'].upper()}"),
                      contribution=f["contribution"], poids=f["poids"], texte=f["texte"])


def reponse(p: Prediction, request_id: str, user_id: str | None, version: str, duree_ms: float) -> pb.ReponsePrediction:
    return pb.ReponsePrediction(
        prediction=p.prediction, libelle=p.libelle, probabilite_echec=p.probabilite_echec,
        probabilite_reussite=p.probabilite_reussite, confiance_prediction=p.confiance_prediction, seuil=p.seuil,
        configuration=configuration(p.configuration), explication=[facteur(f) for f in p.explication],
        request_id=request_id,
        user_id=user_id, model_version=version, inference_time_ms=round(duree_ms, 3),
        avertissements=p.avertissements)


def _traiter_les_refus(methode):
    """Un ``Refus`` devient son statut ; toute autre exception, INTERNAL (journalisée, sans données)."""
    def enveloppe(self, requete, contexte):
        try:
            return methode(self, requete, contexte)
        except Refus as refus:
            contexte.abort_with_status(refus.statut(tuple(contexte.trailing_metadata() or ())))
        except Exception:  # noqa: BLE001 - un défaut : jamais le message brut au client
            journal.exception("erreur interne (gRPC %s)", methode.__name__)
            contexte.abort(grpc.StatusCode.INTERNAL, "erreur interne du serveur ; elle a été journalisée")

    def enveloppe_flux(self, requetes, contexte):
        try:
            yield from methode(self, requetes, contexte)
        except Refus as refus:
            contexte.abort_with_status(refus.statut(tuple(contexte.trailing_metadata() or ())))
        except Exception:  # noqa: BLE001
            journal.exception("erreur interne (gRPC %s)", methode.__name__)
            contexte.abort(grpc.StatusCode.INTERNAL, "erreur interne du serveur ; elle a été journalisée")

    choisie = enveloppe_flux if inspect.isgeneratorfunction(methode) else enveloppe  # flux sortant : un générateur
    return functools.wraps(methode)(choisie)


class PlacesFlux:
    """Flux ouverts, en tout et par client (adresse sans le port) : au-delà, RESOURCE_EXHAUSTED tout de suite.
    Issue 28 : 8 flux inactifs occupaient les 8 fils et la santé elle-même tombait en DEADLINE_EXCEEDED."""

    def __init__(self, total: int, par_client: int):
        self.total, self.par_client = total, par_client
        self._ouverts: dict[str, int] = {}
        self._verrou = threading.Lock()

    def prendre(self, client: str) -> bool:
        with self._verrou:
            if sum(self._ouverts.values()) >= self.total or self._ouverts.get(client, 0) >= self.par_client:
                return False
            self._ouverts[client] = self._ouverts.get(client, 0) + 1
            return True

    def rendre(self, client: str) -> None:
        with self._verrou:
            reste = self._ouverts.get(client, 1) - 1
            if reste:
                self._ouverts[client] = reste
            else:
                self._ouverts.pop(client, None)


def client_de(contexte) -> str:
    """« ipv4:127.0.0.1:5123 » → « ipv4:127.0.0.1 » : un client est une adresse, pas une connexion."""
    pair = contexte.peer() or "?"
    return pair.rsplit(":", 1)[0] if pair.count(":") >= 2 else pair


@dataclasses.dataclass
class Justificatifs:
    """Qui appelle le serveur gRPC : ``authorization: Bearer <API_TOKEN>`` en métadonnée identifie l'appelant
    (les scripts, comme en HTTP) ; sans elle, il est anonyme. ``configures`` : un justificatif existe (API_TOKEN,
    ou l'identité du personnel côté HTTP) ; un appelant anonyme ne choisit alors pas son x-request-id."""

    jeton_api: str = dataclasses.field(default="", repr=False)
    configures: bool = False
    essais_max: int = 10
    limite: LimiteEssais = dataclasses.field(default_factory=LimiteEssais, repr=False)

    def identifier(self, en_tete: str | None, client: str) -> bool:
        """Vrai si le jeton présenté est API_TOKEN ; UNAUTHENTICATED s'il est faux (essais ratés limités par
        client, RESOURCE_EXHAUSTED au-delà, sans comparer) ; faux sans jeton, ou sans API_TOKEN configuré."""
        if not en_tete or not self.jeton_api:
            return False
        attente = self.limite.attente(client, self.essais_max)
        if attente > 0:
            raise Refus(code_pb2.RESOURCE_EXHAUSTED, f"trop d'essais de jeton ratés ({self.essais_max} par "
                                                     f"{FENETRE_ESSAIS_S:.0f} s) : réessayez dans {attente:.0f} s")
        schema, _, fourni = en_tete.strip().partition(" ")
        if schema.lower() == "bearer" and hmac.compare_digest(fourni.strip().encode("utf-8"),
                                                              self.jeton_api.encode("utf-8")):
            return True
        self.limite.rate(client, self.essais_max)
        raise Refus(code_pb2.UNAUTHENTICATED, "jeton d'accès invalide (métadonnée authorization: Bearer <API_TOKEN>)")


class ServicePrediction(prediction_pb2_grpc.PredictionServicer):
    """Enregistré avant le démarrage du serveur (gRPC l'exige), servi une fois le noyau chargé : avant,
    UNAVAILABLE (et la santé standard dit NOT_SERVING)."""

    def __init__(self, noyau: Noyau | None = None, places: PlacesFlux | None = None, inactivite_s: float = 30.0,
                 justificatifs: Justificatifs | None = None):
        self._noyau = noyau
        self.places = places or PlacesFlux(6, 2)
        self.inactivite_s = inactivite_s
        self.justificatifs = justificatifs or Justificatifs()

    @property
    def noyau(self) -> Noyau:
        if self._noyau is None:
            raise Refus(code_pb2.UNAVAILABLE, "modèle en cours de chargement : réessayez dans quelques secondes")
        return self._noyau

    @noyau.setter
    def noyau(self, noyau: Noyau) -> None:
        self._noyau = noyau

    def _identifiant(self, contexte, longueur_max: int = 128) -> tuple[str, bool]:
        """(request_id, fourni par l'appelant ?) : un identifiant fourni et déjà conservé sera refusé."""
        metadonnees = dict(contexte.invocation_metadata())
        fourni = metadonnees.get(METADONNEE_ID)
        identifie = self.justificatifs.identifier(metadonnees.get(METADONNEE_JETON), client_de(contexte))
        if fourni is None:
            return nouvel_identifiant(), False
        if not identifiant_valide(fourni) or len(fourni) > longueur_max:
            regle = REGLE_IDENTIFIANT if len(fourni) <= longueur_max else f"{longueur_max} caractères au plus pour un flux"
            raise Refus(code_pb2.INVALID_ARGUMENT, f"métadonnée {METADONNEE_ID} invalide",
                        [{"champ": METADONNEE_ID, "message": regle}])
        if not choix_permis(identifie, self.justificatifs.configures):  # comme app.web.identite (issue 28, B5)
            raise Refus(code_pb2.INVALID_ARGUMENT, f"métadonnée {METADONNEE_ID} refusée à un appelant anonyme",
                        [{"champ": METADONNEE_ID, "message": REGLE_IDENTIFIANT_CHOISI}])
        return fourni, True

    def _conserver(self, enregistrements: list[dict], consequence: str, fourni: bool) -> None:
        try:
            self.noyau.conservation.conserver(enregistrements, fourni)
        except (DoublonRequete, ErreurMagasin, ErreurJournal) as erreur:
            raise refus_du_stockage(erreur, consequence, enregistrements[0]["request_id"]) from None

    @_traiter_les_refus
    def Predire(self, requete, contexte):
        debut = time.perf_counter()
        identifiant, fourni = self._identifiant(contexte)
        contexte.set_trailing_metadata(((METADONNEE_ID, identifiant),))  # aussi sur un refus (Refus.statut)
        demande = valider(requete)
        predicteur = self.noyau.predicteur
        prediction = predicteur.predire(demande)
        duree_ms = (time.perf_counter() - debut) * 1000
        self._conserver([enregistrement(prediction, request_id=identifiant, user_id=demande.user_id,
                                        entrees=demande.entrees(), version=predicteur.version, canal="grpc")],
                        refus.PREDICTION_NON_SERVIE, fourni)
        return reponse(prediction, identifiant, demande.user_id, predicteur.version, duree_ms)

    @_traiter_les_refus
    def Pretraiter(self, requete, contexte):
        identifiant, _ = self._identifiant(contexte)
        vecteur = self.noyau.predicteur.pretraiter(valider(requete))
        return pb.ReponsePretraitement(configuration=configuration(vecteur.configuration), variables=vecteur.noms,
                                       valeurs=vecteur.valeurs, request_id=identifiant,
                                       model_version=self.noyau.predicteur.version)

    @_traiter_les_refus
    def PredireFlux(self, requetes, contexte) -> Iterator[pb.ReponsePrediction]:
        """Les messages déjà arrivés sont prédits en lot (``predire_lot``) et conservés en une transaction,
        puis leurs réponses envoyées : un client qui attend chaque réponse est servi message par message,
        un client qui envoie tout d'un coup l'est par morceaux de ``MORCEAU_MAX``."""
        identifiant, fourni = self._identifiant(contexte, LONGUEUR_MAX_ID_FLUX)
        contexte.set_trailing_metadata(((METADONNEE_ID, identifiant),))  # comme Predire
        client = client_de(contexte)
        if not self.places.prendre(client):
            raise Refus(code_pb2.RESOURCE_EXHAUSTED,
                        f"trop de flux ouverts ({self.places.par_client} par client, {self.places.total} en tout) : "
                        "réessayez après la fin d'un flux, ou appelez Predire")
        try:
            yield from self._servir_flux(requetes, contexte, identifiant, fourni)
        finally:
            self.places.rendre(client)

    def _servir_flux(self, requetes, contexte, identifiant: str, fourni: bool) -> Iterator[pb.ReponsePrediction]:
        arrivees: queue.Queue = queue.Queue(maxsize=2 * MORCEAU_MAX)
        threading.Thread(target=_lire, args=(requetes, arrivees, contexte), daemon=True, name="flux-grpc").start()
        predicteur = self.noyau.predicteur
        rang = 0
        fini = False
        while not fini:
            morceau = [_suivant(arrivees, contexte, self.inactivite_s)]
            while len(morceau) < MORCEAU_MAX and morceau[-1] is not _FIN:
                try:
                    morceau.append(arrivees.get_nowait())
                except queue.Empty:
                    break
            if morceau[-1] is _FIN:
                fini = True
                morceau.pop()
            if rang + len(morceau) > MESSAGES_MAX_FLUX:
                raise Refus(code_pb2.OUT_OF_RANGE, f"flux trop long : {MESSAGES_MAX_FLUX} messages au plus ; "
                                                   "ouvrez un nouveau flux pour la suite")
            debut = time.perf_counter()
            demandes, refus = [], None
            for message in morceau:
                try:
                    demandes.append(valider(message, rang + len(demandes) + 1))
                except Refus as erreur:
                    refus = erreur
                    break
            if demandes:
                entrees = [d.entrees() for d in demandes]
                predictions = predicteur.predire_lot(entrees).predictions(entrees)
                duree_ms = (time.perf_counter() - debut) * 1000 / len(demandes)
                identifiants = [f"{identifiant}-{rang + i}" for i in range(1, len(demandes) + 1)]
                self._conserver([enregistrement(p, request_id=i, user_id=d.user_id, entrees=e,
                                                version=predicteur.version, canal="grpc")
                                 for p, i, d, e in zip(predictions, identifiants, demandes, entrees)],
                                "ces messages n'ont pas été servis pour ne pas être perdus", fourni)
                rang += len(demandes)
                for p, i, d in zip(predictions, identifiants, demandes):
                    yield reponse(p, i, d.user_id, predicteur.version, duree_ms)
            if refus is not None:
                raise refus


def _suivant(arrivees: queue.Queue, contexte, inactivite_s: float):
    """Le prochain message du flux ; ``_FIN`` à la fin, ou quand l'appel n'est plus actif (annulé par le client,
    délai dépassé) : le fil de service n'attend jamais un message qui ne viendra pas. Sans message depuis
    ``inactivite_s`` : le flux est fermé (DEADLINE_EXCEEDED) et rend son fil et sa place."""
    limite = time.monotonic() + inactivite_s
    while True:
        try:
            return arrivees.get(timeout=min(0.5, inactivite_s))
        except queue.Empty:
            if not contexte.is_active():
                return _FIN
            if time.monotonic() >= limite:
                raise Refus(code_pb2.DEADLINE_EXCEEDED, f"flux inactif depuis {inactivite_s:.0f} s : fermé ; "
                                                        "ouvrez-en un autre pour la suite") from None


def _lire(requetes, arrivees: queue.Queue, contexte) -> None:
    """Fil de lecture d'un flux : chaque message reçu passe dans ``arrivees`` (bornée : un client plus
    rapide que le modèle attend), ``_FIN`` à la fin ; s'arrête quand l'appel est terminé ou annulé."""
    try:
        for message in requetes:
            while True:
                try:
                    arrivees.put(message, timeout=1.0)
                    break
                except queue.Full:
                    if not contexte.is_active():
                        return
    except Exception:  # noqa: BLE001 - appel annulé ou terminé : plus rien à lire
        pass
    while contexte.is_active():
        try:
            arrivees.put(_FIN, timeout=1.0)
            return
        except queue.Full:
            continue

"""Les lots d'élèves de ``POST /predire/lot`` : lecture (liste JSON ou CSV), validation, CSV en sortie.

Règle : un lot est **entier ou refusé**. Une seule ligne invalide et rien n'est prédit ni
conservé : la réponse 400 liste les problèmes de toutes les lignes (numéro de ligne du fichier
CSV, ou position dans la liste JSON), pour tout corriger en un envoi. Un lot à moitié servi
obligerait l'établissement à recoller les morceaux et laisserait des élèves sans prédiction.

Le CSV est celui du fichier UCI : noms de colonnes d'origine, séparateur « ; » ou « , », valeurs
entre guillemets ou non ; G1 et G2 peuvent manquer (colonne absente ou cellule vide) ; une
colonne ``user_id`` facultative. Aucune dépendance à pandas : le module ``csv`` suffit.

Mémoire : ``PlacesLots`` borne le nombre de lots traités (et en attente) par processus.
"""

from __future__ import annotations

import contextlib
import csv
import io
import threading
from collections.abc import Iterator, Sequence

from pydantic import ValidationError

from app.modele.erreurs_validation import DETAILS_MAX, detailler
from app.modele.schema import CHAMPS, NOTES, DemandePrediction, separateur_csv
from app.web.erreurs import ErreurRequete

LOT_MAX = 10_000
"""Élèves par lot au plus (une classe, un établissement, un district par morceaux)."""
LONGUEUR_MAX_ID_LOT = 128 - 1 - len(str(LOT_MAX))
"""X-Request-ID d'un lot : ``-<rang>`` y est ajouté et le request_id de chaque élève garde 128 caractères au plus."""
ATTENTE_PLACE_S = 30.0
"""Attente maximale d'une place de traitement (``LOTS_SIMULTANES``) avant de répondre 503."""
COLONNES_PERMISES = (*CHAMPS, "user_id")
COLONNES_MAX = len(COLONNES_PERMISES)
"""Cellules au plus par ligne CSV : une colonne inconnue ou en double est refusée, un en-tête plus long
l'est donc sans examiner ses colonnes une à une (un million de colonnes donnait un million de problèmes)."""
COLONNES_AJOUTEES = ("prediction", "libelle", "probabilite_echec", "probabilite_reussite", "confiance_prediction",
                     "seuil", "configuration", "request_id", "explication")


class PlacesLots:
    """Borne la mémoire d'un worker : un lot de 10 000 élèves occupe ~100 Mio au pic ; huit à la
    fois (les 8 fils d'un worker) dépassaient 800 Mio, au-delà des 512 Mio d'une instance Cloud Run.

    ``places`` lots sont traités à la fois ; autant peuvent attendre leur tour (``attente_s`` au
    plus) ; au-delà, 503 tout de suite, avec Retry-After. La file est bornée pour que des lots en
    attente n'occupent pas tous les fils du worker : ``/predire`` reste servi tant que
    2 × ``LOTS_SIMULTANES`` < ``GUNICORN_THREADS`` (4 < 8 par défaut)."""

    def __init__(self, places: int, attente_s: float = ATTENTE_PLACE_S):
        self._traitement = threading.BoundedSemaphore(places)
        self._entree = threading.BoundedSemaphore(2 * places)  # en traitement + en attente
        self.attente_s = attente_s

    @contextlib.contextmanager
    def une_place(self) -> Iterator[None]:
        if not self._entree.acquire(blocking=False):
            raise ErreurRequete(503, "trop de lots en attente : réessayez dans quelques secondes",
                                entetes={"Retry-After": "5"})
        try:
            if not self._traitement.acquire(timeout=self.attente_s):
                raise ErreurRequete(503, f"trop de lots en cours de traitement : réessayez dans quelques secondes "
                                         f"(aucune place libérée en {self.attente_s:.0f} s)",
                                    entetes={"Retry-After": "5"})
            try:
                yield
            finally:
                self._traitement.release()
        finally:
            self._entree.release()


class Problemes:
    """Les problèmes d'un lot : tous comptés, ``DETAILS_MAX`` au plus détaillés (les messages des
    suivants ne sont jamais calculés : le travail d'un lot invalide reste celui de sa validation)."""

    def __init__(self):
        self.details: list[dict] = []
        self.fautifs = 0
        self.total = 0

    @property
    def place(self) -> int:
        return DETAILS_MAX - len(self.details)

    def ajouter(self, details: list[dict], total: int | None = None) -> None:
        self.fautifs += 1
        self.total += len(details) if total is None else total
        self.details.extend(details[:max(self.place, 0)])

    def refuser(self, lignes: int, unite: str) -> None:
        if self.fautifs:
            raise ErreurRequete(400, f"lot refusé : {self.fautifs} {unite}(s) invalide(s) sur {lignes} "
                                     f"({self.total} problème(s), {len(self.details)} détaillés) ; rien n'a été "
                                     "prédit ni conservé, corrigez-les et renvoyez le lot", self.details)


def _taille(nombre: int) -> None:
    if nombre == 0:
        raise ErreurRequete(400, "lot vide : envoyez au moins un élève")
    if nombre > LOT_MAX:
        raise ErreurRequete(400, f"lot trop grand : {nombre} élèves, {LOT_MAX} au plus par requête ; "
                                 "découpez-le en plusieurs lots",
                            [{"champ": "(corps)", "message": f"{LOT_MAX} élèves au plus"}])


def valider(documents: Sequence, position, unite: str) -> list[DemandePrediction]:
    """Valide chaque élément ; ``position(i)`` nomme l'élément i dans les messages."""
    demandes, problemes = [], Problemes()
    for i, document in enumerate(documents):
        if not isinstance(document, dict):
            problemes.ajouter([{"champ": position(i), "message": "un objet JSON avec les attributs de l'élève est attendu"}])
            continue
        try:
            demandes.append(DemandePrediction.model_validate(document))
        except ValidationError as erreur:
            problemes.ajouter([{"champ": f"{position(i)} : {d['champ']}", "message": d["message"]}
                               for d in detailler(erreur, problemes.place)], erreur.error_count())
    problemes.refuser(len(documents), unite)
    return demandes


def lot_json(document) -> list[DemandePrediction]:
    if not isinstance(document, list):
        raise ErreurRequete(400, "le corps doit être une liste JSON d'élèves ([{…}, {…}]) ou un fichier CSV "
                                 "(Content-Type: text/csv)")
    _taille(len(document))
    return valider(document, lambda i: f"élément {i}", "élément")


def lire_csv(brut: bytes) -> tuple[list[DemandePrediction], list[str], str]:
    """(demandes validées, colonnes reçues, séparateur) d'un CSV au format UCI."""
    try:
        texte = brut.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ErreurRequete(400, "CSV invalide : le fichier n'est pas de l'UTF-8") from None
    if not texte.strip():
        raise ErreurRequete(400, "lot vide : le fichier CSV n'a ni en-tête ni ligne")
    fin_entete = texte.find("\n")
    entete = texte if fin_entete < 0 else texte[:fin_entete]  # sans recopier tout le corps
    separateur = separateur_csv(entete)
    _borner_cellules(entete.count(separateur) + 1, 1)  # avant d'analyser quoi que ce soit
    lecteur = csv.reader(io.StringIO(texte, newline=""), delimiter=separateur)
    lignes = []  # (numéro de ligne dans le fichier, cellules) : les lignes vides sont sautées mais comptées.
    try:
        for ligne in lecteur:
            _borner_cellules(len(ligne), lecteur.line_num)
            if any(cellule.strip() for cellule in ligne):
                lignes.append((lecteur.line_num, ligne))
    except csv.Error as erreur:
        raise ErreurRequete(400, f"CSV mal formé à la ligne {lecteur.line_num} ({erreur})") from None
    if not lignes:  # que des séparateurs et des blancs
        raise ErreurRequete(400, "lot vide : le fichier CSV n'a ni en-tête ni ligne")
    colonnes = [c.strip() for c in lignes[0][1]]
    _verifier_entete(colonnes)
    corps = lignes[1:]
    _taille(len(corps))
    documents, problemes, numeros = [], Problemes(), []
    for numero, ligne in corps:
        numeros.append(numero)
        if len(ligne) != len(colonnes):
            problemes.ajouter([{"champ": f"ligne {numero}",
                                "message": f"{len(ligne)} valeurs pour {len(colonnes)} colonnes"}])
            documents.append(None)
            continue
        document = {}
        for colonne, cellule in zip(colonnes, ligne):
            cellule = cellule.strip()
            document[colonne] = None if cellule == "" and colonne in (*NOTES, "user_id") else cellule
        documents.append(document)
    problemes.refuser(len(corps), "ligne")
    demandes = valider(documents, lambda i: f"ligne {numeros[i]}", "ligne")
    return demandes, colonnes, separateur


def _borner_cellules(nombre: int, numero: int) -> None:
    """Une ligne de plus de ``COLONNES_MAX`` cellules est refusée dès qu'elle est lue (l'en-tête avant
    toute analyse, d'après ses séparateurs) : ni le travail ni la réponse ne croissent avec elle."""
    if nombre > COLONNES_MAX:
        quoi = "en-tête CSV" if numero == 1 else f"ligne {numero}"
        raise ErreurRequete(400, f"{quoi} trop long : {nombre} cellules, {COLONNES_MAX} colonnes au plus (les "
                                 "32 attributs du fichier UCI et user_id) ; rien n'a été prédit",
                            [{"champ": "ligne 1" if numero == 1 else f"ligne {numero}",
                              "message": f"{COLONNES_MAX} colonnes au plus"}])


def _verifier_entete(colonnes: list[str]) -> None:
    details = []
    vues = set()
    for colonne in colonnes:
        if colonne in vues:
            details.append({"champ": colonne, "message": "colonne présente deux fois"})
        vues.add(colonne)
        if colonne == "G3":
            details.append({"champ": "G3", "message": "G3 est la note finale que le modèle prédit : retirez "
                                                     "cette colonne"})
        elif colonne not in COLONNES_PERMISES:
            details.append({"champ": colonne or "(vide)", "message": "colonne inconnue : les colonnes sont les noms "
                                                                    "du fichier UCI (et user_id, facultatif)"})
    manquantes = [c for c in CHAMPS if c not in vues and c not in NOTES]
    details.extend({"champ": c, "message": "colonne obligatoire manquante"} for c in manquantes)
    if details:  # COLONNES_MAX colonnes au plus (_borner_cellules) : la liste est courte
        raise ErreurRequete(400, f"en-tête CSV invalide ({len(details)} problème(s)) : rien n'a été prédit",
                            details)


def ecrire_csv(colonnes: list[str], separateur: str, lignes: list[list]) -> str:
    """Le CSV de réponse : les colonnes reçues puis ``COLONNES_AJOUTEES``, une ligne par élève, même ordre."""
    sortie = io.StringIO()
    redacteur = csv.writer(sortie, delimiter=separateur, lineterminator="\n")
    redacteur.writerow([*colonnes, *COLONNES_AJOUTEES])
    redacteur.writerows(lignes)
    return sortie.getvalue()

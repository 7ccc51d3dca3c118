"""Les lots d'élèves : lecture (liste JSON ou CSV), validation, CSV en sortie. Seule définition des
fichiers acceptés, partagée par ``POST /predire/lot`` (et la page ``/classe``) et la commande
``python -m app.lot`` (un district entier) : ce que la page accepte, la commande l'accepte aussi.
Une erreur est une ``ErreurLot`` (400 pour l'API, ``resume.json`` pour la commande).

Règle : un lot est **entier ou refusé**. Une seule ligne invalide et rien n'est prédit ni
conservé : la réponse 400 liste les problèmes de toutes les lignes (numéro de ligne du fichier
CSV, ou position dans la liste JSON), pour tout corriger en un envoi. Un lot à moitié servi
obligerait l'établissement à recoller les morceaux et laisserait des élèves sans prédiction.

Le CSV est celui du fichier UCI : noms de colonnes d'origine, séparateur « ; » ou « , », valeurs
entre guillemets ou non ; G1 et G2 peuvent manquer (colonne absente ou cellule vide) ; une
colonne ``user_id`` facultative. Aucune dépendance à pandas : le module ``csv`` suffit.

Mode partiel (``POST /predire/lot/partiel``, pour la page ``/classe``) : chaque ligne valide est
prédite et conservée, chaque ligne invalide est rendue avec ses problèmes (ligne, champ, règle),
même si aucune n'est valide (200, ``resultats`` vide) ;
les colonnes (ou clés JSON) hors schéma, p. ex. le nom ou le numéro d'un élève, sont renvoyées
telles quelles avec sa prédiction mais jamais conservées (ni base, ni journal). Seul un en-tête
inutilisable (colonne obligatoire manquante, colonne en double) refuse encore tout le lot. Le fichier
peut être en Windows-1252, séparé par une tabulation, avoir des en-têtes français
(``app.modele.lecture_csv``) et une colonne G3 (la classe de l'an passé), mise à part pour la
vérification (``app.modele.verification``), jamais prédite ni conservée.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from app.modele.colonnes import LotColonnes, garder, juger_cellules
from app.modele.erreurs_validation import DETAILS_MAX, detailler
from app.modele.lecture_csv import CONSEIL_ENCODAGE, NOTE_FINALE, FichierIllisible, decoder, nom_colonne
from app.modele.predicteur import Prediction
from app.modele.schema import CHAMPS, FORME_ENTIER_TEXTE, NOTES, DemandePrediction, separateur_csv

LOT_MAX = 10_000
"""Élèves par lot au plus (une classe, un établissement, un district par morceaux)."""
LONGUEUR_MAX_ID_LOT = 128 - 1 - len(str(LOT_MAX))
"""X-Request-ID d'un lot : ``-<rang>`` y est ajouté et le request_id de chaque élève garde 128 caractères au plus."""
COLONNES_PERMISES = (*CHAMPS, "user_id")
COLONNES_MAX = len(COLONNES_PERMISES)
"""Cellules au plus par ligne CSV : une colonne inconnue ou en double est refusée, un en-tête plus long
l'est donc sans examiner ses colonnes une à une (un million de colonnes donnait un million de problèmes)."""
SUPPLEMENTAIRES_MAX = 16
"""Mode partiel : colonnes hors schéma gardées au plus (nom, numéro, classe…), en plus de ``COLONNES_MAX``."""
PROBLEMES_PAR_REJET = 10
"""Mode partiel : problèmes détaillés au plus pour une ligne refusée (son total est donné à côté)."""
_EN_MINUSCULES = {c.lower(): c for c in COLONNES_PERMISES}
COLONNES_AJOUTEES = ("prediction", "libelle", "probabilite_echec", "probabilite_reussite", "confiance_prediction",
                     "seuil", "configuration", "request_id", "explication")


class ErreurLot(ValueError):
    """Un lot (ou son fichier CSV) inutilisable : message en français et détail par élément. L'API
    le rend en 400 (``app.web.erreurs``), la commande ``app.lot`` l'écrit dans le ``resume.json``."""

    statut = 400

    def __init__(self, message: str, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = (details or [])[:DETAILS_MAX]


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
            raise ErreurLot(f"lot refusé : {self.fautifs} {unite}(s) invalide(s) sur {lignes} "
                                     f"({self.total} problème(s), {len(self.details)} détaillés) ; rien n'a été "
                                     "prédit ni conservé, corrigez-les et renvoyez le lot", self.details)


def _taille(nombre: int) -> None:
    if nombre == 0:
        raise ErreurLot("lot vide : envoyez au moins un élève")
    if nombre > LOT_MAX:
        raise ErreurLot(f"lot trop grand : {nombre} élèves, {LOT_MAX} au plus par requête ; "
                                 "découpez-le en plusieurs lots",
                            [{"champ": "(corps)", "message": f"{LOT_MAX} élèves au plus"}])


def _valider_un(document, maximum: int = DETAILS_MAX) -> tuple[DemandePrediction | None, list[dict], int]:
    """(demande, [], 0) si le document est un élève valide, sinon (None, ``maximum`` problèmes au plus
    détaillés champ par champ, leur total)."""
    if not isinstance(document, dict):
        return None, [{"champ": "(élément)", "message": "un objet JSON avec les attributs de l'élève est attendu"}], 1
    try:
        return DemandePrediction.model_validate(document), [], 0
    except ValidationError as erreur:
        return None, detailler(erreur, maximum), erreur.error_count()


def valider(documents: Sequence, unite: str, lignes: Sequence[int] | None = None) -> list[DemandePrediction]:
    """Valide chaque élément. Un problème nomme son élément par son rang à partir de 1 (``element``, comme le
    ``<rang>`` des request_id et le ``eleves[<rang>]`` de gRPC), le champ à part ; ``lignes`` : le numéro de
    ligne de chaque élément dans le fichier CSV, ajouté au message."""
    demandes, problemes = [], Problemes()
    for i, document in enumerate(documents):
        demande, details, total = _valider_un(document, problemes.place)
        if demande is not None:
            demandes.append(demande)
            continue
        ou = "" if lignes is None else f" (ligne {lignes[i]} du fichier)"
        problemes.ajouter([{"element": i + 1, "champ": d["champ"], "message": d["message"] + ou} for d in details],
                          total)
    problemes.refuser(len(documents), unite)
    return demandes


def _liste_json(document) -> list:
    if not isinstance(document, list):
        raise ErreurLot("le corps doit être une liste JSON d'élèves ([{…}, {…}]) ou un fichier CSV "
                                 "(Content-Type: text/csv)")
    _taille(len(document))
    return document


def lot_json(document) -> list[DemandePrediction]:
    return valider(_liste_json(document), "élément")


def _lignes_csv(brut: bytes, colonnes_max: int = COLONNES_MAX) -> tuple[list[str], str, list[tuple[int, list[str]]], str]:
    """(colonnes de l'en-tête, séparateur, lignes non vides avec leur numéro dans le fichier, encodage lu) ;
    une ligne de plus de ``colonnes_max`` cellules est refusée dès qu'elle est lue."""
    try:
        texte, encodage = decoder(brut)
    except FichierIllisible as erreur:
        raise ErreurLot(f"CSV invalide : {erreur}", [{"champ": "(fichier)", "message": CONSEIL_ENCODAGE}]) from None
    if not texte.strip():
        raise ErreurLot("lot vide : le fichier CSV n'a ni en-tête ni ligne")
    fin_entete = texte.find("\n")
    entete = texte if fin_entete < 0 else texte[:fin_entete]  # sans recopier tout le corps
    separateur = separateur_csv(entete)
    _borner_cellules(entete.count(separateur) + 1, 1, colonnes_max)  # avant d'analyser quoi que ce soit
    lecteur = csv.reader(io.StringIO(texte, newline=""), delimiter=separateur)
    lignes = []  # (numéro de ligne dans le fichier, cellules) : les lignes vides sont sautées mais comptées.
    try:
        for ligne in lecteur:
            _borner_cellules(len(ligne), lecteur.line_num, colonnes_max)
            if "".join(ligne).strip():  # une cellule au moins qui ne soit pas que des blancs
                lignes.append((lecteur.line_num, ligne))
    except csv.Error as erreur:
        raise ErreurLot(f"CSV mal formé à la ligne {lecteur.line_num} ({erreur})") from None
    if not lignes:  # que des séparateurs et des blancs
        raise ErreurLot("lot vide : le fichier CSV n'a ni en-tête ni ligne")
    return [c.strip() for c in lignes[0][1]], separateur, lignes[1:], encodage


def _document_csv(colonnes: list[str], ligne: list[str]) -> dict:
    document = {}
    for colonne, cellule in zip(colonnes, ligne):
        cellule = cellule.strip()
        document[colonne] = None if cellule == "" and colonne in (*NOTES, "user_id") else cellule
    return document


def _nombre_de_valeurs(ligne: list[str], colonnes: list[str]) -> str:
    return f"{len(ligne)} valeurs pour {len(colonnes)} colonnes"


def lire_csv(brut: bytes) -> tuple[list[DemandePrediction], list[str], str]:
    """(demandes validées, colonnes reçues, séparateur) d'un CSV au format UCI."""
    colonnes, separateur, corps, _ = _lignes_csv(brut)
    _verifier_entete(colonnes)
    _taille(len(corps))
    documents, problemes, numeros = [], Problemes(), []
    for rang, (numero, ligne) in enumerate(corps, start=1):
        numeros.append(numero)
        if len(ligne) != len(colonnes):
            problemes.ajouter([{"element": rang, "champ": "(ligne)",
                                "message": f"{_nombre_de_valeurs(ligne, colonnes)} (ligne {numero} du fichier)"}])
            documents.append(None)
            continue
        documents.append(_document_csv(colonnes, ligne))
    problemes.refuser(len(corps), "ligne")
    demandes = valider(documents, "ligne", numeros)
    return demandes, colonnes, separateur


def _borner_cellules(nombre: int, numero: int, colonnes_max: int) -> None:
    """Une ligne de plus de ``colonnes_max`` cellules est refusée dès qu'elle est lue (l'en-tête avant
    toute analyse, d'après ses séparateurs) : ni le travail ni la réponse ne croissent avec elle."""
    if nombre > colonnes_max:
        quoi = "en-tête CSV" if numero == 1 else f"ligne {numero}"
        raise ErreurLot(f"{quoi} trop long : {nombre} cellules, {colonnes_max} colonnes au plus (les "
                                 "32 attributs du fichier UCI et user_id"
                                 + (f", et {colonnes_max - COLONNES_MAX} colonnes à vous" if colonnes_max > COLONNES_MAX
                                    else "") + ") ; rien n'a été prédit",
                            [{"champ": "ligne 1" if numero == 1 else f"ligne {numero}",
                              "message": f"{colonnes_max} colonnes au plus"}])


def _verifier_entete(colonnes: list[str], partiel: bool = False) -> None:
    """Refuse (400) un en-tête inutilisable. En mode partiel, une colonne hors schéma est gardée à
    part (nom, numéro de l'élève…), sauf si elle ne diffère d'un champ que par la casse (« Age »)."""
    details = []
    vues = set()
    for colonne in colonnes:
        if colonne in vues:
            details.append({"champ": colonne or "(vide)", "message": "colonne présente deux fois"})
        vues.add(colonne)
        if colonne == NOTE_FINALE and partiel:
            continue  # la classe de l'an passé : G3 est mise à part, jamais une entrée du modèle
        if colonne == "G3":
            details.append({"champ": "G3", "message": "G3 est la note finale que le modèle prédit : retirez "
                                                     "cette colonne"})
        elif colonne not in COLONNES_PERMISES and (not partiel or colonne.lower() in _EN_MINUSCULES):
            proche = _EN_MINUSCULES.get(colonne.lower())
            details.append({"champ": colonne or "(vide)", "message": "colonne inconnue : les colonnes sont les noms "
                                                                    "du fichier UCI (et user_id, facultatif)"
                                                                    + (f" ; vouliez-vous dire « {proche} » ?"
                                                                       if proche else "")})
    manquantes = [c for c in CHAMPS if c not in vues and c not in NOTES]
    details.extend({"champ": c, "message": "colonne obligatoire manquante"} for c in manquantes)
    if details:  # colonnes_max colonnes au plus (_borner_cellules) : la liste est courte
        raise ErreurLot(f"en-tête CSV invalide ({len(details)} problème(s)) : rien n'a été prédit",
                            details)


def ligne_resultat(colonnes: list[str], valeurs: dict, user_id: str | None, prediction: Prediction,
                   request_id: str, supplementaires: dict | None = None) -> list:
    """Une ligne du CSV de résultats : les cellules reçues (colonnes hors schéma comprises), puis
    ``COLONNES_AJOUTEES`` (décision, probabilités, configuration, request_id, raisons principales)."""
    source = {**(supplementaires or {}), "user_id": user_id, **valeurs}  # un dict : une recherche par cellule
    recues = ["" if v is None else str(v) for v in map(source.get, colonnes)]
    return [*recues, prediction.prediction, prediction.libelle, prediction.probabilite_echec,
            prediction.probabilite_reussite, prediction.confiance_prediction, prediction.seuil,
            prediction.configuration, request_id, " | ".join(f["texte"] for f in prediction.explication)]


FORMULE = re.compile(r"(?<![^,;\t|\r\n])( *)([=+\-@\t\r])")
"""Un début de formule (``= + - @``, tabulation, retour chariot ; OWASP, « CSV Injection ») au début de la
cellule ou après un séparateur courant (``, ; | tabulation``, fin de ligne) : le tableur qui ouvre le fichier
avec un autre séparateur que le nôtre y verrait le début d'une cellule. La même règle est dans
app/web/static/classe.js (``celluleCsv``), pour le téléchargement de la page."""


_DECLENCHEURS = frozenset("=+-@\t\r")


def neutraliser(valeur):
    """Une apostrophe devant chaque début de formule d'un texte (issue 28 : ``x,=cmd|' /C calc'!A0`` ou
    ``y<TAB>=2+2`` devenaient des formules ouverts avec « , » ou une tabulation) ; le reste inchangé. Un texte
    sans aucun caractère déclencheur (presque toutes les cellules) ne passe pas par l'expression régulière :
    400 000 lignes de 41 cellules coûtaient 17 s de CPU à la commande de lot, 2,4 s ainsi."""
    if not isinstance(valeur, str) or _DECLENCHEURS.isdisjoint(valeur):
        return valeur
    return FORMULE.sub(r"\1'\2", valeur)


def ecrire_csv(colonnes: list[str], separateur: str, lignes: list[list]) -> str:
    """Le CSV de réponse : les colonnes reçues puis ``COLONNES_AJOUTEES``, une ligne par élève, même ordre ;
    chaque cellule neutralisée (``neutraliser``). Aussi celui de la commande de lot (app.lot)."""
    sortie = io.StringIO()
    redacteur = csv.writer(sortie, delimiter=separateur, lineterminator="\n")
    redacteur.writerow([neutraliser(c) for c in (*colonnes, *COLONNES_AJOUTEES)])
    redacteur.writerows([neutraliser(c) for c in ligne] for ligne in lignes)
    return sortie.getvalue()


@dataclass
class LotPartiel:
    """Un lot lu en mode partiel : les élèves valides, et les lignes refusées avec leurs problèmes."""

    demandes: list[DemandePrediction] = field(default_factory=list)
    rangs: list[int] = field(default_factory=list)
    """Rang (à partir de 1) de chaque demande parmi les élèves reçus : il fait son request_id."""
    positions: list[int] = field(default_factory=list)
    """Numéro de ligne du CSV (en-tête = 1) ou position dans la liste JSON (à partir de 0)."""
    supplementaires: list[dict] = field(default_factory=list)
    rejets: list[dict] = field(default_factory=list)
    colonnes_supplementaires: list[str] = field(default_factory=list)
    recus: int = 0
    colonnes: list[str] = field(default_factory=list)
    """CSV : les colonnes de l'en-tête, dans l'ordre (celles du CSV de résultats de ``app.lot``), en-têtes
    français traduits en noms UCI, sans G3."""
    separateur: str = ","
    encodage: str | None = None
    """CSV seulement : l'encodage lu (« UTF-8 », « Windows-1252 »…), que la page nomme."""
    colonnes_traduites: dict[str, str] = field(default_factory=dict)
    """En-tête français reçu → nom UCI (« Âge » → « age »)."""
    avec_note_finale: bool = False
    notes_finales: list[int | None] = field(default_factory=list)
    """G3 de chaque demande (la classe de l'an passé), jamais envoyée au modèle ni conservée."""

    def ajouter(self, rang: int, position: int, document, supplementaires: dict, note_finale: int | None = None) -> None:
        demande, problemes, _ = _valider_un(document, PROBLEMES_PAR_REJET)  # travail et réponse bornés par ligne
        if demande is None:
            self.rejets.append({"position": position, "supplementaires": supplementaires, "problemes": problemes})
        else:
            self.demandes.append(demande)
            self.rangs.append(rang)
            self.positions.append(position)
            self.supplementaires.append(supplementaires)
            self.notes_finales.append(note_finale)


def _entete_partiel(brut: bytes) -> tuple[LotPartiel, list[str], list[tuple[int, list[str]]]]:
    """(lot partiel encore vide, colonnes de l'en-tête traduites, lignes avec leur numéro) d'un CSV UCI."""
    recues, separateur, corps, encodage = _lignes_csv(brut, COLONNES_MAX + SUPPLEMENTAIRES_MAX)
    colonnes, traduites = _traduire_entete(recues)
    _verifier_entete(colonnes, partiel=True)
    _taille(len(corps))
    # Une colonne sans nom (séparateur en fin de ligne, fréquent à l'export d'un tableur) est ignorée.
    lot = LotPartiel(colonnes_supplementaires=[c for c in colonnes if c not in (*COLONNES_PERMISES, NOTE_FINALE) and c],
                     recus=len(corps), colonnes=[c for c in colonnes if c != NOTE_FINALE], separateur=separateur,
                     encodage=encodage, colonnes_traduites=traduites, avec_note_finale=NOTE_FINALE in colonnes)
    return lot, colonnes, corps


def lire_csv_partiel(brut: bytes) -> LotPartiel:
    """Le CSV UCI en mode partiel : lignes invalides mises à part, colonnes hors schéma gardées."""
    lot, colonnes, corps = _entete_partiel(brut)
    for rang, (numero, ligne) in enumerate(corps, start=1):
        if len(ligne) != len(colonnes):
            lot.rejets.append({"position": numero, "supplementaires": {},
                               "problemes": [{"champ": "(ligne)", "message": _nombre_de_valeurs(ligne, colonnes)}]})
            continue
        document = _document_csv(colonnes, ligne)
        supplementaires = {c: document.pop(c) for c in lot.colonnes_supplementaires}
        document.pop("", None)
        note_finale = document.pop(NOTE_FINALE, "")
        if lot.avec_note_finale and _note_finale(note_finale) is False:
            lot.rejets.append({"position": numero, "supplementaires": supplementaires, "problemes": [
                {"champ": NOTE_FINALE, "message": f"note finale « {note_finale} » : entier de 0 à 20 attendu, "
                                                  "ou cellule vide"}]})
            continue
        lot.ajouter(rang, numero, document, supplementaires, _note_finale(note_finale))
    return lot


def lire_csv_partiel_colonnes(brut: bytes) -> tuple[LotPartiel, LotColonnes] | None:
    """``lire_csv_partiel`` en colonnes : le même ``LotPartiel`` (rejets, positions, colonnes à soi, G3), mais
    ses élèves valides en ``LotColonnes`` (``demandes`` reste vide) : chaque champ jugé d'une traite
    (``app.modele.colonnes``) ; seules les lignes qu'il refuse passent par pydantic, qui en nomme les
    problèmes. None si pydantic accepte une ligne que les colonnes refusaient (jamais attendu) : l'appelant
    relit alors le fichier par ``lire_csv_partiel``. Mêmes erreurs (``ErreurLot``) pour l'en-tête."""
    lot, colonnes, corps = _entete_partiel(brut)
    largeur = len(colonnes)
    completes = [ligne for _, ligne in corps if len(ligne) == largeur]
    cellules = {nom: list(map(str.strip, valeurs)) for nom, valeurs in zip(colonnes, zip(*completes))} if completes \
        else {nom: [] for nom in colonnes}
    for nom in (*NOTES, "user_id"):  # _document_csv : cellule vide d'une note ou de user_id → None
        if nom in cellules:
            cellules[nom] = [None if c == "" else c for c in cellules[nom]]
    jugees = juger_cellules({nom: cellules[nom] for nom in COLONNES_PERMISES if nom in cellules}, len(completes))
    supplementaires = [cellules[c] for c in lot.colonnes_supplementaires]
    notes_finales = cellules.get(NOTE_FINALE) if lot.avec_note_finale else None
    gardees, i = [], -1
    for rang, (numero, ligne) in enumerate(corps, start=1):
        if len(ligne) != largeur:
            lot.rejets.append({"position": numero, "supplementaires": {},
                               "problemes": [{"champ": "(ligne)", "message": _nombre_de_valeurs(ligne, colonnes)}]})
            continue
        i += 1
        extra = {c: valeurs[i] for c, valeurs in zip(lot.colonnes_supplementaires, supplementaires)}
        note_finale = _note_finale(notes_finales[i]) if notes_finales is not None else None
        if note_finale is False:
            lot.rejets.append({"position": numero, "supplementaires": extra, "problemes": [
                {"champ": NOTE_FINALE, "message": f"note finale « {notes_finales[i]} » : entier de 0 à 20 attendu, "
                                                  "ou cellule vide"}]})
            continue
        if i in jugees.refusees:
            document = _document_csv(colonnes, ligne)
            for c in (*lot.colonnes_supplementaires, NOTE_FINALE, ""):
                document.pop(c, None)
            lot.ajouter(rang, numero, document, extra, note_finale)
            if lot.demandes:  # pydantic l'accepte : les colonnes se sont trompées, relire autrement
                return None
            continue
        gardees.append(i)
        lot.rangs.append(rang)
        lot.positions.append(numero)
        lot.supplementaires.append(extra)
        lot.notes_finales.append(note_finale)
    return lot, garder(jugees, gardees)


def _note_finale(cellule) -> int | None | bool:
    """G3 d'une ligne : l'entier (0 à 20), None si la cellule est vide, False si elle est invalide."""
    cellule = (cellule or "").strip()
    if not cellule:
        return None
    if not FORME_ENTIER_TEXTE.fullmatch(cellule) or int(cellule) > 20:
        return False
    return int(cellule)


def _traduire_entete(colonnes: list[str]) -> tuple[list[str], dict[str, str]]:
    """Les en-têtes français (libellés du schéma, « Note finale »…) remplacés par leur nom UCI ; un nom UCI,
    une colonne à soi ou un nom qui ne diffère d'un champ que par la casse (refusé ensuite) restent tels quels."""
    resultat, traduites = [], {}
    for colonne in colonnes:
        nom = None if colonne in COLONNES_PERMISES or colonne.lower() in _EN_MINUSCULES else nom_colonne(colonne)
        if nom:
            traduites[colonne] = nom
        resultat.append(nom or colonne)
    return resultat, traduites


def lot_json_partiel(document) -> LotPartiel:
    """Une liste JSON en mode partiel : éléments invalides mis à part, clés hors schéma gardées."""
    elements = _liste_json(document)
    lot, vues = LotPartiel(recus=len(elements)), {}
    for rang, element in enumerate(elements, start=1):
        supplementaires = {}
        if isinstance(element, dict):  # une clé qui ne diffère d'un champ que par la casse reste une erreur
            supplementaires = {k: v for k, v in element.items() if k.lower() not in _EN_MINUSCULES}
            element = {k: v for k, v in element.items() if k not in supplementaires}
            vues.update(dict.fromkeys(supplementaires))
        lot.ajouter(rang, rang - 1, element, supplementaires)
    lot.colonnes_supplementaires = list(vues)
    return lot

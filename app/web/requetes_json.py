"""Lecture stricte d'un corps JSON : type de contenu, doublons, NaN, profondeur."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import orjson
from flask import Request
from pydantic import TypeAdapter
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.modele.colonnes import LotColonnes
from app.modele.colonnes import lot_json as colonnes_json
from app.modele.schema import DemandePrediction
from app.web.erreurs import ErreurRequete

journal = logging.getLogger("prediction_etudiante")

CLES_MAX = 64
"""Clés au plus dans un objet JSON reçu. Le plus grand objet de l'API (un élève : 32 attributs et
``user_id``) en a 33 ; au-delà, l'objet est refusé avant que pydantic fasse un travail par clé (une
suggestion « vouliez-vous dire » par clé inconnue : 38 s de calcul pour des centaines de milliers)."""


def _sans_doublon(paires: list[tuple[str, Any]]) -> dict:
    if len(paires) > CLES_MAX:
        raise ErreurRequete(400, f"objet JSON trop grand : {len(paires)} clés, {CLES_MAX} au plus (un élève a "
                                 f"{len(DemandePrediction.model_fields)} champs au plus)",
                            [{"champ": "(corps)", "message": f"{CLES_MAX} clés au plus par objet"}])
    objet = dict(paires)  # en C ; la boucle Python ne sert qu'à nommer la clé en double
    if len(objet) != len(paires):
        vues: set[str] = set()
        for cle, _ in paires:
            if cle in vues:
                raise ErreurRequete(400, "JSON invalide : clé en double",
                                    [{"champ": cle, "message": "clé présente deux fois"}])
            vues.add(cle)
    return objet


def _constante_interdite(nom: str):
    raise ErreurRequete(400, f"JSON invalide : {nom} n'est pas une valeur JSON permise")


def est_json(requete: Request) -> bool:
    return requete.mimetype == "application/json" or requete.mimetype.endswith("+json")


def lire_corps(requete: Request, nature: str) -> bytes:
    """Le corps brut (JSON ou CSV), ou une ``ErreurRequete`` claire : 415 s'il est compressé, 413 s'il
    dépasse la limite de la route (même envoyé en morceaux), 400 s'il est illisible."""
    if requete.content_encoding:
        raise ErreurRequete(415, f"encodage de contenu non pris en charge ({requete.content_encoding}) : "
                                 f"envoyez le {nature} non compressé")
    try:
        brut = requete.get_data(cache=True)  # 413 levé par Werkzeug au-delà de MAX_CONTENT_LENGTH
        limite = requete.max_content_length
        if limite is not None and requete.content_length is None and len(brut) >= limite:
            # Corps en morceaux (Transfer-Encoding: chunked) : Werkzeug s'arrête à la limite sans erreur
            # et rendrait le début tronqué ; s'il reste un octet, le corps dépasse la limite.
            if requete.environ["wsgi.input"].read(1):
                raise RequestEntityTooLarge()
    except HTTPException:
        raise
    except Exception as erreur:  # flux du serveur WSGI : morceaux (chunked) mal formés, connexion coupée…
        journal.info("corps de requête illisible (%s)", type(erreur).__name__)
        raise ErreurRequete(400, "corps de requête illisible : coupé ou mal découpé (Transfer-Encoding: chunked "
                                 "invalide)") from None
    return brut


_TEXTE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
"""Une chaîne JSON (échappements compris) : ce qu'elle contient n'est ni un objet, ni une liste, ni un élément."""


def borner_elements(brut: bytes, objets_max: int) -> None:
    """Coût d'analyse borné avant de matérialiser le corps (issue 28 : un lot de 16 Mio de ``{}`` faisait
    passer un worker de 152 à 569 Mio, deux à la fois au-delà de 1 Gio). Les chaînes retirées (en C), les
    octets ``{``, ``[`` et ``,`` restants majorent les objets, listes et éléments que ``json.loads``
    créerait. Au-delà de deux conteneurs par élève (un élève, une valeur hors schéma structurée) ou de
    ``CLES_MAX`` + 1 éléments par élève, le lot est invalide de toute façon : refusé avant ``json.loads``."""
    def depasse(octets: bytes) -> tuple[int, int] | None:
        conteneurs, elements = octets.count(b"{") + octets.count(b"["), octets.count(b",")
        if conteneurs > 2 * objets_max + 1 or elements > (objets_max + 1) * (CLES_MAX + 1):
            return conteneurs, elements
        return None

    # D'abord sur le corps tel quel (quelques ms pour 16 Mio) ; les chaînes ne sont retirées (plus cher) que
    # s'il dépasse : des virgules dans des valeurs texte hors schéma ne font pas refuser un lot valide.
    trop = depasse(brut) and depasse(_TEXTE.sub(b'""', brut))
    if trop:
        conteneurs, elements = trop
        raise ErreurRequete(400, f"lot JSON trop grand : plus de {objets_max} élèves ou de {CLES_MAX} clés par élève "
                                 f"({conteneurs} objets ou listes, {elements + 1} éléments) ; refusé avant son analyse",
                            [{"champ": "(corps)", "message": f"{objets_max} élèves au plus"}])


def lire_json(requete: Request, objets_max: int | None = None) -> Any:
    """Le document JSON du corps, ou une ``ErreurRequete`` 400/413/415 claire ; ``objets_max`` (lots) : coût
    d'analyse borné d'abord (``borner_elements``)."""
    if not est_json(requete):
        recu = requete.mimetype or "aucun"
        raise ErreurRequete(415, f"type de contenu non pris en charge ({recu}) : envoyez du JSON "
                                 "avec l'en-tête Content-Type: application/json")
    brut = lire_corps(requete, "JSON")
    if not brut.strip():
        raise ErreurRequete(400, "corps de requête vide : un objet JSON est attendu")
    if objets_max is not None:
        borner_elements(brut, objets_max)
    try:
        texte = brut.decode("utf-8")
    except UnicodeDecodeError:
        raise ErreurRequete(400, "JSON invalide : le corps n'est pas de l'UTF-8") from None
    try:
        return json.loads(texte, object_pairs_hook=_sans_doublon, parse_constant=_constante_interdite)
    except json.JSONDecodeError as erreur:
        raise ErreurRequete(400, f"JSON mal formé à la ligne {erreur.lineno}, colonne {erreur.colno}") from None
    except RecursionError:
        raise ErreurRequete(400, "JSON invalide : imbrication trop profonde") from None
    except ValueError:  # p. ex. entier de plus de 4 300 chiffres
        raise ErreurRequete(400, "JSON invalide : nombre démesuré") from None


_FIN_DE_CLE = re.compile(rb'"[ \t\n\r]*:')
"""La fin d'une clé d'objet JSON. Dans un élève valide, aucune valeur texte ne contient de guillemet (valeurs
permises, chiffres, ``user_id`` en lettres, chiffres et ``. _ : -``) : chaque occurrence termine une clé."""


def demande_directe(brut: bytes) -> DemandePrediction | None:
    """Le corps d'un ``/predire`` valide, analysé et validé en une passe (``model_validate_json`` de pydantic) ;
    None pour tout autre corps : la lecture stricte (``lire_json`` puis ``model_validate``) en donne alors
    l'erreur exacte, en français. Cette passe ne juge seule aucun refus ; elle ne laisse passer que ce que la
    lecture stricte accepte : un nombre non fini ou une valeur démesurée échoue à la validation, et une clé en
    double (que l'analyseur JSON de pydantic confondrait avec l'autre) se voit au nombre de clés du corps."""
    try:
        demande = DemandePrediction.model_validate_json(brut)
    except (ValueError, RecursionError):  # ValidationError (JSON mal formé compris), ou imprévu : la voie stricte
        return None
    if len(_FIN_DE_CLE.findall(brut)) != len(demande.model_fields_set):
        return None
    return demande


_LISTE_DEMANDES = TypeAdapter(list[DemandePrediction])


def lot_direct(brut: bytes, objets_max: int) -> list[DemandePrediction] | None:
    """Le corps d'un ``POST /predire/lot`` JSON valide (1 à ``objets_max`` élèves), analysé et validé en une
    passe (``validate_json`` de pydantic, comme ``demande_directe`` pour un élève) ; None pour tout autre corps :
    la lecture stricte (``lire_json`` puis ``app.modele.lots.lot_json``) en donne alors l'erreur exacte, par
    élément. Lire puis valider élève par élève coûtait le quart du CPU d'un lot de 1 000 (``make banc``).

    Cette passe ne juge seule aucun refus, sauf celui de ``borner_elements`` (le même, fait avant toute
    analyse, que la lecture stricte ferait). Une clé en double, que l'analyseur de pydantic confondrait avec
    l'autre, se voit aux deux-points : chaque clé en a un, et dans un lot valide aucune autre valeur n'en
    contient qu'un ``user_id`` (qui envoie alors par la lecture stricte) ; autant de « : » que de champs reçus,
    c'est une clé par champ."""
    borner_elements(brut, objets_max)
    try:
        demandes = _LISTE_DEMANDES.validate_json(brut)
    except (ValueError, RecursionError):  # ValidationError (JSON mal formé compris), ou imprévu : la voie stricte
        return None
    if not 0 < len(demandes) <= objets_max or brut.count(b":") != sum(len(d.model_fields_set) for d in demandes):
        return None
    return demandes


def lot_en_colonnes(brut: bytes, objets_max: int) -> LotColonnes | None:
    """Le corps d'un ``POST /predire/lot`` JSON valide (1 à ``objets_max`` élèves), analysé par orjson et validé
    champ par champ sur tout le lot (``app.modele.colonnes``), sans objet pydantic par élève ; None pour tout
    autre corps, que ``lot_direct`` puis la lecture stricte servent ou refusent comme avant (message exact).

    Comme ``lot_direct``, ne juge seul aucun refus, sauf celui de ``borner_elements``. orjson refuse ce que la
    lecture stricte refuse (NaN, BOM, UTF-8 invalide, surrogates isolés…) et garde la dernière d'une clé en
    double : autant de « : » que de clés reçues, c'est une clé par champ (voir ``lot_direct``)."""
    borner_elements(brut, objets_max)
    try:
        documents = orjson.loads(brut)
    except (orjson.JSONDecodeError, RecursionError):
        return None
    if type(documents) is not list or not 0 < len(documents) <= objets_max \
            or set(map(type, documents)) != {dict} or brut.count(b":") != sum(map(len, documents)):
        return None
    return colonnes_json(documents)

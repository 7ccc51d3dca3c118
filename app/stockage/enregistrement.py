"""L'enregistrement d'une prédiction servie : seule définition de ses champs.

La ligne du journal (mêmes clés, même ordre), la table SQL (``app.stockage.magasin``) et le
modèle de l'OpenAPI (``app.web.contrat.PredictionConservee``, qui précise ``entrees`` et les
valeurs permises) en dérivent tous. Ajouter un champ ici l'ajoute partout.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional

import orjson
from pydantic import BaseModel, Field
from sqlalchemy import JSON, Column, DateTime, Float, SmallInteger, String
from sqlalchemy.types import TypeEngine

LONGUEUR_MAX_IDENTIFIANT = 128
CANAUX = ("http", "grpc", "lot")
"""Par où la prédiction a été demandée : l'API HTTP (Flask), le serveur gRPC (``app.rpc``) ou la commande
de lot (``python -m app.lot`` : les fichiers de classes d'un district)."""


@dataclass(frozen=True)
class Sql:
    """Le type de la colonne SQL d'un champ (métadonnée ``Annotated`` lue par ``colonnes_sql``)."""

    type: TypeEngine
    nullable: bool = False
    unique: bool = False
    defaut: str | None = None
    """Valeur par défaut côté base (``server_default``) : celle que reçoivent les lignes d'une base
    créée avant ce champ quand ``app.stockage.magasin`` ajoute la colonne au démarrage."""


class Enregistrement(BaseModel):
    """Une prédiction telle que conservée : ligne du journal des requêtes et ligne de la base."""

    horodatage: Annotated[str, Sql(DateTime(timezone=True))] = Field(description="Date et heure UTC (ISO 8601)")
    request_id: Annotated[str, Sql(String(LONGUEUR_MAX_IDENTIFIANT), unique=True)]
    user_id: Annotated[Optional[str], Sql(String(LONGUEUR_MAX_IDENTIFIANT), nullable=True)]
    configuration: Annotated[str, Sql(String(1))]
    entrees: Annotated[dict[str, Any], Sql(JSON)]
    prediction: Annotated[int, Sql(SmallInteger)]
    probabilite_echec: Annotated[float, Sql(Float)] = Field(ge=0, le=1)
    probabilite_reussite: Annotated[float, Sql(Float)] = Field(ge=0, le=1)
    seuil: Annotated[float, Sql(Float)] = Field(gt=0, le=1)
    model_version: Annotated[str, Sql(String(LONGUEUR_MAX_IDENTIFIANT))]
    # Ajouté avec le serveur gRPC : les lignes d'avant venaient toutes de l'API HTTP (défaut « http »).
    canal: Annotated[Literal[CANAUX], Sql(String(8), defaut="http")] = Field(  # type: ignore[valid-type]
        description="Canal de la demande : http (API REST), grpc (serveur gRPC) ou lot (python -m app.lot)")


COLONNES_ENREGISTREMENT = tuple(Enregistrement.model_fields)
"""Les clés d'un enregistrement, dans l'ordre de la ligne du journal."""


def colonnes_sql() -> list[Column]:
    """Une colonne SQL par champ de l'enregistrement (type, nullabilité et unicité de ``Sql``)."""
    colonnes = []
    for nom, champ in Enregistrement.model_fields.items():
        sql = next(m for m in champ.metadata if isinstance(m, Sql))
        colonnes.append(Column(nom, sql.type, nullable=sql.nullable, unique=sql.unique, server_default=sql.defaut))
    return colonnes


def horodatage_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def nouvel_enregistrement(**valeurs) -> dict:
    """L'enregistrement en dict (la forme que le journal et la base reçoivent, sans copie pydantic sur
    le chemin de ``/predire``) : exactement les clés de ``Enregistrement``, dans son ordre ;
    ``horodatage`` est l'instant présent s'il n'est pas donné. Une clé en trop ou manquante : erreur."""
    valeurs.setdefault("horodatage", None)
    if valeurs["horodatage"] is None:
        valeurs["horodatage"] = horodatage_utc()
    if len(valeurs) != len(COLONNES_ENREGISTREMENT) or set(valeurs) != set(COLONNES_ENREGISTREMENT):
        raise TypeError(f"champs inattendus : {sorted(set(valeurs) - set(COLONNES_ENREGISTREMENT))} ; "
                        f"champs manquants : {sorted(set(COLONNES_ENREGISTREMENT) - set(valeurs))}")
    return {cle: valeurs[cle] for cle in COLONNES_ENREGISTREMENT}


def relire_ligne(ligne: bytes) -> dict | None:
    """Une ligne du journal en enregistrement à insérer (les clés de ``COLONNES_ENREGISTREMENT``), ou None
    (illisible, champ manquant) : la seule relecture d'une ligne, pour le suiveur comme pour la réconciliation.
    orjson (en C) d'abord ; json ensuite pour ce qu'orjson refuse et qu'une ligne peut contenir (NaN écrit par
    le repli de ``en_octets``, entier de plus de 64 bits)."""
    try:
        document = orjson.loads(ligne)
    except orjson.JSONDecodeError:
        try:
            document = json.loads(ligne)
        except (ValueError, RecursionError):
            return None
    if not isinstance(document, dict):
        return None
    document.setdefault("canal", "http")  # lignes d'avant le serveur gRPC
    try:
        return {cle: document[cle] for cle in COLONNES_ENREGISTREMENT}
    except KeyError:
        return None


_SEL_EFFACEMENT: bytes = b""
"""EFFACEMENT_SEL, posé au démarrage par ``definir_sel`` (app.modele.noyau) ; vide : empreinte sans clé
(développement local seulement : la configuration l'exige sur Cloud Run)."""
CONTROLE = b"prediction-etudiante/controle-du-sel"


def definir_sel(sel: str) -> None:
    """La clé des empreintes de ce processus (avant le fork de gunicorn : les workers en héritent)."""
    global _SEL_EFFACEMENT
    _SEL_EFFACEMENT = sel.encode("utf-8")


def empreinte_sans_cle(user_id: str) -> str:
    """L'empreinte d'avant l'issue 28 : sha256 salé d'une constante du code. Un million d'identifiants
    candidats se hachent en 2 s : seule, elle ne protège rien (registres existants, migrés par ``avec_cle``)."""
    return hashlib.sha256(b"prediction-etudiante/effacement\0" + user_id.encode("utf-8")).hexdigest()


def avec_cle(empreinte: str) -> str:
    """HMAC-SHA256 d'une empreinte sans clé, par EFFACEMENT_SEL : ce que la migration applique aux entrées
    existantes du registre, qui n'ont plus le user_id. Sans sel : l'empreinte telle quelle."""
    if not _SEL_EFFACEMENT:
        return empreinte
    return hmac.new(_SEL_EFFACEMENT, empreinte.encode("ascii"), hashlib.sha256).hexdigest()


def controle_sel() -> str:
    """Ce qui dit avec quel sel un registre ou un index a été écrit, sans révéler le sel ("" : sans clé)."""
    return hmac.new(_SEL_EFFACEMENT, CONTROLE, hashlib.sha256).hexdigest() if _SEL_EFFACEMENT else ""


def empreinte_utilisateur(user_id: str) -> str:
    """Ce que le registre des effacements et l'index des segments du journal gardent d'un user_id :
    HMAC-SHA256 par le sel secret du déploiement (EFFACEMENT_SEL) de son empreinte sans clé. Sans le sel,
    essayer des identifiants candidats ne retrouve personne ; les lignes restent retrouvables par l'API."""
    return avec_cle(empreinte_sans_cle(user_id))

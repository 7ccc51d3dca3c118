"""Les réponses de l'API, décrites par des modèles pydantic pour le document OpenAPI."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from app.schema import Eleve


class Facteur(BaseModel):
    champ: str = Field(description="Nom du champ d'entrée")
    valeur: Union[int, str] = Field(description="Valeur de l'élève pour ce champ")
    effet: Literal["augmente le risque d'échec", "diminue le risque d'échec"]
    contribution: float = Field(description="Déplacement de la prédiction dû à ce champ "
                                            "(probabilité d'échec, ou log-cote pour le gradient boosting)")
    poids: float = Field(ge=0, le=1, description="Part de ce champ dans l'explication totale")
    texte: str = Field(description="Phrase en français")


class Resultats(Eleve):
    model_config = ConfigDict(extra="forbid", title="Resultats")
    prediction: Literal[0, 1] = Field(description="0 = échec, 1 = réussite")
    libelle: Literal["échec", "réussite"]
    probabilite_echec: float = Field(ge=0, le=1)
    probabilite_reussite: float = Field(ge=0, le=1)
    confiance_prediction: float = Field(ge=0, le=1, description="Distance au seuil ramenée à [0, 1]")
    seuil: float = Field(gt=0, le=1, description="Échec prédit quand probabilite_echec ≥ seuil")
    configuration: Literal["A", "B", "C"] = Field(description="A : G1 et G2 connus ; B : G1 seul ; C : aucune note")
    explication: list[Facteur] = Field(description="Facteurs principaux, du plus important au moins important")


class ReponsePrediction(BaseModel):
    resultats: Resultats
    request_id: str
    model_version: str
    inference_time_ms: float = Field(ge=0)
    avertissements: Optional[list[str]] = Field(default=None, description="Présent quand G1 ou G2 manquent")


class DetailErreur(BaseModel):
    champ: str
    message: str


class Erreur(BaseModel):
    erreur: str = Field(description="Message en français")
    details: list[DetailErreur]


MODELES = (Eleve, Facteur, Resultats, ReponsePrediction, DetailErreur, Erreur)

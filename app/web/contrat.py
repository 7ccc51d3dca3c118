"""Les réponses de l'API, décrites par des modèles pydantic pour le document OpenAPI."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from app.modele.schema import DemandePrediction, Eleve, IdentifiantEleve, entier_borne
from app.stockage.enregistrement import Enregistrement


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
    user_id: Optional[str] = Field(description="L'identifiant pseudonyme reçu, ou null")
    model_version: str
    inference_time_ms: float = Field(ge=0)
    avertissements: Optional[list[str]] = Field(default=None, description="Présent quand G1 ou G2 manquent")


class ResultatLot(Resultats):
    model_config = ConfigDict(extra="forbid", title="ResultatLot")
    request_id: str = Field(description="<X-Request-ID du lot>-<rang> (rang à partir de 1) : relisible par "
                                        "GET /predictions/{request_id}")
    user_id: Optional[str] = Field(description="L'identifiant pseudonyme reçu pour cet élève, ou null")
    avertissements: Optional[list[str]] = Field(default=None, description="Présent quand G1 ou G2 manquent")


class ReponseLot(BaseModel):
    resultats: list[ResultatLot] = Field(description="Une prédiction par élève, dans l'ordre reçu")
    nombre: int = Field(ge=1)
    request_id: str
    model_version: str
    inference_time_ms: float = Field(ge=0, description="Validation et prédiction du lot entier")


class PredictionConservee(Enregistrement):
    """Une prédiction telle que conservée en base et au journal (champs de ``app.stockage.enregistrement``),
    avec ce que la base ne sait pas dire : les entrées validées et les valeurs permises."""
    configuration: Literal["A", "B", "C"]
    entrees: Eleve
    prediction: Literal[0, 1]


LIMITE_DEFAUT = 20
LIMITE_MAX = 100
DECALAGE_MAX = 10_000_000
"""Bornes de la pagination de l'historique : la route les applique, l'OpenAPI et ce contrat les décrivent."""


class Pagination(BaseModel):
    limite: int = Field(ge=1, le=LIMITE_MAX)
    decalage: int = Field(ge=0, le=DECALAGE_MAX)
    total: int = Field(ge=0, description="Nombre de prédictions conservées pour cet élève")
    suivant: Optional[str] = Field(description="GET : chemin de la page suivante, ou null ; POST : toujours null "
                                               "(le chemin porterait le user_id), voir decalage_suivant")
    decalage_suivant: Optional[int] = Field(default=None, description="decalage de la page suivante, ou null")


class DemandeHistorique(BaseModel):
    """Corps de ``POST /historique`` : le user_id n'apparaît pas dans l'URL (ni donc dans les
    journaux d'accès de gunicorn et de Cloud Run, qui survivent à l'effacement)."""
    model_config = ConfigDict(extra="forbid", title="DemandeHistorique")
    user_id: IdentifiantEleve
    limite: entier_borne(1, LIMITE_MAX, "Taille de la page") = LIMITE_DEFAUT
    decalage: entier_borne(0, DECALAGE_MAX, "Prédictions à sauter") = 0


class DemandeEffacement(BaseModel):
    """Corps de ``POST /effacement`` (droit à l'effacement, user_id hors de l'URL)."""
    model_config = ConfigDict(extra="forbid", title="DemandeEffacement")
    user_id: IdentifiantEleve


class Historique(BaseModel):
    user_id: str
    predictions: list[PredictionConservee] = Field(description="Les plus récentes d'abord")
    pagination: Pagination


class Effacement(BaseModel):
    user_id: str
    supprimees: int = Field(ge=0, description="Prédictions supprimées de la base")
    lignes_journal_supprimees: Optional[int] = Field(
        ge=0, description="Lignes retirées du journal des requêtes ; null s'il ne va pas dans un fichier")
    avertissements: Optional[list[str]] = Field(default=None, description="Présent si le journal va aussi "
                                                                         "sur la sortie standard")


class DetailErreur(BaseModel):
    champ: str
    message: str


class Erreur(BaseModel):
    erreur: str = Field(description="Message en français")
    details: list[DetailErreur]


MODELES = (Eleve, DemandePrediction, Facteur, Resultats, ReponsePrediction, ResultatLot, ReponseLot, PredictionConservee, Pagination,
           Historique, Effacement, DetailErreur, Erreur, DemandeHistorique, DemandeEffacement)

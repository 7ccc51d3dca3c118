"""Les objets partagés par les routes : prédicteur, journal, magasin des résultats, conservation, configuration."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from app.artefacts import Artefacts
from app.config import Configuration
from app.conservation import ConservationGroupee
from app.journal_requetes import JournalRequetes
from app.lots import PlacesLots
from app.magasin import MagasinResultats
from app.predicteur import Predicteur

CLE = "prediction_etudiante"


@dataclass
class Services:
    configuration: Configuration
    artefacts: Artefacts
    predicteur: Predicteur
    journal: JournalRequetes
    magasin: MagasinResultats
    conservation: ConservationGroupee
    places_lots: PlacesLots
    """``LOTS_SIMULTANES`` lots traités à la fois par processus (voir ``app.lots.PlacesLots``)."""


def services() -> Services:
    return current_app.extensions[CLE]

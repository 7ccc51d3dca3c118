"""Les objets partagés par les routes : prédicteur, journal, magasin des résultats, conservation, configuration."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from app.config import Configuration
from app.modele.artefacts import Artefacts
from app.modele.predicteur import Predicteur
from app.stockage.conservation import Conservation
from app.stockage.journal import JournalRequetes
from app.stockage.magasin import MagasinResultats
from app.web.lots import PlacesLots

CLE = "prediction_etudiante"


@dataclass
class Services:
    configuration: Configuration
    artefacts: Artefacts
    predicteur: Predicteur
    journal: JournalRequetes
    magasin: MagasinResultats
    conservation: Conservation
    places_lots: PlacesLots
    """``LOTS_SIMULTANES`` lots traités à la fois par processus (voir ``app.web.lots.PlacesLots``)."""
    identification: object
    """``app.web.identification.Identification`` (non importée ici : elle importe ce module). Mode d'identité, fichier d'accès, sessions et journal des accès (``app.web.identite``)."""


def services() -> Services:
    return current_app.extensions[CLE]

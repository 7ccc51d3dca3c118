"""Les objets partagés par les routes : prédicteur, journal, configuration, fiche du modèle."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from app.artefacts import Artefacts
from app.config import Configuration
from app.journal_requetes import JournalRequetes
from app.predicteur import Predicteur

CLE = "prediction_etudiante"


@dataclass
class Services:
    configuration: Configuration
    artefacts: Artefacts
    predicteur: Predicteur
    journal: JournalRequetes


def services() -> Services:
    return current_app.extensions[CLE]

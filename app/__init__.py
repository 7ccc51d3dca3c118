"""API de prédiction de la réussite des élèves (Flask, fabrique d'application).

Les couches sont des dossiers : ``web`` → ``modele`` → ``stockage`` (un import ne fait que
descendre) ; ``entrainement`` à côté, jamais importé par le service. Importer ``app`` ne charge
ni Flask ni le modèle : l'entraînement et les outils importent ``app.modele`` sans le web.
"""

from __future__ import annotations

from app.config import VERSION as __version__  # noqa: F401 — la version vit avec la configuration


def create_app(config=None):
    """La fabrique Flask (``app.web.fabrique.create_app``) : modèle vérifié, stockage, routes."""
    from app.web.fabrique import create_app as fabriquer

    return fabriquer(config)

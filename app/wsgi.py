"""Point d'entrée WSGI de gunicorn : ``app.wsgi:app``. Refuse de démarrer si le modèle est invalide."""

import logging
import sys

from app import create_app, journalisation
from app.config import ErreurConfiguration
from app.modele.artefacts import ErreurArtefacts

# Les messages de l'application (modèle chargé, base utilisée…) passent par le journal de gunicorn.
_gunicorn = logging.getLogger("gunicorn.error")
if _gunicorn.handlers:
    _application = logging.getLogger("prediction_etudiante")
    _application.handlers = list(_gunicorn.handlers)
    _application.setLevel(_gunicorn.level)
    _application.propagate = False

try:
    app = create_app()
except (ErreurArtefacts, ErreurConfiguration) as erreur:
    journalisation.signaler_arret(f"démarrage impossible : {erreur}")
    sys.exit(3)

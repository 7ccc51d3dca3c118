"""Point d'entrée WSGI de gunicorn : ``app.wsgi:app``. Refuse de démarrer si le modèle est invalide."""

import sys

from app import create_app
from app.artefacts import ErreurArtefacts
from app.config import ErreurConfiguration

try:
    app = create_app()
except (ErreurArtefacts, ErreurConfiguration) as erreur:
    print(f"démarrage impossible : {erreur}", file=sys.stderr, flush=True)
    sys.exit(3)

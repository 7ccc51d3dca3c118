"""Serveur de développement : ``python -m app.main`` (0.0.0.0:$PORT, jamais en mode debug).

En production, l'image lance gunicorn avec ``gunicorn.conf.py``.
"""

from __future__ import annotations

import logging
import sys

from app import create_app
from app.config import Configuration, ErreurConfiguration
from app.modele.artefacts import ErreurArtefacts


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = Configuration.depuis_environnement()
        app = create_app(config)
    except (ErreurArtefacts, ErreurConfiguration) as erreur:
        print(f"démarrage impossible : {erreur}", file=sys.stderr)
        return 3
    app.run(host="0.0.0.0", port=config.port, debug=False, use_reloader=False, use_debugger=False, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

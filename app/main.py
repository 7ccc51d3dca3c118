"""Serveur de développement : ``python -m app.main`` ($HOTE:$PORT, 127.0.0.1 par défaut, jamais en mode debug).

En production, l'image lance gunicorn avec ``gunicorn.conf.py``.
"""

from __future__ import annotations

import atexit
import sys

from app import create_app, journalisation
from app.config import Configuration, ErreurConfiguration
from app.modele.artefacts import ErreurArtefacts


def main() -> int:
    journalisation.configurer()
    try:
        config = Configuration.depuis_environnement()
        app = create_app(config)
    except (ErreurArtefacts, ErreurConfiguration) as erreur:
        journalisation.signaler_arret(f"démarrage impossible : {erreur}")
        return 3
    for tache in [*app.extensions.get("taches_au_lancement", []), *app.extensions.get("taches_de_fond", [])]:
        tache()
    # À la sortie, dans l'ordre de gunicorn : l'arrêt du processus (worker_exit), puis celui de l'instance (on_exit).
    taches = [*app.extensions.get("taches_d_arret", []), *app.extensions.get("taches_de_sortie", [])]
    atexit.register(lambda: [tache() for tache in taches])
    app.run(host=config.hote, port=config.port, debug=False, use_reloader=False, use_debugger=False, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Le modèle compilé que sert l'API : lu dans le cache, ou compilé (scikit-learn) puis mis en cache.

Seul module qui relie le cache et le compilateur : ``cache`` ne connaît pas ``compilation``, et
``compilation`` n'écrit le cache que par ``cache.ecrire_cache``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.modele.compile.arbres import ArbresCompiles
from app.modele.compile.cache import ecrire_cache, lire_cache
from app.modele.compile.vote import VoteCompile
from app.modele.schema import CONFIGURATIONS

journal = logging.getLogger("prediction_etudiante")


def compiles_pour(artefacts, chemin: str | Path) -> dict[str, ArbresCompiles | VoteCompile]:
    """Le modèle compilé des artefacts : depuis le cache s'il est valide, sinon compilé (scikit-learn)
    puis écrit dans le cache si le dossier le permet (sinon, compilé à chaque démarrage)."""
    compiles = lire_cache(chemin, artefacts.sha256, artefacts.sha256_variables)
    if compiles is not None and set(compiles) == set(CONFIGURATIONS):
        return compiles
    # Sans cache, ou une configuration y manque (non compilable : il faudra scikit-learn de toute façon).
    from app.modele.compile.compilation import (
        compiler_tout,  # scikit-learn : seulement ici
    )

    compiles, refus = compiler_tout(artefacts.modele)
    for configuration, raison in refus.items():
        journal.warning("configuration %s servie par le pipeline (non compilée : %s)", configuration, raison)
    try:
        ecrire_cache(chemin, compiles, artefacts.sha256, artefacts.sha256_variables)
        journal.info("cache compilé écrit : %s", chemin)
    except OSError as erreur:
        journal.warning("cache compilé non écrit (%s) : le modèle sera recompilé au prochain démarrage "
                        "(python -m app.modele.compile.compilation)", erreur.strerror)
    return compiles

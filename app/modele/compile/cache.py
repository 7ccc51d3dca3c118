"""Le cache du modèle compilé : un ``.npz`` (tableaux numpy, jamais de pickle) à côté du modèle.

Il porte le sha256 du modèle et celui de ``features.pkl`` dont il vient : un cache d'un autre
modèle est ignoré (puis réécrit). Avec un cache valide, l'API démarre sans importer
scikit-learn ni pandas (démarrage à froid rapide, Cloud Run ; joblib, léger, reste importé
par ``app.modele.artefacts``) ; ``np.load`` avec
``allow_pickle=False`` n'exécute aucun code. Le cache se régénère par
``python -m app.modele.compile.compilation`` (fait dans l'image Docker) ou au premier démarrage.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np

from app.modele.artefacts import ecrire_ensemble
from app.modele.compile.arbres import ArbresCompiles
from app.modele.compile.vote import VoteCompile, depuis_tableaux

FORMAT_CACHE = 2
"""À augmenter à chaque changement de la compilation : un cache d'un format antérieur est refait."""
journal = logging.getLogger("prediction_etudiante")


def ecrire_cache(chemin: str | Path, compiles: dict[str, ArbresCompiles | VoteCompile], sha256_modele: str,
                 sha256_variables: str) -> None:
    """Écrit le cache dans un temporaire voisin puis le renomme (jamais de cache à moitié écrit)."""
    chemin = Path(chemin)
    tableaux = {"format": np.array([FORMAT_CACHE]), "sha256_modele": np.array(sha256_modele),
                "sha256_variables": np.array(sha256_variables),
                "configurations": np.array(sorted(compiles), dtype=np.str_).reshape(len(compiles))}
    for configuration, compile_ in compiles.items():
        tableaux.update(compile_.en_tableaux(f"{configuration}."))
    tampon = io.BytesIO()
    np.savez(tampon, **tableaux)
    ecrire_ensemble(chemin.parent, {chemin.name: tampon.getvalue()})


def lire_cache(chemin: str | Path, sha256_modele: str, sha256_variables: str) -> dict[str, ArbresCompiles | VoteCompile] | None:
    """Les configurations compilées, ou None si le cache manque, est illisible ou vient d'un autre modèle."""
    chemin = Path(chemin)
    if not chemin.is_file():
        return None
    try:
        with np.load(chemin, allow_pickle=False) as tableaux:
            if int(tableaux["format"][0]) != FORMAT_CACHE or str(tableaux["sha256_modele"]) != sha256_modele \
                    or str(tableaux["sha256_variables"]) != sha256_variables:
                journal.info("cache compilé %s périmé (autre modèle) : il sera refait", chemin)
                return None
            return {c: depuis_tableaux(c, tableaux, f"{c}.") for c in tableaux["configurations"].tolist()}
    except (OSError, ValueError, KeyError) as erreur:
        journal.warning("cache compilé %s illisible (%s) : il sera refait", chemin, type(erreur).__name__)
        return None

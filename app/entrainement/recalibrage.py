"""``make recalibrer DONNEES=fichier.csv [RAPPEL=0.80]`` : des seuils de décision réglés sur les
résultats d'un établissement, sans réentraîner le modèle.

Le fichier est celui de l'an passé (format UCI, avec G1, G2 et la note finale G3). Pour chaque
configuration, on calcule la P(échec) que l'API sert (modèle compilé, notes masquées comme en B et
C), puis le seuil le plus exact parmi ceux qui repèrent ``RAPPEL`` des échecs, plus la marge de
l'entraînement (``MARGE_RAPPEL`` : sur de nouveaux élèves, le rappel baisse un peu). On affiche ce
que ce seuil coûte (précision, exactitude, taux d'alerte) avec un intervalle de confiance à 95 %
(bootstrap sur les élèves) et, en dernière ligne, ``SEUIL_DECISION=A=…,B=…,C=…`` à donner au service.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from app.entrainement.donnees import ErreurDonnees, lire_donnees
from app.entrainement.servi import predicteur_servi, probabilites_servies
from app.modele.classes import CLASSE_ECHEC
from app.modele.schema import CONFIGURATIONS
from app.modele.seuils import (  # noqa: F401 (mesurer et ErreurRecalibrage : lus ici par les tests)
    MARGE_RAPPEL,
    RAPPEL_BORNES,
    RAPPEL_ECHEC_VISE,
    ErreurRecalibrage,
    ligne_seuils,
    mesurer,
    recalibrer_probabilites,
)


def recalibrer(X, y: np.ndarray, rappel: float, predicteur=None) -> dict:
    """Par configuration : seuil choisi, seuil servi et leurs métriques sur le fichier
    (``app.modele.seuils.recalibrer_probabilites``, le calcul que fait aussi la page ``/classe``)."""
    predicteur = predicteur or predicteur_servi()
    probabilites = {c: probabilites_servies(predicteur, X, c) for c in CONFIGURATIONS}
    return recalibrer_probabilites(y, probabilites, predicteur.seuils, rappel)


def _pourcent(mesure: dict) -> str:
    bas, haut = mesure["ic95"]
    intervalle_texte = "IC95 indéfini" if bas is None else f"IC95 {100 * bas:.1f}–{100 * haut:.1f}"
    return f"{100 * mesure['valeur']:.1f} % ({intervalle_texte})"


def _rappel(texte: str) -> float:
    try:
        valeur = float(texte)
    except ValueError:
        raise argparse.ArgumentTypeError(f"RAPPEL={texte!r} : un nombre entre 0,5 et 0,99 attendu (ex. 0.80)") from None
    if not RAPPEL_BORNES[0] <= valeur <= RAPPEL_BORNES[1]:
        raise argparse.ArgumentTypeError(f"RAPPEL={texte!r} : un nombre entre 0,5 et 0,99 attendu (ex. 0.80)")
    return valeur


def main(argv: list[str] | None = None) -> int:
    analyseur = argparse.ArgumentParser(prog="python -m app.entrainement.recalibrage",
                                        description="Seuils de décision réglés sur les résultats d'un établissement.")
    analyseur.add_argument("--donnees", required=True, help="fichier UCI étiqueté (G1, G2, G3) de l'établissement")
    analyseur.add_argument("--rappel", type=_rappel, default=RAPPEL_ECHEC_VISE,
                           help=f"part des échecs à repérer (défaut : {RAPPEL_ECHEC_VISE})")
    arguments = analyseur.parse_args(argv)
    try:
        jeu = lire_donnees(arguments.donnees, deux_classes=False)
        resultats = recalibrer(jeu.X, jeu.y, arguments.rappel)
    except (ErreurDonnees, ErreurRecalibrage) as erreur:
        print(f"erreur : {erreur}", file=sys.stderr)
        return 2
    echecs = int((jeu.y == CLASSE_ECHEC).sum())
    print(f"{jeu.y.size} élèves, dont {echecs} en échec ({100 * echecs / jeu.y.size:.1f} %). Rappel visé : "
          f"{arguments.rappel:.2f} (seuil choisi pour {min(arguments.rappel + MARGE_RAPPEL, 1.0):.2f} sur ce "
          "fichier, marge de l'entraînement). IC 95 % : bootstrap sur les élèves, seuil fixé.")
    for configuration, r in resultats.items():
        m, s = r["mesures"], r["mesures_seuil_servi"]
        print(f"{configuration} : seuil {r['seuil']:.4f} → rappel échec {_pourcent(m['rappel_echec'])}, "
              f"précision {_pourcent(m['precision_echec'])}, exactitude {_pourcent(m['exactitude'])}, "
              f"alertes {_pourcent(m['taux_selection'])}")
        print(f"    (seuil servi {r['seuil_servi']:.4f} : rappel échec {_pourcent(s['rappel_echec'])}, "
              f"précision {_pourcent(s['precision_echec'])})")
    print(ligne_seuils(resultats))
    return 0


if __name__ == "__main__":
    sys.exit(main())

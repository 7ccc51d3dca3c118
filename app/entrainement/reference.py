"""``make reference`` : écrit ``code/reference_derive.json``, la référence de ``GET /derive``.

Distribution de chaque variable sur les données d'entraînement (cases : ``app.modele.derive``) et,
pour chaque configuration, distribution de P(échec) et taux d'alerte du modèle livré au seuil servi,
sur des prédictions hors plis (10 plis, graine 42 : chaque élève prédit par un modèle qui ne l'a pas
vu, comme un élève nouveau). Le service la lit sans pandas ni scikit-learn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.config import RACINE
from app.entrainement.donnees import ErreurDonnees, lire_donnees
from app.entrainement.equite import probabilites_hors_plis
from app.modele import artefacts
from app.modele.derive import construire_reference
from app.modele.schema import CONFIGURATIONS

CHEMIN_REFERENCE = RACINE / "code" / "reference_derive.json"
PLIS, GRAINE = 10, 42


def calculer(chemin_donnees: str | Path, dossier_modele: str | Path = RACINE / "code", n_jobs: int = -1,
             empreintes: tuple[str, str] | None = None) -> dict:
    """``empreintes`` : celles du modèle que l'entraînement vient d'écrire (ailleurs que dans ``code/``,
    elles ne sont pas ancrées dans le code) ; les empreintes ancrées par défaut."""
    jeu = lire_donnees(chemin_donnees)
    charges = artefacts.charger(dossier_modele, empreintes=empreintes)
    probabilites = {
        c: probabilites_hors_plis(charges.modele["configurations"][c]["pipeline"], jeu.X[list(v)], jeu.y,
                                  repetitions=1, plis=PLIS, graine=GRAINE, n_jobs=n_jobs)[0]
        for c, v in CONFIGURATIONS.items()}
    source = {"fichier": Path(chemin_donnees).name, "sha256": artefacts.sha256_fichier(chemin_donnees),
              "version_modele": charges.fiche["version_modele"],
              "predictions": f"hors plis ({PLIS} plis, graine {GRAINE}), seuils de la fiche"}
    return construire_reference(jeu.X.astype(object).to_dict(orient="records"), probabilites,
                                {c: charges.seuil(c) for c in CONFIGURATIONS}, source=source)


def ecrire(reference: dict, chemin: str | Path) -> Path:
    chemin = Path(chemin)
    artefacts.ecrire_ensemble(chemin.parent, {chemin.name: (artefacts.json_lisible(reference) + "\n").encode("utf-8")})
    return chemin


def main(argv: list[str] | None = None) -> int:
    analyseur = argparse.ArgumentParser(prog="python -m app.entrainement.reference", description=__doc__.split("\n")[0])
    analyseur.add_argument("--donnees", default=str(RACINE / "code" / "student-por.csv"))
    analyseur.add_argument("--sortie", default=str(CHEMIN_REFERENCE))
    arguments = analyseur.parse_args(argv)
    try:
        reference = calculer(arguments.donnees)
    except ErreurDonnees as erreur:
        print(f"erreur : {erreur}", file=sys.stderr)
        return 2
    sortie = ecrire(reference, arguments.sortie)
    print(f"référence de dérive écrite : {sortie} ({reference['eleves']} élèves, modèle "
          f"{reference['source']['version_modele']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

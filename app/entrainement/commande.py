"""Commande d'entraînement : du fichier UCI aux artefacts servis par l'API.

    python -m app.entrainement --donnees ../shared/data/student/student-por.csv

Pour chaque configuration (A, B, C) : évaluation par validation croisée imbriquée répétée
(protocole de Cortez & Silva 2008), puis sélection du modèle et du seuil sur toutes les
données, ajustement final et écriture atomique de ``code/modele_trees.pkl``,
``code/features.pkl`` et de la fiche du modèle (JSON et Markdown).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import scipy
import sklearn
from sklearn.base import clone

from app.config import RACINE
from app.entrainement import reference
from app.entrainement.candidats import candidats
from app.entrainement.donnees import ErreurDonnees, lire_donnees
from app.entrainement.empreintes import empreinte_predictions
from app.entrainement.evaluation import (
    MARGE_RAPPEL,
    RAPPEL_ECHEC_VISE,
    afficher,
    evaluer,
    selectionner,
)
from app.entrainement.fiche_modele import REFERENCE_ARTICLE, rediger_markdown
from app.modele import artefacts
from app.modele.schema import CONFIGURATIONS, DESCRIPTION_CONFIGURATIONS


SORTIE_ESSAI = "sortie-entrainement"
"""Un essai (``--rapide``, un autre fichier de données) n'écrase jamais le modèle livré dans ``code/``."""


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    analyseur = argparse.ArgumentParser(
        prog="python -m app.entrainement",
        description="Entraîne les trois configurations (A, B, C) et écrit les artefacts du modèle.",
    )
    analyseur.add_argument("--donnees", required=True, help="fichier student-por.csv (séparateur ; ou ,)")
    analyseur.add_argument("--sortie", default=SORTIE_ESSAI,
                           help=f"dossier des artefacts (défaut : {SORTIE_ESSAI}/ du dossier courant, ignoré par git ; le modèle livré "
                                "n'est remplacé que par --sortie code/, comme le fait make entrainer)")
    analyseur.add_argument("--repetitions", type=int, default=20, help="répétitions de la validation croisée (défaut : 20)")
    analyseur.add_argument("--plis", type=int, default=10, help="plis externes (défaut : 10)")
    analyseur.add_argument("--plis-internes", type=int, default=10, help="plis de la sélection interne (défaut : 10)")
    analyseur.add_argument("--graine", type=int, default=42, help="graine aléatoire (défaut : 42)")
    analyseur.add_argument("--n-jobs", type=int, default=-1, help="processus parallèles (défaut : tous les cœurs)")
    analyseur.add_argument("--rapide", action="store_true",
                           help="mode rapide pour les tests : 1 répétition de 5 plis, 3 plis internes")
    arguments = analyseur.parse_args(argv)
    if arguments.rapide:
        arguments.repetitions, arguments.plis, arguments.plis_internes = 1, 5, 3
    for nom in ("repetitions", "plis", "plis_internes"):
        minimum = 1 if nom == "repetitions" else 2
        if getattr(arguments, nom) < minimum:
            analyseur.error(f"--{nom.replace('_', '-')} doit valoir au moins {minimum}")
    return arguments


def _versions() -> dict[str, str]:
    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__,
            "joblib": joblib.__version__}


def entrainer(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    debut = time.perf_counter()
    try:
        jeu = lire_donnees(arguments.donnees)
    except ErreurDonnees as erreur:
        print(f"erreur : {erreur}", file=sys.stderr)
        return 2
    afficher(f"{len(jeu.y)} élèves lus ; {int((jeu.y == 0).sum())} en échec (G3 < 10). "
             f"Protocole : {arguments.repetitions} × {arguments.plis} plis, sélection interne sur "
             f"{arguments.plis_internes} plis.")

    modele: dict = {"format": artefacts.FORMAT, "configurations": {}}
    fiche_configurations: dict = {}
    for configuration, variables in CONFIGURATIONS.items():
        X = jeu.X[list(variables)]
        grille = candidats(configuration, arguments.graine)
        afficher(f"Configuration {configuration} ({DESCRIPTION_CONFIGURATIONS[configuration]}) : "
                 f"{len(grille)} candidats")
        evaluation = evaluer(grille, X, jeu.y, repetitions=arguments.repetitions, plis=arguments.plis,
                             plis_internes=arguments.plis_internes, graine=arguments.graine,
                             n_jobs=arguments.n_jobs, progression=afficher)
        selection = selectionner(grille, X, jeu.y, arguments.plis_internes, arguments.graine)
        pipeline = clone(selection.candidat.pipeline).fit(X, jeu.y)
        modele["configurations"][configuration] = {
            "pipeline": pipeline, "seuil": selection.seuil, "variables": list(variables),
            "classifieur": selection.candidat.nom,
        }
        exactitude = evaluation["metriques"]["exactitude_05"]
        afficher(f"  → {selection.candidat.nom}, seuil {selection.seuil:.3f}, exactitude "
                 f"{100 * exactitude['moyenne']:.2f} % (IC95 {100 * exactitude['ic95'][0]:.2f}–"
                 f"{100 * exactitude['ic95'][1]:.2f}) en {evaluation['duree_s']:.0f} s")
        classifieur = pipeline.named_steps["classifieur"]
        fiche_configurations[configuration] = {
            "description": DESCRIPTION_CONFIGURATIONS[configuration],
            "variables": list(variables),
            "classifieur": selection.candidat.nom,
            "type": type(classifieur).__name__,
            "hyperparametres": {k: v for k, v in classifieur.get_params().items()
                                if isinstance(v, (int, float, str, bool, type(None)))},
            "candidats": [c.nom for c in grille],
            "seuil": selection.seuil,
            "exactitude_interne_selection": selection.exactitude_interne,
            "exactitude_interne_seuil_servi": selection.exactitude_interne_seuil,
            "evaluation": evaluation,
            "reference_article": REFERENCE_ARTICLE[configuration],
        }

    octets_modele = artefacts.serialiser(modele)
    sha_modele = artefacts.sha256_octets(octets_modele)
    donnees = Path(arguments.donnees)
    fiche = {
        "nom": "prediction-etudiante",
        "version_modele": sha_modele[:12],
        "date_entrainement": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "sha256_modele": sha_modele,
        "donnees": {
            "fichier": donnees.name, "sha256": artefacts.sha256_fichier(donnees), "lignes": int(len(jeu.y)),
            "classes": {"echec": int((jeu.y == 0).sum()), "reussite": int((jeu.y == 1).sum())},
            "cible": "réussite = 1 quand G3 ≥ 10, échec = 0 ; G3 n'est jamais une entrée",
        },
        "protocole": {
            "repetitions": arguments.repetitions, "plis": arguments.plis,
            "plis_internes": arguments.plis_internes, "graine": arguments.graine,
            "rappel_echec_vise": RAPPEL_ECHEC_VISE, "marge_rappel_interne": MARGE_RAPPEL,
            "critere_selection": "exactitude hors plis internes au seuil 0,5, puis au seuil servi",
            "regle_decision": "échec (0) quand probabilite_echec ≥ seuil, sinon réussite (1)",
        },
        "versions": _versions(),
        "configurations": fiche_configurations,
        "empreintes_predictions": empreinte_predictions(modele, jeu.X),
    }
    fiche["duree_entrainement_s"] = round(time.perf_counter() - debut, 1)
    octets_fiche = (artefacts.json_lisible(fiche) + "\n").encode("utf-8")
    octets_variables = artefacts.serialiser({c: list(v) for c, v in CONFIGURATIONS.items()})
    artefacts.ecrire_ensemble(arguments.sortie, {
        artefacts.NOM_MODELE: octets_modele,
        artefacts.NOM_VARIABLES: octets_variables,
        artefacts.NOM_FICHE: octets_fiche,
        artefacts.NOM_FICHE_MD: rediger_markdown(fiche).encode("utf-8"),
    })
    # La référence de GET /derive suit le modèle : distributions des données et taux d'alerte hors plis.
    empreintes = (sha_modele, artefacts.sha256_octets(octets_variables))
    reference.ecrire(reference.calculer(arguments.donnees, arguments.sortie, arguments.n_jobs, empreintes),
                     Path(arguments.sortie) / reference.CHEMIN_REFERENCE.name)
    afficher(f"Artefacts écrits dans {arguments.sortie} (modèle {sha_modele[:12]}) "
             f"en {fiche['duree_entrainement_s']:.0f} s.")
    _ancrer(Path(arguments.sortie), *empreintes)
    _journaliser_mlflow(arguments, fiche, Path(arguments.sortie))
    return 0


def _ancrer(sortie: Path, sha_modele: str, sha_variables: str) -> None:
    """Les empreintes attendues vivent dans le code (app/modele/empreintes_modele.py), pas à côté des
    artefacts : réécrites seulement pour les artefacts livrés (code/) ; sinon, affichées."""
    if sortie.resolve() == (RACINE / "code").resolve():
        chemin = artefacts.CHEMIN_EMPREINTES
        artefacts.ecrire_ensemble(chemin.parent, {chemin.name: artefacts.texte_empreintes(
            sha_modele, sha_variables).encode("utf-8")})
        afficher(f"Empreintes ancrées dans {chemin.relative_to(RACINE)} (à committer avec code/).")
    else:
        afficher(f"Artefacts hors de code/ : pour les servir, MODELE_SHA256={sha_modele} "
                 f"VARIABLES_SHA256={sha_variables}")


def _journaliser_mlflow(arguments, fiche: dict, sortie: Path) -> None:
    """Suivi MLflow facultatif (comme le projet d'origine) : jamais une dépendance de l'API."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return
    try:
        import mlflow
    except ImportError:
        afficher("MLFLOW_TRACKING_URI est défini mais mlflow n'est pas installé : suivi ignoré.")
        return
    with mlflow.start_run(run_name=f"entrainement-{fiche['version_modele']}"):
        mlflow.log_params({"repetitions": arguments.repetitions, "plis": arguments.plis,
                           "plis_internes": arguments.plis_internes, "graine": arguments.graine})
        for configuration, contenu in fiche["configurations"].items():
            mlflow.log_param(f"{configuration}_classifieur", contenu["classifieur"])
            mlflow.log_param(f"{configuration}_seuil", contenu["seuil"])
            for nom, resume in contenu["evaluation"]["metriques"].items():
                mlflow.log_metric(f"{configuration}_{nom}", resume["moyenne"])
        for nom in (artefacts.NOM_MODELE, artefacts.NOM_VARIABLES, artefacts.NOM_FICHE, artefacts.NOM_FICHE_MD):
            mlflow.log_artifact(str(sortie / nom))



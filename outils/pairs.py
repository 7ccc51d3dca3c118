"""Les pairs du banc d'essai : le même pipeline servi par ``mlflow models serve`` et par MLServer.

Une école qui ne prendrait pas ce projet servirait le même modèle scikit-learn avec l'un de ces serveurs ;
``outils/banc_pairs.py`` les mesure à côté du nôtre, dans la même exécution. Ici : leur installation et leur
lancement, et les corps de requête et de réponse de chacun.

- Chaque pair a son environnement virtuel épinglé sous ``.banc/pairs/<nom>`` (ignoré par git et docker),
  installé au premier usage depuis l'index de paquets (``pip``) ; scikit-learn, numpy, pandas… aux versions
  de ``requirements-entrainement.txt``, pour que le pickle se relise et que les flottants soient les mêmes.
  Sans index (pip échoue), le pair est sauté et la raison est rendue (``Indisponible``), jamais en silence.
- Le modèle servi est le pipeline de la configuration ``A`` (G1 et G2 connues : une classe en cours d'année),
  de l'enregistrement brut (32 champs) aux probabilités, tel que l'entraînement l'écrit dans
  ``code/modele_trees.pkl`` (désérialisé après vérification de son empreinte, ``app.modele.artefacts``).
- Versions et pièges (notes partagées) : MLflow 3.17.2 (3.18 ne s'installe pas) ; ``save_model`` en
  ``cloudpickle`` (skops refuse les arbres) ; ``mlflow models serve`` appelle ``uvicorn`` : le ``bin`` de
  l'environnement doit être dans le PATH. MLServer 1.7.1 et mlserver-sklearn 1.7.1 avec ``uvloop==0.21.0``
  (au-delà, ses workers d'inférence meurent : « There is no current event loop »).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

RACINE = Path(__file__).resolve().parent.parent
DOSSIER_PAIRS = RACINE / ".banc" / "pairs"
CONFIGURATION = "A"
"""La configuration servie par les pairs : tous les champs, notes G1 et G2 comprises."""
WORKERS = 2
"""Autant de workers que notre gunicorn (``GUNICORN_WORKERS`` par défaut)."""
NOM_MODELE = "eleves"
COMMUNS = ("numpy", "scikit-learn", "scipy", "joblib", "threadpoolctl", "pandas", "cloudpickle")
"""Paquets du modèle épinglés comme les nôtres (``requirements-entrainement.txt``)."""
PAQUETS = {
    "mlflow": ("mlflow==3.17.2",),
    "mlserver": ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0"),
}
LIBELLES = {"mlflow": "MLflow 3.17.2 (mlflow models serve)", "mlserver": "MLServer 1.7.1 (mlserver-sklearn)"}


@dataclass(frozen=True)
class Indisponible:
    """Un pair qui ne peut pas être servi ici, et pourquoi (imprimé par le banc)."""

    nom: str
    raison: str


def versions_communes(chemin: Path = RACINE / "requirements-entrainement.txt") -> list[str]:
    """Les épinglages ``nom==version`` de ``COMMUNS`` lus dans les requirements du projet (une seule définition)."""
    epingles = _epingles(chemin)
    manquants = [nom for nom in COMMUNS if nom not in epingles]
    if manquants:
        raise ValueError(f"{chemin.name} n'épingle pas {', '.join(manquants)}")
    return [f"{nom}=={epingles[nom]}" for nom in COMMUNS]


def _epingles(chemin: Path) -> dict[str, str]:
    """``{nom: version}`` des lignes ``nom==version`` du fichier et de ceux qu'il inclut (``-r``)."""
    epingles = {}
    for ligne in chemin.read_text(encoding="utf-8").splitlines():
        inclus = re.match(r"\s*-r\s+(\S+)", ligne)
        if inclus:
            epingles.update(_epingles(chemin.parent / inclus.group(1)))
        trouve = re.match(r"\s*([A-Za-z0-9_.\-]+)==([^\s;#]+)", ligne)
        if trouve:
            epingles[trouve.group(1).lower()] = trouve.group(2)
    return epingles


def paquets(nom: str) -> list[str]:
    return [*PAQUETS[nom], *versions_communes()]


def installer(nom: str, dossier: Path = DOSSIER_PAIRS, executer: Callable = subprocess.run) -> Path | Indisponible:
    """L'environnement virtuel du pair (créé et installé au premier usage ; un fichier ``.installe`` qui
    liste les paquets dit qu'il est prêt, une autre liste le fait réinstaller), ou ``Indisponible``."""
    environnement = dossier / nom
    temoin = environnement / ".installe"
    voulus = "\n".join(paquets(nom)) + "\n"
    if temoin.is_file() and temoin.read_text(encoding="utf-8") == voulus and (environnement / "bin" / "python").exists():
        return environnement
    environnement.parent.mkdir(parents=True, exist_ok=True)
    etapes = (("python -m venv", [sys.executable, "-m", "venv", "--clear", str(environnement)]),
              ("pip install " + " ".join(PAQUETS[nom]), [str(environnement / "bin" / "python"), "-m", "pip", "install",
                                                         "--disable-pip-version-check", "-q", *paquets(nom)]))
    for etape, commande in etapes:
        try:
            fini = executer(commande, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as erreur:
            return Indisponible(nom, f"installation impossible ({type(erreur).__name__} : {erreur})")
        if fini.returncode != 0:
            lignes = [ligne for ligne in (fini.stderr or "").splitlines()
                      if ligne.strip() and "is ignored: it is neither a file nor a directory" not in ligne]
            return Indisponible(nom, f"« {etape} » a échoué "
                                     f"(code {fini.returncode}) : {' / '.join(lignes[-2:]) or 'sans message'} ; "
                                     "un index de paquets (PyPI) est nécessaire au premier usage")
    temoin.write_text(voulus, encoding="utf-8")
    return environnement


def ecrire_pipeline(dossier: Path) -> Path:
    """Le pipeline scikit-learn de ``CONFIGURATION`` (vérifié par ``app.modele.artefacts``) en joblib, et la
    colonne de P(échec) dans ``predict_proba`` : le fichier que les deux pairs chargent."""
    import joblib

    from app.config import Configuration
    from app.modele.artefacts import charger
    from app.modele.classes import CLASSE_ECHEC

    config = Configuration.depuis_environnement()
    artefacts = charger(modele=config.chemin_modele, variables=config.chemin_variables, fiche=config.chemin_fiche)
    pipeline = artefacts.modele["configurations"][CONFIGURATION]["pipeline"]
    dossier.mkdir(parents=True, exist_ok=True)
    chemin = dossier / "pipeline.joblib"
    joblib.dump(pipeline, chemin)
    (dossier / "colonne_echec.json").write_text(json.dumps(list(pipeline.classes_).index(CLASSE_ECHEC)))
    return chemin


def colonne_echec(dossier: Path) -> int:
    return int(json.loads((dossier / "colonne_echec.json").read_text()))


_SAUVER_MLFLOW = """
import sys, joblib, mlflow.sklearn
mlflow.sklearn.save_model(joblib.load(sys.argv[1]), sys.argv[2], serialization_format="cloudpickle",
                          pyfunc_predict_fn="predict_proba", pip_requirements=sys.argv[3:])
"""


def preparer_mlflow(environnement: Path, pipeline: Path, dossier: Path) -> Path:
    """Le modèle MLflow (saveur sklearn, ``predict_proba`` comme fonction pyfunc), écrit par le MLflow du pair."""
    modele = dossier / "modele-mlflow"
    if modele.exists():
        import shutil

        shutil.rmtree(modele)
    subprocess.run([str(environnement / "bin" / "python"), "-c", _SAUVER_MLFLOW, str(pipeline), str(modele),
                    *versions_communes()], check=True, capture_output=True, text=True, timeout=300)
    return modele


def preparer_mlserver(pipeline: Path, dossier: Path, ports: tuple[int, int, int]) -> Path:
    """Le dossier de MLServer : ``settings.json`` (ports, ``parallel_workers``) et ``model-settings.json``
    (runtime ``mlserver_sklearn.SKLearnModel`` sur le joblib)."""
    http, grpc, metriques = ports
    modele = dossier / "modele-mlserver"
    modele.mkdir(parents=True, exist_ok=True)
    (modele / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": http, "grpc_port": grpc, "metrics_port": metriques,
        "parallel_workers": WORKERS, "debug": False}), encoding="utf-8")
    (modele / "model-settings.json").write_text(json.dumps({
        "name": NOM_MODELE, "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(pipeline), "version": "v1"}}), encoding="utf-8")
    return modele


def commande_mlflow(environnement: Path, modele: Path, port: int) -> tuple[list[str], dict]:
    env = {**os.environ, "PATH": f"{environnement / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    return ([str(environnement / "bin" / "mlflow"), "models", "serve", "-m", str(modele), "--env-manager", "local",
             "-w", str(WORKERS), "-h", "127.0.0.1", "-p", str(port)], env)


def commande_mlserver(environnement: Path, modele: Path) -> tuple[list[str], dict]:
    env = {**os.environ, "PATH": f"{environnement / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    return [str(environnement / "bin" / "mlserver"), "start", str(modele)], env


# --- corps de requête et de réponse ---------------------------------------------------------------

def _champs() -> tuple[str, ...]:
    from app.modele.schema import CONFIGURATIONS

    return CONFIGURATIONS[CONFIGURATION]


def corps_mlflow(eleves: Sequence[dict]) -> bytes:
    """``/invocations`` : ``{"dataframe_records": [...]}``, les champs de la configuration."""
    champs = _champs()
    return json.dumps({"dataframe_records": [{c: e[c] for c in champs} for e in eleves]}).encode()


def corps_mlserver(eleves: Sequence[dict]) -> bytes:
    """Requête V2 (``/v2/models/eleves/infer``) décodée en DataFrame pandas : une entrée par colonne, les
    textes en ``BYTES`` décodés en ``str`` ; sortie demandée : ``predict_proba``."""
    from app.modele.schema import NUMERIQUES

    entrees = []
    for champ in _champs():
        valeurs = [e[champ] for e in eleves]
        if champ in NUMERIQUES:
            entrees.append({"name": champ, "shape": [len(valeurs), 1], "datatype": "INT64", "data": valeurs})
        else:
            entrees.append({"name": champ, "shape": [len(valeurs), 1], "datatype": "BYTES", "data": valeurs,
                            "parameters": {"content_type": "str"}})
    return json.dumps({"parameters": {"content_type": "pd"}, "inputs": entrees,
                       "outputs": [{"name": "predict_proba"}]}).encode()


def probabilites_mlflow(reponse: bytes, colonne: int) -> list[float]:
    return [ligne[colonne] for ligne in json.loads(reponse)["predictions"]]


def probabilites_mlserver(reponse: bytes, colonne: int) -> list[float]:
    sortie = next(o for o in json.loads(reponse)["outputs"] if o["name"] == "predict_proba")
    largeur = sortie["shape"][-1]
    return sortie["data"][colonne::largeur]


def comparer(reference: Sequence[float], autres: Sequence[float]) -> tuple[int, int, float]:
    """(égales bit pour bit, comparées, plus grand écart absolu) ; deux listes de longueurs différentes ne
    sont jamais « identiques » (comparées = la plus longue)."""
    egales = sum(1 for a, b in zip(reference, autres) if float(a).hex() == float(b).hex())
    ecart = max((abs(a - b) for a, b in zip(reference, autres)), default=0.0)
    return egales, max(len(reference), len(autres)), ecart

"""Référence du banc d'essai : une application construite comme le projet que celui-ci remplace.

``POST /predire`` : le corps JSON devient un DataFrame pandas d'une ligne (variables de la
configuration A), passé au ``predict_proba`` du pipeline scikit-learn ; le dict reçu, avec la
probabilité, est ajouté en une ligne JSON à un fichier (``JOURNAL_CHEMIN``, un fichier temporaire
du banc). Le modèle est désérialisé par joblib, comme alors, mais seulement après vérification de
son sha256 par ``app.modele.artefacts.charger``. Servie par ``gunicorn -w 2`` (worker sync par
défaut, sans la configuration de production). Ne sert qu'à ``outils/banc_essai.py``.
"""

import json
import os
from pathlib import Path

import joblib
import pandas as pd
from flask import Flask, jsonify, request

from app.modele.artefacts import charger

RACINE = Path(__file__).resolve().parent.parent
_CHEMIN_MODELE = RACINE / "code" / "modele_trees.pkl"
_artefacts = charger(modele=_CHEMIN_MODELE, differe=True)  # empreintes vérifiées avant joblib.load
_configuration = joblib.load(_CHEMIN_MODELE)["configurations"]["A"]
pipeline = _configuration["pipeline"]
variables = list(_artefacts.variables["A"])
_JOURNAL = os.environ.get("JOURNAL_CHEMIN", "requetes_ancienne.jsonl")

app = Flask(__name__)


@app.post("/predire")
def predire():
    donnees = request.get_json()
    tableau = pd.DataFrame([{v: donnees[v] for v in variables}], columns=variables)
    probabilites = pipeline.predict_proba(tableau)[0]
    with open(_JOURNAL, "a", encoding="utf-8") as journal:
        journal.write(json.dumps({**donnees, "probabilites": probabilites.tolist()}) + "\n")
    return jsonify({"probabilites": probabilites.tolist()})

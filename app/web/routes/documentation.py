"""``/openapi.json`` et ``/docs`` : la documentation, dérivée du schéma."""

from __future__ import annotations

import json

from flask import Blueprint, jsonify, render_template

from app.modele.schema import CATEGORIES, CHAMPS, NOTES, Eleve, bornes
from app.web.openapi import document, exemple_eleve
from app.web.routes.accueil import routes

bp = Blueprint("documentation", __name__)


@bp.get("/openapi.json")
def openapi():
    return jsonify(document())


@bp.get("/docs")
def docs():
    champs = []
    for nom in CHAMPS:
        info = Eleve.model_fields[nom]
        if nom in CATEGORIES:
            regle, valeurs, limites = "une valeur parmi : " + ", ".join(CATEGORIES[nom]), list(CATEGORIES[nom]), None
        else:
            limites = bornes(nom)
            regle, valeurs = f"entier de {limites[0]} à {limites[1]}", None
        champs.append({"nom": nom, "description": info.description, "regle": regle, "valeurs": valeurs,
                       "bornes": limites, "facultatif": nom in NOTES})
    return render_template("docs.html", champs=champs, routes=routes(),
                           exemple=json.dumps(exemple_eleve(), ensure_ascii=False, indent=2))

"""Routes de service : accueil, santé, disponibilité, description du modèle."""

from __future__ import annotations

import functools
import re

from flask import Blueprint, current_app, jsonify, redirect, request, url_for

from app.config import VERSION
from app.web.openapi import document
from app.web.services import services

bp = Blueprint("accueil", __name__)


@functools.cache
def _resumes() -> dict[tuple[str, str], str]:
    """(route Flask, méthode) → résumé de l'opération dans le document OpenAPI (source unique)."""
    return {(re.sub(r"\{([^}]+)\}", r"<\1>", chemin), methode.upper()): operation["summary"]
            for chemin, operations in document()["paths"].items() for methode, operation in operations.items()}


def routes() -> list[dict]:
    vues = []
    for regle in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        if regle.endpoint == "static":
            continue
        methodes = sorted(m for m in regle.methods if m not in ("HEAD", "OPTIONS"))
        resumes = [_resumes().get((regle.rule, m), "") for m in methodes]
        description = resumes[0] if len(methodes) == 1 else " ; ".join(f"{m} : {r}" for m, r in zip(methodes, resumes))
        vues.append({"route": regle.rule, "methodes": methodes, "description": description})
    return vues


@bp.get("/")
def accueil():
    """JSON pour les clients de l'API ; un navigateur (text/html préféré à JSON) va à la page ``/classe``."""
    if request.accept_mimetypes.best_match(("application/json", "text/html")) == "text/html":
        reponse = redirect(url_for("classe.classe"), code=302)
    else:
        reponse = jsonify({
            "message": "Bienvenue sur l'API de prédiction de la réussite des élèves : "
                       "POST /predire avec les attributs d'un élève.",
            "version": VERSION,
            "model_version": services().predicteur.version,
            "routes": routes(),
        })
    reponse.headers["Vary"] = "Accept"
    return reponse


@bp.get("/health")
def sante():
    return jsonify({"statut": "ok"})


@bp.get("/ready")
def disponibilite():
    s = services()
    journal_ok, journal_message = s.journal.inscriptible()
    base_ok, base_message = s.magasin.joignable()
    stockage_ok, stockage_message, chiffres = s.conservation.etat()
    verifications = {
        "modele": {"ok": True, "message": f"modèle {s.predicteur.version} vérifié (sha256) et chargé"},
        "journal": {"ok": journal_ok, "message": journal_message},
        "base": {"ok": base_ok, "message": base_message},
        "alimentation": {"ok": stockage_ok, "message": stockage_message, **chiffres},
    }
    pret = all(v["ok"] for v in verifications.values())
    reponse = jsonify({"pret": pret, "verifications": verifications})
    reponse.status_code = 200 if pret else 503
    return reponse


@bp.get("/modele")
def modele():
    s = services()
    fiche = s.artefacts.fiche
    return jsonify({
        "model_version": s.predicteur.version,
        "sha256": s.artefacts.sha256,
        "date_entrainement": fiche["date_entrainement"],
        "donnees": fiche["donnees"],
        "protocole": fiche["protocole"],
        "versions": fiche["versions"],
        "configurations": {
            nom: {
                "description": conf["description"],
                "classifieur": conf["classifieur"],
                "seuil": s.predicteur.seuils[nom],
                "seuil_fiche": conf["seuil"],
                "variables": s.artefacts.variables[nom],
                "metriques": s.artefacts.fiabilite(nom),
                "reference_article": conf["reference_article"],
            }
            for nom, conf in fiche["configurations"].items()
        },
    })

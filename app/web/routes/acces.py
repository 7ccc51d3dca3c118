"""``GET /acces`` (dpo) : le journal des accès aux données personnelles (``app.stockage.journal_acces``).

Filtres ``qui`` (une adresse, ou ``jeton-api``), ``depuis`` et ``jusqua`` (ISO 8601) ; ``format=json`` (défaut)
ou ``format=csv``. Aucune ligne ne contient d'attribut d'élève ni de user_id en clair.
"""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, jsonify, request

from app.stockage.journal_acces import COLONNES
from app.web.erreurs import ErreurRequete
from app.web.identite import exiger
from app.web.routes.historique import _instant
from app.web.services import services

bp = Blueprint("acces", __name__)
PARAMETRES = ("qui", "depuis", "jusqua", "format")


@bp.get("/acces")
@exiger("acces")
def journal_des_acces():
    inconnus = [nom for nom in request.args if nom not in PARAMETRES]
    if inconnus:
        raise ErreurRequete(400, "paramètre inconnu", [{"champ": nom, "message": f"permis : {', '.join(PARAMETRES)}"}
                                                       for nom in inconnus])
    format_ = request.args.get("format", "json")
    if format_ not in ("json", "csv"):
        raise ErreurRequete(400, "format invalide", [{"champ": "format", "message": "json ou csv attendu"}])
    lignes = list(services().identification.journal_acces.lire(
        request.args.get("qui"), _instant("depuis", request.args.get("depuis")),
        _instant("jusqua", request.args.get("jusqua"))))
    if format_ == "json":
        return jsonify({"acces": lignes, "nombre": len(lignes),
                        "retention_jours": services().configuration.retention_acces_jours})
    tampon = io.StringIO()
    ecrivain = csv.DictWriter(tampon, fieldnames=COLONNES, lineterminator="\n")
    ecrivain.writeheader()
    ecrivain.writerows(lignes)
    reponse = Response(tampon.getvalue(), mimetype="text/csv")
    reponse.headers["Content-Disposition"] = 'attachment; filename="acces.csv"'
    return reponse

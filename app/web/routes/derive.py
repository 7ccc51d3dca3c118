"""``GET /derive?derniers=1000`` (jeton ``API_TOKEN`` requis) : les élèves reçus ressemblent-ils à ceux
de l'entraînement ? PSI de chaque variable et taux d'alerte par configuration sur les dernières
prédictions du journal (calcul et seuils : ``app.modele.derive``). Réponse faite d'agrégats : aucune
valeur d'élève n'en sort, rien du journal n'est journalisé."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.modele.derive import derive, lire_reference
from app.web.erreurs import ErreurRequete
from app.web.identite import exiger, identite_courante
from app.web.parametres import lire_entiers
from app.web.services import services

bp = Blueprint("derive", __name__)

DERNIERS_DEFAUT = 1000
DERNIERS_MIN = 20
DERNIERS_MAX = 10_000
PETIT_ECHANTILLON = 200


def lire_derniers(arguments) -> int:
    return lire_entiers(arguments, {"derniers": (DERNIERS_DEFAUT, DERNIERS_MIN, DERNIERS_MAX)}, "dérive")["derniers"]


@bp.get("/derive")
@exiger("pilotage")
def derive_recente():
    derniers = lire_derniers(request.args)
    s = services()
    try:
        reference = lire_reference(s.configuration.chemin_reference_derive)
    except (OSError, ValueError):
        raise ErreurRequete(503, "dérive indisponible : référence des données d'entraînement absente ou illisible "
                                 "(code/reference_derive.json, écrite par make reference ; "
                                 "variable REFERENCE_DERIVE_CHEMIN)") from None
    enregistrements, ignorees = s.journal.dernieres(derniers)
    identite = identite_courante()
    if not identite.toutes_ecoles:  # direction : les prédictions de ses écoles seulement
        enregistrements = [e for e in enregistrements if identite.voit((e.get("entrees") or {}).get("school"))]
    resultat = derive(reference, enregistrements)
    avertissements = []
    if not s.journal.vers_fichier:
        avertissements.append(f"JOURNAL_MODE={s.journal.mode} : le journal n'est pas écrit dans un fichier, "
                              "aucune prédiction à comparer")
    elif resultat["n"] < PETIT_ECHANTILLON:
        avertissements.append(f"{resultat['n']} prédictions seulement : le PSI est gonflé par le hasard "
                              "(comparez-le à psi_hasard)")
    if reference["source"]["version_modele"] != s.predicteur.version:
        avertissements.append(f"taux d'alerte de référence calculés pour le modèle {reference['source']['version_modele']}, "
                              f"le service sert {s.predicteur.version} : relancez make reference")
    if s.configuration.seuils_forces:
        avertissements.append("SEUIL_DECISION est défini : les taux d'alerte de référence sont ceux des seuils de la "
                              "fiche, un écart est attendu")
    return jsonify({"derniers": derniers, "lignes_ignorees": ignorees,
                    "reference": {**reference["source"], "eleves": reference["eleves"]},
                    **resultat, "avertissements": avertissements})

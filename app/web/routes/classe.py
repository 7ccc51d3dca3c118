"""``GET /classe`` : la page des équipes éducatives (une classe, un élève, l'historique).

Tout est servi par l'application (gabarit Jinja, ``app/web/static/`` : script, styles, icône) :
ni CDN, ni construction, la page marche hors ligne. Content-Security-Policy stricte : aucun script
ni style en ligne, aucune requête hors de l'origine. Le formulaire d'un élève est rendu depuis le
schéma (``app.web.formulaire``).
"""

from __future__ import annotations

from flask import Blueprint, make_response, redirect, render_template, session

from app.config import VERSION
from app.modele.identifiants import REGLE_IDENTIFIANT
from app.modele.fiabilite import BANDE_ELEVEE, fiabilite
from app.modele.schema import CHAMPS, CONFIGURATIONS_EN_CLAIR, DESCRIPTION_CONFIGURATIONS
from app.modele.seuils import RAPPEL_ECHEC_VISE
from app.web.erreurs import ErreurRequete
from app.web.formulaire import champs_formulaire, libelles, textes_valeurs
from app.web.identite import identifier
from app.web.oidc import page
from app.web.openapi import exemple_eleve
from app.web.services import services

bp = Blueprint("classe", __name__)

POLITIQUE = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
             "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
"""Content-Security-Policy de la page : seulement ce que sert l'application elle-même."""


def _connecte():
    """L'identité de la personne (hors mode local), ou la réponse qui la remplace : redirection vers le
    fournisseur (OIDC), page 401 (IAP sans assertion valide) ou page 403 qui dit à qui demander l'accès."""
    try:
        return identifier("prediction"), None
    except ErreurRequete as erreur:
        if erreur.statut == 401 and services().configuration.mode_identite == "oidc":
            return None, redirect("/connexion")
        titre = {401: "Connexion requise", 403: "Accès refusé"}.get(erreur.statut, "Service indisponible")
        return None, page(titre, erreur.message, erreur.statut)


@bp.get("/classe")
def classe():
    identite, refus = _connecte()
    if refus is not None:
        return refus
    s = services()
    predicteur = s.predicteur
    seuils = {nom: float(seuil) for nom, seuil in predicteur.seuils.items()}
    fiabilites = fiabilite(s.artefacts.fiche, seuils)
    donnees = {
        "model_version": predicteur.version,
        "fiabilite": fiabilites,
        "configurations_en_clair": CONFIGURATIONS_EN_CLAIR,
        "bande_elevee": BANDE_ELEVEE,
        "points_a_aborder": list(s.configuration.points_a_aborder),
        "champs": list(CHAMPS),
        "libelles": libelles(),
        "valeurs": textes_valeurs(),
        "seuils": seuils,
        "configurations": DESCRIPTION_CONFIGURATIONS,
        "exemple": exemple_eleve(),
    }
    page = render_template("classe.html", champs=champs_formulaire(), donnees=donnees, version=VERSION,
                           model_version=predicteur.version, seuils=seuils, fiabilites=fiabilites,
                           configurations=CONFIGURATIONS_EN_CLAIR, regle_identifiant=REGLE_IDENTIFIANT,
                           rappel_defaut=round(100 * RAPPEL_ECHEC_VISE),
                           identite=identite, mode=s.configuration.mode_identite,
                           csrf=session.get("csrf", "") if identite.source == "session" else "")
    reponse = make_response(page)
    reponse.headers["Content-Security-Policy"] = POLITIQUE
    reponse.headers["X-Content-Type-Options"] = "nosniff"
    reponse.headers["Referrer-Policy"] = "no-referrer"
    reponse.headers["Cache-Control"] = "no-store"
    return reponse

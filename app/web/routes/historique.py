"""Historique des prédictions conservées et droit à l'effacement (jeton ``API_TOKEN`` requis).

- ``GET /predictions/<request_id>`` : une prédiction ;
- ``POST /historique`` (``{"user_id", "limite", "decalage"}``) : l'historique d'un élève, plus
  récentes d'abord ;
- ``POST /effacement`` (``{"user_id"}``) : efface ses prédictions de la base et ses lignes du journal ;
- ``GET /predictions/export?depuis=…&jusqua=…`` : toutes les prédictions de la base partagée, en JSONL.

Les deux routes POST gardent le user_id hors de l'URL : une URL finit dans les journaux d'accès (gunicorn
avec GUNICORN_ACCESSLOG=1, Cloud Run toujours), qui survivent à l'effacement. Les routes d'origine restent
(``GET`` et ``DELETE /predictions/user/<user_id>``), dépréciées (en-têtes ``Deprecation`` et ``Sunset``) :
elles journalisent l'identifiant (docs/integrateurs-contrat.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging

from flask import Blueprint, Response, jsonify, request, url_for
from pydantic import BaseModel, ValidationError

from app.modele.erreurs_validation import detailler
from app.modele.identifiants import REGLE_IDENTIFIANT, identifiant_valide
from app.stockage.journal import ligne_json
from app.stockage.magasin import ErreurMagasin
from app.web.contrat import (
    DECALAGE_MAX,
    LIMITE_DEFAUT,
    LIMITE_MAX,
    DemandeEffacement,
    DemandeHistorique,
)
from app.web.erreurs import ErreurRequete
from app.web.identite import exiger, identite_courante, inscrire_acces
from app.web.parametres import lire_entiers
from app.web.requetes_json import lire_json
from app.web.services import services

bp = Blueprint("historique", __name__)
journal = logging.getLogger("prediction_etudiante")

DEPRECIATION = "@1796601600"
"""En-tête ``Deprecation`` (RFC 9745, date de la version 2 du contrat : 2026-12-07 UTC) des routes GET et DELETE
``/predictions/user/<user_id>``, remplacées par ``POST /historique`` et ``POST /effacement``."""
FIN_DE_VIE = "Wed, 30 Jun 2027 00:00:00 GMT"
"""En-tête ``Sunset`` (RFC 8594) de ces routes : après cette date, elles peuvent disparaître."""
REMPLACANTES = {"historique.historique": "/historique", "historique.effacer": "/effacement"}


def depreciee(vue):
    """La réponse d'une route dépréciée porte ``Deprecation``, ``Sunset`` et le lien vers sa remplaçante."""
    @functools.wraps(vue)
    def enveloppe(*args, **kwargs):
        reponse = vue(*args, **kwargs)
        reponse.headers["Deprecation"] = DEPRECIATION
        reponse.headers["Sunset"] = FIN_DE_VIE
        reponse.headers["Link"] = f'<{REMPLACANTES[request.endpoint]}>; rel="successor-version"'
        return reponse
    return enveloppe


def valider_identifiant(nom: str, valeur: str) -> str:
    if not identifiant_valide(valeur):
        raise ErreurRequete(400, f"{nom} invalide", [{"champ": nom, "message": REGLE_IDENTIFIANT}])
    return valeur


def lire_pagination(arguments) -> tuple[int, int]:
    """``limite`` (1 à ``LIMITE_MAX``, ``LIMITE_DEFAUT`` par défaut) et ``decalage`` (0 par défaut) ;
    tout autre paramètre est refusé."""
    valeurs = lire_entiers(arguments, {"limite": (LIMITE_DEFAUT, 1, LIMITE_MAX), "decalage": (0, 0, DECALAGE_MAX)},
                           "pagination")
    return valeurs["limite"], valeurs["decalage"]


@bp.get("/predictions/<request_id>")
@exiger("eleve")
def lire_prediction(request_id: str):
    valider_identifiant("request_id", request_id)
    enregistrement = services().conservation.lire(request_id)  # ce qui attend la base y est d'abord inséré
    # Une prédiction d'une autre école reçoit exactement la réponse d'un request_id inconnu.
    if enregistrement is None or not identite_courante().voit(enregistrement["entrees"].get("school")):
        raise ErreurRequete(404, f"aucune prédiction conservée pour le request_id {request_id}")
    inscrire_acces([enregistrement["entrees"].get("school")], 1, enregistrement["user_id"])
    return jsonify(enregistrement)


def lire_corps_modele(modele: type[BaseModel]):
    """Le corps JSON validé par ``modele`` (objet, clés connues), ou une ErreurRequete 400 par champ."""
    return valider_corps(modele, lire_json(request))


def valider_corps(modele: type[BaseModel], document):
    """``document`` validé par ``modele``, ou l'ErreurRequete 400 que reçoit le client (aussi l'exemple 400 du
    document OpenAPI)."""
    if not isinstance(document, dict):
        raise ErreurRequete(400, "le corps doit être un objet JSON, par exemple {\"user_id\": \"…\"}")
    try:
        return modele.model_validate(document)
    except ValidationError as erreur:
        raise ErreurRequete(400, "corps de requête invalide", detailler(erreur)) from None


def _page_historique(user_id: str, limite: int, decalage: int, chemin_suivant: bool):
    # Les prédictions des écoles de la personne seulement : un élève d'une autre école est un élève inconnu.
    predictions, total = services().conservation.historique(user_id, limite, decalage,
                                                            identite_courante().ecoles_vues())
    if total:
        inscrire_acces({p["entrees"].get("school") for p in predictions}, 1, user_id)
    suivant = decalage_suivant = None
    if decalage + len(predictions) < total:
        decalage_suivant = decalage + limite
        if chemin_suivant:
            suivant = url_for("historique.historique", user_id=user_id, limite=limite, decalage=decalage_suivant)
    return jsonify({
        "user_id": user_id,
        "predictions": predictions,
        "pagination": {"limite": limite, "decalage": decalage, "total": total, "suivant": suivant,
                       "decalage_suivant": decalage_suivant},
    })


@bp.post("/historique")
@exiger("eleve")
def historique_par_corps():
    demande = lire_corps_modele(DemandeHistorique)
    return _page_historique(demande.user_id, demande.limite, demande.decalage, chemin_suivant=False)


@bp.get("/predictions/user/<user_id>")
@exiger("eleve")
@depreciee
def historique(user_id: str):
    valider_identifiant("user_id", user_id)
    limite, decalage = lire_pagination(request.args)
    return _page_historique(user_id, limite, decalage, chemin_suivant=True)


@bp.post("/effacement")
@exiger("eleve")
def effacement_par_corps():
    return _effacer(lire_corps_modele(DemandeEffacement).user_id)


@bp.delete("/predictions/user/<user_id>")
@exiger("eleve")
@depreciee
def effacer(user_id: str):
    return _effacer(valider_identifiant("user_id", user_id))


def _effacer(user_id: str):
    s = services()
    # Les écoles de l'élève, vues par la personne : aucune (élève inconnu ou d'une autre école) → réponse d'un
    # élève inconnu, sans rien effacer.
    vues, total = s.conservation.historique(user_id, LIMITE_MAX, 0, identite_courante().ecoles_vues())
    supprimees = lignes = 0
    if total or identite_courante().toutes_ecoles:
        effacement = s.conservation.effacer(user_id)  # refus du stockage → 503 (app.web.erreurs)
        supprimees, lignes = effacement.predictions, effacement.lignes_journal
        inscrire_acces({p["entrees"].get("school") for p in vues}, 1, user_id)
    corps = {"user_id": user_id, "supprimees": supprimees, "lignes_journal_supprimees": lignes,
             "avertissements": []}
    if s.journal.vers_stdout:
        corps["avertissements"] = [
            f"JOURNAL_MODE={s.journal.mode} : les lignes déjà envoyées sur la sortie standard (Cloud Logging) "
            "ne peuvent pas être effacées par l'API ; effacez-les dans la journalisation de la plateforme"]
    return jsonify(corps)


def _instant(nom: str, brut: str | None) -> dt.datetime | None:
    """Un paramètre d'instant ISO 8601 (``2026-12-01`` ou ``2026-12-01T08:00:00+01:00``) ; UTC sans fuseau."""
    if brut is None:
        return None
    try:
        instant = dt.datetime.fromisoformat(brut.strip())
    except ValueError:
        raise ErreurRequete(400, f"{nom} invalide", [{"champ": nom, "message": "date ou instant ISO 8601 attendu, "
                                                                            "par exemple 2026-12-01T08:00:00Z"}]) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=dt.timezone.utc)


@bp.get("/predictions/export")
@exiger("pilotage")
def exporter():
    """Le journal de toutes les instances, tiré de la base partagée : une ligne JSON par prédiction, au
    format du journal des requêtes, dans l'ordre de conservation ; envoyé au fil de la lecture."""
    inconnus = [nom for nom in request.args if nom not in ("depuis", "jusqua")]
    if inconnus:
        raise ErreurRequete(400, "paramètre inconnu", [{"champ": nom, "message": "depuis et jusqua seuls sont permis"}
                                                       for nom in inconnus])
    depuis, jusqua = _instant("depuis", request.args.get("depuis")), _instant("jusqua", request.args.get("jusqua"))
    services().conservation.vider()  # ce que ce processus a servi d'abord ; les autres suivent (< 1 s)
    identite = identite_courante()
    enregistrements = (e for e in services().magasin.parcourir(depuis, jusqua)  # direction : ses écoles seulement
                       if identite.voit(e["entrees"].get("school")))
    premier = next(enregistrements, None)  # une base injoignable répond 503 avant le premier octet
    inscrire = functools.partial(services().identification.journal_acces.inscrire, identite.qui,
                                 f"GET {request.url_rule.rule}", identite.ecoles_vues() or ["*"])

    def lignes():
        eleves = set()
        try:
            for enregistrement in (() if premier is None else itertools.chain((premier,), enregistrements)):
                eleves.add(enregistrement["user_id"] or enregistrement["request_id"])
                yield ligne_json(enregistrement)
        finally:  # une ligne au journal des accès par export, même interrompu : les élèves envoyés
            try:
                inscrire(len(eleves))
            except ErreurMagasin as erreur:
                journal.warning("export : %s", erreur)

    reponse = Response(lignes(), mimetype="application/x-ndjson")
    reponse.headers["Content-Disposition"] = 'attachment; filename="predictions.jsonl"'
    return reponse


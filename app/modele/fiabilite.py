"""La fiabilité d'une alerte en français courant : une seule définition pour la page ``/classe``,
``GET /modele`` et la fiche du modèle (``model_card.md``).

« Sur 100 élèves signalés, environ N échouent réellement ; environ X % des élèves qui échoueront ne
sont pas signalés. » N vient de la précision (classe échec), X de 1 − rappel, tous deux mesurés hors
plis à l'entraînement (fiche du modèle, au seuil de la fiche) avec leur intervalle à 95 %. Quand le
service sert un autre seuil (``SEUIL_DECISION``), la fiche ne dit rien de ce seuil : la phrase le dit.
La même phrase sert aux comptes d'une classe de l'an passé (``depuis_comptes``), sans intervalle.
"""

from __future__ import annotations

from collections.abc import Mapping

ECART_SEUIL = 1e-9
BANDE_ELEVEE = 0.5
"""Bandes de la page ``/classe`` : « élevé » quand P(échec) ≥ 0,5 et le seuil, « à surveiller » quand le
seuil est atteint mais pas 0,5 (le seuil, vers 14 %, signale des élèves qui réussiront plus souvent
qu'ils n'échoueront), « faible » sous le seuil. Signalé = élevé ou à surveiller (décision de l'API)."""


def bande(probabilite_echec: float, seuil: float) -> str:
    if probabilite_echec < seuil:
        return "faible"
    return "eleve" if probabilite_echec >= BANDE_ELEVEE else "a_surveiller"


def _entier(valeur: float) -> int:
    return int(round(valeur))


def _plage(centre: float, ic95, unite: str = "") -> str:
    if not ic95 or ic95[0] is None:
        return f"{_entier(centre)}{unite}"
    bas, haut = _entier(ic95[0]), _entier(ic95[1])
    if bas == haut:
        return f"{_entier(centre)}{unite}"
    return f"{_entier(centre)}{unite} (entre {bas} et {haut}{unite})"


def phrase(signales_sur_100: float, manques_pourcent: float, ic_signales=None, ic_manques=None) -> str:
    """La phrase, chiffres arrondis à l'unité, intervalles à 95 % entre parenthèses s'ils sont donnés."""
    return (f"sur 100 élèves signalés, environ {_plage(signales_sur_100, ic_signales)} échouent réellement ; "
            f"environ {_plage(manques_pourcent, ic_manques, ' %')} des élèves qui échoueront ne sont pas signalés")


def _cent(intervalle) -> list[float] | None:
    return None if not intervalle or intervalle[0] is None else [100 * intervalle[0], 100 * intervalle[1]]


def _manques(intervalle_rappel) -> list[float] | None:
    return None if not intervalle_rappel or intervalle_rappel[0] is None else \
        [100 * (1 - intervalle_rappel[1]), 100 * (1 - intervalle_rappel[0])]


def fiabilite_configuration(conf: Mapping, seuil_servi: float) -> dict:
    """La fiabilité d'une configuration de la fiche au seuil servi : chiffres, intervalles et phrase."""
    m = conf["evaluation"]["metriques"]
    precision, rappel = m["precision_echec_seuil"], m["rappel_echec_seuil"]
    connue = abs(float(conf["seuil"]) - float(seuil_servi)) <= ECART_SEUIL
    signales = 100 * precision["moyenne"]
    manques = 100 * (1 - rappel["moyenne"])
    ic_signales, ic_manques = _cent(precision["ic95"]), _manques(rappel["ic95"])
    texte = phrase(signales, manques, ic_signales, ic_manques)
    return {
        "connue": connue,
        "signales_echouant_sur_100": round(signales, 1), "signales_echouant_ic95": ic_signales and
        [round(v, 1) for v in ic_signales],
        "echecs_non_signales_pourcent": round(manques, 1), "echecs_non_signales_ic95": ic_manques and
        [round(v, 1) for v in ic_manques],
        "phrase": (texte[0].upper() + texte[1:] + " (élèves de l'entraînement, jamais vus par le modèle).") if connue
        else ("Fiabilité inconnue : le seuil servi n'est pas celui évalué dans la fiche du modèle (seuil réglé "
              "par l'établissement) ; vérifiez-le sur la classe de l'an passé."),
    }


def fiabilite(fiche: Mapping, seuils_servis: Mapping[str, float]) -> dict[str, dict]:
    """Par configuration (A, B, C) : ``fiabilite_configuration`` au seuil que le service sert."""
    return {nom: fiabilite_configuration(conf, seuils_servis[nom]) for nom, conf in fiche["configurations"].items()}


def depuis_comptes(reperes: int, manques: int, fausses_alertes: int) -> str:
    """La même phrase pour une classe dont on connaît l'issue (comptes réels, sans intervalle)."""
    signales, echecs = reperes + fausses_alertes, reperes + manques
    if not signales or not echecs:
        return ("aucun élève signalé" if not signales else "aucun élève en échec dans ce fichier") + \
            " : la phrase de fiabilité ne se calcule pas"
    return phrase(100 * reperes / signales, 100 * manques / echecs)

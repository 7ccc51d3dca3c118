"""Ce que la page ``/classe`` dit d'une classe en plus des prédictions (``POST /predire/lot/partiel``) :
comment le fichier a été lu, si la classe ressemble aux élèves de l'entraînement, et, pour la classe de
l'an passé (colonne G3), comment le modèle aurait fait. Agrégats seulement : aucune valeur d'élève.

Les calculs sont ceux de l'API, une définition chacun : dérive = ``app.modele.derive.derive`` (celui de
``GET /derive``), vérification = ``app.modele.verification`` (celui de ``make recalibrer``).
"""

from __future__ import annotations

from app.modele.derive import derive_colonnes, lire_reference
from app.modele.explication import libelle
from app.modele.lecture_csv import NOMS_SEPARATEURS
from app.modele.lots import LotPartiel
from app.modele.schema import CHAMPS
from app.modele.seuils import RAPPEL_BORNES, RAPPEL_ECHEC_VISE
from app.modele.verification import verifier_classe
from app.web.parametres import lire_entiers

RAPPORT_HASARD = 2.0
"""Une variable n'est citée que si son PSI dépasse aussi ce multiple du PSI du hasard (petite classe)."""
PROPRES_A_UNE_CLASSE = ("school",)
"""Une classe vient d'une seule école : qu'elle diffère des deux écoles de l'entraînement n'apprend rien."""


RAPPEL_POURCENT = (round(100 * RAPPEL_ECHEC_VISE), round(100 * RAPPEL_BORNES[0]), round(100 * RAPPEL_BORNES[1]))
"""``?rappel=`` : part des échecs à repérer (en %) pour les seuils proposés ; défaut, minimum, maximum
(ceux de ``make recalibrer RAPPEL=…``)."""


def lire_rappel(arguments) -> float:
    """Le rappel visé de ``?rappel=80`` (entier en %), lu avant le corps : un paramètre invalide ne prédit rien."""
    return lire_entiers(arguments, {"rappel": RAPPEL_POURCENT}, "vérification")["rappel"] / 100


def lecture(lot: LotPartiel) -> dict | None:
    if lot.encodage is None:
        return None
    return {"encodage": lot.encodage, "separateur": NOMS_SEPARATEURS[lot.separateur],
            "colonnes_traduites": lot.colonnes_traduites,
            "note_finale": lot.avec_note_finale}


def derive_classe(chemin_reference, colonnes, configurations, classes, probabilites) -> dict:
    """La dérive de la classe (``derive_colonnes``) et le bandeau : variables au PSI « forte », hors effet du
    hasard. ``colonnes`` : les valeurs de chaque champ, élève par élève ; puis la configuration, la classe
    prédite et la probabilité d'échec de chacun."""
    try:
        reference = lire_reference(chemin_reference)
    except (OSError, ValueError):
        return {"disponible": False, "variables": []}
    resultat = derive_colonnes(reference, colonnes, configurations, classes, probabilites)
    differentes = [{"champ": nom, "libelle": libelle(nom), "psi": v["psi"]} for nom, v in resultat["variables"].items()
                   if v["niveau"] == "forte" and v["psi"] > RAPPORT_HASARD * v["psi_hasard"]
                   and nom not in PROPRES_A_UNE_CLASSE]
    return {"disponible": True, "variables": sorted(differentes, key=lambda v: -v["psi"])}


def bilan(services, lot: LotPartiel, entrees, predictions, rappel: float = RAPPEL_ECHEC_VISE) -> dict:
    """Les trois clés, toujours présentes (null quand elles ne s'appliquent pas : contrat v2)."""
    return bilan_colonnes(services, lot, entrees, {nom: [e[nom] for e in entrees] for nom in CHAMPS},
                          [p.configuration for p in predictions], [p.prediction for p in predictions],
                          [p.probabilite_echec for p in predictions], rappel)


def bilan_colonnes(services, lot: LotPartiel, entrees, colonnes, configurations, classes, probabilites,
                   rappel: float = RAPPEL_ECHEC_VISE) -> dict:
    """``bilan`` d'une classe en colonnes (``app.modele.colonnes``) : les mêmes trois clés."""
    return {
        "lecture": lecture(lot),
        "derive_classe": derive_classe(services.configuration.chemin_reference_derive, colonnes, configurations,
                                       classes, probabilites) if configurations else None,
        "verification": verifier_classe(services.predicteur, entrees, lot.notes_finales, rappel)
        if lot.avec_note_finale and configurations else None,
    }

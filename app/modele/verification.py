"""La classe de l'an passé (fichier avec G3) : comment le modèle servi aurait fait sur ces élèves.

Pour chaque configuration, les élèves qui ont les notes qu'elle demande sont prédits notes masquées
comme elle les masque (B sans G2, C sans note), sans G3. Au seuil servi : échecs repérés, échecs
manqués, fausses alertes, dans les mots de ``app.modele.fiabilite`` ; puis les seuils de cet
établissement pour un rappel visé, par le calcul même de ``make recalibrer``
(``app.modele.seuils.recalibrer_probabilites``). Une configuration qui fait à peine mieux que
« signaler tout le monde » (AUC < ``AUC_FAIBLE`` ou plus de ``PART_SIGNALEE_MAX`` de la classe signalée
au rappel visé) est dite telle. Agrégats seulement : aucune valeur d'élève dans le résultat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from app.modele.classes import CLASSE_ECHEC, CLASSE_REUSSITE
from app.modele.fiabilite import depuis_comptes
from app.modele.schema import CONFIGURATIONS, NOTES
from app.modele.seuils import (
    RAPPEL_ECHEC_VISE,
    ErreurRecalibrage,
    auc,
    comptes,
    ligne_seuils,
    recalibrer_probabilites,
)

AUC_FAIBLE = 0.70
PART_SIGNALEE_MAX = 0.60
NOTE_REUSSITE = 10


def masquer_notes(lignes: Sequence[Mapping], configuration: str) -> list[dict]:
    """Les élèves tels que l'API les recevrait pour ``configuration`` : B sans G2, C sans note."""
    absentes = [note for note in NOTES if note not in CONFIGURATIONS[configuration]]
    return [{**ligne, **dict.fromkeys(absentes)} for ligne in lignes]


def eleves_de(configuration: str, lignes: Sequence[Mapping]) -> np.ndarray:
    """Les positions des élèves qui ont toutes les notes que ``configuration`` utilise."""
    requises = [note for note in NOTES if note in CONFIGURATIONS[configuration]]
    return np.asarray([i for i, ligne in enumerate(lignes) if all(ligne.get(n) is not None for n in requises)],
                      dtype=int)


def issues(notes_finales: Sequence[int]) -> np.ndarray:
    """Échec (``CLASSE_ECHEC``) quand G3 < 10, comme la cible de l'entraînement."""
    return np.where(np.asarray(notes_finales) < NOTE_REUSSITE, CLASSE_ECHEC, CLASSE_REUSSITE)


def verifier_classe(predicteur, entrees: Sequence[Mapping], notes_finales: Sequence[int | None],
                    rappel: float = RAPPEL_ECHEC_VISE) -> dict:
    """Par configuration : comptes au seuil servi, AUC, phrase, seuil proposé pour ``rappel``."""
    connues = [i for i, g3 in enumerate(notes_finales) if g3 is not None]
    lignes = [entrees[i] for i in connues]
    y_tous = issues([notes_finales[i] for i in connues])
    resultat = {"eleves": len(lignes), "echecs": int((y_tous == CLASSE_ECHEC).sum()), "rappel_vise": rappel,
                "configurations": {}, "seuils_proposes": None, "seuils_impossibles": None}
    probabilites, y_par_conf = {}, {}
    for configuration in CONFIGURATIONS:
        positions = eleves_de(configuration, lignes)
        if not positions.size:
            continue
        y = y_tous[positions]
        p = predicteur.predire_lot(masquer_notes([lignes[i] for i in positions], configuration)).probabilite_echec
        probabilites[configuration], y_par_conf[configuration] = p, y
        c = comptes(y, p, predicteur.seuils[configuration])
        aire = auc(y, p)
        resultat["configurations"][configuration] = {
            **c, "seuil_servi": float(predicteur.seuils[configuration]),
            "auc": None if aire is None else round(aire, 3),
            "phrase": depuis_comptes(c["reperes"], c["manques"], c["fausses_alertes"]),
        }
    try:
        if not probabilites or len({y.size for y in y_par_conf.values()}) > 1:
            # Des élèves sans G1 ou G2 : chaque configuration a ses élèves ; on règle chacune sur les siens.
            reglages = {}
            for configuration, p in probabilites.items():
                reglages.update(recalibrer_probabilites(y_par_conf[configuration], {configuration: p},
                                                        predicteur.seuils, rappel))
        else:
            reglages = recalibrer_probabilites(next(iter(y_par_conf.values())), probabilites, predicteur.seuils, rappel)
    except ErreurRecalibrage as erreur:
        resultat["seuils_impossibles"] = str(erreur)
        reglages = {}
    for configuration, reglage in reglages.items():
        conf = resultat["configurations"][configuration]
        signales = reglage["mesures"]["taux_selection"]["valeur"]
        c = comptes(y_par_conf[configuration], probabilites[configuration], reglage["seuil"])
        conf["seuil_propose"] = {**c, "seuil": reglage["seuil"], "part_signalee": round(signales, 4),
                                 "phrase": depuis_comptes(c["reperes"], c["manques"], c["fausses_alertes"])}
    for conf in resultat["configurations"].values():
        raisons = []
        if conf["auc"] is not None and conf["auc"] < AUC_FAIBLE:
            raisons.append(f"AUC {conf['auc']:.2f} sous {AUC_FAIBLE:.2f}".replace(".", ","))
        propose = conf.get("seuil_propose")
        if propose and propose["part_signalee"] > PART_SIGNALEE_MAX:
            raisons.append(f"{round(100 * propose['part_signalee'])} % de la classe signalée pour repérer "
                           f"{round(100 * rappel)} % des échecs")
        conf["a_peine_mieux_que_tout_signaler"] = bool(raisons)
        conf["raisons_faiblesse"] = raisons
    if reglages and len(reglages) == len(CONFIGURATIONS):
        resultat["seuils_proposes"] = ligne_seuils(reglages)
    return resultat

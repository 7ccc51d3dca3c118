"""Le formulaire d'un élève de la page ``/classe``, dérivé du schéma pydantic (aucune autre liste de champs).

Pour chaque champ : son libellé court (celui des explications), sa description complète en aide,
et soit les valeurs permises (liste déroulante), soit ses bornes. Le texte d'une valeur est lu dans
la description du schéma : « GP (Gabriel Pereira) », « 0 aucune, 1 primaire », « de 1 (très faible)
à 5 (excellent) » ; yes et no deviennent oui et non.
"""

from __future__ import annotations

import re
from functools import lru_cache

from app.modele.explication import libelle
from app.modele.schema import (
    CATEGORIES,
    CHAMPS,
    NOTES,
    DemandePrediction,
    Eleve,
    bornes,
)

VALEURS_MAX_LISTE = 8
"""Un champ entier d'au plus 8 valeurs (échelles 1–5, âge…) est une liste déroulante ; au-delà, un nombre."""
OUI_NON = {"yes": "oui", "no": "non"}


def texte_valeur(description: str, valeur) -> str:
    """Le sens d'une valeur d'après la description du champ (chaîne vide s'il n'y est pas écrit)."""
    brute = re.escape(str(valeur))
    entre_parentheses = re.search(rf"(?:^|[\s:,;]){brute} \(((?:[^()]|\([^()]*\))+)\)", description)
    if entre_parentheses:
        return entre_parentheses.group(1)
    apres_virgule = re.search(rf"(?:: |, ){brute} ([^\d,;()][^,;()]*)", description)  # « 0 aucune, 1 primaire »
    if apres_virgule:
        return apres_virgule.group(1).strip()
    return OUI_NON.get(str(valeur), "")


def _option(description: str, valeur) -> dict:
    sens = texte_valeur(description, valeur)
    return {"valeur": str(valeur), "texte": f"{valeur} — {sens}" if sens and str(valeur) not in OUI_NON else
            (sens or str(valeur))}


@lru_cache(maxsize=1)
def champs_formulaire() -> tuple[dict, ...]:
    """Les 32 champs dans l'ordre UCI, puis ``user_id`` (facultatif)."""
    champs = []
    for nom in CHAMPS:
        description = Eleve.model_fields[nom].description or nom
        champ = {"nom": nom, "libelle": libelle(nom), "aide": description, "facultatif": nom in NOTES,
                 "options": None, "bornes": None}
        if nom in CATEGORIES:
            champ["options"] = [_option(description, v) for v in CATEGORIES[nom]]
        else:
            minimum, maximum = bornes(nom)
            if maximum - minimum + 1 <= VALEURS_MAX_LISTE and nom not in NOTES:
                champ["options"] = [_option(description, v) for v in range(minimum, maximum + 1)]
            else:
                champ["bornes"] = (minimum, maximum)
        champs.append(champ)
    user_id = DemandePrediction.model_fields["user_id"].description or ""
    champs.append({"nom": "user_id", "libelle": "Identifiant pseudonyme de l'élève", "aide": user_id,
                   "facultatif": True, "options": None, "bornes": None})
    return tuple(champs)


def libelles() -> dict[str, str]:
    """Champ → libellé court, et le texte de chaque valeur : la page rédige les raisons en clair."""
    return {c["nom"]: c["libelle"] for c in champs_formulaire()}


def textes_valeurs() -> dict[str, dict[str, str]]:
    return {c["nom"]: {o["valeur"]: texte_valeur(c["aide"], o["valeur"]) or o["valeur"] for o in c["options"]}
            for c in champs_formulaire() if c["options"]}

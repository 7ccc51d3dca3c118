"""Lecture du fichier UCI « Student Performance » pour l'entraînement.

Accepte le séparateur « ; » (fichier UCI) comme « , » (copie du projet d'origine), notes
entre guillemets ou non. Chaque ligne est validée par le schéma de l'API : on n'entraîne
jamais sur une valeur que ``/predire`` refuserait.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from app.modele.erreurs_validation import detailler
from app.modele.schema import (
    CHAMPS,
    FORME_ENTIER_TEXTE,
    NUMERIQUES,
    Eleve,
    separateur_csv,
)

CIBLE = "G3"
SEUIL_REUSSITE = 10
"""Réussite = 1 quand la note finale G3 ≥ 10, échec = 0 sinon (README des données)."""


class ErreurDonnees(ValueError):
    """Le fichier d'entraînement est inutilisable ; le message dit pourquoi, en français."""


@dataclass(frozen=True)
class JeuDonnees:
    X: pd.DataFrame
    """Les 32 champs bruts, tels que ``/predire`` les reçoit."""
    y: np.ndarray
    """1 = réussite (G3 ≥ 10), 0 = échec."""


def lire_donnees(chemin: str | Path, deux_classes: bool = True) -> JeuDonnees:
    """``deux_classes=False`` : un fichier sans échec (ou sans réussite) est rendu tel quel (l'appelant
    le refuse avec son propre message, comme le recalibrage)."""
    chemin = Path(chemin)
    if not chemin.is_file():
        raise ErreurDonnees(f"fichier de données introuvable : {chemin}")
    with chemin.open(encoding="utf-8-sig", newline="") as fichier:
        premiere_ligne = fichier.readline()
    if not premiere_ligne.strip():
        raise ErreurDonnees(f"le fichier de données est vide : {chemin}")
    tableau = pd.read_csv(
        chemin, sep=separateur_csv(premiere_ligne), dtype=str, quoting=csv.QUOTE_MINIMAL,
        keep_default_na=False, encoding="utf-8-sig",
    )
    tableau.columns = [c.strip() for c in tableau.columns]
    attendues = (*CHAMPS, CIBLE)
    manquantes = [c for c in attendues if c not in tableau.columns]
    if manquantes:
        raise ErreurDonnees("colonnes manquantes : " + ", ".join(manquantes))
    inconnues = [c for c in tableau.columns if c not in attendues]
    if inconnues:
        raise ErreurDonnees("colonnes inconnues : " + ", ".join(inconnues))
    if tableau.empty:
        raise ErreurDonnees(f"le fichier de données ne contient aucun élève : {chemin}")

    lignes = []
    cibles = []
    for position, ligne in enumerate(tableau.to_dict(orient="records")):
        numero = position + 2  # ligne 1 = en-tête
        note_finale = ligne.pop(CIBLE).strip()
        if not FORME_ENTIER_TEXTE.fullmatch(note_finale) or not 0 <= int(note_finale) <= 20:
            raise ErreurDonnees(
                f"ligne {numero}, colonne {CIBLE} : note finale invalide {note_finale!r} "
                "(entier de 0 à 20 attendu)"
            )
        try:
            eleve = Eleve.model_validate({k: v.strip() for k, v in ligne.items()})
        except ValidationError as erreur:
            detail = detailler(erreur)[0]
            raise ErreurDonnees(f"ligne {numero}, colonne {detail['champ']} : {detail['message']}") from None
        if eleve.G1 is None or eleve.G2 is None:
            raise ErreurDonnees(f"ligne {numero} : G1 et G2 sont obligatoires pour l'entraînement")
        lignes.append(eleve.model_dump())
        cibles.append(int(int(note_finale) >= SEUIL_REUSSITE))

    y = np.asarray(cibles, dtype=np.int64)
    if deux_classes and np.unique(y).size < 2:
        classe = "réussite" if y[0] == 1 else "échec"
        raise ErreurDonnees(
            f"une seule classe dans les données ({classe} pour les {y.size} élèves) : "
            "impossible d'apprendre à distinguer échec et réussite"
        )
    X = pd.DataFrame(lignes, columns=list(CHAMPS))
    X[list(NUMERIQUES)] = X[list(NUMERIQUES)].astype(np.int64)
    return JeuDonnees(X=X, y=y)

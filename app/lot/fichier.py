"""Un fichier de classe : lu, prédit, conservé (journal puis base, canal ``lot``) et ses deux sorties écrites.

Reprise sans doublon :

- le request_id d'un élève est ``lot-<32 premiers chiffres du sha256 du fichier>-<ligne>`` : relancer la
  commande sur le même fichier redonne les mêmes identifiants ;
- ceux qui sont déjà en base (un passage interrompu : le démarrage a réconcilié son journal) ne sont ni
  rejournalisés ni réinsérés ; la base n'en garde qu'un de toute façon (request_id unique) ;
- les sorties sont écrites dans des temporaires renommés ensuite, ``resume.json`` en dernier : un fichier
  dont le résumé porte le sha256 de l'entrée est complet (sauté), sinon il est refait.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from app.modele.lots import ErreurLot, ecrire_csv, ligne_resultat, lire_csv_partiel
from app.modele.noyau import Noyau
from app.modele.predicteur import enregistrement

CANAL = "lot"
TERMINE, ILLISIBLE = "termine", "illisible"
EN_ATTENTE_MAX = 20_000
"""Prédictions journalisées qui attendent la base au plus : au-delà, la commande attend le fil d'alimentation
(mémoire plate quel que soit le nombre de fichiers)."""


@dataclass(frozen=True)
class Bilan:
    nom: str
    statut: str
    """``termine``, ``illisible``, ou ``saute`` (sorties déjà complètes d'un passage précédent)."""
    eleves: int = 0
    rejets: int = 0
    deja_conserves: int = 0


def sorties(sortie: Path, entree: Path) -> tuple[Path, Path]:
    return sortie / f"{entree.stem}.resultats.csv", sortie / f"{entree.stem}.resume.json"


def _resume_complet(chemin: Path, empreinte: str) -> dict | None:
    """Le résumé d'un passage précédent sur ce même contenu, sinon None (absent, autre contenu, illisible)."""
    try:
        resume = json.loads(chemin.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return resume if isinstance(resume, dict) and resume.get("sha256") == empreinte else None


def _ecrire(chemin: Path, texte: str) -> None:
    """Écrit à côté puis renomme : un lecteur (ou une reprise) ne voit jamais un fichier à moitié écrit."""
    temporaire = chemin.with_name(f".{chemin.name}.{os.getpid()}.tmp")
    temporaire.write_text(texte, encoding="utf-8", newline="")
    os.replace(temporaire, chemin)


def traiter(entree: Path, sortie: Path, noyau: Noyau) -> Bilan:
    """Un fichier : sauté si ses sorties sont complètes, sinon lu, prédit, conservé puis écrit."""
    brut = entree.read_bytes()
    empreinte = hashlib.sha256(brut).hexdigest()
    chemin_resultats, chemin_resume = sorties(sortie, entree)
    precedent = _resume_complet(chemin_resume, empreinte)
    if precedent is not None and (precedent.get("statut") == ILLISIBLE or chemin_resultats.exists()):
        return Bilan(entree.name, "saute" if precedent.get("statut") == TERMINE else ILLISIBLE,
                     precedent.get("predits", 0), precedent.get("rejetes", 0))
    for temporaire in (*sortie.glob(f".{chemin_resultats.name}.*.tmp"), *sortie.glob(f".{chemin_resume.name}.*.tmp")):
        temporaire.unlink(missing_ok=True)  # laissé par un passage tué (cette tâche seule traite ce fichier)
    predicteur = noyau.predicteur
    resume = {"fichier": entree.name, "sha256": empreinte, "model_version": predicteur.version, "canal": CANAL}
    try:
        lot = lire_csv_partiel(brut)
    except ErreurLot as erreur:  # le fichier entier est refusé, comme par la page (en-tête, encodage, taille…)
        chemin_resultats.unlink(missing_ok=True)  # ceux d'un contenu précédent de ce fichier ne valent plus
        _ecrire(chemin_resume, _json({**resume, "statut": ILLISIBLE, "erreur": erreur.message,
                                      "details": erreur.details}))
        return Bilan(entree.name, ILLISIBLE)
    prefixe = f"lot-{empreinte[:32]}"
    entrees = [demande.entrees() for demande in lot.demandes]
    predictions = predicteur.predire_lot(entrees).predictions(entrees) if entrees else []
    ids = [f"{prefixe}-{position}" for position in lot.positions]
    deja = noyau.magasin.existants(ids) if ids else set()
    nouveaux = [enregistrement(p, request_id=i, user_id=d.user_id, entrees=v, version=predicteur.version, canal=CANAL)
                for i, d, v, p in zip(ids, lot.demandes, entrees, predictions) if i not in deja]
    if nouveaux:
        noyau.conservation.conserver(nouveaux)
        if noyau.conservation.etat()[2]["en_attente"] > EN_ATTENTE_MAX:
            noyau.conservation.vider(delai=60.0)
    lignes = [ligne_resultat(lot.colonnes, v, d.user_id, p, i, extra)
              for i, d, v, p, extra in zip(ids, lot.demandes, entrees, predictions, lot.supplementaires)]
    _ecrire(chemin_resultats, ecrire_csv(lot.colonnes, lot.separateur, lignes))
    configurations = Counter(p.configuration for p in predictions)
    _ecrire(chemin_resume, _json({
        **resume, "statut": TERMINE, "recus": lot.recus, "predits": len(predictions), "rejetes": len(lot.rejets),
        "deja_conserves": len(deja), "request_id_prefixe": prefixe,
        "decisions": dict(Counter(p.libelle for p in predictions)), "configurations": dict(configurations),
        "fiabilite": {c: {"seuil": predicteur.seuils[c], "metriques": noyau.artefacts.fiabilite(c)}
                      for c in sorted(configurations)},
        "rejets": lot.rejets,
    }))
    return Bilan(entree.name, TERMINE, len(predictions), len(lot.rejets), len(deja))


def _json(document: dict) -> str:
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"

"""La fiche du modèle (model card) en Markdown, rédigée à partir de sa version JSON."""

from __future__ import annotations

from app.modele.fiabilite import fiabilite

REFERENCE_ARTICLE: dict[str, dict] = {
    "A": {"meilleur": 93.0, "modele": "arbre de décision", "naif": 89.7, "regle_naive": "G2 ≥ 10", "cible_projet": 93.5},
    "B": {"meilleur": 90.1, "modele": "forêt aléatoire", "naif": 87.5, "regle_naive": "G1 ≥ 10", "cible_projet": 90.5},
    "C": {"meilleur": 85.0, "modele": "forêt aléatoire", "naif": 84.6, "regle_naive": "classe majoritaire", "cible_projet": 85.5},
}
"""Cortez & Silva (2008), meilleure exactitude binaire (PCC, %) sur student-por.csv."""


def _pourcent(resume: dict) -> str:
    bas, haut = resume["ic95"]
    return f"{100 * resume['moyenne']:.2f} [{100 * bas:.2f} ; {100 * haut:.2f}]"


def tableau_resultats(fiche: dict) -> str:
    lignes = [
        "| config. | modèle choisi | exactitude au seuil 0,5 (%) [IC 95 %] | article | seuil servi | "
        "exactitude au seuil (%) | rappel échec | précision échec | F1 échec |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for nom, conf in fiche["configurations"].items():
        m = conf["evaluation"]["metriques"]
        ref = conf["reference_article"]
        lignes.append(
            f"| {nom} | {conf['classifieur']} | {_pourcent(m['exactitude_05'])} | {ref['meilleur']} | "
            f"{conf['seuil']:.3f} | {_pourcent(m['exactitude_seuil'])} | "
            f"{m['rappel_echec_seuil']['moyenne']:.3f} | {m['precision_echec_seuil']['moyenne']:.3f} | "
            f"{m['f1_echec_seuil']['moyenne']:.3f} |"
        )
    return "\n".join(lignes)


def phrases_fiabilite(fiche: dict) -> str:
    """La phrase de la page ``/classe`` et de ``GET /modele`` (``app.modele.fiabilite``), au seuil de la fiche."""
    seuils = {nom: conf["seuil"] for nom, conf in fiche["configurations"].items()}
    return "\n".join(f"- **{nom}** : {f['phrase']}" for nom, f in fiabilite(fiche, seuils).items())


def rediger_markdown(fiche: dict) -> str:
    d, p = fiche["donnees"], fiche["protocole"]
    versions = ", ".join(f"{k} {v}" for k, v in fiche["versions"].items())
    configurations = "\n".join(
        f"- **{nom}** ({conf['description']}) : `{conf['type']}` « {conf['classifieur']} », choisi parmi "
        f"{', '.join(conf['candidats'])} ; hyperparamètres : "
        + ", ".join(f"{k}={v}" for k, v in sorted(conf["hyperparametres"].items()) if v is not None)
        for nom, conf in fiche["configurations"].items()
    )
    return f"""# Fiche du modèle — prediction-etudiante

Version du modèle : `{fiche['version_modele']}` — entraîné le {fiche['date_entrainement']} en {fiche['duree_entrainement_s']} s.
`modele_trees.pkl` sha256 : `{fiche['sha256_modele']}`.

## Usage prévu
Repérer tôt les élèves du cours de portugais qui risquent l'échec (note finale G3 < 10) pour
leur proposer de l'aide. C'est une aide à la décision pour les équipes éducatives, jamais une
sanction ni une décision automatique : chaque alerte appelle un échange humain.

## Données
`{d['fichier']}` (UCI « Student Performance », Cortez & Silva 2008, CC BY 4.0), sha256 `{d['sha256']}`.
{d['lignes']} élèves : {d['classes']['echec']} en échec, {d['classes']['reussite']} en réussite. Cible : {d['cible']}.
Deux écoles portugaises, 2005–2006 : le modèle n'a rien appris d'autres établissements ;
réentraînez-le sur vos propres données avant de vous y fier.

## Configurations et modèles
{configurations}

Graine {p['graine']} ; bibliothèques : {versions}.

## Évaluation
Protocole de l'article : {p['repetitions']} répétitions de validation croisée stratifiée à {p['plis']} plis ;
le choix du modèle et du seuil se fait dans les plis d'entraînement seulement ({p['plis_internes']} plis
internes), les chiffres ne sont donc pas optimistes. IC 95 % : t de Student sur les répétitions ;
il ne mesure que la variation due au découpage en plis (nul quand chaque répétition classe les
élèves de la même façon), pas l'incertitude due à la taille de l'échantillon : d'un pli à
l'autre (65 élèves), l'exactitude varie de plusieurs points.
Seuil servi : le plus exact parmi ceux qui repèrent au moins {100 * p['rappel_echec_vise']:.0f} % des échecs
(rappel de la classe échec) ; règle : {p['regle_decision']}.

{tableau_resultats(fiche)}

## Fiabilité d'une alerte, en clair
{phrases_fiabilite(fiche)}

## Limites
- Petit échantillon (649 élèves, 100 échecs) : les intervalles de confiance sont larges.
- Des attributs sensibles (sexe, situation familiale, alcool) sont des entrées : surveillez les
  écarts de taux d'alerte entre groupes avant tout usage. `make rapport` les mesure hors plis
  (exactitude, rappel, précision, faux positifs et taux d'alerte par sexe, école, domicile et
  études des parents, écarts de parité démographique et d'égalité des chances, IC par bootstrap).
- Dans un autre établissement (autre cours, autre taux d'échec), le seuil servi peut perdre sa
  promesse de rappel : `make recalibrer DONNEES=…` règle les seuils sur ses résultats de l'an
  passé ; `GET /derive` signale les élèves reçus qui ne ressemblent plus aux données d'entraînement.
- Les probabilités sont des fréquences apprises, pas des certitudes ; `confiance_prediction`
  ne mesure que l'écart au seuil.
"""

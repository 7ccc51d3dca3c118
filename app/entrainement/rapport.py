"""``make rapport [DONNEES=fichier.csv] [JOURNAL=requetes_enrg.jsonl]`` : rapport d'équité, de
calibration et de dérive, en HTML autonome (graphiques SVG intégrés) et en JSON.

- Sur les données d'entraînement (même sha256 que la fiche) : prédictions hors plis du modèle livré
  réentraîné dans chaque pli (``app.entrainement.equite``, 20 × 10 plis par défaut), au seuil servi.
- Sur un autre fichier étiqueté : le modèle servi tel quel (modèle compilé), qui n'a jamais vu ces
  élèves ; une seule « répétition ».
- Avec ``--journal`` : la dérive des dernières prédictions servies (``app.modele.derive``) par rapport
  à ``code/reference_derive.json``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import io
import json
import sys
from pathlib import Path

import numpy as np

from app.config import RACINE, Configuration, ErreurConfiguration
from app.entrainement import equite
from app.entrainement.donnees import ErreurDonnees, lire_donnees
from app.entrainement.evaluation import afficher
from app.entrainement.servi import predicteur_servi, probabilites_servies
from app.modele import artefacts
from app.modele.derive import SEUIL_FORT, SEUIL_MODERE, derive, lire_reference
from app.modele.schema import CONFIGURATIONS, DESCRIPTION_CONFIGURATIONS
from app.stockage.journal import JournalRequetes

SEUILS_COURBE = np.round(np.linspace(0.02, 0.98, 49), 2)
LIGNES_JOURNAL = 10_000


def _arguments(argv):
    analyseur = argparse.ArgumentParser(prog="python -m app.entrainement.rapport", description=__doc__.split("\n")[0])
    analyseur.add_argument("--donnees", default=str(RACINE / "code" / "student-por.csv"),
                           help="fichier UCI étiqueté (défaut : les données d'entraînement)")
    analyseur.add_argument("--sortie", default=str(RACINE / "rapport"), help="dossier du rapport (défaut : rapport/)")
    analyseur.add_argument("--repetitions", type=int, default=20, help="répétitions de la validation croisée (20)")
    analyseur.add_argument("--plis", type=int, default=10, help="plis (10)")
    analyseur.add_argument("--tirages", type=int, default=1000, help="tirages du bootstrap (1000)")
    analyseur.add_argument("--graine", type=int, default=42)
    analyseur.add_argument("--n-jobs", type=int, default=-1)
    analyseur.add_argument("--seuils", default="", help="seuils à évaluer, format SEUIL_DECISION (défaut : la fiche)")
    analyseur.add_argument("--journal", default="", help=f"journal des requêtes : dérive de ses {LIGNES_JOURNAL} "
                                                         "dernières lignes")
    arguments = analyseur.parse_args(argv)
    if arguments.repetitions < 1 or arguments.plis < 2 or arguments.tirages < 100:
        analyseur.error("--repetitions ≥ 1, --plis ≥ 2, --tirages ≥ 100")
    return arguments


def calculer(arguments) -> dict:
    jeu = lire_donnees(arguments.donnees)
    charges = artefacts.charger(RACINE / "code")
    forces = Configuration.depuis_environnement({"SEUIL_DECISION": arguments.seuils}).seuils_forces
    seuils = {c: charges.seuil(c) for c in CONFIGURATIONS} | forces
    entrainement = artefacts.sha256_fichier(arguments.donnees) == charges.fiche["donnees"]["sha256"]
    if entrainement:
        methode = (f"prédictions hors plis : le modèle livré (mêmes hyperparamètres) réentraîné dans chaque pli de "
                   f"{arguments.repetitions} × {arguments.plis} plis stratifiés ; chaque élève n'est prédit que par "
                   "des modèles qui ne l'ont pas vu")
    else:
        methode = "modèle servi tel quel (modèle compilé) : il n'a jamais vu ces élèves"
        predicteur = predicteur_servi(seuils)
    groupes = equite.groupes_eleves(jeu.X)
    resultat = {
        "genere_le": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "version_modele": charges.fiche["version_modele"],
        "donnees": {"fichier": Path(arguments.donnees).name, "sha256": artefacts.sha256_fichier(arguments.donnees),
                    "eleves": int(jeu.y.size), "echecs": int((jeu.y == 0).sum()),
                    "donnees_entrainement": entrainement},
        "methode": methode,
        "protocole": {"repetitions": arguments.repetitions if entrainement else 1,
                      "plis": arguments.plis if entrainement else None, "graine": arguments.graine,
                      "tirages_bootstrap": arguments.tirages},
        "configurations": {},
    }
    for configuration, variables in CONFIGURATIONS.items():
        afficher(f"Configuration {configuration} : {methode.split(' :')[0]}…")
        if entrainement:
            pipeline = charges.modele["configurations"][configuration]["pipeline"]
            p = equite.probabilites_hors_plis(pipeline, jeu.X[list(variables)], jeu.y, repetitions=arguments.repetitions,
                                              plis=arguments.plis, graine=arguments.graine, n_jobs=arguments.n_jobs)
        else:
            p = probabilites_servies(predicteur, jeu.X, configuration)[None, :]
        seuil = seuils[configuration]
        tableau = equite.tableau_long(jeu.y, p, seuil, groupes)
        resultat["configurations"][configuration] = {
            "description": DESCRIPTION_CONFIGURATIONS[configuration],
            "seuil": seuil,
            **equite.metriques(tableau, tirages=arguments.tirages, graine=arguments.graine),
            "brier": round(equite.brier(jeu.y, p), 4),
            "brier_reference": round(float(np.mean(jeu.y == 0) * np.mean(jeu.y == 1)), 4),
            "calibration": equite.courbe_calibration(jeu.y, p),
            "rappel_precision_seuil": equite.rappel_precision_seuils(jeu.y, p, SEUILS_COURBE),
            "importances": equite.importances(charges.modele["configurations"][configuration]["pipeline"]),
        }
    if arguments.journal:
        resultat["derive"] = derive_journal(arguments.journal)
    return resultat


def derive_journal(chemin: str | Path) -> dict:
    enregistrements, ignorees = JournalRequetes(chemin).dernieres(LIGNES_JOURNAL)
    resultat = derive(lire_reference(RACINE / "code" / "reference_derive.json"), enregistrements)
    return {"journal": Path(chemin).name, "lignes_ignorees": ignorees, **resultat}


# --- HTML -----------------------------------------------------------------------------------------

def _svg(figure) -> str:
    tampon = io.BytesIO()
    figure.savefig(tampon, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return f'<img alt="" src="data:image/svg+xml;base64,{base64.b64encode(tampon.getvalue()).decode("ascii")}">'


def _graphiques(configuration: str, contenu: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.fonttype": "none", "font.size": 9})
    import matplotlib.pyplot as plt

    images = []
    # 1. Rappel, taux de faux positifs et taux d'alerte par groupe, avec IC 95 %.
    lignes = [(attribut, groupe, valeurs) for attribut, bloc in contenu["groupes"].items()
              for groupe, valeurs in bloc["groupes"].items()]
    figure, axes = plt.subplots(1, 3, figsize=(11, 0.28 * len(lignes) + 1.2), sharey=True)
    positions = np.arange(len(lignes))[::-1]
    for axe, metrique in zip(axes, ("rappel_echec", "taux_faux_positifs", "taux_selection")):
        valeurs = np.array([v[metrique]["valeur"] if v[metrique]["valeur"] is not None else np.nan for *_, v in lignes])
        bas = np.array([v[metrique]["ic95"][0] if v[metrique]["ic95"][0] is not None else np.nan for *_, v in lignes])
        haut = np.array([v[metrique]["ic95"][1] if v[metrique]["ic95"][1] is not None else np.nan for *_, v in lignes])
        axe.errorbar(valeurs, positions, xerr=[np.nan_to_num(valeurs - bas), np.nan_to_num(haut - valeurs)],
                     fmt="o", color="#1f5fa8", ecolor="#9bb7d8", capsize=2)
        axe.axvline(contenu["global"][metrique]["valeur"], color="#c0392b", linestyle="--", linewidth=1)
        axe.set_title(equite.LIBELLES_METRIQUES[metrique])
        axe.set_xlim(0, 1)
        axe.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(positions, [f"{equite.GROUPES[a][0]} : {g}" for a, g, _ in lignes])
    figure.suptitle(f"Configuration {configuration} : par groupe (IC 95 %, tiret : tous les élèves)")
    images.append(_svg(figure))
    # 2. Calibration, 3. rappel et précision selon le seuil, 4. importances.
    figure, (calibration, compromis, importances) = plt.subplots(1, 3, figsize=(13, 3.8))
    points = contenu["calibration"]
    calibration.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    calibration.plot([p["predite"] for p in points], [p["observee"] for p in points], "o-", color="#1f5fa8")
    calibration.set(xlabel="P(échec) prédite", ylabel="part d'échecs observée", xlim=(0, 1), ylim=(0, 1),
                    title=f"Calibration (Brier {contenu['brier']:.3f})")
    courbe = contenu["rappel_precision_seuil"]
    seuils = [p["seuil"] for p in courbe]
    compromis.plot(seuils, [p["rappel_echec"] for p in courbe], label="rappel échec", color="#1f5fa8")
    compromis.plot(seuils, [p["precision_echec"] if p["precision_echec"] is not None else np.nan for p in courbe],
                   label="précision échec", color="#e67e22")
    compromis.plot(seuils, [p["taux_selection"] for p in courbe], label="taux d'alerte", color="grey", linestyle=":")
    compromis.axvline(contenu["seuil"], color="#c0392b", linestyle="--", linewidth=1, label="seuil servi")
    compromis.axhline(0.8, color="#1f5fa8", linestyle=":", linewidth=0.8)
    compromis.set(xlabel="seuil sur P(échec)", xlim=(0, 1), ylim=(0, 1), title="Rappel et précision selon le seuil")
    compromis.legend(fontsize=7)
    premieres = list(contenu["importances"].items())[:12][::-1]
    importances.barh([k for k, _ in premieres], [v for _, v in premieres], color="#1f5fa8")
    importances.set(title="Ce qui pèse dans le modèle (importance)", xlabel="part de l'importance")
    figure.tight_layout()
    images.append(_svg(figure))
    return images


def _valeur(mesure: dict, pourcent: bool = True) -> str:
    if mesure["valeur"] is None:
        return "—"
    facteur = 100 if pourcent else 1
    texte = f"{facteur * mesure['valeur']:.1f}" if pourcent else f"{mesure['valeur']:.3f}"
    bas, haut = mesure["ic95"]
    if bas is not None:
        texte += (f' <small>[{facteur * bas:.1f} ; {facteur * haut:.1f}]</small>' if pourcent
                  else f' <small>[{bas:.3f} ; {haut:.3f}]</small>')
    return texte


def _table_groupes(contenu: dict) -> str:
    entete = "".join(f"<th>{equite.LIBELLES_METRIQUES[m]} (%)</th>" for m in equite.METRIQUES)
    lignes = [f"<tr class='global'><td>tous les élèves</td><td>{contenu['global']['effectif']}</td>"
              f"<td>{contenu['global']['echecs']}</td>"
              + "".join(f"<td>{_valeur(contenu['global'][m])}</td>" for m in equite.METRIQUES) + "</tr>"]
    for attribut, bloc in contenu["groupes"].items():
        lignes.append(f"<tr class='attribut'><th colspan='{3 + len(equite.METRIQUES)}'>{html.escape(bloc['titre'])} "
                      f"({attribut}) — écart de parité démographique {_valeur(bloc['ecart_parite_demographique'], False)}"
                      f", écart d'égalité des chances {_valeur(bloc['ecart_egalite_chances'], False)}</th></tr>")
        for groupe, v in bloc["groupes"].items():
            lignes.append(f"<tr><td>{html.escape(groupe)}</td><td>{v['effectif']}</td><td>{v['echecs']}</td>"
                          + "".join(f"<td>{_valeur(v[m])}</td>" for m in equite.METRIQUES) + "</tr>")
    return (f"<table><tr><th>groupe</th><th>élèves</th><th>échecs</th>{entete}</tr>{''.join(lignes)}</table>")


def _nombre(valeur, format_: str = ".3f") -> str:
    return "—" if valeur is None else format(valeur, format_)


def _section_derive(d: dict) -> str:
    lignes = "".join(
        f"<tr class='{v['niveau']}'><td>{nom}</td><td>{v['n']}</td><td>{_nombre(v['psi'])}</td>"
        f"<td>{_nombre(v['psi_hasard'])}</td><td>{v['niveau']}</td></tr>"
        for nom, v in sorted(d["variables"].items(), key=lambda kv: -(kv[1]["psi"] or 0)))
    taux = "".join(
        f"<tr><td>{c}</td><td>{t['n']}</td><td>{100 * t['taux_alerte']:.1f} [{100 * t['ic95'][0]:.1f} ; "
        f"{100 * t['ic95'][1]:.1f}]</td><td>{100 * t['taux_alerte_reference']:.1f}</td><td>{'oui' if t['ecart'] else 'non'}</td>"
        f"<td>{_nombre(t['psi_probabilite'])}</td></tr>"
        for c, t in d["taux_echec_predit"].items())
    derivees = ", ".join(d["derivees"]) or "aucune"
    return (f"<h2>Dérive des élèves reçus</h2><p>{d['n']} dernières prédictions du journal {html.escape(d['journal'])} "
            f"({d['lignes_ignorees']} lignes illisibles ignorées), comparées aux données d'entraînement. PSI &lt; "
            f"{SEUIL_MODERE} : stable ; {SEUIL_MODERE} à {SEUIL_FORT} : modérée ; ≥ {SEUIL_FORT} : forte. "
            f"« PSI du hasard » : ce que donnerait le seul hasard d'échantillonnage. Variables qui dérivent : "
            f"<b>{html.escape(derivees)}</b>.</p>"
            f"<table><tr><th>configuration</th><th>prédictions</th><th>taux d'alerte (%) [IC 95 %]</th>"
            f"<th>attendu (%)</th><th>écart</th><th>PSI de P(échec)</th></tr>{taux}</table>"
            f"<table><tr><th>variable</th><th>élèves</th><th>PSI</th><th>PSI du hasard</th><th>niveau</th></tr>"
            f"{lignes}</table>")


STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.85em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
td:first-child,th[colspan]{text-align:left}tr.attribut th{background:#eef3f9}tr.global td{font-weight:bold}
tr.moderee td{background:#fff4d6}tr.forte td{background:#fbdcdc}small{color:#666}img{max-width:100%}"""


def rediger_html(r: dict) -> str:
    resume = "".join(
        f"<tr><td>{c} — {html.escape(v['description'])}</td><td>{v['seuil']:.3f}</td>"
        + "".join(f"<td>{_valeur(v['global'][m])}</td>" for m in equite.METRIQUES)
        + f"<td>{v['brier']:.3f} <small>(sans modèle : {v['brier_reference']:.3f})</small></td></tr>"
        for c, v in r["configurations"].items())
    sections = []
    for configuration, contenu in r["configurations"].items():
        sections.append(f"<h2>Configuration {configuration} — {html.escape(contenu['description'])}</h2>"
                        f"<p>Seuil : échec quand P(échec) ≥ {contenu['seuil']:.3f}.</p>{_table_groupes(contenu)}"
                        + "<h3>Par groupe</h3>{}<h3>Calibration, rappel et précision selon le seuil, importances</h3>{}"
                        .format(*_graphiques(configuration, contenu)))
    if "derive" in r:
        sections.append(_section_derive(r["derive"]))
    d = r["donnees"]
    return f"""<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Rapport d'équité — modèle {r['version_modele']}</title>
<style>{STYLE}</style></head><body>
<h1>Équité, calibration et dérive du modèle {r['version_modele']}</h1>
<p>Généré le {r['genere_le']} sur <b>{html.escape(d['fichier'])}</b> ({d['eleves']} élèves, dont {d['echecs']} en échec,
G3 &lt; 10). Méthode : {html.escape(r['methode'])}. Intervalles [IC 95 %] : bootstrap par élève
({r['protocole']['tirages_bootstrap']} tirages, un élève tiré emporte toutes ses répétitions).</p>
<p>Lecture : l'alerte « échec » est le positif. <b>Rappel échec</b> : part des élèves en échec que le modèle signale
(le service vise 80 %). <b>Précision</b> : part des alertes justes. <b>Taux de faux positifs</b> : part des élèves qui
réussissent et sont signalés quand même. <b>Taux d'alerte</b> : part des élèves signalés. <b>Écart de parité
démographique</b> : plus grand écart de taux d'alerte entre les groupes d'un attribut (fairlearn). <b>Écart d'égalité
des chances</b> (equalized odds) : le plus grand des écarts de rappel et de taux de faux positifs entre groupes.
Un écart de taux d'alerte peut venir d'un écart réel de taux d'échec entre groupes (colonne « échecs ») ; l'égalité
des chances, elle, compare les erreurs à situation égale. Les groupes sont petits : lisez les intervalles avant
les valeurs. Études des parents : 0 (aucune) est réuni avec 1 (primaire), 6 ou 7 élèves seulement.</p>
<table><tr><th>configuration</th><th>seuil</th>{''.join(f"<th>{equite.LIBELLES_METRIQUES[m]} (%)</th>" for m in equite.METRIQUES)}
<th>Brier</th></tr>{resume}</table>
{''.join(sections)}
<p><small>Importances : réduction d'impureté des arbres du modèle livré (vote : moyenne de ses deux modèles),
colonnes d'un même champ additionnées ; elles disent sur quoi le modèle s'appuie, pas une causalité.
Brier « sans modèle » : celui d'une prédiction constante égale au taux d'échec.</small></p>
</body></html>
"""


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    try:
        resultat = calculer(arguments)
    except (ErreurDonnees, ErreurConfiguration) as erreur:
        print(f"erreur : {erreur}", file=sys.stderr)
        return 2
    sortie = Path(arguments.sortie)
    artefacts.ecrire_ensemble(sortie, {
        "rapport.json": (json.dumps(resultat, ensure_ascii=False, indent=1) + "\n").encode("utf-8"),
        "rapport.html": rediger_html(resultat).encode("utf-8"),
    })
    afficher(f"Rapport écrit : {sortie / 'rapport.html'} et {sortie / 'rapport.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

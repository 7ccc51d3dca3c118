"""Les fichiers de classe tels que les établissements les ont (``POST /predire/lot/partiel``, page
``/classe``), contre le vrai gunicorn : Windows-1252, BOM, « , » ou tabulation, en-têtes français, la
classe de l'an passé avec G3 (comptes vérifiés par pandas, seuils égaux à ceux de ``make recalibrer``),
un fichier illisible refusé avec la marche à suivre en français."""

import csv
import io

import numpy as np
import pandas as pd
import requests

from app.modele.explication import libelle
from app.modele.schema import CHAMPS, CONFIGURATIONS, NOTES
from app.web.contrat import ReponseLotPartielle

URL = "/predire/lot/partiel"
CSV = {"Content-Type": "text/csv"}


def _texte(jeu, n, separateur=";", entetes=None, noms=True):
    """Les ``n`` premiers élèves du fichier UCI ; ``entetes(champ)`` renomme les colonnes ; un nom accentué."""
    sortie = io.StringIO()
    redacteur = csv.writer(sortie, delimiter=separateur, lineterminator="\r\n")
    colonnes = [entetes(c) if entetes else c for c in CHAMPS]
    redacteur.writerow((["nom"] if noms else []) + colonnes)
    for i, eleve in enumerate(jeu.X[list(CHAMPS)].head(n).to_dict(orient="records")):
        redacteur.writerow(([f"Hélène n°{i + 1}"] if noms else []) + [eleve[c] for c in CHAMPS])
    return sortie.getvalue()


def _poster(serveur, octets):
    return requests.post(serveur.url + URL, data=octets, headers=CSV, timeout=120)


def test_windows_1252_virgule_et_en_tetes_francais(serveur, jeu):
    texte = _texte(jeu, 5, separateur=",", entetes=libelle)
    assert "Études de la mère" in texte and "Hélène" in texte
    reponse = _poster(serveur, texte.encode("cp1252"))
    assert reponse.status_code == 200, reponse.text
    corps = reponse.json()
    ReponseLotPartielle.model_validate(corps)
    assert corps["nombre"] == 5 and corps["rejets"] == []
    assert corps["lecture"]["encodage"] == "Windows-1252" and corps["lecture"]["separateur"] == "virgule"
    assert corps["lecture"]["colonnes_traduites"]["Études de la mère"] == "Medu"
    assert corps["resultats"][0]["supplementaires"] == {"nom": "Hélène n°1"}  # lu, pas deviné de travers
    # Mêmes prédictions que le fichier UCI en UTF-8.
    uci = _poster(serveur, _texte(jeu, 5).encode("utf-8")).json()
    assert uci["lecture"]["encodage"] == "UTF-8"
    assert [r["probabilite_echec"] for r in corps["resultats"]] == [r["probabilite_echec"] for r in uci["resultats"]]


def test_bom_et_tabulation(serveur, jeu):
    corps = _poster(serveur, b"\xef\xbb\xbf" + _texte(jeu, 3, separateur="\t").encode()).json()
    assert corps["nombre"] == 3 and corps["lecture"] == {"encodage": "UTF-8 avec BOM", "separateur": "tabulation",
                                                         "colonnes_traduites": {}, "note_finale": False}


def test_fichier_illisible_la_marche_a_suivre_en_francais(serveur):
    reponse = _poster(serveur, b"PK\x03\x04\x14\x00\x81\x8d\x00\x00classeur")  # un .xlsx renommé
    assert reponse.status_code == 400
    corps = reponse.json()
    assert "ni du texte UTF-8 ni du Windows-1252" in corps["erreur"] and "CSV UTF-8" in corps["erreur"]
    assert corps["details"][0]["champ"] == "(fichier)"


def _probabilites_par_configuration(serveur, X):
    """P(échec) de chaque élève dans chaque configuration, demandées à l'API (notes masquées, sans G3)."""
    resultat = {}
    for configuration, variables in CONFIGURATIONS.items():
        lot = X.astype(object).to_dict(orient="records")
        for eleve in lot:
            for note in NOTES:
                if note not in variables:
                    eleve[note] = None
        corps = requests.post(serveur.url + "/predire/lot", json=lot, timeout=120).json()
        resultat[configuration] = np.array([r["probabilite_echec"] for r in corps["resultats"]])
    return resultat


def test_classe_de_l_an_passe_avec_g3_comptes_egaux_a_pandas(serveur, jeu, chemin_donnees):
    donnees = pd.read_csv(chemin_donnees, sep=";")
    n = 300
    sortie = io.StringIO()
    donnees.head(n)[["G3", *CHAMPS]].to_csv(sortie, sep=";", index=False)
    avant = len(serveur.lignes_journal())
    reponse = _poster(serveur, sortie.getvalue().encode())
    assert reponse.status_code == 200, reponse.text
    corps = reponse.json()
    ReponseLotPartielle.model_validate(corps)
    assert corps["nombre"] == n and corps["lecture"]["note_finale"] is True
    assert "G3" not in corps["colonnes_supplementaires"] and all("G3" not in r for r in corps["resultats"])
    assert all("G3" not in ligne["entrees"] for ligne in serveur.lignes_journal()[avant:])  # jamais conservée
    verification = corps["verification"]
    assert verification["eleves"] == n
    echec = donnees.head(n)["G3"] < 10
    assert verification["echecs"] == int(echec.sum())
    probabilites = _probabilites_par_configuration(serveur, donnees.head(n)[list(CHAMPS)])
    for configuration, p in probabilites.items():
        conf = verification["configurations"][configuration]
        for seuil, comptes in ((conf["seuil_servi"], conf), (conf["seuil_propose"]["seuil"], conf["seuil_propose"])):
            tableau = pd.DataFrame({"echec": echec.to_numpy(), "alerte": p >= seuil})
            attendu = {"reperes": int((tableau.echec & tableau.alerte).sum()),
                       "manques": int((tableau.echec & ~tableau.alerte).sum()),
                       "fausses_alertes": int((~tableau.echec & tableau.alerte).sum())}
            assert {k: comptes[k] for k in attendu} == attendu, configuration
        assert 0.5 < conf["auc"] <= 1
    assert verification["seuils_proposes"].startswith("SEUIL_DECISION=A=")


def test_seuils_proposes_egaux_a_make_recalibrer(serveur, chemin_donnees):
    """Même fichier, même calcul : la page propose la ligne que ``make recalibrer`` écrit (80 % par défaut, ou
    ``?rappel=90`` comme ``RAPPEL=0.90``) ; un rappel hors bornes est refusé avant toute prédiction."""
    from app.entrainement.donnees import lire_donnees
    from app.entrainement.recalibrage import recalibrer
    from app.modele.seuils import ligne_seuils

    jeu_complet = lire_donnees(chemin_donnees, deux_classes=False)
    octets = open(chemin_donnees, encoding="utf-8").read().encode()
    for rappel, adresse in ((0.80, URL), (0.90, URL + "?rappel=90")):
        attendu = ligne_seuils(recalibrer(jeu_complet.X, jeu_complet.y, rappel))
        corps = requests.post(serveur.url + adresse, data=octets, headers=CSV, timeout=120).json()
        assert corps["verification"]["seuils_proposes"] == attendu and corps["verification"]["rappel_vise"] == rappel
    avant = len(serveur.lignes_journal())
    refus = requests.post(serveur.url + URL + "?rappel=101", data=octets, headers=CSV, timeout=60)
    assert refus.status_code == 400 and refus.json()["details"] == [{"champ": "rappel",
                                                                     "message": "entier de 50 à 99 attendu"}]
    assert len(serveur.lignes_journal()) == avant


def test_g3_invalide_ligne_mise_a_part(serveur, chemin_donnees):
    lignes = open(chemin_donnees, encoding="utf-8").read().splitlines()
    abimee = lignes[2].rsplit(";", 1)[0] + ";21"
    corps = _poster(serveur, "\n".join([lignes[0], lignes[1], abimee]).encode()).json()
    assert corps["nombre"] == 1 and corps["rejets"][0]["problemes"][0]["champ"] == "G3"


def test_petite_classe_de_l_an_passe_et_notes_manquantes(serveur, chemin_donnees):
    """30 élèves : les comptes, mais pas de seuil proposé (trop peu d'échecs), et la raison en français ;
    des élèves sans G2 : chaque configuration est évaluée sur les élèves qui ont ses notes."""
    donnees = pd.read_csv(chemin_donnees, sep=";").head(30)
    donnees["G2"] = donnees["G2"].astype("Int64")
    donnees.loc[donnees.index[:10], "G2"] = pd.NA
    sortie = io.StringIO()
    donnees[[*CHAMPS, "G3"]].to_csv(sortie, sep=";", index=False)
    corps = _poster(serveur, sortie.getvalue().encode()).json()
    verification = corps["verification"]
    assert corps["nombre"] == 30 and verification["eleves"] == 30
    assert "impossible" in verification["seuils_impossibles"] or "trop petit" in verification["seuils_impossibles"]
    assert verification["seuils_proposes"] is None
    effectifs = {c: v["eleves"] for c, v in verification["configurations"].items()}
    assert effectifs == {"A": 20, "B": 30, "C": 30}


def test_derive_de_la_classe_meme_calcul_que_get_derive(demarrer_serveur, chemin_donnees):
    """Une classe décalée (absences, âge, redoublements) : les variables citées par le bandeau de la page ont le
    PSI que ``GET /derive`` calcule sur les mêmes élèves (ceux que le journal vient de recevoir)."""
    jeton = "jeton-derive-classe-" + "d" * 40
    serveur = demarrer_serveur(env={"API_TOKEN": jeton}, workers=1).attendre()
    donnees = pd.read_csv(chemin_donnees, sep=";").head(200)
    donnees["absences"] = 40
    donnees["age"] = 21
    donnees["failures"] = 3
    sortie = io.StringIO()
    donnees[list(CHAMPS)].to_csv(sortie, sep=";", index=False)
    corps = _poster(serveur, sortie.getvalue().encode()).json()
    citees = {v["champ"]: v for v in corps["derive_classe"]["variables"]}
    assert {"absences", "age", "failures"} <= set(citees) and citees["absences"]["libelle"] == "Nombre d'absences"
    derive = requests.get(serveur.url + "/derive?derniers=200", headers={"Authorization": f"Bearer {jeton}"},
                          timeout=30).json()
    for nom, variable in citees.items():
        assert variable["psi"] == derive["variables"][nom]["psi"], nom
    # Des élèves tirés du fichier d'entraînement : aucun bandeau.
    sortie = io.StringIO()
    pd.read_csv(chemin_donnees, sep=";").sample(200, random_state=1)[list(CHAMPS)].to_csv(sortie, sep=";", index=False)
    assert _poster(serveur, sortie.getvalue().encode()).json()["derive_classe"]["variables"] == []


def test_fiabilite_de_la_fiche_au_seuil_servi(serveur, demarrer_serveur):
    """GET /modele : la phrase de la page, chiffres tirés des mesures hors plis de la fiche ; avec un seuil réglé
    par l'établissement (SEUIL_DECISION), la fiche ne dit rien de ce seuil : « fiabilité inconnue »."""
    modele = requests.get(serveur.url + "/modele", timeout=10).json()
    for nom, conf in modele["configurations"].items():
        m, f = conf["metriques"], conf["fiabilite"]
        assert f["connue"] is True
        n = round(100 * m["precision_echec_seuil"]["moyenne"])
        x = round(100 * (1 - m["rappel_echec_seuil"]["moyenne"]))
        assert f["phrase"].startswith(f"Sur 100 élèves signalés, environ {n} ")
        assert f"échouent réellement ; environ {x} %" in f["phrase"]
        bas, haut = m["precision_echec_seuil"]["ic95"]
        assert f["signales_echouant_ic95"] == [round(100 * bas, 1), round(100 * haut, 1)]
    page = requests.get(serveur.url + "/classe", timeout=10).text
    assert all(conf["fiabilite"]["phrase"].replace("'", "&#39;") in page for conf in modele["configurations"].values())
    autre = demarrer_serveur(env={"SEUIL_DECISION": "A=0.2,B=0.2,C=0.2"}, workers=1).attendre()
    fiabilites = [c["fiabilite"] for c in requests.get(autre.url + "/modele", timeout=10).json()["configurations"].values()]
    assert all(not f["connue"] and f["phrase"].startswith("Fiabilité inconnue") for f in fiabilites)

"""Le banc des pairs (``outils/pairs.py``, ``outils/banc_pairs.py``) sans réseau ni serveur : installation
(épinglage, témoin, échec rendu avec sa raison), corps de requête et lecture des réponses de MLflow et de
MLServer, vérification bit pour bit, lignes du tableau. Les serveurs eux-mêmes ne tournent que dans
``make banc`` (un index de paquets est nécessaire au premier usage)."""

import json
import subprocess

import numpy as np
import pandas as pd

from app.modele.eleves_aleatoires import eleves_aleatoires
from outils import banc_pairs, pairs


def _reussi(commande, **_):
    return subprocess.CompletedProcess(commande, 0, "", "")


def test_paquets_des_pairs_epingles_comme_les_notres():
    for nom in pairs.PAQUETS:
        liste = pairs.paquets(nom)
        assert all("==" in p for p in liste), liste
        assert "scikit-learn==" + pairs._epingles(pairs.RACINE / "requirements-entrainement.txt")["scikit-learn"] in liste
        assert any(p.startswith("numpy==") for p in liste)  # lu dans requirements.txt, inclus par -r
    assert "uvloop==0.21.0" in pairs.paquets("mlserver") and "mlflow==3.17.2" in pairs.paquets("mlflow")


def test_installation_au_premier_usage_puis_reprise(tmp_path):
    appels = []

    def executer(commande, **options):
        appels.append(commande)
        if commande[1:3] == ["-m", "venv"]:
            (tmp_path / "mlflow" / "bin").mkdir(parents=True)
            (tmp_path / "mlflow" / "bin" / "python").write_text("")
        return _reussi(commande)

    assert pairs.installer("mlflow", tmp_path, executer) == tmp_path / "mlflow"
    assert len(appels) == 2 and appels[1][-len(pairs.paquets("mlflow")):] == pairs.paquets("mlflow")
    assert pairs.installer("mlflow", tmp_path, executer) == tmp_path / "mlflow"
    assert len(appels) == 2  # prêt : rien n'est réinstallé


def test_sans_index_de_paquets_le_pair_est_saute_avec_sa_raison(tmp_path):
    def executer(commande, **_):
        if "pip" in commande:
            return subprocess.CompletedProcess(commande, 1, "", "ERROR: Could not find a version that satisfies "
                                                                "the requirement mlserver==1.7.1\n")
        (tmp_path / "mlserver" / "bin").mkdir(parents=True, exist_ok=True)
        return _reussi(commande)

    resultat = pairs.installer("mlserver", tmp_path, executer)
    assert isinstance(resultat, pairs.Indisponible)
    assert "pip install mlserver==1.7.1" in resultat.raison and "Could not find" in resultat.raison
    assert "index de paquets" in resultat.raison
    assert not (tmp_path / "mlserver" / ".installe").exists()


def _reference(eleves):
    """Nos probabilités (modèle compilé) et le pipeline scikit-learn de la configuration des pairs."""
    from app.config import Configuration
    from app.modele.artefacts import charger
    from app.modele.predicteur import Predicteur

    config = Configuration.depuis_environnement()
    artefacts = charger(modele=config.chemin_modele, variables=config.chemin_variables, fiche=config.chemin_fiche)
    pipeline = artefacts.modele["configurations"][pairs.CONFIGURATION]["pipeline"]
    return Predicteur(artefacts).predire_lot(eleves).probabilite_echec.tolist(), pipeline


def test_corps_et_reponses_des_pairs_memes_probabilites_bit_pour_bit(tmp_path):
    """Ce que chaque pair fait du corps que le banc lui envoie (DataFrame, puis ``predict_proba`` du même
    pipeline), rendu comme il le rend en JSON : lu par le banc, égal bit pour bit à notre prédiction."""
    eleves = eleves_aleatoires(300, graine=4)
    nos_probabilites, pipeline = _reference(eleves)
    pairs.ecrire_pipeline(tmp_path)
    colonne = pairs.colonne_echec(tmp_path)

    mlflow = json.loads(pairs.corps_mlflow(eleves))
    tableau = pd.DataFrame.from_records(mlflow["dataframe_records"])
    reponse_mlflow = json.dumps({"predictions": pipeline.predict_proba(tableau).tolist()}).encode()

    mlserver = json.loads(pairs.corps_mlserver(eleves))
    assert mlserver["outputs"] == [{"name": "predict_proba"}]
    tableau = pd.DataFrame({e["name"]: np.asarray(e["data"], dtype=np.int64 if e["datatype"] == "INT64" else object)
                            for e in mlserver["inputs"]})
    probabilites = pipeline.predict_proba(tableau)
    reponse_mlserver = json.dumps({"outputs": [{"name": "predict_proba", "shape": list(probabilites.shape),
                                                "datatype": "FP64", "data": probabilites.ravel().tolist()}]}).encode()

    for lues in (pairs.probabilites_mlflow(reponse_mlflow, colonne), pairs.probabilites_mlserver(reponse_mlserver, colonne)):
        assert pairs.comparer(nos_probabilites, lues) == (len(eleves), len(eleves), 0.0)


def test_comparaison_bit_pour_bit_stricte():
    assert pairs.comparer([0.1, 0.2], [0.1, 0.2]) == (2, 2, 0.0)
    egales, comparees, ecart = pairs.comparer([0.1, 0.2], [0.1, np.nextafter(0.2, 1.0)])
    assert (egales, comparees) == (1, 2) and ecart > 0
    assert pairs.comparer([0.1, 0.2], [0.1]) == (1, 2, 0.0)  # une réponse tronquée n'est jamais identique
    assert pairs.comparer([0.1], [])[0:2] == (0, 1)


def _mesures(comparaisons, sautes=()):
    charge = {"par_s": 100.0, "p50_ms": 1.0, "p99_ms": 2.0, "cpu_us": 500.0, "erreurs": 0, "erreurs_socket": 0,
              "requetes": 300}
    lot = {"lots": 10, "par_s": 10.0, "mediane_ms": 90.0, "cpu_ms": 50.0, "erreurs": 0}
    return {"libelles": {"nous": "notre API", "mlflow": pairs.LIBELLES["mlflow"]}, "sautes": list(sautes),
            "verification": {"configurations": ["A"], "comparaisons": comparaisons, "taille": 1000},
            "une": {8: {"nous": charge, "mlflow": {**charge, "par_s": 10.0}}},
            "lots": {"nous": lot, "mlflow": {**lot, "par_s": 2.0}}, "clients_lot": 2,
            "classe": {"nous": {"mediane_ms": 12.0, "p90_ms": 14.0, "cpu_ms": 11.0, "octets": 45000}},
            "decomposition": {"requetes": 40, "total_us": 50_000.0, "lots_par_s": 20.0,
                              "postes": [("validation", 20_000.0), ("explication", 30_000.0)]}}


def test_tableau_des_pairs_dit_identique_saute_et_rapports():
    identiques = banc_pairs.lignes(_mesures({"predire": (50, 50, 0.0), "mlflow": (1000, 1000, 0.0)},
                                            [pairs.Indisponible("mlserver", "« pip install mlserver==1.7.1 » a échoué")]))
    texte = "\n".join(identiques)
    assert "pair sauté : MLServer 1.7.1" in texte and "« pip install mlserver==1.7.1 » a échoué" in texte
    verification = next(ligne for ligne in identiques if "bit pour bit" in ligne)
    assert verification.endswith("| oui |") and "1000/1000" in verification
    lot = next(ligne for ligne in identiques if "lot de 1 000" in ligne)
    assert "5.00× élèves/s" in lot and lot.endswith("| ≥ 2.5× | oui |")
    assert any("classe CSV de 400" in ligne and ligne.endswith("| ≤ 15 ms | oui |") for ligne in identiques)
    assert any("↳ explication" in ligne and "60.0 %" in ligne for ligne in identiques)

    differentes = banc_pairs.lignes(_mesures({"predire": (50, 50, 0.0), "mlflow": (999, 1000, 1e-17)}))
    verification = next(ligne for ligne in differentes if "bit pour bit" in ligne)
    assert verification.endswith("| NON |") and "999/1000 (écart max 1e-17)" in verification


def test_le_cpu_d_une_cible_compte_ses_processus_detaches():
    """Un processus forké deux fois (le suiveur du journal, que le maître gunicorn détache de lui : son parent
    devient init) fait partie de l'arbre mesuré ; un autre programme, non."""
    import sys
    import time

    code = ("import os, sys, time\n"
            "fils = os.fork()\n"
            "if fils == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            "        sys.stdout.write(str(os.getpid()) + '\\n'); sys.stdout.flush(); time.sleep(30); os._exit(0)\n"
            "    os._exit(0)\n"
            "os.waitpid(fils, 0)\n"
            "time.sleep(30)\n")
    serveur = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    autre = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        detache = int(serveur.stdout.readline())
        limite = time.monotonic() + 10
        while detache not in banc_pairs.detaches(serveur.pid) and time.monotonic() < limite:
            time.sleep(0.05)  # le temps que le fils intermédiaire sorte
        assert banc_pairs.detaches(serveur.pid) == [detache]
        mesure = banc_pairs.arbre(serveur.pid)
        assert serveur.pid in mesure and detache in mesure and autre.pid not in mesure
    finally:
        import os
        import signal

        for pid in (serveur.pid, autre.pid, *banc_pairs.detaches(serveur.pid)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        serveur.wait()
        autre.wait()

"""Le chemin compilé sert exactement le pipeline : probabilités (≤ 1e-12), classe et explication.

Sur chaque ligne du fichier de données pour A, B et C, et sur des milliers d'élèves tirés au
hasard dans le schéma ; pour les types d'arbres pris en charge ; refus clair sinon (repli). Un lot
donne les mêmes flottants qu'un élève seul, quels que soient sa taille et son découpage en blocs.
"""

import subprocess
import sys

import numpy as np
import pytest

from app.modele.compile.arbres import LIGNES_PAR_BLOC
from app.modele.compile.cache import ecrire_cache, lire_cache
from app.modele.compile.compilation import NonCompilable, compiler
from app.modele.eleves_aleatoires import eleves_aleatoires
from app.modele.explication import Explicateur
from app.modele.pipeline import construire_pipeline, en_tableau, probabilite_echec
from app.modele.predicteur import _POSITIONS, Predicteur
from app.modele.schema import CHAMPS, CONFIGURATIONS, Eleve, configuration_pour
from test.conftest import CODE, RACINE

RETIREES = {"A": (), "B": ("G2",), "C": ("G1", "G2")}


@pytest.fixture(scope="module")
def predicteur(artefacts_livres):
    return Predicteur(artefacts_livres)


def _reference(artefacts, configuration, valeurs):
    """Probabilités du pipeline, contributions et explications de l'explicateur de référence, pour ces élèves."""
    pipeline = artefacts.modele["configurations"][configuration]["pipeline"]
    tableau = en_tableau(valeurs, configuration)
    explicateur = Explicateur(pipeline)
    transformees = pipeline[:-1].transform(tableau)
    return (probabilite_echec(pipeline, tableau), [explicateur.contributions(x)[1] for x in transformees],
            [explicateur.expliquer(x, v) for x, v in zip(transformees, valeurs)])


def _comparer(predicteur, artefacts, eleves: list[Eleve]):
    valeurs = [e.model_dump() for e in eleves]
    lot = predicteur.predire_lot(valeurs)
    toutes = lot.predictions(valeurs)  # tout le lot d'un coup (explications triées par numpy)
    for configuration in CONFIGURATIONS:
        positions = [i for i, e in enumerate(eleves) if configuration_pour(e) == configuration]
        if not positions:
            continue
        attendues, contributions, explications = _reference(artefacts, configuration, [valeurs[i] for i in positions])
        seuil = predicteur.seuils[configuration]
        for i, attendue, contribution, explication in zip(positions, attendues, contributions, explications):
            classe = 0 if attendue >= seuil else 1
            une = predicteur.predire(eleves[i])
            assert une.configuration == configuration
            assert une.probabilite_echec == pytest.approx(float(attendue), abs=1e-12, rel=0)
            assert une.prediction == classe
            assert une.explication == explication
            assert lot.prediction_de(i, valeurs[i]) == une
            assert toutes[i] == une
            assert np.array_equal(lot.contributions[i, _POSITIONS[configuration]], contribution)


@pytest.mark.parametrize("configuration", ["A", "B", "C"])
def test_chaque_ligne_du_fichier(jeu, artefacts_livres, predicteur, configuration):
    assert configuration in predicteur.compilees, "le modèle livré doit être servi par le chemin compilé"
    eleves = [Eleve.model_validate({**ligne, **dict.fromkeys(RETIREES[configuration])})
              for ligne in jeu.X.to_dict(orient="records")]
    _comparer(predicteur, artefacts_livres, eleves)


def test_milliers_d_eleves_aleatoires(artefacts_livres, predicteur):
    eleves = [Eleve.model_validate(v) for v in eleves_aleatoires(3000, graine=7, notes_absentes=0.3)]
    assert {configuration_pour(e) for e in eleves} == {"A", "B", "C"}
    _comparer(predicteur, artefacts_livres, eleves)


def test_lot_egal_a_l_eleve_seul_quel_que_soit_le_decoupage(predicteur):
    """Lot d'un seul élève, et lot qui déborde d'un bloc (dernier bloc d'un élève) : les sommes restent
    séquentielles, arbre après arbre, comme pour un élève seul et dans scikit-learn."""
    eleves = [Eleve.model_validate(v) for v in eleves_aleatoires(LIGNES_PAR_BLOC + 1, graine=13, notes_absentes=0.3)]
    valeurs = [e.model_dump() for e in eleves]
    lot = predicteur.predire_lot(valeurs)
    assert {configuration_pour(e) for e in eleves[-300:]} == {"A", "B", "C"}
    toutes = lot.predictions(valeurs)
    for i, eleve in enumerate(eleves):
        une = predicteur.predire(eleve)
        assert lot.prediction_de(i, valeurs[i]) == une == toutes[i]
        if i >= LIGNES_PAR_BLOC - 300:
            seul = predicteur.predire_lot([valeurs[i]])
            assert seul.prediction_de(0, valeurs[i]) == une == seul.predictions([valeurs[i]])[0]
            assert np.array_equal(seul.contributions[0], lot.contributions[i])


def test_lot_vide(predicteur):
    lot = predicteur.predire_lot([])
    assert len(lot) == 0 and lot.contributions.shape == (0, len(CHAMPS))
    assert lot.predictions([]) == []


def _petit_jeu(nombre=400, graine=3):
    import pandas as pd

    valeurs = eleves_aleatoires(nombre, graine)
    X = en_tableau(valeurs, "A")
    y = ((X["G1"] + X["G2"] - 2 * X["failures"] + (X["higher"] == "yes") * 3 + np.arange(nombre) % 5) >= 22).astype(int)
    return pd.DataFrame(X), np.asarray(y)


def _classifieur(nom: str):
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        RandomForestClassifier,
        VotingClassifier,
    )
    from sklearn.tree import DecisionTreeClassifier

    return {
        "vote": lambda: VotingClassifier([("arbre", DecisionTreeClassifier(max_depth=1, random_state=0)),
                                          ("souches", GradientBoostingClassifier(max_depth=1, n_estimators=30))],
                                         voting="soft"),
        "vote-pondere": lambda: VotingClassifier([("foret", RandomForestClassifier(n_estimators=10, max_depth=4)),
                                                  ("boosting", GradientBoostingClassifier(max_depth=2, n_estimators=20))],
                                                 voting="soft", weights=[1.0, 3.0]),
        "arbre": lambda: DecisionTreeClassifier(max_depth=6, random_state=0),
        "boosting-souches": lambda: GradientBoostingClassifier(max_depth=1, n_estimators=60, random_state=0),
        "boosting-2": lambda: GradientBoostingClassifier(max_depth=2, subsample=0.8, n_estimators=60, random_state=0),
        "boosting-3-zero": lambda: GradientBoostingClassifier(max_depth=3, init="zero", n_estimators=20, random_state=0),
        "foret": lambda: RandomForestClassifier(n_estimators=25, max_depth=7, random_state=0),
        "foret-souches": lambda: RandomForestClassifier(n_estimators=25, max_depth=1, random_state=0),
        "extra-trees": lambda: ExtraTreesClassifier(n_estimators=25, random_state=0),
    }[nom]()


@pytest.mark.parametrize("classifieur", ["vote", "vote-pondere", "arbre", "boosting-souches", "boosting-2", "boosting-3-zero", "foret",
                                         "foret-souches", "extra-trees"])
def test_types_d_arbres_pris_en_charge(classifieur):
    X, y = _petit_jeu()
    pipeline = construire_pipeline("A", _classifieur(classifieur)).fit(X, y)
    compile_ = compiler("A", pipeline)  # vérifié contre le pipeline à la compilation
    valeurs = eleves_aleatoires(500, graine=11)
    tableau = en_tableau(valeurs, "A")
    attendues = probabilite_echec(pipeline, tableau)
    transformees = pipeline[:-1].transform(tableau)
    explicateur = Explicateur(pipeline)
    lot, contributions = compile_.evaluer_lot(np.array([compile_.encoder(v) for v in valeurs]))
    assert np.array_equal(lot, attendues)
    for x, attendue, en_lot in zip(transformees, attendues, contributions):
        p, par_champ = compile_.evaluer(x)
        assert p == attendue
        assert np.array_equal(par_champ, explicateur.contributions(x)[1])
        assert np.array_equal(en_lot, par_champ)


def test_classifieur_non_pris_en_charge_refuse_et_servi_par_le_pipeline(artefacts_livres):
    from sklearn.linear_model import LogisticRegression

    X, y = _petit_jeu()
    pipeline = construire_pipeline("A", LogisticRegression(max_iter=500)).fit(X, y)
    with pytest.raises(NonCompilable, match="LogisticRegression non pris en charge"):
        compiler("A", pipeline)
    compiles = {c: compiler(c, e["pipeline"]) for c, e in artefacts_livres.modele["configurations"].items()}
    del compiles["A"]
    predicteur = Predicteur(artefacts_livres, compiles=compiles)
    assert predicteur.compilees == ("B", "C")
    eleve = Eleve.model_validate(eleves_aleatoires(1, graine=5)[0])
    pipeline_a = artefacts_livres.modele["configurations"]["A"]["pipeline"]
    attendue = probabilite_echec(pipeline_a, en_tableau([eleve.model_dump()], "A"))[0]
    assert predicteur.predire(eleve).probabilite_echec == attendue
    assert predicteur.predire_lot([eleve.model_dump()]).probabilite_echec[0] == attendue


def test_cache_relu_a_l_identique_et_ignore_pour_un_autre_modele(tmp_path, artefacts_livres, predicteur):
    compiles = {c: predicteur._compiles[c] for c in predicteur.compilees}
    chemin = tmp_path / "modele_compile.npz"
    ecrire_cache(chemin, compiles, artefacts_livres.sha256, artefacts_livres.sha256_variables)
    relus = lire_cache(chemin, artefacts_livres.sha256, artefacts_livres.sha256_variables)
    assert set(relus) == set(compiles)
    valeurs = eleves_aleatoires(300, graine=9)
    for configuration, compile_ in compiles.items():
        X = np.array([compile_.encoder(v) for v in valeurs])
        assert all(np.array_equal(a, b) for a, b in zip(relus[configuration].evaluer_lot(X), compile_.evaluer_lot(X)))
    assert lire_cache(chemin, "0" * 64, artefacts_livres.sha256_variables) is None
    chemin.write_bytes(b"pas un npz")
    assert lire_cache(chemin, artefacts_livres.sha256, artefacts_livres.sha256_variables) is None


def test_le_service_demarre_sans_scikit_learn_ni_pandas(tmp_path, artefacts_livres):
    """Avec un cache valide, ni scikit-learn, ni pandas, ni scipy ne sont importés (démarrage à froid)."""
    cache = tmp_path / "modele_compile.npz"
    script = (
        "import sys\n"
        "from app import create_app\n"
        "from app.config import Configuration\n"
        f"c = Configuration(chemin_compile=__import__('pathlib').Path({str(cache)!r}),"
        f" chemin_journal=__import__('pathlib').Path({str(tmp_path / 'j.jsonl')!r}),"
        f" chemin_base_sqlite=__import__('pathlib').Path({str(tmp_path / 'r.sqlite3')!r}))\n"
        "create_app(c)\n"
        "print(sorted(m for m in ('sklearn', 'pandas', 'scipy') if m in sys.modules))\n"
    )
    premier = subprocess.run([sys.executable, "-c", script], cwd=RACINE, capture_output=True, text=True, timeout=120)
    assert premier.returncode == 0, premier.stderr
    assert cache.is_file()  # écrit au premier démarrage (qui, lui, a compilé avec scikit-learn)
    second = subprocess.run([sys.executable, "-c", script], cwd=RACINE, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == "[]"
    assert (CODE / "modele_trees.pkl").is_file()

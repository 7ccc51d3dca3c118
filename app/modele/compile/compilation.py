"""Compiler un pipeline scikit-learn ajusté en ``ArbresCompiles`` (tableaux numpy plats).

Pris en charge : ``DecisionTreeClassifier``, ``RandomForestClassifier``, ``ExtraTreesClassifier``
et ``GradientBoostingClassifier`` binaire (perte log-loss, a priori des classes ou « zero » comme
départ), et le vote souple (``VotingClassifier(voting="soft")``) de ces modèles, derrière le
``ColumnTransformer`` de ``app.modele.pipeline`` (one-hot, entiers tels quels).
Tout le reste lève ``NonCompilable`` : le prédicteur sert alors le pipeline lui-même.

Chaque compilation est vérifiée avant d'être acceptée : sur des élèves tirés au hasard dans le
schéma, le modèle compilé doit redonner les probabilités du pipeline (écart ≤ 1e-12) et,
exactement, les contributions de ``app.modele.explication``.

``python -m app.modele.compile.compilation`` écrit le cache compilé à côté du modèle (voir ``app.modele.compile.cache``).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from app.modele.classes import CLASSE_ECHEC
from app.modele.compile.arbres import GENRE_LOGIT, GENRE_MOYENNE, ArbresCompiles
from app.modele.schema import CATEGORIES

ELEVES_DE_VERIFICATION = 256
ECART_TOLERE = 1e-12


class NonCompilable(TypeError):
    """Ce pipeline ne se compile pas (classifieur ou préparation non pris en charge) ; le message dit pourquoi."""


def _encodage(preparation, champs: list[str]) -> tuple[np.ndarray, tuple, np.ndarray, int]:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    if not isinstance(preparation, ColumnTransformer):
        raise NonCompilable(f"préparation {type(preparation).__name__} non prise en charge (ColumnTransformer attendu)")
    colonne_numerique = np.full(len(champs), -1, dtype=np.int64)
    largeur = max((len(v) for v in CATEGORIES.values()), default=0)
    colonne_categorie = np.full((len(champs), largeur), -1, dtype=np.int64)
    categories: list[tuple[str, ...]] = [() for _ in champs]
    suivante = 0
    for nom, transformateur, colonnes in preparation.transformers_:
        if nom == "remainder" and not len(colonnes):
            continue
        identite = isinstance(transformateur, FunctionTransformer) and transformateur.func is None
        if isinstance(transformateur, str) and transformateur == "drop":
            continue
        if identite or (isinstance(transformateur, str) and transformateur == "passthrough"):
            for colonne in colonnes:
                colonne_numerique[champs.index(colonne)] = suivante
                suivante += 1
        elif isinstance(transformateur, OneHotEncoder):
            if getattr(transformateur, "infrequent_categories_", None) is not None and \
                    any(c is not None for c in transformateur.infrequent_categories_):
                raise NonCompilable("one-hot avec catégories rares regroupées : non pris en charge")
            retirees = transformateur.drop_idx_ if transformateur.drop_idx_ is not None else [None] * len(colonnes)
            for colonne, connues, retiree in zip(colonnes, transformateur.categories_, retirees):
                position = champs.index(colonne)
                permises = CATEGORIES.get(colonne)
                if permises is None or set(map(str, connues)) != set(permises):
                    raise NonCompilable(f"catégories de {colonne} différentes du schéma")
                categories[position] = tuple(permises)
                for rang, valeur in enumerate(connues):
                    if retiree is not None and rang == retiree:
                        continue
                    colonne_categorie[position, permises.index(str(valeur))] = suivante
                    suivante += 1
        else:
            raise NonCompilable(f"transformation {type(transformateur).__name__} non prise en charge")
    if suivante != len(preparation.get_feature_names_out()):
        raise NonCompilable("nombre de colonnes transformées inattendu")
    return colonne_numerique, tuple(categories), colonne_categorie, suivante


def _arbres(classifieur) -> tuple[list, str, list[np.ndarray], float, float, bool]:
    """(arbres, genre, valeur de probabilité de chaque arbre, départ, diviseur, échec en colonne 1)."""
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.tree import DecisionTreeClassifier

    classes = list(getattr(classifieur, "classes_", []))
    if len(classes) != 2 or CLASSE_ECHEC not in classes:
        raise NonCompilable(f"classifieur non binaire ou sans la classe échec : classes {classes}")
    if getattr(classifieur, "n_outputs_", 1) != 1:
        raise NonCompilable("plusieurs sorties : non pris en charge")
    colonne = classes.index(CLASSE_ECHEC)
    if type(classifieur) is DecisionTreeClassifier:
        return [classifieur.tree_], GENRE_MOYENNE, [classifieur.tree_.value[:, 0, colonne]], 0.0, 1.0, False
    if type(classifieur) in (RandomForestClassifier, ExtraTreesClassifier):
        arbres = [e.tree_ for e in classifieur.estimators_]
        return (arbres, GENRE_MOYENNE, [a.value[:, 0, colonne] for a in arbres], 0.0,
                float(len(classifieur.estimators_)), False)
    if type(classifieur) is GradientBoostingClassifier:
        if classifieur.loss != "log_loss" or classifieur.n_trees_per_iteration_ != 1:
            raise NonCompilable(f"gradient boosting : perte {classifieur.loss!r} non prise en charge (log_loss binaire)")
        init = classifieur.init_
        if not (init == "zero" or (type(init) is DummyClassifier and init.strategy == "prior")):
            raise NonCompilable("gradient boosting : estimateur initial autre que l'a priori des classes")
        depart = float(classifieur._raw_predict_init(np.zeros((1, classifieur.n_features_in_)))[0, 0])
        taux = classifieur.learning_rate
        arbres = [e.tree_ for e in classifieur.estimators_[:, 0]]
        return arbres, GENRE_LOGIT, [taux * a.value[:, 0, 0] for a in arbres], depart, 1.0, colonne == 1
    raise NonCompilable(f"classifieur {type(classifieur).__name__} non pris en charge "
                        "(arbre, forêt, extra-trees ou gradient boosting binaire)")


def compiler(configuration: str, pipeline):
    """Le pipeline compilé (``ArbresCompiles``, ou ``VoteCompile`` pour un vote souple), vérifié
    contre le pipeline lui-même ; ``NonCompilable`` sinon."""
    from sklearn.ensemble import VotingClassifier
    from sklearn.pipeline import Pipeline

    from app.modele.compile.vote import VoteCompile

    if len(pipeline) != 2:
        raise NonCompilable("pipeline à deux étapes attendu (préparation, classifieur)")
    classifieur = pipeline[-1]
    if type(classifieur) is not VotingClassifier:
        compile_ = _compiler_arbres(configuration, pipeline)
    else:
        if classifieur.voting != "soft":
            raise NonCompilable("vote : seul le vote souple (voting='soft') est pris en charge")
        if list(classifieur.classes_) != list(range(len(classifieur.classes_))):
            raise NonCompilable(f"vote : classes {list(classifieur.classes_)} non prises en charge (0 et 1 attendues)")
        sous_pipelines = [Pipeline([("preparation", pipeline[0]), ("classifieur", membre)])
                          for membre in classifieur.estimators_]
        membres = tuple(_compiler_arbres(configuration, p) for p in sous_pipelines)
        explicateur = _explicateur(pipeline)
        zero = np.zeros(membres[0].colonnes)
        poids = classifieur._weights_not_none
        compile_ = VoteCompile(
            configuration=configuration, membres=membres,
            poids_vote=None if poids is None else np.asarray(poids, dtype=np.float64),
            poids_explication=np.array([w for w, _ in explicateur._membres], dtype=np.float64),
            departs=np.array([float(m.contributions(zero)[0]) for _, m in explicateur._membres], dtype=np.float64))
    verifier(compile_, pipeline)
    return compile_


def _explicateur(pipeline):
    """L'explication de référence du pipeline ; un classifieur qu'elle ne sait pas expliquer n'est pas compilable."""
    from app.modele.explication import Explicateur

    try:
        return Explicateur(pipeline)
    except TypeError as erreur:
        raise NonCompilable(str(erreur)) from None


def _compiler_arbres(configuration: str, pipeline) -> ArbresCompiles:
    preparation, classifieur = pipeline[0], pipeline[-1]
    champs = list(preparation.feature_names_in_)
    colonne_numerique, categories, colonne_categorie, colonnes = _encodage(preparation, champs)
    arbres, genre, probas, depart, diviseur, colonne_1 = _arbres(classifieur)
    explicateur = _explicateur(pipeline)
    gauche, droite, variable, seuil, racines = [], [], [], [], []
    decalage, profondeur = 0, 0
    for arbre in arbres:
        indices = np.arange(arbre.node_count) + decalage
        feuille = arbre.children_left == -1
        gauche.append(np.where(feuille, indices, arbre.children_left + decalage))
        droite.append(np.where(feuille, indices, arbre.children_right + decalage))
        variable.append(np.where(feuille, 0, arbre.feature))
        seuil.append(np.where(feuille, np.inf, arbre.threshold))
        racines.append(decalage)
        profondeur = max(profondeur, int(arbre.max_depth))
        decalage += arbre.node_count
    compile_ = ArbresCompiles(
        configuration=configuration, champs=tuple(champs), colonne_numerique=colonne_numerique,
        categories=categories, colonne_categorie=colonne_categorie,
        champ_de_colonne=np.asarray(explicateur._champ_de_colonne, dtype=np.int64),
        gauche=np.concatenate(gauche).astype(np.int64), droite=np.concatenate(droite).astype(np.int64),
        variable=np.concatenate(variable).astype(np.int64), seuil=np.concatenate(seuil).astype(np.float64),
        valeur_proba=np.concatenate(probas).astype(np.float64),
        valeur_explication=np.concatenate([a.valeur for a in explicateur._arbres]).astype(np.float64),
        racines=np.asarray(racines, dtype=np.int64), profondeur=profondeur, genre=genre,
        initial_proba=depart, diviseur=diviseur, echec_en_colonne_1=colonne_1,
        en_probabilite=explicateur.en_probabilite,
    )
    if compile_.colonnes != colonnes:
        raise NonCompilable("colonnes de l'explication différentes de l'encodage")
    return compile_


def verifier(compile_, pipeline, graine: int = 20261123) -> None:
    """Compare le modèle compilé au pipeline (probabilités) et à ``app.modele.explication`` (contributions)
    sur des élèves aléatoires ; ``NonCompilable`` au moindre écart."""
    from app.modele.eleves_aleatoires import eleves_aleatoires
    from app.modele.pipeline import en_tableau, probabilite_echec

    valeurs = eleves_aleatoires(ELEVES_DE_VERIFICATION, graine)
    tableau = en_tableau(valeurs, compile_.configuration)
    attendues = probabilite_echec(pipeline, tableau)
    transformees = pipeline[0].transform(tableau)
    X = np.array([compile_.encoder(v) for v in valeurs])
    evaluations = [compile_.evaluer(x) for x in X]
    une_a_une = np.array([p for p, _ in evaluations])
    if not np.array_equal(X, transformees):
        raise NonCompilable(f"configuration {compile_.configuration} : encodage différent de celui du pipeline")
    if list(compile_.noms_colonnes()) != [str(n) for n in pipeline[0].get_feature_names_out()]:
        raise NonCompilable(f"configuration {compile_.configuration} : noms des colonnes différents du pipeline")
    en_lot, contributions = compile_.evaluer_lot(X)
    ecart = max(float(np.max(np.abs(une_a_une - attendues))), float(np.max(np.abs(en_lot - attendues))))
    if not ecart <= ECART_TOLERE:
        raise NonCompilable(f"configuration {compile_.configuration} : écart {ecart:.2e} avec le pipeline")
    explicateur = _explicateur(pipeline)
    reference = np.array([explicateur.contributions(x)[1] for x in transformees])
    une_a_une = np.array([c for _, c in evaluations])
    if not (np.array_equal(reference, contributions) and np.array_equal(reference, une_a_une)):
        raise NonCompilable(f"configuration {compile_.configuration} : contributions différentes de app.modele.explication")


def main(arguments: list[str] | None = None) -> int:
    from app.config import Configuration
    from app.modele.compile.cache import ecrire_cache

    config = Configuration.depuis_environnement()
    analyseur = argparse.ArgumentParser(prog="python -m app.modele.compile.compilation",
                                        description="Compile le modèle servi et écrit son cache (.npz, sans pickle).")
    analyseur.add_argument("--sortie", default=str(config.chemin_compile), help="fichier .npz à écrire")
    analyseur.add_argument("--exiger-tout", action="store_true",
                           help="échouer si une configuration n'est pas compilable (image de service, sans scikit-learn)")
    options = analyseur.parse_args(arguments)
    from app.modele.artefacts import charger

    artefacts = charger(modele=config.chemin_modele, variables=config.chemin_variables, fiche=config.chemin_fiche,
                        empreintes=config.empreintes)
    compiles, refus = compiler_tout(artefacts.modele)
    for configuration, raison in refus.items():
        print(f"configuration {configuration} non compilée ({raison}) : le pipeline sera servi", file=sys.stderr)
    if refus and options.exiger_tout:
        print("--exiger-tout : chaque configuration doit être compilée (l'image de service n'a pas scikit-learn)",
              file=sys.stderr)
        return 2
    ecrire_cache(options.sortie, compiles, artefacts.sha256, artefacts.sha256_variables)
    print(f"modèle compilé écrit : {options.sortie} ({', '.join(sorted(compiles)) or 'aucune configuration'})")
    return 0


def compiler_tout(modele: dict) -> tuple[dict[str, ArbresCompiles], dict[str, str]]:
    """Chaque configuration compilée, et la raison de chaque refus."""
    compiles, refus = {}, {}
    for configuration, entree in modele["configurations"].items():
        try:
            compiles[configuration] = compiler(configuration, entree["pipeline"])
        except NonCompilable as erreur:
            refus[configuration] = str(erreur)
    return compiles, refus


if __name__ == "__main__":
    sys.exit(main())

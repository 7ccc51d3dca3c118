"""Un pipeline arborescent compilé en tableaux numpy plats : encodage et évaluation sans scikit-learn.

Produit par ``app.modele.compile.compilation`` (qui, lui, a besoin de scikit-learn) et relu depuis un fichier
``.npz`` sans pickle. L'évaluation refait exactement les opérations de scikit-learn, dans le
même ordre, pour redonner les mêmes flottants :

- forêt / arbre : somme, arbre après arbre, de la probabilité d'échec de la feuille atteinte,
  puis division par le nombre d'arbres (``RandomForestClassifier.predict_proba``) ;
- gradient boosting binaire : log-cote initiale (a priori des classes) plus, étape après étape,
  ``taux × valeur`` de la feuille, puis sigmoïde (``math.exp``, comme ``scipy.special.expit``).

Les contributions par champ (méthode de Saabas) sont celles de ``app.modele.explication`` : mêmes
valeurs de nœuds, additionnées dans le même ordre (arbre par arbre, de la racine à la feuille,
par colonne transformée, puis regroupées par champ brut dans l'ordre des colonnes).

Les feuilles bouclent sur elles-mêmes (variable 0, seuil +inf) : tous les arbres se parcourent
en ``profondeur`` pas, sans masque ; un pas sur une feuille ajoute 0,0 à la colonne 0.

Souches (arbres à une coupure, gradient boosting de profondeur 1) : la contribution d'une colonne
ne dépend que du nombre de ses seuils situés sous la valeur ; chaque somme possible est calculée au
chargement, par les mêmes additions dans le même ordre, et le lot la lit dans une table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

GENRE_MOYENNE = "moyenne"
"""Forêt ou arbre : moyenne des probabilités des feuilles."""
GENRE_LOGIT = "logit"
"""Gradient boosting binaire : somme de log-cotes, puis sigmoïde."""

LIGNES_PAR_BLOC = 4096
"""Lignes évaluées ensemble dans un lot (ici et dans ``Predicteur.predire_lot``) : borne la mémoire
(lignes × arbres × profondeur) et garde les tableaux de travail dans le cache du processeur."""

ARBRES_BOUCLE_PYTHON = 4
"""Jusqu'à ce nombre d'arbres, une ligne seule se parcourt en Python pur (plus rapide que numpy)."""


def _sigmoide(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


@dataclass(eq=False)
class ArbresCompiles:
    """Une configuration (A, B ou C) : encodage one-hot et arbres, en tableaux plats."""

    configuration: str
    champs: tuple[str, ...]
    """Champs bruts, dans l'ordre d'entrée du pipeline."""
    colonne_numerique: np.ndarray
    """Pour chaque champ : sa colonne transformée s'il est numérique, -1 sinon."""
    categories: tuple[tuple[str, ...], ...]
    """Pour chaque champ catégoriel : ses valeurs permises ; () pour un champ numérique."""
    colonne_categorie: np.ndarray
    """(champs × valeurs) : la colonne mise à 1 pour cette valeur, -1 si aucune (catégorie retirée)."""
    champ_de_colonne: np.ndarray
    """Le champ brut de chaque colonne transformée."""
    gauche: np.ndarray
    droite: np.ndarray
    variable: np.ndarray
    seuil: np.ndarray
    valeur_proba: np.ndarray
    """Par nœud : probabilité d'échec (forêt) ou ``taux × valeur`` (gradient boosting)."""
    valeur_explication: np.ndarray
    """Par nœud : valeur dans l'espace « risque d'échec » de ``app.modele.explication``."""
    racines: np.ndarray
    profondeur: int
    genre: str
    initial_proba: float
    """Log-cote initiale (gradient boosting) ; 0 pour une forêt."""
    diviseur: float
    """Nombre d'arbres moyennés (forêt), 1 sinon."""
    echec_en_colonne_1: bool
    """Gradient boosting : la sigmoïde donne P(classes_[1]) ; vrai si classes_[1] est l'échec."""
    en_probabilite: bool
    """Les contributions sont en points de probabilité (forêt, arbre) ou en log-cote (boosting)."""
    _plan: tuple = field(init=False, repr=False)
    _one_hot: tuple = field(init=False, repr=False)
    """(champ, rang de la valeur, colonne mise à 1) de chaque colonne one-hot (``encoder_lot``)."""
    _listes: tuple = field(init=False, repr=False)
    _souches: tuple = field(init=False, repr=False)
    """Profondeur 1 : les tables de contributions par colonne (``_tables_des_souches``)."""

    def __post_init__(self) -> None:
        self.colonnes = len(self.champ_de_colonne)
        numeriques, categoriels, one_hot = [], [], []
        for position, nom in enumerate(self.champs):
            if self.colonne_numerique[position] >= 0:
                numeriques.append((nom, int(self.colonne_numerique[position])))
            else:
                cibles = self.colonne_categorie[position, :len(self.categories[position])].tolist()
                categoriels.append((nom, dict(zip(self.categories[position], cibles))))
                one_hot.extend((nom, rang, colonne) for rang, colonne in enumerate(cibles) if colonne >= 0)
        self._plan = (tuple(numeriques), tuple(categoriels))
        self._one_hot = tuple(one_hot)
        self._listes = (self.gauche.tolist(), self.droite.tolist(), self.variable.tolist(),
                        self.seuil.tolist(), self.valeur_proba.tolist(), self.valeur_explication.tolist(),
                        self.racines.tolist())
        self._souches = self._tables_des_souches() if self.profondeur == 1 else ()

    def _tables_des_souches(self) -> tuple:
        """Pour chaque colonne coupée, dans l'ordre des colonnes : (colonne, champ, seuils triés, table) ;
        ``table[k]`` est sa contribution quand k de ses seuils sont sous la valeur : de 0,0, arbre après
        arbre, le déplacement de chaque souche, comme ``app.modele.explication``."""
        gauche, droite, variable, seuil, _, valeur, racines = self._listes
        souches: dict[int, list[int]] = {}
        for racine in racines:
            if gauche[racine] != racine:  # une racine feuille ne déplace rien
                souches.setdefault(variable[racine], []).append(racine)
        tables = []
        for colonne, siennes in sorted(souches.items()):
            seuils = sorted({seuil[racine] for racine in siennes})
            table = []
            for dessous in range(len(seuils) + 1):  # valeur ≤ seuil ⟺ seuil pas parmi les « dessous » premiers
                total = 0.0
                for racine in siennes:
                    suivant = gauche[racine] if seuils.index(seuil[racine]) >= dessous else droite[racine]
                    total += valeur[suivant] - valeur[racine]
                table.append(total)
            tables.append((colonne, int(self.champ_de_colonne[colonne]), np.array(seuils), np.array(table)))
        return tuple(tables)

    # --- encodage --------------------------------------------------------------------------------

    def encoder(self, valeurs: dict) -> np.ndarray:
        """Une ligne transformée (comme ``pipeline[:-1].transform``) depuis les valeurs validées."""
        x = np.zeros(self.colonnes)
        numeriques, categoriels = self._plan
        for nom, colonne in numeriques:
            x[colonne] = valeurs[nom]
        for nom, correspondance in categoriels:
            colonne = correspondance[valeurs[nom]]
            if colonne >= 0:
                x[colonne] = 1.0
        return x

    def noms_colonnes(self) -> tuple[str, ...]:
        """Le nom de chaque colonne transformée, comme ``ColumnTransformer.get_feature_names_out`` de
        ``app.modele.pipeline`` (noms courts) : le champ pour un entier, ``champ_valeur`` pour une
        colonne one-hot (vérifié à la compilation, ``app.modele.compile.compilation.verifier``)."""
        noms = [""] * self.colonnes
        for position, nom in enumerate(self.champs):
            if self.colonne_numerique[position] >= 0:
                noms[int(self.colonne_numerique[position])] = nom
            for rang, valeur in enumerate(self.categories[position]):
                colonne = int(self.colonne_categorie[position, rang])
                if colonne >= 0:
                    noms[colonne] = f"{nom}_{valeur}"
        return tuple(noms)

    def encoder_lot(self, colonnes: dict[str, np.ndarray]) -> np.ndarray:
        """La matrice transformée d'un lot, depuis ses colonnes brutes (entiers, ou codes de catégorie),
        rangée par colonnes (ordre Fortran) : l'évaluation lit chaque colonne transformée d'un bloc d'un trait."""
        n = len(next(iter(colonnes.values()))) if colonnes else 0
        XT = np.zeros((self.colonnes, n))
        numeriques, _ = self._plan
        for nom, colonne in numeriques:
            XT[colonne] = colonnes[nom]
        for nom, rang, colonne in self._one_hot:
            XT[colonne] = colonnes[nom] == rang
        return XT.T

    # --- une ligne -------------------------------------------------------------------------------

    def evaluer(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """(probabilité d'échec, contribution de chaque champ) pour une ligne transformée."""
        if len(self.racines) <= ARBRES_BOUCLE_PYTHON:
            return self._evaluer_python(x.tolist())
        noeuds = self.racines
        variables = np.empty((self.profondeur, len(noeuds)), dtype=np.intp)
        deplacements = np.empty((self.profondeur, len(noeuds)))
        for pas in range(self.profondeur):
            variable = self.variable[noeuds]
            suivants = np.where(x[variable] <= self.seuil[noeuds], self.gauche[noeuds], self.droite[noeuds])
            variables[pas] = variable
            deplacements[pas] = self.valeur_explication[suivants] - self.valeur_explication[noeuds]
            noeuds = suivants
        # Arbre par arbre puis de la racine à la feuille : l'ordre d'app.modele.explication.
        par_colonne = np.bincount(variables.T.ravel(), weights=deplacements.T.ravel(), minlength=self.colonnes)
        feuilles = self.valeur_proba[noeuds]
        cumul = np.cumsum(np.concatenate(([self.initial_proba], feuilles)))  # somme séquentielle
        return self._probabilite(float(cumul[-1])), self._par_champ(par_colonne)

    def _evaluer_python(self, x: list[float]) -> tuple[float, np.ndarray]:
        gauche, droite, variable, seuil, valeur_proba, valeur, racines = self._listes
        par_colonne = [0.0] * self.colonnes
        total = self.initial_proba
        for noeud in racines:
            while gauche[noeud] != noeud:
                v = variable[noeud]
                suivant = gauche[noeud] if x[v] <= seuil[noeud] else droite[noeud]
                par_colonne[v] += valeur[suivant] - valeur[noeud]
                noeud = suivant
            total += valeur_proba[noeud]
        return self._probabilite(total), self._par_champ(np.asarray(par_colonne))

    def _probabilite(self, total: float) -> float:
        if self.genre == GENRE_MOYENNE:
            return total / self.diviseur
        p1 = _sigmoide(total)
        return p1 if self.echec_en_colonne_1 else 1 - p1

    def _par_champ(self, par_colonne: np.ndarray) -> np.ndarray:
        return np.bincount(self.champ_de_colonne, weights=par_colonne, minlength=len(self.champs))

    # --- un lot ----------------------------------------------------------------------------------

    def evaluer_lot(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilités d'échec (n,), contributions par champ (n × champs)) d'une matrice transformée."""
        n = len(X)
        probabilites = np.empty(n)
        contributions = np.empty((n, len(self.champs)))  # ordre C : lignes contiguës, sommées par le vote comme dans app.modele.explication
        for debut in range(0, n, LIGNES_PAR_BLOC):
            fin = min(n, debut + LIGNES_PAR_BLOC)
            probabilites[debut:fin], contributions[debut:fin] = self._bloc(X[debut:fin])
        return probabilites, contributions

    def _bloc(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.profondeur == 1:
            return self._bloc_souches(X)
        n, arbres = len(X), len(self.racines)
        lignes = np.arange(n)
        XT = np.ascontiguousarray(X.T)  # (colonnes × lignes) : une colonne transformée = une ligne contiguë
        plat = XT.ravel()
        valeur = self.valeur_explication
        # Colonne et déplacement de chaque (arbre, pas, ligne).
        variables = np.empty((arbres, self.profondeur, n), dtype=np.intp)
        deplacements = np.empty((arbres, self.profondeur, n))
        racines = self.racines
        noeuds = racines[:, None]
        for pas in range(self.profondeur):
            if pas == 0:  # toutes les lignes sont à la racine : une colonne entière par arbre, sans index par ligne
                variable = self.variable[racines][:, None]
                a_gauche = XT.take(self.variable[racines], axis=0) <= self.seuil[racines][:, None]
            else:
                variable = self.variable.take(noeuds)
                a_gauche = plat.take(variable * n + lignes) <= self.seuil.take(noeuds)
            suivants = np.where(a_gauche, self.gauche.take(noeuds), self.droite.take(noeuds))
            variables[:, pas, :] = variable
            deplacements[:, pas, :] = valeur.take(suivants) - valeur.take(noeuds)
            noeuds = suivants
        # bincount additionne dans l'ordre du tableau : rangé (arbre, pas, ligne), chaque case
        # (ligne, colonne) reçoit ses déplacements arbre après arbre, de la racine à la feuille,
        # comme app.modele.explication.
        variables += lignes * self.colonnes
        par_colonne = np.bincount(variables.ravel(), weights=deplacements.ravel(),
                                  minlength=n * self.colonnes).reshape(n, self.colonnes).T
        feuilles = self.valeur_proba.take(noeuds) if self.profondeur else np.repeat(
            self.valeur_proba[racines][:, None], n, axis=1)
        par_champ = np.zeros((len(self.champs), n))
        for colonne, champ in enumerate(self.champ_de_colonne.tolist()):  # ordre des colonnes, comme bincount
            par_champ[champ] += par_colonne[colonne]
        return self._probabilites(feuilles), par_champ.T

    def _bloc_souches(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arbres à une coupure : chaque arbre ne lit qu'une colonne ; les contributions se lisent dans
        ``_souches`` (colonnes dans l'ordre, comme bincount)."""
        XT = X.T  # lignes contiguës si X vient d'encoder_lot (ordre Fortran)
        racines = self.racines
        a_gauche = XT[self.variable[racines]] <= self.seuil[racines][:, None]  # (arbres × lignes)
        feuilles = np.where(a_gauche, self.valeur_proba[self.gauche[racines]][:, None],
                            self.valeur_proba[self.droite[racines]][:, None])
        par_champ = np.zeros((len(self.champs), len(X)))
        for colonne, champ, seuils, table in self._souches:
            par_champ[champ] += table[np.searchsorted(seuils, XT[colonne])]
        return self._probabilites(feuilles), par_champ.T

    def _probabilites(self, feuilles: np.ndarray) -> np.ndarray:
        """Probabilités d'échec d'un bloc, depuis la valeur de la feuille atteinte (arbres × lignes)."""
        total = np.full(feuilles.shape[1], self.initial_proba)
        for valeurs in feuilles:  # arbre après arbre, comme scikit-learn, quel que soit le nombre de lignes
            total += valeurs
        if self.genre == GENRE_MOYENNE:
            return total / self.diviseur
        # _sigmoide, élément par élément : math.exp, celle de scipy.special.expit (np.exp peut différer d'un ulp).
        p1 = 1.0 / (1.0 + np.fromiter(map(math.exp, (-total).tolist()), dtype=np.float64, count=len(total)))
        return p1 if self.echec_en_colonne_1 else 1 - p1

    # --- sérialisation (npz, sans pickle) -------------------------------------------------------

    TABLEAUX = ("colonne_numerique", "colonne_categorie", "champ_de_colonne", "gauche", "droite", "variable",
                "seuil", "valeur_proba", "valeur_explication", "racines")

    def en_tableaux(self, prefixe: str) -> dict[str, np.ndarray]:
        tableaux = {f"{prefixe}{nom}": getattr(self, nom) for nom in self.TABLEAUX}
        tableaux[f"{prefixe}champs"] = np.array(self.champs, dtype=np.str_)
        largeur = max((len(c) for c in self.categories), default=0)
        tableaux[f"{prefixe}categories"] = np.array(
            [list(c) + [""] * (largeur - len(c)) for c in self.categories], dtype=np.str_).reshape(len(self.champs), largeur)
        tableaux[f"{prefixe}nombres_categories"] = np.array([len(c) for c in self.categories], dtype=np.int64)
        tableaux[f"{prefixe}scalaires"] = np.array([self.profondeur, self.initial_proba, self.diviseur,
                                                    float(self.echec_en_colonne_1), float(self.en_probabilite),
                                                    float(self.genre == GENRE_LOGIT)])
        return tableaux

    @classmethod
    def depuis_tableaux(cls, configuration: str, tableaux, prefixe: str) -> "ArbresCompiles":
        nombres = tableaux[f"{prefixe}nombres_categories"].tolist()
        categories = tuple(tuple(ligne[:k]) for ligne, k in zip(tableaux[f"{prefixe}categories"].tolist(), nombres))
        profondeur, initial, diviseur, colonne_1, en_probabilite, logit = tableaux[f"{prefixe}scalaires"].tolist()
        return cls(configuration=configuration, champs=tuple(tableaux[f"{prefixe}champs"].tolist()),
                   categories=categories, profondeur=int(profondeur), initial_proba=initial, diviseur=diviseur,
                   echec_en_colonne_1=bool(colonne_1), en_probabilite=bool(en_probabilite),
                   genre=GENRE_LOGIT if logit else GENRE_MOYENNE,
                   **{nom: tableaux[f"{prefixe}{nom}"] for nom in cls.TABLEAUX})

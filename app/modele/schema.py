"""Le schéma d'un élève : seule source de vérité pour les 32 champs d'entrée.

Types, bornes et valeurs permises viennent de ``student.txt`` (UCI, Cortez & Silva 2008).
La validation de l'API, la liste des variables de chaque configuration, le document
OpenAPI et la documentation dérivent tous de ce modèle : aucune autre liste de champs
n'existe dans le projet.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional, get_args, get_origin

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypeAliasType

from app.modele.identifiants import (
    FORME_IDENTIFIANT,
    REGLE_IDENTIFIANT,
    identifiant_valide,
)

FORME_ENTIER_TEXTE = re.compile(r"0|[1-9][0-9]{0,2}")
"""Un entier écrit en texte (cellule CSV, note entre guillemets du fichier UCI) : chiffres ASCII, sans
signe, sans zéro initial, sans espace ; à utiliser avec ``fullmatch``. Ce que dit le document OpenAPI
(``motif_entier``) est exactement ce qui passe : ni « +16 », ni « 016 », ni chiffres arabes-indiens."""


def separateur_csv(entete: str) -> str:
    """« ; » (fichier UCI), « , » (copie du projet d'origine) ou tabulation (copie d'un tableur) : le plus
    fréquent dans la ligne d'en-tête, « ; » puis « , » à égalité."""
    return max((";", ",", "\t"), key=lambda s: (entete.count(s), s == ";", s == ","))


ENTIERS_TEXTE = {str(n): n for n in range(1000)}
"""Exactement les textes que ``FORME_ENTIER_TEXTE`` accepte, avec leur valeur : une recherche dans un dict au lieu
d'une expression régulière et d'un ``int()`` par cellule (une classe CSV de 400 élèves en a 6 000)."""


def _entier_strict(valeur: Any) -> Any:
    """Accepte un entier JSON, un flottant entier (11.0, un entier pour JSON Schema aussi) ou un texte
    d'entier en chiffres ASCII ("11", ``FORME_ENTIER_TEXTE``).

    Le fichier UCI met les notes entre guillemets : un client qui recopie une ligne du
    fichier doit être compris. Les booléens et les nombres à virgule sont refusés.
    """
    if type(valeur) is str:  # une cellule CSV, le cas courant d'une classe envoyée en fichier
        entier = ENTIERS_TEXTE.get(valeur)
        if entier is not None:
            return entier
    if isinstance(valeur, bool):
        raise PydanticCustomError("entier", "doit être un nombre entier (pas un booléen)")
    if isinstance(valeur, int) or valeur is None:
        return valeur
    if isinstance(valeur, float):
        if valeur == valeur and valeur not in (float("inf"), float("-inf")) and valeur.is_integer():
            return int(valeur)
        raise PydanticCustomError("entier", "doit être un nombre entier")
    if isinstance(valeur, str):
        if FORME_ENTIER_TEXTE.fullmatch(valeur):
            return int(valeur)
        raise PydanticCustomError("entier", "doit être un nombre entier (en texte : chiffres 0-9 seulement, "
                                            "sans signe, espace ni zéro initial)")
    raise PydanticCustomError("entier", "doit être un nombre entier")


def motif_entier(minimum: int, maximum: int) -> str:
    """L'expression régulière (ECMA et Python) des entiers de ``minimum`` à ``maximum`` écrits en texte,
    chiffres ASCII sans zéro initial : ``motif_entier(15, 22)`` = ``^(1[5-9]|2[0-2])$``."""
    if not 0 <= minimum <= maximum:
        raise ValueError((minimum, maximum))
    unites: dict[int, list[int]] = {}
    for n in range(minimum, maximum + 1):
        unites.setdefault(n // 10, []).append(n % 10)
    alternatives = [(str(d) if d else "") + (str(u[0]) if len(u) == 1 else f"[{u[0]}-{u[-1]}]")
                    for d, u in unites.items()]
    return "^(" + "|".join(alternatives) + ")$"


def _schema_entier(minimum: int, maximum: int, nul: bool = False) -> WithJsonSchema:
    """Le schéma OpenAPI d'un champ entier reçu : un entier JSON, ou le même entier écrit en texte. En mode
    « validation » seulement : dans une réponse (mode « serialization »), le serveur envoie toujours un
    entier, et le schéma le dit (``{"type": "integer", …}``, déduit des bornes du champ)."""
    formes = [{"type": "integer", "minimum": minimum, "maximum": maximum},
              {"type": "string", "pattern": motif_entier(minimum, maximum),
               "description": "Le même entier écrit en texte (cellule du fichier UCI)"}]
    return WithJsonSchema({"anyOf": formes + ([{"type": "null"}] if nul else [])}, mode="validation")


def _entier(minimum: int, maximum: int, description: str):
    return Annotated[
        int,
        Field(ge=minimum, le=maximum, description=description),
        BeforeValidator(_entier_strict),
        _schema_entier(minimum, maximum),
    ]


def _entier_json(valeur: Any) -> Any:
    """Un nombre JSON entier (11 ou 11.0) ; ni texte, ni booléen, ni nombre à virgule."""
    if isinstance(valeur, (str, bool)):
        raise PydanticCustomError("entier", "doit être un nombre entier JSON (pas du texte)")
    return _entier_strict(valeur)


def entier_borne(minimum: int, maximum: int, description: str):
    """Un entier de ``minimum`` à ``maximum`` dans les autres corps JSON de l'API (pagination…) : un nombre
    JSON seulement (le texte n'est accepté que pour les attributs d'un élève, copiés d'un CSV), et le
    schéma le dit exactement."""
    return Annotated[
        int,
        Field(ge=minimum, le=maximum, description=description),
        BeforeValidator(_entier_json),
        WithJsonSchema({"type": "integer", "minimum": minimum, "maximum": maximum, "description": description}),
    ]


def _note(description: str):
    return Annotated[
        Optional[int],
        Field(default=None, ge=0, le=20, description=description),
        BeforeValidator(_entier_strict),
        _schema_entier(0, 20, nul=True),
    ]


def enumeration(nom: str, valeurs: tuple, description: str, noms: tuple[str, ...] | None = None):
    """Une énumération nommée : un composant du document OpenAPI (``#/components/schemas/<nom>``),
    défini une fois et référencé par chaque champ qui l'utilise (un client généré a une seule classe
    ``Metier`` pour Mjob et Fjob, une seule ``OuiNon`` pour les huit questions oui/non).
    ``noms`` : noms des membres pour les générateurs (``x-enum-varnames``), utiles pour des nombres."""
    extra = {"x-enum-varnames": list(noms)} if noms else None
    return TypeAliasType(nom, Annotated[Literal[valeurs], Field(description=description,  # type: ignore[valid-type]
                                                                 json_schema_extra=extra)])


def _choix(type_nomme, description: str):
    return Annotated[type_nomme, Field(description=description)]


Ecole = enumeration("Ecole", ("GP", "MS"), "GP (Gabriel Pereira) ou MS (Mousinho da Silveira)")
Sexe = enumeration("Sexe", ("F", "M"), "F ou M")
Adresse = enumeration("Adresse", ("U", "R"), "U (urbain) ou R (rural)")
TailleFamille = enumeration("TailleFamille", ("LE3", "GT3"), "LE3 (≤ 3) ou GT3 (> 3)")
SituationParents = enumeration("SituationParents", ("T", "A"), "T (ensemble) ou A (séparés)")
Metier = enumeration("Metier", ("teacher", "health", "services", "at_home", "other"),
                     "Métier : enseignant, santé, services publics, au foyer, autre")
Raison = enumeration("Raison", ("home", "reputation", "course", "other"),
                     "Raison du choix de l'école : proximité, réputation, programme, autre")
Responsable = enumeration("Responsable", ("mother", "father", "other"), "Responsable légal : mère, père, autre")
OuiNon = enumeration("OuiNon", ("yes", "no"), "yes ou no")
Configuration = enumeration("Configuration", ("A", "B", "C"),
                            "A : G1 et G2 connus ; B : G1 seul ; C : aucune note (alerte précoce)")
_METIERS_FR = ("teacher (enseignement), health (santé), services (fonction publique : administration, police…), "
               "at_home (au foyer) ou other (autre)")


def _echelle(*mots: str) -> str:
    """Une échelle de 1 à 5 dite avec les mots de son champ : « 1 (très faible), 2 (faible), … 5 (très élevée) »."""
    return "de 1 à 5 : " + ", ".join(f"{i} ({mot})" for i, mot in enumerate(mots, start=1))


class Eleve(BaseModel):
    """Les 32 attributs d'un élève, tels que ``/predire`` les reçoit (noms du fichier UCI).

    Dans une réponse (schéma en mode « serialization »), les 32 clés sont toujours présentes, G1 et G2
    valant null quand la note manque : ``json_schema_serialization_defaults_required`` les dit requises."""

    model_config = ConfigDict(extra="forbid", title="Eleve", json_schema_serialization_defaults_required=True)

    school: _choix(Ecole, "École : GP (Gabriel Pereira) ou MS (Mousinho da Silveira)")
    sex: _choix(Sexe, "Sexe : F (fille) ou M (garçon)")
    age: _entier(15, 22, "Âge (15 à 22 ans)")
    address: _choix(Adresse, "Domicile : U (urbain) ou R (rural)")
    famsize: _choix(TailleFamille, "Taille de la famille : LE3 (≤ 3) ou GT3 (> 3)")
    Pstatus: _choix(SituationParents, "Parents : T (ensemble) ou A (séparés)")
    Medu: _entier(0, 4, "Études de la mère : 0 aucune, 1 primaire, 2 collège, 3 lycée, 4 supérieur")
    Fedu: _entier(0, 4, "Études du père : 0 aucune, 1 primaire, 2 collège, 3 lycée, 4 supérieur")
    Mjob: _choix(Metier, f"Métier de la mère : {_METIERS_FR}")
    Fjob: _choix(Metier, f"Métier du père : {_METIERS_FR}")
    reason: _choix(Raison, "Raison du choix de l'école : home (proche du domicile), reputation (réputation), "
                           "course (programme) ou other (autre)")
    guardian: _choix(Responsable, "Responsable légal : mother (la mère), father (le père) ou other (une autre personne)")
    traveltime: _entier(1, 4, "Trajet : 1 (< 15 min), 2 (15–30 min), 3 (30 min–1 h), 4 (> 1 h)")
    studytime: _entier(1, 4, "Travail hebdomadaire : 1 (< 2 h), 2 (2–5 h), 3 (5–10 h), 4 (> 10 h)")
    failures: _entier(0, 4, "Redoublements passés (0 à 3 ; 4 pour davantage)")
    schoolsup: _choix(OuiNon, "Soutien scolaire de l'école")
    famsup: _choix(OuiNon, "Soutien scolaire de la famille")
    paid: _choix(OuiNon, "Cours particuliers payants dans la matière")
    activities: _choix(OuiNon, "Activités extrascolaires")
    nursery: _choix(OuiNon, "A fréquenté l'école maternelle")
    higher: _choix(OuiNon, "Souhaite faire des études supérieures")
    internet: _choix(OuiNon, "Accès à Internet à la maison")
    romantic: _choix(OuiNon, "En couple")
    famrel: _entier(1, 5, "Qualité des relations familiales, " + _echelle("très mauvaises", "mauvaises", "moyennes", "bonnes", "excellentes"))
    freetime: _entier(1, 5, "Temps libre après l'école, " + _echelle("très peu", "peu", "moyen", "beaucoup", "énormément"))
    goout: _entier(1, 5, "Sorties avec les amis, " + _echelle("très rares", "rares", "moyennes", "fréquentes", "très fréquentes"))
    Dalc: _entier(1, 5, "Consommation d'alcool en semaine, " + _echelle("très faible", "faible", "moyenne", "élevée", "très élevée"))
    Walc: _entier(1, 5, "Consommation d'alcool le week-end, " + _echelle("très faible", "faible", "moyenne", "élevée", "très élevée"))
    health: _entier(1, 5, "État de santé, " + _echelle("très mauvais", "mauvais", "moyen", "bon", "très bon"))
    absences: _entier(0, 93, "Nombre d'absences (0 à 93)")
    G1: _note("Note du 1er trimestre (0 à 20) ; absente ou null avant qu'elle existe")
    G2: _note("Note du 2e trimestre (0 à 20) ; absente ou null avant qu'elle existe")


def _identifiant(valeur: Any) -> Any:
    if valeur is None:
        return valeur
    if not isinstance(valeur, str):
        raise PydanticCustomError("identifiant", "doit être une chaîne : " + REGLE_IDENTIFIANT)
    if not identifiant_valide(valeur):
        raise PydanticCustomError("identifiant", "identifiant invalide : " + REGLE_IDENTIFIANT)
    return valeur


IdentifiantEleve = Annotated[
    str,
    StringConstraints(pattern=FORME_IDENTIFIANT.pattern),
    Field(description="Identifiant pseudonyme de l'élève : " + REGLE_IDENTIFIANT),
    BeforeValidator(_identifiant),
]
"""Un user_id obligatoire (corps des routes d'historique et d'effacement)."""


class DemandePrediction(Eleve):
    """Le corps de ``POST /predire`` : les 32 attributs de l'élève, et facultativement ``user_id``.

    ``user_id`` n'est pas un attribut de l'élève (il n'entre pas dans le modèle) : c'est
    l'identifiant pseudonyme de l'élève concerné par la prédiction, choisi par l'établissement
    (jamais un nom ni une adresse électronique). Il sert à relire l'historique de cet élève
    et à tout effacer à sa demande (droit à l'effacement).
    """

    model_config = ConfigDict(extra="forbid", title="DemandePrediction")

    user_id: Annotated[
        Optional[Annotated[str, StringConstraints(pattern=FORME_IDENTIFIANT.pattern)]],
        Field(default=None, description="Identifiant pseudonyme de l'élève concerné (facultatif) : "
                                        + REGLE_IDENTIFIANT + " ; jamais un nom ni une adresse électronique"),
        BeforeValidator(_identifiant),
    ]

    def entrees(self) -> dict:
        """Les 32 attributs validés, sans ``user_id`` : ce que donne ``Eleve.model_dump()`` (des entiers,
        des chaînes et None), sans construire un second modèle."""
        valeurs = self.__dict__
        return {nom: valeurs[nom] for nom in CHAMPS}


CHAMPS: tuple[str, ...] = tuple(Eleve.model_fields)
"""Les 32 champs, dans l'ordre du fichier UCI."""

NOTES: tuple[str, ...] = ("G1", "G2")
"""Les notes de l'année, facultatives : leur absence choisit la configuration B ou C."""


def valeurs_enumeration(annotation: Any) -> tuple | None:
    """Les valeurs d'une ``enumeration`` (ou d'un ``Literal``), sinon None."""
    if isinstance(annotation, TypeAliasType):
        annotation = annotation.__value__
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return get_args(annotation) if get_origin(annotation) is Literal else None


def _valeurs_permises(nom: str) -> tuple[str, ...] | None:
    return valeurs_enumeration(Eleve.model_fields[nom].annotation)


CATEGORIES: dict[str, tuple[str, ...]] = {
    nom: valeurs for nom in CHAMPS if (valeurs := _valeurs_permises(nom)) is not None
}
"""Champ catégoriel → valeurs permises, dans l'ordre de ``student.txt``."""

NUMERIQUES: tuple[str, ...] = tuple(nom for nom in CHAMPS if nom not in CATEGORIES)
"""Champs entiers (ordinaux, compteurs et notes)."""


def bornes(nom: str) -> tuple[int, int]:
    """Bornes (min, max) d'un champ entier, lues dans les contraintes du schéma."""
    minimum = maximum = None
    for contrainte in Eleve.model_fields[nom].metadata:
        minimum = getattr(contrainte, "ge", minimum)
        maximum = getattr(contrainte, "le", maximum)
    if minimum is None or maximum is None:
        raise KeyError(nom)
    return minimum, maximum


CONFIGURATIONS: dict[str, tuple[str, ...]] = {
    "A": CHAMPS,
    "B": tuple(c for c in CHAMPS if c != "G2"),
    "C": tuple(c for c in CHAMPS if c not in NOTES),
}
"""Variables de chaque configuration : A toutes, B sans G2, C sans G1 ni G2 (début d'année)."""

DESCRIPTION_CONFIGURATIONS: dict[str, str] = {
    "A": "toutes les variables, G1 et G2 compris",
    "B": "sans G2 : alerte après le 1er trimestre",
    "C": "sans G1 ni G2 : alerte précoce, avant toute note",
}
CONFIGURATIONS_EN_CLAIR: dict[str, str] = {
    "A": "avec les notes des 1er et 2e trimestres",
    "B": "avec la note du 1er trimestre seulement",
    "C": "sans aucune note (alerte précoce)",
}
"""Les configurations dites aux équipes éducatives (page ``/classe``) : sans lettre ni nom de variable."""


def configuration_pour(eleve: Eleve) -> str:
    """La configuration que permettent les notes connues de l'élève.

    G2 sans G1 ne correspond à aucune configuration entraînée : on utilise alors C,
    qui n'a besoin d'aucune note (l'appelant le voit dans ``configuration``).
    """
    if eleve.G1 is not None and eleve.G2 is not None:
        return "A"
    if eleve.G1 is not None:
        return "B"
    return "C"


def configurations_pour(g1_connue: np.ndarray, g2_connue: np.ndarray) -> np.ndarray:
    """``configuration_pour`` de tout un lot, depuis les masques « G1 connue » et « G2 connue »."""
    return np.where(g1_connue & g2_connue, "A", np.where(g1_connue, "B", "C"))

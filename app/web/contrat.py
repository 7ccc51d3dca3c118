"""Les réponses de l'API, décrites par des modèles pydantic pour le document OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from app.modele.classes import CLASSE_ECHEC, CLASSE_REUSSITE
from app.modele.explication import EFFETS
from app.modele.schema import (
    Configuration,
    DemandePrediction,
    Eleve,
    IdentifiantEleve,
    entier_borne,
    enumeration,
)
from app.stockage.enregistrement import CANAUX, Enregistrement

ClassePredite = enumeration("ClassePredite", (CLASSE_ECHEC, CLASSE_REUSSITE), "0 = échec, 1 = réussite",
                            noms=("ECHEC", "REUSSITE"))
Libelle = enumeration("Libelle", ("échec", "réussite"), "La prédiction en toutes lettres", noms=("ECHEC", "REUSSITE"))
Effet = enumeration("Effet", EFFETS, "Sens de la contribution d'un champ : augmente ou diminue le risque d'échec",
                    noms=("AUGMENTE", "DIMINUE"))


class Reponse(BaseModel):
    """Base des corps de réponse : le schéma publié (mode « serialization ») dit requise chaque clé que le
    serveur envoie toujours (null si besoin) et n'en admet aucune autre (``additionalProperties: false``).
    Ces modèles ne servent qu'au document : le serveur ne les instancie pas."""
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class Facteur(Reponse):
    champ: str = Field(description="Nom du champ d'entrée")
    valeur: str = Field(description="Valeur de l'élève pour ce champ, en texte (« 12 », « yes ») : la même "
                                    "représentation en HTTP et en gRPC")
    effet: Effet
    contribution: float = Field(description="Déplacement de la prédiction dû à ce champ "
                                            "(probabilité d'échec, ou log-cote pour le gradient boosting)")
    poids: float = Field(ge=0, le=1, description="Part de ce champ dans l'explication totale")
    texte: str = Field(description="Phrase en français")


class Resultat(Eleve):
    """Le résultat d'un élève, le même pour ``POST /predire`` et pour chaque élément d'un lot : ses
    32 attributs validés (des entiers, jamais du texte), la prédiction, son request_id, son user_id et
    ses avertissements."""
    model_config = ConfigDict(extra="forbid", title="Resultat")
    prediction: ClassePredite
    libelle: Libelle
    probabilite_echec: float = Field(ge=0, le=1)
    probabilite_reussite: float = Field(ge=0, le=1)
    confiance_prediction: float = Field(ge=0, le=1, description="Distance au seuil ramenée à [0, 1]")
    seuil: float = Field(gt=0, le=1, description="Échec prédit quand probabilite_echec ≥ seuil")
    configuration: Configuration
    explication: list[Facteur] = Field(description="Facteurs principaux, du plus important au moins important")
    request_id: str = Field(description="Identifiant de la prédiction, relisible par POST /historique et "
                                        "GET /predictions/{request_id} : le X-Request-ID de /predire, "
                                        "<X-Request-ID du lot>-<rang> (rang à partir de 1) dans un lot")
    user_id: Optional[str] = Field(description="L'identifiant pseudonyme reçu pour cet élève, ou null")
    avertissements: list[str] = Field(description="Vide, sauf quand G1 ou G2 manquent (configuration B ou C)")


class ReponsePrediction(Reponse):
    resultats: Resultat
    request_id: str = Field(description="Le X-Request-ID de la requête (égal à resultats.request_id)")
    model_version: str
    inference_time_ms: float = Field(ge=0)


class ReponsePretraitement(Reponse):
    configuration: Configuration = Field(description="La configuration que choisissent les notes connues")
    variables: list[str] = Field(description="Nom de chaque colonne encodée (one-hot : champ_valeur ; entier : le champ)")
    valeurs: list[float] = Field(description="La ligne que le modèle évalue, dans l'ordre de variables")
    request_id: str
    model_version: str


class ReponseLot(Reponse):
    resultats: list[Resultat] = Field(description="Une prédiction par élève, dans l'ordre reçu")
    nombre: int = Field(ge=1)
    request_id: str
    model_version: str
    inference_time_ms: float = Field(ge=0, description="Validation et prédiction du lot entier")


Canal = enumeration("Canal", CANAUX, "http (API REST), grpc (serveur gRPC) ou lot (python -m app.lot)")


class PredictionConservee(Enregistrement):
    """Une prédiction telle que conservée en base et au journal (champs de ``app.stockage.enregistrement``),
    avec ce que la base ne sait pas dire : les entrées validées et les valeurs permises."""
    model_config = Reponse.model_config
    configuration: Configuration
    entrees: Eleve
    prediction: ClassePredite
    canal: Canal = Field(description="Canal de la demande : http (API REST), grpc (serveur gRPC) ou lot (python -m app.lot)")


LIMITE_DEFAUT = 20
LIMITE_MAX = 100
DECALAGE_MAX = 10_000_000
"""Bornes de la pagination de l'historique : la route les applique, l'OpenAPI et ce contrat les décrivent."""


class Pagination(Reponse):
    limite: int = Field(ge=1, le=LIMITE_MAX)
    decalage: int = Field(ge=0, le=DECALAGE_MAX)
    total: int = Field(ge=0, description="Nombre de prédictions conservées pour cet élève")
    suivant: Optional[str] = Field(description="GET : chemin de la page suivante, ou null ; POST : toujours null "
                                               "(le chemin porterait le user_id), voir decalage_suivant")
    decalage_suivant: Optional[int] = Field(default=None, description="decalage de la page suivante, ou null")


class DemandeHistorique(BaseModel):
    """Corps de ``POST /historique`` : le user_id n'apparaît pas dans l'URL (ni donc dans les
    journaux d'accès de gunicorn et de Cloud Run, qui survivent à l'effacement)."""
    model_config = ConfigDict(extra="forbid", title="DemandeHistorique")
    user_id: IdentifiantEleve
    limite: entier_borne(1, LIMITE_MAX, f"Taille de la page ({LIMITE_DEFAUT} si absente)") = LIMITE_DEFAUT
    decalage: entier_borne(0, DECALAGE_MAX, "Prédictions à sauter (0 si absent)") = 0


class DemandeEffacement(BaseModel):
    """Corps de ``POST /effacement`` (droit à l'effacement, user_id hors de l'URL)."""
    model_config = ConfigDict(extra="forbid", title="DemandeEffacement")
    user_id: IdentifiantEleve


class Historique(Reponse):
    user_id: str
    predictions: list[PredictionConservee] = Field(description="Les plus récentes d'abord")
    pagination: Pagination


class Effacement(Reponse):
    user_id: str
    supprimees: int = Field(ge=0, description="Prédictions supprimées de la base")
    lignes_journal_supprimees: Optional[int] = Field(
        ge=0, description="Lignes retirées du journal des requêtes ; null s'il ne va pas dans un fichier")
    avertissements: list[str] = Field(description="Vide, sauf si le journal va aussi sur la sortie standard")


class LigneAcces(Reponse):
    """Une ligne du journal des accès (app.stockage.journal_acces) : jamais d'attribut ni d'identifiant d'élève."""
    horodatage: str = Field(description="Date et heure UTC (ISO 8601)")
    qui: str = Field(description="Adresse de la personne, compte de service, ou jeton-api")
    route: str = Field(description="Méthode et gabarit de la route, par exemple POST /historique")
    ecole: Optional[str] = Field(description="Écoles concernées, séparées par des virgules ; * : toutes")
    eleves: int = Field(ge=0, description="Nombre d'élèves concernés")
    empreinte: Optional[str] = Field(description="Empreinte salée du user_id (celle du registre des effacements)")


class JournalAcces(Reponse):
    acces: list[LigneAcces] = Field(description="Dans l'ordre d'inscription")
    nombre: int = Field(ge=0)
    retention_jours: int = Field(ge=1, description="RETENTION_ACCES_JOURS : durée de conservation")


class DetailErreur(Reponse):
    model_config = ConfigDict(json_schema_serialization_defaults_required=False)
    element: int = Field(default=None, ge=1, description="Lots seulement : rang de l'élément en cause, à partir de 1 "
                                                        "(comme le <rang> des request_id) ; absent ailleurs")
    champ: str = Field(description="Le champ, l'en-tête ou la ligne en cause ; « (élément) » pour un élément "
                                   "entier")
    message: str = Field(description="La règle à respecter, en français")


class Erreur(Reponse):
    """Toute erreur de l'API, 4xx comme 5xx, y compris celles que gunicorn répond lui-même (414, 431)."""
    erreur: str = Field(description="Message en français")
    details: list[DetailErreur] = Field(description="Un problème par champ (vide s'il n'y en a pas)")


# --- Routes de service : accueil, santé, disponibilité, fiche du modèle --------------------------

class RouteDecrite(Reponse):
    route: str = Field(description="Chemin (syntaxe Flask : <parametre>)")
    methodes: list[str]
    description: str


class Accueil(Reponse):
    message: str
    version: str = Field(description="Version de l'API")
    model_version: str
    routes: list[RouteDecrite]


class Sante(Reponse):
    statut: str = Field(description="« ok » : le processus répond")


class Verification(Reponse):
    ok: bool
    message: str


class SuiveurJournal(Reponse):
    actif: bool = Field(description="Le suiveur du journal de l'instance publie sa position (sinon : mort, relancé)")
    stockees: int = Field(description="Prédictions qu'il a mises en base depuis son lancement")


class Alimentation(Verification):
    en_attente: int = Field(description="Prédictions journalisées pas encore en base (avec un suiveur : celles de "
                                        "l'instance, le reste du journal estimé ; sinon : celles de ce processus)")
    retard_s: float = Field(description="Âge de la plus ancienne d'entre elles (s) ; avec un suiveur et la base à "
                                        "jour : durée de son dernier paquet")
    suiveur: SuiveurJournal | None = Field(
        default=None, description="Le suiveur du journal (un processus par instance : il alimente la base) ; absent "
                                  "quand chaque processus alimente la base lui-même (journal hors fichier)")
    effacements_dus_au_journal: int = Field(
        description="Effacements faits en base et au registre, pas encore au journal (disque plein) : réessayés")
    fils_relances: dict[str, dict] = Field(
        description="Fils de fond relancés après une erreur imprévue : nom → {relances, derniere_erreur}")


class Verifications(Reponse):
    modele: Verification
    journal: Verification
    base: Verification
    alimentation: Alimentation = Field(description="La base suit le journal (journal d'abord) : fausse quand elle "
                                                   "est en retard (base injoignable, réconciliation à refaire)")


class Disponibilite(Reponse):
    pret: bool = Field(description="Vrai quand les quatre vérifications passent (sinon statut 503)")
    verifications: Verifications


class Metrique(Reponse):
    moyenne: float
    ic95: Annotated[list[float], Field(min_length=2, max_length=2, description="Intervalle de confiance à 95 %")]


class Fiabilite(Reponse):
    connue: bool = Field(description="Faux quand le seuil servi n'est pas celui évalué par la fiche")
    signales_echouant_sur_100: float = Field(description="Sur 100 élèves signalés, combien échouent (hors plis)")
    signales_echouant_ic95: Optional[list[float]] = None
    echecs_non_signales_pourcent: float = Field(description="Part des élèves en échec non signalés (1 − rappel)")
    echecs_non_signales_ic95: Optional[list[float]] = None
    phrase: str = Field(description="La phrase affichée par la page /classe")


class ConfigurationServie(Reponse):
    description: str
    classifieur: str
    seuil: float = Field(description="Seuil servi (SEUILS_FORCES compris)")
    seuil_fiche: float = Field(description="Seuil choisi à l'entraînement")
    variables: list[str]
    metriques: dict[str, Metrique]
    reference_article: dict[str, Union[float, str]] = Field(description="Résultats de Cortez & Silva (2008)")
    fiabilite: Optional[Fiabilite] = Field(default=None, description="Fiabilité d'une alerte au seuil servi, en "
                                                                     "français courant (celle de la page /classe)")


class DonneesEntrainement(Reponse):
    fichier: str
    sha256: str
    lignes: int
    classes: dict[str, int]
    cible: str


class FicheModele(Reponse):
    model_version: str
    sha256: str = Field(description="Empreinte du fichier du modèle, vérifiée au démarrage")
    date_entrainement: str
    donnees: DonneesEntrainement
    protocole: dict[str, Any] = Field(description="Répétitions, plis, graine et règles du protocole d'entraînement")
    versions: dict[str, str] = Field(description="Versions des bibliothèques de l'entraînement")
    configurations: dict[str, ConfigurationServie] = Field(description="A, B et C")


class DocumentOpenApi(Reponse):
    openapi: str
    info: dict[str, Any]
    tags: list[dict[str, Any]]
    paths: dict[str, Any]
    components: dict[str, Any]


NiveauDerive = enumeration("NiveauDerive", ("stable", "moderee", "forte", "inconnu"),
                           "Niveau de dérive d'après le PSI (inconnu : aucune donnée)")


class DeriveVariable(Reponse):
    """Dérive d'une variable : PSI des dernières prédictions contre l'entraînement (``app.modele.derive``)."""
    n: int = Field(ge=0, description="Prédictions où la variable est connue")
    psi: Optional[float] = Field(description="Indice de stabilité de population (None sans donnée)")
    niveau: NiveauDerive
    psi_hasard: Optional[float] = Field(description="PSI attendu du seul hasard à ces effectifs")


class TauxAlerte(Reponse):
    """Taux d'alerte « échec » d'une configuration, comparé à celui de l'entraînement."""
    n: int = Field(ge=1)
    taux_alerte: float = Field(ge=0, le=1)
    ic95: list[float] = Field(min_length=2, max_length=2, description="Intervalle de Wilson à 95 %")
    taux_alerte_reference: float = Field(ge=0, le=1)
    ecart: bool = Field(description="Vrai quand le taux de référence sort de l'intervalle observé")
    psi_probabilite: Optional[float]
    niveau_probabilite: NiveauDerive


class SeuilsPsi(Reponse):
    moderee: float
    forte: float


class ReferenceDerive(Reponse):
    """D'où vient la référence (``code/reference_derive.json``)."""
    fichier: str
    sha256: str
    version_modele: str
    predictions: str = Field(description="Comment les probabilités de référence ont été obtenues")
    eleves: int = Field(ge=1)


class Derive(Reponse):
    """``GET /derive`` : agrégats seulement, aucune valeur d'élève."""
    derniers: int = Field(description="Prédictions demandées")
    lignes_ignorees: int = Field(ge=0, description="Lignes du journal illisibles, sautées")
    reference: ReferenceDerive
    n: int = Field(ge=0, description="Prédictions comparées")
    seuils_psi: SeuilsPsi
    variables: dict[str, DeriveVariable]
    derivees: list[str] = Field(description="Variables en dérive modérée ou forte, de la plus forte à la moins forte")
    taux_echec_predit: dict[str, TauxAlerte] = Field(description="Par configuration (A, B, C) présente")
    avertissements: list[str]


_POSITION = ("Numéro de la ligne dans le fichier CSV (en-tête = ligne 1, lignes vides comptées), ou position "
             "dans la liste JSON (à partir de 0)")
_SUPPLEMENTAIRES = ("Colonnes (ou clés JSON) hors schéma de cet élève, p. ex. son nom ou son numéro, renvoyées "
                    "telles quelles ; jamais conservées (ni base, ni journal)")


class ResultatLotPartiel(Resultat):
    model_config = ConfigDict(extra="forbid", title="ResultatLotPartiel")
    request_id: str = Field(description="<X-Request-ID du lot>-<rang>, rang de l'élève parmi les élèves reçus "
                                        "(à partir de 1, lignes refusées comprises)")
    position: int = Field(ge=0, description=_POSITION)
    supplementaires: dict[str, Any] = Field(description=_SUPPLEMENTAIRES)


class RejetLot(Reponse):
    position: int = Field(ge=0, description=_POSITION)
    supplementaires: dict[str, Any] = Field(description=_SUPPLEMENTAIRES + " ; vide si la ligne n'a pas le "
                                                                          "nombre de colonnes de l'en-tête")
    problemes: list[DetailErreur] = Field(description="Chaque problème : champ (ou « (ligne) », « (élément) ») "
                                                      "et règle, en français")


class ReponseLotPartielle(Reponse):
    resultats: list[ResultatLotPartiel] = Field(description="Une prédiction par élève valide, dans l'ordre reçu")
    rejets: list[RejetLot] = Field(description="Les lignes (ou éléments) invalides, non prédites ni conservées")
    nombre: int = Field(ge=0, description="Élèves prédits et conservés")
    recus: int = Field(ge=1, description="Élèves reçus (prédits + refusés)")
    colonnes_supplementaires: list[str] = Field(description="Colonnes hors schéma gardées, dans l'ordre reçu")
    request_id: str
    model_version: str
    inference_time_ms: float = Field(ge=0, description="Validation et prédiction du lot entier")
    lecture: Optional[dict[str, Any]] = Field(default=None, description=(
        "CSV seulement : encodage lu (UTF-8, UTF-8 avec BOM, UTF-16, Windows-1252), séparateur, en-têtes "
        "français traduits en noms UCI, présence de G3"))
    derive_classe: Optional[dict[str, Any]] = Field(default=None, description=(
        "Variables dont la distribution diffère nettement de l'entraînement (PSI de GET /derive, niveau forte, "
        "au-delà de deux fois le hasard)"))
    verification: Optional[dict[str, Any]] = Field(default=None, description=(
        "Fichier avec G3 (classe de l'an passé) : par configuration, échecs repérés, manqués, fausses alertes "
        "au seuil servi, AUC, seuils proposés pour 80 % de rappel (calcul de make recalibrer) ; G3 n'entre "
        "jamais dans le modèle et n'est pas conservée"))


DEMANDES = (DemandePrediction, DemandeHistorique, DemandeEffacement)
"""Les corps de requête : leur schéma dit ce que le serveur accepte (mode « validation ») ; tous les autres
modèles sont des réponses (mode « serialization »)."""

MODELES = (Eleve, DemandePrediction, Facteur, Resultat, ReponsePrediction, ReponsePretraitement, ReponseLot, PredictionConservee, Pagination,
           Historique, Effacement, Fiabilite, DetailErreur, Erreur, Accueil, Sante, Disponibilite, FicheModele, DocumentOpenApi,
           Derive, ResultatLotPartiel, RejetLot, ReponseLotPartielle, DemandeHistorique, DemandeEffacement,
           JournalAcces)

"""Les artefacts du modèle sur disque : écriture atomique, empreintes, chargement vérifié.

Aucun pickle (ni le modèle, ni ``features.pkl``) n'est désérialisé avant que son sha256 ait été
comparé à l'empreinte ancrée dans le code (``app.modele.empreintes_modele``, ou la configuration) et
non à la fiche qui l'accompagne : un fichier altéré ou remplacé, même avec sa fiche, n'exécute aucun
code. Les octets vérifiés sont ceux désérialisés (lus une fois).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from app.modele.schema import CONFIGURATIONS

NOM_MODELE = "modele_trees.pkl"
NOM_VARIABLES = "features.pkl"
NOM_FICHE = "model_card.json"
NOM_FICHE_MD = "model_card.md"
FORMAT = 1
CHEMIN_EMPREINTES = Path(__file__).with_name("empreintes_modele.py")


class ErreurArtefacts(RuntimeError):
    """Les artefacts manquent, sont altérés ou ne correspondent pas au schéma."""


def sha256_octets(octets: bytes) -> str:
    return hashlib.sha256(octets).hexdigest()


def sha256_fichier(chemin: str | Path) -> str:
    empreinte = hashlib.sha256()
    with open(chemin, "rb") as fichier:
        for bloc in iter(lambda: fichier.read(1 << 20), b""):
            empreinte.update(bloc)
    return empreinte.hexdigest()


def serialiser(objet: Any) -> bytes:
    import joblib  # seulement à l'écriture et au chargement du pickle : pas dans l'image de service

    tampon = io.BytesIO()
    joblib.dump(objet, tampon, compress=3)
    return tampon.getvalue()


def ecrire_ensemble(dossier: str | Path, fichiers: dict[str, bytes]) -> None:
    """Écrit chaque fichier dans un temporaire du même dossier, puis les renomme tous.

    Tant qu'un seul temporaire n'a pas pu être écrit, aucun artefact existant n'est touché.
    """
    dossier = Path(dossier)
    dossier.mkdir(parents=True, exist_ok=True)
    temporaires: dict[str, str] = {}
    try:
        for nom, octets in fichiers.items():
            descripteur, temporaire = tempfile.mkstemp(dir=dossier, prefix=f".{nom}.", suffix=".tmp")
            temporaires[nom] = temporaire
            with os.fdopen(descripteur, "wb") as sortie:
                sortie.write(octets)
                sortie.flush()
                os.fsync(sortie.fileno())
            os.chmod(temporaire, 0o644)
        for nom, temporaire in temporaires.items():
            os.replace(temporaire, dossier / nom)
    finally:
        for temporaire in temporaires.values():
            if os.path.exists(temporaire):
                os.unlink(temporaire)


def version_scikit_learn() -> str:
    """La version installée, lue dans les métadonnées du paquet : sans importer scikit-learn (1,5 s)."""
    return metadata.version("scikit-learn")


@dataclass(eq=False)
class Artefacts:
    """Les artefacts vérifiés. ``modele`` (le pickle) n'est désérialisé qu'au premier accès quand
    ``differe`` est vrai : le service qui a un cache compilé valide n'en a pas besoin."""

    fiche: dict
    sha256: str
    sha256_variables: str
    variables: dict[str, list[str]]
    chemin_modele: Path
    chemin_variables: Path
    _modele: dict | None = None
    _verrou: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def modele(self) -> dict:
        """``{"format", "configurations": {config: {"pipeline", "seuil", "variables", ...}}}``"""
        if self._modele is None:
            with self._verrou:
                if self._modele is None:
                    self._modele = _charger_modele(self.chemin_modele, self.chemin_variables, self.fiche,
                                                   self.sha256, self.sha256_variables)
        return self._modele

    def seuil(self, configuration: str) -> float:
        """Le seuil de la fiche (vérifié égal à celui du modèle au chargement du pickle)."""
        return float(self.fiche["configurations"][configuration]["seuil"])

    def fiabilite(self, configuration: str) -> dict:
        """Les chiffres de fiabilité de la fiche pour une configuration (exactitude, précision, rappel, F1,
        moyenne et IC 95 %, à 0,5 et au seuil) : ``GET /modele`` et le ``resume.json`` de ``app.lot``."""
        return self.fiche["configurations"][configuration]["evaluation"]["metriques"]


def empreintes_ancrees() -> tuple[str, str]:
    """(sha256 du modèle, sha256 de features.pkl) ancrés dans le code."""
    from app.modele import empreintes_modele

    return empreintes_modele.SHA256_MODELE, empreintes_modele.SHA256_VARIABLES


def texte_empreintes(sha256_modele: str, sha256_variables: str) -> str:
    """Le module ``empreintes_modele.py`` que la commande d'entraînement écrit (même docstring)."""
    from app.modele import empreintes_modele

    return f'"""{empreintes_modele.__doc__}"""\n\nSHA256_MODELE = "{sha256_modele}"\nSHA256_VARIABLES = "{sha256_variables}"\n'


def _verifier_empreinte(chemin: Path, attendu: str, quoi: str) -> bytes:
    """Les octets du fichier, lus une fois, si leur sha256 est celui attendu ; sinon ErreurArtefacts."""
    octets = chemin.read_bytes()
    obtenu = sha256_octets(octets)
    if obtenu != attendu:
        raise ErreurArtefacts(
            f"{quoi} {chemin} a été modifié ou n'est pas celui attendu : sha256 {obtenu[:16]}… au lieu de "
            f"{str(attendu)[:16]}… (empreinte ancrée dans app/modele/empreintes_modele.py, ou MODELE_SHA256 / "
            "VARIABLES_SHA256) ; il n'a pas été chargé"
        )
    return octets


def charger(dossier: str | Path | None = None, *, modele: str | Path | None = None,
            variables: str | Path | None = None, fiche: str | Path | None = None,
            differe: bool = False, empreintes: tuple[str, str] | None = None) -> Artefacts:
    """Charge et vérifie les artefacts ; lève ``ErreurArtefacts`` avec un message clair sinon.

    ``empreintes`` : (sha256 du modèle, sha256 de features.pkl) attendus, ceux ancrés dans le code
    par défaut. Fiche et sha256 des deux pickles sont toujours vérifiés ici ; la version de scikit-learn l'est avant
    toute désérialisation (l'image de service n'en a pas besoin : elle sert le modèle compilé). Le pickle est
    désérialisé (et son contenu vérifié) tout de suite, sauf avec ``differe=True`` : au premier
    accès à ``modele`` (le service, quand le cache compilé manque ou qu'une configuration n'est
    pas compilable).
    """
    dossier = Path(dossier) if dossier else None
    chemin_modele = Path(modele) if modele else dossier / NOM_MODELE
    chemin_variables = Path(variables) if variables else chemin_modele.with_name(NOM_VARIABLES)
    chemin_fiche = Path(fiche) if fiche else chemin_modele.with_name(NOM_FICHE)
    for chemin in (chemin_modele, chemin_variables, chemin_fiche):
        if not chemin.is_file():
            raise ErreurArtefacts(f"artefact introuvable : {chemin} (lancez l'entraînement : make entrainer)")
    try:
        contenu_fiche = json.loads(chemin_fiche.read_text(encoding="utf-8"))
    except ValueError as erreur:
        raise ErreurArtefacts(f"fiche du modèle illisible : {chemin_fiche} ({erreur})") from None
    sha_modele, sha_variables = empreintes or empreintes_ancrees()
    _verifier_empreinte(chemin_modele, sha_modele, "le modèle")
    _verifier_empreinte(chemin_variables, sha_variables, "la liste des variables")
    if contenu_fiche.get("sha256_modele") != sha_modele:
        raise ErreurArtefacts(f"la fiche {chemin_fiche} décrit un autre modèle que {chemin_modele} "
                              "(sha256_modele différent) : il n'a pas été chargé")
    charges = Artefacts(fiche=contenu_fiche, sha256=sha_modele, sha256_variables=sha_variables,
                        variables={c: list(v) for c, v in CONFIGURATIONS.items()},
                        chemin_modele=chemin_modele, chemin_variables=chemin_variables)
    if not differe:
        charges.modele  # noqa: B018 — désérialise et vérifie maintenant
    return charges


def _verifier_scikit_learn(contenu_fiche: dict) -> None:
    """Un pickle ne se relit qu'avec le scikit-learn qui l'a écrit. L'image de service n'en a pas :
    elle sert le modèle compilé à sa construction et ne désérialise jamais le pickle."""
    version_entrainement = contenu_fiche.get("versions", {}).get("scikit-learn")
    try:
        installee = version_scikit_learn()
    except metadata.PackageNotFoundError:
        raise ErreurArtefacts(
            "scikit-learn n'est pas installé : le modèle compilé (code/modele_compile.npz) manque ou ne "
            "correspond pas au modèle ; construisez-le avec scikit-learn (make compiler, ou docker build)"
        ) from None
    if version_entrainement != installee:
        raise ErreurArtefacts(
            f"le modèle a été entraîné avec scikit-learn {version_entrainement} mais "
            f"scikit-learn {installee} est installé : installez la version de "
            "requirements-entrainement.txt ou réentraînez le modèle"
        )


def _charger_modele(chemin_modele: Path, chemin_variables: Path, contenu_fiche: dict, sha256: str,
                    sha256_variables: str) -> dict:
    """Désérialise les deux pickles, chacun depuis les octets mêmes dont le sha256 vient d'être vérifié
    (un fichier remplacé entre la vérification et la lecture n'est jamais désérialisé), puis vérifie
    leur contenu contre le schéma et la fiche."""
    octets_modele = _verifier_empreinte(chemin_modele, sha256, "le modèle")
    octets_variables = _verifier_empreinte(chemin_variables, sha256_variables, "la liste des variables")
    _verifier_scikit_learn(contenu_fiche)
    import joblib

    contenu_modele = joblib.load(io.BytesIO(octets_modele))
    contenu_variables = joblib.load(io.BytesIO(octets_variables))
    attendues = {c: list(v) for c, v in CONFIGURATIONS.items()}
    if contenu_variables != attendues:
        raise ErreurArtefacts(
            f"{chemin_variables} ne correspond pas au schéma de l'API "
            "(variables de chaque configuration) : réentraînez le modèle"
        )
    if contenu_modele.get("format") != FORMAT or set(contenu_modele.get("configurations", {})) != set(attendues):
        raise ErreurArtefacts(f"{chemin_modele} n'a pas le format attendu (format {FORMAT}, configurations A, B, C)")
    for configuration, entree in contenu_modele["configurations"].items():
        if list(entree["variables"]) != attendues[configuration]:
            raise ErreurArtefacts(f"configuration {configuration} : variables du modèle différentes du schéma")
        seuil_fiche = contenu_fiche["configurations"][configuration]["seuil"]
        if abs(seuil_fiche - entree["seuil"]) > 1e-12:
            raise ErreurArtefacts(f"configuration {configuration} : seuil de la fiche différent du modèle")
    return contenu_modele


def json_lisible(contenu: Any) -> str:
    return json.dumps(contenu, ensure_ascii=False, indent=2, sort_keys=False, default=float)

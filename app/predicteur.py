"""Le prédicteur : d'un élève validé à la prédiction expliquée. Ne connaît rien de Flask."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.artefacts import Artefacts
from app.explication import Explicateur
from app.pipeline import CLASSE_ECHEC, en_tableau, probabilite_echec
from app.schema import DESCRIPTION_CONFIGURATIONS, Eleve, configuration_pour

LIBELLES = {CLASSE_ECHEC: "échec", 1 - CLASSE_ECHEC: "réussite"}


@dataclass(frozen=True)
class Prediction:
    configuration: str
    prediction: int
    libelle: str
    probabilite_echec: float
    probabilite_reussite: float
    confiance_prediction: float
    seuil: float
    explication: list[dict]
    avertissements: list[str] = field(default_factory=list)


def confiance(p_echec: float, seuil: float) -> float:
    """Distance au seuil, ramenée à [0, 1] : 0 sur le seuil, 1 à la certitude (0 ou 1)."""
    if p_echec >= seuil:
        return (p_echec - seuil) / (1.0 - seuil) if seuil < 1.0 else 1.0
    return (seuil - p_echec) / seuil


class Predicteur:
    """Sert les trois configurations du modèle, chacune avec son seuil."""

    def __init__(self, artefacts: Artefacts, seuils_forces: dict[str, float] | None = None):
        self.version = artefacts.fiche["version_modele"]
        self.sha256 = artefacts.sha256
        self._configurations = artefacts.modele["configurations"]
        self.seuils = {c: float((seuils_forces or {}).get(c, e["seuil"])) for c, e in self._configurations.items()}
        self._explicateurs = {c: Explicateur(e["pipeline"]) for c, e in self._configurations.items()}

    def predire(self, eleve: Eleve) -> Prediction:
        configuration = configuration_pour(eleve)
        avertissements = []
        if eleve.G2 is not None and eleve.G1 is None:
            avertissements.append(
                "G2 sans G1 : aucune configuration n'utilise G2 seul, la note G2 a été ignorée "
                "(configuration C, sans note)"
            )
        elif configuration != "A":
            avertissements.append(
                f"configuration {configuration} ({DESCRIPTION_CONFIGURATIONS[configuration]})"
            )
        valeurs = eleve.model_dump()
        entree = self._configurations[configuration]
        pipeline = entree["pipeline"]
        tableau = en_tableau([valeurs], configuration)
        p_echec = float(probabilite_echec(pipeline, tableau)[0])
        seuil = self.seuils[configuration]
        classe = CLASSE_ECHEC if p_echec >= seuil else 1 - CLASSE_ECHEC
        transforme = pipeline[:-1].transform(tableau)[0]
        return Prediction(
            configuration=configuration,
            prediction=classe,
            libelle=LIBELLES[classe],
            probabilite_echec=p_echec,
            probabilite_reussite=1.0 - p_echec,
            confiance_prediction=confiance(p_echec, seuil),
            seuil=seuil,
            explication=self._explicateurs[configuration].expliquer(transforme, valeurs),
            avertissements=avertissements,
        )

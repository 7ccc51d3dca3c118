"""Les textes des refus du stockage, communs à l'API HTTP (``app.web.erreurs``) et au serveur gRPC
(``app.rpc.service``) : chaque point d'entrée n'y ajoute que son code (409/503, ALREADY_EXISTS/UNAVAILABLE)
et le nom de son identifiant de requête."""

from __future__ import annotations

from app.stockage.journal import ErreurJournal

DOUBLON = "déjà utilisé par une prédiction conservée"
PREDICTION_NON_SERVIE = "la prédiction n'a pas été servie pour ne pas être perdue"
"""Ce qu'un refus du stockage laisse d'une prédiction unique (HTTP ``/predire``, gRPC ``Predire``)."""


def message_doublon(request_id: str, consigne: str) -> str:
    """409 : ``consigne`` dit quoi renvoyer, selon le point d'entrée (« un X-Request-ID nouveau, ou aucun »)."""
    return f"request_id déjà enregistré ({request_id}) : envoyez {consigne} pour qu'il soit généré"


def message_indisponible(erreur: Exception, consequence: str) -> str:
    """503 : journal ou base indisponible, et ce que le client doit en conclure (``consequence``)."""
    if isinstance(erreur, ErreurJournal):
        return f"le journal des requêtes ne peut pas être écrit : {consequence} ({erreur.strerror})"
    return f"{erreur} ; {consequence}"

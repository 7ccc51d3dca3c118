"""Contre-épreuve du banc d'essai : l'application de production sans sa conservation.

``gunicorn -c gunicorn.conf.py outils.appli_sans_conservation:app`` sert exactement ``app.wsgi:app``
(chemin direct, validation, prédiction, explication, métriques, en-têtes), à une différence près :
``Conservation.conserver`` ne fait rien — ni ligne au journal, ni insertion en base. La différence de
débit et de CPU par requête avec ``/predire`` mesure, dans la même exécution, ce que coûte le contrat
« journal d'abord » (ligne écrite avant la réponse, base alimentée derrière elle dans chaque worker).

Ne sert qu'à ``outils/banc_essai.py`` : une réponse 200 de cette application n'est conservée nulle part.
"""

from app.web.services import CLE
from app.wsgi import app


def _sans_conservation(enregistrements: list[dict], verifier_doublons: bool = False) -> None:
    """Rien n'est écrit : la mesure du coût de la conservation, jamais un service."""


app.extensions[CLE].conservation.conserver = _sans_conservation

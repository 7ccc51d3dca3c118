"""Les deux classes prédites (cible du modèle), sans dépendance : importables partout."""

CLASSE_ECHEC = 0
CLASSE_REUSSITE = 1

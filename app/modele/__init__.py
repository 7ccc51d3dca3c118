"""Le modèle : schéma des 32 champs, prédicteur, explication, artefacts vérifiés. Ne connaît rien de Flask."""

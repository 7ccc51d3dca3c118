"""Le stockage : journal des requêtes, magasin des résultats, et la conservation qui les tient d'accord.

Couche la plus basse : n'importe ni le modèle ni le web."""

"""Le serveur gRPC : second point d'entrée du même code et de la même image (``python -m app.rpc``).

Couche d'entrée au rang du web : elle importe ``modele`` et ``stockage`` (le noyau commun,
``app.modele.noyau``), jamais ``web`` ni ``entrainement``. Contrat : ``prediction.proto`` ; talons
versionnés (``outils.generer_talons``).
"""

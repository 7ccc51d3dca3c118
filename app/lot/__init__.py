"""La commande de lot : ``python -m app.lot ENTREE SORTIE`` note tous les fichiers de classes d'un dossier
(un district, un groupe d'établissements), sans serveur ni clic, avec la même image que l'API.

Point d'entrée au rang du web et du gRPC (``test/test_couches.py``) : il lit les fichiers par
``app.modele.lots`` (ceux que la page accepte), prédit par le chemin vectorisé de ``/predire/lot``
et conserve par le même noyau (journal, puis base ; canal ``lot``).
"""

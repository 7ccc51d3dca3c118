"""Les blueprints de l'API : ils lisent la requête, appellent le prédicteur, mettent en forme."""

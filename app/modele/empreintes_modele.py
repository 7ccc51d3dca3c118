"""Empreintes sha256 attendues des artefacts livrés (``code/``), ancrées dans le code et non à côté
des artefacts : remplacer le dossier ``code/`` (pickle, features.pkl, fiche et modèle compilé ensemble)
ne les change pas, et rien n'est désérialisé dont l'empreinte diffère.

Écrit par ``python -m app.entrainement`` quand il écrit dans ``code/`` (ne pas modifier à la main) ;
``MODELE_SHA256`` et ``VARIABLES_SHA256`` les remplacent pour servir d'autres artefacts.
"""

SHA256_MODELE = "f24ed0ae8859e2d6f126a997c2f6b266213b077dd15e5eeb611b315b90aa6ab9"
SHA256_VARIABLES = "a10b18a5ded990e81c9ffa5a391455ac65b5ebc6b2b65da7a88902b75855f8d9"

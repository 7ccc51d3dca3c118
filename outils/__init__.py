"""Outils hors du service : banc d'essai (``python -m outils.banc_essai``)."""

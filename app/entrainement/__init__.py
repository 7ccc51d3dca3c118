"""L'entraînement : du fichier UCI aux artefacts de ``code/``. Jamais importé par le service."""

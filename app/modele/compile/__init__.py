"""Le modèle compilé en tableaux numpy : évaluation sans scikit-learn, cache .npz, compilateur."""

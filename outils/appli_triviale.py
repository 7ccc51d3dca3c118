"""Référence du banc d'essai : la route Flask la plus simple qui lit le même corps que ``/predire``.

``POST /predire`` lit et analyse le corps JSON (``request.get_json()``) et renvoie un petit objet JSON,
sans validation, modèle, journal ni base. Servie par **la même configuration gunicorn** que l'API
(mêmes workers, même classe de worker, mêmes fils) en remplaçant l'application sur la ligne de
commande : ``gunicorn -c gunicorn.conf.py outils.appli_triviale:app``. Les crochets de
``gunicorn.conf.py`` lisent ``worker.wsgi.extensions`` : une application Flask en a (vide ici).
Ne sert qu'à ``outils/banc_essai.py``.
"""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/predire")
def predire():
    corps = request.get_json()
    return jsonify({"recu": len(corps), "statut": "ok"})

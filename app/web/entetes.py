"""En-têtes de sécurité posés sur chaque réponse de l'application (``fabrique``, after_request).

- ``X-Content-Type-Options: nosniff`` partout : un navigateur ne devine jamais un autre type que celui annoncé ;
- ``Cache-Control: no-store`` partout sauf sur les fichiers statiques de ``/docs`` : prédictions, lots et
  historiques sont des données personnelles d'élèves mineurs, qu'aucun cache (navigateur, mandataire) ne
  doit garder ; les autres réponses sont petites et ne gagneraient rien à être gardées ;
- ``Content-Security-Policy`` : sur les pages (``/docs`` ; ``/classe`` pose la sienne), scripts et styles de l'application seulement (plus
  aucun script en ligne : ``static/docs.js``), requêtes vers l'API elle-même ; sur le JSON, rien du tout ;
- ``Referrer-Policy: no-referrer`` : une URL de l'API (qui peut porter un user_id) ne fuit pas ailleurs.

L'en-tête ``Server`` de gunicorn est retiré par le travailleur (``app.web.travailleur``).
"""

from __future__ import annotations

from flask import Response, request

CSP_PAGES = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
             "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
CSP_API = "default-src 'none'; frame-ancestors 'none'"


def poser(reponse: Response) -> Response:
    entetes = reponse.headers
    entetes["X-Content-Type-Options"] = "nosniff"
    entetes["Referrer-Policy"] = "no-referrer"
    # Une page qui pose sa propre politique (``/classe``) la garde ; les autres reçoivent celle de leur type.
    entetes.setdefault("Content-Security-Policy", CSP_PAGES if reponse.mimetype == "text/html" else CSP_API)
    if request.endpoint != "static":
        entetes["Cache-Control"] = "no-store"
    return reponse


ENTETES_JSON = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                ("Content-Security-Policy", CSP_API), ("Cache-Control", "no-store"))
"""Ce que ``poser`` ajoute à une réponse JSON d'une route de l'API, dans son ordre : le chemin direct de
``/predire`` (``app.web.chemin_direct``) l'envoie tel quel."""

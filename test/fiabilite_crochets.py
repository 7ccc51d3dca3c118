"""Vérification ajoutée à schemathesis (``SCHEMATHESIS_HOOKS=test.fiabilite_crochets``).

Chaque réponse d'erreur est du JSON ``{"erreur": "…", "details": [...]}``, et aucune n'est
un 5xx — sauf 503, statut documenté quand le journal ou la base manquent (le test de fuzzing
les garde joignables : un 503 y serait donc aussi un échec, vérifié à part).
"""

import json

import schemathesis


@schemathesis.check
def erreur_en_json(ctx, response, case):
    if response.status_code < 400:
        return None
    assert response.status_code < 500, f"erreur serveur {response.status_code}"
    type_contenu = response.headers.get("content-type", [""])
    type_contenu = type_contenu[0] if isinstance(type_contenu, list) else type_contenu
    assert type_contenu.startswith("application/json"), f"erreur {response.status_code} sans JSON : {type_contenu!r}"
    corps = json.loads(response.content)
    assert isinstance(corps, dict) and isinstance(corps.get("erreur"), str) and corps["erreur"], \
        f"erreur {response.status_code} sans champ « erreur »"
    assert isinstance(corps.get("details"), list), f"erreur {response.status_code} sans « details »"
    return None


@schemathesis.hook
def filter_query(ctx, query):
    """Pas de chaîne de requête plus longue que ce que gunicorn accepte sur sa ligne de requête (4094
    octets : au-delà, gunicorn répond lui-même 414 en HTML, avant Flask). Ce refus de gunicorn est
    éprouvé à part (``test_entrees_hostiles_4xx_memoire_bornee``) ; le fuzzing vise l'application."""
    from urllib.parse import urlencode

    return query is None or len(urlencode(query, doseq=True)) < 3000

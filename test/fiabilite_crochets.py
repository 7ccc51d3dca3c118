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

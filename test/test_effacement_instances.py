"""L'effacement atteint le journal de chaque instance : deux serveurs gunicorn (journaux distincts, comme
deux instances Cloud Run) sur une même base PostgreSQL réelle, et une troisième arrêtée pendant
l'effacement, qui l'applique en redémarrant."""

from __future__ import annotations

import json
import time

import requests

from app.stockage.enregistrement import empreinte_utilisateur
from test.conftest import contenu_journal

JETON = "jeton-instances-" + "z" * 40
ENTETE = {"Authorization": f"Bearer {JETON}"}


def _user_ids(chemin) -> list[str]:
    return [json.loads(ligne).get("user_id") for ligne in contenu_journal(chemin).splitlines()]


def test_effacement_sur_une_instance_retire_les_lignes_des_autres(demarrer_serveur, base_postgresql, exemple,
                                                                   mesurer):
    env = {"API_TOKEN": JETON, "DATABASE_URL": base_postgresql}
    a, b = (demarrer_serveur(workers=2, env=env).attendre() for _ in range(2))
    c = demarrer_serveur(workers=1, env=env).attendre()
    for serveur in (a, b, c):
        for user_id in ("eleve-efface", "eleve-garde"):
            reponse = requests.post(serveur.url + "/predire", json={**exemple, "user_id": user_id}, timeout=10)
            assert reponse.status_code == 200
    assert c.arreter() < 15  # l'instance C est arrêtée pendant l'effacement
    debut = time.monotonic()
    effacement = requests.delete(a.url + "/predictions/user/eleve-efface", headers=ENTETE, timeout=30)
    assert effacement.status_code == 200 and effacement.json()["supprimees"] == 3
    assert _user_ids(a.journal) == ["eleve-garde"]  # l'instance qui reçoit l'effacement : tout de suite
    while "eleve-efface" in _user_ids(b.journal) and time.monotonic() - debut < 30:
        time.sleep(0.05)
    delai = time.monotonic() - debut
    assert _user_ids(b.journal) == ["eleve-garde"], "l'effacement n'a pas atteint l'autre instance"
    mesurer("effacement → lignes retirées du journal d'une autre instance", f"{delai:.2f} s (cible : 5 s)")
    # L'instance arrêtée garde la ligne tant qu'elle est arrêtée, et l'applique en redémarrant, avant de servir.
    assert "eleve-efface" in _user_ids(c.journal)
    relancee = demarrer_serveur(workers=1, env={**env, "JOURNAL_CHEMIN": str(c.journal)}).attendre()
    assert _user_ids(relancee.journal) == ["eleve-garde"]
    # Le registre ne garde que l'empreinte : le user_id effacé n'est nulle part dans la base.
    from sqlalchemy import create_engine, text

    moteur = create_engine(base_postgresql)
    with moteur.connect() as connexion:
        empreintes = connexion.execute(text("SELECT empreinte FROM effacements")).scalars().all()
        restants = connexion.execute(text("SELECT count(*) FROM predictions WHERE user_id = 'eleve-efface'")).scalar()
    moteur.dispose()
    assert empreintes == [empreinte_utilisateur("eleve-efface")] and restants == 0
    # Les autres élèves sont intacts partout.
    historique = requests.get(b.url + "/predictions/user/eleve-garde", headers=ENTETE, timeout=10).json()
    assert historique["pagination"]["total"] == 3

"""Le journal en segments sous un vrai gunicorn : le suiveur du journal met chaque ligne en base une fois et la vide à SIGTERM, borne de Cloud Run
(les segments confirmés quittent le disque ; au-delà de la borne, 503 et rien de servi). Seuls des
nombres sont affichés, jamais le contenu du journal ni de la base."""

from __future__ import annotations

import re
import time

import requests

from app.stockage.journal import JournalRequetes
from test.conftest import contenu_journal, enregistrement, ids_en_base, port_libre

SEGMENT = "8Kio"


def _predire(serveur, exemple, nombre: int, user_id: str = "eleve-seg") -> list:
    return [requests.post(serveur.url + "/predire", json={**exemple, "user_id": user_id}, timeout=10)
            for _ in range(nombre)]


def _suiveur(serveur) -> dict:
    return requests.get(serveur.url + "/ready", timeout=30).json()["verifications"]["alimentation"]["suiveur"]


def _attendre(condition, delai: float = 30.0) -> bool:
    fin = time.monotonic() + delai
    while time.monotonic() < fin:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_sigterm_reconcilie_le_journal_actif_et_les_segments_non_confirmes(demarrer_serveur, url_base, exemple,
                                                                            mesurer):
    serveur = demarrer_serveur(env={"DATABASE_URL": url_base, "JOURNAL_SEGMENT": SEGMENT}).attendre()
    # Le suiveur est lancé par le maître sans retarder les workers : ce qui est scellé avant son départ est
    # réconcilié, pas lu à la suite ; on l'attend pour compter ses lignes.
    assert _attendre(lambda: _suiveur(serveur)["actif"])
    assert all(r.status_code == 200 for r in _predire(serveur, exemple, 60))
    registre = JournalRequetes(serveur.journal)
    segments = registre.segments.lister()
    assert len(segments) >= 3
    # Le suiveur du journal confirme chaque segment scellé qu'il vient de mettre en base (noté dans l'index).
    assert _attendre(lambda: {s.name for s in segments} <= registre.segments_confirmes())
    # Ce qu'un worker tué (kill -9) laisserait : des lignes au journal actif, absentes de la base ; le suiveur
    # lit le journal à la suite, il les insère comme les autres.
    orphelines = [enregistrement("eleve-orphelin", exemple, i) for i in range(3)]
    registre.ecrire(orphelines)
    total = len(contenu_journal(serveur.journal).splitlines())
    assert _attendre(lambda: {e["request_id"] for e in orphelines} <= set(ids_en_base(url_base)))
    suiveur = _suiveur(serveur)
    assert suiveur["actif"] and suiveur["stockees"] == total  # chaque ligne insérée une fois, aucune relue
    assert serveur.arreter() < 10  # SIGTERM : sortie dans les 10 s de Cloud Run
    sortie = serveur.sortie.read_text(errors="replace")
    bilan = re.search(r"arrêt : le suiveur a mis en base tout le journal en ([\d.]+) s", sortie)
    assert bilan, sortie[-2000:]
    assert sorted(ids_en_base(url_base)) == sorted(e["request_id"] for e in
                                                  map(__import__("json").loads,
                                                      contenu_journal(serveur.journal).splitlines()))
    mesurer(f"SIGTERM, réconciliation bornée ({url_base.split(':')[0]})",
            f"{total} lignes au journal, chacune insérée une fois par le suiveur ; vidé à l'arrêt en "
            f"{bilan.group(1)} s")


def test_borne_les_segments_confirmes_quittent_le_disque(demarrer_serveur, base_postgresql, exemple, mesurer):
    borne = 512 * 1024  # 64 segments, comme 4 Mio sur 64 Mio sur Cloud Run (16) : la borne ne sert qu'en cas de retard
    serveur = demarrer_serveur(env={"DATABASE_URL": base_postgresql, "JOURNAL_SEGMENT": SEGMENT,
                                    "JOURNAL_BORNE": "512Kio"}).attendre()
    registre = JournalRequetes(serveur.journal)
    servies, refusees, plus_grande = [], 0, 0
    for _ in range(200):
        reponse = _predire(serveur, exemple, 1)[0]
        if reponse.status_code == 200:
            servies.append(reponse.json()["request_id"])
        else:
            assert reponse.status_code == 503 and "JOURNAL_BORNE" in reponse.json()["erreur"]
            refusees += 1
        plus_grande = max(plus_grande, registre.taille())
        time.sleep(0.01)
    # La borne est exacte (vérifiée sous le verrou des écrivains) ; la mesure d'ici, non atomique, peut compter
    # deux fois un segment scellé pendant qu'elle liste le dossier.
    assert plus_grande <= borne + 8 * 1024
    # Sans nouvelle prédiction, chaque segment scellé est confirmé en base puis retiré du disque.
    assert _attendre(lambda: not registre.segments.lister())
    # GET /metrics : la borne et la taille du journal de l'instance (relue au plus chaque seconde), pour alerter.
    metriques = requests.get(serveur.url + "/metrics", timeout=10).text
    valeurs = {ligne.split(" ")[0]: float(ligne.rsplit(" ", 1)[1]) for ligne in metriques.splitlines()
               if ligne.startswith("prediction_etudiante_journal_")}
    assert valeurs["prediction_etudiante_journal_borne_octets"] == borne
    assert 0 < valeurs["prediction_etudiante_journal_octets"] <= borne
    assert serveur.arreter() < 10
    assert set(servies) <= set(ids_en_base(base_postgresql))  # chaque 200 est en base
    mesurer("borne du journal (512 Kio, segments de 8 Kio)",
            f"{len(servies)} servies, {refusees} refusées (503) ; journal au plus {plus_grande / 1024:.0f} Kio ; "
            "segments retirés une fois en base")


def test_borne_atteinte_base_injoignable_503_sans_rien_servir(demarrer_serveur, exemple):
    injoignable = f"postgresql+psycopg://personne:secret@127.0.0.1:{port_libre()}/rien"
    serveur = demarrer_serveur(env={"DATABASE_URL": injoignable, "JOURNAL_SEGMENT": SEGMENT,
                                    "JOURNAL_BORNE": "32Kio"}).attendre()
    reponses = _predire(serveur, exemple, 120)
    codes = [r.status_code for r in reponses]
    assert 200 in codes and 503 in codes
    premier_refus = codes.index(503)
    assert set(codes[premier_refus:]) == {503}  # rien ne se libère : la base ne confirme rien
    erreur = reponses[premier_refus].json()["erreur"]
    assert "journal" in erreur and "plein" in erreur and "JOURNAL_BORNE" in erreur
    assert reponses[premier_refus].headers.get("Retry-After")
    pret = requests.get(serveur.url + "/ready", timeout=10)
    assert pret.status_code == 503 and "plein" in pret.text
    servies = [r.json()["request_id"] for r in reponses if r.status_code == 200]
    au_journal = [l for l in contenu_journal(serveur.journal).splitlines()]
    assert len(au_journal) == len(servies)  # chaque 200 au journal ; aucun 503 n'y est
    assert all(any(i in ligne for ligne in au_journal) for i in servies)

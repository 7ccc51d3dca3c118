"""``POST /predire/lot`` par HTTP, contre le vrai gunicorn : formats JSON et CSV, ordre, conservation, erreurs."""

import csv
import io
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.modele.eleves_aleatoires import eleves_aleatoires
from app.modele.lots import COLONNES_AJOUTEES, LOT_MAX
from app.modele.pipeline import probabilite_echec
from app.modele.schema import CONFIGURATIONS, Eleve, configuration_pour
from app.web.erreurs import ErreurRequete
from app.web.lots import PlacesLots

URL = "/predire/lot"
URL_CSV = "/predire/lot/csv"


def _attendues(artefacts, valeurs):
    """P(échec) du pipeline pour chaque élève, dans l'ordre, selon sa configuration."""
    from app.modele.pipeline import en_tableau

    configurations = [configuration_pour(Eleve.model_validate(v)) for v in valeurs]
    resultat = [None] * len(valeurs)
    for configuration in CONFIGURATIONS:
        positions = [i for i, c in enumerate(configurations) if c == configuration]
        if positions:
            pipeline = artefacts.modele["configurations"][configuration]["pipeline"]
            p = probabilite_echec(pipeline, en_tableau([valeurs[i] for i in positions], configuration))
            for i, valeur in zip(positions, p):
                resultat[i] = float(valeur)
    return configurations, resultat


def _lignes_du_lot(serveur, identifiant):
    return [l for l in serveur.lignes_journal() if l["request_id"].startswith(identifiant + "-")]


def test_liste_json_de_tout_le_fichier_dans_l_ordre_et_conservee(serveur, jeu, artefacts_livres):
    valeurs = jeu.X.to_dict(orient="records")
    for i in range(0, len(valeurs), 3):  # un tiers sans G2, un tiers sans notes : les trois configurations
        valeurs[i] = {**valeurs[i], "G2": None}
    for i in range(1, len(valeurs), 3):
        valeurs[i] = {k: v for k, v in valeurs[i].items() if k not in ("G1", "G2")}
    reponse = requests.post(serveur.url + URL, json=valeurs, headers={"X-Request-ID": "lot-fichier"}, timeout=120)
    assert reponse.status_code == 200, reponse.text
    corps = reponse.json()
    assert corps["nombre"] == len(valeurs) and corps["request_id"] == "lot-fichier"
    configurations, attendues = _attendues(artefacts_livres, valeurs)
    for rang, (resultat, configuration, attendue) in enumerate(zip(corps["resultats"], configurations, attendues), 1):
        assert resultat["request_id"] == f"lot-fichier-{rang}"
        assert resultat["configuration"] == configuration
        assert resultat["probabilite_echec"] == pytest.approx(attendue, abs=1e-12)
        assert resultat["prediction"] == (0 if attendue >= resultat["seuil"] else 1)
        assert resultat["age"] == valeurs[rang - 1]["age"]
    lignes = _lignes_du_lot(serveur, "lot-fichier")
    assert [l["request_id"] for l in lignes] == [f"lot-fichier-{i}" for i in range(1, len(valeurs) + 1)]
    relue = requests.get(serveur.url + "/predictions/lot-fichier-5", timeout=30)
    assert relue.status_code in (200, 403)  # 403 : historique fermé sans API_TOKEN (jamais 404 ni 500)


def _csv_uci(jeu, separateur=";", retirer=()):
    sortie = io.StringIO()
    colonnes = [c for c in jeu.X.columns if c not in retirer]
    redacteur = csv.writer(sortie, delimiter=separateur, lineterminator="\n")
    redacteur.writerow(colonnes)
    for ligne in jeu.X[colonnes].itertuples(index=False):
        redacteur.writerow(ligne)
    return sortie.getvalue(), colonnes


@pytest.mark.parametrize("separateur,retirer", [(";", ()), (",", ()), (";", ("G1", "G2"))])
def test_csv_en_entree_csv_en_sortie(serveur, jeu, artefacts_livres, separateur, retirer):
    texte, colonnes = _csv_uci(jeu, separateur, retirer)
    reponse = requests.post(serveur.url + URL_CSV, data=texte.encode(), headers={"Content-Type": "text/csv"}, timeout=120)
    assert reponse.status_code == 200, reponse.text
    assert reponse.headers["Content-Type"].startswith("text/csv")
    lignes = list(csv.reader(io.StringIO(reponse.text), delimiter=separateur))
    assert lignes[0] == [*colonnes, *COLONNES_AJOUTEES]
    assert len(lignes) == len(jeu.X) + 1
    valeurs = [{c: v for c, v in l.items() if c not in retirer} for l in jeu.X.to_dict(orient="records")]
    configurations, attendues = _attendues(artefacts_livres, valeurs)
    position = {c: i for i, c in enumerate(lignes[0])}
    for ligne, attendue, configuration, source in zip(lignes[1:], attendues, configurations, valeurs):
        assert float(ligne[position["probabilite_echec"]]) == pytest.approx(attendue, abs=1e-12)
        assert ligne[position["configuration"]] == configuration
        assert ligne[position["school"]] == source["school"] and int(ligne[position["absences"]]) == source["absences"]


def test_erreurs_de_lot(serveur, exemple):
    avant = len(serveur.lignes_journal())
    vide = requests.post(serveur.url + URL, json=[], timeout=30)
    assert vide.status_code == 400 and "vide" in vide.json()["erreur"]
    objet = requests.post(serveur.url + URL, json=exemple, timeout=30)
    assert objet.status_code == 400 and "liste" in objet.json()["erreur"]
    trop = requests.post(serveur.url + URL, json=[exemple] * (LOT_MAX + 1), timeout=120)
    assert trop.status_code == 400 and str(LOT_MAX) in trop.json()["erreur"]
    mauvaise = requests.post(serveur.url + URL, json=[exemple, {**exemple, "sex": "X"}, exemple, {**exemple, "age": 40}],
                             timeout=30)
    assert mauvaise.status_code == 400
    details = mauvaise.json()["details"]
    # Chaque problème nomme son élément à part, par son rang à partir de 1 (celui des request_id).
    assert [(d["element"], d["champ"]) for d in details] == [(2, "sex"), (4, "age")]
    assert "rien n'a été prédit" in mauvaise.json()["erreur"]
    texte = requests.post(serveur.url + URL, data=b"a,b", headers={"Content-Type": "text/plain"}, timeout=30)
    assert texte.status_code == 415 and "text/csv" in texte.json()["erreur"]
    json_au_csv = requests.post(serveur.url + URL_CSV, json=[exemple], timeout=30)
    assert json_au_csv.status_code == 415 and "/predire/lot" in json_au_csv.json()["erreur"]
    assert len(serveur.lignes_journal()) == avant  # rien de conservé


def test_erreurs_csv(serveur, jeu):
    texte, _ = _csv_uci(jeu)
    entete, *lignes = texte.splitlines()
    inconnue = requests.post(serveur.url + URL_CSV, data=(entete + ";remarque\n" + lignes[0] + ";x\n").encode(),
                             headers={"Content-Type": "text/csv"}, timeout=30)
    assert inconnue.status_code == 400
    assert inconnue.json()["details"][0]["champ"] == "remarque"
    note_finale = requests.post(serveur.url + URL_CSV, data=(entete + ";G3\n" + lignes[0] + ";12\n").encode(),
                                headers={"Content-Type": "text/csv"}, timeout=30)
    assert note_finale.status_code == 400 and note_finale.json()["details"][0]["champ"] == "G3"
    mauvaise = lignes[2].replace("GP", "XX", 1) if lignes[2].startswith("GP") else "XX" + lignes[2][2:]
    corps = "\n".join([entete, lignes[0], lignes[1], mauvaise, lignes[3]]) + "\n"
    refuse = requests.post(serveur.url + URL_CSV, data=corps.encode(), headers={"Content-Type": "text/csv"}, timeout=30)
    assert refuse.status_code == 400
    detail = refuse.json()["details"][0]
    assert (detail["element"], detail["champ"]) == (3, "school")  # 3e ligne d'élève
    assert "(ligne 4 du fichier)" in detail["message"]  # ligne 1 = en-tête
    # Les lignes vides sont sautées mais comptées : le numéro est celui que montre un éditeur.
    avec_vides = "\n".join([entete, "", lignes[0], " ", lignes[1], mauvaise]) + "\n"
    refuse = requests.post(serveur.url + URL_CSV, data=avec_vides.encode(), headers={"Content-Type": "text/csv"},
                           timeout=30)
    detail = refuse.json()["details"][0]
    assert refuse.status_code == 400 and (detail["element"], detail["champ"]) == (3, "school")
    assert "(ligne 6 du fichier)" in detail["message"]


def test_lecture_en_une_passe_ne_laisse_passer_que_ce_que_la_lecture_stricte_accepte(serveur, exemple):
    """Un lot JSON valide est lu et validé en une passe (``lot_direct``) ; tout ce qu'elle ne sait pas juger
    passe par la lecture stricte : une clé en double (collée ou non à ses deux-points), un NaN, sont refusés
    comme pour un élève seul ; un ``user_id`` avec « : » (seule valeur permise qui en contient) est servi."""
    avant = len(serveur.lignes_journal())
    corps = json.dumps([exemple, exemple])
    for double in (corps.replace('"age": ', '"age": 16, "age": ', 1), corps.replace('"age": ', '"age" : 16, "age":', 1)):
        reponse = requests.post(serveur.url + URL, data=double, headers={"Content-Type": "application/json"}, timeout=30)
        assert reponse.status_code == 400 and "double" in reponse.json()["erreur"], reponse.text
        assert reponse.json()["details"][0]["champ"] == "age"
    nan = json.dumps([exemple, {**exemple, "age": float("nan")}])  # json.dumps écrit NaN
    reponse = requests.post(serveur.url + URL, data=nan, headers={"Content-Type": "application/json"}, timeout=30)
    assert reponse.status_code == 400 and "NaN" in reponse.json()["erreur"], reponse.text
    assert len(serveur.lignes_journal()) == avant  # rien de conservé
    deux_points = [{**exemple, "user_id": "classe:3b-1"}, {**exemple, "user_id": "eleve-2"}]
    servis = {}
    for nom, lot in (("deux-points", deux_points), ("sans", [{**e, "user_id": f"eleve-{i}"} for i, e in enumerate(deux_points)])):
        reponse = requests.post(serveur.url + URL, json=lot, headers={"X-Request-ID": f"une-passe-{nom}"}, timeout=30)
        assert reponse.status_code == 200, reponse.text
        servis[nom] = [{k: v for k, v in r.items() if k not in ("request_id", "user_id")} for r in reponse.json()["resultats"]]
    assert servis["deux-points"] == servis["sans"]
    assert [l["user_id"] for l in _lignes_du_lot(serveur, "une-passe-deux-points")] == ["classe:3b-1", "eleve-2"]


def test_x_request_id_trop_long_refuse_avant_de_lire_le_corps(serveur):
    avant = len(serveur.lignes_journal())
    reponse = requests.post(serveur.url + URL, data=b"pas du JSON", headers={"X-Request-ID": "a" * 123,
                                                                             "Content-Type": "application/json"},
                            timeout=30)
    assert reponse.status_code == 400 and reponse.json()["details"][0]["champ"] == "X-Request-ID"
    assert len(serveur.lignes_journal()) == avant


def test_request_id_deja_utilise_409_sans_rien_conserver(serveur, exemple):
    entetes = {"X-Request-ID": "lot-doublon"}
    assert requests.post(serveur.url + URL, json=[exemple] * 3, headers=entetes, timeout=30).status_code == 200
    avant = len(serveur.lignes_journal())
    second = requests.post(serveur.url + URL, json=[exemple] * 5, headers=entetes, timeout=30)
    assert second.status_code == 409
    assert len(serveur.lignes_journal()) == avant


def test_limite_de_taille_propre_au_lot(serveur, exemple):
    eleves = eleves_aleatoires(400, graine=4)  # ~ 250 Kio : au-delà de TAILLE_MAX_CORPS (64 Kio) de /predire
    corps = json.dumps(eleves).encode()
    assert len(corps) > 64 * 1024
    assert requests.post(serveur.url + URL, data=corps, headers={"Content-Type": "application/json"},
                         timeout=60).status_code == 200
    seul = requests.post(serveur.url + "/predire", data=json.dumps({**exemple, "x": "y" * 70_000}).encode(),
                         headers={"Content-Type": "application/json"}, timeout=30)
    assert seul.status_code == 413


def test_erreur_avant_lecture_du_corps_recue_par_le_client(serveur):
    """Un lot refusé avant la lecture de son corps (ici : X-Request-ID trop long) : le client reçoit
    bien la réponse 400, même pour un gros corps et une connexion fermée après la réponse (le corps non
    lu est lu et jeté ; sinon la connexion est réinitialisée et le client ne voit qu'une erreur réseau)."""
    corps = json.dumps(eleves_aleatoires(10000, graine=9)).encode()
    requete = urllib.request.Request(serveur.url + URL, data=corps, headers={
        "Content-Type": "application/json", "X-Request-ID": "a" * 123, "Connection": "close"})
    with pytest.raises(urllib.error.HTTPError) as refus:
        urllib.request.urlopen(requete, timeout=60)
    assert refus.value.code == 400
    assert json.loads(refus.value.read())["details"][0]["champ"] == "X-Request-ID"


def test_places_de_lots_file_bornee_attente_puis_503_et_liberation():
    """Une place de traitement (``places=1``) : un 2e lot attend son tour et passe dès qu'elle se
    libère, ou reçoit 503 (Retry-After) au bout de l'attente ; un 3e, file pleine, reçoit 503 tout de
    suite ; une place se libère aussi quand le lot échoue."""
    def en_fil(places, issues, sortie=None):
        def lot():
            try:
                with places.une_place():
                    issues.append("servi")
            except ErreurRequete as erreur:
                issues.append((erreur.statut, erreur.message, erreur.entetes))
        fil = threading.Thread(target=lot)
        fil.start()
        attendre = time.monotonic() + 10
        while places._entree._value != sortie and time.monotonic() < attendre:  # le 2e lot est dans la file
            time.sleep(0.001)
        return fil

    # Le 2e lot attend, puis passe quand la place se libère.
    places, issues = PlacesLots(1, attente_s=10), []
    with places.une_place():
        fil = en_fil(places, issues, sortie=0)
        with pytest.raises(ErreurRequete) as plein:  # 3e lot : file pleine
            with places.une_place():
                pass
        assert plein.value.statut == 503 and "en attente" in plein.value.message
        assert plein.value.entetes == {"Retry-After": "5"}
    fil.join(10)
    assert issues == ["servi"]

    # Le 2e lot n'a pas de place à temps : 503.
    places, issues = PlacesLots(1, attente_s=0.05), []
    with places.une_place():
        en_fil(places, issues, sortie=0).join(10)
    assert issues[0][0] == 503 and "en cours" in issues[0][1] and issues[0][2] == {"Retry-After": "5"}

    with pytest.raises(ValueError):
        with places.une_place():
            raise ValueError("lot en échec")
    with places.une_place():  # libérée malgré l'échec (sinon : 503 après l'attente)
        pass


def test_lots_simultanes_file_bornee_503_puis_servis_au_nouvel_essai(demarrer_serveur):
    """LOTS_SIMULTANES=1, un worker : de six lots envoyés ensemble, un est traité, un attend son tour,
    les autres reçoivent 503 (Retry-After) sans rien conserver ; renvoyés, ils sont servis. Chaque lot
    servi est conservé en entier, une seule fois."""
    serveur = demarrer_serveur(workers=1, env={"LOTS_SIMULTANES": "1"}).attendre()
    taille = 5000
    corps = [json.dumps(eleves_aleatoires(taille, graine=20 + i)).encode() for i in range(6)]  # encodés d'avance

    def envoyer(rang):
        return requests.post(serveur.url + URL, data=corps[rang], timeout=120,
                             headers={"X-Request-ID": f"simultane-{rang}", "Content-Type": "application/json"})

    with ThreadPoolExecutor(len(corps)) as groupe:
        reponses = list(groupe.map(envoyer, range(len(corps))))
    statuts = [r.status_code for r in reponses]
    assert set(statuts) <= {200, 503} and statuts.count(200) >= 2 and 503 in statuts
    refuses = [rang for rang, r in enumerate(reponses) if r.status_code == 503]
    assert all(reponses[rang].headers["Retry-After"] == "5" for rang in refuses)
    servis = {l["request_id"].rsplit("-", 1)[0] for l in serveur.lignes_journal()}
    assert servis == {f"simultane-{rang}" for rang in range(len(corps)) if rang not in refuses}
    for rang in refuses:  # renvoyé plus tard : servi
        assert envoyer(rang).status_code == 200
    identifiants = [l["request_id"] for l in serveur.lignes_journal()]
    assert len(identifiants) == len(set(identifiants)) == taille * len(corps)


def test_csv_en_morceaux_au_dela_de_la_limite_413_jamais_tronque(demarrer_serveur, jeu):
    """Un CSV envoyé en morceaux (Transfer-Encoding: chunked, taille inconnue d'avance) qui dépasse
    TAILLE_MAX_LOT : 413, comme pour le JSON ; jamais le début du fichier prédit et conservé en silence."""
    serveur = demarrer_serveur(workers=1, env={"TAILLE_MAX_LOT": "2048"}).attendre()
    texte, _ = _csv_uci(jeu)
    lignes = texte.splitlines(keepends=True)[:61]  # ~ 5 Kio, au-delà des 2 Kio permis

    def morceaux():
        for ligne in lignes:
            yield ligne.encode()

    reponse = requests.post(serveur.url + URL_CSV, data=morceaux(), headers={"Content-Type": "text/csv"}, timeout=60)
    assert reponse.status_code == 413 and "volumineux" in reponse.json()["erreur"]
    assert serveur.lignes_journal() == []


def test_csv_fait_de_separateurs_seulement_400(serveur):
    for corps in (b";;;\n", b";;;\n ; ;\n", b",\n"):
        reponse = requests.post(serveur.url + URL_CSV, data=corps, headers={"Content-Type": "text/csv"}, timeout=30)
        assert reponse.status_code == 400 and "vide" in reponse.json()["erreur"], corps

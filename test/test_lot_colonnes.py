"""Le chemin en colonnes des lots (``app.modele.colonnes``) répond exactement comme le chemin élève par élève.

- Validation : sur des milliers d'élèves tirés au hasard puis modifiés (valeurs hors bornes, textes d'entiers,
  flottants, booléens, null, clés absentes, inconnues ou réordonnées, user_id), les colonnes n'acceptent que ce
  que pydantic (``DemandePrediction``) accepte, avec les mêmes valeurs et les mêmes types ; pour un corps JSON,
  que ce que ``lot_direct`` ou la lecture stricte acceptent (clés en double, NaN, BOM, échappements…) ; pour
  une classe CSV, elles refusent exactement les lignes que pydantic refuse.
- Explication : ``facteurs_colonnes`` donne ce que donne ``facteurs_lot`` (ex aequo, totaux nuls, poids au
  seuil, arrondis au ras d'une demie).
- L'application réelle, en processus : le même lot (JSON de 1 000 élèves, classes CSV avec lignes refusées,
  colonnes à soi, G3, en-têtes français) donne la même réponse, octet pour octet (hors request_id et durée),
  et les mêmes lignes de journal (hors horodatage et request_id) par les deux chemins ; un lot invalide, le
  même 400. Sous gunicorn : la réponse du chemin en colonnes est celle du chemin élève par élève.
"""

import csv
import io
import json
import random
import re

import numpy as np
import orjson
import pytest
import requests
from pydantic import ValidationError
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from app.modele import colonnes
from app.modele.eleves_aleatoires import eleves_aleatoires
from app.modele.explication import _arrondir_4, facteurs_colonnes, facteurs_lot
from app.modele.lots import ErreurLot, lire_csv_partiel, lire_csv_partiel_colonnes, lot_json
from app.modele.predicteur import _colonnes as _tableaux
from app.modele.schema import CATEGORIES, CHAMPS, NOTES, DemandePrediction, bornes
from app.web.erreurs import ErreurRequete
from app.web.requetes_json import lire_json, lot_direct, lot_en_colonnes

# --- validation -----------------------------------------------------------------------------------------

def _candidates(champ: str, valeur) -> list:
    """Des valeurs pour ce champ, valides ou non, de tous les types qu'un JSON peut porter."""
    if champ in CATEGORIES:
        permises = CATEGORIES[champ]
        return [*permises, valeur.lower(), valeur.upper(), f" {valeur}", "", None, 1, True, [valeur], {"v": valeur},
                "yes" if champ != "higher" else "GP"]
    minimum, maximum = bornes(champ)
    return [minimum, maximum, minimum - 1, maximum + 1, float(valeur), valeur + 0.5, -0.0, float("nan"),
            float(minimum - 1), float(maximum + 1), float(maximum), str(minimum - 1) if minimum else "-0",
            float("inf"), str(valeur), f"0{valeur}", f" {valeur}", f"+{valeur}", f"{valeur}.0", "", None, True,
            False, 2 ** 70, -(2 ** 70), 1e300, [valeur], {"v": valeur}, "٣", str(maximum + 1)]


def _modifier(eleve: dict, alea: random.Random) -> dict:
    """Un élève modifié d'une à trois façons (ou pas du tout)."""
    document = dict(eleve)
    for _ in range(alea.choice([0, 1, 1, 2, 3])):
        geste = alea.random()
        champ = alea.choice(CHAMPS)
        if geste < 0.6:
            document[champ] = alea.choice(_candidates(champ, eleve[champ] if eleve[champ] is not None else 10))
        elif geste < 0.7:
            document.pop(champ, None)
        elif geste < 0.78:
            document[alea.choice(["inconnu", champ.lower() + "x", "Age", "G3"])] = 1
        elif geste < 0.9:
            document["user_id"] = alea.choice(["eleve-1", "a:b.c_d-e", "", " x", "é", "x" * 128, "x" * 129, None, 7,
                                               "a\nb", "abc\n"])
        else:
            cles = list(document)
            alea.shuffle(cles)
            document = {cle: document[cle] for cle in cles}
    return document


def _pydantic(document):
    try:
        return DemandePrediction.model_validate(document)
    except ValidationError:
        return None


def _meme_entrees(en_colonnes: dict, demande: DemandePrediction) -> None:
    attendues = demande.entrees()
    assert list(en_colonnes) == list(attendues) and en_colonnes == attendues
    assert [type(v) for v in en_colonnes.values()] == [type(v) for v in attendues.values()]


def test_les_colonnes_n_acceptent_que_ce_que_pydantic_accepte():
    alea = random.Random(26)
    acceptes = refuses = 0
    for eleve in eleves_aleatoires(3000, graine=26, notes_absentes=0.2):
        document = _modifier(eleve, alea)
        lot = colonnes.lot_json([document])
        demande = _pydantic(document)
        if lot is None:
            refuses += 1
            assert demande is None, document  # un élève valide refusé : le lot passerait par pydantic (lent)
            continue
        acceptes += 1
        assert demande is not None, document
        _meme_entrees(lot.entrees[0], demande)
        assert lot.colonnes["user_id"] == [demande.user_id]
    assert acceptes > 800 and refuses > 800  # les deux issues, souvent


def test_un_lot_est_valide_si_chacun_de_ses_eleves_l_est():
    alea = random.Random(27)
    for essai in range(60):
        eleves = eleves_aleatoires(alea.randrange(1, 80), graine=essai, notes_absentes=0.3)
        if essai % 3:
            eleves[alea.randrange(len(eleves))] = _modifier(alea.choice(eleves), alea)
        if essai % 4 == 0:
            eleves = [{**e, "user_id": f"eleve-{i}"} for i, e in enumerate(eleves)]
        demandes = [_pydantic(e) for e in eleves]
        lot = colonnes.lot_json(eleves)
        assert (lot is not None) == all(d is not None for d in demandes)
        if lot is not None:
            for entrees, demande in zip(lot.entrees, demandes):
                _meme_entrees(entrees, demande)
            assert lot.colonnes["user_id"] == [d.user_id for d in demandes]
            nombres, codes = _tableaux([d.entrees() for d in demandes])  # ceux de Predicteur.predire_lot
            assert np.array_equal(lot.nombres, nombres, equal_nan=True) and np.array_equal(lot.codes, codes)


def _ancien_corps(brut: bytes):
    """L'ancien chemin d'un corps JSON : ``lot_direct``, sinon la lecture stricte puis ``lot_json`` ; les demandes
    validées, ou le refus (statut, message, détails)."""
    try:
        demandes = lot_direct(brut, 10_000)
        if demandes is None:
            requete = Request(EnvironBuilder(method="POST", data=brut, content_type="application/json").get_environ())
            demandes = lot_json(lire_json(requete, 10_000))
        return demandes
    except (ErreurRequete, ErreurLot) as erreur:
        return getattr(erreur, "statut", 400), erreur.message, erreur.details


def _corps_varies(eleves: list[dict], alea: random.Random) -> list[bytes]:
    texte = json.dumps(eleves)
    champ = alea.choice(CHAMPS)
    cle = f'"{champ}": '
    return [texte.encode(), json.dumps(eleves, indent=1).encode(),
            texte.replace(cle, cle + "NaN, " + cle, 1).encode(),
            texte.replace(cle, f'{cle}{json.dumps(eleves[0][champ])}, {cle}', 1).encode(),  # clé en double
            texte.replace('"' + champ + '"', '"' + "".join(f"\\u{ord(c):04x}" for c in champ) + '"', 1).encode(),
            ("\ufeff" + texte).encode(), (texte + " \n").encode(), (texte + " x").encode(), b"[]", b"{}",
            json.dumps([{**e, "user_id": "a:b"} for e in eleves]).encode(),  # « : » dans une valeur
            texte.replace(cle, '"user_id": "a\\u003ab", ' + cle + json.dumps(eleves[0][champ]) + ", " + cle, 1).encode(),
            texte.replace(cle, cle + "1e400, " + cle, 1).encode(), texte.replace("]", "", 1).encode(),
            json.dumps([[e] for e in eleves]).encode()]


def test_un_corps_json_n_est_accepte_que_si_l_ancien_chemin_l_accepte():
    alea = random.Random(28)
    acceptes = 0
    for essai in range(40):
        eleves = eleves_aleatoires(alea.randrange(1, 30), graine=100 + essai, notes_absentes=0.2)
        for brut in _corps_varies(eleves, alea):
            lot = lot_en_colonnes(brut, 10_000)
            ancien = _ancien_corps(brut)
            if lot is None:
                continue
            acceptes += 1
            assert isinstance(ancien, list), (brut[:200], ancien)
            for entrees, demande in zip(lot.entrees, ancien, strict=True):
                _meme_entrees(entrees, demande)
    assert acceptes > 40 * 3


def _csv(eleves: list[dict], alea: random.Random, supplementaires=("nom",), avec_g3=False, francais=False) -> bytes:
    sortie = io.StringIO()
    ecrivain = csv.writer(sortie, delimiter=alea.choice([";", ","]), lineterminator="\n")
    colonnes_csv = [*supplementaires, *[c for c in CHAMPS if c not in NOTES or alea.random() < 0.9],
                    *(["user_id"] if alea.random() < 0.5 else []), *(["G3"] if avec_g3 else [])]
    ecrivain.writerow([{"age": "Âge", "sex": "Sexe"}.get(c, c) if francais else c for c in colonnes_csv])
    for i, eleve in enumerate(eleves):
        ligne = {**{c: f"{c} {i}" for c in supplementaires}, "user_id": alea.choice(["", f"e-{i}", "a b", "x" * 129]),
                 "G3": alea.choice(["", "12", "21", "x"]), **{c: "" if v is None else str(v) for c, v in eleve.items()}}
        if alea.random() < 0.15:
            champ = alea.choice(CHAMPS)
            ligne[champ] = str(alea.choice(_candidates(champ, eleve[champ] if eleve[champ] is not None else 10)))
        if alea.random() < 0.05:
            ligne[alea.choice(CHAMPS)] = " " + ligne[CHAMPS[0]] + " "
        cellules = [ligne[c] for c in colonnes_csv]
        if alea.random() < 0.03:
            cellules = cellules[:-2]
        ecrivain.writerow(cellules)
    return sortie.getvalue().encode()


def test_une_classe_csv_en_colonnes_est_lue_comme_ligne_par_ligne():
    alea = random.Random(29)
    rejets = 0
    for essai in range(40):
        eleves = eleves_aleatoires(alea.randrange(1, 120), graine=200 + essai, notes_absentes=0.1)
        brut = _csv(eleves, alea, avec_g3=essai % 2 == 0)
        ancien = lire_csv_partiel(brut)
        partiel, lot = lire_csv_partiel_colonnes(brut)
        assert partiel.rejets == ancien.rejets
        assert (partiel.rangs, partiel.positions, partiel.supplementaires, partiel.notes_finales) == \
            (ancien.rangs, ancien.positions, ancien.supplementaires, ancien.notes_finales)
        assert (partiel.recus, partiel.colonnes, partiel.colonnes_supplementaires, partiel.avec_note_finale) == \
            (ancien.recus, ancien.colonnes, ancien.colonnes_supplementaires, ancien.avec_note_finale)
        assert len(lot) == len(ancien.demandes) and not partiel.demandes
        for entrees, demande in zip(lot.entrees, ancien.demandes):
            _meme_entrees(entrees, demande)
        assert lot.colonnes["user_id"] == [d.user_id for d in ancien.demandes]
        rejets += len(ancien.rejets)
    assert rejets > 40


# --- explication ----------------------------------------------------------------------------------------

def test_arrondi_a_4_decimales_comme_round():
    alea = np.random.default_rng(30)
    valeurs = np.concatenate([alea.random(200_000), alea.random(2000) * 1e-3, [0.0, 1.0, 0.5, 0.03125, 0.00005],
                              (np.arange(10_000) + 0.5) / 1e4, np.nextafter((np.arange(10_000) + 0.5) / 1e4, 2),
                              np.nextafter((np.arange(10_000) + 0.5) / 1e4, -1)])
    assert _arrondir_4(valeurs) == [round(v, 4) for v in valeurs.tolist()]


@pytest.mark.parametrize("en_probabilite", [True, False])
def test_facteurs_en_colonnes_comme_facteurs_lot(en_probabilite):
    alea = np.random.default_rng(31)
    champs = CHAMPS[:30]
    par_champ = alea.normal(size=(400, len(champs))) * alea.random((400, 1))
    par_champ[::7, 3:] = 0.0  # peu de facteurs, puis ex aequo
    par_champ[::11] = 0.0  # total nul
    par_champ[5::13, :4] = [0.5, -0.5, 0.5, 0.01]  # ex aequo
    par_champ[6::13, :3] = [0.98, 0.02, 0.0]  # au seuil de 2 %
    par_champ[7::17] = np.round(par_champ[7::17], 2)  # contributions répétées : phrases en cache
    eleves = eleves_aleatoires(400, graine=31)
    rangs = list(range(400))
    attendu = facteurs_lot(par_champ, champs, eleves, en_probabilite)
    obtenu = facteurs_colonnes(par_champ, champs, [[e[c] for e in eleves] for c in champs], rangs, en_probabilite)
    assert orjson.dumps(obtenu) == orjson.dumps(attendu)
    # Une partie du lot seulement (une configuration parmi d'autres) : rangs dans le lot entier.
    positions = np.arange(3, 400, 3)
    partie = facteurs_colonnes(par_champ[positions], champs, [[e[c] for e in eleves] for c in champs], positions,
                               en_probabilite)
    assert orjson.dumps(partie) == orjson.dumps([attendu[i] for i in positions])


# --- l'application réelle, en processus -----------------------------------------------------------------

@pytest.fixture()
def application(tmp_path, monkeypatch):
    """L'application (modèle livré, journal et SQLite temporaires) et ``servir(chemin, corps, type, id)`` qui sert
    la requête par le chemin en colonnes (« colonnes ») ou le force sur le chemin élève par élève (« ancien »)."""
    import app.web.routes.lot as routes_lot
    from app import create_app
    from app.config import Configuration

    app = create_app(Configuration(chemin_journal=tmp_path / "j.jsonl", chemin_base_sqlite=tmp_path / "r.sqlite3"))
    client = app.test_client()
    originaux = {nom: getattr(routes_lot, nom) for nom in ("lot_en_colonnes", "lire_csv_partiel_colonnes")}
    appels = []

    def servir(chemin: str, corps: bytes, type_contenu: str, identifiant: str, par: str):
        for nom, fonction in originaux.items():
            def compte(*args, _fonction=fonction, **kwargs):
                resultat = _fonction(*args, **kwargs)
                appels.append(resultat is not None)
                return resultat
            monkeypatch.setattr(routes_lot, nom, compte if par == "colonnes" else (lambda *a, **k: None))
        appels.clear()
        reponse = client.post(chemin, data=corps, content_type=type_contenu, headers={"X-Request-ID": identifiant})
        return reponse, list(appels)

    yield servir, tmp_path / "j.jsonl"
    app.extensions["prediction_etudiante"].conservation.arreter(5)


def _sans_variables(octets: bytes, identifiant: str) -> bytes:
    octets = re.sub(rb'"inference_time_ms":[-0-9.e]+', b'"inference_time_ms":0', octets)
    return octets.replace(identifiant.encode(), b"ID")


def _journal(chemin, identifiant: str) -> list[bytes]:
    """Les lignes du journal de ce lot, sans horodatage et avec l'identifiant du lot remplacé."""
    lignes = []
    for ligne in chemin.read_bytes().splitlines():
        document = orjson.loads(ligne)
        if document["request_id"].startswith(identifiant + "-"):
            document["horodatage"] = ""
            lignes.append(orjson.dumps(document).replace(identifiant.encode(), b"ID"))
    return lignes


def _lots_json() -> list[list[dict]]:
    alea = random.Random(32)
    lots = [eleves_aleatoires(1000, graine=32, notes_absentes=0.0), eleves_aleatoires(700, graine=33, notes_absentes=0.3)]
    melange = eleves_aleatoires(300, graine=34, notes_absentes=0.2)
    for i, eleve in enumerate(melange):
        if i % 5 == 0:
            eleve["user_id"] = f"eleve-{i}"
        if i % 7 == 0:
            eleve["age"] = str(eleve["age"])
        if i % 9 == 0:
            eleve["G1"] = None  # G2 seul : configuration C et avertissement
        if i % 11 == 0:
            del eleve["G2"]
    lots.append(melange)
    lots.append([{c: e[c] for c in reversed(CHAMPS)} for e in eleves_aleatoires(50, graine=35)])  # autre ordre
    invalides = eleves_aleatoires(40, graine=36)
    invalides[3]["age"] = 40
    invalides[17]["sex"] = "X"
    lots.append(invalides)
    lots.append([_modifier(e, alea) for e in eleves_aleatoires(40, graine=37)])
    return lots


def test_lots_json_memes_reponses_et_journal_par_les_deux_chemins(application):
    servir, journal = application
    for rang, eleves in enumerate(_lots_json()):
        corps = json.dumps(eleves).encode()
        nouveau, appels = servir("/predire/lot", corps, "application/json", f"nouv-{rang}", "colonnes")
        ancien, _ = servir("/predire/lot", corps, "application/json", f"ancn-{rang}", "ancien")
        assert nouveau.status_code == ancien.status_code
        valide = all(_pydantic(e) is not None for e in eleves)
        assert appels == [valide] and nouveau.status_code == (200 if valide else 400)
        assert _sans_variables(nouveau.data, f"nouv-{rang}") == _sans_variables(ancien.data, f"ancn-{rang}")
        variables = ("X-Request-ID", "Content-Length")  # la durée n'a pas toujours autant de chiffres
        assert [(k, v) for k, v in nouveau.headers.items() if k not in variables] == \
            [(k, v) for k, v in ancien.headers.items() if k not in variables]
        assert _journal(journal, f"nouv-{rang}") == _journal(journal, f"ancn-{rang}")
        assert len(_journal(journal, f"nouv-{rang}")) == (len(eleves) if valide else 0)


def test_classes_csv_memes_reponses_et_journal_par_les_deux_chemins(application):
    servir, journal = application
    alea = random.Random(38)
    classes = [_csv(eleves_aleatoires(400, graine=38, notes_absentes=0.05), alea),
               _csv(eleves_aleatoires(120, graine=39, notes_absentes=0.3), alea, ("nom", "classe"), avec_g3=True),
               _csv(eleves_aleatoires(30, graine=40), alea, (), francais=True),
               "Âge;Sexe\n16;F\n".encode(),  # en-tête inutilisable : le même 400
               ("Nom;" + ";".join(CHAMPS) + "\n" + "x;" * 3 + "\n").encode()]  # aucune ligne valide
    for rang, corps in enumerate(classes):
        nouveau, _ = servir("/predire/lot/partiel", corps, "text/csv", f"cnou-{rang}", "colonnes")
        ancien, _ = servir("/predire/lot/partiel", corps, "text/csv", f"canc-{rang}", "ancien")
        assert nouveau.status_code == ancien.status_code
        assert _sans_variables(nouveau.data, f"cnou-{rang}") == _sans_variables(ancien.data, f"canc-{rang}")
        assert _journal(journal, f"cnou-{rang}") == _journal(journal, f"canc-{rang}")
    assert nouveau.status_code == 200 and ancien.get_json()["nombre"] == 0


# --- sous gunicorn --------------------------------------------------------------------------------------

def test_sous_gunicorn_la_reponse_du_chemin_en_colonnes(serveur, application):
    servir, _journal_local = application
    eleves = eleves_aleatoires(1000, graine=41, notes_absentes=0.1)
    corps = json.dumps(eleves).encode()
    reponse = requests.post(serveur.url + "/predire/lot", data=corps, timeout=120,
                            headers={"Content-Type": "application/json", "X-Request-ID": "gunicorn-colonnes"})
    ancien, _ = servir("/predire/lot", corps, "application/json", "local-ancien", "ancien")
    assert reponse.status_code == 200
    assert _sans_variables(reponse.content, "gunicorn-colonnes") == _sans_variables(ancien.data, "local-ancien")
    lignes = [l for l in serveur.lignes_journal() if l["request_id"].startswith("gunicorn-colonnes-")]
    assert len(lignes) == len(eleves)


def test_derive_en_colonnes_compte_chaque_eleve():
    """``derive`` (lignes du journal, ``GET /derive``) et ``derive_colonnes`` (la classe de la page ``/classe``)
    : le même résultat, et chaque élève compté dans chaque variable et dans sa configuration."""
    from app.config import RACINE
    from app.modele.derive import derive, derive_colonnes, lire_reference

    reference = lire_reference(RACINE / "code" / "reference_derive.json")
    eleves = eleves_aleatoires(500, graine=42, notes_absentes=0.2)
    alea = random.Random(42)
    configurations = ["A" if e["G1"] is not None and e["G2"] is not None else "B" if e["G1"] is not None else "C"
                      for e in eleves]
    classes = [alea.choice([0, 1]) for _ in eleves]
    probabilites = [alea.random() for _ in eleves]
    lignes = [{"entrees": e, "configuration": c, "prediction": k, "probabilite_echec": p}
              for e, c, k, p in zip(eleves, configurations, classes, probabilites)]
    par_colonnes = derive_colonnes(reference, {nom: [e[nom] for e in eleves] for nom in CHAMPS}, configurations, classes,
                                   probabilites)
    assert par_colonnes == derive(reference, lignes)
    assert par_colonnes["n"] == len(eleves)
    for nom, variable in par_colonnes["variables"].items():
        assert variable["n"] == sum(e[nom] is not None for e in eleves), nom
    for configuration, taux in par_colonnes["taux_echec_predit"].items():
        assert taux["n"] == configurations.count(configuration)
        alertes = sum(k == 0 for k, c in zip(classes, configurations) if c == configuration)
        assert taux["taux_alerte"] == round(alertes / taux["n"], 4)

"""Journal des accès et sessions, contre SQLite et PostgreSQL réels : une ligne par accès, empreinte du
registre des effacements (jamais le user_id), filtres, rétention RETENTION_ACCES_JOURS ; configuration des
modes d'identité refusée quand elle est incomplète."""

from __future__ import annotations

import datetime as dt

import pytest

from app.config import Configuration, ErreurConfiguration
from app.stockage.enregistrement import empreinte_utilisateur
from app.stockage.journal_acces import JournalAcces, Sessions
from app.web.droits import FichierAccesInvalide, lire_droits


def test_une_ligne_par_acces_filtres_et_retention(magasin):
    journal = JournalAcces(magasin, retention_jours=365)
    journal.inscrire("Conseil.GP@lycee.example", "POST /historique", ["GP"], 1, user_id="eleve-0042")
    journal.inscrire("direction@lycee.example", "GET /predictions/export", ["GP", "GP", "MS"], 12)
    lignes = list(journal.lire())
    assert [(l["qui"], l["route"], l["ecole"], l["eleves"]) for l in lignes] == [
        ("Conseil.GP@lycee.example"[:320], "POST /historique", "GP", 1),
        ("direction@lycee.example", "GET /predictions/export", "GP,MS", 12)]
    assert lignes[0]["empreinte"] == empreinte_utilisateur("eleve-0042") and "eleve-0042" not in str(lignes)
    assert lignes[1]["empreinte"] is None
    assert [l["route"] for l in journal.lire(qui="direction@lycee.example")] == ["GET /predictions/export"]
    demain = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    assert list(journal.lire(depuis=demain)) == [] and len(list(journal.lire(jusqua=demain))) == 2
    # Rétention : rien n'est purgé avant 365 jours, tout l'est après.
    assert journal.purger(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=364)) == 0
    assert journal.purger(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=366)) == 2
    assert list(journal.lire()) == []


def test_sessions_ouvertes_puis_fermees(magasin):
    sessions = Sessions(magasin)
    sessions.ouvrir("identifiant-de-session-1", "conseil@lycee.example", dt.timedelta(hours=8))
    sessions.ouvrir("identifiant-de-session-2", "dpo@academie.example", dt.timedelta(seconds=-1))  # déjà expirée
    assert sessions.qui("identifiant-de-session-1") == "conseil@lycee.example"
    assert sessions.qui("identifiant-de-session-2") is None and sessions.qui("inconnu") is None
    sessions.fermer("identifiant-de-session-1")
    assert sessions.qui("identifiant-de-session-1") is None


@pytest.mark.parametrize("texte, message", [
    ('[[personnes]]\nqui = "a@b"\nrole = "chef"\necoles = ["GP"]\n', "role"),
    ('[[personnes]]\nqui = "personne"\nrole = "dpo"\necoles = ["*"]\n', "qui"),
    ('[[personnes]]\nqui = "a@b"\nrole = "dpo"\necoles = []\n', "ecoles"),
    ('[[personnes]]\nqui = "a@b"\nrole = "dpo"\necoles = ["*"]\nmot_de_passe = "x"\n', "seules les clés"),
    ('[[personnes]]\nqui = "a@b"\nrole = "dpo"\necoles = ["*"]\n[[personnes]]\nqui = "A@B"\nrole = "dpo"\n'
     'ecoles = ["*"]\n', "déjà"),
    ("personnes = 3", "liste"),
    ("[[personnes]\n", "TOML invalide"),
])
def test_fichier_d_acces_invalide_nomme_l_entree_et_la_regle(texte, message):
    with pytest.raises(FichierAccesInvalide, match=message):
        lire_droits(texte)


def test_personne_par_adresse_puis_par_domaine():
    droits = lire_droits('[[personnes]]\nqui = "@ms.example"\nrole = "conseiller"\necoles = ["MS"]\n'
                         '[[personnes]]\nqui = "chef@ms.example"\nrole = "direction"\necoles = ["MS"]\n')
    assert droits.personne("Chef@MS.example").role == "direction"
    assert droits.personne("prof@ms.example").role == "conseiller"
    assert droits.personne("prof@ms.example.pirate") is None and droits.personne("ms.example") is None


@pytest.mark.parametrize("env, message", [
    ({"IAP_AUDIENCE": "/projects/1/locations/r/services/s"}, "ACCES_FICHIER"),
    ({"OIDC_ISSUER": "https://fournisseur.example", "ACCES_FICHIER": "a.toml"}, "OIDC_CLIENT_ID"),
    ({"OIDC_ISSUER": "https://f.example", "IAP_AUDIENCE": "/p", "ACCES_FICHIER": "a.toml"}, "choisissez un mode"),
    ({"OIDC_ISSUER": "fournisseur.example"}, "URL"),
    ({"RETENTION_ACCES_JOURS": "0"}, "RETENTION_ACCES_JOURS"),
])
def test_configuration_d_identite_incomplete_refusee(env, message):
    with pytest.raises(ErreurConfiguration, match=message):
        Configuration.depuis_environnement(env)


def test_modes_d_identite():
    assert Configuration.depuis_environnement({}).mode_identite == "local"
    assert Configuration.depuis_environnement({}).retention_acces_jours == 365
    iap = Configuration.depuis_environnement({"IAP_AUDIENCE": "/p", "ACCES_FICHIER": "a.toml"})
    assert iap.mode_identite == "iap" and iap.iap_cles_url == "https://www.gstatic.com/iap/verify/public_key-jwk"
    oidc = Configuration.depuis_environnement({"OIDC_ISSUER": "https://f.example/", "OIDC_CLIENT_ID": "c",
                                               "OIDC_CLIENT_SECRET": "secret-du-client", "SESSION_SECRET": "x" * 32,
                                               "ACCES_FICHIER": "a.toml"})
    assert oidc.mode_identite == "oidc" and oidc.oidc_issuer == "https://f.example"
    assert "secret-du-client" not in repr(oidc) and "x" * 32 not in repr(oidc)  # secrets hors de repr()


def test_historique_restreint_aux_ecoles_de_la_personne(magasin, exemple):
    """Le filtre par école (champ school des entrées) est fait par la base, SQLite comme PostgreSQL."""
    from test.conftest import enregistrement

    magasin.inserer_nouveaux([enregistrement("eleve-1", {**exemple, "school": "GP"}, 1),
                              enregistrement("eleve-1", {**exemple, "school": "MS"}, 2)])
    assert magasin.historique("eleve-1", 10, 0)[1] == 2
    predictions, total = magasin.historique("eleve-1", 10, 0, ["GP"])
    assert total == 1 and predictions[0]["entrees"]["school"] == "GP"
    assert magasin.historique("eleve-1", 10, 0, ["XX"]) == ([], 0)

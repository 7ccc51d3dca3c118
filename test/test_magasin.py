"""Le magasin des résultats et la conservation base + journal, contre SQLite et PostgreSQL réels."""

import datetime as dt
import json

import pytest
from sqlalchemy import text

from app.config import Configuration, ErreurConfiguration
from app.stockage.conservation import conserver, effacer_utilisateur
from app.stockage.journal import ErreurJournal, JournalRequetes
from app.stockage.magasin import DoublonRequete, ErreurMagasin, MagasinResultats
from test.conftest import contenu_journal, enregistrement, lignes, port_libre


def test_schema_idempotent_et_lecture(url_base, magasin, registre, exemple):
    assert MagasinResultats(url_base).preparer() is True  # seconde création : sans effet ni erreur
    e = enregistrement("eleve-1", exemple)
    conserver(magasin, registre, [e])
    assert magasin.lire(e["request_id"]) == e  # mêmes clés, même ordre, mêmes valeurs que la ligne du journal
    assert lignes(registre) == [e]
    assert magasin.lire("inconnu") is None
    assert magasin.joignable()[0] is True


def test_historique_plus_recentes_d_abord_et_pagine(magasin, registre, exemple):
    ids = []
    for i in range(7):
        e = enregistrement("eleve-p", exemple, numero=i)
        conserver(magasin, registre, [e])
        ids.append(e["request_id"])
    conserver(magasin, registre, [enregistrement("autre", exemple)])
    page, total = magasin.historique("eleve-p", limite=3, decalage=0)
    assert total == 7 and [p["request_id"] for p in page] == ids[::-1][:3]
    page, total = magasin.historique("eleve-p", limite=3, decalage=6)
    assert [p["request_id"] for p in page] == [ids[0]]
    assert magasin.historique("personne", 10, 0) == ([], 0)


def test_request_id_en_double_refuse_sans_ligne_de_journal(magasin, registre, exemple):
    e = enregistrement("eleve-d", exemple, request_id="meme-id")
    conserver(magasin, registre, [e])
    with pytest.raises(DoublonRequete):
        conserver(magasin, registre, [enregistrement("eleve-x", exemple, request_id="meme-id")])
    assert [l["request_id"] for l in lignes(registre)] == ["meme-id"]
    assert magasin.lire("meme-id")["user_id"] == "eleve-d"


def test_journal_en_echec_rien_en_base(magasin, tmp_path, exemple):
    registre = JournalRequetes(tmp_path / "absent" / "requetes.jsonl")
    e = enregistrement("eleve-j", exemple)
    with pytest.raises(ErreurJournal):
        conserver(magasin, registre, [e])
    assert magasin.lire(e["request_id"]) is None


def test_effacement_base_et_journal(magasin, registre, exemple):
    garder = [enregistrement("eleve-b", exemple, i) for i in range(5)]
    effacer = [enregistrement("eleve-a", exemple, i) for i in range(4)]
    for e in garder[:2] + effacer + garder[2:]:
        conserver(magasin, registre, [e])
    with open(registre.chemin, "ab") as fichier:  # une ligne sans user_id est gardée ; une ligne abîmée qui
        fichier.write(b'{"request_id":"sans-user"}\npas du json "user_id":"eleve-a"\n')  # porte l'élève, non
    resultat = effacer_utilisateur(magasin, registre, "eleve-a")
    assert (resultat.predictions, resultat.lignes_journal) == (4, 5)
    assert magasin.historique("eleve-a", 100, 0) == ([], 0)
    assert magasin.historique("eleve-b", 100, 0)[1] == 5
    texte = contenu_journal(registre.chemin).splitlines()
    assert texte[-1:] == ['{"request_id":"sans-user"}']
    assert [json.loads(l)["request_id"] for l in texte[:-1]] == [e["request_id"] for e in garder]
    assert effacer_utilisateur(magasin, registre, "eleve-a").predictions == 0  # idempotent


def test_journal_non_reecrit_base_et_registre_effaces_d_abord(magasin, tmp_path, exemple):
    """Issue 28 (B6) : la base et le registre d'abord ; le journal qui ne peut pas être réécrit lève
    ``EffacementIncomplet`` (503 avec Retry-After), et sera réessayé (fil d'alimentation, démarrage)."""
    from app.stockage.conservation import EffacementIncomplet
    from app.stockage.enregistrement import empreinte_utilisateur

    with magasin.transaction() as transaction:
        transaction.inserer([enregistrement("eleve-r", exemple)])
        transaction.valider()
    dossier = tmp_path / "journal_est_un_dossier"
    dossier.mkdir()
    with pytest.raises(EffacementIncomplet):
        effacer_utilisateur(magasin, JournalRequetes(dossier), "eleve-r")
    assert magasin.historique("eleve-r", 10, 0)[1] == 0
    assert empreinte_utilisateur("eleve-r") in magasin.effacements_depuis(0)[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def url_injoignable(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dossier' / 'absent' / 'resultats.sqlite3'}"
    request.getfixturevalue("base_postgresql")  # sauté ou échoué comme les autres tests PostgreSQL
    return f"postgresql+psycopg://personne:secret-a-ne-pas-montrer@127.0.0.1:{port_libre()}/rien"


def test_base_injoignable_erreur_claire_sans_secret(url_injoignable, registre, exemple):
    magasin = MagasinResultats(url_injoignable)
    assert magasin.preparer() is False  # le démarrage continue ; /ready le dira
    ok, message = magasin.joignable()
    assert ok is False and "indisponible" in message and "secret" not in message
    for operation in (lambda: magasin.lire("x"), lambda: magasin.historique("u", 1, 0),
                      lambda: conserver(magasin, registre, [enregistrement("u", exemple)]),
                      lambda: effacer_utilisateur(magasin, registre, "u")):
        with pytest.raises(ErreurMagasin) as info:
            operation()
        assert "secret" not in str(info.value)
    # Journal d'abord : la ligne est au journal (la base la recevra à son retour, ou la réconciliation).
    assert len(lignes(registre)) == 1
    assert "secret" not in magasin.description


def test_configuration_base_et_jeton():
    defaut = Configuration.depuis_environnement({})
    assert defaut.url_base == "sqlite:///resultats.sqlite3" and defaut.jeton_api == ""
    c = Configuration.depuis_environnement({"BASE_SQLITE_CHEMIN": "/tmp/r.db", "API_TOKEN": "j" * 40})
    assert c.url_base == "sqlite:////tmp/r.db" and "jjjj" not in repr(c)
    pg = Configuration.depuis_environnement({"DATABASE_URL": "postgresql+psycopg://u:motdepasse@h/b"})
    assert pg.url_base.startswith("postgresql+psycopg://") and "motdepasse" not in repr(pg)
    for env in ({"DATABASE_URL": "mysql://u:motdepasse@h/b"}, {"API_TOKEN": "court-motdepasse"}):
        with pytest.raises(ErreurConfiguration) as info:
            Configuration.depuis_environnement(env)
        assert "motdepasse" not in str(info.value) and "masquée" in str(info.value)


def test_insertion_directe_ecrit_comme_insert_de_sqlalchemy(magasin, exemple):
    """L'INSERT compilé une fois (curseur DB-API) stocke les mêmes valeurs, sous la même forme,
    qu'``insert(PREDICTIONS)`` de SQLAlchemy : anciennes et nouvelles lignes se lisent et se trient pareil."""
    from sqlalchemy import insert

    from app.stockage.magasin import PREDICTIONS

    directe = enregistrement("eleve-forme", {**exemple, "Mjob": "at_home", "reason": "école"}, numero=1)
    par_sqlalchemy = {**directe, "request_id": directe["request_id"] + "-sa"}
    with magasin.transaction() as transaction:
        transaction.inserer([directe])
        transaction.valider()
    with magasin.moteur.begin() as connexion:
        connexion.execute(insert(PREDICTIONS), [{**par_sqlalchemy, "horodatage": dt.datetime.fromisoformat(
            par_sqlalchemy["horodatage"])}])
    with magasin.moteur.connect() as connexion:
        brutes = connexion.execute(text(
            "SELECT request_id, user_id, CAST(horodatage AS VARCHAR(64)), model_version, configuration, prediction, "
            "probabilite_echec, probabilite_reussite, seuil, CAST(entrees AS VARCHAR(4000)) FROM predictions "
            "WHERE user_id = 'eleve-forme' ORDER BY request_id")).all()
    assert len(brutes) == 2
    assert brutes[0][1:] == brutes[1][1:]  # octet pour octet dans la base, hors request_id
    assert magasin.lire(directe["request_id"]) == directe


def test_une_base_creee_sans_la_colonne_canal_la_recoit_au_demarrage(url_base, registre, exemple):
    """Une base d'avant le serveur gRPC (table sans ``canal``) : la colonne est ajoutée au démarrage, une fois
    (idempotent), les lignes existantes valent « http » (seul canal d'alors), les nouvelles gardent le leur."""
    from sqlalchemy import (
        BigInteger,
        Column,
        Integer,
        MetaData,
        Table,
        create_engine,
        insert,
    )

    from app.stockage.enregistrement import colonnes_sql

    ancienne = Table("predictions", MetaData(),
                     Column("numero", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
                     *[c for c in colonnes_sql() if c.name != "canal"])
    avant = enregistrement("eleve-ancien", exemple)
    moteur = create_engine(url_base)
    with moteur.begin() as connexion:
        ancienne.create(connexion)
        ligne = {k: v for k, v in avant.items() if k != "canal"}
        connexion.execute(insert(ancienne), [{**ligne, "horodatage": dt.datetime.fromisoformat(ligne["horodatage"])}])
    moteur.dispose()

    for _ in range(2):  # deux démarrages : le second ne change rien
        magasin = MagasinResultats(url_base)
        assert magasin.preparer() is True
    try:
        assert magasin.lire(avant["request_id"]) == avant  # canal « http » pour la ligne d'avant
        nouvelle = {**enregistrement("eleve-nouveau", exemple, numero=1), "canal": "grpc"}
        conserver(magasin, registre, [nouvelle])
        assert magasin.lire(nouvelle["request_id"]) == nouvelle
        with magasin.moteur.connect() as connexion:
            canaux = connexion.execute(text("SELECT canal FROM predictions ORDER BY numero")).scalars().all()
        assert canaux == ["http", "grpc"]
    finally:
        magasin.moteur.dispose()


def test_demarrage_sur_un_schema_complet_ou_incomplet(url_base):
    """Au démarrage, un schéma déjà complet est reconnu sans DDL (PostgreSQL : deux requêtes au catalogue) ;
    un index retiré est recréé, et un registre inscrit avec un autre sel refuse toujours le démarrage."""
    from sqlalchemy import create_engine, inspect

    from app.stockage import enregistrement as module_enregistrement
    from app.stockage.magasin import INDEX_EFFACEMENTS, ErreurSelEffacement

    sel = module_enregistrement._SEL_EFFACEMENT
    module_enregistrement.definir_sel("le-sel-du-registre")
    assert MagasinResultats(url_base).preparer() is True
    moteur = create_engine(url_base)
    try:
        with moteur.begin() as connexion:
            INDEX_EFFACEMENTS.drop(connexion)
        assert MagasinResultats(url_base).preparer() is True
        with moteur.connect() as connexion:
            assert INDEX_EFFACEMENTS.name in {i["name"] for i in inspect(connexion).get_indexes("effacements")}
        assert MagasinResultats(url_base).preparer() is True  # complet : reconnu tel quel
        module_enregistrement.definir_sel("un-autre-sel-que-celui-du-registre")
        with pytest.raises(ErreurSelEffacement):
            MagasinResultats(url_base).preparer()
    finally:
        module_enregistrement._SEL_EFFACEMENT = sel
        moteur.dispose()

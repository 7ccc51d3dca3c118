"""Les talons gRPC versionnés (``app/rpc/prediction_pb2*.py``) sont exactement ce que grpcio-tools (épinglé)
génère depuis ``app/rpc/prediction.proto`` : régénérés dans un dossier temporaire, comparés octet par octet."""

from outils.generer_talons import RACINE, TALONS, generer


def test_talons_a_jour_avec_le_proto(tmp_path):
    generes = generer(tmp_path)
    for talon, genere in zip(TALONS, generes):
        assert genere.read_bytes() == (RACINE / talon).read_bytes(), (
            f"{talon} ne correspond plus à app/rpc/prediction.proto : make talons, puis versionnez le résultat")


def test_un_proto_modifie_donne_d_autres_talons(tmp_path):
    """Le test ci-dessus peut échouer : un champ de plus dans le .proto change les talons générés."""
    from outils import generer_talons

    copie = tmp_path / "racine"
    (copie / "app" / "rpc").mkdir(parents=True)
    proto = (RACINE / generer_talons.PROTO).read_text(encoding="utf-8")
    (copie / generer_talons.PROTO).write_text(proto.replace("optional string user_id = 33;",
                                                            "optional string user_id = 33;\n  int32 essai = 34;"),
                                              encoding="utf-8")
    origine = generer_talons.RACINE
    generer_talons.RACINE = copie
    try:
        generes = generer(tmp_path / "sortie")
    finally:
        generer_talons.RACINE = origine
    assert generes[0].read_bytes() != (RACINE / TALONS[0]).read_bytes()

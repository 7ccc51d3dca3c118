"""Talons gRPC : ``python -m outils.generer_talons`` (ou ``make talons``) régénère ``app/rpc/prediction_pb2.py``
et ``app/rpc/prediction_pb2_grpc.py`` depuis ``app/rpc/prediction.proto`` avec grpcio-tools (épinglé dans
requirements-dev.txt : même version, mêmes octets).

Les talons sont versionnés plutôt que générés à la construction de l'image : l'image de service
n'a pas besoin de grpcio-tools (protoc), ``python -m app.rpc`` marche depuis un simple clone, et la
revue voit ce qui change. ``test/test_rpc_talons.py`` les régénère dans un dossier temporaire et
compare les octets : un .proto modifié sans régénération fait échouer les tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

RACINE = Path(__file__).resolve().parent.parent
PROTO = Path("app/rpc/prediction.proto")
"""Relatif à la racine : les talons importent ``from app.rpc import prediction_pb2``."""
TALONS = (Path("app/rpc/prediction_pb2.py"), Path("app/rpc/prediction_pb2_grpc.py"))


def generer(sortie: Path) -> list[Path]:
    """Écrit les talons sous ``sortie`` (même arborescence que le dépôt) ; renvoie leurs chemins."""
    from grpc_tools import protoc

    sortie.mkdir(parents=True, exist_ok=True)
    code = protoc.main(["grpc_tools.protoc", f"-I{RACINE}", f"--python_out={sortie}",
                        f"--grpc_python_out={sortie}", str(RACINE / PROTO)])
    if code != 0:
        raise RuntimeError(f"protoc a échoué (code {code}) sur {PROTO}")
    return [sortie / talon for talon in TALONS]


def main() -> int:
    for chemin in generer(RACINE):
        print(f"écrit : {chemin.relative_to(RACINE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

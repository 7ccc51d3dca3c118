"""``python -m app.rpc`` : le serveur gRPC sur $HOTE:$GRPC_PORT (127.0.0.1 par défaut, 0.0.0.0 dans l'image) (50051 par défaut)."""

import sys

from app.rpc.serveur import main

sys.exit(main())

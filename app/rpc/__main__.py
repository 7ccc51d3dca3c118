"""``python -m app.rpc`` : le serveur gRPC sur 0.0.0.0:$GRPC_PORT (50051 par défaut)."""

import sys

from app.rpc.serveur import main

sys.exit(main())

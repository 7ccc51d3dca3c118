"""La réflexion gRPC, version ``grpc.reflection.v1`` et ``grpc.reflection.v1alpha``.

Un client d'un autre langage construit ses types depuis la réflexion seule (grpcurl, Postman, un client
Node ou Java) ; les plus récents ne demandent que la v1. grpcio-reflection ne sert que la v1alpha : ses
messages sont ceux de la v1 octet pour octet (mêmes champs, mêmes numéros ; seul le nom du paquet du
service change), donc le même ``ReflectionServicer`` répond aussi sous le nom v1, avec les mêmes
(dé)sérialiseurs.
"""

from __future__ import annotations

import grpc
from grpc_reflection.v1alpha import reflection
from grpc_reflection.v1alpha import reflection_pb2 as messages
from grpc_reflection.v1alpha import reflection_pb2_grpc

SERVICE_V1 = "grpc.reflection.v1.ServerReflection"
SERVICES_REFLEXION = (SERVICE_V1, reflection.SERVICE_NAME)


def activer_reflexion(services: tuple[str, ...], serveur: grpc.Server) -> None:
    """Sert la réflexion v1 et v1alpha pour ``services`` (qui s'y listent avec les deux services de réflexion)."""
    servicer = reflection.ReflectionServicer((*services, *SERVICES_REFLEXION))
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, serveur)  # v1alpha
    serveur.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_V1, {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo, request_deserializer=messages.ServerReflectionRequest.FromString,
            response_serializer=messages.ServerReflectionResponse.SerializeToString)}),))

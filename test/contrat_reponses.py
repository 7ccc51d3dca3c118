"""Chaque réponse que la suite de tests reçoit est confrontée au contrat publié.

HTTP : le document OpenAPI (``app.web.openapi.document``, celui que sert ``/openapi.json``) dit, pour chaque
opération et chaque statut, le type de contenu et le schéma du corps. Ses schémas de réponse sont stricts par
construction (``app.web.contrat.Reponse`` : chaque clé toujours envoyée est ``required``, aucune autre n'est
admise, ``additionalProperties: false``) : les valider ici avec un validateur JSON Schema 2020-12 ordinaire
(jsonschema-rs) lit donc ``required`` strictement et refuse toute clé non déclarée. Un statut d'erreur que
l'opération ne déclare pas (404, 405, 414, 500…) doit tout de même être une ``Erreur``.

gRPC : un message reçu ne porte aucun champ que le ``.proto`` du client ignore (champs inconnus), aucune
énumération à sa valeur « non précisée » (0, ``…_NON_PRECISE(E)``), et aucune chaîne non ``optional`` vide : en proto3, c'est ainsi
qu'un champ requis manque (une énumération dont le 0 est une vraie valeur, comme ``CLASSE_PREDITE_ECHEC``,
n'est pas concernée).

``test/conftest.py`` branche ces vérifications sur ``requests``, ``httpx`` (client Python généré) et les
canaux gRPC de chaque test, et fait échouer le test à la moindre réponse hors contrat.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from urllib.parse import urlsplit

import jsonschema_rs

METHODES = ("get", "post", "put", "patch", "delete")
STATIQUES = "/static/"
"""Les fichiers de la page /classe (Flask ``static``) : pas des opérations de l'API."""


class ContratHttp:
    def __init__(self, document: dict):
        self.document = document
        self._composants = {"components": document["components"]}
        gabarits = []
        for chemin, operations in document["paths"].items():
            motif = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(chemin)) + "$")
            gabarits.append((chemin.count("{"), motif, chemin))
        self._gabarits = sorted(gabarits, key=lambda g: g[0])  # un chemin littéral avant un gabarit

    @lru_cache(maxsize=None)  # noqa: B019 - une instance par session de tests
    def _validateur(self, schema_json: str):
        return jsonschema_rs.Draft202012Validator({**json.loads(schema_json), **self._composants})

    def operation(self, methode: str, chemin: str) -> tuple[str, dict] | None:
        for _, motif, gabarit in self._gabarits:
            if motif.match(chemin):
                operation = self.document["paths"][gabarit].get(methode.lower())
                return (gabarit, operation) if operation else None
        return None

    def ecarts(self, methode: str, url: str, statut: int, type_contenu: str, corps: bytes) -> list[str]:
        """Ce qui, dans cette réponse, s'écarte du document (vide si elle est conforme)."""
        if methode.lower() not in METHODES:
            return []  # HEAD, OPTIONS : hors contrat, sans corps à juger
        chemin = urlsplit(url).path
        if chemin.startswith(STATIQUES):
            return []  # scripts, styles et icône de la page /classe : fichiers, hors de l'API
        trouvee = self.operation(methode, chemin)
        quoi = f"{methode} {chemin} → {statut}"
        declaree = trouvee[1]["responses"].get(str(statut)) if trouvee else None
        if declaree is None:
            if statut < 400:
                return [f"{quoi} : statut non déclaré par le document"]
            declaree = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Erreur"}}}}
        contenus = declaree.get("content", {})
        if not contenus:  # une redirection : son corps (lien HTML de Werkzeug) n'est pas lu
            return [] if not corps or 300 <= statut < 400 else [f"{quoi} : corps inattendu"]
        type_recu = type_contenu.split(";", 1)[0].strip().lower()
        if type_recu not in contenus:
            return [f"{quoi} : type de contenu {type_recu!r} non déclaré ({', '.join(contenus)})"]
        if type_recu != "application/json":
            return []  # CSV, HTML, JSONL, texte : des chaînes pour le document
        try:
            valeur = json.loads(corps)
        except ValueError:
            return [f"{quoi} : corps JSON illisible"]
        schema = json.dumps(contenus[type_recu]["schema"], sort_keys=True)
        return [f"{quoi} : {erreur.message} (à {'/'.join(map(str, erreur.instance_path)) or 'la racine'})"
                for erreur in list(self._validateur(schema).iter_errors(valeur))[:5]]


@lru_cache(maxsize=1)
def contrat_http() -> ContratHttp:
    """Le contrat du code testé : le document que sert ``/openapi.json`` (même code, même version)."""
    from app.web.openapi import document

    return ContratHttp(document())


def ecarts_grpc(message) -> list[str]:
    """Ce qui, dans un message gRPC reçu (et ses messages imbriqués), manque ou n'est pas déclaré."""
    from google.protobuf import unknown_fields
    from google.protobuf.descriptor import FieldDescriptor

    ecarts = []
    nom = message.DESCRIPTOR.name
    if len(unknown_fields.UnknownFieldSet(message)):
        ecarts.append(f"{nom} : champ(s) non déclaré(s) par le .proto")
    for champ in message.DESCRIPTOR.fields:
        valeur = getattr(message, champ.name)
        repete = champ.is_repeated
        if champ.type == FieldDescriptor.TYPE_MESSAGE:
            for element in (valeur if repete else [valeur] if message.HasField(champ.name) else []):
                ecarts.extend(ecarts_grpc(element))
        elif repete or champ.has_presence:
            continue  # liste (vide permise), ou champ « optional » : absent est une valeur
        elif champ.type == FieldDescriptor.TYPE_ENUM and valeur == 0 \
                and "NON_PRECIS" in champ.enum_type.values_by_number[0].name:
            ecarts.append(f"{nom}.{champ.name} : énumération à sa valeur non précisée")
        elif champ.type == FieldDescriptor.TYPE_STRING and valeur == "":
            ecarts.append(f"{nom}.{champ.name} : chaîne requise vide")
    return ecarts

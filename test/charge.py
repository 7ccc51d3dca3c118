"""Générateur de charge des tests de fiabilité : des fils, chacun une connexion HTTP/1.1 persistante.

``http.client`` plutôt que ``requests`` : trois à quatre fois moins de CPU par requête, ce qui
compte sur deux cœurs partagés avec le serveur. Chaque requête porte un ``X-Request-ID`` choisi
ici (``prefixe-numero``) : on sait ainsi, pour chacune, son statut, quand elle est partie, quand
elle a fini, et on peut la retrouver dans le journal et la base. Aucune n'est réessayée : une
requête qui échoue (connexion coupée) est comptée comme telle, puis le fil se reconnecte.
Le corps des réponses n'est jamais affiché (données d'élèves).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Resultat:
    numero: int
    request_id: str
    statut: int | None  # None : pas de réponse (connexion coupée, refusée…)
    debut: float  # time.monotonic() avant l'envoi
    envoyee: float | None  # requête entièrement écrite sur la connexion
    fin: float
    erreur: str = ""


def _connexion(hote: str, port: int, delai: float) -> http.client.HTTPConnection:
    connexion = http.client.HTTPConnection(hote, port, timeout=delai)
    connexion.connect()
    return connexion


def charger(url: str, nombre: int, connexions: int, corps: list[bytes], prefixe: str, *,
            chemin: str = "/predire", delai: float = 60.0, arret: threading.Event | None = None,
            pendant=None) -> list[Resultat]:
    """Envoie ``nombre`` POST JSON sur ``connexions`` connexions persistantes ; renvoie un résultat par requête.

    ``corps[i % len(corps)]`` est le corps de la requête ``i``. ``arret`` (facultatif) interrompt
    l'envoi de nouvelles requêtes ; ``pendant(resultats)`` est appelé une fois par seconde environ
    dans un fil à part, pour provoquer une panne au bon moment (il renvoie False pour s'arrêter).
    """
    morceaux = urlsplit(url)
    hote, port = morceaux.hostname, morceaux.port
    resultats: list[Resultat | None] = [None] * nombre
    suivant = iter(range(nombre))
    verrou = threading.Lock()
    arret = arret or threading.Event()

    def fil() -> None:
        connexion = None
        while not arret.is_set():
            with verrou:
                i = next(suivant, None)
            if i is None:
                break
            request_id = f"{prefixe}-{i}"
            debut = time.monotonic()
            envoyee = None
            try:
                if connexion is None:
                    connexion = _connexion(hote, port, delai)
                connexion.request("POST", chemin, body=corps[i % len(corps)],
                                  headers={"Content-Type": "application/json", "X-Request-ID": request_id})
                envoyee = time.monotonic()
                reponse = connexion.getresponse()
                reponse.read()
                resultats[i] = Resultat(i, request_id, reponse.status, debut, envoyee, time.monotonic())
                if reponse.will_close:
                    connexion.close()
                    connexion = None
            except (OSError, http.client.HTTPException) as erreur:
                resultats[i] = Resultat(i, request_id, None, debut, envoyee, time.monotonic(), type(erreur).__name__)
                if connexion is not None:
                    connexion.close()
                connexion = None
                time.sleep(0.01)  # serveur arrêté : pas de boucle serrée de connexions refusées
        if connexion is not None:
            connexion.close()

    fils = [threading.Thread(target=fil, daemon=True) for _ in range(connexions)]
    for f in fils:
        f.start()
    if pendant is not None:
        while any(f.is_alive() for f in fils):
            if pendant([r for r in resultats if r is not None]) is False:
                break
            time.sleep(1.0)
    for f in fils:
        f.join()
    return [r for r in resultats if r is not None]


def corps_varies(exemple: dict, nombre: int = 200) -> list[bytes]:
    """Des élèves différents (absences, notes, configurations A, B, C), encodés une fois pour toutes."""
    corps = []
    for i in range(nombre):
        eleve = {**exemple, "absences": i % 94, "G1": i % 21, "G2": (i * 7) % 21}
        if i % 10 == 0:
            eleve.pop("G2")
        if i % 10 == 5:
            eleve.pop("G1"), eleve.pop("G2")
        corps.append(json.dumps(eleve).encode())
    return corps


def requete_lente(url: str, eleve: dict, resultat: dict, partir: threading.Event) -> None:
    """Envoie une requête dont le corps n'arrive qu'après ``partir`` (SIGTERM) : elle est alors en cours."""
    hote, port = url.removeprefix("http://").split(":")
    corps = json.dumps(eleve).encode()
    with socket.create_connection((hote, int(port)), timeout=20) as connexion:
        connexion.sendall(b"POST /predire HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(corps) + corps[:20])
        resultat["envoyee"] = True
        partir.wait(30)
        connexion.sendall(corps[20:])
        reponse = b""
        while morceau := connexion.recv(65536):
            reponse += morceau
    resultat["statut"] = int(reponse.split(b" ", 2)[1]) if reponse else None

"""Démarrage léger du serveur gRPC pour les rafales de signaux (test_arret_signaux) : le même
``AttenteArret``, le même serveur (``construire``) et le même ``arreter`` que ``python -m app.rpc``,
sans charger le modèle. Deux cents démarrages doivent tenir dans le temps d'un test : un lanceur
importe grpc une fois et crée chaque serveur dans un processus fils (``fork`` avant tout objet grpc).

Protocole du lanceur (une ligne par ordre sur stdin, une réponse par ligne sur stdout) :
``lancer`` → pid du fils ; ``pret`` → ``prêt`` (ou ``mort``) quand le fils attend son signal ;
``attendre`` → code de sortie du fils, ou ``bloqué`` s'il vit encore ``DELAI_ARRET_S`` plus tard (tué).
"""

from __future__ import annotations

import os
import signal
import sys
import time

from app.config import Configuration
from app.rpc.serveur import DELAI_ARRET_S, AttenteArret, arreter, construire


def servir(pret: int) -> int:
    attente = AttenteArret()  # en premier, comme dans app.rpc.serveur.main
    serveur, sante, _, _ = construire(Configuration(), "127.0.0.1:0")
    serveur.start()
    os.write(pret, "prêt\n".encode())
    attente.attendre()
    arreter(serveur, sante)
    return 0


def _attendre(pid: int) -> str:
    limite = time.monotonic() + DELAI_ARRET_S
    while time.monotonic() < limite:
        fini, statut = os.waitpid(pid, os.WNOHANG)
        if fini:
            return str(os.waitstatus_to_exitcode(statut))
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "bloqué"


def lanceur() -> None:
    pid, lecture = 0, -1
    for ordre in sys.stdin:
        ordre = ordre.strip()
        if ordre == "lancer":
            lecture, ecriture = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(lecture)
                code = 1
                try:
                    code = servir(ecriture)
                finally:
                    os._exit(code)
            os.close(ecriture)
            reponse = str(pid)
        elif ordre == "pret":
            reponse = "prêt" if os.read(lecture, 64).strip() == "prêt".encode() else "mort"
        else:
            reponse = _attendre(pid)
            os.close(lecture)
        print(reponse, flush=True)


if __name__ == "__main__":
    lanceur()

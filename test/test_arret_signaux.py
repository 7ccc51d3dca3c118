"""Arrêt du serveur gRPC sous des rafales de SIGTERM (issue 28) : deux cents démarrages, chacun reçoit une
rafale (1 à 40 signaux, espacés de 0 à 1 ms) à un instant tiré au hasard — pendant le démarrage ou
après « prêt » — et sort toujours dans son délai d'arrêt (``DELAI_ARRET_S``). Avant : le gestionnaire
prenait le verrou de l'``Event`` que le fil principal (ou un gestionnaire imbriqué) tenait déjà ; le
processus restait bloqué, sourd aux SIGTERM suivants. Démarrage léger (test/serveur_grpc_leger.py : même
attente, même serveur, même arrêt, sans modèle) ; le serveur complet est arrêté de même par test_rpc."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from test.conftest import RACINE

ESSAIS = 200
LANCEURS = 2


class Lanceur:
    """Un processus ``python -m test.serveur_grpc_leger`` qui crée les serveurs à la demande (fork)."""

    def __init__(self) -> None:
        self.processus = subprocess.Popen([sys.executable, "-m", "test.serveur_grpc_leger"], cwd=RACINE,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ordre(self, texte: str) -> str:
        self.processus.stdin.write(texte + "\n")
        self.processus.stdin.flush()
        return self.processus.stdout.readline().strip()

    def fermer(self) -> None:
        self.processus.stdin.close()
        self.processus.wait(30)
        self.processus.stdout.close()


def _essais(graines: range) -> list[tuple[int, str, str]]:
    """Pour chaque graine : un serveur, une rafale ; (graine, moment, code de sortie ou « bloqué »)."""
    lanceur, resultats = Lanceur(), []
    try:
        for graine in graines:
            hasard = random.Random(graine)
            pid = int(lanceur.ordre("lancer"))
            if hasard.random() < 0.85:  # le plus souvent quand le serveur attend : là était le blocage
                assert lanceur.ordre("pret") == "prêt", f"graine {graine} : le serveur n'a pas démarré"
                moment = "après prêt"
                time.sleep(hasard.uniform(0, 0.02))
            else:
                moment = "pendant le démarrage"
                time.sleep(hasard.uniform(0, 0.05))
            for _ in range(hasard.randint(1, 40)):
                os.kill(pid, signal.SIGTERM)  # le fils n'est pas encore attendu par le lanceur : il existe
                if hasard.random() < 0.5:
                    time.sleep(hasard.uniform(0, 0.001))
            resultats.append((graine, moment, lanceur.ordre("attendre")))
    finally:
        lanceur.fermer()
    return resultats


def test_rafales_de_sigterm_le_serveur_sort_toujours(mesurer):
    depart = random.SystemRandom().randrange(1 << 30)
    debut = time.monotonic()
    with ThreadPoolExecutor(LANCEURS) as executeur:
        lots = executeur.map(_essais, [range(depart + i, depart + ESSAIS, LANCEURS) for i in range(LANCEURS)])
        resultats = [r for lot in lots for r in lot]
    assert len(resultats) == ESSAIS
    bloques = [(g, m) for g, m, code in resultats if code == "bloqué"]
    assert not bloques, f"{len(bloques)} serveur(s) encore en vie après le délai d'arrêt : {bloques[:5]}"
    apres_pret = [code for _, m, code in resultats if m == "après prêt"]
    assert apres_pret and set(apres_pret) == {"0"}, f"codes de sortie après « prêt » : {set(apres_pret)}"
    pendant = {code for _, m, code in resultats if m != "après prêt"}
    assert pendant <= {"0", str(-signal.SIGTERM)}, f"codes de sortie pendant le démarrage : {pendant}"
    mesurer("gRPC : rafales de SIGTERM", f"{ESSAIS} démarrages, {len(apres_pret)} rafales après « prêt », 0 bloqué "
            f"en {time.monotonic() - debut:.0f} s (graines {depart}…{depart + ESSAIS - 1})")

"""L'avancement de la commande de lot : une barre (fichiers, élèves) sur un terminal, sinon une ligne JSON
par fichier (Cloud Run Jobs : CLOUD_RUN_JOB défini, Cloud Logging lit chaque ligne), puis un résumé.

Ni nom d'élève ni valeur d'un élève : seulement des noms de fichiers et des comptes."""

from __future__ import annotations

import json
import sys
import time

from app.lot.fichier import ILLISIBLE, Bilan


class Progression:
    def __init__(self, total: int, tache: int, taches: int, en_json: bool):
        self.total, self.tache, self.taches, self.en_json = total, tache, taches, en_json
        self.debut = time.monotonic()
        self.fichiers = self.eleves = self.rejets = self.sautes = self.deja = 0
        self.illisibles: list[str] = []
        self._barre = None
        if not en_json:
            from tqdm import tqdm

            self._barre = tqdm(total=total, unit=" fichier", file=sys.stderr, dynamic_ncols=True,
                               desc=f"tâche {tache + 1}/{taches}")
        self._ligne({"evenement": "debut", "fichiers": total})

    def _ligne(self, document: dict) -> None:
        if self.en_json:
            print(json.dumps({"severity": "INFO", "tache": self.tache, "taches": self.taches, **document},
                             ensure_ascii=False), flush=True)

    def fichier(self, bilan: Bilan) -> None:
        self.fichiers += 1
        if bilan.statut != "saute":  # les élèves notés par ce passage ; ceux d'un fichier sauté l'ont été avant
            self.eleves += bilan.eleves
            self.rejets += bilan.rejets
        self.deja += bilan.deja_conserves
        self.sautes += bilan.statut == "saute"
        if bilan.statut == ILLISIBLE:
            self.illisibles.append(bilan.nom)
        if self._barre is not None:
            self._barre.set_postfix({"élèves": self.eleves, "refusés": self.rejets,
                                     "illisibles": len(self.illisibles)}, refresh=False)
            self._barre.update()
        self._ligne({"evenement": "fichier", "fichier": bilan.nom, "statut": bilan.statut, "eleves": bilan.eleves,
                     "rejets": bilan.rejets, "fait": self.fichiers, "total": self.total})

    def resume(self) -> dict:
        duree = time.monotonic() - self.debut
        return {"fichiers": self.fichiers, "sautes": self.sautes, "illisibles": len(self.illisibles),
                "eleves": self.eleves, "rejets": self.rejets, "deja_conserves": self.deja,
                "duree_s": round(duree, 3), "eleves_par_s": round(self.eleves / duree) if duree else 0}

    def fin(self) -> dict:
        resume = self.resume()
        if self._barre is not None:
            self._barre.close()
            print(f"tâche {self.tache + 1}/{self.taches} : {resume['fichiers']} fichier(s) dont {resume['sautes']} "
                  f"déjà faits et {resume['illisibles']} illisible(s), {resume['eleves']} élève(s) noté(s), "
                  f"{resume['rejets']} ligne(s) refusée(s), en {resume['duree_s']:.1f} s", file=sys.stderr)
            for nom in self.illisibles:
                print(f"  illisible : {nom} (voir son .resume.json)", file=sys.stderr)
        self._ligne({"evenement": "fin", **resume, "fichiers_illisibles": self.illisibles,
                     **({"severity": "ERROR"} if self.illisibles else {})})
        return resume

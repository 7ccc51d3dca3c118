"""Quels fichiers lire, et lesquels reviennent à cette tâche (Cloud Run Jobs : ``CLOUD_RUN_TASK_INDEX`` et
``CLOUD_RUN_TASK_COUNT``, lus par ``app.config``).

Les fichiers sont triés par nom puis distribués à tour de rôle : chaque tâche voit la même liste (le même
dossier monté), donc chaque fichier revient à exactement une tâche, et les parts diffèrent d'un fichier
au plus. Une tâche n'écrit que les sorties de ses fichiers.
"""

from __future__ import annotations

from pathlib import Path

SUFFIXES_SORTIE = (".resultats.csv", ".resume.json")


def fichiers_entree(entree: Path) -> list[Path]:
    """Le fichier ``entree``, ou les ``*.csv`` du dossier (sans sous-dossiers, ni fichiers cachés ou temporaires,
    ni nos propres sorties quand ENTREE et SORTIE sont le même dossier), triés par nom."""
    if entree.is_file():
        return [entree]
    if not entree.is_dir():
        raise FileNotFoundError(f"ENTREE introuvable : {entree} (un dossier de fichiers CSV ou un fichier)")
    return sorted(f for f in entree.iterdir()
                  if f.is_file() and f.suffix.lower() == ".csv" and not f.name.startswith(".")
                  and not f.name.endswith(SUFFIXES_SORTIE))


def part_de(fichiers: list[Path], index: int, nombre: int) -> list[Path]:
    """La part de la tâche ``index`` (de 0 à ``nombre`` − 1) : un fichier sur ``nombre``, à partir du rang ``index``."""
    if not 0 <= index < nombre:
        raise ValueError(f"tâche {index} hors de 0..{nombre - 1}")
    return fichiers[index::nombre]

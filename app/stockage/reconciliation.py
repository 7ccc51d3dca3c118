"""Réconciliation complète du journal avec la base, sur demande : ``make reconcilier``
(``python -m app.stockage.reconciliation``).

Le démarrage ne relit que le journal actif et les segments que l'index ne dit pas confirmés dans cette
base (issue 26) ; cette commande relit tout le journal, chaque segment, confirmé ou non, et insère en base
chaque ligne dont le request_id y manque (idempotente, registre des effacements lu : rien d'effacé ne
revient), puis confirme les segments lus. Pour l'exploitant qui doute de la base (restaurée à la main, sans
``make restauration``) ; service en marche ou arrêté, avec la configuration du service. N'affiche que des
nombres.
"""

from __future__ import annotations

import argparse
import sys

from app.config import Configuration, ErreurConfiguration
from app.stockage.conservation import Conservation
from app.stockage.enregistrement import definir_sel
from app.stockage.journal import ErreurJournal, JournalRequetes
from app.stockage.magasin import ErreurMagasin, MagasinResultats


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m app.stockage.reconciliation",
                            description=__doc__.splitlines()[0]).parse_args(argv)
    try:
        config = Configuration.depuis_environnement()
        definir_sel(config.sel_effacement)
        magasin = MagasinResultats(config.url_base, connexions=1)
        try:
            conservation = Conservation(magasin, JournalRequetes.depuis_configuration(config), config.retention_jours)
            bilan = conservation.reconcilier(complete=True)
        finally:
            magasin.moteur.dispose()
    except (ErreurConfiguration, ErreurMagasin, ErreurJournal) as erreur:
        print(f"erreur : {erreur}", file=sys.stderr)
        return 2
    print(f"Réconciliation complète : {bilan.lignes} ligne(s) du journal lues, {bilan.inserees} insérée(s) en base "
          f"({magasin.nom}), {bilan.illisibles} illisible(s), en {bilan.duree_s:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m app.lot ENTREE SORTIE`` : voir ``app.lot.commande``."""

import sys

from app.lot.commande import main

sys.exit(main())

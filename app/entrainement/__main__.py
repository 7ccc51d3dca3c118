"""``python -m app.entrainement`` (ou ``make entrainer``) : voir ``app.entrainement.commande``."""

import sys

from app.entrainement.commande import entrainer

sys.exit(entrainer())

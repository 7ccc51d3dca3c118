"""Les pièces de l'identification, construites une fois par la fabrique selon le mode (``app.web.identite``)."""

from __future__ import annotations

from app.config import Configuration
from app.stockage.journal_acces import JournalAcces, Sessions
from app.stockage.magasin import MagasinResultats
from app.web.droits import Droits, FichierAcces
from app.web.jetons import ALGORITHMES_IAP, EMETTEUR_IAP, Verificateur
from app.web.oidc import ClientOidc


class Identification:
    def __init__(self, config: Configuration, magasin: MagasinResultats):
        self.mode = config.mode_identite
        self.fichier = FichierAcces(config.chemin_acces) if self.mode != "local" else None
        self.journal_acces = JournalAcces(magasin, config.retention_acces_jours)
        self.sessions = Sessions(magasin)
        self.oidc = (ClientOidc(config.oidc_issuer, config.oidc_client_id, config.oidc_client_secret)
                     if self.mode == "oidc" else None)
        self._iap = (Verificateur(config.iap_cles_url, EMETTEUR_IAP, config.iap_audience, ALGORITHMES_IAP)
                     if self.mode == "iap" else None)

    def verificateur(self) -> Verificateur:
        return self._iap if self._iap is not None else self.oidc.verificateur()

    def droits(self) -> Droits:
        return self.fichier.droits()

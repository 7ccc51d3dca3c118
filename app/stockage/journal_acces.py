"""Le journal des accès : qui a lu ou effacé quelles données personnelles, quand, par quelle route.

Une ligne par accès (historique, prédiction relue, export, effacement, classe envoyée), dans la table ``acces``
du magasin des résultats : toutes les instances y écrivent et le dpo la lit (``GET /acces``). Une ligne ne
contient jamais d'attribut d'élève, et un user_id seulement sous la forme de l'empreinte du registre des
effacements (``app.stockage.enregistrement.empreinte_utilisateur``, seule définition). Conservée
``RETENTION_ACCES_JOURS`` jours (365 par défaut) : la purge passe au plus une fois par heure et par processus.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Iterator

from sqlalchemy import delete, insert, select

from app.stockage.enregistrement import empreinte_utilisateur
from app.stockage.magasin import ACCES, SESSIONS, MagasinResultats, _traduire, instant_iso

PERIODE_PURGE_S = 3600.0
COLONNES = ("horodatage", "qui", "route", "ecole", "eleves", "empreinte")


class JournalAcces:
    def __init__(self, magasin: MagasinResultats, retention_jours: int):
        self.magasin = magasin
        self.retention = dt.timedelta(days=retention_jours)
        self._derniere_purge = float("-inf")
        self._verrou = threading.Lock()

    def inscrire(self, qui: str, route: str, ecoles, eleves: int, user_id: str | None = None) -> None:
        """Une ligne ; ``ecoles`` : les codes d'école concernés (triés et joints), ``user_id`` réduit à son empreinte."""
        self.magasin._assurer_schema()
        ligne = {"horodatage": dt.datetime.now(dt.timezone.utc), "qui": qui[:320], "route": route[:128],
                 "ecole": ",".join(sorted(set(ecoles)))[:128] or None, "eleves": int(eleves),
                 "empreinte": None if user_id is None else empreinte_utilisateur(user_id)}
        with _traduire("l'inscription au journal des accès"), self.magasin.moteur.begin() as connexion:
            connexion.execute(insert(ACCES).values(**ligne))
        self.purger_si_du()

    def purger_si_du(self) -> int:
        with self._verrou:
            if time.monotonic() - self._derniere_purge < PERIODE_PURGE_S:
                return 0
            self._derniere_purge = time.monotonic()
        return self.purger()

    def purger(self, maintenant: dt.datetime | None = None) -> int:
        limite = (maintenant or dt.datetime.now(dt.timezone.utc)) - self.retention
        with _traduire("la purge du journal des accès"), self.magasin.moteur.begin() as connexion:
            return connexion.execute(delete(ACCES).where(ACCES.c.horodatage < limite)).rowcount or 0

    def lire(self, qui: str | None = None, depuis: dt.datetime | None = None,
             jusqua: dt.datetime | None = None) -> Iterator[dict]:
        """Les lignes dans l'ordre d'inscription, filtrées par personne et par ``depuis <= horodatage < jusqua``."""
        self.magasin._assurer_schema()
        filtres = []
        if qui:
            filtres.append(ACCES.c.qui == qui.strip().lower())
        if depuis is not None:
            filtres.append(ACCES.c.horodatage >= depuis)
        if jusqua is not None:
            filtres.append(ACCES.c.horodatage < jusqua)
        requete = select(*(ACCES.c[c] for c in COLONNES)).where(*filtres).order_by(ACCES.c.numero)
        with _traduire("la lecture du journal des accès"), self.magasin.moteur.connect() as connexion:
            lignes = connexion.execute(requete).mappings().all()
        for ligne in lignes:
            yield {**ligne, "horodatage": instant_iso(ligne["horodatage"])}


def empreinte_session(identifiant: str) -> str:
    return hashlib.sha256(identifiant.encode("ascii")).hexdigest()


class Sessions:
    """Sessions du mode OpenID Connect, dans la base partagée : ouvertes à la connexion, fermées à la déconnexion."""

    def __init__(self, magasin: MagasinResultats):
        self.magasin = magasin

    def ouvrir(self, identifiant: str, qui: str, duree: dt.timedelta) -> None:
        self.magasin._assurer_schema()
        maintenant = dt.datetime.now(dt.timezone.utc)
        with _traduire("l'ouverture de session"), self.magasin.moteur.begin() as connexion:
            connexion.execute(delete(SESSIONS).where(SESSIONS.c.expire < maintenant))
            connexion.execute(insert(SESSIONS).values(empreinte=empreinte_session(identifiant), qui=qui,
                                                      expire=maintenant + duree))

    def qui(self, identifiant: str) -> str | None:
        """L'adresse de la session si elle est ouverte et non expirée, sinon None."""
        self.magasin._assurer_schema()
        with _traduire("la lecture de session"), self.magasin.moteur.connect() as connexion:
            ligne = connexion.execute(select(SESSIONS.c.qui, SESSIONS.c.expire).where(
                SESSIONS.c.empreinte == empreinte_session(identifiant))).first()
        if ligne is None or instant_iso(ligne.expire) < instant_iso(dt.datetime.now(dt.timezone.utc)):
            return None
        return ligne.qui

    def fermer(self, identifiant: str) -> None:
        with _traduire("la fermeture de session"), self.magasin.moteur.begin() as connexion:
            connexion.execute(delete(SESSIONS).where(SESSIONS.c.empreinte == empreinte_session(identifiant)))

"""Le fichier d'accès (``ACCES_FICHIER``, TOML) : qui a quel rôle, pour quelles écoles.

Format (docs/securite-identite.md) ::

    contact = "dsi@lycee.example"          # à qui demander un accès (page 403)

    [[personnes]]
    qui = "conseil.gp@lycee.example"       # une adresse, ou "@domaine.example" pour tout un domaine
    role = "conseiller"                    # conseiller | direction | dpo
    ecoles = ["GP"]                        # valeurs du champ school ; ["*"] pour toutes

Le fichier est relu sans redémarrage : une seconde après sa modification (date, taille ou inode changés), et
en tout cas dans les 30 secondes (secret monté par Cloud Run). Un fichier devenu invalide est signalé au journal et l'ancienne version reste en vigueur ; invalide
au démarrage, le service refuse de démarrer (message qui nomme la ligne fautive).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROLES = ("conseiller", "direction", "dpo")
TOUTES = "*"
RELECTURE_S = 1.0
RELECTURE_COMPLETE_S = 30.0
journal = logging.getLogger("prediction_etudiante")


class FichierAccesInvalide(ValueError):
    """Le fichier d'accès est illisible ou mal formé ; le message nomme l'entrée et la règle."""


@dataclass(frozen=True)
class Personne:
    qui: str
    role: str
    ecoles: frozenset[str]

    def voit(self, ecole: str | None) -> bool:
        """Le dpo voit toutes les écoles ; les autres, celles de leur entrée (``*`` : toutes)."""
        return self.role == "dpo" or TOUTES in self.ecoles or ecole in self.ecoles

    @property
    def toutes_ecoles(self) -> bool:
        return self.role == "dpo" or TOUTES in self.ecoles


@dataclass(frozen=True)
class Droits:
    personnes: dict[str, Personne]
    """Par adresse (minuscules) ou par domaine (``@domaine``)."""
    contact: str

    def personne(self, adresse: str) -> Personne | None:
        """L'entrée de l'adresse, sinon celle de son domaine, sinon None (personne inconnue : 403)."""
        adresse = adresse.strip().lower()
        if adresse in self.personnes:
            return self.personnes[adresse]
        _, arobase, domaine = adresse.rpartition("@")
        return self.personnes.get("@" + domaine) if arobase else None


def lire_droits(texte: str) -> Droits:
    try:
        document = tomllib.loads(texte)
    except tomllib.TOMLDecodeError as erreur:
        raise FichierAccesInvalide(f"TOML invalide : {erreur}") from None
    contact = document.get("contact", "")
    if not isinstance(contact, str):
        raise FichierAccesInvalide("contact : une chaîne attendue (adresse à qui demander un accès)")
    entrees = document.get("personnes", [])
    if not isinstance(entrees, list):
        raise FichierAccesInvalide("personnes : une liste de tables [[personnes]] attendue")
    personnes: dict[str, Personne] = {}
    for rang, entree in enumerate(entrees, start=1):
        nom = f"personnes n° {rang}"
        if not isinstance(entree, dict) or set(entree) - {"qui", "role", "ecoles"}:
            raise FichierAccesInvalide(f"{nom} : seules les clés qui, role et ecoles sont permises")
        qui, role, ecoles = entree.get("qui"), entree.get("role"), entree.get("ecoles")
        if not isinstance(qui, str) or "@" not in qui or any(c.isspace() for c in qui.strip()):
            raise FichierAccesInvalide(f"{nom}, qui : une adresse (conseil@lycee.example) ou un domaine "
                                       "(@lycee.example) attendu")
        if role not in ROLES:
            raise FichierAccesInvalide(f"{nom}, role : {role!r} ; valeurs permises : {', '.join(ROLES)}")
        if not isinstance(ecoles, list) or not ecoles or not all(isinstance(e, str) and e for e in ecoles):
            raise FichierAccesInvalide(f"{nom}, ecoles : une liste non vide de codes d'école (\"GP\") ou [\"*\"]")
        cle = qui.strip().lower()
        if cle in personnes:
            raise FichierAccesInvalide(f"{nom}, qui : {cle} figure déjà plus haut")
        personnes[cle] = Personne(cle, role, frozenset(ecoles))
    return Droits(personnes, contact.strip())


def lire_fichier(chemin: Path) -> Droits:
    try:
        texte = chemin.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as erreur:
        raise FichierAccesInvalide(f"{chemin} illisible ({type(erreur).__name__})") from None
    try:
        return lire_droits(texte)
    except FichierAccesInvalide as erreur:
        raise FichierAccesInvalide(f"{chemin} : {erreur}") from None


class FichierAcces:
    """Le fichier d'accès en vigueur : relu dès que sa date, sa taille ou son inode change (vérifié au plus chaque
    ``RELECTURE_S``), et de toute façon toutes les ``RELECTURE_COMPLETE_S`` (un secret monté par Cloud Run peut
    changer de contenu sans changer de date)."""

    def __init__(self, chemin: Path, relecture_s: float = RELECTURE_S):
        self.chemin = chemin
        self._relecture_s = relecture_s
        self._verrou = threading.Lock()
        self._signature = self._signature_fichier()
        self._droits = lire_fichier(chemin)  # invalide au démarrage : le service ne démarre pas
        self._texte = self._lire_texte()
        self._verifie = self._lu = time.monotonic()

    def _signature_fichier(self):
        try:
            etat = os.stat(self.chemin)
        except OSError:
            return None
        return etat.st_mtime_ns, etat.st_size, etat.st_ino

    def _lire_texte(self) -> str | None:
        try:
            return self.chemin.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def droits(self) -> Droits:
        maintenant = time.monotonic()
        if maintenant - self._verifie < self._relecture_s:
            return self._droits
        with self._verrou:
            if maintenant - self._verifie >= self._relecture_s:
                self._verifie = maintenant
                signature = self._signature_fichier()
                if signature != self._signature or maintenant - self._lu >= RELECTURE_COMPLETE_S:
                    self._signature, self._lu = signature, maintenant
                    texte = self._lire_texte()
                    if texte != self._texte:
                        self._texte = texte
                        self._recharger()
        return self._droits

    def _recharger(self) -> None:
        try:
            self._droits = lire_fichier(self.chemin)
            journal.info("fichier d'accès relu : %d entrée(s)", len(self._droits.personnes))
        except FichierAccesInvalide as erreur:
            journal.warning("fichier d'accès modifié mais invalide, l'ancienne version reste en vigueur : %s", erreur)


def main(arguments: list[str] | None = None) -> int:
    """``python -m app.web.droits acces.toml`` : vérifie un fichier d'accès avant de le publier."""
    import sys

    chemins = sys.argv[1:] if arguments is None else arguments
    if len(chemins) != 1:
        print("usage : python -m app.web.droits acces.toml", file=sys.stderr)
        return 2
    try:
        droits = lire_fichier(Path(chemins[0]))
    except FichierAccesInvalide as erreur:
        print(f"fichier d'accès invalide : {erreur}", file=sys.stderr)
        return 1
    for personne in droits.personnes.values():
        ecoles = "toutes" if personne.toutes_ecoles else ", ".join(sorted(personne.ecoles))
        print(f"{personne.qui} : {personne.role}, écoles {ecoles}")
    print(f"{len(droits.personnes)} entrée(s) ; contact : {droits.contact or '(aucun)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

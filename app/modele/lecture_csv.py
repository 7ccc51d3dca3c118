"""Les fichiers de classe tels que les établissements les ont : encodage, séparateur, en-têtes français.

- Encodage : UTF-8 (avec ou sans BOM), UTF-16 avec BOM (« Texte Unicode » d'Excel), sinon Windows-1252
  (exports des anciens Excel français). Jamais deviné en silence : l'encodage lu est renvoyé et la
  page le nomme. Un octet que Windows-1252 ne définit pas : refus, avec la marche à suivre.
- Séparateur : « ; », « , » ou tabulation, le plus fréquent dans l'en-tête (``schema.separateur_csv``).
- En-têtes : le nom UCI (``age``) ou le libellé français du schéma (« Âge », « Études de la mère »),
  casse, accents et ponctuation ignorés ; ``alias_colonnes`` est dérivé de ``app.modele.schema``
  (par ``app.modele.explication.libelle``) : aucune autre liste de libellés.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from app.modele.explication import libelle
from app.modele.schema import CHAMPS

NOTE_FINALE = "G3"
ALIAS_HORS_SCHEMA = {NOTE_FINALE: ("note finale", "note du 3e trimestre"),
                     "user_id": ("identifiant", "identifiant pseudonyme", "identifiant pseudonyme de l eleve")}
"""G3 (la note finale, jamais une entrée du modèle) et user_id n'ont pas de libellé dans le schéma des 32 attributs."""
CONSEIL_ENCODAGE = ("dans votre tableur, « Enregistrer sous » puis « CSV UTF-8 (délimité par des virgules) » "
                    "ou « CSV (séparateur : point-virgule) », et renvoyez ce fichier")
NOMS_SEPARATEURS = {";": "point-virgule", ",": "virgule", "\t": "tabulation"}


class FichierIllisible(ValueError):
    """Le fichier ne se lit pas comme du texte ; le message dit comment le réenregistrer."""


def normaliser(texte: str) -> str:
    """Minuscules, sans accents, ponctuation et espaces réduits à une espace : « Âge » → « age »."""
    sans_accents = unicodedata.normalize("NFKD", texte).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", " ", sans_accents.lower()).strip()


@lru_cache(maxsize=1)
def alias_colonnes() -> dict[str, str]:
    """En-tête normalisé → nom de colonne UCI : les libellés français du schéma, G3 et user_id."""
    alias = {normaliser(libelle(champ)): champ for champ in CHAMPS}
    for nom, textes in ALIAS_HORS_SCHEMA.items():
        alias.update(dict.fromkeys(textes, nom))
    return alias


def nom_colonne(entete: str) -> str | None:
    """Le nom UCI d'un en-tête français (« Études de la mère » → ``Medu``), None s'il n'en est pas un."""
    return alias_colonnes().get(normaliser(entete))


def decoder(brut: bytes) -> tuple[str, str]:
    """(texte, nom de l'encodage lu) ; ``FichierIllisible`` si ce n'est ni de l'UTF-8 ni du Windows-1252."""
    if brut.startswith(b"\xef\xbb\xbf"):
        encodages = [("utf-8-sig", "UTF-8 avec BOM")]
    elif brut.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodages = [("utf-16", "UTF-16")]
    else:
        encodages = [("utf-8", "UTF-8"), ("cp1252", "Windows-1252")]
    for codec, nom in encodages:
        try:
            texte = brut.decode(codec)
        except UnicodeDecodeError:
            continue
        if "\x00" in texte:
            break
        return texte, nom
    raise FichierIllisible("fichier illisible : ce n'est ni du texte UTF-8 ni du Windows-1252 (un classeur .xlsx "
                           "ou .ods n'est pas un CSV) ; " + CONSEIL_ENCODAGE)

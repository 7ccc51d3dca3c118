"""Les paramètres entiers d'une URL (``?limite=…``) : bornés, chacun une fois, aucun autre permis ; tous
les problèmes en une réponse 400 qui nomme chaque paramètre et sa règle."""

from __future__ import annotations

from app.web.erreurs import ErreurRequete


def lire_entiers(arguments, bornes: dict[str, tuple[int, int, int]], quoi: str) -> dict[str, int]:
    """``bornes`` : nom → (défaut, minimum, maximum). ``quoi`` nomme les paramètres dans le message."""
    noms = list(bornes)
    permis = f"{noms[0]} seul est permis" if len(noms) == 1 else \
        f"{', '.join(noms[:-1])} et {noms[-1]} seuls sont permis"
    problemes = [{"champ": nom, "message": f"paramètre inconnu : {permis}"} for nom in arguments if nom not in bornes]
    valeurs = {}
    for nom, (defaut, minimum, maximum) in bornes.items():
        brutes = arguments.getlist(nom)
        valeurs[nom] = defaut
        if len(brutes) > 1:
            problemes.append({"champ": nom, "message": "paramètre donné plusieurs fois"})
        elif brutes and not (brutes[0].isascii() and brutes[0].isdigit() and minimum <= int(brutes[0]) <= maximum):
            problemes.append({"champ": nom, "message": f"entier de {minimum} à {maximum} attendu"})
        elif brutes:
            valeurs[nom] = int(brutes[0])
    if problemes:
        raise ErreurRequete(400, f"paramètres de {quoi} invalides", problemes)
    return valeurs

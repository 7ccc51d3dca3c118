#!/bin/sh
# Point d'entrée de l'image : prépare le dossier de données et le journal des requêtes, puis lance la
# commande (gunicorn) sous un utilisateur non root, umask 077 (journal, verrou, base : 0600).
#
# Les fichiers d'exécution vivent dans le dossier de données /app/donnees (JOURNAL_CHEMIN et
# BASE_SQLITE_CHEMIN de l'image) ; /app et le code appartiennent à root et ne sont pas inscriptibles
# par le service.
#
# Compatibilité : `-v "$(pwd)/requetes_enrg.jsonl:/app/requetes_enrg.jsonl"` (README) marche toujours :
# un fichier monté là devient le journal (JOURNAL_CHEMIN), son verrou et le temporaire de sa réécriture
# vont dans /app/donnees (JOURNAL_VERROU_CHEMIN).
#
# Démarré en root (cas par défaut), il :
#   1. choisit l'uid du service :
#      - le propriétaire du journal s'il existe déjà et n'appartient pas à root : c'est le cas du
#        fichier de l'hôte monté ; le fichier garde son propriétaire sur l'hôte, qui peut toujours le
#        lire et l'effacer ;
#      - sinon le propriétaire du dossier du journal s'il n'est ni root ni « api » (dossier monté) ;
#      - sinon l'utilisateur « api » de l'image (uid 10001) ;
#   2. s'assure que le service peut écrire le dossier de données, le journal et son verrou : il les
#      crée, ou en change le propriétaire (c'est écrit dans les journaux du conteneur) ;
#   3. remplace son processus par la commande sous cette identité (setpriv, d'util-linux, présent
#      dans toute image Debian), sans capacités ni nouveaux privilèges : gunicorn devient le
#      processus 1 et reçoit directement le SIGTERM de `docker stop` et de Cloud Run.
#
# Démarré avec --user (déjà non root), il lance la commande telle quelle : le dossier de données doit
# alors être inscriptible par cet utilisateur (montez un dossier à vous ; voir README, section Docker).
set -eu
umask 077

if [ "$(id -u)" != "0" ]; then
    exec "$@"
fi

DONNEES=/app/donnees
ANCIEN_JOURNAL=/app/requetes_enrg.jsonl
uid="$(id -u api)"
gid="$(id -g api)"
groupes="$gid"
reference=""

en_tant_que() {
    setpriv --reuid="$uid" --regid="$gid" --groups="$groupes" -- "$@"
}

# Rend le fichier $1 inscriptible par le service (sinon le crée ou le lui donne).
preparer() {
    if en_tant_que test -w "$1"; then
        return 0
    fi
    if [ ! -e "$1" ] && en_tant_que test -w "$(dirname "$1")" -a -x "$(dirname "$1")"; then
        return 0  # l'application le créera elle-même (0600)
    fi
    if [ -e "$1" ]; then
        echo "entrypoint : $1 n'est pas inscriptible par l'uid $uid : propriétaire changé en $uid:$gid" >&2
    fi
    if ! { touch "$1" && chown "$uid:$gid" "$1"; }; then
        echo "entrypoint : attention, impossible de préparer $1 (volume en lecture seule ?) ;" \
             "l'API répondra 503 tant que le journal ne pourra pas être écrit" >&2
    fi
}

# Le journal monté seul à l'ancien emplacement (README) : il reste le journal, verrou dans les données.
if [ "${JOURNAL_CHEMIN:-}" = "$DONNEES/requetes_enrg.jsonl" ] && [ -e "$ANCIEN_JOURNAL" ]; then
    export JOURNAL_CHEMIN="$ANCIEN_JOURNAL"
    export JOURNAL_VERROU_CHEMIN="${JOURNAL_VERROU_CHEMIN:-$DONNEES/requetes_enrg.jsonl.lock}"
fi

case "${JOURNAL_MODE:-fichier}" in
    fichier|les_deux)
        journal="${JOURNAL_CHEMIN:-requetes_enrg.jsonl}"
        case "$journal" in
            /*) ;;
            *) journal="$(pwd)/$journal" ;;
        esac
        dossier="$(dirname "$journal")"
        if [ -d "$journal" ]; then
            echo "entrypoint : $journal est un dossier. Avec -v fichier:$journal, Docker crée un" \
                 "dossier quand le fichier n'existe pas sur l'hôte : créez-le d'abord" \
                 "(touch requetes_enrg.jsonl) puis relancez." >&2
            exit 64
        fi
        if [ -e "$journal" ]; then reference="$journal"; else reference="$dossier"; fi
        if [ -e "$reference" ] && [ "$(stat -c %u "$reference")" != "0" ] \
                && [ "$(stat -c %u "$reference")" != "$uid" ]; then
            uid="$(stat -c %u "$reference")"
            gid="$(stat -c %g "$reference")"
            groupes="$gid,$(id -g api)"
        fi
        ;;
esac

# Le dossier de données (celui de l'image, ou un volume) appartient au service.
for d in "$DONNEES" ${dossier:+"$dossier"}; do
    if [ ! -d "$d" ]; then
        mkdir -p "$d" && chown "$uid:$gid" "$d"
    elif ! en_tant_que test -w "$d" -a -x "$d"; then
        if [ "$d" = "/app" ]; then
            echo "entrypoint : /app n'est pas inscriptible par le service : mettez JOURNAL_CHEMIN" \
                 "dans /app/donnees, ou montez le fichier du journal (README, section Docker)" >&2
        else
            echo "entrypoint : $d n'est pas inscriptible par l'uid $uid : propriétaire changé en $uid:$gid" >&2
            chown "$uid:$gid" "$d" || echo "entrypoint : attention, impossible de changer le propriétaire de $d" >&2
        fi
    fi
done

if [ -n "${journal:-}" ]; then
    preparer "$journal"
    preparer "${JOURNAL_VERROU_CHEMIN:-$journal.lock}"
fi

if [ "$uid" != "$(id -u api)" ]; then
    echo "entrypoint : service lancé sous l'uid $uid (propriétaire de $reference), groupes $groupes" >&2
fi
export HOME=/tmp
exec setpriv --reuid="$uid" --regid="$gid" --groups="$groupes" --inh-caps=-all --no-new-privs -- "$@"

#!/bin/sh
# Point d'entrée de l'image : prépare le journal des requêtes, puis lance la commande (gunicorn)
# sous un utilisateur non root.
#
# Démarré en root (cas par défaut), il :
#   1. choisit l'uid du service :
#      - le propriétaire du journal s'il existe déjà et n'appartient pas à root : c'est le cas du
#        fichier de l'hôte monté par `-v "$(pwd)/requetes_enrg.jsonl:/app/requetes_enrg.jsonl"` ;
#        le fichier garde son propriétaire sur l'hôte, qui peut toujours le lire et l'effacer ;
#      - sinon le propriétaire du dossier du journal s'il n'est pas root (dossier monté) ;
#      - sinon l'utilisateur « api » de l'image (uid 10001) ;
#      avec le groupe du propriétaire (les fichiers créés sur l'hôte lui appartiennent) et, en
#      groupe supplémentaire, « api » : /app (root:api, 1775) reste inscriptible, pour le verrou
#      « .lock » du journal et les autres fichiers d'exécution ;
#   2. s'assure que le service peut écrire le journal et son verrou : il les crée, ou change le
#      propriétaire d'un fichier appartenant à root (c'est écrit dans les journaux du conteneur) ;
#   3. remplace son processus par la commande sous cette identité (setpriv, d'util-linux, présent
#      dans toute image Debian), sans capacités ni nouveaux privilèges : gunicorn devient le
#      processus 1 et reçoit directement le SIGTERM de `docker stop` et de Cloud Run.
#
# Démarré avec --user (déjà non root), il lance la commande telle quelle : le journal doit alors
# être dans un dossier inscriptible par cet utilisateur (voir README, section Docker).
set -eu

if [ "$(id -u)" != "0" ]; then
    exec "$@"
fi

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
        return 0  # l'application le créera elle-même
    fi
    if [ -e "$1" ]; then
        echo "entrypoint : $1 n'est pas inscriptible par l'uid $uid : propriétaire changé en $uid:$gid" >&2
    fi
    if ! { touch "$1" && chown "$uid:$gid" "$1"; }; then
        echo "entrypoint : attention, impossible de préparer $1 (volume en lecture seule ?) ;" \
             "l'API répondra 503 tant que le journal ne pourra pas être écrit" >&2
    fi
}

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
        if [ -e "$reference" ] && [ "$(stat -c %u "$reference")" != "0" ]; then
            uid="$(stat -c %u "$reference")"
            gid="$(stat -c %g "$reference")"
            groupes="$gid,$(id -g api)"
        fi
        if [ ! -d "$dossier" ]; then
            mkdir -p "$dossier" && chown "$uid:$gid" "$dossier"
        fi
        preparer "$journal"
        preparer "$journal.lock"
        ;;
esac

if [ "$uid" != "$(id -u api)" ]; then
    echo "entrypoint : service lancé sous l'uid $uid (propriétaire de $reference), groupes $groupes" >&2
fi
export HOME=/tmp
exec setpriv --reuid="$uid" --regid="$gid" --groups="$groupes" --inh-caps=-all --no-new-privs -- "$@"

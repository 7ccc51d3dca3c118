#!/usr/bin/env bash
# Déploie l'API sur Cloud Run : active les services, crée le dépôt Artifact Registry s'il manque,
# construit et pousse l'image, déploie le service, affiche son URL et une commande curl d'essai.
#
#   deploy/deployer.sh --projet MON-PROJET [--region europe-west1] [--depot prediction-etudiante]
#   deploy/deployer.sh MON-PROJET europe-west1 prediction-etudiante        (même chose, positionnel)
#   GCP_PROJET=MON-PROJET deploy/deployer.sh                               (ou par l'environnement)
#
# Options (et variables d'environnement équivalentes) :
#   --projet ID        GCP_PROJET     projet Google Cloud (défaut : gcloud config get-value project)
#   --region NOM       GCP_REGION     région Cloud Run et Artifact Registry (défaut : europe-west1)
#   --depot NOM        GCP_DEPOT      dépôt Docker d'Artifact Registry (défaut : prediction-etudiante)
#   --service NOM      SERVICE        service Cloud Run (défaut : prediction-etudiante-api)
#   --construction M   CONSTRUCTION   cloudbuild (défaut, pas de Docker local) ou docker (local,
#                                     image linux/amd64, aussi depuis un Mac à puce Apple)
#   --public           PUBLIC=1       accès sans authentification (défaut : privé, jeton d'identité)
#   --a-blanc          A_BLANC=1      affiche les commandes sans les exécuter
# Réglages (variables d'environnement) : CPU (1), MEMOIRE (512Mi), GUNICORN_THREADS (8),
# INSTANCES_MAX (3), DELAI_REQUETE (30s), COMPTE_SERVICE (compte d'exécution, facultatif).
#
# Dimensionnement accordé à gunicorn.conf.py : un worker par vCPU (GUNICORN_WORKERS = CPU),
# GUNICORN_THREADS fils chacun, donc concurrence Cloud Run = CPU × GUNICORN_THREADS : Cloud Run
# n'envoie pas plus de requêtes simultanées qu'une instance ne peut en traiter. gunicorn n'a pas
# de délai de requête (timeout = 0) : celui de Cloud Run (DELAI_REQUETE) s'applique seul. À
# l'arrêt, gunicorn finit ses requêtes en 8 s (graceful_timeout), sous les 10 s de Cloud Run.
set -euo pipefail

RACINE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

projet="${GCP_PROJET:-}"
region="${GCP_REGION:-europe-west1}"
depot="${GCP_DEPOT:-prediction-etudiante}"
service="${SERVICE:-prediction-etudiante-api}"
construction="${CONSTRUCTION:-cloudbuild}"
public="${PUBLIC:-0}"
a_blanc="${A_BLANC:-0}"
cpu="${CPU:-1}"
memoire="${MEMOIRE:-512Mi}"
threads="${GUNICORN_THREADS:-8}"
instances_max="${INSTANCES_MAX:-3}"
delai_requete="${DELAI_REQUETE:-30s}"
compte_service="${COMPTE_SERVICE:-}"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
erreur() { echo "deployer : $*" >&2; exit 2; }

positionnels=()
while (($#)); do
  case "$1" in
    --projet) projet="${2:?--projet attend une valeur}"; shift 2 ;;
    --region) region="${2:?--region attend une valeur}"; shift 2 ;;
    --depot) depot="${2:?--depot attend une valeur}"; shift 2 ;;
    --service) service="${2:?--service attend une valeur}"; shift 2 ;;
    --construction) construction="${2:?--construction attend une valeur}"; shift 2 ;;
    --public) public=1; shift ;;
    --a-blanc) a_blanc=1; shift ;;
    -h|--help|--aide) usage; exit 0 ;;
    -*) erreur "option inconnue : $1 (voir --aide)" ;;
    *) positionnels+=("$1"); shift ;;
  esac
done
((${#positionnels[@]} > 3)) && erreur "trop d'arguments : PROJET [REGION [DEPOT]] (voir --aide)"
[[ ${#positionnels[@]} -ge 1 ]] && projet="${positionnels[0]}"
[[ ${#positionnels[@]} -ge 2 ]] && region="${positionnels[1]}"
[[ ${#positionnels[@]} -ge 3 ]] && depot="${positionnels[2]}"

# Exécute (ou affiche, à blanc) une commande ; l'affiche toujours, pour qu'on puisse la rejouer.
executer() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  [[ "$a_blanc" == 1 ]] || "$@"
}

if [[ "$a_blanc" != 1 ]] && ! command -v gcloud >/dev/null; then
  erreur "gcloud introuvable : installez Google Cloud CLI (https://cloud.google.com/sdk/docs/install) puis gcloud auth login"
fi
if [[ -z "$projet" && "$a_blanc" != 1 ]]; then
  projet="$(gcloud config get-value project 2>/dev/null || true)"
fi
[[ -n "$projet" ]] || erreur "projet inconnu : --projet MON-PROJET, GCP_PROJET=MON-PROJET ou gcloud config set project MON-PROJET"
[[ "$construction" == cloudbuild || "$construction" == docker ]] || erreur "--construction : cloudbuild ou docker"
[[ "$cpu" =~ ^[1-8]$ ]] || erreur "CPU=$cpu : un entier de 1 à 8 (un worker gunicorn par vCPU)"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || erreur "GUNICORN_THREADS=$threads : entier positif attendu"

workers="$cpu"
concurrence=$((workers * threads))
version="$(git -C "$RACINE" rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)"
if [[ -n "$(git -C "$RACINE" status --porcelain 2>/dev/null)" ]]; then
  version="$version-$(date -u +%Y%m%d%H%M%S)"  # copie de travail modifiée : tag distinct
fi
image="$region-docker.pkg.dev/$projet/$depot/prediction-etudiante-api:$version"

echo "== projet $projet, région $region, dépôt $depot, service $service"
echo "== image $image"

echo "== 1/4 services Google Cloud"
executer gcloud services enable run.googleapis.com artifactregistry.googleapis.com \
  cloudbuild.googleapis.com --project="$projet"

echo "== 2/4 dépôt Artifact Registry"
if [[ "$a_blanc" == 1 ]] || ! gcloud artifacts repositories describe "$depot" \
      --location="$region" --project="$projet" >/dev/null 2>&1; then
  executer gcloud artifacts repositories create "$depot" --repository-format=docker \
    --location="$region" --project="$projet" --description="Images de prediction-etudiante"
else
  echo "dépôt $depot déjà présent"
fi

echo "== 3/4 construction et envoi de l'image ($construction)"
cd "$RACINE"
if [[ "$construction" == cloudbuild ]]; then
  # Le contexte envoyé est filtré par .gcloudignore (jamais de journal de requêtes).
  executer gcloud builds submit --project="$projet" --tag="$image" .
else
  executer gcloud auth configure-docker "$region-docker.pkg.dev" --quiet
  executer docker build --platform=linux/amd64 -t "$image" .
  executer docker push "$image"
fi

echo "== 4/4 déploiement Cloud Run"
options=(
  --project="$projet" --region="$region" --image="$image" --platform=managed
  --port=8080 --cpu="$cpu" --memory="$memoire" --concurrency="$concurrence"
  --timeout="$delai_requete" --min-instances=0 --max-instances="$instances_max"
  --cpu-boost --execution-environment=gen2
  --set-env-vars="GUNICORN_WORKERS=$workers,GUNICORN_THREADS=$threads"
)
[[ -n "$compte_service" ]] && options+=(--service-account="$compte_service")
if [[ "$public" == 1 ]]; then options+=(--allow-unauthenticated); else options+=(--no-allow-unauthenticated); fi
executer gcloud run deploy "$service" "${options[@]}"

if [[ "$a_blanc" == 1 ]]; then
  url="https://$service-XXXXXXXXXX-ew.a.run.app"
else
  url="$(gcloud run services describe "$service" --project="$projet" --region="$region" --format='value(status.url)')"
fi
echo
echo "Service déployé : $url"
if [[ "$public" == 1 ]]; then
  echo "Essai : curl -s -X POST $url/predire -H 'Content-Type: application/json' -d @test/donnees.json"
else
  echo "Essai (service privé : jeton d'identité du compte connecté, rôle roles/run.invoker requis) :"
  echo "  curl -s -X POST $url/predire -H \"Authorization: Bearer \$(gcloud auth print-identity-token)\" -H 'Content-Type: application/json' -d @test/donnees.json"
fi

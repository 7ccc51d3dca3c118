#!/usr/bin/env bash
# Déploie l'API sur Cloud Run avec un magasin de résultats partagé (Cloud SQL pour PostgreSQL) :
# active les services, crée ou réutilise le dépôt Artifact Registry, le compte de service dédié,
# l'instance Cloud SQL, sa base et son utilisateur, les secrets (mot de passe de la base, API_TOKEN),
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
#   --instance-sql NOM SQL_INSTANCE   instance Cloud SQL (défaut : prediction-etudiante), créée si absente
#   --base NOM         SQL_BASE       base PostgreSQL des résultats (défaut : resultats)
#   --utilisateur NOM  SQL_UTILISATEUR utilisateur PostgreSQL de l'API (défaut : api)
#   --instance-unique  INSTANCE_UNIQUE=1  sans Cloud SQL : une seule instance (--max-instances=1),
#                                     résultats en SQLite sur son disque en mémoire (perdus à l'arrêt)
#   --iap              IAP=1          Identity-Aware Proxy sur le service : seules les personnes et domaines du
#                                     fichier d'accès y entrent (rôle roles/iap.httpsResourceAccessor) ; exige --acces
#   --acces FICHIER    ACCES          fichier d'accès TOML (docs/securite-identite.md), monté en secret
#                                     (SECRET_ACCES, défaut prediction-etudiante-acces) dans /secrets/acces/acces.toml
#   --acces-seulement  ACCES_SEULEMENT=1  seulement le fichier d'accès : nouvelle version du secret et droits IAP
#                                     (ajouter un conseiller : une ligne dans le fichier, puis cette commande)
#   --a-blanc          A_BLANC=1      affiche les commandes sans les exécuter
#
# Job de lot (python -m app.lot : tous les fichiers de classes d'un district), au lieu du service :
#   deploy/deployer.sh --job --entree gs://BUCKET[/DOSSIER] --sortie gs://BUCKET[/DOSSIER] [--taches N]
#   --job              JOB=1          crée ou met à jour le job Cloud Run (même image, même compte de
#                                     service, mêmes secrets, même Cloud SQL) au lieu du service
#   --entree URI       JOB_ENTREE     dossier des fichiers CSV (monté en lecture seule sur /mnt/entree)
#   --sortie URI       JOB_SORTIE     dossier des résultats (monté sur /mnt/sortie)
#   --taches N         JOB_TACHES     tâches du job (défaut : 10) ; chacune prend un fichier sur N
#   --nom-job NOM      JOB_NOM        nom du job (défaut : prediction-etudiante-lot)
# Connexions : chaque tâche ouvre JOB_FILS connexions (défaut 1) ; le parallélisme est borné pour que
# service (INSTANCES_MAX × CPU × GUNICORN_THREADS) + tâches simultanées × JOB_FILS <= CONNEXIONS_SQL
# (défaut 25 : db-f1-micro ; db-g1-small : 50). JOB_PARALLELISME l'abaisse encore ; JOB_DELAI (3600s)
# borne une tâche, JOB_ESSAIS (3) la relance (elle reprend où elle en était : fichiers complets sautés).
# Réglages (variables d'environnement) : CPU (1), MEMOIRE (1Gi : voir deploy/service.yaml), GUNICORN_THREADS (8),
# JOURNAL_SEGMENT (4Mio), JOURNAL_BORNE (64Mio : journal de l'instance non encore confirmé en base, en mémoire),
# INSTANCES_MAX (3), DELAI_REQUETE (30s), SQL_TIER (db-f1-micro), SQL_VERSION (POSTGRES_15),
# COMPTE_SERVICE (défaut : prediction-etudiante-api@PROJET.iam.gserviceaccount.com, créé s'il manque),
# SECRET_JETON (prediction-etudiante-api-token), SECRET_MOT_DE_PASSE (prediction-etudiante-db-password),
# SECRET_SEL (prediction-etudiante-effacement-sel).
#
# Secrets : API_TOKEN, EFFACEMENT_SEL (clé HMAC du registre des effacements, propre au déploiement ;
# jamais changé ensuite : le registre ne désignerait plus personne) et le mot de passe de la base sont
# générés s'ils manquent, envoyés à Secret
# Manager par l'entrée standard (jamais sur une ligne de commande affichée) et donnés au service par
# --set-secrets ; le compte de service n'a que roles/cloudsql.client sur le projet et
# roles/secretmanager.secretAccessor sur ces secrets. Connexions : instances × CPU × GUNICORN_THREADS
# (le pool de chaque worker vaut GUNICORN_THREADS) doit rester sous la limite de l'instance Cloud SQL
# (db-f1-micro : 25 ; 3 × 1 × 8 = 24 par défaut).
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
memoire="${MEMOIRE:-1Gi}"
segment_journal="${JOURNAL_SEGMENT:-4Mio}"
borne_journal="${JOURNAL_BORNE:-64Mio}"
threads="${GUNICORN_THREADS:-8}"
instances_max="${INSTANCES_MAX:-3}"
delai_requete="${DELAI_REQUETE:-30s}"
compte_service="${COMPTE_SERVICE:-}"
instance_sql="${SQL_INSTANCE:-prediction-etudiante}"
base_sql="${SQL_BASE:-resultats}"
utilisateur_sql="${SQL_UTILISATEUR:-api}"
tier_sql="${SQL_TIER:-db-f1-micro}"
version_sql="${SQL_VERSION:-POSTGRES_15}"
instance_unique="${INSTANCE_UNIQUE:-0}"
secret_jeton="${SECRET_JETON:-prediction-etudiante-api-token}"
secret_mot_de_passe="${SECRET_MOT_DE_PASSE:-prediction-etudiante-db-password}"
iap="${IAP:-0}"
acces="${ACCES:-}"
acces_seulement="${ACCES_SEULEMENT:-0}"
secret_acces="${SECRET_ACCES:-prediction-etudiante-acces}"
job="${JOB:-0}"
job_entree="${JOB_ENTREE:-}"
job_sortie="${JOB_SORTIE:-}"
job_taches="${JOB_TACHES:-10}"
job_nom="${JOB_NOM:-prediction-etudiante-lot}"
job_fils="${JOB_FILS:-1}"
job_parallelisme="${JOB_PARALLELISME:-}"
job_delai="${JOB_DELAI:-3600s}"
job_essais="${JOB_ESSAIS:-3}"
connexions_sql="${CONNEXIONS_SQL:-25}"
secret_sel="${SECRET_SEL:-prediction-etudiante-effacement-sel}"

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
    --instance-sql) instance_sql="${2:?--instance-sql attend une valeur}"; shift 2 ;;
    --base) base_sql="${2:?--base attend une valeur}"; shift 2 ;;
    --utilisateur) utilisateur_sql="${2:?--utilisateur attend une valeur}"; shift 2 ;;
    --instance-unique) instance_unique=1; shift ;;
    --iap) iap=1; shift ;;
    --acces) acces="${2:?--acces attend un fichier TOML}"; shift 2 ;;
    --acces-seulement) acces_seulement=1; iap=1; shift ;;
    --a-blanc) a_blanc=1; shift ;;
    --job) job=1; shift ;;
    --entree) job_entree="${2:?--entree attend une valeur}"; shift 2 ;;
    --sortie) job_sortie="${2:?--sortie attend une valeur}"; shift 2 ;;
    --taches) job_taches="${2:?--taches attend une valeur}"; shift 2 ;;
    --nom-job) job_nom="${2:?--nom-job attend une valeur}"; shift 2 ;;
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

# Vrai si la ressource existe déjà (jamais à blanc : on montre alors la création).
existe() { [[ "$a_blanc" != 1 ]] && "$@" >/dev/null 2>&1; }

# Un secret aléatoire, sur la sortie standard seulement (jamais dans une commande affichée).
secret_aleatoire() { python3 -c 'import secrets; print(secrets.token_urlsafe(32), end="")'; }

# Crée le secret $1 avec une valeur générée s'il n'existe pas ; sinon le garde tel quel.
assurer_secret() {
  if existe gcloud secrets describe "$1" --project="$projet"; then
    echo "secret $1 déjà présent (gardé)"
  elif [[ "$a_blanc" == 1 ]]; then
    executer gcloud secrets create "$1" --project="$projet" --replication-policy=automatic --data-file=-
  else
    secret_aleatoire | executer gcloud secrets create "$1" --project="$projet" --replication-policy=automatic --data-file=-
  fi
  executer gcloud secrets add-iam-policy-binding "$1" --project="$projet" \
    --member="serviceAccount:$compte_service" --role=roles/secretmanager.secretAccessor --condition=None
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
[[ -n "$compte_service" ]] || compte_service="prediction-etudiante-api@$projet.iam.gserviceaccount.com"
[[ "$instance_unique" == 1 ]] && instances_max=1
if [[ "$job" == 1 ]]; then
  [[ "$instance_unique" != 1 ]] || erreur "--job et --instance-unique : les tâches d'un job ont besoin de Cloud SQL (SQLite en mémoire serait perdu)"
  for uri in "$job_entree" "$job_sortie"; do
    [[ "$uri" =~ ^gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](/[^,]*)?$ ]] \
      || erreur "--entree et --sortie : gs://BUCKET ou gs://BUCKET/DOSSIER attendu (sans virgule), reçu « $uri »"
  done
  [[ "$job_taches" =~ ^[1-9][0-9]{0,3}$ && "$job_taches" -le 10000 ]] || erreur "--taches $job_taches : entier de 1 à 10000"
  [[ "$job_fils" =~ ^[1-9][0-9]*$ ]] || erreur "JOB_FILS=$job_fils : entier positif attendu"
  [[ "$connexions_sql" =~ ^[1-9][0-9]*$ ]] || erreur "CONNEXIONS_SQL=$connexions_sql : entier positif attendu"
  connexions_service=$((instances_max * cpu * threads))
  parallelisme=$(( (connexions_sql - connexions_service) / job_fils ))
  ((parallelisme >= 1)) || erreur "connexions Cloud SQL : le service en prend $connexions_service (INSTANCES_MAX × CPU × GUNICORN_THREADS) sur CONNEXIONS_SQL=$connexions_sql, il n'en reste pas $job_fils pour une tâche ; baissez INSTANCES_MAX ou prenez un SQL_TIER plus grand (et CONNEXIONS_SQL avec)"
  ((parallelisme > job_taches)) && parallelisme="$job_taches"
  if [[ -n "$job_parallelisme" ]]; then
    [[ "$job_parallelisme" =~ ^[1-9][0-9]*$ ]] || erreur "JOB_PARALLELISME=$job_parallelisme : entier positif attendu"
    ((job_parallelisme < parallelisme)) && parallelisme="$job_parallelisme"
  fi
fi
connexion_sql="$projet:$region:$instance_sql"
if [[ "$iap" == 1 ]]; then
  [[ -n "$acces" ]] || erreur "--iap exige --acces acces.toml (les personnes, leur rôle et leurs écoles)"
  [[ "$public" == 1 ]] && erreur "--iap et --public s'excluent : IAP laisse entrer les seules personnes du fichier"
fi
if [[ -n "$acces" ]]; then
  [[ -f "$acces" ]] || erreur "fichier d'accès introuvable : $acces"
  # Les membres IAM du fichier (user:, domain:, serviceAccount:), lus par tomllib ; fichier vérifié au passage.
  mapfile -t membres < <(python3 - "$acces" <<'PYTHON'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    personnes = tomllib.load(f).get("personnes", [])
for p in personnes:
    qui = p["qui"].strip().lower()
    if qui.startswith("@"):
        print("domain:" + qui[1:])
    elif qui.endswith(".gserviceaccount.com"):
        print("serviceAccount:" + qui)
    else:
        print("user:" + qui)
PYTHON
  ) || erreur "fichier d'accès illisible : $acces (TOML, voir docs/securite-identite.md)"
  ((${#membres[@]})) || erreur "fichier d'accès sans personne : $acces"
fi

# Le fichier d'accès dans Secret Manager (une nouvelle version à chaque appel), lisible du seul compte de service.
publier_acces() {
  if existe gcloud secrets describe "$secret_acces" --project="$projet"; then
    executer gcloud secrets versions add "$secret_acces" --project="$projet" --data-file="$acces"
  else
    executer gcloud secrets create "$secret_acces" --project="$projet" --replication-policy=automatic \
      --data-file="$acces"
  fi
  executer gcloud secrets add-iam-policy-binding "$secret_acces" --project="$projet" \
    --member="serviceAccount:$compte_service" --role=roles/secretmanager.secretAccessor --condition=None
}

# Après le déploiement (la ressource IAP du service doit exister) : l'accès de chaque personne ou domaine.
accorder_iap() {
  for membre in "${membres[@]}"; do
    executer gcloud iap web add-iam-policy-binding --project="$projet" --resource-type=cloud-run \
      --service="$service" --region="$region" --member="$membre" --role=roles/iap.httpsResourceAccessor \
      --condition=None
  done
}

if [[ "$acces_seulement" == 1 ]]; then
  echo "== fichier d'accès $acces : secret $secret_acces et droits IAP du service $service"
  publier_acces
  accorder_iap
  echo "Fichier d'accès publié : le service le relit sans redémarrer (au plus une minute)."
  exit 0
fi

workers="$cpu"
concurrence=$((workers * threads))
version="$(git -C "$RACINE" rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)"
if [[ -n "$(git -C "$RACINE" status --porcelain 2>/dev/null)" ]]; then
  version="$version-$(date -u +%Y%m%d%H%M%S)"  # copie de travail modifiée : tag distinct
fi
image="$region-docker.pkg.dev/$projet/$depot/prediction-etudiante-api:$version"

echo "== projet $projet, région $region, dépôt $depot, service $service"
echo "== image $image"

echo "== 1/7 services Google Cloud"
executer gcloud services enable run.googleapis.com artifactregistry.googleapis.com \
  cloudbuild.googleapis.com sqladmin.googleapis.com secretmanager.googleapis.com iam.googleapis.com \
  --project="$projet"

echo "== 2/7 dépôt Artifact Registry"
if existe gcloud artifacts repositories describe "$depot" --location="$region" --project="$projet"; then
  echo "dépôt $depot déjà présent"
else
  executer gcloud artifacts repositories create "$depot" --repository-format=docker \
    --location="$region" --project="$projet" --description="Images de prediction-etudiante"
fi

echo "== 3/7 compte de service dédié ($compte_service)"
if existe gcloud iam service-accounts describe "$compte_service" --project="$projet"; then
  echo "compte de service déjà présent"
else
  executer gcloud iam service-accounts create "${compte_service%%@*}" --project="$projet" \
    --display-name="prediction-etudiante (exécution Cloud Run)"
fi

echo "== 4/7 Cloud SQL pour PostgreSQL (instance $instance_sql, base $base_sql, utilisateur $utilisateur_sql)"
if [[ "$instance_unique" == 1 ]]; then
  echo "instance unique : pas de Cloud SQL (INSTANCE_UNIQUE=1, --max-instances=1, SQLite en mémoire)"
else
  executer gcloud projects add-iam-policy-binding "$projet" --member="serviceAccount:$compte_service" \
    --role=roles/cloudsql.client --condition=None
  if existe gcloud sql instances describe "$instance_sql" --project="$projet"; then
    echo "instance $instance_sql déjà présente"
  else
    executer gcloud sql instances create "$instance_sql" --project="$projet" --region="$region" \
      --database-version="$version_sql" --tier="$tier_sql" --edition=enterprise \
      --storage-auto-increase --backup-start-time=03:00 --enable-point-in-time-recovery
  fi
  if existe gcloud sql databases describe "$base_sql" --instance="$instance_sql" --project="$projet"; then
    echo "base $base_sql déjà présente"
  else
    executer gcloud sql databases create "$base_sql" --instance="$instance_sql" --project="$projet"
  fi
  assurer_secret "$secret_mot_de_passe"
  # Le mot de passe de l'utilisateur est celui du secret (lu, jamais affiché) : créé ou remis à jour.
  if [[ "$a_blanc" == 1 ]]; then
    echo "+ gcloud sql users create $utilisateur_sql --instance=$instance_sql --project=$projet --password=<secret $secret_mot_de_passe>"
  else
    mot_de_passe="$(gcloud secrets versions access latest --secret="$secret_mot_de_passe" --project="$projet")"
    if existe gcloud sql users describe "$utilisateur_sql" --instance="$instance_sql" --project="$projet"; then
      echo "+ gcloud sql users set-password $utilisateur_sql --instance=$instance_sql --password=<secret>"
      gcloud sql users set-password "$utilisateur_sql" --instance="$instance_sql" --project="$projet" \
        --password="$mot_de_passe" >/dev/null
    else
      echo "+ gcloud sql users create $utilisateur_sql --instance=$instance_sql --password=<secret>"
      gcloud sql users create "$utilisateur_sql" --instance="$instance_sql" --project="$projet" \
        --password="$mot_de_passe" >/dev/null
    fi
    unset mot_de_passe
  fi
fi

echo "== 5/7 secrets API_TOKEN ($secret_jeton) et EFFACEMENT_SEL ($secret_sel)"
assurer_secret "$secret_jeton"
assurer_secret "$secret_sel"

echo "== 6/7 construction et envoi de l'image ($construction)"
cd "$RACINE"
if [[ "$construction" == cloudbuild ]]; then
  # Le contexte envoyé est filtré par .gcloudignore (jamais de journal de requêtes).
  executer gcloud builds submit --project="$projet" --tag="$image" .
else
  executer gcloud auth configure-docker "$region-docker.pkg.dev" --quiet
  executer docker build --platform=linux/amd64 -t "$image" .
  executer docker push "$image"
fi

if [[ "$job" == 1 ]]; then
  # Dossier monté : gs://bucket/dossier → volume du bucket, dossier dans le chemin donné à la commande.
  bucket_entree="${job_entree#gs://}"; dossier_entree="${bucket_entree#*/}"; bucket_entree="${bucket_entree%%/*}"
  bucket_sortie="${job_sortie#gs://}"; dossier_sortie="${bucket_sortie#*/}"; bucket_sortie="${bucket_sortie%%/*}"
  [[ "$dossier_entree" == "$bucket_entree" ]] && dossier_entree=""
  [[ "$dossier_sortie" == "$bucket_sortie" ]] && dossier_sortie=""
  echo "== 7/7 job Cloud Run $job_nom : $job_taches tâche(s), $parallelisme à la fois ($job_fils connexion(s) chacune ;" \
       "service $connexions_service ; limite $connexions_sql)"
  executer gcloud storage buckets add-iam-policy-binding "gs://$bucket_entree" --project="$projet" \
    --member="serviceAccount:$compte_service" --role=roles/storage.objectViewer
  executer gcloud storage buckets add-iam-policy-binding "gs://$bucket_sortie" --project="$projet" \
    --member="serviceAccount:$compte_service" --role=roles/storage.objectUser
  environnement="GUNICORN_THREADS=$job_fils;GOOGLE_CLOUD_PROJECT=$projet"
  environnement="$environnement;JOURNAL_SEGMENT=$segment_journal;JOURNAL_BORNE=$borne_journal"
  environnement="$environnement;DATABASE_URL=postgresql+psycopg://$utilisateur_sql@/$base_sql?host=/cloudsql/$connexion_sql"
  # Sans --command : l'ENTRYPOINT de l'image (utilisateur non root, umask 077) lance la commande.
  # Les fichiers des deux volumes appartiennent à l'utilisateur « api » de l'image (uid 10001).
  executer gcloud run jobs deploy "$job_nom" --project="$projet" --region="$region" --image="$image" \
    --tasks="$job_taches" --parallelism="$parallelisme" --max-retries="$job_essais" --task-timeout="$job_delai" \
    --cpu="$cpu" --memory="$memoire" --service-account="$compte_service" \
    --set-cloudsql-instances="$connexion_sql" \
    --set-env-vars="^;^$environnement" \
    --set-secrets="DATABASE_PASSWORD=$secret_mot_de_passe:latest,EFFACEMENT_SEL=$secret_sel:latest" \
    --add-volume="name=entree,type=cloud-storage,bucket=$bucket_entree,readonly=true,mount-options=uid=10001;gid=10001" \
    --add-volume-mount="volume=entree,mount-path=/mnt/entree" \
    --add-volume="name=sortie,type=cloud-storage,bucket=$bucket_sortie,mount-options=uid=10001;gid=10001" \
    --add-volume-mount="volume=sortie,mount-path=/mnt/sortie" \
    --args="python,-m,app.lot,/mnt/entree/$dossier_entree,/mnt/sortie/$dossier_sortie"
  echo
  echo "Job déployé : $job_nom. Une exécution (attendre la fin) :"
  echo "  gcloud run jobs execute $job_nom --project=$projet --region=$region --wait"
  echo "Chaque trimestre (Cloud Scheduler ; le compte de service doit pouvoir lancer le job, roles/run.invoker) :"
  echo "  gcloud scheduler jobs create http $job_nom-trimestre --project=$projet --location=$region \\"
  echo "    --schedule='0 5 2 9,1,4 *' --time-zone=Europe/Paris --http-method=POST \\"
  echo "    --uri=https://run.googleapis.com/v2/projects/$projet/locations/$region/jobs/$job_nom:run \\"
  echo "    --oauth-service-account-email=$compte_service"
  exit 0
fi

echo "== 7/7 déploiement Cloud Run"
options=(
  --project="$projet" --region="$region" --image="$image" --platform=managed
  --port=8080 --cpu="$cpu" --memory="$memoire" --concurrency="$concurrence"
  --timeout="$delai_requete" --min-instances=0 --max-instances="$instances_max"
  --cpu-boost --execution-environment=gen2
  --service-account="$compte_service"
)
environnement="GUNICORN_WORKERS=$workers;GUNICORN_THREADS=$threads;GOOGLE_CLOUD_PROJECT=$projet"
environnement="$environnement;JOURNAL_SEGMENT=$segment_journal;JOURNAL_BORNE=$borne_journal"
secrets_service="API_TOKEN=$secret_jeton:latest,EFFACEMENT_SEL=$secret_sel:latest"
if [[ -n "$acces" ]]; then
  echo "== fichier d'accès ($acces → secret $secret_acces)"
  publier_acces
  # Monté en fichier : la dernière version est relue par le service (ACCES_FICHIER) sans redémarrage.
  environnement="$environnement;ACCES_FICHIER=/secrets/acces/acces.toml"
  secrets_service="$secrets_service,/secrets/acces/acces.toml=$secret_acces:latest"
fi
if [[ "$iap" == 1 ]]; then
  if [[ "$a_blanc" == 1 ]]; then
    numero_projet="NUMERO_DU_PROJET"
  else
    numero_projet="$(gcloud projects describe "$projet" --format='value(projectNumber)')"
  fi
  # L'audience des assertions signées par IAP pour ce service (vérifiée par app.web.jetons).
  environnement="$environnement;IAP_AUDIENCE=/projects/$numero_projet/locations/$region/services/$service"
fi
if [[ "$instance_unique" == 1 ]]; then
  environnement="$environnement;INSTANCE_UNIQUE=1"
else
  # Socket unix de Cloud SQL (/cloudsql/…) : ni IP publique à ouvrir, ni mot de passe dans l'URL.
  environnement="$environnement;DATABASE_URL=postgresql+psycopg://$utilisateur_sql@/$base_sql?host=/cloudsql/$connexion_sql"
  secrets_service="$secrets_service,DATABASE_PASSWORD=$secret_mot_de_passe:latest"
  options+=(--add-cloudsql-instances="$connexion_sql")
fi
# « ^;^ » : séparateur de gcloud autre que la virgule ; ni « , » ni « @ » (DATABASE_URL contient « @ »).
options+=(--set-env-vars="^;^$environnement" --set-secrets="$secrets_service")
if [[ "$public" == 1 ]]; then options+=(--allow-unauthenticated); else options+=(--no-allow-unauthenticated); fi
executer gcloud run deploy "$service" "${options[@]}"
if [[ "$iap" == 1 ]]; then
  echo "== Identity-Aware Proxy sur le service $service"
  executer gcloud services enable iap.googleapis.com --project="$projet"
  executer gcloud beta run services update "$service" --project="$projet" --region="$region" --iap
  # L'agent de service d'IAP appelle le service privé : il lui faut roles/run.invoker.
  executer gcloud run services add-iam-policy-binding "$service" --project="$projet" --region="$region" \
    --member="serviceAccount:service-$numero_projet@gcp-sa-iap.iam.gserviceaccount.com" --role=roles/run.invoker
  accorder_iap
fi

if [[ "$a_blanc" == 1 ]]; then
  url="https://$service-XXXXXXXXXX-ew.a.run.app"
else
  url="$(gcloud run services describe "$service" --project="$projet" --region="$region" --format='value(status.url)')"
fi
echo
echo "Service déployé : $url"
if [[ "$iap" == 1 ]]; then
  echo "Page des équipes : $url/classe (connexion par le compte Google de l'établissement, via IAP)"
  echo "Ajouter un conseiller : une ligne [[personnes]] dans $acces, puis"
  echo "  deploy/deployer.sh --projet $projet --region $region --service $service --acces $acces --acces-seulement"
elif [[ "$public" == 1 ]]; then
  echo "Essai : curl -s -X POST $url/predire -H 'Content-Type: application/json' -d @test/donnees.json"
else
  echo "Essai (service privé : jeton d'identité du compte connecté, rôle roles/run.invoker requis) :"
  echo "  curl -s -X POST $url/predire -H \"Authorization: Bearer \$(gcloud auth print-identity-token)\" -H 'Content-Type: application/json' -d @test/donnees.json"
fi
echo "Routes protégées (historique, effacement, export) : le jeton d'identité passe dans X-Serverless-Authorization,"
echo "l'API_TOKEN dans Authorization :"
echo "  curl -s $url/predictions/export -H \"X-Serverless-Authorization: Bearer \$(gcloud auth print-identity-token)\" \\"
echo "    -H \"Authorization: Bearer \$(gcloud secrets versions access latest --secret=$secret_jeton --project=$projet)\""

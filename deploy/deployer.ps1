<#
.SYNOPSIS
    Déploie l'API sur Cloud Run (jumeau Windows de deploy/deployer.sh, mêmes étapes et réglages).

.DESCRIPTION
    Active les services, crée ou réutilise le dépôt Artifact Registry, le compte de service dédié,
    l'instance Cloud SQL pour PostgreSQL (base, utilisateur) et les secrets (mot de passe de la base,
    API_TOKEN, générés s'ils manquent et jamais affichés), construit et pousse l'image (Cloud Build
    par défaut : Docker n'est pas nécessaire sur le poste), déploie le service sur le port 8080 avec
    CPU, mémoire, concurrence et délai accordés à gunicorn.conf.py, le socket Cloud SQL et les
    secrets, puis affiche l'URL du service et des commandes curl d'essai.

    -InstanceUnique : sans Cloud SQL, une seule instance (INSTANCE_UNIQUE=1, --max-instances=1).

    -Iap -Acces acces.toml : Identity-Aware Proxy sur le service ; le fichier d'accès (docs/securite-identite.md)
    est monté en secret (/secrets/acces/acces.toml) et chaque personne ou domaine qu'il nomme reçoit
    roles/iap.httpsResourceAccessor. -AccesSeulement : seulement le fichier (nouvelle version du secret et droits
    IAP) ; ajouter un conseiller = une ligne dans le fichier, puis cette commande.

    -Job -Entree gs://… -Sortie gs://… [-Taches N] : au lieu du service, crée ou met à jour le job Cloud Run
    de lot (python -m app.lot), même image, compte de service, secrets et Cloud SQL ; les deux buckets
    montés (entrée en lecture seule) ; parallélisme borné pour que service + tâches simultanées ×
    JOB_FILS restent sous CONNEXIONS_SQL (défaut 25, db-f1-micro). Voir deploy/deployer.sh.

    Concurrence Cloud Run = CPU × GUNICORN_THREADS (un worker gunicorn par vCPU) ; gunicorn n'a pas
    de délai de requête (timeout = 0), celui de Cloud Run s'applique seul ; à l'arrêt, gunicorn finit
    ses requêtes en 8 s, sous les 10 s que Cloud Run laisse avant de tuer le conteneur.

.EXAMPLE
    .\deploy\deployer.ps1 -Projet mon-projet
.EXAMPLE
    .\deploy\deployer.ps1 mon-projet europe-west1 prediction-etudiante -Construction docker
.EXAMPLE
    $env:GCP_PROJET = "mon-projet"; .\deploy\deployer.ps1 -ABlanc
.EXAMPLE
    .\deploy\deployer.ps1 -Projet mon-projet -Iap -Acces acces.toml
.EXAMPLE
    .\deploy\deployer.ps1 -Projet mon-projet -Acces acces.toml -AccesSeulement
.EXAMPLE
    .\deploy\deployer.ps1 mon-projet -Job -Entree gs://district-entree/2026-t1 -Sortie gs://district-sortie/2026-t1 -Taches 10
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)] [string] $Projet = $env:GCP_PROJET,
    [Parameter(Position = 1)] [string] $Region = $(if ($env:GCP_REGION) { $env:GCP_REGION } else { "europe-west1" }),
    [Parameter(Position = 2)] [string] $Depot = $(if ($env:GCP_DEPOT) { $env:GCP_DEPOT } else { "prediction-etudiante" }),
    [string] $Service = $(if ($env:SERVICE) { $env:SERVICE } else { "prediction-etudiante-api" }),
    [ValidateSet("cloudbuild", "docker")]
    [string] $Construction = $(if ($env:CONSTRUCTION) { $env:CONSTRUCTION } else { "cloudbuild" }),
    [ValidateRange(1, 8)]
    [int] $Cpu = $(if ($env:CPU) { [int] $env:CPU } else { 1 }),
    [string] $Memoire = $(if ($env:MEMOIRE) { $env:MEMOIRE } else { "1Gi" }),
    [string] $SegmentJournal = $(if ($env:JOURNAL_SEGMENT) { $env:JOURNAL_SEGMENT } else { "4Mio" }),
    [string] $BorneJournal = $(if ($env:JOURNAL_BORNE) { $env:JOURNAL_BORNE } else { "64Mio" }),
    [ValidateRange(1, 1000)]
    [int] $Threads = $(if ($env:GUNICORN_THREADS) { [int] $env:GUNICORN_THREADS } else { 8 }),
    [int] $InstancesMax = $(if ($env:INSTANCES_MAX) { [int] $env:INSTANCES_MAX } else { 3 }),
    [string] $DelaiRequete = $(if ($env:DELAI_REQUETE) { $env:DELAI_REQUETE } else { "30s" }),
    [string] $CompteService = $env:COMPTE_SERVICE,
    [string] $InstanceSql = $(if ($env:SQL_INSTANCE) { $env:SQL_INSTANCE } else { "prediction-etudiante" }),
    [string] $Base = $(if ($env:SQL_BASE) { $env:SQL_BASE } else { "resultats" }),
    [string] $Utilisateur = $(if ($env:SQL_UTILISATEUR) { $env:SQL_UTILISATEUR } else { "api" }),
    [string] $TierSql = $(if ($env:SQL_TIER) { $env:SQL_TIER } else { "db-f1-micro" }),
    [string] $VersionSql = $(if ($env:SQL_VERSION) { $env:SQL_VERSION } else { "POSTGRES_15" }),
    [string] $SecretJeton = $(if ($env:SECRET_JETON) { $env:SECRET_JETON } else { "prediction-etudiante-api-token" }),
    [string] $SecretMotDePasse = $(if ($env:SECRET_MOT_DE_PASSE) { $env:SECRET_MOT_DE_PASSE } else { "prediction-etudiante-db-password" }),
    [string] $SecretSel = $(if ($env:SECRET_SEL) { $env:SECRET_SEL } else { "prediction-etudiante-effacement-sel" }),
    [switch] $InstanceUnique = ($env:INSTANCE_UNIQUE -eq "1"),
    [switch] $Public = ($env:PUBLIC -eq "1"),
    [switch] $Iap = ($env:IAP -eq "1"),
    [string] $Acces = $env:ACCES,
    [switch] $AccesSeulement = ($env:ACCES_SEULEMENT -eq "1"),
    [string] $SecretAcces = $(if ($env:SECRET_ACCES) { $env:SECRET_ACCES } else { "prediction-etudiante-acces" }),
    [switch] $ABlanc = ($env:A_BLANC -eq "1"),
    [switch] $Job = ($env:JOB -eq "1"),
    [string] $Entree = $env:JOB_ENTREE,
    [string] $Sortie = $env:JOB_SORTIE,
    [ValidateRange(1, 10000)]
    [int] $Taches = $(if ($env:JOB_TACHES) { [int] $env:JOB_TACHES } else { 10 }),
    [string] $NomJob = $(if ($env:JOB_NOM) { $env:JOB_NOM } else { "prediction-etudiante-lot" }),
    [ValidateRange(1, 1000)]
    [int] $JobFils = $(if ($env:JOB_FILS) { [int] $env:JOB_FILS } else { 1 }),
    [int] $JobParallelisme = $(if ($env:JOB_PARALLELISME) { [int] $env:JOB_PARALLELISME } else { 0 }),
    [string] $JobDelai = $(if ($env:JOB_DELAI) { $env:JOB_DELAI } else { "3600s" }),
    [int] $JobEssais = $(if ($env:JOB_ESSAIS) { [int] $env:JOB_ESSAIS } else { 3 }),
    [ValidateRange(1, 100000)]
    [int] $ConnexionsSql = $(if ($env:CONNEXIONS_SQL) { [int] $env:CONNEXIONS_SQL } else { 25 })
)

Set-StrictMode -Version Latest
$ErrorActionPreference = "Stop"
$Racine = Split-Path -Parent $PSScriptRoot

# Exécute (ou affiche seulement, avec -ABlanc) une commande externe ; s'arrête si elle échoue.
function Invoke-Etape {
    param([Parameter(Mandatory)] [string] $Commande, [string[]] $Arguments = @())
    Write-Host "+ $Commande $($Arguments -join ' ')"
    if ($ABlanc) { return }
    & $Commande @Arguments
    if ($LASTEXITCODE -ne 0) { throw "échec ($LASTEXITCODE) : $Commande $($Arguments -join ' ')" }
}

# Vrai si la ressource existe déjà (jamais avec -ABlanc : on montre alors la création).
function Test-Existe {
    param([string[]] $Arguments)
    if ($ABlanc) { return $false }
    & gcloud @Arguments *> $null
    return ($LASTEXITCODE -eq 0)
}

# Un secret aléatoire (jamais affiché ni passé sur une ligne de commande).
function New-SecretAleatoire {
    $Octets = New-Object byte[] 32
    [System.Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($Octets)
    return [Convert]::ToBase64String($Octets).TrimEnd("=").Replace("+", "-").Replace("/", "_")
}

# Crée le secret avec une valeur générée s'il manque (par l'entrée standard), puis donne au compte
# de service le droit de le lire, et seulement celui-là.
function Confirm-Secret {
    param([string] $Nom)
    if (Test-Existe @("secrets", "describe", $Nom, "--project=$Projet")) {
        Write-Host "secret $Nom déjà présent (gardé)"
    } else {
        Write-Host "+ gcloud secrets create $Nom --project=$Projet --replication-policy=automatic --data-file=-"
        if (-not $ABlanc) {
            New-SecretAleatoire | & gcloud secrets create $Nom "--project=$Projet" "--replication-policy=automatic" "--data-file=-"
            if ($LASTEXITCODE -ne 0) { throw "échec de la création du secret $Nom" }
        }
    }
    Invoke-Etape gcloud @("secrets", "add-iam-policy-binding", $Nom, "--project=$Projet",
        "--member=serviceAccount:$CompteService", "--role=roles/secretmanager.secretAccessor", "--condition=None")
}

if (-not $ABlanc -and -not (Get-Command gcloud -ErrorAction SilentlyContinue)) {
    throw "gcloud introuvable : installez Google Cloud CLI (https://cloud.google.com/sdk/docs/install) puis gcloud auth login"
}
if (-not $Projet -and -not $ABlanc) {
    $Projet = (& gcloud config get-value project 2>$null | Out-String).Trim()
}
if (-not $Projet) {
    throw "projet inconnu : -Projet MON-PROJET, `$env:GCP_PROJET ou gcloud config set project MON-PROJET"
}

if (-not $CompteService) { $CompteService = "prediction-etudiante-api@$Projet.iam.gserviceaccount.com" }
if ($InstanceUnique) { $InstancesMax = 1 }
$ConnexionSql = "${Projet}:${Region}:$InstanceSql"
if ($AccesSeulement) { $Iap = $true }
if ($Iap -and -not $Acces) { throw "-Iap exige -Acces acces.toml (les personnes, leur rôle et leurs écoles)" }
if ($Iap -and $Public) { throw "-Iap et -Public s'excluent : IAP laisse entrer les seules personnes du fichier" }
$Membres = @()
if ($Acces) {
    if (-not (Test-Path -LiteralPath $Acces -PathType Leaf)) { throw "fichier d'accès introuvable : $Acces" }
    # Les membres IAM du fichier : chaque « qui = "…" » (adresse, compte de service ou @domaine).
    foreach ($Ligne in Get-Content -LiteralPath $Acces -Encoding UTF8) {
        if ($Ligne -match '^\s*qui\s*=\s*"([^"]+)"') {
            $Qui = $Matches[1].Trim().ToLowerInvariant()
            if ($Qui.StartsWith("@")) { $Membres += "domain:" + $Qui.Substring(1) }
            elseif ($Qui.EndsWith(".gserviceaccount.com")) { $Membres += "serviceAccount:$Qui" }
            else { $Membres += "user:$Qui" }
        }
    }
    if ($Membres.Count -eq 0) { throw "fichier d'accès sans personne : $Acces" }
}

# Le fichier d'accès dans Secret Manager (une nouvelle version à chaque appel), lisible du seul compte de service.
function Publish-Acces {
    if (Test-Existe @("secrets", "describe", $SecretAcces, "--project=$Projet")) {
        Invoke-Etape gcloud @("secrets", "versions", "add", $SecretAcces, "--project=$Projet", "--data-file=$Acces")
    } else {
        Invoke-Etape gcloud @("secrets", "create", $SecretAcces, "--project=$Projet", "--replication-policy=automatic",
            "--data-file=$Acces")
    }
    Invoke-Etape gcloud @("secrets", "add-iam-policy-binding", $SecretAcces, "--project=$Projet",
        "--member=serviceAccount:$CompteService", "--role=roles/secretmanager.secretAccessor", "--condition=None")
}

# Après le déploiement (la ressource IAP du service doit exister) : l'accès de chaque personne ou domaine.
function Grant-Iap {
    foreach ($Membre in $Membres) {
        Invoke-Etape gcloud @("iap", "web", "add-iam-policy-binding", "--project=$Projet", "--resource-type=cloud-run",
            "--service=$Service", "--region=$Region", "--member=$Membre", "--role=roles/iap.httpsResourceAccessor",
            "--condition=None")
    }
}

if ($AccesSeulement) {
    Write-Host "== fichier d'accès $Acces : secret $SecretAcces et droits IAP du service $Service"
    Publish-Acces
    Grant-Iap
    Write-Host "Fichier d'accès publié : le service le relit sans redémarrer (au plus une minute)."
    exit 0
}
$Workers = $Cpu
$Concurrence = $Workers * $Threads
$Version = (& git -C $Racine rev-parse --short=12 HEAD 2>$null | Out-String).Trim()
if (-not $Version) { $Version = (Get-Date).ToUniversalTime().ToString("yyyyMMddHHmmss") }
elseif ((& git -C $Racine status --porcelain 2>$null | Out-String).Trim()) {
    $Version = "$Version-" + (Get-Date).ToUniversalTime().ToString("yyyyMMddHHmmss")  # copie modifiée
}
$Image = "$Region-docker.pkg.dev/$Projet/$Depot/prediction-etudiante-api:$Version"

if ($Job) {
    if ($InstanceUnique) { throw "-Job et -InstanceUnique : les tâches d'un job ont besoin de Cloud SQL (SQLite en mémoire serait perdu)" }
    foreach ($Uri in @($Entree, $Sortie)) {
        if (-not ($Uri -cmatch '^gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](/[^,]*)?$')) {
            throw "-Entree et -Sortie : gs://BUCKET ou gs://BUCKET/DOSSIER attendu (sans virgule), reçu « $Uri »"
        }
    }
    $ConnexionsService = $InstancesMax * $Cpu * $Threads
    $Parallelisme = [Math]::Floor(($ConnexionsSql - $ConnexionsService) / $JobFils)
    if ($Parallelisme -lt 1) {
        throw "connexions Cloud SQL : le service en prend $ConnexionsService (INSTANCES_MAX × CPU × GUNICORN_THREADS) sur CONNEXIONS_SQL=$ConnexionsSql, il n'en reste pas $JobFils pour une tâche ; baissez INSTANCES_MAX ou prenez un SQL_TIER plus grand (et CONNEXIONS_SQL avec)"
    }
    if ($Parallelisme -gt $Taches) { $Parallelisme = $Taches }
    if ($JobParallelisme -ge 1 -and $JobParallelisme -lt $Parallelisme) { $Parallelisme = $JobParallelisme }
}

Write-Host "== projet $Projet, région $Region, dépôt $Depot, service $Service"
Write-Host "== image $Image"

Write-Host "== 1/7 services Google Cloud"
Invoke-Etape gcloud @("services", "enable", "run.googleapis.com", "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com", "sqladmin.googleapis.com", "secretmanager.googleapis.com",
    "iam.googleapis.com", "--project=$Projet")

Write-Host "== 2/7 dépôt Artifact Registry"
if (Test-Existe @("artifacts", "repositories", "describe", $Depot, "--location=$Region", "--project=$Projet")) {
    Write-Host "dépôt $Depot déjà présent"
} else {
    Invoke-Etape gcloud @("artifacts", "repositories", "create", $Depot, "--repository-format=docker",
        "--location=$Region", "--project=$Projet", "--description=Images de prediction-etudiante")
}

Write-Host "== 3/7 compte de service dédié ($CompteService)"
if (Test-Existe @("iam", "service-accounts", "describe", $CompteService, "--project=$Projet")) {
    Write-Host "compte de service déjà présent"
} else {
    Invoke-Etape gcloud @("iam", "service-accounts", "create", $CompteService.Split("@")[0], "--project=$Projet",
        "--display-name=prediction-etudiante (exécution Cloud Run)")
}

Write-Host "== 4/7 Cloud SQL pour PostgreSQL (instance $InstanceSql, base $Base, utilisateur $Utilisateur)"
if ($InstanceUnique) {
    Write-Host "instance unique : pas de Cloud SQL (INSTANCE_UNIQUE=1, --max-instances=1, SQLite en mémoire)"
} else {
    Invoke-Etape gcloud @("projects", "add-iam-policy-binding", $Projet, "--member=serviceAccount:$CompteService",
        "--role=roles/cloudsql.client", "--condition=None")
    if (Test-Existe @("sql", "instances", "describe", $InstanceSql, "--project=$Projet")) {
        Write-Host "instance $InstanceSql déjà présente"
    } else {
        Invoke-Etape gcloud @("sql", "instances", "create", $InstanceSql, "--project=$Projet", "--region=$Region",
            "--database-version=$VersionSql", "--tier=$TierSql", "--edition=enterprise",
            "--storage-auto-increase", "--backup-start-time=03:00", "--enable-point-in-time-recovery")
    }
    if (Test-Existe @("sql", "databases", "describe", $Base, "--instance=$InstanceSql", "--project=$Projet")) {
        Write-Host "base $Base déjà présente"
    } else {
        Invoke-Etape gcloud @("sql", "databases", "create", $Base, "--instance=$InstanceSql", "--project=$Projet")
    }
    Confirm-Secret $SecretMotDePasse
    if ($ABlanc) {
        Write-Host "+ gcloud sql users create $Utilisateur --instance=$InstanceSql --project=$Projet --password=<secret $SecretMotDePasse>"
    } else {
        $MotDePasse = (& gcloud secrets versions access latest "--secret=$SecretMotDePasse" "--project=$Projet" | Out-String).Trim()
        $Action = if (Test-Existe @("sql", "users", "describe", $Utilisateur, "--instance=$InstanceSql", "--project=$Projet")) { "set-password" } else { "create" }
        Write-Host "+ gcloud sql users $Action $Utilisateur --instance=$InstanceSql --password=<secret>"
        & gcloud sql users $Action $Utilisateur "--instance=$InstanceSql" "--project=$Projet" "--password=$MotDePasse" *> $null
        if ($LASTEXITCODE -ne 0) { throw "échec : gcloud sql users $Action $Utilisateur" }
        Remove-Variable MotDePasse
    }
}

Write-Host "== 5/7 secrets API_TOKEN ($SecretJeton) et EFFACEMENT_SEL ($SecretSel)"
Confirm-Secret $SecretJeton
Confirm-Secret $SecretSel

Write-Host "== 6/7 construction et envoi de l'image ($Construction)"
Push-Location $Racine
try {
    if ($Construction -eq "cloudbuild") {
        # Le contexte envoyé est filtré par .gcloudignore (jamais de journal de requêtes).
        Invoke-Etape gcloud @("builds", "submit", "--project=$Projet", "--tag=$Image", ".")
    } else {
        Invoke-Etape gcloud @("auth", "configure-docker", "$Region-docker.pkg.dev", "--quiet")
        Invoke-Etape docker @("build", "--platform=linux/amd64", "-t", $Image, ".")
        Invoke-Etape docker @("push", $Image)
    }
} finally {
    Pop-Location
}

if ($Job) {
    # Dossier monté : gs://bucket/dossier → volume du bucket, dossier dans le chemin donné à la commande.
    $BucketEntree, $DossierEntree = $Entree.Substring(5).Split("/", 2)
    $BucketSortie, $DossierSortie = $Sortie.Substring(5).Split("/", 2)
    Write-Host "== 7/7 job Cloud Run $NomJob : $Taches tâche(s), $Parallelisme à la fois ($JobFils connexion(s) chacune ; service $ConnexionsService ; limite $ConnexionsSql)"
    Invoke-Etape gcloud @("storage", "buckets", "add-iam-policy-binding", "gs://$BucketEntree", "--project=$Projet",
        "--member=serviceAccount:$CompteService", "--role=roles/storage.objectViewer")
    Invoke-Etape gcloud @("storage", "buckets", "add-iam-policy-binding", "gs://$BucketSortie", "--project=$Projet",
        "--member=serviceAccount:$CompteService", "--role=roles/storage.objectUser")
    $Environnement = "GUNICORN_THREADS=$JobFils;GOOGLE_CLOUD_PROJECT=$Projet"
    $Environnement += ";JOURNAL_SEGMENT=$SegmentJournal;JOURNAL_BORNE=$BorneJournal"
    $Environnement += ";DATABASE_URL=postgresql+psycopg://$Utilisateur@/${Base}?host=/cloudsql/$ConnexionSql"
    # Sans --command : l'ENTRYPOINT de l'image (utilisateur non root, umask 077) lance la commande.
    Invoke-Etape gcloud @("run", "jobs", "deploy", $NomJob, "--project=$Projet", "--region=$Region", "--image=$Image",
        "--tasks=$Taches", "--parallelism=$Parallelisme", "--max-retries=$JobEssais", "--task-timeout=$JobDelai",
        "--cpu=$Cpu", "--memory=$Memoire", "--service-account=$CompteService",
        "--set-cloudsql-instances=$ConnexionSql",
        "--set-env-vars=^;^$Environnement", "--set-secrets=DATABASE_PASSWORD=${SecretMotDePasse}:latest,EFFACEMENT_SEL=${SecretSel}:latest",
        "--add-volume=name=entree,type=cloud-storage,bucket=$BucketEntree,readonly=true,mount-options=uid=10001;gid=10001",
        "--add-volume-mount=volume=entree,mount-path=/mnt/entree",
        "--add-volume=name=sortie,type=cloud-storage,bucket=$BucketSortie,mount-options=uid=10001;gid=10001",
        "--add-volume-mount=volume=sortie,mount-path=/mnt/sortie",
        "--args=python,-m,app.lot,/mnt/entree/$DossierEntree,/mnt/sortie/$DossierSortie")
    Write-Host ""
    Write-Host "Job déployé : $NomJob. Une exécution (attendre la fin) :"
    Write-Host "  gcloud run jobs execute $NomJob --project=$Projet --region=$Region --wait"
    Write-Host "Chaque trimestre (Cloud Scheduler ; le compte de service doit pouvoir lancer le job, roles/run.invoker) :"
    Write-Host "  gcloud scheduler jobs create http $NomJob-trimestre --project=$Projet --location=$Region ``"
    Write-Host "    --schedule='0 5 2 9,1,4 *' --time-zone=Europe/Paris --http-method=POST ``"
    Write-Host "    --uri=https://run.googleapis.com/v2/projects/$Projet/locations/$Region/jobs/${NomJob}:run ``"
    Write-Host "    --oauth-service-account-email=$CompteService"
    exit 0
}

Write-Host "== 7/7 déploiement Cloud Run"
$Options = @(
    "run", "deploy", $Service, "--project=$Projet", "--region=$Region", "--image=$Image",
    "--platform=managed", "--port=8080", "--cpu=$Cpu", "--memory=$Memoire",
    "--concurrency=$Concurrence", "--timeout=$DelaiRequete", "--min-instances=0",
    "--max-instances=$InstancesMax", "--cpu-boost", "--execution-environment=gen2",
    "--service-account=$CompteService"
)
$Environnement = "GUNICORN_WORKERS=$Workers;GUNICORN_THREADS=$Threads;GOOGLE_CLOUD_PROJECT=$Projet"
$Environnement += ";JOURNAL_SEGMENT=$SegmentJournal;JOURNAL_BORNE=$BorneJournal"
$Secrets = "API_TOKEN=${SecretJeton}:latest,EFFACEMENT_SEL=${SecretSel}:latest"
if ($InstanceUnique) {
    $Environnement += ";INSTANCE_UNIQUE=1"
} else {
    # Socket unix de Cloud SQL (/cloudsql/…) : ni IP publique à ouvrir, ni mot de passe dans l'URL.
    $Environnement += ";DATABASE_URL=postgresql+psycopg://$Utilisateur@/${Base}?host=/cloudsql/$ConnexionSql"
    $Secrets += ",DATABASE_PASSWORD=${SecretMotDePasse}:latest"
    $Options += "--add-cloudsql-instances=$ConnexionSql"
}
if ($Acces) {
    Write-Host "== fichier d'accès ($Acces → secret $SecretAcces)"
    Publish-Acces
    $Environnement += ";ACCES_FICHIER=/secrets/acces/acces.toml"
    $Secrets += ",/secrets/acces/acces.toml=${SecretAcces}:latest"
}
if ($Iap) {
    $NumeroProjet = if ($ABlanc) { "NUMERO_DU_PROJET" } else {
        (& gcloud projects describe $Projet "--format=value(projectNumber)" | Out-String).Trim() }
    $Environnement += ";IAP_AUDIENCE=/projects/$NumeroProjet/locations/$Region/services/$Service"
}
# « ^;^ » : séparateur de gcloud autre que la virgule ; ni « , » ni « @ » (DATABASE_URL contient « @ »).
$Options += "--set-env-vars=^;^$Environnement"
$Options += "--set-secrets=$Secrets"
if ($Public) { $Options += "--allow-unauthenticated" } else { $Options += "--no-allow-unauthenticated" }
Invoke-Etape gcloud $Options
if ($Iap) {
    Write-Host "== Identity-Aware Proxy sur le service $Service"
    Invoke-Etape gcloud @("services", "enable", "iap.googleapis.com", "--project=$Projet")
    Invoke-Etape gcloud @("beta", "run", "services", "update", $Service, "--project=$Projet", "--region=$Region", "--iap")
    # L'agent de service d'IAP appelle le service privé : il lui faut roles/run.invoker.
    Invoke-Etape gcloud @("run", "services", "add-iam-policy-binding", $Service, "--project=$Projet", "--region=$Region",
        "--member=serviceAccount:service-$NumeroProjet@gcp-sa-iap.iam.gserviceaccount.com", "--role=roles/run.invoker")
    Grant-Iap
}

if ($ABlanc) {
    $Url = "https://$Service-XXXXXXXXXX-ew.a.run.app"
} else {
    $Url = (& gcloud run services describe $Service "--project=$Projet" "--region=$Region" "--format=value(status.url)" | Out-String).Trim()
}
Write-Host ""
Write-Host "Service déployé : $Url"
# curl.exe : dans Windows PowerShell 5.1, « curl » est un alias d'Invoke-WebRequest.
if ($Iap) {
    Write-Host "Page des équipes : $Url/classe (connexion par le compte de l'établissement, via IAP)"
    Write-Host "Ajouter un conseiller : une ligne [[personnes]] dans $Acces, puis"
    Write-Host "  .\deploy\deployer.ps1 -Projet $Projet -Region $Region -Service $Service -Acces $Acces -AccesSeulement"
} elseif ($Public) {
    Write-Host "Essai : curl.exe -s -X POST $Url/predire -H 'Content-Type: application/json' -d '@test/donnees.json'"
} else {
    Write-Host "Essai (service privé : jeton d'identité du compte connecté, rôle roles/run.invoker requis) :"
    Write-Host "  curl.exe -s -X POST $Url/predire -H `"Authorization: Bearer `$(gcloud auth print-identity-token)`" -H 'Content-Type: application/json' -d '@test/donnees.json'"
}
Write-Host "Routes protégées (historique, effacement, export) : le jeton d'identité passe dans X-Serverless-Authorization, l'API_TOKEN dans Authorization :"
Write-Host "  curl.exe -s $Url/predictions/export -H `"X-Serverless-Authorization: Bearer `$(gcloud auth print-identity-token)`" -H `"Authorization: Bearer `$(gcloud secrets versions access latest --secret=$SecretJeton --project=$Projet)`""

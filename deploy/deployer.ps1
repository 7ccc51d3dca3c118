<#
.SYNOPSIS
    Déploie l'API sur Cloud Run (jumeau Windows de deploy/deployer.sh, mêmes étapes et réglages).

.DESCRIPTION
    Active les services, crée le dépôt Artifact Registry s'il manque, construit et pousse l'image
    (Cloud Build par défaut : Docker n'est pas nécessaire sur le poste), déploie le service sur le
    port 8080 avec CPU, mémoire, concurrence et délai accordés à gunicorn.conf.py, puis affiche
    l'URL du service et une commande curl d'essai.

    Concurrence Cloud Run = CPU × GUNICORN_THREADS (un worker gunicorn par vCPU) ; gunicorn n'a pas
    de délai de requête (timeout = 0), celui de Cloud Run s'applique seul ; à l'arrêt, gunicorn finit
    ses requêtes en 8 s, sous les 10 s que Cloud Run laisse avant de tuer le conteneur.

.EXAMPLE
    .\deploy\deployer.ps1 -Projet mon-projet
.EXAMPLE
    .\deploy\deployer.ps1 mon-projet europe-west1 prediction-etudiante -Construction docker
.EXAMPLE
    $env:GCP_PROJET = "mon-projet"; .\deploy\deployer.ps1 -ABlanc
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
    [string] $Memoire = $(if ($env:MEMOIRE) { $env:MEMOIRE } else { "512Mi" }),
    [ValidateRange(1, 1000)]
    [int] $Threads = $(if ($env:GUNICORN_THREADS) { [int] $env:GUNICORN_THREADS } else { 8 }),
    [int] $InstancesMax = $(if ($env:INSTANCES_MAX) { [int] $env:INSTANCES_MAX } else { 3 }),
    [string] $DelaiRequete = $(if ($env:DELAI_REQUETE) { $env:DELAI_REQUETE } else { "30s" }),
    [string] $CompteService = $env:COMPTE_SERVICE,
    [switch] $Public = ($env:PUBLIC -eq "1"),
    [switch] $ABlanc = ($env:A_BLANC -eq "1")
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

if (-not $ABlanc -and -not (Get-Command gcloud -ErrorAction SilentlyContinue)) {
    throw "gcloud introuvable : installez Google Cloud CLI (https://cloud.google.com/sdk/docs/install) puis gcloud auth login"
}
if (-not $Projet -and -not $ABlanc) {
    $Projet = (& gcloud config get-value project 2>$null | Out-String).Trim()
}
if (-not $Projet) {
    throw "projet inconnu : -Projet MON-PROJET, `$env:GCP_PROJET ou gcloud config set project MON-PROJET"
}

$Workers = $Cpu
$Concurrence = $Workers * $Threads
$Version = (& git -C $Racine rev-parse --short=12 HEAD 2>$null | Out-String).Trim()
if (-not $Version) { $Version = (Get-Date).ToUniversalTime().ToString("yyyyMMddHHmmss") }
elseif ((& git -C $Racine status --porcelain 2>$null | Out-String).Trim()) {
    $Version = "$Version-" + (Get-Date).ToUniversalTime().ToString("yyyyMMddHHmmss")  # copie modifiée
}
$Image = "$Region-docker.pkg.dev/$Projet/$Depot/prediction-etudiante-api:$Version"

Write-Host "== projet $Projet, région $Region, dépôt $Depot, service $Service"
Write-Host "== image $Image"

Write-Host "== 1/4 services Google Cloud"
Invoke-Etape gcloud @("services", "enable", "run.googleapis.com", "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com", "--project=$Projet")

Write-Host "== 2/4 dépôt Artifact Registry"
$Existe = $false
if (-not $ABlanc) {
    & gcloud artifacts repositories describe $Depot "--location=$Region" "--project=$Projet" *> $null
    $Existe = ($LASTEXITCODE -eq 0)
}
if ($Existe) {
    Write-Host "dépôt $Depot déjà présent"
} else {
    Invoke-Etape gcloud @("artifacts", "repositories", "create", $Depot, "--repository-format=docker",
        "--location=$Region", "--project=$Projet", "--description=Images de prediction-etudiante")
}

Write-Host "== 3/4 construction et envoi de l'image ($Construction)"
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

Write-Host "== 4/4 déploiement Cloud Run"
$Options = @(
    "run", "deploy", $Service, "--project=$Projet", "--region=$Region", "--image=$Image",
    "--platform=managed", "--port=8080", "--cpu=$Cpu", "--memory=$Memoire",
    "--concurrency=$Concurrence", "--timeout=$DelaiRequete", "--min-instances=0",
    "--max-instances=$InstancesMax", "--cpu-boost", "--execution-environment=gen2",
    "--set-env-vars=GUNICORN_WORKERS=$Workers,GUNICORN_THREADS=$Threads"
)
if ($CompteService) { $Options += "--service-account=$CompteService" }
if ($Public) { $Options += "--allow-unauthenticated" } else { $Options += "--no-allow-unauthenticated" }
Invoke-Etape gcloud $Options

if ($ABlanc) {
    $Url = "https://$Service-XXXXXXXXXX-ew.a.run.app"
} else {
    $Url = (& gcloud run services describe $Service "--project=$Projet" "--region=$Region" "--format=value(status.url)" | Out-String).Trim()
}
Write-Host ""
Write-Host "Service déployé : $Url"
# curl.exe : dans Windows PowerShell 5.1, « curl » est un alias d'Invoke-WebRequest.
if ($Public) {
    Write-Host "Essai : curl.exe -s -X POST $Url/predire -H 'Content-Type: application/json' -d '@test/donnees.json'"
} else {
    Write-Host "Essai (service privé : jeton d'identité du compte connecté, rôle roles/run.invoker requis) :"
    Write-Host "  curl.exe -s -X POST $Url/predire -H `"Authorization: Bearer `$(gcloud auth print-identity-token)`" -H 'Content-Type: application/json' -d '@test/donnees.json'"
}

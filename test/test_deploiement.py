"""Scripts de déploiement Cloud Run : syntaxe, commandes produites (à blanc, sans gcloud) et
cohérence des réglages avec gunicorn.conf.py et deploy/service.yaml."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from test.conftest import RACINE

DEPLOYER = RACINE / "deploy" / "deployer.sh"
SERVICE_YAML = (RACINE / "deploy" / "service.yaml").read_text(encoding="utf-8")


def a_blanc(*arguments: str, env: dict | None = None) -> str:
    environnement = {k: v for k, v in os.environ.items()
                     if k not in ("GCP_PROJET", "GCP_REGION", "GCP_DEPOT", "CPU", "GUNICORN_THREADS")}
    resultat = subprocess.run(["bash", str(DEPLOYER), "--a-blanc", *arguments], capture_output=True,
                              text=True, timeout=30, env={**environnement, **(env or {})})
    assert resultat.returncode == 0, resultat.stderr
    return resultat.stdout


def test_syntaxe_des_scripts_shell():
    for script in (DEPLOYER, RACINE / "deploy" / "entrypoint.sh"):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    if shutil.which("shellcheck"):
        resultat = subprocess.run(["shellcheck", str(DEPLOYER), str(RACINE / "deploy" / "entrypoint.sh")],
                                  capture_output=True, text=True)
        assert resultat.returncode == 0, resultat.stdout


def test_commandes_produites():
    sortie = a_blanc("mon-projet", "europe-west9", "mon-depot")
    image = "europe-west9-docker.pkg.dev/mon-projet/mon-depot/prediction-etudiante-api:"
    assert "gcloud services enable run.googleapis.com artifactregistry.googleapis.com" in sortie
    assert "gcloud artifacts repositories create mon-depot --repository-format=docker" in sortie
    assert f"gcloud builds submit --project=mon-projet --tag={image}" in sortie
    deploiement = next(ligne for ligne in sortie.splitlines() if "gcloud run deploy" in ligne)
    for attendu in ("--port=8080", "--cpu=1", "--memory=1Gi", "--concurrency=8", "--timeout=30s",
                    "--no-allow-unauthenticated", "GUNICORN_WORKERS=1", "GUNICORN_THREADS=8", "JOURNAL_BORNE=64Mio"):
        assert attendu in deploiement
    assert "curl" in sortie and "/predire" in sortie


def test_options_et_environnement():
    sortie = a_blanc("--construction", "docker", "--public", env={"GCP_PROJET": "p", "CPU": "2",
                                                                   "GUNICORN_THREADS": "4"})
    assert "docker build --platform=linux/amd64" in sortie and "docker push" in sortie
    assert "--concurrency=8" in sortie and "GUNICORN_WORKERS=2" in sortie and "--cpu=2" in sortie
    assert "--allow-unauthenticated" in sortie
    refus = subprocess.run(["bash", str(DEPLOYER), "--a-blanc", "--construction", "podman", "p"],
                           capture_output=True, text=True)
    assert refus.returncode == 2 and "cloudbuild ou docker" in refus.stderr


def test_service_yaml_coherent_avec_le_script_et_gunicorn():
    sortie = a_blanc("p")
    valeur = lambda cle: re.search(rf"{cle}:\s*\"?([\w.]+)", SERVICE_YAML).group(1)  # noqa: E731
    assert f"--concurrency={valeur('containerConcurrency')}" in sortie
    assert f"--timeout={valeur('timeoutSeconds')}s" in sortie
    assert f"--memory={valeur('memory')}" in sortie
    assert f"--cpu={valeur('cpu')}" in sortie
    assert valeur("containerPort") == "8080"
    for cle in ("JOURNAL_SEGMENT", "JOURNAL_BORNE"):  # le journal de l'instance, en mémoire, borné pareil
        yaml = re.search(rf"name: {cle}\s+value: \"?(\w+)", SERVICE_YAML).group(1)
        assert f"{cle}={yaml}" in sortie
    # La mémoire couvre la borne du journal (le disque de Cloud Run est de la mémoire) : Configuration accepte
    # ces réglages, et la borne laisse au moins 384 Mio au processus (pic mesuré : deux lots de 10 000).
    from app.config import Configuration
    config = Configuration.depuis_environnement({"K_SERVICE": "s", "INSTANCE_UNIQUE": "1", "EFFACEMENT_SEL": "s" * 32})
    memoire = int(valeur("memory").removesuffix("Gi")) * 1024 if valeur("memory").endswith("Gi") else \
        int(valeur("memory").removesuffix("Mi"))
    assert memoire - config.borne_journal / 2**20 >= 384
    conf = (RACINE / "gunicorn.conf.py").read_text(encoding="utf-8")
    assert int(re.search(r"graceful_timeout = (\d+)", conf).group(1)) < 10, "Cloud Run tue après 10 s"


SANS_PWSH = pytest.mark.skipif(
    shutil.which("pwsh") is None,
    reason="PowerShell (pwsh) absent ; pour l'activer : installez pwsh depuis les paquets de Microsoft "
           "(paquet powershell, absent de Debian)")


@SANS_PWSH
def test_jumeau_powershell():
    resultat = subprocess.run(["pwsh", "-NoProfile", "-File", str(RACINE / "deploy" / "deployer.ps1"),
                               "-Projet", "mon-projet", "-ABlanc"], capture_output=True, text=True, timeout=60)
    assert resultat.returncode == 0, resultat.stderr
    assert "--port=8080" in resultat.stdout and "--concurrency=8" in resultat.stdout


def test_variables_d_environnement_entieres_pour_gcloud():
    """gcloud découpe ``--set-env-vars=^X^…`` sur X : aucune valeur ne doit le contenir (DATABASE_URL a un « @ »)."""
    import shlex

    deploiement = next(ligne for ligne in a_blanc("p").splitlines() if "gcloud run deploy" in ligne)
    argument = next(a for a in shlex.split(deploiement) if a.startswith("--set-env-vars="))
    valeur = argument.removeprefix("--set-env-vars=")
    assert valeur.startswith("^") and valeur[2] == "^"
    variables = dict(paire.split("=", 1) for paire in valeur[3:].split(valeur[1]))
    assert variables["DATABASE_URL"] == "postgresql+psycopg://api@/resultats?host=/cloudsql/p:europe-west1:prediction-etudiante"
    assert variables["JOURNAL_BORNE"] == "64Mio" and variables["GUNICORN_THREADS"] == "8"


def test_iap_et_fichier_d_acces_a_blanc():
    """--iap --acces : IAP activé sur le service, roles/iap.httpsResourceAccessor à chaque personne et domaine du
    fichier (après le déploiement), fichier monté en secret et lu par ACCES_FICHIER, audience IAP donnée."""
    import shlex

    acces = str(RACINE / "test" / "acces_essai.toml")
    sortie = a_blanc("p", "--iap", "--acces", acces)
    lignes = sortie.splitlines()
    rang = {nom: next(i for i, ligne in enumerate(lignes) if motif in ligne) for nom, motif in (
        ("secret", "gcloud secrets create prediction-etudiante-acces"), ("deploiement", "gcloud run deploy"),
        ("iap", "gcloud beta run services update prediction-etudiante-api --project=p --region=europe-west1 --iap"),
        ("droit", "gcloud iap web add-iam-policy-binding"))}
    assert rang["secret"] < rang["deploiement"] < rang["iap"] < rang["droit"]
    assert f"--data-file={acces}" in lignes[rang["secret"]]
    membres = {a.removeprefix("--member=") for ligne in lignes if "gcloud iap web add-iam-policy-binding" in ligne
               for a in shlex.split(ligne) if a.startswith("--member=")}
    assert membres == {"user:conseil.gp@lycee.example", "user:direction.gp@lycee.example",
                       "user:dpo@academie.example", "domain:ms.example"}
    assert all("--role=roles/iap.httpsResourceAccessor" in ligne for ligne in lignes if "gcloud iap web" in ligne)
    assert "gcloud services enable iap.googleapis.com" in sortie
    assert "gcp-sa-iap.iam.gserviceaccount.com --role=roles/run.invoker" in sortie
    deploiement = shlex.split(lignes[rang["deploiement"]])
    assert "--no-allow-unauthenticated" in deploiement
    assert "/secrets/acces/acces.toml=prediction-etudiante-acces:latest" in next(
        a for a in deploiement if a.startswith("--set-secrets="))
    variables = next(a for a in deploiement if a.startswith("--set-env-vars="))
    assert "ACCES_FICHIER=/secrets/acces/acces.toml" in variables
    assert "IAP_AUDIENCE=/projects/NUMERO_DU_PROJET/locations/europe-west1/services/prediction-etudiante-api" in variables
    # Ajouter un conseiller : une ligne dans le fichier, puis une commande (secret et droits IAP seulement).
    seul = a_blanc("--projet", "p", "--acces", acces, "--acces-seulement")
    assert "gcloud run deploy" not in seul and "gcloud builds" not in seul
    assert "gcloud secrets create prediction-etudiante-acces" in seul and seul.count("gcloud iap web") == 4
    for arguments, message in ((("p", "--iap"), "--iap exige --acces"),
                               (("p", "--iap", "--public", "--acces", acces), "s'excluent")):
        refus = subprocess.run(["bash", str(DEPLOYER), "--a-blanc", *arguments], capture_output=True, text=True)
        assert refus.returncode == 2 and message in refus.stderr


def _job(*arguments: str, env: dict | None = None) -> str:
    sortie = a_blanc("p", "--job", "--entree", "gs://district-entree/2026-t1", "--sortie", "gs://district-sortie",
                     *arguments, env=env)
    return next(ligne for ligne in sortie.splitlines() if "gcloud run jobs deploy" in ligne)


def test_job_de_lot_meme_image_compte_secrets_et_cloud_sql():
    import shlex

    sortie = a_blanc("p", "--job", "--entree", "gs://district-entree/2026-t1", "--sortie", "gs://district-sortie",
                     "--taches", "12")
    assert "gcloud run deploy" not in sortie, "le job ne redéploie pas le service"
    assert "gcloud run jobs execute prediction-etudiante-lot" in sortie and "gcloud scheduler jobs create http" in sortie
    arguments = shlex.split(next(ligne for ligne in sortie.splitlines() if "gcloud run jobs deploy" in ligne)[2:])
    options = dict(a.split("=", 1) for a in arguments if a.startswith("--") and "=" in a and not a.startswith("--add-"))
    assert options["--image"].startswith("europe-west1-docker.pkg.dev/p/prediction-etudiante/prediction-etudiante-api:")
    assert options["--service-account"] == "prediction-etudiante-api@p.iam.gserviceaccount.com"
    assert options["--set-cloudsql-instances"] == "p:europe-west1:prediction-etudiante"
    assert options["--set-secrets"] == ("DATABASE_PASSWORD=prediction-etudiante-db-password:latest,"
                                        "EFFACEMENT_SEL=prediction-etudiante-effacement-sel:latest")
    assert options["--tasks"] == "12" and "--command" not in options  # l'ENTRYPOINT de l'image reste
    assert options["--args"] == "python,-m,app.lot,/mnt/entree/2026-t1,/mnt/sortie/"
    volumes = [a for a in arguments if a.startswith("--add-volume=")]
    assert ("--add-volume=name=entree,type=cloud-storage,bucket=district-entree,readonly=true,"
            "mount-options=uid=10001;gid=10001") in volumes
    assert any("bucket=district-sortie" in v and "readonly" not in v for v in volumes)
    variables = dict(p.split("=", 1) for p in options["--set-env-vars"][3:].split(";"))
    assert variables["DATABASE_URL"].endswith("?host=/cloudsql/p:europe-west1:prediction-etudiante")


@pytest.mark.parametrize("env, attendu", [({}, 1), ({"INSTANCES_MAX": "1"}, 12),
                                          ({"CONNEXIONS_SQL": "50", "JOB_FILS": "2"}, 12),
                                          ({"CONNEXIONS_SQL": "100", "JOB_PARALLELISME": "4"}, 4)])
def test_job_de_lot_sous_la_limite_de_connexions(env, attendu):
    """Service (INSTANCES_MAX × CPU × GUNICORN_THREADS, 24 par défaut) + tâches simultanées × JOB_FILS ≤ CONNEXIONS_SQL."""
    deploiement = _job("--taches", "12", env=env)
    assert f"--parallelism={attendu}" in deploiement
    service = int(env.get("INSTANCES_MAX", "3")) * 8
    assert service + attendu * int(env.get("JOB_FILS", "1")) <= int(env.get("CONNEXIONS_SQL", "25"))
    assert f"GUNICORN_THREADS={env.get('JOB_FILS', '1')}" in deploiement  # taille du pool de chaque tâche


def test_job_de_lot_refus():
    def refus(*arguments, env=None):
        resultat = subprocess.run(["bash", str(DEPLOYER), "--a-blanc", "p", "--job", *arguments], capture_output=True,
                                  text=True, env={**os.environ, **(env or {})})
        assert resultat.returncode == 2
        return resultat.stderr

    assert "gs://BUCKET" in refus("--entree", "/local", "--sortie", "gs://b-s")
    assert "Cloud SQL" in refus("--entree", "gs://b-e", "--sortie", "gs://b-s", "--instance-unique")
    assert "il n'en reste pas 2" in refus("--entree", "gs://b-e", "--sortie", "gs://b-s", env={"JOB_FILS": "2"})


@SANS_PWSH
def test_jumeau_powershell_du_job_de_lot():
    """Le jumeau Windows produit la même commande de job que deployer.sh (image et version mises à part)."""
    resultat = subprocess.run(["pwsh", "-NoProfile", "-File", str(RACINE / "deploy" / "deployer.ps1"), "-Projet", "p",
                               "-ABlanc", "-Job", "-Entree", "gs://district-entree/2026-t1", "-Sortie",
                               "gs://district-sortie", "-Taches", "12"], capture_output=True, text=True, timeout=60)
    assert resultat.returncode == 0, resultat.stderr
    jumeau = next(ligne for ligne in resultat.stdout.splitlines() if "gcloud run jobs deploy" in ligne)
    sans_image = [re.sub(r"--image=\S+", "", ligne).split() for ligne in (jumeau, _job("--taches", "12"))]
    import shlex

    assert sans_image[0] == shlex.split(" ".join(sans_image[1]))

# Image de service de prediction-etudiante : la même pour un portable (docker run, compose)
# et pour Cloud Run. Construction : docker build -t prediction-etudiante-api .
#
# Garder ce tag : il se construit tel quel sur un hôte Docker et sur les machines du projet
# (image de remplacement locale, voir ../shared/container/README.md).
# Étape 1 (« modele ») : scikit-learn compile le modèle livré en tableaux numpy et vérifie le
# résultat contre le pipeline (mêmes flottants, mêmes explications) ; elle échoue si une
# configuration n'est pas compilable. Rien de cette étape n'entre dans l'image, sauf le .npz.
FROM python:3.11-slim AS modele

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /construction
COPY requirements.txt requirements-entrainement.txt ./
RUN python -m pip install -r requirements-entrainement.txt
COPY app/ ./app/
COPY code/modele_trees.pkl code/features.pkl code/model_card.json ./code/
RUN python -m app.modele.compile.compilation --exiger-tout --sortie code/modele_compile.npz

# Étape 2 : l'image de service. Dépendances du service seules (requirements.txt : ni scikit-learn,
# ni scipy, ni pandas ; voir README, « Image Docker », pour ce que chaque paquet ajoute).
FROM python:3.11-slim

# Fichiers d'exécution (données personnelles) dans le dossier de données, jamais à côté du code.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOTE=0.0.0.0 \
    PORT=8080 \
    GRPC_PORT=50051 \
    JOURNAL_CHEMIN=/app/donnees/requetes_enrg.jsonl \
    BASE_SQLITE_CHEMIN=/app/donnees/resultats.sqlite3

WORKDIR /app

# 1. Dépendances seules : cette couche reste en cache tant que requirements.txt ne change pas,
#    quel que soit le code modifié.
COPY requirements.txt ./
RUN python -m pip install -r requirements.txt
# 2. Utilisateur sans privilèges. /app et le code appartiennent à root, en 0755 : le service ne
#    peut ni modifier ni ajouter un fichier sur le chemin d'import de Python. Ses seuls fichiers
#    (journal, verrou, base SQLite) vont dans /app/donnees (0700, prévu pour un volume ; compose).
RUN groupadd --system --gid 10001 api \
 && useradd --system --uid 10001 --gid api --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin api \
 && chown root:root /app && chmod 0755 /app \
 && install -d -o api -g api -m 0700 /app/donnees

# 3. Ce que le service utilise, et rien d'autre (voir aussi .dockerignore).
COPY gunicorn.conf.py ./
COPY app/ ./app/
COPY code/modele_trees.pkl code/features.pkl code/model_card.json code/reference_derive.json ./code/
# Le modèle compilé à l'étape « modele » : il porte le sha256 du pickle et de features.pkl dont il
# vient, vérifiés au démarrage ; le service ne désérialise jamais le pickle (pas de scikit-learn ici).
COPY --from=modele /construction/code/modele_compile.npz ./code/
COPY deploy/entrypoint.sh /usr/local/bin/entrypoint.sh
RUN chmod 0755 /usr/local/bin/entrypoint.sh \
 && python -m compileall -q app gunicorn.conf.py

# 8080 : API HTTP (gunicorn, commande par défaut) ; 50051 : serveur gRPC, même image, autre commande :
#   docker run -p 127.0.0.1:50051:50051 prediction-etudiante-api python -m app.rpc
EXPOSE 8080 50051

# Python, pas curl (absent de l'image slim). Le port est celui du serveur ($PORT). Pour le serveur
# gRPC, docker-compose.yml remplace ce contrôle par grpc.health.v1 (README, section gRPC).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=4).status == 200 else 1)"]

# Le conteneur démarre en root le temps de préparer le journal (propriétaire d'un fichier monté
# depuis l'hôte, verrou), puis entrypoint.sh lance gunicorn sous un utilisateur non root
# (setpriv, d'util-linux, présent dans toute image Debian), umask 077 (fichiers créés en 0600).
# Avec --user, il lance directement (même umask).
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]

# Les deux commandes du README : `make api` et `make tests`. Chacune crée son environnement virtuel.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
DONNEES ?= code/student-por.csv
RAPPEL ?= 0.80
JOURNAL ?=

.PHONY: installer api grpc talons dev lot tests captures entrainer entrainer-rapide compiler banc rapport recalibrer reference \
	sauvegarde restauration reconcilier docs clean

# DEJA_INSTALLE=1 : .venv est déjà prêt, rien à réinstaller (exemples de docs/ exécutés par les tests).
installer: $(if $(DEJA_INSTALLE),,$(VENV)/.installe)

$(VENV)/.installe: requirements.txt requirements-entrainement.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

api: installer  ## production locale : gunicorn sur :$${PORT:-8080}
	$(BIN)/gunicorn -c gunicorn.conf.py

grpc: installer  ## serveur gRPC sur :$${GRPC_PORT:-50051} (même code, même modèle, mêmes enregistrements)
	$(BIN)/python -m app.rpc

talons: installer  ## régénère les talons gRPC versionnés depuis app/rpc/prediction.proto
	$(BIN)/python -m outils.generer_talons

dev: installer  ## serveur de développement (sans debug)
	$(BIN)/python -m app.main

lot: installer  ## note un dossier de classes : make lot ENTREE=dossier_ou_fichier.csv SORTIE=dossier
	$(if $(and $(ENTREE),$(SORTIE)),,$(error ENTREE et SORTIE sont requis : make lot ENTREE=classes SORTIE=resultats))
	$(BIN)/python -m app.lot "$(ENTREE)" "$(SORTIE)"

tests: installer  ## toute la suite de tests
	$(BIN)/python -m pytest $(PYTEST_ARGS)

entrainer: installer  ## protocole complet (20 × 10 plis), écrit code/
	$(BIN)/python -m app.entrainement --donnees $(DONNEES) --sortie code

compiler: installer  ## écrit code/modele_compile.npz (démarrage sans scikit-learn)
	$(BIN)/python -m app.modele.compile.compilation

banc: installer  ## banc d'essai : tableau des performances (wrk requis : apt-get install -y wrk)
	$(BIN)/python -m outils.banc_essai $(BANC_ARGS)

rapport: installer  ## rapport/rapport.html et .json : équité, calibration (et dérive avec JOURNAL=…)
	$(BIN)/python -m app.entrainement.rapport --donnees $(DONNEES) $(if $(JOURNAL),--journal $(JOURNAL))

recalibrer: installer  ## seuils réglés sur un fichier étiqueté : make recalibrer DONNEES=… RAPPEL=0.80
	$(BIN)/python -m app.entrainement.recalibrage --donnees $(DONNEES) --rappel $(RAPPEL)

reference: installer  ## code/reference_derive.json (référence de GET /derive), après make entrainer
	$(BIN)/python -m app.entrainement.reference --donnees $(DONNEES)

sauvegarde: installer  ## base (SQLite en ligne ou pg_dump) + journal et segments : make sauvegarde [VERS=sauvegardes]
	$(BIN)/python -m app.stockage.sauvegarde sauvegarder --dossier $(or $(VERS),sauvegardes)

restauration: installer  ## service arrêté : make restauration SAUVEGARDE=sauvegardes/AAAAMMJJT…Z
	@test -n "$(SAUVEGARDE)" || { echo "précisez SAUVEGARDE=sauvegardes/<dossier> (ls sauvegardes/)" >&2; exit 2; }
	$(BIN)/python -m app.stockage.sauvegarde restaurer $(SAUVEGARDE)

reconcilier: installer  ## relit tout le journal et insère en base ce qui y manque (le démarrage ne relit que le non confirmé)
	$(BIN)/python -m app.stockage.reconciliation

docs: installer  ## site de la documentation (docs/ → site/) en --strict ; captures prises par les tests de la page
	@{ test -f docs/captures/1b-classe-tableau.png && test -f docs/captures/6-fiche-eleve.png && \
	  test -f docs/captures/7-verification.png; } || $(BIN)/python -m pytest -q -p no:cacheprovider \
	  test/test_page_classe.py -k "classe_de_400 or un_eleve or fiche_d_un or an_passe_comptes" || \
	  { echo "captures d'écran impossibles : apt-get install chromium chromium-driver" >&2; exit 2; }
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

captures: installer  ## reprend les deux captures du README (docs/images/) des tests de la page, à committer
	rm -f docs/captures/1b-classe-tableau.png docs/captures/6-fiche-eleve.png
	$(BIN)/python -m pytest -q -p no:cacheprovider test/test_page_classe.py -k "classe_de_400 or fiche_d_un"
	cp docs/captures/1b-classe-tableau.png docs/images/classe.png
	cp docs/captures/6-fiche-eleve.png docs/images/fiche-eleve.png

clean:
	rm -rf $(VENV) .pytest_cache site

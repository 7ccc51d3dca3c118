// Page /classe : une classe (POST /predire/lot/partiel), un élève (POST /predire), l'historique
// (POST /historique et POST /effacement : aucun identifiant d'élève dans une adresse ; code d'accès gardé
// dans l'onglet seulement). Aucune dépendance, aucun innerHTML : tout texte venu du fichier ou de l'API
// est inséré avec textContent.
//
// Forme des réponses lue ici (tolérante aux deux formes du lot, voir les commentaires « forme ») :
// résultat d'élève {probabilite_echec, prediction, seuil, configuration, explication[{champ, valeur, effet,
// texte}], request_id, user_id?, avertissements?, position, supplementaires} ; lot partiel {resultats,
// rejets[{position, supplementaires, problemes[{champ, message}]}], nombre, recus, colonnes_supplementaires,
// lecture?, derive_classe?, verification?} ; erreur {erreur, details[{element?, champ, message}]}.
"use strict";

(() => {
  const DONNEES = JSON.parse(document.getElementById("donnees-page").textContent);
  const CLE_JETON = "prediction-etudiante.jeton";
  const SVG = "http://www.w3.org/2000/svg";
  const pourcent = new Intl.NumberFormat("fr-FR", {style: "percent", maximumFractionDigits: 0});
  const decimal = new Intl.NumberFormat("fr-FR", {maximumFractionDigits: 2});
  const pourcentPrecis = new Intl.NumberFormat("fr-FR", {style: "percent", maximumFractionDigits: 1});
  const $ = (id) => document.getElementById(id);

  function element(nom, attributs = {}, ...enfants) {
    const e = document.createElement(nom);
    for (const [cle, valeur] of Object.entries(attributs)) {
      if (cle === "texte") e.textContent = valeur;
      else if (cle === "classe") e.className = valeur;
      else e.setAttribute(cle, valeur);
    }
    for (const enfant of enfants) if (enfant != null) e.append(enfant);
    return e;
  }

  function svg(nom, attributs = {}) {
    const e = document.createElementNS(SVG, nom);
    for (const [cle, valeur] of Object.entries(attributs)) {
      if (cle === "texte") e.textContent = valeur;
      else e.setAttribute(cle, valeur);
    }
    return e;
  }

  function etat(id, texte, erreur = false) {
    const e = $(id);
    e.textContent = texte;
    e.classList.toggle("erreur", erreur);
  }

  // Personne connectée (OIDC ou IAP) : ni jeton à saisir, et le jeton anti-CSRF de la session sur chaque appel.
  const csrf = document.querySelector('meta[name="csrf"]');

  async function appeler(url, options = {}) {
    let reponse;
    if (csrf) options = {...options, headers: {...(options.headers || {}), "X-CSRF-Token": csrf.content}};
    try {
      reponse = await fetch(url, options);
    } catch (erreur) {
      throw new Error("le serveur ne répond pas (" + erreur.message + ")");
    }
    let corps = null;
    try { corps = await reponse.json(); } catch (_) { corps = null; }
    if (!reponse.ok) {
      const message = corps && corps.erreur ? corps.erreur : "erreur " + reponse.status;
      const e = new Error(message);
      e.statut = reponse.status;
      e.details = (corps && corps.details) || [];
      throw e;
    }
    return corps;
  }

  function texteErreur(erreur) {
    // forme : {champ, message} ou {element, champ, message} (erreurs de lot)
    const details = (erreur.details || []).slice(0, 10).map((d) =>
      (d.element != null ? d.element + ", " : "") + d.champ + " : " + d.message);
    return "Erreur : " + erreur.message + (details.length ? " — " + details.join(" ; ") : "");
  }

  // --- Onglets (motif ARIA « tabs » : flèches, Début, Fin) ---------------------------------------
  const onglets = Array.from(document.querySelectorAll('[role="tab"]'));

  function choisirOnglet(onglet, focaliser = true) {
    for (const o of onglets) {
      const choisi = o === onglet;
      o.setAttribute("aria-selected", String(choisi));
      o.tabIndex = choisi ? 0 : -1;
      $(o.getAttribute("aria-controls")).hidden = !choisi;
    }
    if (focaliser) onglet.focus();
    history.replaceState(null, "", "#" + onglet.id.replace("onglet-", ""));
  }

  for (const onglet of onglets) {
    onglet.addEventListener("click", () => choisirOnglet(onglet));
    onglet.addEventListener("keydown", (evenement) => {
      const i = onglets.indexOf(onglet);
      const cible = {ArrowRight: (i + 1) % onglets.length, ArrowLeft: (i - 1 + onglets.length) % onglets.length,
                     Home: 0, End: onglets.length - 1}[evenement.key];
      if (cible !== undefined) {
        evenement.preventDefault();
        choisirOnglet(onglets[cible]);
      }
    });
  }
  function ongletDeLAdresse() {
    const onglet = $("onglet-" + location.hash.slice(1));
    if (onglet) choisirOnglet(onglet, false);
  }
  window.addEventListener("hashchange", ongletDeLAdresse);
  ongletDeLAdresse();

  // --- Présentation d'une prédiction ---------------------------------------------------------------
  const BANDES = {eleve: "Élevé", a_surveiller: "À surveiller", faible: "Faible"};
  const TAILLE_PAGE_DEFAUT = 100;

  function aRisque(resultat) { return resultat.prediction === 0; }

  function bande(resultat) {  // même règle que app/modele/fiabilite.py (bande)
    if (!aRisque(resultat)) return "faible";
    return resultat.probabilite_echec >= DONNEES.bande_elevee ? "eleve" : "a_surveiller";
  }

  function enClair(configuration) {
    return DONNEES.configurations_en_clair[configuration] || configuration;
  }

  function jauge(probabilite, risque) {
    const dessin = svg("svg", {viewBox: "0 0 100 10", preserveAspectRatio: "none", "aria-hidden": "true", focusable: "false"});
    dessin.append(svg("rect", {x: 0, y: 0, width: 100, height: 10, class: "jauge-piste"}));
    dessin.append(svg("rect", {x: 0, y: 0, width: (100 * probabilite).toFixed(1), height: 10,
                               class: risque ? "jauge-risque" : "jauge-sans-risque"}));
    return element("span", {classe: "jauge"}, dessin,
                   element("span", {classe: "nombre", texte: pourcent.format(probabilite)}));
  }

  function celluleBande(resultat, avecPourcentage) {
    const b = bande(resultat);
    return element("span", {classe: "bande bande-" + b,
                            texte: BANDES[b] + (avecPourcentage ? " (" + pourcent.format(resultat.probabilite_echec) + ")" : "")});
  }

  function texteDecision(resultat) {
    return aRisque(resultat) ? "Signalé : risque " + BANDES[bande(resultat)].toLowerCase() : "Risque faible";
  }

  function cellDecision(resultat) {
    return element("span", {classe: aRisque(resultat) ? "decision-risque" : "decision-sans-risque",
                            texte: texteDecision(resultat)});
  }

  function valeurLisible(champ, valeur) {
    const textes = DONNEES.valeurs[champ];
    const texte = textes && textes[String(valeur)];
    if (!texte || texte === String(valeur)) return String(valeur);
    return ["yes", "no"].includes(String(valeur)) ? texte : texte + " (" + valeur + ")";
  }

  function augmente(facteur) { return facteur.effet.startsWith("augmente"); }

  function ampleur(facteur) {  // « +3,2 points de probabilité d'échec » ou « 12 % de l'explication »
    const m = /\(([^()]*)\)$/.exec(facteur.texte || "");
    return m ? m[1] : "";
  }

  function raison(facteur, avecAmpleur = false) {
    const libelle = DONNEES.libelles[facteur.champ] || facteur.champ;
    const sens = augmente(facteur) ? "↑ augmente le risque" : "↓ diminue le risque";
    const taille = avecAmpleur && ampleur(facteur) ? " (" + ampleur(facteur) + ")" : "";
    return libelle + " : " + valeurLisible(facteur.champ, facteur.valeur) + " — " + sens + taille;
  }

  function principales(resultat, nombre = 3) {
    // Pour un élève signalé, d'abord ce qui augmente le risque : c'est ce qui explique l'alerte.
    const facteurs = resultat.explication || [];
    const ordre = aRisque(resultat) ? [...facteurs.filter(augmente), ...facteurs.filter((f) => !augmente(f))] : facteurs;
    return ordre.slice(0, nombre);
  }

  function listeRaisons(resultat, nombre) {
    const liste = element("ul", {classe: "raisons"});
    for (const facteur of principales(resultat, nombre)) liste.append(element("li", {texte: raison(facteur)}));
    if (!liste.children.length) liste.append(element("li", {texte: "aucun facteur ne se détache"}));
    return liste;
  }

  function remarqueEnClair(texte) {
    // Les remarques de l'API nomment les configurations et les notes par leur code : dites en clair ici.
    if (/^G2 sans G1/.test(texte)) return "note du 2e trimestre ignorée : sans celle du 1er, l'estimation se fait sans aucune note";
    const configuration = /^configuration ([ABC])\b/.exec(texte);
    return configuration ? "estimation faite " + enClair(configuration[1]) : texte;
  }

  function avertissementsDe(resultat, corps) {
    // forme : dans chaque résultat (lot) ou à côté (réponse d'un élève, ancienne forme)
    return (resultat.avertissements || (corps && corps.avertissements) || []).map(remarqueEnClair);
  }

  function nombreFr(valeur, chiffres = 4) {
    return Number(valeur).toFixed(chiffres).replace(".", ",");
  }

  // --- Une classe ------------------------------------------------------------------------------------
  const classe = {resultats: [], colonnes: [], tri: {cle: "risque", sens: "descending"}, filtre: false,
                  pourcentages: false, page: 0, taillePage: TAILLE_PAGE_DEFAUT, ordre: [], corps: null};

  $("modele-csv").addEventListener("click", () => {
    const exemple = DONNEES.exemple;
    const entete = ["nom", "user_id", ...DONNEES.champs];
    const ligne = ["Exemple à remplacer", "eleve-0001", ...DONNEES.champs.map((c) => exemple[c] == null ? "" : exemple[c])];
    telecharger("modele-classe.csv", entete.join(";") + "\r\n" + ligne.map(celluleCsv).join(";") + "\r\n");
  });

  $("form-classe").addEventListener("submit", async (evenement) => {
    evenement.preventDefault();
    const fichier = $("fichier-classe").files[0];
    if (!fichier) {
      etat("etat-classe", "Choisissez d'abord un fichier CSV.", true);
      $("fichier-classe").focus();
      return;
    }
    const debut = performance.now();
    etat("etat-classe", "Analyse de la classe en cours…");
    for (const id of ["resultats-classe", "rejets", "bandeau-derive", "verification", "lecture-fichier"]) $(id).hidden = true;
    let corps;
    try {
      corps = await appeler("/predire/lot/partiel?rappel=" + encodeURIComponent($("rappel-vise").value),
                            {method: "POST", headers: {"Content-Type": "text/csv"},
                                                     body: await fichier.arrayBuffer()});
    } catch (erreur) {
      etat("etat-classe", texteErreur(erreur), true);
      return;
    }
    classe.corps = corps;
    classe.resultats = corps.resultats;
    classe.colonnes = corps.colonnes_supplementaires || [];
    classe.tri = {cle: "risque", sens: "descending"};
    classe.page = 0;
    afficherLecture(corps.lecture);
    afficherRejets(corps.rejets || []);
    afficherDerive(corps.derive_classe);
    afficherVerification(corps.verification);
    $("resultats-classe").hidden = corps.resultats.length === 0;
    afficherClasse();
    const duree = performance.now() - debut;
    $("resultats-classe").dataset.dureeMs = duree.toFixed(0);
    const rejets = (corps.rejets || []).length;
    etat("etat-classe", corps.nombre + " élève(s) analysé(s) sur " + corps.recus + " en " +
         decimal.format(duree / 1000) + " s" + (rejets ? " ; " + rejets + " ligne(s) non analysée(s), détaillée(s) ci-dessous." : "."));
    setTimeout(preparerImpression, 0);  // après le premier écran
  });

  function afficherLecture(lecture) {
    const zone = $("lecture-fichier");
    if (!lecture) { zone.hidden = true; return; }
    const traduites = Object.keys(lecture.colonnes_traduites || {}).length;
    zone.textContent = "Fichier lu en " + lecture.encodage + ", séparateur : " + lecture.separateur +
      (traduites ? " ; " + traduites + " intitulé(s) de colonne en français reconnu(s)" : "") +
      (lecture.note_finale ? " ; note finale trouvée (classe de l'an passé)." : ".");
    zone.hidden = false;
  }

  function nomEleve(supplementaires) {
    const valeurs = Object.values(supplementaires || {}).filter((v) => v !== null && String(v).trim() !== "");
    return valeurs.length ? " (" + valeurs.slice(0, 2).join(", ") + ")" : "";
  }

  function afficherRejets(rejets) {
    const liste = $("liste-rejets");
    liste.replaceChildren();
    for (const rejet of rejets) {
      const problemes = (rejet.problemes || [rejet]).map((p) =>  // forme : {problemes: [...]} ou le problème lui-même
        (p.champ.startsWith("(") ? "" : "colonne " + p.champ + " (" + (DONNEES.libelles[p.champ] || p.champ) + ") : ") +
        p.message);
      liste.append(element("li", {texte: "Ligne " + (rejet.position ?? rejet.element) + nomEleve(rejet.supplementaires) +
                                          " — " + problemes.join(" ; ")}));
    }
    $("rejets").hidden = rejets.length === 0;
  }

  function afficherDerive(derive) {
    const bandeau = $("bandeau-derive");
    const variables = (derive && derive.variables) || [];
    bandeau.hidden = variables.length === 0;
    if (!variables.length) return;
    $("texte-derive").textContent = "Ces élèves diffèrent nettement de ceux sur lesquels le modèle a appris pour : " +
      variables.map((v) => v.libelle).join(", ") + ". La fiabilité annoncée ci-dessus ne vaut pas pour eux : elle reste " +
      "inconnue tant qu'elle n'a pas été vérifiée sur la classe de l'an passé de votre établissement (fichier avec la note finale).";
  }

  function afficherVerification(verification) {
    const section = $("verification");
    section.hidden = !verification;
    if (!verification) return;
    $("resume-verification").textContent = verification.eleves + " élève(s) avec leur note finale, dont " +
      verification.echecs + " en échec (note finale sous 10). Chaque élève est estimé sans sa note finale, " +
      "comme en début d'année.";
    const corps = $("corps-verification");
    corps.replaceChildren();
    const faiblesses = $("faiblesses");
    faiblesses.replaceChildren();
    const seuils = $("corps-seuils");
    seuils.replaceChildren();
    for (const [nom, c] of Object.entries(verification.configurations)) {
      const ligne = element("tr", {"data-configuration": nom},
        element("th", {scope: "row", texte: enClair(nom) + " (" + c.eleves + " élèves)"}),
        element("td", {texte: String(c.echecs)}),
        element("td", {classe: "reperes", texte: String(c.reperes)}),
        element("td", {classe: "manques", texte: String(c.manques)}),
        element("td", {classe: "fausses-alertes", texte: String(c.fausses_alertes)}),
        element("td", {texte: c.phrase}));
      corps.append(ligne);
      if (c.a_peine_mieux_que_tout_signaler) {
        faiblesses.append(element("li", {classe: "faiblesse", texte: "Élèves évalués " + enClair(nom) + " : sur ce fichier, " +
          "le modèle fait à peine mieux que signaler tout le monde (" + c.raisons_faiblesse.join(" ; ") + "). " +
          "Ne vous fiez pas à ces alertes sans autre élément."}));
      }
      const p = c.seuil_propose;
      if (p) {
        seuils.append(element("tr", {"data-configuration": nom},
          element("th", {scope: "row", texte: enClair(nom)}),
          element("td", {texte: pourcentPrecis.format(p.seuil) + " (actuel : " + pourcentPrecis.format(c.seuil_servi) + ")"}),
          element("td", {texte: pourcent.format(p.part_signalee)}),
          element("td", {classe: "reperes", texte: String(p.reperes)}),
          element("td", {classe: "manques", texte: String(p.manques)}),
          element("td", {classe: "fausses-alertes", texte: String(p.fausses_alertes)})));
      }
    }
    const vise = pourcent.format(verification.rappel_vise);
    $("legende-seuils").textContent = "Seuils qui repèrent " + vise + " des échecs de ce fichier (même calcul que la " +
      "commande de recalibrage de l'équipe technique)";
    $("table-seuils").hidden = seuils.children.length === 0;
    $("texte-seuils").textContent = verification.seuils_impossibles
      ? "Pas de seuil proposé : " + verification.seuils_impossibles + "."
      : "Pour repérer " + vise + " des échecs de votre établissement, le modèle devrait signaler les élèves à partir de ces seuils.";
    $("appliquer-seuils").hidden = !verification.seuils_proposes;
    $("ligne-seuils").textContent = verification.seuils_proposes || "";
  }

  const COLONNES_FIXES = [
    {cle: "position", titre: "Ligne"},
    {cle: "risque", titre: "Niveau de risque"},
    {cle: "configuration", titre: "Notes utilisées"},
    {cle: "avertissements", titre: "Remarques"},
    {cle: "raisons", titre: "Principales raisons"},
  ];

  function colonnesTable() {
    const supplementaires = classe.colonnes.map((c) => ({cle: "supp:" + c, titre: c}));
    const avecId = classe.resultats.some((r) => r.user_id) ? [{cle: "user_id", titre: "Identifiant"}] : [];
    return [COLONNES_FIXES[0], ...supplementaires, ...avecId, ...COLONNES_FIXES.slice(1)];
  }

  function valeurTri(resultat, cle) {
    if (cle === "risque") return resultat.probabilite_echec;
    if (cle === "position") return resultat.position;
    if (cle === "user_id") return resultat.user_id || "";
    // Chaque colonne se trie sur le texte qu'elle montre.
    if (cle === "configuration") return enClair(resultat.configuration);
    if (cle === "avertissements") return avertissementsDe(resultat).join(" ; ");
    if (cle === "raisons") return principales(resultat, 3).map((f) => raison(f)).join("") || "aucun facteur ne se détache";
    const v = (resultat.supplementaires || {})[cle.slice(5)];
    return v == null ? "" : String(v);
  }

  const comparateur = new Intl.Collator("fr", {numeric: true});

  function trier(cle) {
    const sens = classe.tri.cle === cle
      ? (classe.tri.sens === "descending" ? "ascending" : "descending")
      : (cle === "risque" ? "descending" : "ascending");
    classe.tri = {cle, sens};
    classe.page = 0;
    afficherClasse();
    // Sans sélecteur CSS construit : une colonne nommée avec « "] » le rendait invalide (exception).
    const th = Array.from($("entetes-classe").children).find((e) => e.dataset.cle === cle);
    const bouton = th && th.querySelector("button");
    if (bouton) bouton.focus();
  }

  function ordonner() {
    const {cle, sens} = classe.tri;
    const ordre = classe.resultats.map((r) => r);
    ordre.sort((a, b) => {
      const va = valeurTri(a, cle), vb = valeurTri(b, cle);
      const c = typeof va === "number" ? va - vb : comparateur.compare(va, vb);
      return (sens === "ascending" ? c : -c) || a.position - b.position;
    });
    return classe.filtre ? ordre.filter(aRisque) : ordre;
  }

  function ligneClasse(r, colonnes) {
    const ligne = element("tr", {classe: aRisque(r) ? "a-risque" : "", tabindex: "0",
                                 "data-probabilite": String(r.probabilite_echec), "data-position": String(r.position),
                                 "data-bande": bande(r)});
    for (const colonne of colonnes) {
      let contenu;
      if (colonne.cle === "position") contenu = String(r.position);
      else if (colonne.cle === "risque") contenu = celluleBande(r, classe.pourcentages);
      else if (colonne.cle === "configuration") contenu = enClair(r.configuration);
      else if (colonne.cle === "avertissements") contenu = avertissementsDe(r).join(" ; ");
      else if (colonne.cle === "raisons") contenu = listeRaisons(r, 3);
      else contenu = String(valeurTri(r, colonne.cle));
      const cellule = colonne.cle === "position" ? element("th", {scope: "row"}, contenu) : element("td", {}, contenu);
      cellule.dataset.titre = colonne.titre;  // disposition en cartes sur un petit écran
      ligne.append(cellule);
    }
    return ligne;
  }

  function afficherClasse() {
    const colonnes = colonnesTable();
    const entetes = $("entetes-classe");
    entetes.replaceChildren();
    for (const colonne of colonnes) {
      const th = element("th", {scope: "col", "data-cle": colonne.cle,
                                "aria-sort": classe.tri.cle === colonne.cle ? classe.tri.sens : "none"});
      const bouton = element("button", {type: "button", texte: colonne.titre});
      bouton.addEventListener("click", () => trier(colonne.cle));
      th.append(bouton);
      entetes.append(th);
    }
    const ordre = ordonner();
    classe.ordre = ordre;
    const taille = classe.taillePage || ordre.length || 1;
    const pages = Math.max(1, Math.ceil(ordre.length / taille));
    classe.page = Math.min(classe.page, pages - 1);
    const debut = classe.page * taille;
    const visibles = ordre.slice(debut, debut + taille);
    const fragment = document.createDocumentFragment();
    for (const r of visibles) fragment.append(ligneClasse(r, colonnes));
    $("corps-classe").replaceChildren(fragment);
    $("etat-page").textContent = ordre.length ? "Élèves " + (debut + 1) + " à " + (debut + visibles.length) + " sur " +
      ordre.length + " (page " + (classe.page + 1) + " sur " + pages + ")" : "Aucun élève à afficher";
    $("page-precedente").disabled = classe.page === 0;
    $("page-suivante").disabled = classe.page >= pages - 1;
    const total = classe.resultats.length;
    const comptes = {eleve: 0, a_surveiller: 0, faible: 0};
    for (const r of classe.resultats) comptes[bande(r)] += 1;
    const signales = comptes.eleve + comptes.a_surveiller;
    $("resume").replaceChildren(element("strong", {texte: signales + " élève(s) signalé(s)"}),
      " sur " + total + " analysé(s) : " + comptes.eleve + " à risque élevé, " + comptes.a_surveiller + " à surveiller, " +
      comptes.faible + " à risque faible" + (classe.filtre ? " — affichés : les " + signales + " signalés" : "") + ".");
    $("table-classe").dataset.lignes = String(ordre.length);
    $("table-classe").dataset.lignesPage = String(visibles.length);
    $("telecharger").textContent = "Télécharger les " + ordre.length + " élève(s) affiché(s) (CSV)";
    dessinerHistogramme(classe.resultats);
  }

  $("filtre-risque").addEventListener("change", (evenement) => {
    classe.filtre = evenement.target.checked;
    classe.page = 0;
    afficherClasse();
  });
  $("voir-pourcentages").addEventListener("change", (evenement) => {
    classe.pourcentages = evenement.target.checked;
    afficherClasse();
  });
  $("taille-page").addEventListener("change", (evenement) => {
    classe.taillePage = Number(evenement.target.value);
    classe.page = 0;
    afficherClasse();
  });
  $("page-precedente").addEventListener("click", () => { classe.page -= 1; afficherClasse(); });
  $("page-suivante").addEventListener("click", () => { classe.page += 1; afficherClasse(); });

  function resultatDeLigne(tr) {
    const position = Number(tr.dataset.position);
    return classe.resultats.find((r) => r.position === position);
  }
  $("corps-classe").addEventListener("click", (evenement) => {
    const tr = evenement.target.closest("tr");
    if (tr) ouvrirFiche(resultatDeLigne(tr), tr);
  });
  $("corps-classe").addEventListener("keydown", (evenement) => {
    const tr = evenement.target.closest("tr");
    if (!tr || evenement.target !== tr) return;
    if (evenement.key === "Enter" || evenement.key === " ") {
      evenement.preventDefault();
      ouvrirFiche(resultatDeLigne(tr), tr);
    } else if (evenement.key === "ArrowDown" || evenement.key === "ArrowUp") {
      evenement.preventDefault();
      const voisine = evenement.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
      if (voisine) voisine.focus();
    }
  });

  // --- Fiche d'un élève (fenêtre de dialogue : Échap la ferme) ----------------------------------------
  const fiche = {origine: null};

  function ouvrirFiche(r, origine) {
    if (!r) return;
    fiche.origine = origine;
    const nom = nomEleve(r.supplementaires).replace(/^ \(|\)$/g, "");
    $("titre-fiche").textContent = "Ligne " + r.position + (nom ? " — " + nom : "") + (r.user_id ? " (" + r.user_id + ")" : "");
    const contenu = [];
    contenu.push(element("p", {classe: "niveau-fiche"}, "Niveau de risque : ", celluleBande(r, false),
                         " (probabilité d'échec estimée : " + pourcent.format(r.probabilite_echec) + ", seuil de signalement : " +
                         pourcentPrecis.format(r.seuil) + ")."));
    contenu.push(element("p", {texte: "Estimation faite " + enClair(r.configuration) + "."}));
    const f = DONNEES.fiabilite[r.configuration];
    if (f) contenu.push(element("p", {classe: "discret", texte: f.phrase}));
    contenu.push(element("h3", {texte: "Ce qui pèse dans l'estimation"}));
    const raisons = element("ul", {classe: "raisons"});
    for (const facteur of principales(r, 5)) raisons.append(element("li", {texte: raison(facteur, true)}));
    if (!raisons.children.length) raisons.append(element("li", {texte: "aucun facteur ne se détache"}));
    contenu.push(raisons);
    const avertissements = avertissementsDe(r);
    if (avertissements.length) {
      contenu.push(element("h3", {texte: "Remarques sur la ligne"}));
      const liste = element("ul", {});
      for (const a of avertissements) liste.append(element("li", {texte: a}));
      contenu.push(liste);
    }
    contenu.push(element("h3", {texte: "Évolution du risque"}));
    const evolution = element("div", {id: "evolution-fiche"});
    contenu.push(evolution);
    contenu.push(element("h3", {texte: "Points à aborder lors de l'échange"}));
    const points = element("ul", {});
    for (const p of DONNEES.points_a_aborder) points.append(element("li", {texte: p}));
    contenu.push(points);
    contenu.push(element("p", {classe: "rappel", texte: "Aucune décision automatique : cette fiche prépare un échange avec " +
                                                         "l'élève, sa famille et l'équipe."}));
    $("contenu-fiche").replaceChildren(...contenu);
    chargerEvolution(r, evolution);
    const dialogue = $("fiche-eleve");
    if (!dialogue.open) dialogue.showModal();
    $("fermer-fiche").focus();
  }

  async function chargerEvolution(r, zone) {
    if (!r.user_id || !jeton()) {
      zone.append(element("p", {classe: "discret", texte: r.user_id
        ? "Saisissez le code d'accès dans l'onglet Historique pour voir les estimations précédentes de cet élève."
        : "Ajoutez une colonne user_id (identifiant pseudonyme) au fichier pour suivre l'élève d'un trimestre à l'autre."}));
      return;
    }
    let corps;
    try {
      corps = await appeler("/historique", {method: "POST", headers: {...enTetesJeton(), "Content-Type": "application/json"},
                                            body: JSON.stringify({user_id: r.user_id, limite: 50})});
    } catch (erreur) {
      zone.append(element("p", {classe: "discret", texte: "Historique illisible : " + texteErreur(erreur)}));
      return;
    }
    const points = corps.predictions.slice().reverse();  // du plus ancien au plus récent
    const description = points.map((p) => new Date(p.horodatage).toLocaleDateString("fr-FR") + " : " +
                                          pourcent.format(p.probabilite_echec)).join(" ; ");
    const L = 300, H = 80, M = 6;
    const dessin = svg("svg", {viewBox: `0 0 ${L} ${H}`, role: "img", "aria-label": "Évolution du risque : " + description,
                               class: "evolution"});
    const x = (i) => M + (points.length > 1 ? i * (L - 2 * M) / (points.length - 1) : (L - 2 * M) / 2);
    const y = (p) => H - M - p * (H - 2 * M);
    dessin.append(svg("line", {x1: M, y1: y(r.seuil), x2: L - M, y2: y(r.seuil), class: "evolution-seuil"}));
    if (points.length > 1) {
      dessin.append(svg("polyline", {points: points.map((p, i) => x(i) + "," + y(p.probabilite_echec)).join(" "),
                                     class: "evolution-ligne"}));
    }
    points.forEach((p, i) => dessin.append(svg("circle", {cx: x(i), cy: y(p.probabilite_echec), r: 3.5, class: "evolution-point"})));
    zone.append(dessin, element("p", {classe: "discret", texte: points.length + " estimation(s) conservée(s) : " + description +
                                                               " (trait horizontal : seuil de signalement)."}));
  }

  $("fermer-fiche").addEventListener("click", () => $("fiche-eleve").close());
  $("fiche-eleve").addEventListener("close", () => {
    if (fiche.origine && fiche.origine.isConnected) fiche.origine.focus();
  });

  // --- Impression : les élèves signalés seulement ----------------------------------------------------
  function preparerImpression() {
    const signales = classe.resultats.filter(aRisque).sort((a, b) => b.probabilite_echec - a.probabilite_echec);
    $("entete-impression").textContent = new Date().toLocaleDateString("fr-FR") + " — modèle " + DONNEES.model_version +
      " — " + signales.length + " élève(s) signalé(s) sur " + classe.resultats.length + ". Aide à la décision : chaque " +
      "alerte appelle un échange, jamais une décision automatique.";
    const presentes = [...new Set(signales.map((r) => r.configuration))].sort();
    $("legende-impression").textContent = "Raisons : ↑ augmente le risque, ↓ le diminue. Notes utilisées : T1 et T2 " +
      "(1er et 2e trimestres), T1, ou aucune (alerte précoce).";
    $("fiabilite-impression").replaceChildren(...presentes.map((c) =>
      element("li", {texte: "Élèves évalués " + enClair(c) + " : " + DONNEES.fiabilite[c].phrase})));
    const fragment = document.createDocumentFragment();
    for (const r of signales) {
      const nom = nomEleve(r.supplementaires).replace(/^ \(|\)$/g, "") || r.user_id || "ligne " + r.position;
      fragment.append(element("tr", {},
        element("td", {texte: nom}),
        element("td", {texte: BANDES[bande(r)]}),
        element("td", {texte: {A: "T1 et T2", B: "T1", C: "aucune"}[r.configuration] || r.configuration}),
        element("td", {texte: principales(r, 3).map((f) => (DONNEES.libelles[f.champ] || f.champ) + " : " +
                                                    valeurLisible(f.champ, f.valeur) + (augmente(f) ? " ↑" : " ↓")).join(" ; ")})));
    }
    $("corps-impression").replaceChildren(fragment);
    $("impression").dataset.lignes = String(signales.length);
  }
  $("imprimer").addEventListener("click", () => { preparerImpression(); window.print(); });

  function dessinerHistogramme(resultats) {
    const tranches = Array.from({length: 10}, () => ({risque: 0, sans: 0}));
    for (const r of resultats) {
      const t = tranches[Math.min(9, Math.floor(r.probabilite_echec * 10))];
      if (aRisque(r)) t.risque += 1; else t.sans += 1;
    }
    const maximum = Math.max(1, ...tranches.map((t) => t.risque + t.sans));
    const L = 420, H = 200, G = 36, B = 28, largeur = (L - G - 24) / 10;
    const description = tranches.map((t, i) => (i * 10) + "–" + (i * 10 + 10) + " % : " + (t.risque + t.sans) +
                                     " élève(s) dont " + t.risque + " signalé(s)").join(" ; ");
    const dessin = svg("svg", {viewBox: `0 0 ${L} ${H}`, role: "img", "aria-labelledby": "titre-histogramme desc-histogramme"});
    dessin.append(svg("desc", {id: "desc-histogramme", texte: description}));
    const y = (n) => H - B - (n / maximum) * (H - B - 20);
    dessin.append(svg("line", {x1: G, y1: H - B, x2: L - 4, y2: H - B, class: "histo-axe"}));
    dessin.append(svg("line", {x1: G, y1: 8, x2: G, y2: H - B, class: "histo-axe"}));
    for (const n of [0, Math.round(maximum / 2), maximum]) {
      dessin.append(svg("text", {x: G - 5, y: y(n) + 4, "text-anchor": "end", class: "histo-texte", texte: String(n)}));
    }
    tranches.forEach((t, i) => {
      const x = G + i * largeur + 2;
      const groupe = svg("g");
      groupe.append(svg("title", {texte: (i * 10) + "–" + (i * 10 + 10) + " % : " + (t.risque + t.sans) + " élève(s), " +
                                        t.risque + " signalé(s)"}));
      if (t.sans) groupe.append(svg("rect", {x, y: y(t.sans), width: largeur - 4, height: H - B - y(t.sans), class: "histo-sans-risque"}));
      if (t.risque) {
        groupe.append(svg("rect", {x, y: y(t.sans + t.risque), width: largeur - 4, height: y(t.sans) - y(t.sans + t.risque),
                                   class: "histo-risque"}));
      }
      if (t.risque + t.sans) {
        groupe.append(svg("text", {x: x + (largeur - 4) / 2, y: y(t.sans + t.risque) - 3, "text-anchor": "middle",
                                   class: "histo-texte", "aria-hidden": "true", texte: String(t.risque + t.sans)}));
      }
      dessin.append(groupe);
    });
    for (const p of [0, 50, 100]) {
      dessin.append(svg("text", {x: G + (p / 10) * largeur, y: H - B + 16, "text-anchor": "middle", class: "histo-texte", texte: p + " %"}));
    }
    dessin.append(svg("text", {x: (L + G) / 2, y: H - 2, "text-anchor": "middle", class: "histo-texte", texte: "probabilité d'échec"}));
    $("histogramme").replaceChildren(dessin);
  }

  // OWASP (« CSV Injection ») : une apostrophe devant chaque début de formule (= + - @ tabulation retour
  // chariot), au début de la cellule ou après un séparateur courant (, ; | tabulation fin de ligne) : ouvert
  // avec un autre séparateur que « ; », le tableur y verrait le début d'une cellule. Chaque cellule entre
  // guillemets. Même règle que app/modele/lots.py (FORMULE).
  const FORMULE = /(?<![^,;\t|\r\n])( *)([=+\-@\t\r])/g;
  function celluleCsv(valeur) {
    const texte = (valeur == null ? "" : String(valeur)).replace(FORMULE, "$1'$2");
    return '"' + texte.replace(/"/g, '""') + '"';
  }

  function telecharger(nom, texte) {
    const lien = element("a", {href: URL.createObjectURL(new Blob(["\ufeff" + texte], {type: "text/csv;charset=utf-8"})),
                               download: nom});
    document.body.append(lien);
    lien.click();
    lien.remove();
    setTimeout(() => URL.revokeObjectURL(lien.href), 10000);
  }

  $("telecharger").addEventListener("click", () => {
    const entete = ["ligne", ...classe.colonnes, "user_id", "niveau", "probabilite_echec", "signale", "seuil",
                    "notes_utilisees", "raison_1", "raison_2", "raison_3", "remarques", "reference"];
    const lignes = [entete.map(celluleCsv).join(";")];
    for (const r of classe.ordre) {
      const raisons = principales(r, 3).map((f) => raison(f));
      lignes.push([r.position, ...classe.colonnes.map((c) => (r.supplementaires || {})[c]), r.user_id, BANDES[bande(r)],
                   nombreFr(r.probabilite_echec), aRisque(r) ? "oui" : "non", nombreFr(r.seuil), enClair(r.configuration),
                   raisons[0], raisons[1], raisons[2], avertissementsDe(r).join(" ; "), r.request_id]
        .map(celluleCsv).join(";"));
    }
    telecharger("resultats-classe.csv", lignes.join("\r\n") + "\r\n");
  });

  // --- Un élève ----------------------------------------------------------------------------------------
  const formEleve = $("form-eleve");

  function effacerErreursEleve() {
    for (const champ of formEleve.elements) {
      if (!champ.name) continue;
      champ.removeAttribute("aria-invalid");
      const message = $("erreur-" + champ.name);
      if (message) { message.hidden = true; message.textContent = ""; }
    }
  }

  $("remplir-exemple").addEventListener("click", () => {
    for (const [nom, valeur] of Object.entries(DONNEES.exemple)) {
      const champ = formEleve.elements[nom];
      if (champ) champ.value = String(valeur);
    }
    effacerErreursEleve();
  });
  formEleve.addEventListener("reset", () => {
    effacerErreursEleve();
    $("resultat-eleve").hidden = true;
    etat("etat-eleve", "");
  });

  formEleve.addEventListener("submit", async (evenement) => {
    evenement.preventDefault();
    effacerErreursEleve();
    const corps = {};
    const manquants = [];
    for (const champ of formEleve.elements) {
      if (!champ.name) continue;
      if (champ.value === "") {
        if (champ.required) manquants.push(champ);
        continue;
      }
      corps[champ.name] = champ.type === "number" ? Number(champ.value) : champ.value;
    }
    if (manquants.length) {
      for (const champ of manquants) marquerErreur(champ.name, "champ obligatoire : choisissez une valeur");
      etat("etat-eleve", manquants.length + " champ(s) à remplir : " +
           manquants.map((c) => DONNEES.libelles[c.name] || c.name).join(", ") + ".", true);
      manquants[0].focus();
      return;
    }
    etat("etat-eleve", "Estimation en cours…");
    let reponse;
    try {
      reponse = await appeler("/predire", {method: "POST", headers: {"Content-Type": "application/json"},
                                           body: JSON.stringify(corps)});
    } catch (erreur) {
      for (const d of erreur.details || []) marquerErreur(d.champ, d.message);
      etat("etat-eleve", texteErreur(erreur), true);
      const premier = (erreur.details || []).map((d) => formEleve.elements[d.champ]).find(Boolean);
      if (premier) premier.focus();
      return;
    }
    etat("etat-eleve", "");
    afficherEleve(reponse);
  });

  function marquerErreur(nom, message) {
    const champ = formEleve.elements[nom];
    const zone = $("erreur-" + nom);
    if (!champ || !zone) return;
    champ.setAttribute("aria-invalid", "true");
    zone.textContent = message;
    zone.hidden = false;
  }

  function afficherEleve(reponse) {
    const r = reponse.resultats;
    const carte = $("resultat-eleve");
    carte.className = "carte" + (aRisque(r) ? " a-risque" : "");
    const facteurs = element("ol", {classe: "raisons"});
    for (const f of r.explication) facteurs.append(element("li", {texte: raison(f, true)}));
    const f = DONNEES.fiabilite[r.configuration];
    carte.replaceChildren(
      element("h3", {texte: "Résultat : " + texteDecision(r)}),
      element("p", {}, "Probabilité d'échec estimée : ", jauge(r.probabilite_echec, aRisque(r))),
      element("p", {texte: "Seuil de signalement : " + pourcentPrecis.format(r.seuil) + " ; estimation faite " +
                           enClair(r.configuration) + "."}),
      ...(f ? [element("p", {classe: "discret", texte: f.phrase})] : []),
      element("h4", {texte: "Pourquoi (facteurs principaux, du plus au moins important)"}),
      facteurs,
      ...avertissementsDe(r, reponse).map((a) => element("p", {classe: "discret", texte: "Remarque : " + a})),
      // forme : request_id et user_id dans « resultats » (contrat v2), ou à côté (v1)
      element("p", {classe: "discret", texte: "Référence : " + (r.request_id || reponse.request_id) +
                                              ((r.user_id || reponse.user_id) ? " — élève " + (r.user_id || reponse.user_id) : "")}),
    );
    carte.hidden = false;
    carte.focus();
  }

  // --- Historique (code d'accès gardé dans l'onglet seulement : sessionStorage) ---------------------------
  function jeton() { return sessionStorage.getItem(CLE_JETON); }

  function majJeton() {
    const present = Boolean(jeton());
    $("oublier-jeton").hidden = !present;
    etat("etat-jeton", present ? "Code d'accès retenu pour cet onglet." : "Aucun code d'accès retenu.");
  }

  $("form-jeton").addEventListener("submit", (evenement) => {
    evenement.preventDefault();
    const valeur = $("jeton").value.trim();
    if (!valeur) {
      etat("etat-jeton", "Saisissez le code d'accès.", true);
      return;
    }
    sessionStorage.setItem(CLE_JETON, valeur);
    $("jeton").value = "";
    majJeton();
  });
  $("oublier-jeton").addEventListener("click", () => {
    sessionStorage.removeItem(CLE_JETON);
    majJeton();
    $("jeton").focus();
  });
  majJeton();

  const historique = {user: null, suivant: null};

  function enTetesJeton() {
    if (csrf) return {};
    const valeur = jeton();
    if (!valeur) {
      const e = new Error("saisissez d'abord le code d'accès dans l'onglet Historique");
      e.statut = 0;
      throw e;
    }
    return {Authorization: "Bearer " + valeur};
  }

  function erreurHistorique(erreur) {
    const aide = {401: " Le code d'accès est absent ou refusé : vérifiez-le.",
                  403: " L'historique n'est pas activé sur ce serveur : voyez avec la personne qui l'administre."}[erreur.statut] || "";
    etat("etat-historique", texteErreur(erreur) + aide, true);
  }

  async function chargerHistorique(decalage, ajouter) {
    let corps;
    try {
      corps = await appeler("/historique", {method: "POST", headers: {...enTetesJeton(), "Content-Type": "application/json"},
                                            body: JSON.stringify({user_id: historique.user, limite: 50, decalage})});
    } catch (erreur) {
      erreurHistorique(erreur);
      return;
    }
    const tbody = $("corps-historique");
    if (!ajouter) tbody.replaceChildren();
    for (const p of corps.predictions) {
      tbody.append(element("tr", {},
        element("td", {texte: new Date(p.horodatage).toLocaleString("fr-FR")}),
        element("td", {}, jauge(p.probabilite_echec, p.prediction === 0)),
        element("td", {}, cellDecision(p)),
        element("td", {texte: enClair(p.configuration)}),
        element("td", {texte: p.model_version}),
        element("td", {classe: "code", texte: p.request_id})));
    }
    const total = corps.pagination.total;
    historique.suivant = corps.pagination.decalage_suivant;
    $("plus-historique").hidden = historique.suivant == null;
    $("table-historique").hidden = total === 0;
    $("table-historique").dataset.lignes = String(tbody.children.length);
    etat("etat-historique", total === 0 ? "Aucune estimation conservée pour l'élève " + corps.user_id + "."
                                        : total + " estimation(s) conservée(s) pour l'élève " + corps.user_id +
                                          " ; " + tbody.children.length + " affichée(s).");
  }

  function identifiantSaisi() {
    const valeur = $("user-id").value.trim();
    if (!valeur) {
      etat("etat-historique", "Saisissez l'identifiant pseudonyme de l'élève.", true);
      $("user-id").focus();
      return null;
    }
    return valeur;
  }

  $("form-historique").addEventListener("submit", (evenement) => {
    evenement.preventDefault();
    $("confirmation").hidden = true;
    const id = identifiantSaisi();
    if (!id) return;
    historique.user = id;
    chargerHistorique(0, false);
  });
  $("plus-historique").addEventListener("click", () => {
    if (historique.suivant != null) chargerHistorique(historique.suivant, true);
  });

  $("effacer").addEventListener("click", () => {
    const id = identifiantSaisi();
    if (!id) return;
    $("texte-confirmation").textContent = "Effacer définitivement toutes les estimations conservées de l'élève « " + id +
      " » (base des résultats et journal) ? Cette action ne peut pas être annulée.";
    $("confirmation").dataset.user = id;
    $("confirmation").hidden = false;
    $("annuler-effacement").focus();
  });
  $("annuler-effacement").addEventListener("click", () => {
    $("confirmation").hidden = true;
    etat("etat-historique", "Effacement annulé : rien n'a été supprimé.");
    $("effacer").focus();
  });
  $("confirmer-effacement").addEventListener("click", async () => {
    const id = $("confirmation").dataset.user;
    $("confirmation").hidden = true;
    let corps;
    try {
      corps = await appeler("/effacement", {method: "POST", headers: {...enTetesJeton(), "Content-Type": "application/json"},
                                            body: JSON.stringify({user_id: id})});
    } catch (erreur) {
      erreurHistorique(erreur);
      return;
    }
    $("corps-historique").replaceChildren();
    $("table-historique").hidden = true;
    $("plus-historique").hidden = true;
    etat("etat-historique", "Élève " + corps.user_id + " effacé : " + corps.supprimees + " estimation(s) supprimée(s) de la base" +
         (corps.lignes_journal_supprimees == null ? "." : ", " + corps.lignes_journal_supprimees + " ligne(s) du journal.") +
         (corps.avertissements ? " " + corps.avertissements.join(" ") : ""));
    $("effacer").focus();
  });
})();

// Page /classe : une classe (POST /predire/lot/partiel), un élève (POST /predire), l'historique
// (GET et DELETE /predictions/user/<id>, jeton en sessionStorage). Aucune dépendance, aucun
// innerHTML : tout texte venu du fichier ou de l'API est inséré avec textContent.
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
    const details = (erreur.details || []).slice(0, 10).map((d) => d.champ + " : " + d.message);
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
  function aRisque(resultat) { return resultat.prediction === 0; }

  function jauge(probabilite, risque) {
    const dessin = svg("svg", {viewBox: "0 0 100 10", preserveAspectRatio: "none", "aria-hidden": "true", focusable: "false"});
    dessin.append(svg("rect", {x: 0, y: 0, width: 100, height: 10, class: "jauge-piste"}));
    dessin.append(svg("rect", {x: 0, y: 0, width: (100 * probabilite).toFixed(1), height: 10,
                               class: risque ? "jauge-risque" : "jauge-sans-risque"}));
    return element("span", {classe: "jauge"}, dessin,
                   element("span", {classe: "nombre", texte: pourcent.format(probabilite)}));
  }

  function texteDecision(resultat) {
    return aRisque(resultat) ? "À risque" : "Pas de risque détecté";
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

  function raison(facteur) {
    const libelle = DONNEES.libelles[facteur.champ] || facteur.champ;
    const sens = facteur.effet.startsWith("augmente") ? "↑ augmente le risque" : "↓ diminue le risque";
    return libelle + " : " + valeurLisible(facteur.champ, facteur.valeur) + " — " + sens;
  }

  function listeRaisons(explication, nombre) {
    const liste = element("ul", {classe: "raisons"});
    for (const facteur of explication.slice(0, nombre)) liste.append(element("li", {texte: raison(facteur)}));
    if (!explication.length) liste.append(element("li", {texte: "aucun facteur ne se détache"}));
    return liste;
  }

  // --- Une classe ------------------------------------------------------------------------------------
  const classe = {resultats: [], colonnes: [], tri: {cle: "risque", sens: "descending"}, filtre: false};

  $("modele-csv").addEventListener("click", () => {
    telecharger("modele-classe.csv", ["nom", ...DONNEES.champs].join(";") + "\n");
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
    $("resultats-classe").hidden = true;
    $("rejets").hidden = true;
    let corps;
    try {
      corps = await appeler("/predire/lot/partiel", {method: "POST", headers: {"Content-Type": "text/csv"},
                                                     body: await fichier.arrayBuffer()});
    } catch (erreur) {
      etat("etat-classe", texteErreur(erreur), true);
      return;
    }
    classe.resultats = corps.resultats;
    classe.colonnes = corps.colonnes_supplementaires;
    classe.tri = {cle: "risque", sens: "descending"};
    afficherRejets(corps.rejets);
    afficherClasse();
    const duree = performance.now() - debut;
    $("resultats-classe").hidden = corps.resultats.length === 0;
    $("resultats-classe").dataset.dureeMs = duree.toFixed(0);
    etat("etat-classe", corps.nombre + " élève(s) analysé(s) sur " + corps.recus + " en " +
         decimal.format(duree / 1000) + " s" + (corps.rejets.length ? " ; " + corps.rejets.length +
         " ligne(s) non analysée(s), détaillée(s) ci-dessous." : "."));
  });

  function nomEleve(supplementaires) {
    const valeurs = Object.values(supplementaires || {}).filter((v) => v !== null && String(v).trim() !== "");
    return valeurs.length ? " (" + valeurs.slice(0, 2).join(", ") + ")" : "";
  }

  function afficherRejets(rejets) {
    const liste = $("liste-rejets");
    liste.replaceChildren();
    for (const rejet of rejets) {
      const problemes = rejet.problemes.map((p) =>
        (p.champ.startsWith("(") ? "" : "champ " + p.champ + " (" + (DONNEES.libelles[p.champ] || p.champ) + ") : ") +
        p.message);
      liste.append(element("li", {texte: "Ligne " + rejet.position + nomEleve(rejet.supplementaires) + " — " +
                                          problemes.join(" ; ")}));
    }
    $("rejets").hidden = rejets.length === 0;
  }

  const COLONNES_FIXES = [
    {cle: "position", titre: "Ligne", triable: true},
    {cle: "risque", titre: "Risque d'échec", triable: true},
    {cle: "decision", titre: "Décision"},
    {cle: "configuration", titre: "Configuration"},
    {cle: "raisons", titre: "Trois principales raisons"},
  ];

  function colonnesTable() {
    const supplementaires = classe.colonnes.map((c) => ({cle: "supp:" + c, titre: c, triable: true}));
    const avecId = classe.resultats.some((r) => r.user_id) ? [{cle: "user_id", titre: "Identifiant", triable: true}] : [];
    return [COLONNES_FIXES[0], ...supplementaires, ...avecId, ...COLONNES_FIXES.slice(1)];
  }

  function valeurTri(resultat, cle) {
    if (cle === "risque") return resultat.probabilite_echec;
    if (cle === "position") return resultat.position;
    if (cle === "user_id") return resultat.user_id || "";
    const v = resultat.supplementaires[cle.slice(5)];
    return v == null ? "" : String(v);
  }

  function trier(cle) {
    const sens = classe.tri.cle === cle
      ? (classe.tri.sens === "descending" ? "ascending" : "descending")
      : (cle === "risque" ? "descending" : "ascending");
    classe.tri = {cle, sens};
    afficherClasse();
    const bouton = document.querySelector('#entetes-classe [data-cle="' + cle + '"] button');
    if (bouton) bouton.focus();
  }

  function afficherClasse() {
    const colonnes = colonnesTable();
    const entetes = $("entetes-classe");
    entetes.replaceChildren();
    for (const colonne of colonnes) {
      const th = element("th", {scope: "col", "data-cle": colonne.cle});
      if (colonne.triable) {
        th.setAttribute("aria-sort", classe.tri.cle === colonne.cle ? classe.tri.sens : "none");
        const bouton = element("button", {type: "button", texte: colonne.titre});
        bouton.addEventListener("click", () => trier(colonne.cle));
        th.append(bouton);
      } else {
        th.textContent = colonne.titre;
      }
      entetes.append(th);
    }
    const {cle, sens} = classe.tri;
    const ordre = classe.resultats.slice().sort((a, b) => {
      const va = valeurTri(a, cle), vb = valeurTri(b, cle);
      const c = typeof va === "number" ? va - vb : va.localeCompare(vb, "fr", {numeric: true});
      return (sens === "ascending" ? c : -c) || a.position - b.position;
    });
    const fragment = document.createDocumentFragment();
    for (const r of ordre) {
      if (classe.filtre && !aRisque(r)) continue;
      const ligne = element("tr", {classe: aRisque(r) ? "a-risque" : "", "data-probabilite": String(r.probabilite_echec),
                                   "data-position": String(r.position)});
      for (const colonne of colonnes) {
        let contenu;
        if (colonne.cle === "position") contenu = String(r.position);
        else if (colonne.cle === "risque") contenu = jauge(r.probabilite_echec, aRisque(r));
        else if (colonne.cle === "decision") contenu = cellDecision(r);
        else if (colonne.cle === "configuration") {
          contenu = element("abbr", {title: DONNEES.configurations[r.configuration], texte: r.configuration});
        } else if (colonne.cle === "raisons") contenu = listeRaisons(r.explication, 3);
        else contenu = String(valeurTri(r, colonne.cle));
        ligne.append(colonne.cle === "position" ? element("th", {scope: "row"}, contenu) : element("td", {}, contenu));
      }
      fragment.append(ligne);
    }
    $("corps-classe").replaceChildren(fragment);
    const total = classe.resultats.length;
    const risque = classe.resultats.filter(aRisque).length;
    const affiches = classe.filtre ? risque : total;
    const resume = $("resume");
    resume.replaceChildren(element("strong", {texte: risque + " élève(s) à risque"}),
                           " sur " + total + " analysé(s)" + (total ? " (" + pourcent.format(risque / total) + ")" : "") +
                           (classe.filtre ? " — affichés : " + affiches : ""));
    $("table-classe").dataset.lignes = String(affiches);
    $("telecharger").textContent = "Télécharger les " + affiches + " ligne(s) affichée(s) (CSV)";
    dessinerHistogramme(classe.resultats);
    classe.ordre = ordre;
  }

  $("filtre-risque").addEventListener("change", (evenement) => {
    classe.filtre = evenement.target.checked;
    afficherClasse();
  });

  function dessinerHistogramme(resultats) {
    const tranches = Array.from({length: 10}, () => ({risque: 0, sans: 0}));
    for (const r of resultats) {
      const t = tranches[Math.min(9, Math.floor(r.probabilite_echec * 10))];
      if (aRisque(r)) t.risque += 1; else t.sans += 1;
    }
    const maximum = Math.max(1, ...tranches.map((t) => t.risque + t.sans));
    const L = 420, H = 200, G = 36, B = 28, largeur = (L - G - 24) / 10;
    const description = tranches.map((t, i) => (i * 10) + "–" + (i * 10 + 10) + " % : " + (t.risque + t.sans) +
                                     " élève(s) dont " + t.risque + " à risque").join(" ; ");
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
                                        t.risque + " à risque"}));
      if (t.sans) groupe.append(svg("rect", {x, y: y(t.sans), width: largeur - 4, height: H - B - y(t.sans), class: "histo-sans-risque"}));
      if (t.risque) {
        groupe.append(svg("rect", {x, y: y(t.sans + t.risque), width: largeur - 4, height: y(t.sans) - y(t.sans + t.risque),
                                   class: "histo-risque"}));
      }
      if (t.risque + t.sans) {  // l'effectif au-dessus de la barre : lisible même pour une petite tranche
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

  function celluleCsv(valeur) {
    let texte = valeur == null ? "" : String(valeur);
    if (/^[=+\-@\t\r]/.test(texte)) texte = "'" + texte;  // pas de formule exécutée par le tableur
    return /[";\n\r]/.test(texte) ? '"' + texte.replace(/"/g, '""') + '"' : texte;
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
    const entete = ["ligne", ...classe.colonnes, "user_id", "probabilite_echec", "decision", "seuil", "configuration",
                    "raison_1", "raison_2", "raison_3", "request_id"];
    const lignes = [entete.map(celluleCsv).join(";")];
    for (const r of classe.ordre || []) {
      if (classe.filtre && !aRisque(r)) continue;
      const raisons = r.explication.slice(0, 3).map(raison);
      lignes.push([r.position, ...classe.colonnes.map((c) => r.supplementaires[c]), r.user_id,
                   String(r.probabilite_echec.toFixed(4)).replace(".", ","), texteDecision(r),
                   String(r.seuil).replace(".", ","), r.configuration, raisons[0], raisons[1], raisons[2], r.request_id]
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
    for (const f of r.explication) facteurs.append(element("li", {texte: raison(f)}));
    carte.replaceChildren(
      element("h3", {texte: "Résultat : " + texteDecision(r)}),
      element("p", {}, "Probabilité d'échec : ", jauge(r.probabilite_echec, aRisque(r))),
      element("p", {texte: "Décision au seuil de " + pourcentPrecis.format(r.seuil) + " (configuration " + r.configuration +
                           " : " + DONNEES.configurations[r.configuration] + ")."}),
      element("h4", {texte: "Pourquoi (facteurs principaux, du plus au moins important)"}),
      facteurs,
      ...r.avertissements.map((a) => element("p", {classe: "discret", texte: "Remarque : " + a})),
      element("p", {classe: "discret", texte: "request_id : " + r.request_id +
                                              (r.user_id ? " — élève " + r.user_id : "")}),
    );
    carte.hidden = false;
    carte.focus();
  }

  // --- Historique (jeton dans sessionStorage seulement) -------------------------------------------------
  function jeton() { return sessionStorage.getItem(CLE_JETON); }

  function majJeton() {
    const present = Boolean(jeton());
    $("oublier-jeton").hidden = !present;
    etat("etat-jeton", present ? "Jeton retenu pour cette session (onglet courant)." : "Aucun jeton retenu.");
  }

  $("form-jeton").addEventListener("submit", (evenement) => {
    evenement.preventDefault();
    const valeur = $("jeton").value.trim();
    if (!valeur) {
      etat("etat-jeton", "Saisissez le jeton d'accès.", true);
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
      const e = new Error("saisissez d'abord le jeton d'accès ci-dessus");
      e.statut = 0;
      throw e;
    }
    return {Authorization: "Bearer " + valeur};
  }

  function erreurHistorique(erreur) {
    const aide = {401: " Le jeton est absent ou refusé : vérifiez-le.",
                  403: " L'historique est désactivé sur ce serveur (API_TOKEN non configuré)."}[erreur.statut] || "";
    etat("etat-historique", texteErreur(erreur) + aide, true);
  }

  async function chargerHistorique(url, ajouter) {
    let corps;
    try {
      corps = await appeler(url, {headers: enTetesJeton()});
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
        element("td", {texte: p.configuration}),
        element("td", {texte: p.model_version}),
        element("td", {classe: "code", texte: p.request_id})));
    }
    const total = corps.pagination.total;
    historique.suivant = corps.pagination.suivant;
    $("plus-historique").hidden = !historique.suivant;
    $("table-historique").hidden = total === 0;
    $("table-historique").dataset.lignes = String(tbody.children.length);
    etat("etat-historique", total === 0 ? "Aucune prédiction conservée pour l'élève " + corps.user_id + "."
                                        : total + " prédiction(s) conservée(s) pour l'élève " + corps.user_id +
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
    chargerHistorique("/predictions/user/" + encodeURIComponent(id), false);
  });
  $("plus-historique").addEventListener("click", () => {
    if (historique.suivant) chargerHistorique(historique.suivant, true);
  });

  $("effacer").addEventListener("click", () => {
    const id = identifiantSaisi();
    if (!id) return;
    $("texte-confirmation").textContent = "Effacer définitivement toutes les prédictions conservées de l'élève « " + id +
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
      corps = await appeler("/predictions/user/" + encodeURIComponent(id), {method: "DELETE", headers: enTetesJeton()});
    } catch (erreur) {
      erreurHistorique(erreur);
      return;
    }
    $("corps-historique").replaceChildren();
    $("table-historique").hidden = true;
    $("plus-historique").hidden = true;
    etat("etat-historique", "Élève " + corps.user_id + " effacé : " + corps.supprimees + " prédiction(s) supprimée(s) de la base" +
         (corps.lignes_journal_supprimees == null ? "." : ", " + corps.lignes_journal_supprimees + " ligne(s) du journal.") +
         (corps.avertissements ? " " + corps.avertissements.join(" ") : ""));
    $("effacer").focus();
  });
})();

// Formulaire « Essayer » de /docs (fichier servi par l'application : la politique CSP interdit le script en ligne).
const exemple = JSON.parse(document.getElementById("exemple").textContent);
const formulaire = document.getElementById("formulaire");
for (const [cle, valeur] of Object.entries(exemple)) {
  const champ = formulaire.elements[cle]; if (champ) champ.value = valeur;
}
document.getElementById("envoyer").addEventListener("click", async () => {
  const corps = {};
  for (const champ of formulaire.elements) {
    if (champ.value === "") continue;
    corps[champ.name] = champ.type === "number" ? Number(champ.value) : champ.value;
  }
  const sortie = document.getElementById("resultat");
  sortie.textContent = "…";
  try {
    const reponse = await fetch("/predire", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(corps)});
    const donnees = await reponse.json();
    if (!reponse.ok) {
      sortie.textContent = "Erreur : " + donnees.erreur + "\n" + (donnees.details || []).map(d => "- " + d.champ + " : " + d.message).join("\n");
      return;
    }
    const r = donnees.resultats;
    sortie.innerHTML = "";
    const titre = document.createElement("p");
    titre.className = r.prediction === 0 ? "echec" : "reussite";
    titre.textContent = `Prédiction : ${r.libelle} — probabilité d'échec ${(100 * r.probabilite_echec).toFixed(1)} % (configuration ${r.configuration}, seuil ${r.seuil.toFixed(3)})`;
    sortie.appendChild(titre);
    const liste = document.createElement("ul");
    for (const f of r.explication) { const li = document.createElement("li"); li.textContent = f.texte; liste.appendChild(li); }
    sortie.appendChild(liste);
  } catch (e) { sortie.textContent = "Erreur réseau : " + e; }
});

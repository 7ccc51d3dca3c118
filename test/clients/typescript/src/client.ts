// Client TypeScript de l'API, tel qu'un intégrateur l'écrirait : types générés depuis /openapi.json par
// openapi-typescript (options par défaut, fichier api.d.ts écrit par le test), appels par openapi-fetch,
// compilé par tsc en mode strict avec noUncheckedIndexedAccess. Aucune conversion de type (« as ») sur
// une réponse : si le contrat promet une clé que le serveur n'envoie pas, ou un type faux, la compilation
// ou l'exécution échoue. Lancé par test/test_clients_autres_langages.py contre un vrai gunicorn.
import { readFileSync } from "node:fs";
import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";

type DemandePrediction = components["schemas"]["DemandePrediction"];
type Resultat = components["schemas"]["Resultat"];

const url = process.env["URL_API"];
const jeton = process.env["JETON_API"];
const fichierEleve = process.env["ELEVE_JSON"];
if (!url || !jeton || !fichierEleve) throw new Error("URL_API, JETON_API et ELEVE_JSON sont requis");

const eleve: DemandePrediction = JSON.parse(readFileSync(fichierEleve, "utf-8"));
const client = createClient<paths>({ baseUrl: url });
const autorisation = { Authorization: `Bearer ${jeton}` };
const marque = Date.now().toString(36);
const userId = `ts-${marque}`;
const verifications: string[] = [];

function verifier(condition: boolean, quoi: string): void {
  if (!condition) throw new Error(`échec : ${quoi}`);
  verifications.push(quoi);
}

// Un résultat, une forme : /predire et chaque élément d'un lot ; les entiers sont des nombres.
function decrire(r: Resultat): string {
  const premier = r.explication[0];
  const facteur = premier === undefined ? "aucun facteur" : `${premier.champ}=${premier.valeur} (${premier.effet})`;
  return `${r.request_id} ${r.configuration} ${r.libelle} âge ${r.age + 0} G1 ${r.G1 ?? "absente"} ${facteur} ` +
    `${r.avertissements.length} avertissement(s) ${r.user_id ?? "sans user_id"}`;
}

async function principal(): Promise<void> {
  // 1. Prédire un élève.
  const predite = await client.POST("/predire", {
    body: { ...eleve, user_id: userId },
    params: { header: { "X-Request-ID": `ts-un-${marque}` } },
    headers: autorisation, // un identifiant choisi demande un appelant identifié
  });
  if (predite.error !== undefined) throw new Error(`predire : ${predite.error.erreur}`);
  const un = predite.data.resultats;
  verifier(un.request_id === `ts-un-${marque}` && predite.data.request_id === un.request_id, "predire : request_id");
  verifier(un.user_id === userId && un.avertissements.length === 0, "predire : user_id, avertissements vides");
  verifier(typeof un.age === "number" && un.explication.every((f) => typeof f.valeur === "string"),
           "predire : entiers en nombres, valeur de facteur en texte");
  console.log("predire :", decrire(un));

  // 2. Lot JSON : un élève complet, un sans notes (configuration C, avertissement).
  const { G1: _g1, G2: _g2, ...sansNotes } = eleve;
  const lot = await client.POST("/predire/lot", {
    body: [eleve, { ...sansNotes, user_id: userId }],
    params: { header: { "X-Request-ID": `ts-lot-${marque}` } },
    headers: autorisation, // un identifiant choisi demande un appelant identifié
  });
  if (lot.error !== undefined) throw new Error(`lot : ${lot.error.erreur}`);
  const second = lot.data.resultats[1];
  verifier(second !== undefined && second.configuration === "C" && second.avertissements.length > 0 &&
           second.G1 === null && second.request_id === `ts-lot-${marque}-2`, "lot JSON : élément 2 en configuration C");
  lot.data.resultats.forEach((r) => console.log("lot :", decrire(r)));

  // 3. Lot CSV : opération à part, corps et réponse en texte.
  const entete = Object.keys(eleve).join(";");
  const ligne = Object.values(eleve).map((v) => (v === null ? "" : String(v))).join(";");
  const csv = await client.POST("/predire/lot/csv", {
    body: `${entete}\n${ligne}\n${ligne}\n`,
    bodySerializer: (corps) => corps,
    headers: { "Content-Type": "text/csv", ...autorisation }, // identifiant choisi : appelant identifié
    params: { header: { "X-Request-ID": `ts-csv-${marque}` } },
    parseAs: "text",
  });
  if (csv.error !== undefined) throw new Error(`lot CSV : ${csv.error.erreur}`);
  const lignes = csv.data.trim().split("\n");
  verifier(lignes.length === 3 && (lignes[0] ?? "").endsWith(";request_id;explication") &&
           (lignes[2] ?? "").includes(`ts-csv-${marque}-2`), "lot CSV : deux lignes prédites");

  // 4. Relire une prédiction conservée.
  const relue = await client.GET("/predictions/{request_id}", {
    params: { path: { request_id: un.request_id } }, headers: autorisation,
  });
  if (relue.error !== undefined) throw new Error(`relire : ${relue.error.erreur}`);
  verifier(relue.data.prediction === un.prediction && relue.data.entrees.age === un.age &&
           relue.data.canal === "http", "relire : même prédiction, entrées en nombres");

  // 5. Historique (POST, user_id hors de l'URL ; limite et decalage facultatifs).
  const historique = await client.POST("/historique", { body: { user_id: userId }, headers: autorisation });
  if (historique.error !== undefined) throw new Error(`historique : ${historique.error.erreur}`);
  verifier(historique.data.pagination.total === 2 && historique.data.pagination.decalage_suivant === null &&
           historique.data.predictions.length === 2, "historique : les deux prédictions de l'élève");

  // 6. Une erreur 400 lue par élément : element (rang à partir de 1), champ, message.
  const refus = await client.POST("/predire/lot", { body: [eleve, eleve, { ...eleve, famrel: 9 }] });
  if (refus.error === undefined) throw new Error("le lot invalide a été accepté");
  const detail = refus.error.details[0];
  verifier(refus.response.status === 400 && detail !== undefined && detail.element === 3 &&
           detail.champ === "famrel", "400 : element 3, champ famrel");
  console.log("400 :", `élément ${detail?.element ?? "?"}, ${detail?.champ ?? "?"} : ${detail?.message ?? "?"}`);

  // 7. Effacer.
  const efface = await client.POST("/effacement", { body: { user_id: userId }, headers: autorisation });
  if (efface.error !== undefined) throw new Error(`effacement : ${efface.error.erreur}`);
  verifier(efface.data.supprimees === 2 && efface.data.avertissements.length === 0, "effacement : deux prédictions");
  const apres = await client.POST("/historique", { body: { user_id: userId, limite: 5 }, headers: autorisation });
  verifier(apres.data?.pagination.total === 0, "historique vide après l'effacement");

  console.log(`${verifications.length} vérifications passées : ${verifications.join(" ; ")}`);
}

principal().catch((erreur: unknown) => {
  console.error(erreur instanceof Error ? erreur.message : erreur);
  process.exit(1);
});

// Client gRPC Node construit par la seule réflexion du serveur (grpc.reflection.v1) : aucun .proto du dépôt,
// aucun talon. Les descripteurs du service viennent du serveur ; le protocole de réflexion vient du paquet
// @grpc/reflection (reflection.proto public), google.rpc.Status et BadRequest sont décrits ici (protos publics
// de googleapis). Lancé par test/test_clients_autres_langages.py contre un vrai serveur gRPC.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";

const adresse = process.env.ADRESSE_GRPC;
const eleve = JSON.parse(readFileSync(process.env.ELEVE_JSON, "utf-8"));
const SERVICE = "prediction_etudiante.v1.Prediction";
const verifications = [];

function verifier(condition, quoi) {
  if (!condition) throw new Error(`échec : ${quoi}`);
  verifications.push(quoi);
}

const cheminReflexion = fileURLToPath(new URL(
  "../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto", import.meta.url));
const reflexion = grpc.loadPackageDefinition(protoLoader.loadSync(cheminReflexion, { keepCase: true }));
const ClientReflexion = reflexion.grpc.reflection.v1.ServerReflection;

function demanderALaReflexion(requetes) {
  return new Promise((resoudre, rejeter) => {
    const client = new ClientReflexion(adresse, grpc.credentials.createInsecure());
    const appel = client.ServerReflectionInfo();
    const reponses = [];
    appel.on("data", (r) => reponses.push(r));
    appel.on("error", rejeter);
    appel.on("end", () => { client.close(); resoudre(reponses); });
    requetes.forEach((r) => appel.write(r));
    appel.end();
  });
}

// Un FileDescriptorSet (champ 1 répété) fait des FileDescriptorProto reçus, dépendances comprises.
function ensembleDeDescripteurs(fichiers) {
  const ecrivain = protobuf.Writer.create();
  for (const octets of fichiers) ecrivain.uint32((1 << 3) | 2).bytes(octets);
  return Buffer.from(ecrivain.finish());
}

const googleRpc = protobuf.Root.fromJSON({ nested: { google: { nested: {
  protobuf: { nested: { Any: { fields: { type_url: { type: "string", id: 1 }, value: { type: "bytes", id: 2 } } } } },
  rpc: { nested: {
    Status: { fields: { code: { type: "int32", id: 1 }, message: { type: "string", id: 2 },
                        details: { rule: "repeated", type: "google.protobuf.Any", id: 3 } } },
    BadRequest: { fields: { field_violations: { rule: "repeated", type: "FieldViolation", id: 1 } },
                  nested: { FieldViolation: { fields: { field: { type: "string", id: 1 },
                                                        description: { type: "string", id: 2 } } } } },
  } },
} } } });

function violations(erreur) {
  const octets = erreur.metadata.get("grpc-status-details-bin")[0];
  const statut = googleRpc.lookupType("google.rpc.Status").decode(octets);
  return statut.details.filter((d) => d.type_url.endsWith("google.rpc.BadRequest"))
    .flatMap((d) => googleRpc.lookupType("google.rpc.BadRequest").decode(d.value).field_violations);
}

function flux(client, messages, identifiant) {
  return new Promise((resoudre) => {
    const metadonnees = new grpc.Metadata();
    metadonnees.set("x-request-id", identifiant);
    const appel = client.PredireFlux(metadonnees);
    const recues = [];
    let erreur = null;
    appel.on("data", (r) => recues.push(r));
    appel.on("error", (e) => { erreur = e; });
    appel.on("status", (statut) => resoudre({ recues, erreur, fin: statut.metadata.get("x-request-id") }));
    messages.forEach((m) => appel.write(m));
    appel.end();
  });
}

async function principal() {
  const [liste, fichier] = await demanderALaReflexion([{ list_services: "" }, { file_containing_symbol: SERVICE }]);
  const services = liste.list_services_response.service.map((s) => s.name);
  verifier(services.includes(SERVICE) && services.includes("grpc.reflection.v1.ServerReflection"),
           "réflexion v1 : services listés");
  const definition = protoLoader.loadFileDescriptorSetFromBuffer(
    ensembleDeDescripteurs(fichier.file_descriptor_response.file_descriptor_proto),
    { keepCase: true, enums: String, defaults: true, oneofs: true });
  const Prediction = grpc.loadPackageDefinition(definition).prediction_etudiante.v1.Prediction;
  const client = new Prediction(adresse, grpc.credentials.createInsecure());
  const marque = Date.now().toString(36);

  const unaire = await new Promise((resoudre, rejeter) => {
    const metadonnees = new grpc.Metadata();
    metadonnees.set("x-request-id", `node-un-${marque}`);
    client.Predire({ ...eleve, user_id: `node-${marque}` }, metadonnees, (e, r) => (e ? rejeter(e) : resoudre(r)));
  });
  verifier(["CLASSE_PREDITE_ECHEC", "CLASSE_PREDITE_REUSSITE"].includes(unaire.prediction) &&
           unaire.configuration === "CONFIGURATION_A", "Predire : énumérations ClassePredite et Configuration");
  const premier = unaire.explication[0];
  verifier(["EFFET_AUGMENTE", "EFFET_DIMINUE"].includes(premier.effet) && typeof premier.valeur === "string",
           "Predire : effet en énumération, valeur en texte");
  console.log("Predire :", unaire.request_id, unaire.prediction, unaire.configuration, premier.champ, premier.valeur,
              premier.effet);

  const { G1, G2, ...sansNotes } = eleve;
  const bon = await flux(client, [eleve, sansNotes, eleve], `node-flux-${marque}`);
  verifier(bon.erreur === null && bon.recues.map((r) => r.request_id).join() ===
           [1, 2, 3].map((i) => `node-flux-${marque}-${i}`).join() && bon.recues[1].configuration === "CONFIGURATION_C",
           "PredireFlux : trois réponses dans l'ordre");
  verifier(bon.fin[0] === `node-flux-${marque}`, "PredireFlux : x-request-id dans les métadonnées de fin");

  const mauvais = await flux(client, [eleve, eleve, { ...eleve, famrel: 9 }], `node-refus-${marque}`);
  const violation = mauvais.erreur && violations(mauvais.erreur)[0];
  verifier(mauvais.erreur?.code === grpc.status.INVALID_ARGUMENT && mauvais.recues.length === 2 &&
           violation?.field === "eleves[3].famrel", "PredireFlux : violation eleves[3].famrel (BadRequest)");
  verifier(mauvais.fin[0] === `node-refus-${marque}`, "PredireFlux refusé : x-request-id dans les métadonnées de fin");
  console.log("violation :", violation.field, ":", violation.description);
  client.close();
  console.log(`${verifications.length} vérifications passées : ${verifications.join(" ; ")}`);
}

principal().catch((erreur) => {
  console.error(erreur?.message ?? erreur);
  process.exit(1);
});

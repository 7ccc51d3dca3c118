// Fournisseur OpenID Connect des tests (paquet certifié oidc-provider) : lancé par test/test_identite_oidc.py.
// Configuration lue dans le fichier JSON donné en argument : port, clé privée de signature (JWK), client inscrit.
// Connexion par les interactions de développement du paquet (identifiant = adresse, mot de passe quelconque) :
// le service ne voit jamais ce mot de passe, seulement le jeton d'identité signé.
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const reglages = JSON.parse(readFileSync(process.argv[2], "utf8"));
const emetteur = `http://127.0.0.1:${reglages.port}`;
const fournisseur = new Provider(emetteur, {
  clients: reglages.clients,
  jwks: { keys: [reglages.cle_privee] },
  cookies: { keys: [reglages.cle_cookies] },
  claims: { openid: ["sub"], email: ["email", "email_verified"] },
  conformIdTokenClaims: false, // l'adresse dans le jeton d'identité lui-même
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, email: id, email_verified: true }; } };
  },
});
fournisseur.listen(reglages.port, "127.0.0.1", () => console.log(`fournisseur prêt : ${emetteur}`));

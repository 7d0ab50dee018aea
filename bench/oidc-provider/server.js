// The reference server for bench/run: panva's oidc-provider (version pinned in package.json)
// with its default in-memory adapter, client credentials issuing JWT access tokens (RS256 or
// ES256, chosen by BENCH_ALG), introspection, refresh tokens, and a small login + consent
// interaction whose password check is argon2id at Tessera's parameters (m=19456 KiB, t=2, p=1)
// with @node-rs/argon2 (a Rust binding built on the `argon2-rust` crate; Tessera uses RustCrypto's
// `argon2`, which measured about 1.5x slower per hash here: see docs/BENCHMARKS.md).
//
// Environment: BENCH_PORT, BENCH_ALG (RS256|ES256), BENCH_CONFIG (path of a JSON file with
// { cc_secret, web_secret, username, password_hash, redirect_uri, audience }).
// Everything listens on 127.0.0.1 only.

import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

import * as argon2 from '@node-rs/argon2';
import Provider from 'oidc-provider';

const port = Number(process.env.BENCH_PORT || 3000);
const alg = process.env.BENCH_ALG || 'RS256';
const cfg = JSON.parse(readFileSync(process.env.BENCH_CONFIG, 'utf8'));
const issuer = `http://127.0.0.1:${port}`;

function jwk(type, options, kid, keyAlg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: keyAlg, use: 'sig' };
}
// The signing key for access tokens first; ID tokens use RS256 (the OIDC default) in both.
const rsa = jwk('rsa', { modulusLength: 2048 }, 'rs256-1', 'RS256');
const ec = jwk('ec', { namedCurve: 'P-256' }, 'es256-1', 'ES256');
const keys = alg === 'ES256' ? [ec, rsa] : [rsa, ec];

const account = {
  accountId: '5d3b1c1e-9a57-4f3e-8a43-bd7a3c8b7f10',
  username: cfg.username,
  claims: {
    name: 'Bench User',
    preferred_username: cfg.username,
    email: `${cfg.username}@example.com`,
    email_verified: true,
  },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'bench-cc',
      client_secret: cfg.cc_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'api:read',
    },
    {
      client_id: 'bench-web',
      client_secret: cfg.web_secret,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [cfg.redirect_uri],
      scope: 'openid profile email offline_access',
    },
  ],
  jwks: { keys },
  cookies: { keys: ['bench-cookie-key-not-secret-0123456789'] },
  scopes: ['openid', 'offline_access', 'api:read'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  async findAccount(ctx, sub) {
    if (sub !== account.accountId) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, ...account.claims };
      },
    };
  },
  // Rotate every refresh token, as Tessera does, so the refresh runs compare the same work.
  rotateRefreshToken: () => true,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Client-credentials requests without `resource` get the API (a JWT access token);
      // authorization-code tokens stay opaque (the userinfo audience), oidc-provider's native mode.
      async defaultResource(ctx, client, oneOf) {
        if (oneOf) return oneOf;
        if (ctx.oidc.params?.grant_type === 'client_credentials') return cfg.audience;
        return undefined;
      },
      async getResourceServerInfo(ctx, resourceIndicator) {
        if (resourceIndicator !== cfg.audience) throw new Error('unknown resource');
        return {
          scope: 'api:read',
          audience: cfg.audience,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg } },
        };
      },
    },
  },
  ttl: { AccessToken: 600, ClientCredentials: 600, IdToken: 600 },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

const page = (body) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head><body>${body}</body></html>`;

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16384) throw new Error('body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// The interaction pages: GET shows the login or the consent form; POST submits it.
provider.use(async (ctx, next) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm))?$/.exec(ctx.path);
  if (!m) return next();
  ctx.set('Cache-Control', 'no-store');
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { uid, prompt } = details;
  if (uid !== m[1]) ctx.throw(400, 'interaction mismatch');
  if (ctx.method === 'GET' && !m[2]) {
    ctx.type = 'html';
    if (prompt.name === 'login') {
      ctx.body = page(`<form method="post" action="/interaction/${uid}/login">
<input type="hidden" name="uid" value="${uid}">
<input name="username" autocomplete="username"><input type="password" name="password">
<button type="submit">Sign in</button></form>`);
    } else {
      ctx.body = page(`<form method="post" action="/interaction/${uid}/confirm">
<input type="hidden" name="uid" value="${uid}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button></form>`);
    }
    return undefined;
  }
  if (ctx.method !== 'POST') ctx.throw(405);
  const form = await readForm(ctx.req);
  let result;
  if (m[2] === 'login' && prompt.name === 'login') {
    const ok = form.get('username') === account.username
      && await argon2.verify(cfg.password_hash, form.get('password') || '');
    if (!ok) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = page('wrong username or password');
      return undefined;
    }
    result = { login: { accountId: account.accountId } };
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
    return undefined;
  }
  if (m[2] === 'confirm' && prompt.name === 'consent') {
    if (form.get('decision') !== 'allow') {
      result = { error: 'access_denied' };
    } else {
      const { params, session, grantId } = details;
      const grant = grantId
        ? await provider.Grant.find(grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      const d = prompt.details;
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      if (d.missingResourceScopes) {
        for (const [indicator, scope] of Object.entries(d.missingResourceScopes)) {
          grant.addResourceScope(indicator, scope.join(' '));
        }
      }
      result = { consent: { grantId: await grant.save() } };
    }
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(returnTo);
    return undefined;
  }
  ctx.throw(400, 'unexpected interaction step');
  return undefined;
});

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`oidc-provider listening on ${issuer} (access tokens ${alg})\n`);
});

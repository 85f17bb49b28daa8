// REST basics: login, /api/auth/me, auth errors, routing errors, body parsing limits (SPEC §4).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, assertError, withTimeout, DEMO_PASSWORD, WEB_DIR } from './lib.mjs';

let srv;
before(async () => {
  srv = await startServer({ config: { limits: { max_body: 2048 } } });
});
after(async () => {
  if (srv) await srv.stop();
});

/** A raw HTTP request (no fetch magic); resolves {status, headers, text}. Bounded. */
function raw(opts, writeBody) {
  return withTimeout(new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port: srv.port, ...opts }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
      res.on('error', reject);
    });
    r.on('error', reject);
    writeBody(r);
  }), 5000, `${opts.method} ${opts.path}`);
}

test('GET / serves the browser board of this checkout (its web/index.html)', async () => {
  // The test servers once served a fixed path of one machine: elsewhere every page was a 404.
  const r = await srv.req('GET', '/');
  assert.equal(r.status, 200, r.text.slice(0, 200));
  assert.match(r.headers.get('content-type'), /^text\/html/);
  assert.equal(r.text, readFileSync(join(WEB_DIR, 'index.html'), 'utf8'));
  assert.match(r.text, /id="login-form"/);
});

test('health answers ok without auth', async () => {
  const r = await srv.req('GET', '/api/health');
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'ok');
  assert.equal(r.body.db, 'ok');
  assert.equal(typeof r.body.version, 'string');
  assert.equal(typeof r.body.uptimeSeconds, 'number');
});

test('scheduler and viewer log in and get a bearer token pair with their user', async () => {
  for (const [name, role] of [['scheduler', 'scheduler'], ['viewer', 'viewer'], ['admin', 'admin']]) {
    const r = await srv.login(name);
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assert.equal(r.body.tokenType, 'Bearer');
    assert.equal(r.body.expiresIn, 900);
    assert.equal(typeof r.body.accessToken, 'string', r.text);
    assert.equal(r.body.accessToken.split('.').length, 3, 'access token is a JWT');
    assert.equal(r.body.user.username, name);
    assert.equal(r.body.user.role, role);
    assert.equal(r.body.user.password, undefined);
    const claims = JSON.parse(Buffer.from(r.body.accessToken.split('.')[1], 'base64url').toString());
    assert.equal(claims.sub, String(r.body.user.id), 'sub is the user id as a string');
    assert.equal(claims.role, role);
    for (const k of ['tid', 'iat', 'exp', 'jti']) assert.ok(claims[k] !== undefined, `claim ${k}`);
    srv.tokens[`demo/${name}`] = r.body.accessToken;
  }
});

test('bad password, unknown user and unknown tenant all answer the same 401', async () => {
  const bodies = [];
  for (const [t, u, p] of [['demo', 'scheduler', 'wrong-password-xyz'], ['demo', 'nobody', DEMO_PASSWORD],
    ['no-such-tenant', 'scheduler', DEMO_PASSWORD]]) {
    const r = await srv.login(u, p, t);
    assertError(r, 401, 'unauthorized');
    assert.equal(r.body.accessToken, undefined);
    bodies.push(r.text);
  }
  assert.equal(new Set(bodies).size, 1, `401 bodies differ: ${bodies.join(' | ')}`);
});

test('GET /api/auth/me returns the user and tenant', async () => {
  const r = await srv.req('GET', '/api/auth/me', { token: await srv.token('scheduler') });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.username, 'scheduler');
  assert.equal(r.body.role, 'scheduler');
  assert.equal(r.body.tenant.slug, 'demo');
  assert.equal(typeof r.body.tenant.id, 'number');
  assert.equal(typeof r.body.tenant.name, 'string');
  const v = await srv.req('GET', '/api/auth/me', { token: await srv.token('viewer') });
  assert.equal(v.status, 200, v.text);
  assert.equal(v.body.role, 'viewer');
});

test('a request without or with a bad token answers 401', async () => {
  for (const path of ['/api/auth/me', '/api/orders', '/api/planning-board', '/api/work-centres']) {
    assertError(await srv.req('GET', path), 401, 'unauthorized');
  }
  assertError(await srv.req('GET', '/api/auth/me', { token: 'not.a.jwt' }), 401, 'unauthorized');
  assertError(await srv.req('GET', '/api/auth/me', { headers: { authorization: 'Basic abc' } }), 401, 'unauthorized');
  // A valid token with a flipped signature character.
  const t = await srv.token('scheduler');
  const bad = t.slice(0, -2) + (t.at(-2) === 'A' ? 'B' : 'A') + t.at(-1);
  assertError(await srv.req('GET', '/api/auth/me', { token: bad }), 401, 'unauthorized');
});

test('an unknown route answers 404 not_found', async () => {
  const t = await srv.token('scheduler');
  assertError(await srv.req('GET', '/api/no-such-route', { token: t }), 404, 'not_found');
  assertError(await srv.req('GET', '/api/orders/999999', { token: t }), 404, 'not_found');
});

test('a JSON body with the wrong content type answers 415', async () => {
  const r = await srv.req('POST', '/api/auth/login', {
    body: JSON.stringify({ tenant: 'demo', username: 'scheduler', password: DEMO_PASSWORD }),
    headers: { 'content-type': 'text/plain' },
  });
  assertError(r, 415, 'unsupported_media_type');
  const t = await srv.token('scheduler');
  const r2 = await srv.req('PUT', '/api/orders/1/move', {
    token: t, body: '{"toWorkCentreId": 1}', headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  assertError(r2, 415, 'unsupported_media_type');
});

test('invalid JSON answers 400 invalid_json', async () => {
  const r = await srv.req('POST', '/api/auth/login', {
    body: '{"tenant": "demo", "username": ', headers: { 'content-type': 'application/json' },
  });
  assertError(r, 400, 'invalid_json');
  const t = await srv.token('scheduler');
  const r2 = await srv.req('POST', '/api/orders', {
    token: t, body: 'not json at all', headers: { 'content-type': 'application/json; charset=utf-8' },
  });
  assertError(r2, 400, 'invalid_json');
});

test('a chunked request body answers 411 instead of hanging', async () => {
  const r = await raw({
    method: 'POST', path: '/api/auth/login',
    headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
  }, (req) => {
    req.write('{"tenant":"demo",');
    req.end('"username":"scheduler","password":"x"}');
  });
  assert.equal(r.status, 411, r.text);
  // The server still answers afterwards.
  assert.equal((await srv.req('GET', '/api/health')).status, 200);
});

test('a body over [limits] max_body answers 413 payload_too_large', async () => {
  const t = await srv.token('scheduler');
  const big = { orderNumber: 'MO-BIG-1', stockCode: 'S', description: 'x'.repeat(4000), quantityToMake: 1 };
  const r = await srv.req('POST', '/api/orders', { token: t, json: big });
  assertError(r, 413, 'payload_too_large');
  // Nothing was created, and the server still answers.
  const list = await srv.req('GET', '/api/orders?q=MO-BIG-1', { token: t });
  assert.equal(list.status, 200, list.text);
  assert.equal(list.body.data.length, 0);
  // Just under the limit is accepted as a body (and then validated).
  const small = { orderNumber: 'MO-SMALL-1', stockCode: 'S', description: 'y'.repeat(400), quantityToMake: 1 };
  const ok = await srv.req('POST', '/api/orders', { token: t, json: small });
  assert.equal(ok.status, 201, ok.text);
});

test('a 8 KB garbage Authorization header gets 401, not a hang', async () => {
  const garbage = 'A'.repeat(8192);
  const r = await srv.req('GET', '/api/auth/me', { token: garbage, timeout: 5000 });
  assertError(r, 401, 'unauthorized');
  const r2 = await raw({ method: 'GET', path: '/api/orders', headers: { authorization: `Bearer ${'x.y.'.repeat(2048)}` } },
    (req) => req.end());
  assert.equal(r2.status, 401, r2.text);
  assert.equal((await srv.req('GET', '/api/health')).status, 200);
});

test('GET /api/orders: data, total/limit/offset, filters by status, priority, work centre and q', async () => {
  const t = await srv.token('viewer');
  const all = await srv.req('GET', '/api/orders?limit=500', { token: t });
  assert.equal(all.status, 200, all.text);
  assert.ok(all.body.total >= 15, all.text);
  assert.equal(all.body.limit, 500);
  assert.equal(all.body.offset, 0);
  const page = await srv.req('GET', '/api/orders?limit=2&offset=3', { token: t });
  assert.equal(page.status, 200, page.text);
  assert.equal(page.body.data.length, 2);
  assert.equal(page.body.limit, 2);
  assert.equal(page.body.offset, 3);
  assert.equal(page.body.total, all.body.total);
  const clamp = await srv.req('GET', '/api/orders?limit=100000', { token: t });
  assert.equal(clamp.body.limit, 500, 'limit clamped to 500');
  for (const [q, check] of [
    ['status=complete', (o) => o.status === 'complete'],
    ['priority=urgent', (o) => o.priority === 'urgent'],
    ['workCentreId=backlog', (o) => o.workCentreId === null],
  ]) {
    const r = await srv.req('GET', `/api/orders?${q}&limit=500`, { token: t });
    assert.equal(r.status, 200, `${q}: ${r.text}`);
    const expected = all.body.data.filter(check).map((o) => o.id).sort();
    assert.ok(expected.length > 0, `demo data has orders for ${q}`);
    assert.deepEqual(r.body.data.map((o) => o.id).sort(), expected, q);
  }
  const one = all.body.data.find((o) => o.workCentreId !== null);
  const byWc = await srv.req('GET', `/api/orders?workCentreId=${one.workCentreId}&limit=500`, { token: t });
  assert.deepEqual(byWc.body.data.map((o) => o.id).sort(), all.body.data.filter((o) => o.workCentreId === one.workCentreId).map((o) => o.id).sort());
  const q = await srv.req('GET', `/api/orders?q=${encodeURIComponent(one.orderNumber)}`, { token: t });
  assert.deepEqual(q.body.data.map((o) => o.id), [one.id]);
  const got = await srv.req('GET', `/api/orders/${one.id}`, { token: t });
  assert.equal(got.status, 200, got.text);
  assert.equal(got.body.orderNumber, one.orderNumber);
  assert.ok(Array.isArray(got.body.steps), 'GET /api/orders/:id includes steps');
  assertError(await srv.req('GET', '/api/orders?status=bogus', { token: t }), 400, 'validation_failed');
});

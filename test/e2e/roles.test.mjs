// SPEC §3, table-driven: every route × every role gets exactly the allowed / 403 answer, and
// every object route probed with another tenant's ids answers 404 (SPEC §3 last line; an id in a
// body: 400 naming the field, SPEC §4), with nothing of the other tenant in its lists or board.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, assertError, OTHER_PASSWORD } from './lib.mjs';

const A = 'admin', S = 'scheduler', V = 'viewer';
const ALL = [A, S, V];

// [method, path, roles allowed, body]. Ids that do not exist (999999) keep the allowed calls
// harmless: an allowed role gets past the role check to a 400/404, a forbidden one gets 403.
const NOPE = 999999;
const ROUTES = [
  ['GET', '/api/auth/me', ALL],
  ['GET', '/api/tenant', ALL],
  ['PUT', '/api/tenant', [A], { dailyTarget: -1 }],
  ['GET', '/api/users', [A]],
  ['POST', '/api/users', [A], {}],
  ['GET', `/api/users/${NOPE}`, [A]],
  ['PUT', `/api/users/${NOPE}`, [A], {}],
  ['DELETE', `/api/users/${NOPE}`, [A]],
  ['GET', '/api/work-centres', ALL],
  ['POST', '/api/work-centres', [A], {}],
  ['PUT', `/api/work-centres/${NOPE}`, [A], {}],
  ['DELETE', `/api/work-centres/${NOPE}`, [A]],
  ['PUT', '/api/work-centres/reorder', [A], { ids: [] }],
  ['GET', '/api/orders', ALL],
  ['POST', '/api/orders', [A, S], {}],
  ['GET', '/api/orders/export', ALL],
  ['GET', `/api/orders/${NOPE}`, ALL],
  ['PUT', `/api/orders/${NOPE}`, [A, S], { version: 1 }],
  ['DELETE', `/api/orders/${NOPE}`, [A]],
  ['POST', `/api/orders/${NOPE}/start-move`, [A, S]],
  ['PUT', `/api/orders/${NOPE}/move`, [A, S], { toWorkCentreId: null }],
  ['POST', `/api/orders/${NOPE}/end-move`, [A, S], {}],
  ['POST', '/api/orders/import?dryRun=true', [A, S], 'csv'],
  ['GET', '/api/planning-board', ALL],
  ['PUT', '/api/planning-board/move', [A, S], { orderId: NOPE, toWorkCentreId: null }],
  ['GET', '/api/planning-board/stats', ALL],
  ['GET', '/api/analytics/dashboard', ALL],
  ['GET', '/api/analytics/cycle-times', [A, S]],
  ['GET', '/api/analytics/routing', [A, S]],
  ['GET', '/api/audit-log', [A, S]],
  ['GET', '/api/api-keys', [A]],
  ['POST', '/api/api-keys', [A], {}],
  ['DELETE', `/api/api-keys/${NOPE}`, [A]],
];

let srv;
const tokens = {};
before(async () => {
  srv = await startServer();
  for (const u of ALL) tokens[u] = await srv.token(u);
});
after(async () => { await srv.stop(); });

function send(method, path, token, body) {
  if (body === 'csv') {
    return srv.req(method, path, { token, body: 'order_number,stock_code,description,quantity_to_make\n',
      headers: { 'content-type': 'text/csv' } });
  }
  return srv.req(method, path, { token, json: body });
}

test('every route answers each role exactly as SPEC §3 allows', async () => {
  const wrong = [];
  for (const [method, path, allowed, body] of ROUTES) {
    for (const role of ALL) {
      const r = await send(method, path, tokens[role], body);
      const ok = allowed.includes(role);
      if (ok && (r.status === 403 || r.status === 401 || r.status >= 500)) {
        wrong.push(`${role} ${method} ${path}: allowed, got ${r.status} ${r.text.slice(0, 120)}`);
      }
      if (!ok) {
        if (r.status !== 403 || r.body?.code !== 'forbidden') {
          wrong.push(`${role} ${method} ${path}: expected 403 forbidden, got ${r.status} ${r.text.slice(0, 120)}`);
        }
      }
    }
  }
  assert.deepEqual(wrong, []);
});

test('without a token every route but login, refresh, health and scanner events is 401', async () => {
  for (const [method, path, , body] of ROUTES) {
    const r = await send(method, path, undefined, body);
    assertError(r, 401, 'unauthorized');
  }
});

test("another tenant's ids answer 404 on every object route, and its lists show nothing of ours", async () => {
  await srv.createTenant('rival', 'boss', OTHER_PASSWORD, 'Rival Ltd');
  const rival = await srv.token('boss', OTHER_PASSWORD, 'rival');
  const demo = tokens[A];

  // Real ids of the demo tenant.
  const board = (await srv.board(demo)).body;
  const order = [...board.backlog, ...board.workCentres.flatMap((w) => w.orders)][0];
  const wc = board.workCentres[0];
  const users = (await srv.req('GET', '/api/users', { token: demo })).body.data;
  const key = await srv.req('POST', '/api/api-keys', { token: demo, json: { name: 'line 1' } });
  assert.equal(key.status, 201, key.text);

  const probes = [
    ['GET', `/api/orders/${order.id}`],
    ['PUT', `/api/orders/${order.id}`, { version: order.version, description: 'stolen' }],
    ['DELETE', `/api/orders/${order.id}`],
    ['POST', `/api/orders/${order.id}/start-move`],
    ['PUT', `/api/orders/${order.id}/move`, { toWorkCentreId: null }],
    ['POST', `/api/orders/${order.id}/end-move`, {}],
    ['PUT', `/api/work-centres/${wc.id}`, { name: 'stolen' }],
    ['DELETE', `/api/work-centres/${wc.id}`],
    ['GET', `/api/users/${users[0].id}`],
    ['PUT', `/api/users/${users[0].id}`, { firstName: 'stolen' }],
    ['DELETE', `/api/users/${users[0].id}`],
    ['DELETE', `/api/api-keys/${key.body.id}`],
  ];
  for (const [method, path, body] of probes) {
    const r = await srv.req(method, path, { token: rival, json: body });
    assert.equal(r.status, 404, `${method} ${path} as another tenant: ${r.status} ${r.text}`);
    assert.equal(r.body.code, 'not_found');
  }
  // SPEC §4: an id in a *body* that is not in the caller's tenant is a 400 naming the field
  const bm = await srv.req('PUT', '/api/planning-board/move', { token: rival, json: { orderId: order.id, toWorkCentreId: null } });
  assertError(bm, 400, 'validation_failed');
  assert.ok(bm.body.details.some((d) => d.field === 'orderId'), bm.text);

  // Nothing of the demo tenant leaks into the rival's lists and board.
  const orders = (await srv.req('GET', '/api/orders', { token: rival })).body;
  assert.equal(orders.total, 0);
  const rb = (await srv.board(rival)).body;
  assert.equal(rb.backlog.length + rb.workCentres.length, 0);
  const ru = (await srv.req('GET', '/api/users', { token: rival })).body;
  assert.deepEqual(ru.data.map((u) => u.username), ['boss']);
  const rk = (await srv.req('GET', '/api/api-keys', { token: rival })).body;
  assert.equal(rk.data.length, 0);
  const ra = (await srv.req('GET', '/api/audit-log', { token: rival })).body;
  assert.ok(ra.data.every((e) => e.orderId === null || e.orderId !== order.id));
  const exp = await srv.req('GET', '/api/orders/export', { token: rival });
  assert.equal(exp.text.trim().split('\n').length, 1, 'export of an empty tenant is the header only');

  // The demo objects are untouched.
  const again = await srv.req('GET', `/api/orders/${order.id}`, { token: demo });
  assert.equal(again.body.version, order.version);
  assert.equal(again.body.description, order.description);
});

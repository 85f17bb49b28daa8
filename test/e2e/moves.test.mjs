// Move rules (SPEC §4 Orders, PUT /api/orders/:id/move): preconditions, validation, positions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, assertError, boardColumns, boardOrders } from './lib.mjs';

let srv, t, wc;
before(async () => {
  srv = await startServer();
  t = await srv.token('scheduler');
  wc = await srv.workCentres(t);
});
after(async () => {
  if (srv) await srv.stop();
});

async function board() {
  const b = await srv.board(t);
  assert.equal(b.status, 200, b.text);
  return { body: b.body, cols: boardColumns(b.body), orders: boardOrders(b.body) };
}

/** An order currently in a work centre (not the backlog). */
function someOrderIn(b, code) {
  const w = b.body.workCentres.find((x) => x.code === code);
  return w.orders[0];
}

const move = (id, body, token = t) => srv.req('PUT', `/api/orders/${id}/move`, { token, json: body });

test('a stale version answers 409 conflict and changes nothing', async () => {
  const b = await board();
  const o = someOrderIn(b, 'CUT');
  assertError(await move(o.id, { toWorkCentreId: wc.byCode.ASM, version: o.version - 1 }), 409, 'conflict');
  assertError(await move(o.id, { toWorkCentreId: wc.byCode.ASM, version: o.version + 5 }), 409, 'conflict');
  const b2 = await board();
  assert.deepEqual(b2.cols, b.cols);
  assert.equal(b2.orders.get(o.id).version, o.version);
});

test('a stale fromWorkCentreId answers 409 conflict (other column, unknown id, null for a placed order)', async () => {
  const b = await board();
  const o = someOrderIn(b, 'CUT');
  assertError(await move(o.id, { toWorkCentreId: wc.byCode.ASM, fromWorkCentreId: wc.byCode.QC }), 409, 'conflict');
  assertError(await move(o.id, { toWorkCentreId: wc.byCode.ASM, fromWorkCentreId: 987654 }), 409, 'conflict');
  assertError(await move(o.id, { toWorkCentreId: wc.byCode.ASM, fromWorkCentreId: null }), 409, 'conflict');
  assert.deepEqual((await board()).cols, b.cols);
  // The right preconditions succeed.
  const r = await move(o.id, { toWorkCentreId: wc.byCode.ASM, fromWorkCentreId: wc.byCode.CUT, version: o.version });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.workCentreId, wc.byCode.ASM);
  // fromWorkCentreId: null asserts the backlog.
  const bl = (await board()).body.backlog[0];
  assert.ok(bl, 'demo has a backlog order');
  const r2 = await move(bl.id, { toWorkCentreId: wc.byCode.QC, fromWorkCentreId: null, position: 0 });
  assert.equal(r2.status, 200, r2.text);
  assert.equal(r2.body.position, 0);
});

test('an unknown toWorkCentreId answers 400 validation_failed naming the field', async () => {
  const b = await board();
  const o = someOrderIn(b, 'CUT');
  const r = await move(o.id, { toWorkCentreId: 987654 });
  assertError(r, 400, 'validation_failed');
  assert.ok(Array.isArray(r.body.details), r.text);
  assert.ok(r.body.details.some((d) => d.field === 'toWorkCentreId'), r.text);
  const r2 = await srv.req('PUT', '/api/planning-board/move', { token: t, json: { orderId: o.id, toWorkCentreId: 987654 } });
  assertError(r2, 400, 'validation_failed');
  assert.deepEqual((await board()).cols, b.cols);
});

test('a negative position answers 400 validation_failed', async () => {
  const b = await board();
  const o = someOrderIn(b, 'CUT');
  const r = await move(o.id, { toWorkCentreId: wc.byCode.ASM, position: -1 });
  assertError(r, 400, 'validation_failed');
  assert.ok(r.body.details.some((d) => d.field === 'position'), r.text);
  assert.deepEqual((await board()).cols, b.cols);
});

test('a position past the end puts the order at the end of the column; no position too', async () => {
  const b = await board();
  const o = someOrderIn(b, 'CUT');
  const target = wc.byCode.PACK;
  const before = b.cols[target].length;
  const r = await move(o.id, { toWorkCentreId: target, position: 1000 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.position, before);
  const b2 = await board();
  assert.equal(b2.cols[target].at(-1), o.id);
  assert.equal(b2.cols[target].length, before + 1);
  const o2 = someOrderIn(b2, 'CUT') || someOrderIn(b2, 'ASM');
  const r2 = await move(o2.id, { toWorkCentreId: target });
  assert.equal(r2.status, 200, r2.text);
  assert.equal(r2.body.position, before + 1);
  assert.equal((await board()).cols[target].at(-1), o2.id);
});

test('moving inside a column and into the backlog keeps every column dense', async () => {
  const b = await board();
  const col = b.body.workCentres.find((w) => w.orders.length >= 2);
  const last = col.orders.at(-1);
  const r = await move(last.id, { toWorkCentreId: col.id, position: 0 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.position, 0);
  const b2 = await board();
  assert.deepEqual(b2.cols[col.id], [last.id, ...b.cols[col.id].filter((x) => x !== last.id)]);
  const r2 = await move(last.id, { toWorkCentreId: null, position: 0 });
  assert.equal(r2.status, 200, r2.text);
  assert.equal(r2.body.workCentreId, null);
  const b3 = await board();
  assert.equal(b3.cols.backlog[0], last.id);
  // Another order's shift does not change its version (SPEC: version counts the order's own changes).
  const shifted = b.cols[col.id][0];
  if (shifted !== last.id) assert.equal(b3.orders.get(shifted).version, b.orders.get(shifted).version);
});

test('a move of an unknown order answers 404; over WebSocket not_found; WS errors use the REST codes', async () => {
  assertError(await move(999999, { toWorkCentreId: wc.byCode.CUT }), 404, 'not_found');
  const c = await srv.ws(t);
  const b = await board();
  const o = someOrderIn(b, 'QC') || someOrderIn(b, 'CUT');
  const e1 = await c.request('move_order', { orderId: 999999, toWorkCentreId: wc.byCode.CUT, position: 0 });
  assert.equal(e1.event, 'error');
  assert.equal(e1.data.code, 'not_found');
  const e2 = await c.request('move_order', { orderId: o.id, toWorkCentreId: wc.byCode.CUT, position: 0, version: o.version + 9 });
  assert.equal(e2.event, 'error');
  assert.equal(e2.data.code, 'conflict');
  const e3 = await c.request('move_order', { orderId: o.id, toWorkCentreId: 987654, position: 0 });
  assert.equal(e3.event, 'error');
  assert.equal(e3.data.code, 'validation_failed');
  const e4 = await c.request('move_order', { orderId: o.id, toWorkCentreId: wc.byCode.CUT, position: -3 });
  assert.equal(e4.event, 'error');
  assert.equal(e4.data.code, 'validation_failed');
  for (const e of [e1, e2, e3, e4]) assert.equal(typeof e.data.error, 'string');
  const e5 = await c.request('start_drag', { orderId: 999999 });
  assert.equal(e5.event, 'error');
  assert.equal(e5.data.code, 'not_found');
  assert.deepEqual((await board()).cols, b.cols);
  assert.equal(c.events('order_moved').length, 0);
  await c.close();
});

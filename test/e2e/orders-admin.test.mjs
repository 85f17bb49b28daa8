// Order writes, work-centre writes, CSV export and the audit log (SPEC §3, §4, §5, §6):
// roles, tenant isolation, broadcasts with seq, one audit row per mutation, export -> import
// round trip. Choices where SPEC is silent: docs/api-notes.md.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, assertError, boardColumns, boardOrders, utcDay, OTHER_PASSWORD } from './lib.mjs';

let srv, tok = {}, wc, ws;
before(async () => {
  srv = await startServer();
  await srv.createTenant('other', 'boss', OTHER_PASSWORD, 'Other Works');
  for (const u of ['admin', 'scheduler', 'viewer']) tok[u] = await srv.token(u);
  tok.other = await srv.token('boss', OTHER_PASSWORD, 'other');
  wc = await srv.workCentres(tok.admin);
  ws = await srv.ws(tok.viewer);      // a joined viewer sees every broadcast
});
after(async () => {
  if (srv) await srv.stop();
});

const json = (method, path, body, token = tok.admin) => srv.req(method, path, { token, json: body });
const get = (path, token = tok.admin) => srv.req('GET', path, { token });

async function board() {
  const b = await srv.board(tok.admin);
  assert.equal(b.status, 200, b.text);
  return { body: b.body, cols: boardColumns(b.body), orders: boardOrders(b.body) };
}

async function auditTotal(q = '') {
  const r = await get(`/api/audit-log?limit=1${q}`);
  assert.equal(r.status, 200, r.text);
  return r.body.total;
}

/** Run fn (a mutation) and assert it wrote exactly one audit row of type `type`; returns fn's result. */
async function oneAudit(type, fn) {
  const all0 = await auditTotal(), t0 = await auditTotal(`&eventType=${type}`);
  const r = await fn();
  assert.equal(await auditTotal(), all0 + 1, `exactly one audit row for ${type}`);
  assert.equal(await auditTotal(`&eventType=${type}`), t0 + 1, `the row is a ${type}`);
  return r;
}

/** The next broadcast `event` received by the joined viewer after index `from`; asserts seq. */
async function nextEvent(event, from, pred = () => true) {
  const m = await ws.waitFor((x) => x.event === event && pred(x), { from, what: event });
  assert.equal(typeof m.seq, 'number', `${event} carries seq`);
  assert.ok(m.seq > 0);
  return m;
}

async function newOrder(number, extra = {}) {
  const r = await json('POST', '/api/orders', {
    orderNumber: number, stockCode: 'STK-9', description: 'Test part', quantityToMake: 10, ...extra,
  }, tok.scheduler);
  assert.equal(r.status, 201, r.text);
  return r.body;
}

// ---------------------------------------------------------------- roles

test('viewers get 403 on every write and on the audit log; schedulers on work centres and order delete', async () => {
  const b = await board();
  const o = b.body.workCentres[0].orders[0];
  const someWc = wc.list[0].id;
  const writes = [
    ['POST', '/api/work-centres', { code: 'X1', name: 'X' }],
    ['PUT', `/api/work-centres/${someWc}`, { name: 'X' }],
    ['DELETE', `/api/work-centres/${someWc}`],
    ['PUT', '/api/work-centres/reorder', { ids: wc.list.map((w) => w.id) }],
    ['PUT', `/api/orders/${o.id}`, { version: o.version, priority: 'low' }],
    ['DELETE', `/api/orders/${o.id}`],
  ];
  for (const [m, p, body] of writes) assertError(await json(m, p, body, tok.viewer), 403, 'forbidden');
  assertError(await get('/api/audit-log', tok.viewer), 403, 'forbidden');
  for (const [m, p, body] of writes.slice(0, 4)) assertError(await json(m, p, body, tok.scheduler), 403, 'forbidden');
  assertError(await json('DELETE', `/api/orders/${o.id}`, undefined, tok.scheduler), 403, 'forbidden');
  // unauthenticated
  assert.equal((await srv.req('GET', '/api/orders/export')).status, 401);
  // nothing changed
  const b2 = await board();
  assert.deepEqual(b2.cols, b.cols);
  assert.equal(b2.orders.get(o.id).version, o.version);
  assert.equal((await srv.workCentres(tok.admin)).list.length, wc.list.length);
  // reads are open to the roles SPEC §3 names
  assert.equal((await get('/api/orders/export', tok.viewer)).status, 200);
  assert.equal((await get('/api/audit-log', tok.scheduler)).status, 200);
});

// ---------------------------------------------------------------- work centres

test('work centres: create, update, reorder, delete, each broadcast with seq and audited once', async () => {
  let from = ws.messages.length;
  const created = await oneAudit('work_centre_created', () => json('POST', '/api/work-centres',
    { code: 'PAINT', name: 'Painting', description: 'Spray booth', capacity: 2 }));
  assert.equal(created.status, 201, created.text);
  const w = created.body;
  assert.deepEqual(Object.keys(w).sort(), ['capacity', 'code', 'defaultOperationMinutes', 'description', 'displayOrder', 'id',
    'isActive', 'name', 'wipLimit', 'wipPolicy']);
  assert.equal(w.defaultOperationMinutes, 60);   // SPEC §2 defaults
  assert.equal(w.wipLimit, null);
  assert.equal(w.wipPolicy, 'soft');
  assert.equal(w.code, 'PAINT');
  assert.equal(w.isActive, true);
  assert.ok(w.displayOrder > Math.max(...wc.list.map((x) => x.displayOrder)), 'joins at the end');
  let ev = await nextEvent('work_centre_updated', from);
  assert.deepEqual(ev.data.workCentres.map((x) => x.id), [...wc.list.map((x) => x.id), w.id]);

  // validation and uniqueness
  const bad = await json('POST', '/api/work-centres', { code: '', name: 'N', capacity: 0 });
  assertError(bad, 400, 'validation_failed');
  assert.ok(bad.body.details.some((d) => d.field === 'code'), bad.text);
  assert.ok(bad.body.details.some((d) => d.field === 'capacity'), bad.text);
  assertError(await json('POST', '/api/work-centres', { code: 'X'.repeat(21), name: 'N' }), 400, 'validation_failed');
  assertError(await json('POST', '/api/work-centres', { code: 'PAINT', name: 'Again' }), 409, 'conflict');
  assertError(await json('POST', '/api/work-centres', 'not an object'), 400, 'validation_failed');

  // partial update
  from = ws.messages.length;
  const up = await oneAudit('work_centre_updated', () => json('PUT', `/api/work-centres/${w.id}`, { name: 'Paint shop', capacity: 4 }));
  assert.equal(up.status, 200, up.text);
  assert.equal(up.body.name, 'Paint shop');
  assert.equal(up.body.capacity, 4);
  assert.equal(up.body.code, 'PAINT');
  assert.equal(up.body.description, 'Spray booth');
  ev = await nextEvent('work_centre_updated', from);
  assert.equal(ev.data.workCentres.find((x) => x.id === w.id).name, 'Paint shop');
  assertError(await json('PUT', `/api/work-centres/${w.id}`, { code: 'CUT' }), 409, 'conflict');
  assertError(await json('PUT', '/api/work-centres/987654', { name: 'x' }), 404, 'not_found');

  // reorder: must name every active centre exactly once
  const ids = [w.id, ...wc.list.map((x) => x.id).reverse()];
  for (const body of [{ ids: ids.slice(1) }, { ids: [...ids, ids[0]] }, { ids: [...ids, 987654] }, { ids: 'x' }, {}]) {
    const r = await json('PUT', '/api/work-centres/reorder', body);
    assertError(r, 400, 'validation_failed');
    assert.ok(r.body.details.some((d) => d.field === 'ids'), r.text);
  }
  from = ws.messages.length;
  const ro = await oneAudit('work_centres_reordered', () => json('PUT', '/api/work-centres/reorder', { ids }));
  assert.equal(ro.status, 200, ro.text);
  assert.deepEqual(ro.body.data.map((x) => x.id), ids);
  ev = await nextEvent('work_centre_updated', from);
  assert.deepEqual(ev.data.workCentres.map((x) => x.id), ids);
  assert.deepEqual((await srv.workCentres(tok.viewer)).list.map((x) => x.id), ids);
  assert.deepEqual((await board()).body.workCentres.map((x) => x.id), ids);

  // delete: 409 while an order sits in it, 204 once empty
  const o = await newOrder('WC-DEL-1', { workCentreId: w.id });
  assertError(await json('DELETE', `/api/work-centres/${w.id}`), 409, 'conflict');
  assert.equal((await json('PUT', `/api/orders/${o.id}/move`, { toWorkCentreId: null }, tok.scheduler)).status, 200);
  from = ws.messages.length;
  const del = await oneAudit('work_centre_deleted', () => json('DELETE', `/api/work-centres/${w.id}`));
  assert.equal(del.status, 204, del.text);
  ev = await nextEvent('work_centre_updated', from);
  assert.ok(!ev.data.workCentres.some((x) => x.id === w.id));
  assert.ok(!(await srv.workCentres(tok.admin)).list.some((x) => x.id === w.id));
  assertError(await json('DELETE', `/api/work-centres/${w.id}`), 404, 'not_found');
  // a deleted centre's code can be used again; put the original order back
  const again = await json('POST', '/api/work-centres', { code: 'PAINT', name: 'Paint 2', isActive: false });
  assert.equal(again.status, 201, again.text);
  assert.equal(again.body.isActive, false);
  // now the inactive one need not be named
  const r = await json('PUT', '/api/work-centres/reorder', { ids: wc.list.map((x) => x.id) });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.data.map((x) => x.id), [...wc.list.map((x) => x.id), again.body.id]);
  assert.equal((await json('DELETE', `/api/work-centres/${again.body.id}`)).status, 204);
});

// ---------------------------------------------------------------- order update

test('PUT /api/orders/:id needs version, answers 409 when stale, updates fields with version +1', async () => {
  const o = await newOrder('UPD-1', { workCentreId: wc.byCode.CUT });
  const noVersion = await json('PUT', `/api/orders/${o.id}`, { priority: 'high' }, tok.scheduler);
  assertError(noVersion, 400, 'validation_failed');
  assert.ok(noVersion.body.details.some((d) => d.field === 'version'), noVersion.text);
  assertError(await json('PUT', `/api/orders/${o.id}`, { version: o.version + 3, priority: 'high' }, tok.scheduler), 409, 'conflict');
  const inv = await json('PUT', `/api/orders/${o.id}`, { version: o.version, quantityToMake: 0, dueDate: '2026-02-30', status: 'done' }, tok.scheduler);
  assertError(inv, 400, 'validation_failed');
  for (const f of ['quantityToMake', 'dueDate', 'status']) assert.ok(inv.body.details.some((d) => d.field === f), inv.text);
  assertError(await json('PUT', `/api/orders/${o.id}`, { version: o.version, stockCode: null }, tok.scheduler), 400, 'validation_failed');
  assertError(await json('PUT', '/api/orders/987654', { version: 1 }, tok.scheduler), 404, 'not_found');

  const from = ws.messages.length;
  const r = await oneAudit('order_updated', () => json('PUT', `/api/orders/${o.id}`, {
    version: o.version, priority: 'urgent', description: 'Changed, "quoted"', dueDate: '2026-12-24',
    currentOperation: 'Weld', quantityCompleted: 3,
  }, tok.scheduler));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.version, o.version + 1);
  assert.equal(r.body.priority, 'urgent');
  assert.equal(r.body.description, 'Changed, "quoted"');
  assert.equal(r.body.dueDate, '2026-12-24');
  assert.equal(r.body.currentOperation, 'Weld');
  assert.equal(r.body.quantityCompleted, 3);
  assert.equal(r.body.stockCode, 'STK-9');
  assert.equal(r.body.workCentreId, wc.byCode.CUT);
  assert.ok(Array.isArray(r.body.steps), 'answer carries steps');
  const ev = await nextEvent('order_updated', from, (m) => m.data.order.id === o.id);
  assert.equal(ev.data.order.version, o.version + 1);
  assert.equal(ev.data.order.priority, 'urgent');
  // the audit row names the change and the quantity delta
  const a = await get(`/api/audit-log?orderId=${o.id}&eventType=order_updated`);
  assert.equal(a.body.data[0].eventData.quantityCompletedDelta, 3);
  assert.ok(a.body.data[0].eventData.fields.includes('priority'));

  // null clears; an unchanged body changes nothing (no version, no audit row)
  const c = await json('PUT', `/api/orders/${o.id}`, { version: r.body.version, dueDate: null, currentOperation: null }, tok.scheduler);
  assert.equal(c.status, 200, c.text);
  assert.equal(c.body.dueDate, null);
  assert.equal(c.body.currentOperation, null);
  const n0 = await auditTotal();
  const same = await json('PUT', `/api/orders/${o.id}`, { ...c.body, version: c.body.version }, tok.scheduler);
  assert.equal(same.status, 200, same.text);
  assert.equal(same.body.version, c.body.version);
  assert.equal(await auditTotal(), n0);

  // orderNumber unique among live orders
  await newOrder('UPD-2');
  assertError(await json('PUT', `/api/orders/${o.id}`, { version: c.body.version, orderNumber: 'UPD-2' }, tok.scheduler), 409, 'conflict');
  const ren = await json('PUT', `/api/orders/${o.id}`, { version: c.body.version, orderNumber: 'UPD-1b' }, tok.admin);
  assert.equal(ren.status, 200, ren.text);
  assert.equal(ren.body.orderNumber, 'UPD-1b');
  assert.equal((await get(`/api/orders/${o.id}`, tok.viewer)).body.orderNumber, 'UPD-1b');
});

test('status in_progress sets an empty startDate to today; complete sets completionDate', async () => {
  const o = await newOrder('STAT-1');
  const before = utcDay();
  const s1 = await oneAudit('order_updated', () => json('PUT', `/api/orders/${o.id}`, { version: o.version, status: 'in_progress' }, tok.scheduler));
  assert.equal(s1.status, 200, s1.text);
  assert.ok([before, utcDay()].includes(s1.body.startDate), s1.text);   // demo tenant: UTC
  const s2 = await json('PUT', `/api/orders/${o.id}`, { version: s1.body.version, status: 'complete' }, tok.scheduler);
  assert.equal(s2.status, 200, s2.text);
  assert.ok([before, utcDay()].includes(s2.body.completionDate), s2.text);
  assert.equal(s2.body.startDate, s1.body.startDate);
  const a = await get(`/api/audit-log?orderId=${o.id}&eventType=order_updated&limit=1`);
  assert.equal(a.body.data[0].eventData.statusFrom, 'in_progress');
  assert.equal(a.body.data[0].eventData.statusTo, 'complete');
  // an explicit startDate is kept
  const p = await newOrder('STAT-2');
  const s3 = await json('PUT', `/api/orders/${p.id}`, { version: p.version, status: 'in_progress', startDate: '2026-01-05' }, tok.scheduler);
  assert.equal(s3.body.startDate, '2026-01-05');
});

test('a workCentreId / position change is a move: order_moved, dense columns, locks respected', async () => {
  const o = await newOrder('MV-1', { workCentreId: wc.byCode.CUT });
  // move only: exactly like PUT /move (one order_moved audit row, version +1)
  let from = ws.messages.length;
  const m = await oneAudit('order_moved', () => json('PUT', `/api/orders/${o.id}`, { version: o.version, workCentreId: wc.byCode.ASM, position: 0 }, tok.scheduler));
  assert.equal(m.status, 200, m.text);
  assert.equal(m.body.workCentreId, wc.byCode.ASM);
  assert.equal(m.body.position, 0);
  assert.equal(m.body.version, o.version + 1);
  const ev = await nextEvent('order_moved', from, (x) => x.data.order.id === o.id);
  assert.equal(ev.data.fromWorkCentreId, wc.byCode.CUT);
  assert.equal(ev.data.toWorkCentreId, wc.byCode.ASM);
  boardColumns((await board()).body);

  // fields and a move together: one change (one transaction with an order_updated and an
  // order_moved audit row, version +1, one order_moved event carrying the updated order)
  from = ws.messages.length;
  const n0 = await auditTotal();
  const both = await json('PUT', `/api/orders/${o.id}`, { version: m.body.version, priority: 'high', workCentreId: null }, tok.scheduler);
  assert.equal(both.status, 200, both.text);
  assert.equal(both.body.priority, 'high');
  assert.equal(both.body.workCentreId, null);
  assert.equal(both.body.version, m.body.version + 1);
  assert.equal(await auditTotal(), n0 + 2);
  const mv = await nextEvent('order_moved', from, (x) => x.data.order.id === o.id);
  assert.equal(mv.data.order.priority, 'high');
  assert.equal(mv.data.order.version, both.body.version);
  assert.ok(!ws.messages.slice(from).some((x) => x.event === 'order_updated' && x.data.order.id === o.id),
    'no separate order_updated');
  const b = await board();
  assert.equal(b.body.backlog.at(-1).id, o.id, 'joined the end of the backlog');

  // a position change within the column
  const pm = await json('PUT', `/api/orders/${o.id}`, { version: both.body.version, position: 0 }, tok.scheduler);
  assert.equal(pm.status, 200, pm.text);
  assert.equal(pm.body.position, 0);
  boardColumns((await board()).body);

  // invalid move targets: nothing is written, not even the fields
  const bad = await json('PUT', `/api/orders/${o.id}`, { version: pm.body.version, priority: 'low', workCentreId: 987654 }, tok.scheduler);
  assertError(bad, 400, 'validation_failed');
  assert.ok(bad.body.details.some((d) => d.field === 'workCentreId'), bad.text);
  assertError(await json('PUT', `/api/orders/${o.id}`, { version: pm.body.version, position: -1 }, tok.scheduler), 400, 'validation_failed');

  // another user's drag lock: 423 for the move, nothing changed
  const lock = await json('POST', `/api/orders/${o.id}/start-move`, {}, tok.admin);
  assert.equal(lock.status, 200, lock.text);
  const locked = await json('PUT', `/api/orders/${o.id}`, { version: pm.body.version, priority: 'low', workCentreId: wc.byCode.QC }, tok.scheduler);
  assertError(locked, 423, 'locked');
  assert.equal(locked.body.lockedBy.username, 'admin');
  assert.equal(locked.body.orderNumber, 'MV-1');
  const cur = (await get(`/api/orders/${o.id}`)).body;
  assert.equal(cur.version, pm.body.version);
  assert.equal(cur.priority, 'high');
  // the holder may move it; its lock is released (order_unlocked moved)
  from = ws.messages.length;
  const hm = await json('PUT', `/api/orders/${o.id}`, { version: cur.version, workCentreId: wc.byCode.QC }, tok.admin);
  assert.equal(hm.status, 200, hm.text);
  const un = await nextEvent('order_unlocked', from, (x) => x.data.orderId === o.id);
  assert.equal(un.data.reason, 'moved');
});

// ---------------------------------------------------------------- order delete

test('DELETE /api/orders/:id: 204, gone everywhere, column closes up, lock ends, number reusable', async () => {
  const a = await newOrder('DEL-1', { workCentreId: wc.byCode.PACK });
  const b = await newOrder('DEL-2', { workCentreId: wc.byCode.PACK });
  const c = await newOrder('DEL-3', { workCentreId: wc.byCode.PACK });
  assert.equal((await json('POST', `/api/orders/${b.id}/start-move`, {}, tok.scheduler)).status, 200);
  const before = await board();
  const from = ws.messages.length;
  const r = await oneAudit('order_deleted', () => json('DELETE', `/api/orders/${b.id}`));
  assert.equal(r.status, 204, r.text);
  const del = await nextEvent('order_deleted', from);
  assert.deepEqual(del.data, { orderId: b.id });
  const un = await nextEvent('order_unlocked', from, (x) => x.data.orderId === b.id);
  assert.equal(un.data.reason, 'deleted');

  assertError(await get(`/api/orders/${b.id}`), 404, 'not_found');
  assertError(await json('DELETE', `/api/orders/${b.id}`), 404, 'not_found');
  assertError(await json('PUT', `/api/orders/${b.id}`, { version: 1 }), 404, 'not_found');
  const after = await board();
  assert.deepEqual(after.cols[wc.byCode.PACK], before.cols[wc.byCode.PACK].filter((x) => x !== b.id));
  assert.equal(after.orders.get(c.id).version, c.version, 'shifted, not changed');
  assert.ok(!after.body.locks.some((l) => l.orderId === b.id));
  const list = await get('/api/orders');
  assert.equal(list.status, 200, list.text);
  assert.ok(list.body.total < 50, 'the default page holds every order');
  assert.ok(!list.body.data.some((x) => x.id === b.id));
  const exp = await get('/api/orders/export');
  assert.ok(!exp.text.includes('DEL-2'));
  assert.ok(exp.text.includes('DEL-1') && exp.text.includes('DEL-3'));
  // the audit entry stays, and the number can be used again
  const au = await get(`/api/audit-log?orderId=${b.id}`);
  assert.ok(au.body.data.some((x) => x.eventType === 'order_deleted'));
  const again = await newOrder('DEL-2');
  assert.notEqual(again.id, b.id);
  assert.ok(a.id > 0);
});

// ---------------------------------------------------------------- tenants

test("another tenant's order and work-centre ids answer 404, its audit log is its own", async () => {
  const b = await board();
  const o = b.body.workCentres[0].orders[0];
  const w = wc.list[0].id;
  assertError(await json('PUT', `/api/orders/${o.id}`, { version: o.version, priority: 'low' }, tok.other), 404, 'not_found');
  assertError(await json('DELETE', `/api/orders/${o.id}`, undefined, tok.other), 404, 'not_found');
  assertError(await json('PUT', `/api/work-centres/${w}`, { name: 'stolen' }, tok.other), 404, 'not_found');
  assertError(await json('DELETE', `/api/work-centres/${w}`, undefined, tok.other), 404, 'not_found');
  assertError(await json('PUT', '/api/work-centres/reorder', { ids: [w] }, tok.other), 400, 'validation_failed');
  const exp = await get('/api/orders/export', tok.other);
  assert.equal(exp.status, 200);
  assert.equal(exp.text.trim().split(/\r?\n/).length, 1, 'only the header');
  const au = await get(`/api/audit-log?orderId=${o.id}`, tok.other);
  assert.equal(au.status, 200, au.text);
  assert.equal(au.body.total, 0);
  const all = await get('/api/audit-log?limit=500', tok.other);
  assert.ok(all.body.data.every((x) => x.orderId === null), 'no demo order rows');
  // nothing changed in demo
  const b2 = await board();
  assert.deepEqual(b2.cols, b.cols);
  assert.equal(b2.orders.get(o.id).version, o.version);
  assert.equal((await srv.workCentres(tok.admin)).list[0].name, wc.list[0].name);
});

// ---------------------------------------------------------------- export

const CANONICAL = 'order_number,stock_code,description,quantity_to_make,quantity_completed,priority,status,due_date,start_date,work_centre_code,current_operation';

test('export is text/csv with the canonical columns and RFC 4180 quoting', async () => {
  await newOrder('EXP-1', { description: 'Bolt, M8 "hex"\nsecond line', currentOperation: 'Cut, deburr', workCentreId: wc.byCode.QC, dueDate: '2026-12-01' });
  const r = await get('/api/orders/export', tok.viewer);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/csv; charset=utf-8');
  const [header] = r.text.split('\r\n');
  assert.equal(header, CANONICAL);
  assert.ok(r.text.includes('EXP-1,STK-9,"Bolt, M8 ""hex""\nsecond line",10,0,normal,not_started,2026-12-01,,QC,"Cut, deburr"\r\n'), r.text);
  // every live order, each once
  const live = [...(await board()).orders.values()];
  for (const o of live) assert.equal(r.text.split(`\r\n${o.orderNumber},`).length, 2, o.orderNumber);
  assert.equal(r.text.match(/\r\n(?=[^\r\n])/g).length, live.length, 'one record per live order');
});

async function importCsv(text, q = '') {
  return srv.req('POST', `/api/orders/import${q}`, { token: tok.scheduler, body: text, headers: { 'content-type': 'text/csv' } });
}

function snapshot(b) {
  const out = {};
  for (const [id, o] of b.orders) {
    const { lockedBy, ...rest } = o;
    out[id] = rest;
  }
  return out;
}

test('export -> import (mode=upsert) round-trips: created 0, updated N, nothing changes', async () => {
  const b0 = await board();
  const exp = await get('/api/orders/export');
  const n = b0.orders.size;
  const from = ws.messages.length;
  const r = await oneAudit('orders_imported', () => importCsv(exp.text, '?mode=upsert'));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.created, 0, r.text);
  assert.equal(r.body.updated, n, r.text);
  assert.deepEqual(r.body.errors, []);
  await nextEvent('orders_imported', from);
  const b1 = await board();
  assert.deepEqual(b1.cols, b0.cols);
  assert.deepEqual(snapshot(b1), snapshot(b0), 'no field, version or position changed');
  const exp2 = await get('/api/orders/export');
  assert.equal(exp2.text, exp.text);
  // the default mode is upsert too; mode=create refuses every existing number
  const d = await importCsv(exp.text);
  assert.equal(d.status, 200, d.text);
  assert.deepEqual([d.body.created, d.body.updated], [0, n]);
  assertError(await importCsv(exp.text, '?mode=create'), 422, 'import_failed');
  assert.deepEqual(snapshot(await board()), snapshot(b0));
});

// ---------------------------------------------------------------- audit log

test('audit log: shape, newest first, filters, paging, limit clamp, bad since is 400', async () => {
  const o = await newOrder('AUD-1');
  const p = await json('PUT', `/api/orders/${o.id}`, { version: o.version, quantityCompleted: 2 }, tok.scheduler);
  assert.equal(p.status, 200, p.text);
  const r = await get(`/api/audit-log?orderId=${o.id}`, tok.scheduler);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), ['data', 'limit', 'offset', 'total']);
  assert.equal(r.body.total, 2);
  assert.equal(r.body.limit, 50);
  assert.equal(r.body.offset, 0);
  const [upd, cre] = r.body.data;
  assert.deepEqual(Object.keys(upd).sort(), ['eventData', 'eventType', 'fromWorkCentreId', 'id', 'orderId',
    'queueDepthFrom', 'queueDepthTo', 'timestamp', 'toWorkCentreId', 'userId', 'username'].sort());
  assert.equal(upd.eventType, 'order_updated');
  assert.equal(cre.eventType, 'order_created');
  assert.ok(upd.id > cre.id);
  assert.equal(typeof upd.eventData, 'object');
  assert.equal(upd.eventData.quantityCompletedDelta, 2);
  assert.equal(upd.orderId, o.id);
  assert.match(upd.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const me = (await get('/api/auth/me', tok.scheduler)).body;
  assert.equal(upd.userId, me.id);
  assert.equal(upd.username, 'scheduler');   // who, for the order dialog's History

  const page = await get('/api/audit-log?limit=1&offset=1');
  assert.equal(page.body.data.length, 1);
  const top = await get('/api/audit-log?limit=2');
  assert.equal(page.body.data[0].id, top.body.data[1].id);
  assert.equal(top.body.data[0].id > top.body.data[1].id, true);
  assert.equal((await get('/api/audit-log?limit=9999')).body.limit, 500);
  const moved = await get('/api/audit-log?eventType=order_moved&limit=500');
  assert.ok(moved.body.data.length > 0 && moved.body.data.every((x) => x.eventType === 'order_moved'));

  const future = await get('/api/audit-log?since=2999-01-01T00:00:00Z');
  assert.equal(future.body.total, 0);
  const past = await get('/api/audit-log?since=2000-01-01');
  assert.equal(past.body.total, (await get('/api/audit-log')).body.total);
  const recent = await get(`/api/audit-log?since=${encodeURIComponent(new Date(Date.now() - 3600e3).toISOString())}&orderId=${o.id}`);
  assert.equal(recent.body.total, 2, recent.text);
  for (const q of ['since=yesterday', 'since=2026-02-30', 'limit=-1', 'orderId=abc', 'offset=x']) {
    const bad = await get(`/api/audit-log?${q}`);
    assertError(bad, 400, 'validation_failed');
  }
});

// SPEC §9 WIP limits (issue 11 item 5): a hard limit refuses a move that would put more
// orders that are not complete or cancelled into the column (409 conflict, reason wip_limit,
// wipLimit, count) over REST and WebSocket, writes and broadcasts nothing; an admin's
// "override": true passes it and the audit entry says so; a scheduler's override does not;
// a soft limit lets the move through with "wipExceeded": true on the answer and on
// order_moved; a create (POST /api/orders) is checked the same way; an import row over a
// hard limit is a row error (soft: a warning), counting the earlier rows of the file and the
// orders that leave a column under placement=file; scanner events ignore limits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, assertError } from './lib.mjs';

let srv, admin, scheduler, viewer, watcher, key;
let hard, soft;                         // work centre ids: HARD (limit 1, hard), SOFT (limit 1, soft)
const ids = {};                         // orderNumber -> id

const json = (method, path, body, token = scheduler) => srv.req(method, path, { token, json: body });

before(async () => {
  srv = await startServer();
  admin = await srv.token('admin');
  scheduler = await srv.token('scheduler');
  viewer = await srv.token('viewer');
  let r = await json('POST', '/api/work-centres', { code: 'HARD', name: 'Hard cell', capacity: 1, wipLimit: 1, wipPolicy: 'hard' }, admin);
  assert.equal(r.status, 201, r.text);
  hard = r.body.id;
  r = await json('POST', '/api/work-centres', { code: 'SOFT', name: 'Soft cell', capacity: 1, wipLimit: 1, wipPolicy: 'soft' }, admin);
  assert.equal(r.status, 201, r.text);
  soft = r.body.id;
  for (const n of ['W-1', 'W-2', 'W-3', 'W-4', 'W-5', 'W-DONE']) {
    r = await json('POST', '/api/orders', { orderNumber: n, stockCode: 'S', description: 'wip', quantityToMake: 5 });
    assert.equal(r.status, 201, r.text);
    ids[n] = r.body.id;
  }
  r = await json('PUT', `/api/orders/${ids['W-DONE']}`, { version: 1, status: 'complete' });
  assert.equal(r.status, 200, r.text);
  r = await json('POST', '/api/api-keys', { name: 'wip line' }, admin);
  assert.equal(r.status, 201, r.text);
  key = r.body.key;
  watcher = await srv.ws(viewer);
});

after(async () => {
  if (srv) await srv.stop();
});

async function snapshot() {
  await srv.settled();                  // PostgreSQL: every event published so far is out
  const b = await srv.board(scheduler);
  assert.equal(b.status, 200, b.text);
  const a = await srv.req('GET', '/api/audit-log?limit=1', { token: admin });
  assert.equal(a.status, 200, a.text);
  return { seq: b.body.seq, audit: a.body.total,
    hard: b.body.workCentres.find((w) => w.id === hard).orders.map((o) => o.id) };
}

/** Nothing written, nothing broadcast since `s`: same audit count, same column, no event but
 * the clock's (a board read renews scheduleAt when the minute turned, SPEC §9, and may
 * publish a schedule_updated: time passing is no change of ours; it made this test flaky at
 * a minute boundary). */
async function assertUnchanged(s) {
  const p = await watcher.request('ping');          // every event before it has arrived
  assert.equal(p.event, 'pong');
  const now = await snapshot();
  const since = watcher.messages.filter((m) => m.seq > s.seq);
  assert.deepEqual(since.filter((m) => m.event !== 'schedule_updated').map((m) => m.event), []);
  assert.deepEqual({ ...now, seq: s.seq }, s);
  assert.ok(now.seq >= s.seq);
}

function assertWipError(r, limit, count) {
  assertError(r, 409, 'conflict');
  assert.equal(r.body.reason, 'wip_limit', r.text);
  assert.equal(r.body.wipLimit, limit, r.text);
  assert.equal(r.body.count, count, r.text);
}

test('a move into a hard column under its limit goes through; the next one is refused with nothing written or broadcast', async () => {
  const r = await json('PUT', `/api/orders/${ids['W-1']}/move`, { toWorkCentreId: hard });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.workCentreId, hard);
  assert.equal(r.body.wipExceeded, undefined, 'within the limit: no warning');
  // a complete order does not count: it may join the full column
  const done = await json('PUT', `/api/orders/${ids['W-DONE']}/move`, { toWorkCentreId: hard });
  assert.equal(done.status, 200, done.text);

  const s = await snapshot();
  assertWipError(await json('PUT', `/api/orders/${ids['W-2']}/move`, { toWorkCentreId: hard, position: 0 }), 1, 2);
  assertWipError(await json('PUT', '/api/planning-board/move', { orderId: ids['W-2'], toWorkCentreId: hard }), 1, 2);
  const o2 = await srv.req('GET', `/api/orders/${ids['W-2']}`, { token: scheduler });
  assertWipError(await json('PUT', `/api/orders/${ids['W-2']}`, { version: o2.body.version, workCentreId: hard }), 1, 2);
  assertWipError(await json('POST', '/api/planning-board/preview-move', { orderId: ids['W-2'], toWorkCentreId: hard }), 1, 2);
  // the scheduler's override is no override (SPEC §9: an admin's)
  assertWipError(await json('PUT', `/api/orders/${ids['W-2']}/move`, { toWorkCentreId: hard, override: true }), 1, 2);
  await assertUnchanged(s);
  // moving inside the full column is not adding to it
  const inside = await json('PUT', `/api/orders/${ids['W-1']}/move`, { toWorkCentreId: hard, position: 1 });
  assert.equal(inside.status, 200, inside.text);
});

test('WebSocket move_order into the full hard column: error conflict / wip_limit, nothing broadcast', async () => {
  const c = await srv.ws(scheduler);
  const s = await snapshot();
  const e = await c.request('move_order', { orderId: ids['W-2'], toWorkCentreId: hard, position: 0 });
  assert.equal(e.event, 'error', JSON.stringify(e));
  assert.equal(e.data.code, 'conflict');
  assert.equal(e.data.reason, 'wip_limit');
  assert.equal(e.data.wipLimit, 1);
  assert.equal(e.data.count, 2);
  const o = await c.request('move_order', { orderId: ids['W-2'], toWorkCentreId: hard, override: true });
  assert.equal(o.event, 'error', 'a scheduler cannot override');
  assert.equal(o.data.reason, 'wip_limit');
  await assertUnchanged(s);
  await c.close();
});

test('a status change that makes an order count again in a full hard column is refused', async () => {
  const o = await srv.req('GET', `/api/orders/${ids['W-DONE']}`, { token: scheduler });
  assert.equal(o.body.workCentreId, hard);
  assertWipError(await json('PUT', `/api/orders/${ids['W-DONE']}`, { version: o.body.version, status: 'in_progress' }), 1, 2);
  const p = await json('PUT', `/api/orders/${ids['W-DONE']}`, { version: o.body.version, priority: 'high' });
  assert.equal(p.status, 200, 'a change that adds nothing is not refused');
});

test('an admin override passes the hard limit, is audited and the event says the limit was passed', async () => {
  const c = await srv.ws(admin);
  const seq0 = (await snapshot()).seq;
  const a = await c.request('move_order', { orderId: ids['W-2'], toWorkCentreId: hard, override: true });
  assert.equal(a.event, 'ack', JSON.stringify(a));
  assert.equal(a.data.workCentreId, hard);
  assert.equal(a.data.wipExceeded, true);
  const ev = await watcher.waitFor((m) => m.event === 'order_moved' && m.seq > seq0 && m.data.order.id === ids['W-2'],
    { what: 'order_moved of W-2' });
  assert.equal(ev.data.wipExceeded, true);
  const r = await json('PUT', `/api/orders/${ids['W-3']}/move`, { toWorkCentreId: hard, override: true }, admin);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.wipExceeded, true);
  // an admin without the flag is refused like anyone
  assertWipError(await json('PUT', `/api/orders/${ids['W-4']}/move`, { toWorkCentreId: hard }, admin), 1, 4);
  const audit = await srv.req('GET', `/api/audit-log?orderId=${ids['W-3']}&eventType=order_moved`, { token: admin });
  assert.equal(audit.status, 200, audit.text);
  const data = audit.body.data[0].eventData;
  const d = typeof data === 'string' ? JSON.parse(data) : data;
  assert.equal(d.wipOverride, true, JSON.stringify(d));
  assert.equal(d.wipExceeded, true);
  assert.equal(d.wipLimit, 1);
  assert.equal(d.count, 3);
  assertError(await json('PUT', `/api/orders/${ids['W-4']}/move`, { toWorkCentreId: hard, override: 'yes' }, admin), 400, 'validation_failed');
  await c.close();
});

test('a soft limit warns on the answer and on order_moved', async () => {
  let r = await json('PUT', `/api/orders/${ids['W-4']}/move`, { toWorkCentreId: soft });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.wipExceeded, undefined);
  const p = await json('POST', '/api/planning-board/preview-move', { orderId: ids['W-5'], toWorkCentreId: soft });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.body.wipExceeded, true, 'the preview warns as the move will');
  const seq0 = (await snapshot()).seq;
  r = await json('PUT', `/api/orders/${ids['W-5']}/move`, { toWorkCentreId: soft });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.wipExceeded, true);
  const ev = await watcher.waitFor((m) => m.event === 'order_moved' && m.seq > seq0 && m.data.order.id === ids['W-5'],
    { what: 'order_moved of W-5' });
  assert.equal(ev.data.wipExceeded, true);
});

test('a viewer still cannot move, override or not', async () => {
  assertError(await json('PUT', `/api/orders/${ids['W-5']}/move`, { toWorkCentreId: hard, override: true }, viewer), 403, 'forbidden');
});

test('scanner events ignore WIP limits (the floor is the truth)', async () => {
  const s = await snapshot();
  assert.ok(s.hard.length >= 3);
  const r = await srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': key },
    json: { eventId: `wip-${process.pid}`, orderNumber: 'W-5', workCentreCode: 'HARD', eventType: 'job_start',
      quantity: 0, operatorBadge: 'B1', scannerId: 'S1', operationName: 'run' } });
  assert.equal(r.status, 202, r.text);
  const o = await srv.req('GET', `/api/orders/${ids['W-5']}`, { token: scheduler });
  assert.equal(o.body.workCentreId, hard);
  assert.equal(o.body.status, 'in_progress');
});

test('analytics: per work centre workMinutes and clearsAt, lateOrders in the dashboard (issue 11 item 7)', async () => {
  const week = [1, 2, 3, 4, 5, 6, 7].map((weekday) => ({ weekday, start: '00:00', end: '00:00' }));
  let r = await json('PUT', '/api/tenant/calendar', { shifts: week }, admin);   // working minutes = minutes
  assert.equal(r.status, 200, r.text);
  const stats = await srv.req('GET', '/api/planning-board/stats', { token: viewer });
  assert.equal(stats.status, 200, stats.text);
  const b = await srv.board(viewer);
  const at = Date.parse(b.body.scheduleAt);
  const h = stats.body.data.find((e) => e.workCentreId === hard);
  // W-1, W-2, W-3 not started, W-5 in progress, no steps: 60 minutes each; W-DONE is not queued
  assert.equal(h.workMinutes, 4 * 60, JSON.stringify(h));
  assert.equal(h.clearsAt, new Date(at + 4 * 60 * 60000).toISOString().replace('.000Z', 'Z'), 'capacity 1: one after another');
  const empty = stats.body.data.find((e) => e.code === 'SHIP');
  const shipOrders = b.body.workCentres.find((w) => w.code === 'SHIP').orders.filter((o) => o.projectedStart !== null);
  if (shipOrders.length === 0) assert.equal(empty.clearsAt, null);
  for (const e of stats.body.data) assert.equal(typeof e.workMinutes, 'number');

  const d0 = await srv.req('GET', '/api/analytics/dashboard', { token: viewer });
  assert.equal(d0.status, 200, d0.text);
  assert.equal(typeof d0.body.lateOrders, 'number');
  const late = b.body.workCentres.flatMap((w) => w.orders).concat(b.body.backlog).filter((o) => o.late === true).length;
  assert.equal(d0.body.lateOrders, late, 'the projected-late orders of the board');
  const yesterday = new Date(Date.now() - 2 * 86400000).toISOString().slice(0, 10);
  r = await json('POST', '/api/orders', { orderNumber: 'W-LATE', stockCode: 'S', description: 'late', quantityToMake: 1, workCentreId: soft, dueDate: yesterday });
  assert.equal(r.status, 201, r.text);
  const d1 = await srv.req('GET', '/api/analytics/dashboard', { token: viewer });
  assert.equal(d1.body.lateOrders, d0.body.lateOrders + 1);
  assert.equal(d1.body.overdueOrders, d0.body.overdueOrders + 1);
});

test('POST /api/orders into a full hard column: 409 wip_limit unless an admin overrides (audited); soft warns', async () => {
  const mk = async (code, wipPolicy) => {
    const r = await json('POST', '/api/work-centres', { code, name: `${code} cell`, capacity: 1, wipLimit: 1, wipPolicy }, admin);
    assert.equal(r.status, 201, r.text);
    return r.body.id;
  };
  const ch = await mk('CHARD', 'hard'), cs = await mk('CSOFT', 'soft');
  const order = (n, extra) => ({ orderNumber: n, stockCode: 'S', description: 'create wip', quantityToMake: 2, ...extra });
  let r = await json('POST', '/api/orders', order('C-1', { workCentreId: ch }));
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.wipExceeded, undefined, 'within the limit: no warning');

  const s = await snapshot();
  assertWipError(await json('POST', '/api/orders', order('C-2', { workCentreId: ch })), 1, 2);
  assertWipError(await json('POST', '/api/orders', order('C-2', { workCentreId: ch, status: 'on_hold' })), 1, 2);
  assertWipError(await json('POST', '/api/orders', order('C-2', { workCentreId: ch, override: true })), 1, 2);
  assertWipError(await json('POST', '/api/orders', order('C-2', { workCentreId: ch }), admin), 1, 2);
  assertError(await json('POST', '/api/orders', order('C-2', { workCentreId: ch, override: 'yes' }), admin), 400, 'validation_failed');
  await assertUnchanged(s);
  assert.equal((await srv.req('GET', '/api/orders?q=C-2', { token: scheduler })).body.data.length, 0);

  // a complete order does not count; the backlog has no limit
  r = await json('POST', '/api/orders', order('C-DONE', { workCentreId: ch, status: 'complete' }));
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.wipExceeded, undefined);

  const seq0 = (await snapshot()).seq;
  r = await json('POST', '/api/orders', order('C-2', { workCentreId: ch, override: true }), admin);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.workCentreId, ch);
  assert.equal(r.body.wipExceeded, true);
  const id2 = r.body.id;
  const ev = await watcher.waitFor((m) => m.event === 'order_created' && m.seq > seq0 && m.data.order.id === id2,
    { what: 'order_created of C-2' });
  assert.equal(ev.data.wipExceeded, true);
  const audit = await srv.req('GET', `/api/audit-log?orderId=${id2}&eventType=order_created`, { token: admin });
  assert.equal(audit.status, 200, audit.text);
  const data = audit.body.data[0].eventData;
  const d = typeof data === 'string' ? JSON.parse(data) : data;
  assert.deepEqual(d, { orderNumber: 'C-2', wipExceeded: true, wipLimit: 1, count: 2, wipOverride: true });

  r = await json('POST', '/api/orders', order('C-S1', { workCentreId: cs }));
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.wipExceeded, undefined);
  const seq1 = (await snapshot()).seq;
  r = await json('POST', '/api/orders', order('C-S2', { workCentreId: cs }));
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.wipExceeded, true);
  const idS2 = r.body.id;
  const evS = await watcher.waitFor((m) => m.event === 'order_created' && m.seq > seq1 && m.data.order.id === idS2,
    { what: 'order_created of C-S2' });
  assert.equal(evS.data.wipExceeded, true);
  const a2 = await srv.req('GET', `/api/audit-log?orderId=${idS2}&eventType=order_created`, { token: admin });
  const d2 = a2.body.data[0].eventData;
  assert.deepEqual(typeof d2 === 'string' ? JSON.parse(d2) : d2, { orderNumber: 'C-S2', wipExceeded: true, wipLimit: 1, count: 2 });
});

test('an import row that would take a column over its hard limit is a row error (abort: 422, skip: skipped); soft warns', async () => {
  let r = await json('POST', '/api/work-centres', { code: 'IHARD', name: 'Import hard', capacity: 1, wipLimit: 2, wipPolicy: 'hard' }, admin);
  assert.equal(r.status, 201, r.text);
  r = await json('POST', '/api/work-centres', { code: 'ISOFT', name: 'Import soft', capacity: 1, wipLimit: 1, wipPolicy: 'soft' }, admin);
  assert.equal(r.status, 201, r.text);
  const csv = (rows) => 'order_number,stock_code,description,quantity_to_make,status,work_centre_code\n'
    + rows.map(([n, wc, st = 'not_started']) => `${n},S,imp,1,${st},${wc}`).join('\n') + '\n';
  const imp = (body, query = '', token = scheduler) => srv.req('POST', `/api/orders/import${query}`,
    { token, body, headers: { 'content-type': 'text/csv' } });
  const wipErrors = (b, row) => b.errors.filter((e) => e.row === row && e.column === 'work_centre_code');
  const three = csv([['I-1', 'IHARD'], ['I-DONE', 'IHARD', 'complete'], ['I-2', 'IHARD'], ['I-3', 'IHARD']]);

  const s = await snapshot();
  for (const q of ['', '?dryRun=true']) {
    const a = await imp(three, q);
    assertError(a, 422, 'import_failed');
    assert.equal(a.body.created, 0, `${q} ${a.text}`);
    assert.equal(wipErrors(a.body, 5).length, 1, JSON.stringify(a.body.errors));
    assert.match(wipErrors(a.body, 5)[0].message, /IHARD has a hard WIP limit of 2 orders; this order would make 3/);
    assert.equal(a.body.errors.length, 1, 'the complete order and the first two fit');
  }
  assertError(await imp(three, '?override=true'), 422, 'import_failed');      // a scheduler's override is none
  assertError(await imp(three, '?override=maybe', admin), 400, 'validation_failed');
  await assertUnchanged(s);

  r = await imp(three, '?onError=skip');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.created, 3);
  assert.equal(r.body.skipped, 1);
  assert.equal(wipErrors(r.body, 5).length, 1, JSON.stringify(r.body));
  const got = await srv.req('GET', '/api/orders?q=I-3', { token: scheduler });
  assert.equal(got.body.data.length, 0, 'the refused row was not imported');

  // re-importing orders that stay where they are never counts them as new
  r = await imp(csv([['I-1', 'IHARD'], ['I-2', 'IHARD']]));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.updated, 2);
  // I-1 leaving IHARD makes room for I-4, but only when the file places orders (placement=file)
  const swap = csv([['I-1', 'ISOFT'], ['I-4', 'IHARD']]);
  r = await imp(swap);
  assertError(r, 422, 'import_failed');
  assert.equal(wipErrors(r.body, 3).length, 1, JSON.stringify(r.body));
  r = await imp(swap, '?placement=file');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.created, r.body.updated, r.body.errors.length], [1, 1, 0], JSON.stringify(r.body));

  // soft: through, with a warning on the row that passed the limit (ISOFT holds I-1 already)
  r = await imp(csv([['I-5', 'ISOFT']]));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.created, 1);
  const warn = r.body.warnings.filter((w) => w.row === 2 && w.column === 'work_centre_code');
  assert.equal(warn.length, 1, JSON.stringify(r.body.warnings));
  assert.match(warn[0].message, /ISOFT has a soft WIP limit of 1 orders; this order would make 2/);

  // an admin's override=true passes the hard limit, with a warning
  r = await imp(csv([['I-6', 'IHARD']]), '?override=true', admin);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.created, 1);
  assert.match(r.body.warnings.find((w) => w.row === 2).message, /would make 3 \(overridden\)/);
});

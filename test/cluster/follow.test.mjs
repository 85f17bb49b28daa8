// Following another node's changes (issue 13 item 3, SPEC §12; docs/postgresql.md "Many
// nodes, one order"): node B's cached board applies node A's events in seq order instead of
// being dropped and reloaded. A user on node A moves, edits, creates and deletes orders and
// renames a work centre; node B's REST board then equals the database (order ids per column in
// rank order, with versions and fields) *without a reload*: B's planboard_bus_reloads_total
// does not move while planboard_bus_applied_total counts each event. Before this change every
// foreign NOTIFY dropped B's board (no applied counter; the reload counter would move).
// Then 24 movers through HAProxy racing for the top of the same columns: stale batches wait
// for the bus and are planned again on the same board (planboard_move_stale_waits_total), and
// every node ends with the database's board.
// Real processes only; every wait is for a condition and bounded.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, until } from './lib.mjs';

let cl;
let tok = {};

before(async () => {
  cl = await Cluster.start();
  tok.admin = await cl.nodes[0].token('admin');
  tok.viewerB = await cl.nodes[1].token('viewer');
}, { timeout: 180000 });

after(async () => {
  if (cl) await cl.stop();
}, { timeout: 90000 });

/** The board as the database has it: {columnKey: [[id, version, orderNumber, description]]}
 * in rank order, and the work centres' names. */
function dbBoard() {
  const cols = {};
  for (const [id, wc, version, num, desc] of cl.sql('SELECT id, COALESCE(work_centre_id, 0), version, order_number, description FROM orders WHERE deleted_at IS NULL ORDER BY COALESCE(work_centre_id, 0), rank, id')) {
    (cols[wc] ||= []).push([Number(id), Number(version), num, desc]);
  }
  const names = Object.fromEntries(cl.sql('SELECT id, name FROM work_centres WHERE deleted_at IS NULL').map(([id, n]) => [Number(id), n]));
  return { cols, names };
}

/** The same from node i's GET /api/planning-board. */
async function nodeBoard(i) {
  const r = await cl.nodes[i].board(i === 1 ? tok.viewerB : tok.admin);
  assert.equal(r.status, 200, r.text);
  const cols = {};
  const add = (key, orders) => {
    if (orders.length) cols[key] = orders.map((o) => [o.id, o.version, o.orderNumber, o.description]);
  };
  const names = {};
  for (const w of r.body.workCentres) {
    add(w.id, w.orders);
    names[w.id] = w.name;
  }
  add(0, r.body.backlog);
  return { cols, names };
}

async function nodeEqualsDb(i, timeout = 5000) {
  let last;
  await until(async () => {
    last = { node: await nodeBoard(i), db: dbBoard() };
    return JSON.stringify(last.node) === JSON.stringify(last.db);
  }, { timeout, interval: 20, what: `node ${i + 1}'s board equal to the database` }).catch((e) => {
    assert.deepEqual(last.node, last.db, e.message);
  });
}

const metric = (i, name) => cl.metric(i, name);

test("node B applies node A's moves, edits, creates, deletes and work-centre edits without reloading its board", { timeout: 120000 }, async () => {
  const A = cl.nodes[0];
  // B serves the board (cached) and has the tenant's room (a WebSocket client joined)
  const c = await cl.nodes[1].ws(tok.viewerB);
  await nodeEqualsDb(1);
  const reloads0 = await metric(1, 'planboard_bus_reloads_total');
  const applied0 = await metric(1, 'planboard_bus_applied_total');
  assert.notEqual(reloads0, null, 'planboard_bus_reloads_total is exported');
  assert.notEqual(applied0, null, 'planboard_bus_applied_total is exported');

  const b0 = await A.board(tok.admin);
  const wcs = b0.body.workCentres.map((w) => w.id);
  const someOrders = [...b0.body.backlog, ...b0.body.workCentres.flatMap((w) => w.orders)];
  let events = 0;
  const ok = (r, status, what) => { assert.equal(r.status, status, `${what}: ${r.text}`); events++; return r.body; };

  // moves: to the top, the middle and the end of columns, and back to the backlog
  for (let k = 0; k < 6; k++) {
    const o = someOrders[k];
    ok(await A.req('PUT', `/api/orders/${o.id}/move`, { token: tok.admin,
      json: { toWorkCentreId: k === 5 ? null : wcs[k % wcs.length], position: k % 3 === 2 ? null : k % 2 } }), 200, 'move');
  }
  // a field edit, an edit with a move (one order_moved), a create, a delete
  ok(await A.req('PUT', `/api/orders/${someOrders[6].id}`, { token: tok.admin,
    json: { description: 'edited on node A', orderNumber: `${someOrders[6].orderNumber}-A`, version: someOrders[6].version } }), 200, 'edit');
  ok(await A.req('PUT', `/api/orders/${someOrders[7].id}`, { token: tok.admin,
    json: { description: 'edited and moved on node A', workCentreId: wcs[1], position: 0, version: someOrders[7].version } }), 200, 'edit + move');
  const created = ok(await A.req('POST', '/api/orders', { token: tok.admin,
    json: { orderNumber: 'FOLLOW-1', stockCode: 'SC', description: 'created on node A', quantityToMake: 3, workCentreId: wcs[2] } }), 201, 'create');
  ok(await A.req('DELETE', `/api/orders/${someOrders[8].id}`, { token: tok.admin }), 204, 'delete');
  ok(await A.req('PUT', `/api/work-centres/${wcs[0]}`, { token: tok.admin, json: { name: 'Renamed on node A' } }), 200, 'work centre edit');
  // the created order moved on node A right after its create
  ok(await A.req('PUT', `/api/orders/${created.id}/move`, { token: tok.admin, json: { toWorkCentreId: wcs[0], position: 0 } }), 200, 'move of the new order');

  // B learns it all from the bus, applied in seq order
  await nodeEqualsDb(1);
  await nodeEqualsDb(0);
  assert.equal(await metric(1, 'planboard_bus_reloads_total'), reloads0, 'node B reloaded its board');
  const applied = await metric(1, 'planboard_bus_applied_total');
  assert.ok(applied - applied0 >= events, `node B applied ${applied - applied0} events, want >= ${events}`);
  c.ws.close();
});

// A scanner event's plan on PostgreSQL takes the order's steps from the node's cached route
// (store_scanner_prepare_cached): node B's route must follow node A's scanner events (the
// follow job reads the order's steps back before any later write of the tenant plans on B).
test("a scanner event on node B plans on the steps node A's scanner events left; a retry through B is a duplicate", { timeout: 120000 }, async () => {
  const A = cl.nodes[0], B = cl.nodes[1];
  const b0 = (await A.board(tok.admin)).body;
  const [cut, asm] = b0.workCentres;
  const k = await A.req('POST', '/api/api-keys', { token: tok.admin, json: { name: 'cluster line' } });
  assert.equal(k.status, 201, k.text);
  const scan = (node, ev) => node.req('POST', '/api/scanner/events', { headers: { 'x-api-key': k.body.key },
    json: { orderNumber: 'SCAN-NODES', ...ev } });
  const o = await A.req('POST', '/api/orders', { token: tok.admin, json: { orderNumber: 'SCAN-NODES', stockCode: 'SC',
    description: 'scanned on two nodes', quantityToMake: 10, workCentreId: cut.id,
    steps: [{ operationName: 'one', workCentreId: cut.id }, { operationName: 'two', workCentreId: asm.id }] } });
  assert.equal(o.status, 201, o.text);
  await nodeEqualsDb(1);
  // node A completes the step at the first centre
  const done = await scan(A, { eventId: 'nodes-1', workCentreCode: cut.code, eventType: 'job_complete' });
  assert.equal(done.status, 202, done.text);
  assert.equal(done.body.orderCompleted, false);
  await nodeEqualsDb(1);                                // B applied it (its version)
  // on node B a progress_update at that centre finds no open step there: the step stays
  // complete (a stale route would reopen it: in_progress with the quantity)
  const p = await scan(B, { eventId: 'nodes-2', workCentreCode: cut.code, eventType: 'progress_update', quantity: 4 });
  assert.equal(p.status, 202, p.text);
  assert.equal(p.body.quantityCompletedDelta, 4);
  const steps = (await A.req('GET', `/api/orders/${o.body.id}`, { token: tok.admin })).body.steps;
  assert.deepEqual(steps.map((x) => [x.status, x.quantityCompleted]), [['complete', 0], ['pending', 0]]);
  // node A's event retried through node B: a duplicate, nothing changes
  const v = (await A.req('GET', `/api/orders/${o.body.id}`, { token: tok.admin })).body.version;
  const again = await scan(B, { eventId: 'nodes-1', workCentreCode: cut.code, eventType: 'job_complete' });
  assert.equal(again.status, 202, again.text);
  assert.equal(again.body.duplicate, true);
  assert.equal((await A.req('GET', `/api/orders/${o.body.id}`, { token: tok.admin })).body.version, v);
  await nodeEqualsDb(1);
  await nodeEqualsDb(0);
});

test("node A's moves cost node B's loop no database round trip; a calendar or timezone change on node A reaches node B's board", { timeout: 120000 }, async () => {
  // Before: every schedule_updated made each other node read the calendar again on its loop
  // (a round trip per foreign move), and a calendar change that moved no projection (so no
  // schedule_updated) never reached the other nodes' cached calendars.
  const A = cl.nodes[0];
  const c = await cl.nodes[1].ws(tok.viewerB);
  await nodeEqualsDb(1);
  const b0 = await A.board(tok.admin);
  const wcs = b0.body.workCentres.map((w) => w.id);
  const orders = b0.body.workCentres.flatMap((w) => w.orders);
  const sched0 = c.messages.filter((m) => m.event === 'schedule_updated').length;
  const trips0 = await metric(1, 'planboard_loop_db_round_trips_total');
  const MOVES = 20;
  for (let k = 0; k < MOVES; k++) {
    const r = await A.req('PUT', `/api/orders/${orders[k % orders.length].id}/move`, { token: tok.admin,
      json: { toWorkCentreId: wcs[(k + 1) % wcs.length], position: 0 } });
    assert.equal(r.status, 200, r.text);
  }
  await nodeEqualsDb(1);
  const scheds = c.messages.filter((m) => m.event === 'schedule_updated').length - sched0;
  const trips = await metric(1, 'planboard_loop_db_round_trips_total') - trips0;
  assert.ok(scheds >= MOVES / 2, `node B's client saw ${scheds} schedule_updated for ${MOVES} moves`);
  // the presence heartbeat (once a second) may count a few; a calendar read per event would be >= scheds
  assert.ok(trips < scheds / 2, `node B's loop made ${trips} round trips for ${scheds} foreign schedule_updated`);

  // Field edits and creates: their routing steps (not in the frame) are read by node B's
  // writer thread, not its loop (before: one round trip on the loop per order_updated/created).
  const trips1 = await metric(1, 'planboard_loop_db_round_trips_total');
  const EDITS = 12;
  for (let k = 0; k < EDITS; k++) {
    const o = (await A.req('GET', `/api/orders/${orders[k % 4].id}`, { token: tok.admin })).body;
    const r = k % 3 === 2
      ? await A.req('POST', '/api/orders', { token: tok.admin, json: { orderNumber: `FOLLOW-RT-${k}`, stockCode: 'SC', description: 'created', quantityToMake: 2, workCentreId: wcs[3] } })
      : await A.req('PUT', `/api/orders/${o.id}`, { token: tok.admin, json: { description: `edit ${k}`, version: o.version } });
    assert.ok(r.status === 200 || r.status === 201, r.text);
  }
  await nodeEqualsDb(1);
  const trips2 = await metric(1, 'planboard_loop_db_round_trips_total') - trips1;
  assert.ok(trips2 < EDITS / 2, `node B's loop made ${trips2} round trips for ${EDITS} foreign edits and creates`);

  // A holiday far ahead moves no projection: no schedule_updated, only the calendar changes.
  const cal = (await A.req('GET', '/api/tenant/calendar', { token: tok.admin })).body;
  const holidays = [...cal.holidays, '2099-12-24'];
  let r = await A.req('PUT', '/api/tenant/calendar', { token: tok.admin, json: { holidays } });
  assert.equal(r.status, 200, r.text);
  const calOn = async (i, tz) => {
    let last;
    await until(async () => {
      last = (await cl.nodes[i].req('GET', '/api/tenant/calendar', { token: i === 1 ? tok.viewerB : tok.admin })).body;
      return JSON.stringify(last.holidays) === JSON.stringify(holidays) && last.timezone === tz;
    }, { timeout: 5000, interval: 20, what: `node ${i + 1}'s calendar` }).catch((e) => {
      assert.deepEqual(last, { ...cal, holidays, timezone: tz }, e.message);
    });
  };
  await calOn(1, cal.timezone);
  r = await A.req('PUT', '/api/tenant', { token: tok.admin, json: { timezone: 'Pacific/Auckland' } });
  assert.equal(r.status, 200, r.text);
  await calOn(1, 'Pacific/Auckland');
  await calOn(0, 'Pacific/Auckland');
  r = await A.req('PUT', '/api/tenant', { token: tok.admin, json: { timezone: cal.timezone } });
  assert.equal(r.status, 200, r.text);
  await calOn(1, cal.timezone);
  c.ws.close();
});

test('24 movers through HAProxy racing for the same places: stale batches wait for the bus, every node ends with the database\'s board', { timeout: 120000 }, async () => {
  const f = cl.front;
  const admin = await f.token('admin');
  const b0 = await f.board(admin);
  const wcs = b0.body.workCentres.map((w) => w.id);
  const ids = [...b0.body.backlog, ...b0.body.workCentres.flatMap((w) => w.orders)].map((o) => o.id).slice(0, 24);
  // every node has the tenant's room (as in the bench, a WebSocket client per node)
  const clients = await Promise.all(cl.nodes.map((n) => n.ws(admin)));
  const codes = {};
  await Promise.all(ids.map(async (id, k) => {
    for (let i = 0; i < 8; i++) {
      const r = await f.req('PUT', `/api/orders/${id}/move`, { token: admin, json: { toWorkCentreId: wcs[(k + i) % wcs.length], position: 0 } });
      codes[r.status] = (codes[r.status] || 0) + 1;
    }
  }));
  assert.deepEqual(Object.keys(codes).filter((s) => s !== '200' && s !== '409'), [], `answers: ${JSON.stringify(codes)}`);
  for (let i = 0; i < 3; i++) await nodeEqualsDb(i, 10000);
  let waits = 0;
  for (let i = 0; i < 3; i++) waits += await metric(i, 'planboard_move_stale_waits_total');
  const stale = await Promise.all([0, 1, 2].map((i) => metric(i, 'planboard_move_stale_retries_total')));
  // when batches went stale, they waited for the bus (not a reload)
  if (stale.some((n) => n > 0)) assert.ok(waits > 0, `stale retries ${stale} but no waits`);
  for (const c of clients) c.ws.close();
});

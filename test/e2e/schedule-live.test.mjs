// SPEC §9 live projected schedule (issue 11 items 3 and 4): after a change ONE
// schedule_updated with only the orders whose values changed reaches every client of the
// tenant's room, right after the change's own event, and nothing reaches another tenant;
// preview-move (REST and WebSocket preview_move) answers the what-if and writes nothing.
// Independent of today's date and time: a calendar that works around the clock makes working
// minutes real minutes, and the late order is built so that it is late behind a 3-day order
// and on time before it, whatever the time of day (due the day after tomorrow, UTC).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, assertError, OTHER_PASSWORD } from './lib.mjs';

let srv, admin, scheduler, viewer, other;
let live, big, x, held;                 // the LIVE work centre and its three orders
let c1, c2, co;                         // two demo clients, one of the other tenant

const AROUND_THE_CLOCK = [1, 2, 3, 4, 5, 6, 7].map((weekday) => ({ weekday, start: '00:00', end: '00:00' }));
const DEFAULT_WEEK = [1, 2, 3, 4, 5].map((weekday) => ({ weekday, start: '08:00', end: '16:00' }));
const MIN = 60000;
const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');
const day = (ms, plus) => new Date(ms + plus * 86400000).toISOString().slice(0, 10);

before(async () => {
  srv = await startServer();
  admin = await srv.token('admin');
  scheduler = await srv.token('scheduler');
  viewer = await srv.token('viewer');
  await srv.createTenant('other', 'boss', OTHER_PASSWORD, 'Other Works');
  other = await srv.token('boss', OTHER_PASSWORD, 'other');

  let r = await srv.req('PUT', '/api/tenant/calendar', { token: admin, json: { shifts: AROUND_THE_CLOCK } });
  assert.equal(r.status, 200, r.text);
  r = await srv.req('POST', '/api/work-centres', { token: admin, json: { code: 'LIVE', name: 'Live line', capacity: 1 } });
  assert.equal(r.status, 201, r.text);
  live = r.body.id;
  const board = await srv.board(scheduler);           // computes the projection: scheduleAt
  assert.equal(board.status, 200, board.text);
  const at = Date.parse(board.body.scheduleAt);
  const create = async (orderNumber, minutes, dueDate, status) => {
    const json = { orderNumber, stockCode: 'S', description: 'live', quantityToMake: 10, workCentreId: live, dueDate,
      steps: [{ operationName: 'run', workCentreId: live, plannedDurationMinutes: minutes }] };
    const c = await srv.req('POST', '/api/orders', { token: scheduler, json });
    assert.equal(c.status, 201, c.text);
    if (status) {
      const u = await srv.req('PUT', `/api/orders/${c.body.id}`, { token: scheduler, json: { version: c.body.version, status } });
      assert.equal(u.status, 200, u.text);
    }
    return c.body.id;
  };
  big = await create('LIVE-BIG', 3 * 24 * 60, day(at, 30));   // 3 days of work, due in a month
  x = await create('LIVE-X', 60, day(at, 2));                 // late behind BIG, on time before it
  held = await create('LIVE-HELD', 60, day(at, -1), 'on_hold');
  // PostgreSQL sequences a change's schedule_updated right after its commit: the clients join
  // once every event of the set-up is out, so none reaches them during the tests below
  await srv.settled();

  c1 = await srv.ws(scheduler);
  c2 = await srv.ws(viewer);
  co = await srv.ws(other);
});

after(async () => {
  if (srv) await srv.stop();
});

async function state(token = scheduler) {
  const b = await srv.board(token);
  assert.equal(b.status, 200, b.text);
  const audit = await srv.req('GET', '/api/audit-log?limit=1', { token: admin });
  assert.equal(audit.status, 200, audit.text);
  const col = b.body.workCentres.find((w) => w.id === live).orders;
  return { seq: b.body.seq, audit: audit.body.total, scheduleAt: Date.parse(b.body.scheduleAt),
    col: col.map((o) => ({ id: o.id, version: o.version, position: o.position, projectedFinish: o.projectedFinish, late: o.late })) };
}

test('the board built for these tests: X is late behind the 3-day order', async () => {
  const s = await state();
  assert.deepEqual(s.col.map((o) => o.id), [big, x, held]);
  const at = s.scheduleAt;
  assert.equal(s.col[0].projectedFinish, iso(at + 3 * 1440 * MIN));
  assert.equal(s.col[1].projectedFinish, iso(at + (3 * 1440 + 60) * MIN));
  assert.equal(s.col[1].late, true);
  assert.equal(s.col[2].late, null, 'on hold: not scheduled');
});

test('preview-move over REST and WebSocket answers the what-if and writes nothing', async () => {
  const before = await state();
  const at = before.scheduleAt;
  const body = { orderId: x, toWorkCentreId: live, position: 0, fromWorkCentreId: live, version: before.col[1].version };
  const r = await srv.req('POST', '/api/planning-board/preview-move', { token: scheduler, json: body });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.scheduleAt, iso(at));
  assert.deepEqual(r.body.newlyLate, []);
  assert.deepEqual(r.body.noLongerLate, [x]);
  assert.deepEqual(r.body.changes, [
    { orderId: x, orderNumber: 'LIVE-X', projectedFinish: iso(at + 60 * MIN), late: false,
      wasProjectedFinish: iso(at + (3 * 1440 + 60) * MIN), wasLate: true },
    { orderId: big, orderNumber: 'LIVE-BIG', projectedFinish: iso(at + (3 * 1440 + 60) * MIN), late: false,
      wasProjectedFinish: iso(at + 3 * 1440 * MIN), wasLate: false },
  ]);
  // the same over the WebSocket: the ack carries the same data
  const a = await c1.request('preview_move', body);
  assert.equal(a.event, 'ack', JSON.stringify(a));
  assert.deepEqual(a.data, r.body);
  // to the backlog: X stops being late (not scheduled), BIG unchanged
  const b = await srv.req('POST', '/api/planning-board/preview-move', { token: admin, json: { orderId: x, toWorkCentreId: null } });
  assert.equal(b.status, 200, b.text);
  assert.deepEqual(b.body.changes.map((c) => [c.orderId, c.projectedFinish, c.late]), [[x, null, null]]);
  assert.deepEqual(b.body.noLongerLate, [x]);

  const after = await state();
  assert.deepEqual(after, before, 'board, audit log and seq unchanged');
  assert.deepEqual([...c1.events('schedule_updated'), ...c1.events('order_moved')], []);
});

test('preview-move has the move\'s checks: roles, conflicts, validation, unknown orders', async () => {
  const s = await state();
  const v = s.col[1].version;
  assertError(await srv.req('POST', '/api/planning-board/preview-move', { token: viewer, json: { orderId: x, toWorkCentreId: live } }), 403, 'forbidden');
  const e = await c2.request('preview_move', { orderId: x, toWorkCentreId: live });
  assert.equal(e.event, 'error');
  assert.equal(e.data.code, 'forbidden');
  assertError(await srv.req('POST', '/api/planning-board/preview-move', { token: scheduler, json: { orderId: x, toWorkCentreId: live, version: v + 5 } }), 409, 'conflict');
  assertError(await srv.req('POST', '/api/planning-board/preview-move', { token: scheduler, json: { orderId: x, toWorkCentreId: live, fromWorkCentreId: null } }), 409, 'conflict');
  assertError(await srv.req('POST', '/api/planning-board/preview-move', { token: scheduler, json: { orderId: x, toWorkCentreId: 999999 } }), 400, 'validation_failed');
  assertError(await srv.req('POST', '/api/planning-board/preview-move', { token: scheduler, json: { orderId: x, toWorkCentreId: live, position: -1 } }), 400, 'validation_failed');
  assertError(await srv.req('POST', '/api/planning-board/preview-move', { token: scheduler, json: { orderId: 999999, toWorkCentreId: live } }), 400, 'validation_failed');
  const nf = await c1.request('preview_move', { orderId: 999999, toWorkCentreId: live });
  assert.equal(nf.data.code, 'not_found');
  // another user's drag lock: 423, as for the move
  const lock = await srv.req('POST', `/api/orders/${x}/start-move`, { token: admin });
  assert.equal(lock.status, 200, lock.text);
  assertError(await srv.req('POST', '/api/planning-board/preview-move', { token: scheduler, json: { orderId: x, toWorkCentreId: live } }), 423, 'locked');
  assert.equal((await srv.req('POST', `/api/orders/${x}/end-move`, { token: admin, json: { completed: false } })).status, 204);
  assert.equal((await state()).audit, s.audit, 'nothing audited');
});

test('a move: every client of the room gets order_moved, then schedule_updated with only the changed orders; the other tenant nothing', async () => {
  const before = await state();
  const at = before.scheduleAt;
  const from1 = c1.messages.length, from2 = c2.messages.length;
  const r = await srv.req('PUT', '/api/planning-board/move', { token: scheduler, json: { orderId: x, toWorkCentreId: live, position: 0 } });
  assert.equal(r.status, 200, r.text);
  for (const [c, from] of [[c1, from1], [c2, from2]]) {
    const su = await c.waitFor((m) => m.event === 'schedule_updated', { from, what: 'schedule_updated' });
    const mv = await c.waitFor((m) => m.event === 'order_moved', { from, what: 'order_moved' });
    assert.equal(su.seq, mv.seq + 1, 'schedule_updated right after its order_moved');
    assert.equal(su.data.scheduleAt, iso(at));
    const byId = Object.fromEntries(su.data.orders.map((o) => [o.orderId, o]));
    assert.deepEqual(Object.keys(byId).map(Number).sort((a, b) => a - b), [x, big].sort((a, b) => a - b), 'only the changed orders');
    assert.deepEqual(byId[x], { orderId: x, projectedStart: iso(at), projectedFinish: iso(at + 60 * MIN), late: false });
    assert.deepEqual(byId[big], { orderId: big, projectedStart: iso(at + 60 * MIN), projectedFinish: iso(at + (3 * 1440 + 60) * MIN), late: false });
  }
  // the board agrees with the event
  const s = await state();
  assert.deepEqual(s.col.map((o) => [o.id, o.projectedFinish, o.late]),
    [[x, iso(at + 60 * MIN), false], [big, iso(at + (3 * 1440 + 60) * MIN), false], [held, null, null]]);
  // a move that changes nothing: order_moved and no schedule_updated
  const seq0 = s.seq;
  const same = await srv.req('PUT', '/api/planning-board/move', { token: scheduler, json: { orderId: held, toWorkCentreId: live } });
  assert.equal(same.status, 200, same.text);
  await c1.waitFor((m) => m.event === 'order_moved' && m.seq > seq0, { what: 'order_moved of HELD' });
  const p = await c1.request('ping');
  assert.equal(p.event, 'pong');
  assert.equal(c1.messages.filter((m) => m.event === 'schedule_updated' && m.seq > seq0).length, 0);
  // the other tenant: a ping round trip, and none of it arrived
  await co.request('ping');
  assert.deepEqual(co.messages.filter((m) => m.seq !== undefined && m.event !== 'user_joined' && m.event !== 'user_left'), []);
});

test('a calendar change: one schedule_updated after it, with the orders it changed', async () => {
  const from = c2.messages.length;
  const r = await srv.req('PUT', '/api/tenant/calendar', { token: admin, json: { shifts: DEFAULT_WEEK } });
  assert.equal(r.status, 200, r.text);
  const su = await c2.waitFor((m) => m.event === 'schedule_updated', { from, what: 'schedule_updated after the calendar' });
  const ids = su.data.orders.map((o) => o.orderId);
  assert.ok(ids.includes(big), `3 days of work end elsewhere on an 8-hour week: ${JSON.stringify(su.data)}`);
  assert.ok(!ids.includes(held), 'an order on hold has no projection to change');
  const b = await srv.board(viewer);
  const col = b.body.workCentres.find((w) => w.id === live).orders;
  for (const o of su.data.orders.filter((e) => col.some((c) => c.id === e.orderId))) {
    const c = col.find((k) => k.id === o.orderId);
    assert.deepEqual([c.projectedStart, c.projectedFinish, c.late], [o.projectedStart, o.projectedFinish, o.late]);
  }
  await co.request('ping');
  assert.equal(co.events('schedule_updated').length, 0, 'the other tenant gets nothing');
});

test('an order update through the writer publishes the schedule it changed; reading the tenant publishes nothing', async () => {
  const o = (await srv.req('GET', `/api/orders/${x}`, { token: scheduler })).body;
  const b0 = await srv.board(viewer);
  const at = Date.parse(b0.body.scheduleAt);
  // reading the tenant changes nothing and publishes nothing
  const seq0 = b0.body.seq;
  assert.equal((await srv.req('GET', '/api/tenant', { token: viewer })).status, 200);
  const p = await c2.request('ping');
  assert.equal(p.event, 'pong');
  assert.equal(c2.messages.filter((m) => m.seq > seq0).length, 0, 'GET /api/tenant broadcast something');
  // a due date in the past makes X late: order_updated, then schedule_updated with X late
  const from = c2.messages.length;
  const r = await srv.req('PUT', `/api/orders/${x}`, { token: scheduler, json: { version: o.version, dueDate: day(at, -3) } });
  assert.equal(r.status, 200, r.text);
  const su = await c2.waitFor((m) => m.event === 'schedule_updated', { from, what: 'schedule_updated after the update' });
  const up = await c2.waitFor((m) => m.event === 'order_updated', { from, what: 'order_updated' });
  assert.equal(su.seq, up.seq + 1, 'schedule_updated right after its order_updated');
  const e = su.data.orders.find((k) => k.orderId === x);
  assert.ok(e && e.late === true, JSON.stringify(su.data));
});

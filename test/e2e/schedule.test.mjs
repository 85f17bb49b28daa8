// SPEC §9 projected schedule, issue 11 part 1: the tenant calendar routes, projectedStart /
// projectedFinish / late on orders and the board (with scheduleAt), GET
// /api/planning-board/schedule. Independent of today's date: the expected times are computed
// from each answer's own scheduleAt, under a calendar that works around the clock (seven 24-hour
// shifts), where working minutes are real minutes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, assertError } from './lib.mjs';

let srv, admin, scheduler, viewer;

before(async () => {
  srv = await startServer();
  admin = await srv.token('admin');
  scheduler = await srv.token('scheduler');
  viewer = await srv.token('viewer');
});
after(async () => {
  if (srv) await srv.stop();
});

/** Rows of a query on the server's database, from another process (either backend: lib.mjs). */
const sql = (query, params) => srv.sql(query, params);

const MIN = 60000;
const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');
const AROUND_THE_CLOCK = [1, 2, 3, 4, 5, 6, 7].map((weekday) => ({ weekday, start: '00:00', end: '00:00' }));

test('the default calendar is Monday to Friday 08:00-16:00 in the tenant zone, readable by every role', async () => {
  for (const token of [admin, scheduler, viewer]) {
    const r = await srv.req('GET', '/api/tenant/calendar', { token });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, {
      timezone: 'UTC',
      shifts: [1, 2, 3, 4, 5].map((weekday) => ({ weekday, start: '08:00', end: '16:00' })),
      holidays: [],
    });
  }
  assertError(await srv.req('GET', '/api/tenant/calendar', {}), 401, 'unauthorized');
});

test('only an admin writes the calendar; bad shifts and holidays are 400 naming the field', async () => {
  const body = { shifts: [{ weekday: 1, start: '06:00', end: '14:00' }] };
  assertError(await srv.req('PUT', '/api/tenant/calendar', { token: scheduler, json: body }), 403, 'forbidden');
  assertError(await srv.req('PUT', '/api/tenant/calendar', { token: viewer, json: body }), 403, 'forbidden');

  const bad = async (json, fields) => {
    const r = await srv.req('PUT', '/api/tenant/calendar', { token: admin, json });
    assertError(r, 400, 'validation_failed');
    assert.deepEqual(r.body.details.map((d) => d.field).sort(), [...fields].sort(), r.text);
  };
  // two shifts of one weekday that overlap: both named
  await bad({ shifts: [{ weekday: 2, start: '06:00', end: '14:00' }, { weekday: 2, start: '13:00', end: '15:00' }] },
    ['shifts[0]', 'shifts[1]']);
  // a night shift runs into the next morning: it overlaps a later shift of its own weekday
  await bad({ shifts: [{ weekday: 3, start: '22:00', end: '06:00' }, { weekday: 3, start: '23:00', end: '23:30' }] },
    ['shifts[0]', 'shifts[1]']);
  await bad({ shifts: [{ weekday: 8, start: '24:00', end: '7:00' }] },
    ['shifts[0].weekday', 'shifts[0].start', 'shifts[0].end']);
  await bad({ shifts: [] }, ['shifts']);
  await bad({ shifts: 'all week' }, ['shifts']);
  await bad({ holidays: ['2026-02-30', 20261225] }, ['holidays[0]', 'holidays[1]']);
  await bad({ shifts: Array.from({ length: 101 }, (_, i) => ({ weekday: 1 + (i % 7), start: '00:00', end: '00:01' })) },
    ['shifts']);
  assertError(await srv.req('PUT', '/api/tenant/calendar', { token: admin, json: [1] }), 400, 'validation_failed');
  assertError(await srv.req('PUT', '/api/tenant/calendar', { token: admin, body: '{"shifts": [}', headers: { 'content-type': 'application/json' } }),
    400, 'invalid_json');
  assert.equal(sql("SELECT COUNT(*) AS n FROM tenant_calendars")[0].n, 0, 'nothing was written');
});

test('a calendar written is read back, survives a restart, and follows the tenant timezone', async () => {
  const json = {
    shifts: [{ weekday: 1, start: '22:00', end: '06:00' }, { weekday: 1, start: '06:00', end: '14:00' }],
    holidays: ['2026-12-25', '2026-12-25', '2027-01-01'],
  };
  const r = await srv.req('PUT', '/api/tenant/calendar', { token: admin, json });
  assert.equal(r.status, 200, r.text);
  const expected = {
    timezone: 'UTC',
    shifts: [{ weekday: 1, start: '06:00', end: '14:00' }, { weekday: 1, start: '22:00', end: '06:00' }],
    holidays: ['2026-12-25', '2027-01-01'],
  };
  assert.deepEqual(r.body, expected);
  assert.equal(sql("SELECT COUNT(*) AS n FROM audit_log WHERE event_type = 'calendar_updated'")[0].n, 1);
  // holidays alone: the shifts stay
  const h = await srv.req('PUT', '/api/tenant/calendar', { token: admin, json: { holidays: [] } });
  assert.equal(h.status, 200, h.text);
  assert.deepEqual(h.body, { ...expected, holidays: [] });

  await srv.restart();
  admin = await srv.token('admin');
  viewer = await srv.token('viewer');
  const g = await srv.req('GET', '/api/tenant/calendar', { token: viewer });
  assert.deepEqual(g.body, { ...expected, holidays: [] });

  const t = await srv.req('PUT', '/api/tenant', { token: admin, json: { timezone: 'Europe/Berlin' } });
  assert.equal(t.status, 200, t.text);
  const z = await srv.req('GET', '/api/tenant/calendar', { token: viewer });
  assert.equal(z.body.timezone, 'Europe/Berlin');
  assert.equal((await srv.req('PUT', '/api/tenant', { token: admin, json: { timezone: 'UTC' } })).status, 200);
});

test('orders are projected on the centre capacity in position order; backlog and on_hold are null', async () => {
  assert.equal((await srv.req('PUT', '/api/tenant/calendar', { token: admin, json: { shifts: AROUND_THE_CLOCK } })).status, 200);
  const wc = await srv.req('POST', '/api/work-centres', { token: admin, json: { code: 'E2E', name: 'Projection line', capacity: 1 } });
  assert.equal(wc.status, 201, wc.text);
  assert.equal(wc.body.defaultOperationMinutes, 60);
  assert.equal(wc.body.wipPolicy, 'soft');
  assert.equal(wc.body.wipLimit, null);
  const mk = async (n, extra = {}) => {
    const r = await srv.req('POST', '/api/orders', {
      token: scheduler,
      json: { orderNumber: `SCH-${n}`, stockCode: 'S', description: 'projected', quantityToMake: 10, workCentreId: wc.body.id, ...extra },
    });
    assert.equal(r.status, 201, r.text);
    return r.body.id;
  };
  const a = await mk('A', { dueDate: '2999-12-31' });
  // 90 planned minutes for 10 pieces here, then a pending step at no centre (60 default)
  const b = await mk('B', {
    dueDate: '2000-01-03',
    steps: [{ operationName: 'weld', workCentreId: wc.body.id, plannedDurationMinutes: 90 }, { operationName: 'pack' }],
  });
  const c = await mk('C');
  const held = await mk('H', { status: 'on_hold' });
  const loose = await mk('L', { workCentreId: null });

  let s = await srv.req('GET', '/api/planning-board/schedule', { token: viewer });
  assert.equal(s.status, 200, s.text);
  let at = Date.parse(s.body.scheduleAt);
  assert.equal(at % MIN, 0, 'scheduleAt is a whole minute');
  let byId = new Map(s.body.data.map((e) => [e.orderId, e]));
  assert.deepEqual(byId.get(a), { orderId: a, projectedStart: iso(at), projectedFinish: iso(at + 60 * MIN), late: false });
  assert.deepEqual(byId.get(b), { orderId: b, projectedStart: iso(at + 60 * MIN), projectedFinish: iso(at + 210 * MIN), late: true });
  assert.deepEqual(byId.get(c), { orderId: c, projectedStart: iso(at + 150 * MIN), projectedFinish: iso(at + 210 * MIN), late: false });
  assert.deepEqual(byId.get(held), { orderId: held, projectedStart: null, projectedFinish: null, late: null });
  assert.deepEqual(byId.get(loose), { orderId: loose, projectedStart: null, projectedFinish: null, late: null });

  // the same values on the board, on the order and in the list
  const board = await srv.req('GET', '/api/planning-board', { token: viewer });
  assert.equal(board.body.scheduleAt, s.body.scheduleAt);
  const col = board.body.workCentres.find((w) => w.id === wc.body.id);
  assert.deepEqual(col.orders.map((o) => [o.id, o.projectedStart, o.projectedFinish, o.late]),
    [a, b, c, held].map((id) => [id, byId.get(id).projectedStart, byId.get(id).projectedFinish, byId.get(id).late]));
  const one = await srv.req('GET', `/api/orders/${b}`, { token: viewer });
  assert.equal(one.body.projectedFinish, iso(at + 210 * MIN));
  assert.equal(one.body.late, true);

  // C to the top: the column follows at the next read
  const mv = await srv.req('PUT', `/api/orders/${c}/move`, { token: scheduler, json: { toWorkCentreId: wc.body.id, position: 0 } });
  assert.equal(mv.status, 200, mv.text);
  s = await srv.req('GET', '/api/planning-board/schedule', { token: viewer });
  at = Date.parse(s.body.scheduleAt);
  byId = new Map(s.body.data.map((e) => [e.orderId, e]));
  assert.equal(byId.get(c).projectedStart, iso(at));
  assert.equal(byId.get(a).projectedStart, iso(at + 60 * MIN));
  assert.equal(byId.get(b).projectedFinish, iso(at + 270 * MIN));
  // every order of the board is listed once
  const all = await srv.req('GET', '/api/orders?limit=500', { token: viewer });
  assert.equal(s.body.data.length, all.body.total);

  // back to the default calendar: the weekend and nights count no more (finish >= 60 min later)
  assert.equal((await srv.req('PUT', '/api/tenant/calendar', { token: admin, json: { shifts: [1, 2, 3, 4, 5].map((weekday) => ({ weekday, start: '08:00', end: '16:00' })) } })).status, 200);
  s = await srv.req('GET', '/api/planning-board/schedule', { token: viewer });
  const e = s.body.data.find((x) => x.orderId === c);
  assert.ok(Date.parse(e.projectedFinish) - Date.parse(e.projectedStart) >= 60 * MIN, JSON.stringify(e));
  const day = new Date(e.projectedStart).getUTCDay();
  assert.ok(day >= 1 && day <= 5, `starts on a weekday: ${e.projectedStart}`);
});

test('work centres take wipLimit, wipPolicy and defaultOperationMinutes; the projection uses the default minutes', async () => {
  assert.equal((await srv.req('PUT', '/api/tenant/calendar', { token: admin, json: { shifts: AROUND_THE_CLOCK } })).status, 200);
  const wc = await srv.req('POST', '/api/work-centres', {
    token: admin,
    json: { code: 'E2E2', name: 'Second line', capacity: 2, wipLimit: 5, wipPolicy: 'hard', defaultOperationMinutes: 45 },
  });
  assert.equal(wc.status, 201, wc.text);
  assert.equal(wc.body.wipLimit, 5);
  assert.equal(wc.body.wipPolicy, 'hard');
  assert.equal(wc.body.defaultOperationMinutes, 45);
  const id = wc.body.id;
  assert.deepEqual(sql(`SELECT wip_limit, wip_policy, default_operation_minutes FROM work_centres WHERE id = ${id}`),
    [{ wip_limit: 5, wip_policy: 'hard', default_operation_minutes: 45 }]);

  const bad = async (json, fields) => {
    const r = await srv.req('PUT', `/api/work-centres/${id}`, { token: admin, json });
    assertError(r, 400, 'validation_failed');
    assert.deepEqual(r.body.details.map((d) => d.field).sort(), [...fields].sort(), r.text);
  };
  await bad({ wipLimit: 0 }, ['wipLimit']);
  await bad({ wipPolicy: 'strict', defaultOperationMinutes: 0 }, ['wipPolicy', 'defaultOperationMinutes']);
  await bad({ defaultOperationMinutes: 1.5 }, ['defaultOperationMinutes']);

  const o = await srv.req('POST', '/api/orders', {
    token: scheduler,
    json: { orderNumber: 'SCH-W', stockCode: 'S', description: 'default minutes', quantityToMake: 1, workCentreId: id },
  });
  assert.equal(o.status, 201, o.text);
  const finishOf = async () => {
    const s = await srv.req('GET', '/api/planning-board/schedule', { token: viewer });
    const e = s.body.data.find((x) => x.orderId === o.body.id);
    return (Date.parse(e.projectedFinish) - Date.parse(e.projectedStart)) / MIN;
  };
  assert.equal(await finishOf(), 45);
  const up = await srv.req('PUT', `/api/work-centres/${id}`, { token: admin, json: { defaultOperationMinutes: 90, wipLimit: null, wipPolicy: 'soft' } });
  assert.equal(up.status, 200, up.text);
  assert.equal(up.body.wipLimit, null);
  assert.equal(up.body.wipPolicy, 'soft');
  assert.equal(await finishOf(), 90);
  const audit = sql(`SELECT event_data FROM audit_log WHERE event_type = 'work_centre_updated' ORDER BY id DESC LIMIT 1`);
  assert.deepEqual(JSON.parse(audit[0].event_data).fields.sort(), ['defaultOperationMinutes', 'wipLimit', 'wipPolicy']);
});

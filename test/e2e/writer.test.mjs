// The write path off the loop (issue 9 item 1, docs/writer.md): imports and moves commit on
// the writer thread; while an import is in flight the loop keeps answering everyone; a move,
// an order create and a work centre create of another tenant queue at the writer behind it, a
// loop-side write (a drag lock's start-move) waits for the writer to be idle; all then happen,
// nothing lost. Work centres, the calendar and tenant settings commit on the writer too, in
// the order they came.
//
// To hold the import in flight for as long as the test needs, another process holds the
// database's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: every table locked EXCLUSIVE):
// the writer thread waits for it (SQLite: busy timeout 5 s), the loop does not. Conditions are read from /metrics, never guessed with sleeps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startServer, sample, until, OTHER_PASSWORD, boardOrders, PG_URL } from './lib.mjs';

let srv, tok = {}, other;
before(async () => {
  srv = await startServer();
  tok.scheduler = await srv.token('scheduler');
  await srv.createTenant('other', 'boss', OTHER_PASSWORD, 'Other Works');
  const ot = await srv.token('boss', OTHER_PASSWORD, 'other');
  const wc = await srv.req('POST', '/api/work-centres', { token: ot, json: { code: 'OX', name: 'Other X' } });
  assert.equal(wc.status, 201, wc.text);
  const o = await srv.req('POST', '/api/orders', { token: ot,
    json: { orderNumber: 'O-1', stockCode: 'S', description: 'other order', quantityToMake: 1 } });
  assert.equal(o.status, 201, o.text);
  other = { token: ot, wcId: wc.body.id, orderId: o.body.id };
});
const holders = new Set();
after(async () => {
  for (const p of holders) p.kill('SIGKILL');      // a failed test must not keep the lock
  if (srv) await srv.stop();
});

/**
 * Wait until the writer has nothing outstanding: a join (or any board read) renews the
 * projection when the minute changed since it was computed (SPEC §9), and publishing that
 * schedule_updated is a writer job on PostgreSQL; a test counting writer jobs reads its
 * baseline after it (once in about six runs the minute changed between two tests).
 */
async function quiet() {
  await srv.settled();
  await until(async () => await metric('planboard_writer_outstanding') === 0,
    { what: 'the writer to have nothing outstanding' });
}

/**
 * Another process holding the database's write lock until release(). SQLite: python3's sqlite3
 * in BEGIN IMMEDIATE. PostgreSQL: psql in a transaction holding every table of the schema in
 * EXCLUSIVE mode (plain SELECTs go on; every INSERT, UPDATE, DELETE and SELECT ... FOR UPDATE
 * waits for the COMMIT).
 */
async function holdWriteLock() {
  const py = PG_URL
    ? spawn('psql', [srv.pgUrl(), '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn('python3', ['-c', `
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute('BEGIN IMMEDIATE')
print('locked', flush=True)
sys.stdin.readline()
c.execute('COMMIT')
print('released', flush=True)
`, join(srv.dir, 'pb.db')], { stdio: ['pipe', 'pipe', 'inherit'] });
  holders.add(py);
  py.on('exit', () => holders.delete(py));
  let out = '';
  py.stdout.on('data', (d) => { out += d; });
  if (PG_URL) {
    py.stdin.write(`BEGIN;
DO $$ BEGIN EXECUTE (SELECT 'LOCK TABLE ' || string_agg(format('%I', tablename), ', ') || ' IN EXCLUSIVE MODE'
  FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'drag_locks'); END $$;
SELECT 'locked';
`);
  }
  await until(() => out.includes('locked'), { what: 'the lock holder to lock', abort: () => py.exitCode !== null && `exit ${py.exitCode}` });
  return {
    release: async () => {
      py.stdin.end(PG_URL ? "COMMIT;\nSELECT 'released';\n" : '\n');
      await until(() => out.includes('released'), { what: 'the lock holder to release' });
    },
  };
}

function metricIn(t, name) {
  const m = t.match(new RegExp(`^${name} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : NaN;
}
// The writer's jobs and outstanding jobs of the requests: the room event log's own writer jobs
// (room_log.c; they come whenever events are published) are taken out.
const LOG_PART = {
  planboard_writer_jobs_total: 'planboard_room_log_jobs_total',
  planboard_writer_outstanding: 'planboard_room_log_in_flight',
};
async function metric(name) {
  const t = (await srv.req('GET', '/metrics')).text;
  return metricIn(t, name) - (LOG_PART[name] ? metricIn(t, LOG_PART[name]) : 0);
}

test('an import in flight on the writer: the loop answers, another tenant\'s move waits for it and then lands', async () => {
  const ws = await srv.ws(other.token);
  await quiet();
  const jobsBefore = await metric('planboard_writer_jobs_total');
  const waitsBefore = await metric('planboard_writer_exclusive_waits_total');

  const lock = await holdWriteLock();
  let importDone = false, moveDone = false;
  const imp = srv.req('POST', '/api/orders/import', { token: tok.scheduler,
    body: sample('orders-erp-export.csv'), headers: { 'content-type': 'text/csv' } })
    .then((r) => { importDone = true; return r; });
  await until(async () => await metric('planboard_writer_outstanding') === 1,
    { what: 'the import to reach the writer' });
  assert.equal(await metric('planboard_writer_jobs_total'), jobsBefore + 1);

  // the loop is free: health, another tenant's board, a WebSocket ping
  const h = await srv.req('GET', '/api/health');
  assert.equal(h.status, 200, h.text);
  const ob = await srv.req('GET', '/api/planning-board', { token: other.token });
  assert.equal(ob.status, 200, ob.text);
  assert.equal((await ws.request('ping')).event, 'pong');

  // a move of another tenant queues at the writer behind the import (not refused, not lost);
  // a loop-side write (create) is parked until the writer is idle
  const mv = srv.req('PUT', `/api/orders/${other.orderId}/move`,
    { token: other.token, json: { toWorkCentreId: other.wcId, position: 0 } })
    .then((r) => { moveDone = true; return r; });
  await until(async () => await metric('planboard_writer_outstanding') === 2,
    { what: 'the move to queue at the writer' });
  const cr = srv.req('POST', '/api/orders', { token: other.token,
    json: { orderNumber: 'O-2', stockCode: 'S', description: 'made during the import', quantityToMake: 1 } });
  await until(async () => await metric('planboard_writer_outstanding') === 3,
    { what: 'the create to queue at the writer' });
  const wcr = srv.req('POST', '/api/work-centres', { token: other.token, json: { code: 'OY', name: 'Other Y' } });
  await until(async () => await metric('planboard_writer_outstanding') === 4,
    { what: 'the work centre create to wait behind the create of its tenant' });
  // SQLite: a drag lock writes nothing to the database: answered now, not held behind the
  // writer. PostgreSQL (SPEC §12): the lock is a row logged with its order_locked by a writer
  // job in the tenant's gate: it waits behind the tenant's writes, and the loop still answers.
  const sm = srv.req('POST', `/api/orders/${other.orderId}/start-move`, { token: other.token });
  if (PG_URL) {
    await until(async () => await metric('planboard_writer_outstanding') === 5,
      { what: 'the lock to queue behind its tenant\'s writes' });
    assert.equal((await srv.req('GET', '/api/health')).status, 200);
  } else {
    const smr = await sm;
    assert.equal(smr.status, 200, smr.text);
  }
  assert.equal(await metric('planboard_writer_held'), 0);
  assert.equal(importDone, false, 'the import waits for the lock');
  assert.equal(moveDone, false, 'the move waits for the import');

  await lock.release();
  const ir = await imp;
  assert.equal(ir.status, 200, ir.text);
  assert.equal(ir.body.created, 5, ir.text);
  const mr = await mv;
  assert.equal(mr.status, 200, mr.text);
  assert.equal(mr.body.workCentreId, other.wcId, mr.text);
  const crr = await cr;
  assert.equal(crr.status, 201, crr.text);
  assert.equal(crr.body.orderNumber, 'O-2', crr.text);
  const wcrr = await wcr;
  assert.equal(wcrr.status, 201, wcrr.text);
  const smr = await sm;
  assert.equal(smr.status, 200, smr.text);
  const em = await srv.req('POST', `/api/orders/${other.orderId}/end-move`, { token: other.token });
  assert.equal(em.status, 204, em.text);
  await ws.waitFor((m) => m.event === 'order_moved' && m.data.order.id === other.orderId);
  assert.equal(await metric('planboard_writer_exclusive_waits_total'), waitsBefore,
    'no request waited as an exclusive: every write is a writer job');
  assert.equal(await metric('planboard_writer_held'), 0);

  // both are in the cache and in the database
  const demo = boardOrders((await srv.board(tok.scheduler)).body);
  assert.ok([...demo.values()].some((o) => o.orderNumber === 'J-40001'));
  const after2 = await srv.req('GET', `/api/orders/${other.orderId}`, { token: other.token });
  assert.equal(after2.body.workCentreId, other.wcId);
  ws.close();
});

test('a WebSocket move_order sent during an import is answered after it, the messages behind it after the move', async () => {
  const ws = await srv.ws(other.token);
  const lock = await holdWriteLock();
  const imp = srv.req('POST', '/api/orders/import', { token: tok.scheduler,
    body: sample('orders-erp-export.csv'), headers: { 'content-type': 'text/csv' } });
  await until(async () => await metric('planboard_writer_outstanding') === 1,
    { what: 'the import to reach the writer' });
  ws.send({ event: 'move_order', ref: 'm1',
    data: { orderId: other.orderId, toWorkCentreId: null, position: 0 } });
  // refused at once (no such work centre), but answered after m1, in the order sent
  ws.send({ event: 'move_order', ref: 'm2',
    data: { orderId: other.orderId, toWorkCentreId: 999999 } });
  ws.send({ event: 'ping', ref: 'p2' });
  await until(async () => await metric('planboard_writer_outstanding') === 2,
    { what: 'the move_order to queue at the writer' });
  assert.equal(ws.messages.filter((m) => ['m1', 'm2', 'p2'].includes(m.ref)).length, 0,
    'the refusal and the ping wait behind the move');
  await lock.release();
  assert.equal((await imp).status, 200);
  const ack = await ws.waitFor((m) => m.ref === 'm1');
  assert.equal(ack.event, 'ack', JSON.stringify(ack));
  await ws.waitFor((m) => m.ref === 'p2');
  const answers = ws.messages.filter((m) => ['m1', 'm2', 'p2'].includes(m.ref));
  assert.deepEqual(answers.map((m) => `${m.ref}:${m.event}`), ['m1:ack', 'm2:error', 'p2:pong'],
    'answers in the order the messages came');
  ws.close();
});

test('sessions, users and API keys are writer jobs: they wait for a held write lock, the loop does not', async () => {
  const admin = await srv.token('admin');
  const gone = (await srv.login('viewer')).body;          // a session to log out
  const jobsBefore = await metric('planboard_writer_jobs_total');
  const outBefore = await metric('planboard_writer_outstanding');
  const lock = await holdWriteLock();
  const results = {};
  const track = (name, p) => p.then((r) => { results[name] = r; return r; });
  const waitOutstanding = (n, what) => until(async () =>
    await metric('planboard_writer_outstanding') === outBefore + n, { what });

  const login = track('login', srv.login('scheduler'));
  await waitOutstanding(1, 'the login\'s session row to queue at the writer');
  const logout = track('logout', srv.req('POST', '/api/auth/logout', { token: gone.accessToken }));
  await waitOutstanding(2, 'the logout to queue at the writer');
  const user = track('user', srv.req('POST', '/api/users', { token: admin, json: {
    username: 'held-lock', email: 'held-lock@example.com', password: 'held-lock-password-1',
    role: 'viewer', firstName: 'Held', lastName: 'Lock' } }));
  await waitOutstanding(3, 'the user create to queue at the writer (after its hash)');
  const key = track('key', srv.req('POST', '/api/api-keys', { token: admin, json: { name: 'held' } }));
  await waitOutstanding(4, 'the API key create to queue at the writer');

  // the loop answers meanwhile; none of the four is answered before the lock goes
  assert.equal((await srv.req('GET', '/api/health')).status, 200);
  assert.equal((await srv.board(tok.scheduler)).status, 200);
  assert.deepEqual(Object.keys(results), []);

  await lock.release();
  assert.equal((await login).status, 200, results.login?.text);
  assert.equal((await logout).status, 204, results.logout?.text);
  assert.equal((await user).status, 201, results.user?.text);
  assert.equal((await key).status, 201, results.key?.text);
  assert.equal(await metric('planboard_writer_jobs_total'), jobsBefore + 4);
  assert.equal(await metric('planboard_writer_held'), 0);

  // each happened: the new session works, the logged-out one is refused, the user can log in,
  // the key is listed
  const me = await srv.req('GET', '/api/auth/me', { token: results.login.body.accessToken });
  assert.equal(me.status, 200, me.text);
  assert.equal((await srv.req('GET', '/api/auth/me', { token: gone.accessToken })).status, 401);
  assert.equal((await srv.req('POST', '/api/auth/refresh',
    { json: { refreshToken: gone.refreshToken } })).status, 401);
  assert.equal((await srv.login('held-lock', 'held-lock-password-1')).status, 200);
  const keys = await srv.req('GET', '/api/api-keys', { token: admin });
  assert.ok(keys.body.data.some((k) => k.name === 'held'), keys.text);
});

test('an order update and a scanner event sent while the writer is held are answered after it, in order, on the board they were sent to', async () => {
  const key = await srv.req('POST', '/api/api-keys', { token: other.token, json: { name: 'line 1' } });
  assert.equal(key.status, 201, key.text);
  const cr = await srv.req('POST', '/api/orders', { token: other.token,
    json: { orderNumber: 'O-9', stockCode: 'S', description: 'before', quantityToMake: 4 } });
  assert.equal(cr.status, 201, cr.text);
  const id = cr.body.id, v0 = cr.body.version;
  await srv.settled();                  // PostgreSQL: order_created is out before the join
  const ws = await srv.ws(other.token);
  await quiet();
  const jobsBefore = await metric('planboard_writer_jobs_total');

  const lock = await holdWriteLock();
  const answered = [];
  const up = srv.req('PUT', `/api/orders/${id}`, { token: other.token,
    json: { version: v0, description: 'edited while the writer was held' } })
    .then((r) => { answered.push('update'); return r; });
  await until(async () => await metric('planboard_writer_outstanding') === 1,
    { what: 'the update to reach the writer' });
  const sc = srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': key.body.key },
    json: { eventId: 'held-1', orderNumber: 'O-9', workCentreCode: 'OX', eventType: 'job_start' } })
    .then((r) => { answered.push('scanner'); return r; });
  await until(async () => await metric('planboard_writer_outstanding') === 2,
    { what: 'the scanner event to wait behind the update (same tenant)' });
  assert.equal(await metric('planboard_writer_jobs_total'), jobsBefore + 2);

  // the loop is free meanwhile; nothing is answered, nothing is on the board yet
  const h = await srv.req('GET', '/api/health');
  assert.equal(h.status, 200, h.text);
  const still = await srv.req('GET', `/api/orders/${id}`, { token: other.token });
  assert.equal(still.body.description, 'before', 'an in-flight write is invisible');
  assert.deepEqual(answered, []);

  await lock.release();
  const ur = await up;
  assert.equal(ur.status, 200, ur.text);
  assert.equal(ur.body.description, 'edited while the writer was held');
  assert.equal(ur.body.version, v0 + 1);
  const sr = await sc;
  assert.equal(sr.status, 202, sr.text);
  assert.equal(sr.body.applied, true, sr.text);
  assert.equal(sr.body.moved, true, sr.text);
  // the scanner event was prepared on the board with the update applied: in commit order
  assert.equal(sr.body.order.description, 'edited while the writer was held');
  assert.equal(sr.body.order.version, v0 + 2);
  assert.deepEqual(answered, ['update', 'scanner']);

  // the room saw them in the same order
  await ws.waitFor((m) => m.event === 'order_moved' && m.data.order.id === id);
  const evs = ws.messages.filter((m) => m.data?.order?.id === id).map((m) => m.event);
  assert.deepEqual(evs.slice(0, 2), ['order_updated', 'order_moved'], JSON.stringify(evs));
  // a retry of the event is a duplicate, through the writer too
  const again = await srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': key.body.key },
    json: { eventId: 'held-1', orderNumber: 'O-9', workCentreCode: 'OX', eventType: 'job_start' } });
  assert.equal(again.status, 202, again.text);
  assert.equal(again.body.duplicate, true, again.text);
  assert.equal(await metric('planboard_writer_jobs_total'), jobsBefore + 3);
  ws.close();
});

test('a work centre create, a calendar PUT and a tenant PUT while the writer is held: answered after it, in order, the loop answering meanwhile', async () => {
  const ws = await srv.ws(other.token);
  await quiet();
  const jobsBefore = await metric('planboard_writer_jobs_total');
  const waitsBefore = await metric('planboard_writer_exclusive_waits_total');
  const lock = await holdWriteLock();
  const answered = [];
  const track = (name, p) => p.then((r) => { answered.push(name); return r; });

  const wcr = track('work centre', srv.req('POST', '/api/work-centres',
    { token: other.token, json: { code: 'OZ', name: 'Other Z', capacity: 2 } }));
  await until(async () => await metric('planboard_writer_outstanding') === 1,
    { what: 'the work centre create to reach the writer' });
  const shifts = [{ weekday: 2, start: '06:00', end: '14:00' }];
  const cal = track('calendar', srv.req('PUT', '/api/tenant/calendar',
    { token: other.token, json: { shifts, holidays: ['2027-01-01'] } }));
  await until(async () => await metric('planboard_writer_outstanding') === 2,
    { what: 'the calendar PUT to wait behind it' });
  const ten = track('tenant', srv.req('PUT', '/api/tenant',
    { token: other.token, json: { timezone: 'Europe/Berlin' } }));
  await until(async () => await metric('planboard_writer_outstanding') === 3,
    { what: 'the tenant PUT to wait behind them' });
  assert.equal(await metric('planboard_writer_jobs_total'), jobsBefore + 3);

  // the loop answers meanwhile, from the cache as it was
  const h = await srv.req('GET', '/api/health');
  assert.equal(h.status, 200, h.text);
  const before = await srv.req('GET', '/api/tenant/calendar', { token: other.token });
  assert.equal(before.body.timezone, 'UTC', before.text);
  assert.ok(!before.body.shifts.some((x) => x.weekday === 2 && x.start === '06:00'), before.text);
  const wcs = await srv.req('GET', '/api/work-centres', { token: other.token });
  assert.ok(!JSON.stringify(wcs.body).includes('"OZ"'), wcs.text);
  assert.deepEqual(answered, [], 'nothing is answered before the commit');

  await lock.release();
  const [w, c, t] = await Promise.all([wcr, cal, ten]);
  assert.equal(w.status, 201, w.text);
  assert.equal(w.body.code, 'OZ');
  assert.equal(w.body.capacity, 2);
  assert.equal(c.status, 200, c.text);
  assert.deepEqual(c.body.shifts, shifts, c.text);
  assert.deepEqual(c.body.holidays, ['2027-01-01'], c.text);
  assert.equal(c.body.timezone, 'UTC', 'the calendar PUT came before the tenant PUT');
  assert.equal(t.status, 200, t.text);
  assert.equal(t.body.timezone, 'Europe/Berlin', t.text);
  assert.deepEqual(answered, ['work centre', 'calendar', 'tenant'], 'answered in the order they came');
  const ev = await ws.waitFor((m) => m.event === 'work_centre_updated'
    && m.data.workCentres.some((x) => x.code === 'OZ'));
  assert.ok(ev);
  // the board's cache took all three
  const now = await srv.req('GET', '/api/tenant/calendar', { token: other.token });
  assert.equal(now.body.timezone, 'Europe/Berlin', now.text);
  assert.deepEqual(now.body.shifts, shifts, now.text);
  assert.ok(JSON.stringify((await srv.req('GET', '/api/work-centres', { token: other.token })).body).includes('"OZ"'));
  assert.equal(await metric('planboard_writer_jobs_total'), jobsBefore + 3);
  assert.equal(await metric('planboard_writer_exclusive_waits_total'), waitsBefore,
    'none of them was a loop-side write');
  ws.close();
});

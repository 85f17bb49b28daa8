// Issue 13: "the loop must never wait on a PostgreSQL round trip". A read that PostgreSQL
// makes wait (here: a table locked by another session) must not stop the server from serving
// everyone else: reads go through the reader thread (server/reads.c), the loop goes on.
// On SQLite reads stay on the loop (a local read), so these are PostgreSQL tests.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startServer, until, BACKEND } from './lib.mjs';

const PG = BACKEND === 'postgresql' ? false : 'needs PostgreSQL (PB_TEST_PG)';
let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

/** Another session that holds `lock` (a LOCK TABLE statement) until release() is called. */
async function holdLock(server, lock) {
  const p = spawn('psql', [server.pgUrl(), '-X', '-q', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  p.stdin.write(`BEGIN; ${lock}; SELECT 'locked';\n`);
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  await until(() => out.includes('locked') || p.exitCode !== null, { timeout: 10000, what: `psql: ${lock}` });
  assert.ok(out.includes('locked'), `psql: ${err}`);
  return {
    release: () => new Promise((resolve) => { p.on('exit', resolve); p.stdin.end('COMMIT;\n'); }),
  };
}

test('an audit-log read that PostgreSQL makes wait does not stop the loop', { skip: PG }, async () => {
  const token = await srv.token('admin');
  const lock = await holdLock(srv, 'LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE');
  let answered = null;
  const pending = srv.req('GET', '/api/audit-log?limit=5', { token }).then((r) => { answered = r; return r; });
  // the dashboard reads audit_log too (today's production): it waits behind, off the loop
  let dashAnswered = null;
  const dash = srv.req('GET', '/api/analytics/dashboard', { token }).then((r) => { dashAnswered = r; return r; });
  try {
    // the read reached PostgreSQL and waits there on the lock
    await until(() => srv.sql("SELECT count(*) AS n FROM pg_locks WHERE NOT granted")[0].n > 0,
      { timeout: 5000, what: 'the audit read waiting on the lock' });
    // meanwhile the loop serves others: health, the board (from the cache), a WebSocket join
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    const b = await srv.board(token);
    assert.equal(b.status, 200, b.text);
    assert.equal(answered, null, 'the audit read was answered while its table was locked');
    assert.equal(dashAnswered, null, 'the dashboard was answered while audit_log was locked');
  } finally {
    await lock.release();
  }
  const dr = await dash;
  assert.equal(dr.status, 200, dr.text);
  assert.equal(typeof dr.body.activeOrders, 'number');
  const r = await pending;
  assert.equal(r.status, 200, r.text);
  assert.ok(Array.isArray(r.body.data) && r.body.data.length > 0);
});

test('the audit log still answers its validation errors at once, and a client gone before the answer is harmless', { skip: PG }, async () => {
  const token = await srv.token('admin');
  const bad = await srv.req('GET', '/api/audit-log?since=yesterday&limit=-1', { token });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.body.code, 'validation_failed');
  assert.deepEqual(bad.body.details.map((d) => d.field).sort(), ['limit', 'since']);
  // a read whose client hangs up while it waits: the server stays up and answers the next
  const lock = await holdLock(srv, 'LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE');
  const ac = new AbortController();
  const gone = fetch(`${srv.base}/api/audit-log`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal })
    .catch((e) => e);
  await until(() => srv.sql("SELECT count(*) AS n FROM pg_locks WHERE NOT granted")[0].n > 0,
    { timeout: 5000, what: 'the audit read waiting on the lock' });
  ac.abort();
  await gone;
  await lock.release();
  const ok = await srv.req('GET', '/api/audit-log?since=2020-01-01&limit=2', { token });
  assert.equal(ok.status, 200, ok.text);
  assert.ok(ok.body.data.length <= 2);
});

test('an order read whose routing steps PostgreSQL makes wait does not stop the loop', { skip: PG }, async () => {
  const token = await srv.token('admin');
  const board = (await srv.board(token)).body;
  const order = board.workCentres.flatMap((w) => w.orders)[0] ?? board.backlog[0];
  const lock = await holdLock(srv, 'LOCK TABLE order_steps IN ACCESS EXCLUSIVE MODE');
  let answered = null;
  const pending = srv.req('GET', `/api/orders/${order.id}`, { token }).then((r) => { answered = r; return r; });
  try {
    await until(() => srv.sql("SELECT count(*) AS n FROM pg_locks WHERE NOT granted")[0].n > 0,
      { timeout: 5000, what: 'the steps read waiting on the lock' });
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    assert.equal(answered, null, 'the order was answered while its steps were locked');
  } finally {
    await lock.release();
  }
  const r = await pending;
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.id, order.id);
  assert.ok(Array.isArray(r.body.steps));
});

function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

test('REST moves do not read their user\'s name on the loop each time; a rename shows at once', async () => {
  const admin = await srv.token('admin');
  const users = (await srv.req('GET', '/api/users', { token: admin })).body.data;
  const sched = users.find((u) => u.username === 'scheduler');
  const token = await srv.token('scheduler');
  const c = await srv.ws(admin);
  const { byCode } = await srv.workCentres(token);
  const board = (await srv.board(token)).body;
  const order = board.backlog[0] ?? board.workCentres[0].orders[0];
  const move = async (to) => {
    const r = await srv.req('PUT', `/api/orders/${order.id}/move`, { token, json: { toWorkCentreId: to, position: 0 } });
    assert.equal(r.status, 200, r.text);
    return r.body.version;
  };
  const codes = Object.keys(byCode);
  await move(byCode[codes[0]]);
  const m0 = metric((await srv.req('GET', '/metrics')).text, 'planboard_loop_db_round_trips_total');
  const N = 20;
  for (let i = 1; i <= N; i++) await move(byCode[codes[i % codes.length]]);
  const m1 = metric((await srv.req('GET', '/metrics')).text, 'planboard_loop_db_round_trips_total');
  if (BACKEND === 'postgresql')      // the name was read once, before m0
    assert.ok(m1 - m0 < 1.5 * N, `${m1 - m0} loop round trips for ${N} REST moves`);
  // renamed through this server: the next move names the new name
  const ren = await srv.req('PUT', `/api/users/${sched.id}`, { token: admin, json: { username: 'planner2' } });
  assert.equal(ren.status, 200, ren.text);
  const v = await move(byCode[codes[1]]);
  const ev = await c.waitFor((m) => m.event === 'order_moved' && m.data.order.id === order.id && m.data.order.version === v);
  assert.equal(ev.data.movedBy.username, 'planner2');
  const back = await srv.req('PUT', `/api/users/${sched.id}`, { token: admin, json: { username: 'scheduler' } });
  assert.equal(back.status, 200, back.text);
  c.close();
});

test('a field update whose answer\'s routing steps PostgreSQL makes wait does not stop the loop', { skip: PG }, async () => {
  const token = await srv.token('admin');
  const board = (await srv.board(token)).body;
  const order = board.workCentres.flatMap((w) => w.orders)[0] ?? board.backlog[0];
  const lock = await holdLock(srv, 'LOCK TABLE order_steps IN ACCESS EXCLUSIVE MODE');
  let answered = null;
  const pending = srv.req('PUT', `/api/orders/${order.id}`, { token, json: { description: 'steps locked', version: order.version } })
    .then((r) => { answered = r; return r; });
  try {
    await until(() => srv.sql("SELECT count(*) AS n FROM pg_locks WHERE NOT granted")[0].n > 0,
      { timeout: 5000, what: 'the update\'s steps read waiting on the lock' });
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    const b = await srv.board(token);
    assert.equal(b.status, 200, b.text);
    assert.equal(answered, null, 'the update was answered while its steps were locked');
  } finally {
    await lock.release();
  }
  const r = await pending;
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.description, 'steps locked');
  assert.ok(Array.isArray(r.body.steps));
});

test('a login whose user PostgreSQL makes wait does not stop the loop', { skip: PG }, async () => {
  const lock = await holdLock(srv, 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
  let answered = null;
  const pending = srv.login('viewer').then((r) => { answered = r; return r; });
  try {
    await until(() => srv.sql("SELECT count(*) AS n FROM pg_locks WHERE NOT granted")[0].n > 0,
      { timeout: 5000, what: 'the login\'s user read waiting on the lock' });
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    assert.equal(answered, null, 'the login was answered while users was locked');
  } finally {
    await lock.release();
  }
  const r = await pending;
  assert.equal(r.status, 200, r.text);
  assert.ok(r.body.accessToken);
});

test('a WebSocket join and leave make the loop wait on no presence transaction', async () => {
  const viewer = await srv.token('viewer');
  const sched = await srv.token('scheduler');
  const watcher = await srv.ws(viewer);         // the room exists, its board is cached
  const before = metric((await srv.req('GET', '/metrics')).text, 'planboard_loop_db_round_trips_total');
  const c = await srv.ws(sched);
  await watcher.waitFor((m) => m.event === 'user_joined' && m.data.username === 'scheduler');
  c.close();
  await watcher.waitFor((m) => m.event === 'user_left' && m.data.username === 'scheduler');
  await srv.settled();
  const after = metric((await srv.req('GET', '/metrics')).text, 'planboard_loop_db_round_trips_total');
  // PostgreSQL: the join's online list is still read on the loop (1); the presence changes
  // and their user_joined / user_left rows go through the reader (before: two transactions
  // on the loop, 12 round trips). Timers may add a heartbeat (a few).
  if (BACKEND === 'postgresql') assert.ok(after - before < 8, `${after - before} loop round trips for a join and a leave`);
  watcher.close();
});

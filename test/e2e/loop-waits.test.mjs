// Issue 13: "the loop must never wait on a PostgreSQL round trip". A read that PostgreSQL
// makes wait (here: a table locked by another session) must not stop the server from serving
// everyone else: reads go through the reader thread (server/reads.c), the loop goes on.
// On SQLite reads stay on the loop (a local read), so these are PostgreSQL tests.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import WebSocket from 'ws';
import { startServer, until, BACKEND, OTHER_PASSWORD, WsClient } from './lib.mjs';

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
  // the demo board in the cache (a board not cached is loaded on the reader thread, which is
  // busy with the waiting read below: one reader, reads in turn)
  assert.equal((await srv.board(token)).status, 200);
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
  // PostgreSQL: the presence changes and their user_joined / user_left rows go through the
  // reader (before: two transactions on the loop, 12 round trips), and so do the heartbeats
  // and the connection's own user and tenant at its open (2 more on the loop before).
  if (BACKEND === 'postgresql') assert.ok(after - before < 8, `${after - before} loop round trips for a join and a leave`);
  watcher.close();
});
// ---------------------------------------------------------------- a board's first load
// (server/board_load.c): a tenant's board that is not cached is loaded on the reader thread;
// the requests that need it wait for that one load, the loop serves everyone else meanwhile.

/** A tenant made with `planboard tenant create` (never read by the server), one work centre
 * and one order in it written with SQL: its board is not in the server's cache. */
async function freshTenant(slug) {
  await srv.createTenant(slug);
  const [{ id }] = srv.sql('SELECT id FROM tenants WHERE slug = $1', [slug]);
  const now = '2026-01-05T08:00:00.000Z';
  srv.sql(`INSERT INTO work_centres(tenant_id, code, name, created_at, updated_at)
           VALUES ($1, 'SAW', 'Saw', $2, $2)`, [id, now], { write: true });
  const [{ id: wc }] = srv.sql('SELECT id FROM work_centres WHERE tenant_id = $1', [id]);
  srv.sql(`INSERT INTO orders(tenant_id, order_number, stock_code, description, quantity_to_make,
           work_centre_id, rank, created_at, updated_at)
           VALUES ($1, 'MO-FRESH-1', 'STK-1', 'fresh', 5, $2, 0, $3, $3)`, [id, wc, now], { write: true });
  const token = await srv.token('boss', OTHER_PASSWORD, slug);   // the login reads users, not the board
  return { id, wc, token };
}

/** A WebSocket client past its upgrade, before its hello (the open's reads may still wait). */
async function openBeforeHello(token) {
  const c = new WsClient(new WebSocket(`${srv.wsBase}/ws?token=${encodeURIComponent(token)}`));
  await new Promise((resolve, reject) => { c.ws.once('open', resolve); c.ws.once('error', reject); });
  return c;
}

const waitingOnLock = () => srv.sql('SELECT count(*) AS n FROM pg_locks WHERE NOT granted')[0].n > 0;

test('a tenant\'s first board read waits off the loop while orders is locked, and is answered with its board after', { skip: PG }, async () => {
  const t = await freshTenant('fresh-one');
  assert.equal((await srv.board(await srv.token('admin'))).status, 200);   // demo's: cached
  const loads0 = metric((await srv.req('GET', '/metrics')).text, 'planboard_board_loads_total');
  const lock = await holdLock(srv, 'LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
  let answered = null;
  const pending = srv.req('GET', '/api/planning-board', { token: t.token, timeout: 20000 })
    .then((r) => { answered = r; return r; });
  try {
    await until(waitingOnLock, { timeout: 5000, what: 'the board load waiting on the lock' });
    // the loop goes on: health and another tenant's (cached) board answer
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    const demo = await srv.board(await srv.token('admin'));
    assert.equal(demo.status, 200, demo.text);
    // (an inline load on the loop's connection fails after its 100 ms lock_timeout: answered
    // with an error, never with the board below)
    assert.ok(waitingOnLock(), 'the load still waits');
    assert.equal(answered, null, 'the board was answered while orders was locked');
  } finally {
    await lock.release();
  }
  const r = await pending;
  assert.equal(r.status, 200, r.text);
  const orders = r.body.workCentres.flatMap((w) => w.orders.map((o) => ({ ...o, wc: w.id })));
  assert.deepEqual(orders.map((o) => [o.orderNumber, o.wc]), [['MO-FRESH-1', t.wc]]);
  const loads1 = metric((await srv.req('GET', '/metrics')).text, 'planboard_board_loads_total');
  assert.equal(loads1 - loads0, 1, 'one load');
  // cached now: the next read loads nothing
  const again = await srv.board(t.token);
  assert.equal(again.status, 200, again.text);
  assert.equal(metric((await srv.req('GET', '/metrics')).text, 'planboard_board_loads_total'), loads1);
});

test('20 concurrent first requests of one tenant cause one board load; a client gone meanwhile is dropped', { skip: PG }, async () => {
  const t = await freshTenant('fresh-many');
  const loads0 = metric((await srv.req('GET', '/metrics')).text, 'planboard_board_loads_total');
  const lock = await holdLock(srv, 'LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
  const paths = ['/api/planning-board', '/api/orders', '/api/work-centres', '/api/planning-board/schedule'];
  const pending = [];
  let gone;
  try {
    for (let i = 0; i < 20; i++)
      pending.push(srv.req('GET', paths[i % paths.length], { token: t.token, timeout: 20000 }));
    const ac = new AbortController();
    gone = fetch(`${srv.base}/api/planning-board`, { headers: { authorization: `Bearer ${t.token}` }, signal: ac.signal })
      .catch((e) => e);
    await until(waitingOnLock, { timeout: 5000, what: 'the board load waiting on the lock' });
    // all 21 reached the server and wait for the one load
    await until(async () => metric((await srv.req('GET', '/metrics')).text, 'planboard_board_load_waiters') === 21,
      { timeout: 10000, what: '21 requests waiting for the board' });
    ac.abort();
    await gone;
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
  } finally {
    await lock.release();
  }
  const rs = await Promise.all(pending);
  for (const r of rs) assert.equal(r.status, 200, r.text);
  const board = rs[0].body;
  assert.deepEqual(board.workCentres.flatMap((w) => w.orders.map((o) => o.orderNumber)), ['MO-FRESH-1']);
  const loads1 = metric((await srv.req('GET', '/metrics')).text, 'planboard_board_loads_total');
  assert.equal(loads1 - loads0, 1, `one load for 20 requests, not ${loads1 - loads0}`);
  const h = await srv.req('GET', '/api/health');
  assert.equal(h.status, 200, h.text);
});

test('a scanner event of a tenant whose board is not cached waits off the loop for its board, then counts', { skip: PG }, async () => {
  const t = await freshTenant('fresh-scan');
  const k = await srv.req('POST', '/api/api-keys', { token: t.token, json: { name: 'line 1' } });
  assert.equal(k.status, 201, k.text);
  assert.equal((await srv.board(await srv.token('admin'))).status, 200);   // demo's: cached
  const loads0 = metric((await srv.req('GET', '/metrics')).text, 'planboard_board_loads_total');
  const lock = await holdLock(srv, 'LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
  const ev = { eventId: `fresh-${process.pid}`, orderNumber: 'MO-FRESH-1', workCentreCode: 'SAW', eventType: 'progress_update', quantity: 2 };
  const pending = srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': k.body.key }, json: ev, timeout: 20000 });
  try {
    await until(waitingOnLock, { timeout: 5000, what: 'the board load waiting on the lock' });
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
  } finally {
    await lock.release();
  }
  const r = await pending;
  assert.equal(r.status, 202, r.text);
  const b = await srv.board(t.token);
  const o = b.body.workCentres.flatMap((w) => w.orders).find((x) => x.orderNumber === 'MO-FRESH-1');
  assert.equal(o.quantityCompleted, 2);
  assert.equal(metric((await srv.req('GET', '/metrics')).text, 'planboard_board_loads_total') - loads0, 1);
});

// ---------------------------------------------------------------- the remaining REST round trips
// (issue 13 "the loop never waits on a PostgreSQL round trip": docs/postgresql.md "What the
// loop waits on"): each read below used to run on the loop's connection and, with its table
// locked by another session, failed after the loop's 100 ms lock_timeout.

test('a token refresh whose user PostgreSQL makes wait does not stop the loop', { skip: PG }, async () => {
  const login = await srv.login('viewer');
  assert.equal(login.status, 200, login.text);
  const lock = await holdLock(srv, 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
  let answered = null;
  const pending = srv.req('POST', '/api/auth/refresh', { json: { refreshToken: login.body.refreshToken }, timeout: 20000 })
    .then((r) => { answered = r; return r; });
  try {
    await until(waitingOnLock, { timeout: 5000, what: 'the refresh\'s user read waiting on the lock' });
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    assert.ok(waitingOnLock(), 'the user read still waits');
    // (before: the loop read the user, gave up after its lock_timeout and answered 401)
    assert.equal(answered, null, 'the refresh was answered while users was locked');
  } finally {
    await lock.release();
  }
  const r = await pending;
  assert.equal(r.status, 200, r.text);
  assert.ok(r.body.accessToken);
  assert.equal(r.body.user.username, 'viewer');
  assert.equal(r.body.user.tenant.slug, 'demo');
  // the old token is spent, the new one works
  const again = await srv.req('POST', '/api/auth/refresh', { json: { refreshToken: login.body.refreshToken } });
  assert.equal(again.status, 401, again.text);
  const next = await srv.req('POST', '/api/auth/refresh', { json: { refreshToken: r.body.refreshToken } });
  assert.equal(next.status, 200, next.text);
});

/** A webhook receiver on 127.0.0.1 answering 200; got: the parsed bodies, in arrival order. */
async function hookReceiver() {
  const rx = { got: [] };
  rx.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => { rx.got.push(JSON.parse(Buffer.concat(chunks).toString('utf8'))); res.writeHead(200).end(); });
  });
  await new Promise((r) => rx.server.listen(0, '127.0.0.1', r));
  rx.url = `http://127.0.0.1:${rx.server.address().port}/hook`;
  rx.close = () => new Promise((r) => { rx.server.closeAllConnections(); rx.server.close(r); });
  return rx;
}

test('GET /api/webhooks and its deliveries wait off the loop while their tables are locked', { skip: PG }, async () => {
  const token = await srv.token('admin');
  const made = await srv.req('POST', '/api/webhooks', { token, json: { url: 'https://hooks.invalid/x', events: ['work_centre_updated'] } });
  assert.equal(made.status, 201, made.text);
  assert.equal((await srv.board(token)).status, 200);   // cached: not loaded behind the waiting read
  for (const [table, path] of [['webhooks', '/api/webhooks'], ['webhook_deliveries', `/api/webhooks/${made.body.id}/deliveries`]]) {
    const lock = await holdLock(srv, `LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    let answered = null;
    const pending = srv.req('GET', path, { token, timeout: 20000 }).then((r) => { answered = r; return r; });
    try {
      await until(waitingOnLock, { timeout: 5000, what: `GET ${path} waiting on the lock` });
      const h = await srv.req('GET', '/api/health');
      assert.equal(h.status, 200, h.text);
      assert.equal((await srv.board(token)).status, 200);
      assert.ok(waitingOnLock(), `GET ${path}: the read still waits (${JSON.stringify(answered?.status)} ${answered?.text})`);
      // (before: the loop's read gave up after its lock_timeout and answered 500)
      assert.equal(answered, null, `GET ${path} was answered while ${table} was locked`);
    } finally {
      await lock.release();
    }
    const r = await pending;
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.body.data));
    if (table === 'webhooks') {
      const w = r.body.data.find((x) => x.id === made.body.id);
      assert.equal(w.url, 'https://hooks.invalid/x');
      assert.equal(w.state, 'active');
      assert.equal(w.secret, undefined);
    }
  }
  const nf = await srv.req('GET', '/api/webhooks/999999/deliveries', { token });
  assert.equal(nf.status, 404, nf.text);
  assert.equal(nf.body.code, 'not_found');
  assert.equal((await srv.req('DELETE', `/api/webhooks/${made.body.id}`, { token })).status, 204);
});

test('webhook deliveries read their outbox off the loop: the loop\'s round trips do not grow with them', async (t) => {
  const rx = await hookReceiver();
  const hsrv = await startServer({ config: { webhooks: { allow_private: 'true', retry_base_ms: 100, poll_ms: 50 } } });
  try {
    const token = await hsrv.token('admin');
    const made = await hsrv.req('POST', '/api/webhooks', { token, json: { url: rx.url, events: ['order_updated'] } });
    assert.equal(made.status, 201, made.text);
    const b = await hsrv.board(token);
    const order = b.body.workCentres.flatMap((w) => w.orders)[0] ?? b.body.backlog[0];
    let version = order.version;
    const update = async (i) => {
      const r = await hsrv.req('PUT', `/api/orders/${order.id}`, { token, json: { description: `hooked ${i}`, version } });
      assert.equal(r.status, 200, r.text);
      version = r.body.version;
      await until(() => rx.got.length >= i, { timeout: 10000, what: `delivery ${i}` });
    };
    await update(1);                    // the first delivery (and its log look-up) before m0
    const m0 = metric((await hsrv.req('GET', '/metrics')).text, 'planboard_loop_db_round_trips_total');
    const N = 10;
    for (let i = 2; i <= N + 1; i++) await update(i);
    const m1 = metric((await hsrv.req('GET', '/metrics')).text, 'planboard_loop_db_round_trips_total');
    // every delivery arrived once, in order, naming the tenant (its slug was read with the
    // webhook's create on PostgreSQL)
    assert.equal(rx.got.length, N + 1);
    assert.ok(rx.got.every((g) => g.tenant === 'demo' && g.event === 'order_updated'), JSON.stringify(rx.got[0]));
    const ids = rx.got.map((g) => g.deliveryId);
    assert.equal(new Set(ids).size, ids.length);
    // PostgreSQL: before, each delivery's outbox read and every 50 ms poll ran on the loop's
    // connection (one round trip each: well over N); now the reader does them (timers: a few)
    t.diagnostic(`${m1 - m0} loop round trips for ${N} webhook deliveries`);
    if (BACKEND === 'postgresql') assert.ok(m1 - m0 < N, `${m1 - m0} loop round trips for ${N} webhook deliveries`);
    await until(async () => (await hsrv.req('GET', `/api/webhooks/${made.body.id}/deliveries`, { token })).body.data
      .filter((x) => x.status === 'delivered').length === N + 1, { timeout: 10000, what: 'the delivery log' });
  } finally {
    await hsrv.stop();
    await rx.close();
  }
});

test('a scanner event whose API key PostgreSQL makes wait does not stop the loop', { skip: PG }, async () => {
  const token = await srv.token('admin');
  const k = await srv.req('POST', '/api/api-keys', { token, json: { name: 'line 2' } });
  assert.equal(k.status, 201, k.text);
  const board = (await srv.board(token)).body;             // cached: not loaded behind the lookup
  const wc = board.workCentres.find((w) => w.orders.length > 0);
  const order = wc.orders[0];
  const lock = await holdLock(srv, 'LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE');
  let answered = null;
  const ev = { eventId: `key-wait-${process.pid}`, orderNumber: order.orderNumber, workCentreCode: wc.code, eventType: 'progress_update', quantity: 1 };
  const pending = srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': k.body.key }, json: ev, timeout: 20000 })
    .then((r) => { answered = r; return r; });
  try {
    await until(waitingOnLock, { timeout: 5000, what: 'the key lookup waiting on the lock' });
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    assert.equal((await srv.board(token)).status, 200);
    assert.ok(waitingOnLock(), `the key lookup still waits (${answered?.status} ${answered?.text})`);
    // (before: the loop's lookup gave up after its lock_timeout and answered 500)
    assert.equal(answered, null, 'the scanner event was answered while api_keys was locked');
  } finally {
    await lock.release();
  }
  const r = await pending;
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.applied, true);
  // a wrong key is still 401, a repeated eventId a duplicate
  const bad = await srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': 'pbk_nope' }, json: ev });
  assert.equal(bad.status, 401, bad.text);
  const dup = await srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': k.body.key }, json: ev });
  assert.equal(dup.status, 202, dup.text);
  assert.equal(dup.body.duplicate, true);
});

// A scanner event's writer-job prepare read the eventId index (scanner_events) and the order's
// routing steps (order_steps) on the loop's connection: with either table locked it gave up
// after the loop's 100 ms lock_timeout and answered 500. Now the steps are the cached route
// and the eventId is looked up by the job's run on the writer thread (store_scanner_prepare_cached).
test('a scanner event whose eventId look-up or steps PostgreSQL makes wait does not stop the loop', { skip: PG }, async () => {
  const token = await srv.token('admin');
  const k = await srv.req('POST', '/api/api-keys', { token, json: { name: 'line 3' } });
  assert.equal(k.status, 201, k.text);
  const { byCode } = await srv.workCentres(token);
  const number = `SC-WAIT-${process.pid}`;
  const o = await srv.req('POST', '/api/orders', { token, json: { orderNumber: number, stockCode: 'STK-W', description: 'waits', quantityToMake: 10, workCentreId: byCode.CUT,
    steps: [{ operationName: 'Cut', workCentreId: byCode.CUT }, { operationName: 'Assemble', workCentreId: byCode.ASM }] } });
  assert.equal(o.status, 201, o.text);
  const other = await freshTenant('scan-other');
  assert.equal((await srv.board(other.token)).status, 200);         // cached: another tenant's
  let n = 0;
  for (const table of ['scanner_events', 'order_steps']) {
    const ev = { eventId: `scan-wait-${process.pid}-${table}`, orderNumber: number, workCentreCode: 'CUT', eventType: 'progress_update', quantity: 1 };
    const lock = await holdLock(srv, `LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    let answered = null;
    const pending = srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': k.body.key }, json: ev, timeout: 20000 })
      .then((r) => { answered = r; return r; });
    try {
      await until(() => waitingOnLock() || answered !== null, { timeout: 5000, what: `the scan waiting on ${table}` });
      // (before: the loop's read gave up after its lock_timeout and answered 500)
      assert.equal(answered, null, `the scan was answered while ${table} was locked: ${answered?.status} ${answered?.text}`);
      const h = await srv.req('GET', '/api/health');
      assert.equal(h.status, 200, h.text);
      assert.equal((await srv.board(other.token)).status, 200);
      assert.equal(answered, null, `the scan was answered while ${table} was locked`);
    } finally {
      await lock.release();
    }
    const r = await pending;
    assert.equal(r.status, 202, `${table}: ${r.text}`);
    assert.equal(r.body.applied, true);
    assert.equal(r.body.order.quantityCompleted, ++n);
    const dup = await srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': k.body.key }, json: ev });
    assert.equal(dup.status, 202, dup.text);
    assert.equal(dup.body.duplicate, true);
  }
  const steps = (await srv.req('GET', `/api/orders/${o.body.id}`, { token })).body.steps;
  assert.deepEqual(steps.map((x) => [x.status, x.quantityCompleted]), [['in_progress', 2], ['pending', 0]]);
});

// The loop's round trips of scanner events (PostgreSQL: before, 2 per event, the eventId
// look-up and the order's steps, on the loop's connection; now none).
test('scanner events cost the loop no database round trip: job_start, progress_update, job_complete, a retry', async (t) => {
  const token = await srv.token('admin');
  const k = await srv.req('POST', '/api/api-keys', { token, json: { name: 'line 4' } });
  assert.equal(k.status, 201, k.text);
  const { byCode } = await srv.workCentres(token);
  const number = `SC-TRIPS-${process.pid}`;
  const o = await srv.req('POST', '/api/orders', { token, json: { orderNumber: number, stockCode: 'STK-T', description: 'trips', quantityToMake: 100,
    steps: [{ operationName: 'Cut', workCentreId: byCode.CUT }, { operationName: 'Assemble', workCentreId: byCode.ASM }] } });
  assert.equal(o.status, 201, o.text);
  const scan = (ev) => srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': k.body.key }, json: { orderNumber: number, ...ev } });
  const warm = await scan({ eventId: `trips-${process.pid}-warm`, workCentreCode: 'CUT', eventType: 'progress_update', quantity: 0 });
  assert.equal(warm.status, 202, warm.text);
  await srv.settled();
  const m0 = metric((await srv.req('GET', '/metrics')).text, 'planboard_loop_db_round_trips_total');
  const N = 5;
  for (let i = 0; i < N; i++) {
    const code = i % 2 === 0 ? 'ASM' : 'CUT';         // job_start moves it each time
    const start = { eventId: `trips-${process.pid}-${i}-start`, workCentreCode: code, eventType: 'job_start' };
    let r = await scan(start);
    assert.equal(r.status, 202, r.text);
    assert.equal(r.body.moved, true);
    assert.equal(r.body.order.workCentreId, byCode[code]);
    r = await scan({ eventId: `trips-${process.pid}-${i}-progress`, workCentreCode: code, eventType: 'progress_update', quantity: 3 });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.body.quantityCompletedDelta, 3);
    r = await scan({ eventId: `trips-${process.pid}-${i}-complete`, workCentreCode: code, eventType: 'job_complete' });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.body.applied, true);
    // each plan sees the steps the one before changed: ASM's step completes the order (no
    // later step), then CUT's (ASM's is done); from then on no open step is left to complete
    assert.equal(r.body.orderCompleted, i < 2, `job_complete ${i}`);
    r = await scan(start);                              // the scanner's retry
    assert.equal(r.status, 202, r.text);
    assert.equal(r.body.duplicate, true);
  }
  await srv.settled();
  const m1 = metric((await srv.req('GET', '/metrics')).text, 'planboard_loop_db_round_trips_total');
  t.diagnostic(`${m1 - m0} loop round trips for ${4 * N} scanner events`);
  const now = (await srv.req('GET', `/api/orders/${o.body.id}`, { token })).body;
  assert.equal(now.quantityCompleted, 3 * N);
  assert.equal(now.status, 'in_progress');              // the last job_start reopened it
  assert.deepEqual(now.steps.map((x) => x.status), ['complete', 'complete']);
  if (BACKEND === 'postgresql') assert.equal(m1 - m0, 0, `${m1 - m0} loop round trips for ${4 * N} scanner events`);
});

test('a field update that moves the order ends its mover\'s lock in its own transaction, not on the loop', async (t) => {
  const token = await srv.token('scheduler');
  const watcher = await srv.ws(await srv.token('viewer'));
  const { byCode } = await srv.workCentres(token);
  const codes = Object.keys(byCode);
  const board = (await srv.board(token)).body;
  const order = board.workCentres.flatMap((w) => w.orders)[1] ?? board.backlog[0];
  let version = order.version;
  const moveBy = async (i) => {
    const r = await srv.req('PUT', `/api/orders/${order.id}`, { token, json: { workCentreId: byCode[codes[i % codes.length]], description: `moved ${i}`, version } });
    assert.equal(r.status, 200, r.text);
    version = r.body.version;
    return r.body;
  };
  // the mover's lock ends with the move: order_unlocked {moved}, and (PostgreSQL) no row left
  const lock = await srv.req('POST', `/api/orders/${order.id}/start-move`, { token });
  assert.equal(lock.status, 200, lock.text);
  const o = await moveBy(order.workCentreId === byCode[codes[1]] ? 2 : 1);
  const ev = await watcher.waitFor((m) => m.event === 'order_unlocked' && m.data.orderId === order.id);
  assert.equal(ev.data.reason, 'moved');
  const moved = watcher.messages.findIndex((m) => m.event === 'order_moved' && m.data.order.id === order.id && m.data.order.version === o.version);
  assert.ok(moved >= 0 && moved < watcher.messages.indexOf(ev), 'order_moved, then order_unlocked');
  if (BACKEND === 'postgresql')
    assert.equal(Number(srv.sql('SELECT count(*) AS n FROM drag_locks WHERE order_id = $1', [order.id])[0].n), 0);
  const b = (await srv.board(token)).body;
  assert.equal(b.workCentres.flatMap((w) => w.orders).find((x) => x.id === order.id).lockedBy ?? null, null);
  // the loop's round trips: before, each such update's lock release ran on the loop (one
  // DELETE each, N in all); now in the update's writer transaction
  await srv.settled();
  const m0 = metric((await srv.req('GET', '/metrics')).text, 'planboard_loop_db_round_trips_total');
  const N = 10;
  for (let i = 3; i < 3 + N; i++) await moveBy(i);
  await srv.settled();
  const m1 = metric((await srv.req('GET', '/metrics')).text, 'planboard_loop_db_round_trips_total');
  t.diagnostic(`${m1 - m0} loop round trips for ${N} field updates that move`);
  if (BACKEND === 'postgresql') assert.ok(m1 - m0 < N, `${m1 - m0} loop round trips for ${N} field updates that move`);
  watcher.close();
});

test('an import upload of a tenant whose board is not cached waits off the loop for its board, then imports', { skip: PG }, async () => {
  const t = await freshTenant('fresh-import');
  assert.equal((await srv.board(await srv.token('admin'))).status, 200);   // demo's: cached
  const loads0 = metric((await srv.req('GET', '/metrics')).text, 'planboard_board_loads_total');
  const csv = 'order_number,stock_code,description,quantity_to_make,work_centre_code\r\n'
    + 'MO-IMP-1,STK-9,imported one,3,SAW\r\nMO-IMP-2,STK-9,imported two,4,SAW\r\n';
  const lock = await holdLock(srv, 'LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
  let answered = null;
  const pending = srv.req('POST', '/api/orders/import', { token: t.token, body: csv, headers: { 'content-type': 'text/csv' }, timeout: 20000 })
    .then((r) => { answered = r; return r; });
  try {
    await until(waitingOnLock, { timeout: 5000, what: 'the import\'s board load waiting on the lock' });
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    assert.equal((await srv.board(await srv.token('admin'))).status, 200);
    assert.ok(waitingOnLock(), `the load still waits (${answered?.status} ${answered?.text})`);
    // (before: the upload's begin loaded the board on the loop, gave up after lock_timeout
    // and answered an error)
    assert.equal(answered, null, 'the import was answered while orders was locked');
  } finally {
    await lock.release();
  }
  const r = await pending;
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.created, 2, r.text);
  const b = await srv.board(t.token);
  const numbers = b.body.workCentres.flatMap((w) => w.orders.map((o) => o.orderNumber)).sort();
  assert.deepEqual(numbers, ['MO-FRESH-1', 'MO-IMP-1', 'MO-IMP-2']);
  assert.equal(metric((await srv.req('GET', '/metrics')).text, 'planboard_board_loads_total') - loads0, 1, 'one load');
});

test('an import whose client goes away while its board loads leaves the server serving; a bad type is refused at once', { skip: PG }, async () => {
  const t = await freshTenant('fresh-import-gone');
  const bad = await srv.req('POST', '/api/orders/import', { token: t.token, body: 'a,b\n1,2\n', headers: { 'content-type': 'image/png' } });
  assert.equal(bad.status, 415, bad.text);
  const lock = await holdLock(srv, 'LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
  const ac = new AbortController();
  const gone = fetch(`${srv.base}/api/orders/import`, {
    method: 'POST', headers: { authorization: `Bearer ${t.token}`, 'content-type': 'text/csv' },
    body: 'order_number,stock_code,description,quantity_to_make,work_centre_code\r\nMO-GONE-1,S,d,1,SAW\r\n', signal: ac.signal,
  }).catch((e) => e);
  try {
    await until(waitingOnLock, { timeout: 5000, what: 'the import\'s board load waiting on the lock' });
    ac.abort();
    await gone;
  } finally {
    await lock.release();
  }
  // the load still ends and caches the board; nothing was imported
  await until(async () => metric((await srv.req('GET', '/metrics')).text, 'planboard_board_load_waiters') === 0,
    { timeout: 10000, what: 'no waiter left' });
  const b = await srv.board(t.token);
  assert.equal(b.status, 200, b.text);
  assert.deepEqual(b.body.workCentres.flatMap((w) => w.orders.map((o) => o.orderNumber)), ['MO-FRESH-1']);
});

test('a CSV export of a tenant whose board is not cached waits off the loop for its board', { skip: PG }, async () => {
  const t = await freshTenant('fresh-export');
  assert.equal((await srv.board(await srv.token('admin'))).status, 200);
  const lock = await holdLock(srv, 'LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
  let answered = null;
  const pending = srv.req('GET', '/api/orders/export', { token: t.token, timeout: 20000 }).then((r) => { answered = r; return r; });
  try {
    await until(waitingOnLock, { timeout: 5000, what: 'the export\'s board load waiting on the lock' });
    assert.equal((await srv.req('GET', '/api/health')).status, 200);
    assert.equal(answered, null, 'the export was answered while orders was locked');
  } finally {
    await lock.release();
  }
  const r = await pending;
  assert.equal(r.status, 200, r.text);
  assert.match(r.text, /^order_number,/);
  assert.match(r.text, /MO-FRESH-1,STK-1,fresh,5,/);
});

// ---------------------------------------------------------------- presence (server/room.c)
// The once-a-second heartbeat and its sweep of dead nodes run on the reader thread, one at a
// time; a dead node's user_left rows are written in the sweep's own transaction.

const beats = async () => {
  const t = (await srv.req('GET', '/metrics')).text;
  return { done: metric(t, 'planboard_presence_beats_total'), skipped: metric(t, 'planboard_presence_beats_skipped_total'),
    trips: metric(t, 'planboard_loop_db_round_trips_total') };
};

/** This server's newest heartbeat (ms), read from its nodes row. */
const lastBeat = () => srv.sql("SELECT coalesce(max(seen_ms), 0) AS ms FROM nodes WHERE node <> 'dead-node-test'")[0].ms;

test('heartbeat ticks cost the loop no round trip', { skip: PG }, async () => {
  const token = await srv.token('admin');
  assert.equal((await srv.board(token)).status, 200);   // the board cached: the metrics below read nothing
  const b0 = await beats();
  const s0 = lastBeat();
  await until(() => lastBeat() > s0 + 2000, { timeout: 10000, what: 'three heartbeats' });
  const b1 = await beats();
  // before: each tick was an upsert and the sweep's transaction on the loop (4+ round trips)
  assert.ok(b1.trips - b0.trips < 2, `${b1.trips - b0.trips} loop round trips for three heartbeats`);
});

test('a heartbeat behind a read that PostgreSQL makes wait: the ticks meanwhile are skipped, the loop goes on', { skip: PG }, async () => {
  const admin = await srv.token('admin');
  const t = await freshTenant('fresh-beat');
  assert.equal((await srv.board(t.token)).status, 200);     // another tenant's board, cached
  assert.equal((await srv.board(admin)).status, 200);
  // the reader thread waits on an audit-log read: the heartbeat queued behind it stays in
  // flight, and the ticks meanwhile are skipped (not queued behind it)
  const lock = await holdLock(srv, 'LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE');
  let b0, audit;
  try {
    audit = srv.req('GET', '/api/audit-log?limit=1', { token: admin, timeout: 20000 });
    await until(waitingOnLock, { timeout: 5000, what: 'the audit read waiting on the lock' });
    b0 = await beats();
    await until(async () => (await beats()).skipped >= b0.skipped + 2, { timeout: 10000, what: 'two ticks skipped' });
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    for (const tok of [admin, t.token]) {
      const b = await srv.board(tok);
      assert.equal(b.status, 200, b.text);
    }
    const b1 = await beats();
    assert.equal(b1.done, b0.done, 'a heartbeat finished while the reader waited');
    assert.ok(b1.trips - b0.trips < 2, `${b1.trips - b0.trips} loop round trips while the heartbeat waited`);
  } finally {
    await lock.release();
  }
  assert.equal((await audit).status, 200);
  await until(async () => (await beats()).done > b0.done, { timeout: 10000, what: 'the heartbeat done after the lock' });
  assert.ok(lastBeat() > Date.now() - 5000, 'this node\'s heartbeat row is fresh');
});

test('a heartbeat that PostgreSQL makes wait costs the loop nothing and holds the reader at most 100 ms a tick', { skip: PG }, async () => {
  const admin = await srv.token('admin');
  assert.equal((await srv.board(admin)).status, 200);
  const lock = await holdLock(srv, 'LOCK TABLE nodes IN ACCESS EXCLUSIVE MODE');
  try {
    await until(waitingOnLock, { timeout: 5000, what: 'the heartbeat waiting on the lock' });
    const b0 = await beats();
    const s0 = Date.now();
    // reads on the reader thread go on between the ticks (before the bound: each waited up to
    // the reader's 5 s lock_timeout behind the heartbeat)
    for (let i = 0; i < 3; i++) {
      const me = await srv.req('GET', '/api/auth/me', { token: admin });
      assert.equal(me.status, 200, me.text);
    }
    assert.ok(Date.now() - s0 < 3000, `three reads took ${Date.now() - s0} ms`);
    assert.equal((await srv.req('GET', '/api/health')).status, 200);
    await until(async () => (await beats()).done >= b0.done + 2, { timeout: 10000, what: 'two heartbeats (failed) done' });
    // before: each tick's upsert waited on the loop's connection (its 100 ms, then failed)
    assert.ok((await beats()).trips - b0.trips < 2, 'loop round trips while nodes was locked');
  } finally {
    await lock.release();
  }
  const s1 = lastBeat();
  await until(() => lastBeat() > s1, { timeout: 10000, what: 'a heartbeat after the lock' });
});

test('a dead node\'s user_left is written in its sweep\'s transaction: refused, nothing is swept', { skip: PG }, async () => {
  const admin = await srv.token('admin');
  const users = (await srv.req('GET', '/api/users', { token: admin })).body.data;
  const viewer = users.find((u) => u.username === 'viewer');
  const [{ id: tenant }] = srv.sql("SELECT id FROM tenants WHERE slug = 'demo'");
  const watcher = await srv.ws(admin);
  const marker = `ghost-${process.pid}`;
  srv.refuseEvents(marker);
  try {
    // a node that stopped beating a minute ago, with the viewer online through it only
    srv.sql(`INSERT INTO nodes(node, seen_ms) VALUES ('dead-node-test', $1);
             INSERT INTO presence(tenant_id, user_id, node, username) VALUES ($2, $3, 'dead-node-test', $4)`,
    [Date.now() - 60000, tenant, viewer.id, marker], { write: true });
    const s0 = lastBeat();
    // two heartbeats later the sweep after the first has run (the reader runs them in turn)
    await until(() => lastBeat() > s0 + 1500, { timeout: 10000, what: 'two heartbeats' });
    // the user_left could not be logged: the sweep rolled back (before: the rows were deleted
    // and committed first, and the user_left published after was lost)
    assert.equal(srv.sql("SELECT count(*) AS n FROM nodes WHERE node = 'dead-node-test'")[0].n, 1);
    assert.equal(srv.sql("SELECT count(*) AS n FROM presence WHERE node = 'dead-node-test'")[0].n, 1);
    // ... and this node's own heartbeat went on (a job of its own)
    assert.ok(lastBeat() > Date.now() - 5000, 'this node\'s heartbeat is fresh');
  } finally {
    srv.acceptEvents();
  }
  const ev = await watcher.waitFor((m) => m.event === 'user_left' && m.data.username === marker, { timeout: 10000 });
  assert.equal(ev.data.userId, viewer.id);
  const logged = srv.sql('SELECT seq FROM room_events WHERE tenant_id = $1 AND strpos(frame, $2) > 0', [tenant, marker]);
  assert.deepEqual(logged.map((r) => r.seq), [ev.seq]);
  assert.equal(srv.sql("SELECT count(*) AS n FROM nodes WHERE node = 'dead-node-test'")[0].n, 0);
  assert.equal(srv.sql("SELECT count(*) AS n FROM presence WHERE node = 'dead-node-test'")[0].n, 0);
  watcher.close();
});

// The board's `online` list (SPEC §12: every live node's users) is read once per room, on the
// reader thread, and then follows the room's user_joined / user_left events (room.c "the
// online list"): a board read waits for that read, never the loop.

test('a board read whose online list PostgreSQL makes wait is answered after it, off the loop', { skip: PG }, async () => {
  const t = await freshTenant('fresh-online');
  const admin = await srv.token('admin');
  assert.equal((await srv.board(admin)).status, 200);       // demo's board and list: known
  // a connection that does not join: the tenant's room is made (its first use on the node,
  // still on the loop), nobody is online and nothing reads the list
  const c = await WsClient.connect(srv, t.token, { join: false });
  const lock = await holdLock(srv, 'LOCK TABLE presence IN ACCESS EXCLUSIVE MODE');
  let answered = null, pending, t0;
  try {
    t0 = (await beats()).trips;
    pending = srv.req('GET', '/api/planning-board', { token: t.token, timeout: 20000 })
      .then((r) => { answered = r; return r; });
    await until(waitingOnLock, { timeout: 5000, what: 'the online list read waiting on the lock' });
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    const demo = await srv.board(admin);
    assert.equal(demo.status, 200, demo.text);
    // (before: the loop's own read waited its 100 ms lock_timeout, failed, and the board was
    // answered at once with this node's users only)
    assert.equal(answered, null, 'the board was answered while presence was locked');
    assert.equal((await beats()).trips - t0, 0, 'loop round trips while the online list waited');
  } finally {
    await lock.release();
  }
  const r = await pending;
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.online, []);
  assert.deepEqual(r.body.workCentres.flatMap((w) => w.orders.map((o) => o.orderNumber)), ['MO-FRESH-1']);
  c.close();
});

test('a join and the board read after it cost the loop no presence read; the list is right', { skip: PG }, async () => {
  const t = await freshTenant('fresh-join');
  const lock = await holdLock(srv, 'LOCK TABLE presence IN ACCESS EXCLUSIVE MODE');
  let c, pending, answered = null, t0;
  try {
    // (srv.ws would wait for the join's presence change, which waits on the lock)
    c = await WsClient.connect(srv, t.token);
    t0 = (await beats()).trips;                 // after the connection's own user read
    pending = srv.req('GET', '/api/planning-board', { token: t.token, timeout: 20000 })
      .then((r) => { answered = r; return r; });
    await until(waitingOnLock, { timeout: 5000, what: 'the join\'s presence change waiting on the lock' });
    assert.equal((await srv.req('GET', '/api/health')).status, 200);
    assert.equal((await srv.board(await srv.token('admin'))).status, 200);
    assert.equal(answered, null, 'the board was answered while presence was locked');
  } finally {
    await lock.release();
  }
  const r = await pending;
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.online.map((u) => u.username), ['boss']);
  const t1 = (await beats()).trips;
  assert.equal(t1 - t0, 0, 'loop round trips for the join and the board read after it');
  // then the list follows the events: a second user joins, the first leaves
  const body = { username: 'second', email: 'second@fresh.example', password: OTHER_PASSWORD, role: 'viewer' };
  assert.equal((await srv.req('POST', '/api/users', { token: t.token, json: body })).status, 201);
  const c2 = await srv.ws(await srv.token('second', OTHER_PASSWORD, 'fresh-join'));
  const t2 = (await beats()).trips;             // after the second connection's own user read
  const names = async () => (await srv.board(t.token)).body.online.map((u) => u.username);
  assert.deepEqual(await names(), ['boss', 'second']);
  c.close();
  await until(async () => JSON.stringify(await names()) === '["second"]',
    { timeout: 5000, what: 'the board\'s online list after the leave' });
  // before: each board read after a presence event read the list on the loop (1 round trip)
  assert.equal((await beats()).trips - t2, 0, 'loop round trips for a join, a leave and the board reads');
  c2.close();
});

// ---------------------------------------------------------------- a WebSocket connection's open
// (server/ws.c ws_open): on PostgreSQL its user and tenant are read on the reader thread; the
// connection waits for them (its messages queued), the loop serves everyone else meanwhile.

test('a WebSocket open waits off the loop while users is locked, and the connection works once the lock goes', { skip: PG }, async () => {
  const admin = await srv.token('admin');
  const viewer = await srv.token('viewer');                  // logins read users: before the lock
  const t = await freshTenant('fresh-wsopen');
  assert.equal((await srv.board(t.token)).status, 200);     // another tenant's board, cached
  assert.equal((await srv.board(admin)).status, 200);
  const watcher = await srv.ws(admin);                      // demo's room exists
  const lock = await holdLock(srv, 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
  let c;
  try {
    c = await openBeforeHello(viewer);
    c.send({ event: 'ping', ref: 'early-ping' });           // sent before hello: queued
    await until(waitingOnLock, { timeout: 5000, what: 'the open\'s user read waiting on the lock' });
    // the loop goes on: health, another tenant's board and demo's board answer, a joined
    // connection is served
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    for (const tok of [t.token, admin]) {
      const b = await srv.board(tok);
      assert.equal(b.status, 200, b.text);
    }
    assert.equal((await watcher.request('ping')).event, 'pong');
    // (on the loop's connection the read gave up after its 100 ms lock_timeout and the
    // connection was dropped)
    assert.ok(waitingOnLock(), 'the open\'s read still waits');
    assert.equal(c.closeInfo, null, 'the connection was dropped while users was locked');
    assert.deepEqual(c.messages, [], 'the connection was answered while users was locked');
  } finally {
    await lock.release();
  }
  const hello = await c.waitFor((m) => m.event === 'hello', { timeout: 10000, what: 'hello' });
  assert.equal(hello.data.user.username, 'viewer');
  assert.equal(hello.data.tenant.slug, 'demo');
  // the message sent before hello is answered after it, in order
  assert.equal(c.messages[0].event, 'hello');
  assert.equal(c.messages[1].event, 'pong');
  assert.equal(c.messages[1].ref, 'early-ping');
  const j = await c.request('join_planning_board', {});
  assert.equal(j.event, 'ack', JSON.stringify(j));
  await watcher.waitFor((m) => m.event === 'user_joined' && m.data.username === 'viewer', { what: 'viewer joined' });
  c.terminate();
  await c.closed;
  await watcher.close();
});

test('a WebSocket open closed while its read waits is dropped cleanly; an inactive user is dropped as before', { skip: PG }, async () => {
  const admin = await srv.token('admin');
  const body = { username: 'goner', email: 'goner@demo.example', password: OTHER_PASSWORD, role: 'viewer' };
  const cr = await srv.req('POST', '/api/users', { token: admin, json: body });
  assert.equal(cr.status, 201, cr.text);
  const goner = await srv.token('goner', OTHER_PASSWORD);
  const viewer = await srv.token('viewer');
  const lock = await holdLock(srv, 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
  try {
    const early = await openBeforeHello(viewer);
    await until(waitingOnLock, { timeout: 5000, what: 'the open waiting on the lock' });
    early.terminate();                                      // gone before its read is done
    await early.closed;
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
  } finally {
    await lock.release();
  }
  // its read's done finds it gone: the server goes on, the next connection opens
  const c = await srv.ws(viewer);
  assert.equal(c.hello.data.user.username, 'viewer');
  await c.close();
  // deactivated behind the server's back (its token not revoked): the open's read finds the
  // user inactive and drops the connection without a close frame, as the loop's read did
  srv.sql('UPDATE users SET is_active = 0 WHERE username = $1', ['goner'], { write: true });
  const again = new WsClient(new WebSocket(`${srv.wsBase}/ws?token=${encodeURIComponent(goner)}`));
  const closed = await again.closed;
  assert.equal(closed.code, 1006, `an inactive user's connection: ${JSON.stringify(closed)}`);
  assert.deepEqual(again.messages, []);
  srv.sql('UPDATE users SET is_active = 1 WHERE username = $1', ['goner'], { write: true });
});

test('a logout while its WebSocket open waits closes the connection with 1008, as it closes an open one', { skip: PG }, async () => {
  const token = await srv.token('viewer');
  const r = await srv.login('viewer');                      // a session of its own (logins read users: before the lock)
  assert.equal(r.status, 200, r.text);
  const own = r.body.accessToken;
  assert.notEqual(own, token);
  const lock = await holdLock(srv, 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
  let c;
  try {
    c = await openBeforeHello(own);
    await until(waitingOnLock, { timeout: 5000, what: 'the open waiting on the lock' });
    const out = await srv.req('POST', '/api/auth/logout', { token: own });
    assert.equal(out.status, 204, out.text);
    const closed = await c.closed;                           // while the read still waits
    assert.deepEqual(closed, { code: 1008, reason: 'logged out' });
    assert.deepEqual(c.messages, []);
    assert.ok(waitingOnLock(), 'the open\'s read still waits');
  } finally {
    await lock.release();
  }
  // the read's done finds the connection closed; the other session's connection opens
  const other = await srv.ws(token);
  assert.equal(other.hello.data.user.username, 'viewer');
  await other.close();
});

test('20 WebSocket connections opened and joined cost the loop no round trip', { skip: PG }, async () => {
  const viewer = await srv.token('viewer');
  const first = await srv.ws(viewer);                       // the room exists, the board is cached
  const trips = async () => metric((await srv.req('GET', '/metrics')).text, 'planboard_loop_db_round_trips_total');
  const t0 = await trips();
  const conns = [];
  for (let i = 0; i < 20; i++) conns.push(await srv.ws(viewer));
  const t1 = await trips();
  // before: 2 each (the user and the tenant, on the loop's connection)
  assert.ok(t1 - t0 < 4, `${t1 - t0} loop round trips for 20 connections opened and joined`);
  for (const c of conns) {
    assert.equal(c.hello.data.user.username, 'viewer');
    assert.equal(c.hello.data.tenant.slug, 'demo');
    assert.equal((await c.request('ping')).event, 'pong');
  }
  for (const c of [first, ...conns]) await c.close();
});

// ---------------------------------------------------------------- a room's first use on a node
// A node makes a tenant's room at its first use (its log's last events, epoch and seq, the
// tenant's drag locks): four round trips that ran on the loop's connection (room_load.c now
// reads them on the reader thread). With room_events locked, an inline read gave up after the
// loop's 100 ms lock_timeout and started the room afresh (a new epoch).

test('a tenant\'s first WebSocket connection reads its room off the loop while room_events is locked', { skip: PG }, async () => {
  const t = await freshTenant('fresh-room-ws');
  const admin = await srv.token('admin');
  const watcher = await srv.ws(admin);                      // demo's room exists
  const loads0 = metric((await srv.req('GET', '/metrics')).text, 'planboard_room_loads_total');
  const lock = await holdLock(srv, 'LOCK TABLE room_events IN ACCESS EXCLUSIVE MODE');
  let c;
  try {
    c = await openBeforeHello(t.token);
    c.send({ event: 'ping', ref: 'early-ping' });           // sent before hello: queued
    await until(waitingOnLock, { timeout: 5000, what: 'the room read waiting on the lock' });
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    assert.equal((await srv.board(admin)).status, 200);
    assert.equal((await watcher.request('ping')).event, 'pong');
    assert.ok(waitingOnLock(), 'the room read still waits');
    assert.equal(c.closeInfo, null, 'the connection was dropped while room_events was locked');
    assert.deepEqual(c.messages, [], 'the connection was answered while room_events was locked');
  } finally {
    await lock.release();
  }
  const hello = await c.waitFor((m) => m.event === 'hello', { timeout: 10000, what: 'hello' });
  assert.equal(hello.data.tenant.slug, 'fresh-room-ws');
  const [{ epoch }] = srv.sql('SELECT epoch FROM room_log WHERE tenant_id = $1', [t.id]);
  assert.equal(hello.data.epoch, epoch, 'the epoch is the logged one (not a room started afresh)');
  assert.equal(c.messages[1].event, 'pong');
  assert.equal(c.messages[1].ref, 'early-ping');
  const j = await c.request('join_planning_board', {});
  assert.equal(j.event, 'ack', JSON.stringify(j));
  assert.equal(j.data.epoch, epoch);
  assert.equal(metric((await srv.req('GET', '/metrics')).text, 'planboard_room_loads_total') - loads0, 1, 'one room read');
  await c.close();
  await watcher.close();
});

test('a tenant\'s first board read waits off the loop for its room, then its board; 10 at once read the room once', { skip: PG }, async () => {
  const t = await freshTenant('fresh-room-rest');
  const admin = await srv.token('admin');
  assert.equal((await srv.board(admin)).status, 200);       // demo's: cached
  const m0 = (await srv.req('GET', '/metrics')).text;
  const lock = await holdLock(srv, 'LOCK TABLE room_events IN ACCESS EXCLUSIVE MODE');
  let answered = 0;
  const pending = [];
  for (let i = 0; i < 10; i++) {
    pending.push(srv.req('GET', '/api/planning-board', { token: t.token, timeout: 20000 })
      .then((r) => { answered++; return r; }));
  }
  try {
    await until(waitingOnLock, { timeout: 5000, what: 'the room read waiting on the lock' });
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    assert.equal((await srv.board(admin)).status, 200);
    assert.ok(waitingOnLock(), 'the room read still waits');
    assert.equal(answered, 0, 'a board was answered while room_events was locked');
  } finally {
    await lock.release();
  }
  const [{ epoch }] = srv.sql('SELECT epoch FROM room_log WHERE tenant_id = $1', [t.id]);
  for (const r of await Promise.all(pending)) {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.epoch, epoch);
    assert.deepEqual(r.body.workCentres.flatMap((w) => w.orders.map((o) => o.orderNumber)), ['MO-FRESH-1']);
  }
  const m1 = (await srv.req('GET', '/metrics')).text;
  assert.equal(metric(m1, 'planboard_room_loads_total') - metric(m0, 'planboard_room_loads_total'), 1, 'one room read');
  assert.equal(metric(m1, 'planboard_board_loads_total') - metric(m0, 'planboard_board_loads_total'), 1, 'one board load');
});

test('a tenant\'s first WebSocket connection, join and board read cost the loop no round trip', { skip: PG }, async () => {
  const t = await freshTenant('fresh-room-trips');
  const admin = await srv.token('admin');
  const watcher = await srv.ws(admin);
  const trips = async () => metric((await srv.req('GET', '/metrics')).text, 'planboard_loop_db_round_trips_total');
  const t0 = await trips();
  const c = await srv.ws(t.token);
  const b = await srv.board(t.token);
  assert.equal(b.status, 200, b.text);
  const t1 = await trips();
  // before: 4 (the room's log row, its events, the claim's read back, its drag locks)
  assert.equal(t1 - t0, 0, `${t1 - t0} loop round trips for a tenant's first connection and board read`);
  assert.equal(b.body.epoch, c.hello.data.epoch);
  await c.close();
  await watcher.close();
});

test('a drag start sent right after the join waits off the loop for the board the join is loading, then is answered in order', { skip: PG }, async () => {
  const t = await freshTenant('fresh-drag');
  const [{ id: orderId }] = srv.sql("SELECT id FROM orders WHERE order_number = 'MO-FRESH-1' AND tenant_id = $1", [t.id]);
  const admin = await srv.token('admin');
  assert.equal((await srv.board(admin)).status, 200);       // demo's: cached
  const c = await srv.ws(t.token, { join: false });
  const trips = async () => metric((await srv.req('GET', '/metrics')).text, 'planboard_loop_db_round_trips_total');
  const t0 = await trips();
  const lock = await holdLock(srv, 'LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
  try {
    c.send({ event: 'join_planning_board', ref: 'j1', data: {} });
    c.send({ event: 'start_drag', ref: 'd1', data: { orderId } });
    c.send({ event: 'ping', ref: 'p1' });
    await until(waitingOnLock, { timeout: 5000, what: 'the board load waiting on the lock' });
    await c.waitFor((m) => m.ref === 'j1', { what: 'the join ack' });
    const h = await srv.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
    assert.equal((await srv.board(admin)).status, 200);
    // (inline, the drag start loaded the board on the loop's connection and was answered an
    // error after the loop's 100 ms lock_timeout)
    assert.ok(waitingOnLock(), 'the board load still waits');
    assert.deepEqual(c.messages.filter((m) => m.ref === 'd1' || m.ref === 'p1'), [],
      'the drag start (or the ping behind it) was answered while orders was locked');
  } finally {
    await lock.release();
  }
  const d = await c.waitFor((m) => m.ref === 'd1', { timeout: 10000, what: 'the drag start answer' });
  assert.equal(d.event, 'ack', JSON.stringify(d));
  const p = await c.waitFor((m) => m.ref === 'p1', { what: 'the ping answer' });
  assert.equal(p.event, 'pong');
  assert.ok(c.messages.indexOf(d) < c.messages.indexOf(p), 'answered in the order sent');
  await c.waitFor((m) => m.event === 'order_locked' && m.data.orderId === orderId, { what: 'order_locked' });
  assert.equal(await trips() - t0, 0, 'the loop made a round trip');
  c.send({ event: 'end_drag', ref: 'd2', data: { orderId, completed: false } });
  assert.equal((await c.waitFor((m) => m.ref === 'd2', { what: 'the drag end answer' })).event, 'ack');
  await c.close();
});

test('a binary and an oversized frame sent while a WebSocket open waits are answered their errors after hello, in order', { skip: PG }, async () => {
  const viewer = await srv.token('viewer');                  // logins read users: before the lock
  const lock = await holdLock(srv, 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
  let c;
  try {
    c = await openBeforeHello(viewer);
    c.send({ event: 'ping', ref: 'before' });
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    c.ws.send(JSON.stringify({ event: 'ping', ref: 'x'.repeat(70 * 1024) }));
    c.send({ event: 'ping', ref: 'after' });
    await until(waitingOnLock, { timeout: 5000, what: 'the open\'s user read waiting on the lock' });
    assert.equal((await srv.req('GET', '/api/health')).status, 200);
    assert.deepEqual(c.messages, [], 'the connection was answered while users was locked');
  } finally {
    await lock.release();
  }
  await c.waitFor((m) => m.ref === 'after', { timeout: 10000, what: 'the last pong' });
  // before: the two errors were lost (no reader queue before hello)
  assert.deepEqual(c.messages.map((m) => [m.event, m.ref ?? m.data?.code]),
    [['hello', undefined], ['pong', 'before'], ['error', 'validation_failed'], ['error', 'payload_too_large'], ['pong', 'after']]);
  await c.close();
});

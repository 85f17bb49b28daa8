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
  } finally {
    await lock.release();
  }
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

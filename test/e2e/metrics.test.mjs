// GET /metrics (SPEC §4): Prometheus text that promtool accepts, with counters that follow
// what the server did.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, sample, BACKEND, OTHER_PASSWORD } from './lib.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

function metric(text, name, labels = '') {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

test('metrics are valid Prometheus text and need no token', async () => {
  const r = await srv.req('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  for (const line of r.text.split('\n').filter((l) => l && !l.startsWith('#'))) {
    assert.match(line, /^planboard_/, `metric name without prefix: ${line}`);
  }
  const p = spawnSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8' });
  assert.equal(p.error, undefined, 'promtool (Debian package prometheus) must be installed');
  assert.equal(p.status, 0, `promtool: ${p.stdout}${p.stderr}`);
});

test('counters follow requests, sockets, broadcasts, imports and commits', async () => {
  const token = await srv.token('scheduler');
  const before = (await srv.req('GET', '/metrics')).text;
  const c1 = await srv.ws(token);
  const c2 = await srv.ws(token);
  const { byCode } = await srv.workCentres(token);
  const board = (await srv.board(token)).body;
  const order = board.backlog[0] ?? board.workCentres[0].orders[0];
  const mv = await srv.req('PUT', `/api/orders/${order.id}/move`,
    { token, json: { toWorkCentreId: byCode.QC, position: 0 } });
  assert.equal(mv.status, 200, mv.text);
  await c1.waitFor((m) => m.event === 'order_moved');
  await srv.req('GET', '/api/orders/999999', { token });
  const imp = await srv.req('POST', '/api/orders/import',
    { token, body: sample('orders-erp-export.csv'), headers: { 'content-type': 'text/csv' } });
  assert.equal(imp.status, 200, imp.text);

  const now = (await srv.req('GET', '/metrics')).text;
  assert.equal(metric(now, 'planboard_websocket_connections'), 2);
  assert.equal(metric(now, 'planboard_http_requests_total',
    '{method="PUT",route="/api/orders/:id/move",status="200"}'), 1);
  assert.equal(metric(now, 'planboard_http_requests_total',
    '{method="GET",route="/api/orders/:id",status="404"}'), 1);
  assert.ok(metric(now, 'planboard_broadcasts_total') >= metric(before, 'planboard_broadcasts_total') + 2);
  assert.ok(metric(now, 'planboard_broadcast_deliveries_total') >= 4);
  assert.equal(metric(now, 'planboard_import_rows_total') - metric(before, 'planboard_import_rows_total'), 5);
  // the move and the import commit through the writer thread (docs/writer.md); every commit,
  // the writer's too, is counted in planboard_sqlite_commits_total
  // (the room event log's own writer jobs taken out: they come whenever events are published)
  const jobs = (t) => metric(t, 'planboard_writer_jobs_total') - metric(t, 'planboard_room_log_jobs_total');
  assert.equal(jobs(now) - jobs(before), 2);
  assert.ok(metric(now, 'planboard_writer_transactions_total') >= metric(before, 'planboard_writer_transactions_total') + 1);
  assert.ok(metric(now, 'planboard_sqlite_commits_total') >= metric(before, 'planboard_sqlite_commits_total') + 2);
  c1.close(); c2.close();
});

// Issue 13 "the loop never waits on a PostgreSQL round trip": where it still does, /metrics
// counts it (docs/postgresql.md "What still waits on the loop"). SQLite has no such figures.
test('PostgreSQL: the loop thread\'s own round trips are counted', async () => {
  const text0 = (await srv.req('GET', '/metrics')).text;
  if (BACKEND !== 'postgresql') {
    assert.equal(metric(text0, 'planboard_loop_db_round_trips_total'), undefined);
    return;
  }
  const t0 = metric(text0, 'planboard_loop_db_round_trips_total');
  const w0 = metric(text0, 'planboard_loop_db_wait_seconds_total');
  assert.ok(Number.isInteger(t0) && t0 > 0, 'the start and the login read on the loop');
  // a room whose read off the loop failed is made inline, on the loop's own connection
  // (server/room.c room_load; room_load.c reads it off the loop first): they count. Here the
  // claim of a new tenant's room_log row is refused by a test trigger, on the reader and then
  // inline (the room then starts afresh). A tenant this server never served: its first
  // request makes its room.
  await srv.createTenant('metrics-rt');
  const token = await srv.token('boss', OTHER_PASSWORD, 'metrics-rt');
  const [{ id }] = srv.sql("SELECT id FROM tenants WHERE slug = 'metrics-rt'");
  srv.sql(`CREATE OR REPLACE FUNCTION pb_test_refuse_room() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.tenant_id = ${id} THEN RAISE EXCEPTION 'refused by the test'; END IF;
    RETURN NEW; END $$;
    CREATE TRIGGER pb_test_refuse_room BEFORE INSERT ON room_log FOR EACH ROW
      EXECUTE FUNCTION pb_test_refuse_room()`, [], { write: true });
  let b;
  try {
    b = await srv.board(token);
  } finally {
    srv.sql('DROP TRIGGER pb_test_refuse_room ON room_log', [], { write: true });
  }
  assert.equal(b.status, 200, b.text);
  const text1 = (await srv.req('GET', '/metrics')).text;
  const t1 = metric(text1, 'planboard_loop_db_round_trips_total');
  const w1 = metric(text1, 'planboard_loop_db_wait_seconds_total');
  assert.ok(t1 > t0, `round trips ${t0} -> ${t1}`);
  assert.ok(w1 > w0, `wait ${w0} -> ${w1}`);
});

// [database] synchronous = FULL: group commit (server/durable.c). Answers and broadcasts wait
// for the WAL fdatasync of the commits before them, one fsync covers many commits, the loop
// never waits for the disk, and what was answered is in the database after a restart.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, SQLITE_ONLY } from './lib.mjs';

let srv;
before(async () => { srv = await startServer({ config: { database: { synchronous: 'FULL' } } }); });
after(async () => { await srv.stop(); });

function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

/** N movers x ROUNDS moves of one tenant at once; returns /metrics before and after. */
async function concurrentMoves(token, N, ROUNDS) {
  const { list } = await srv.workCentres(token);
  const board = (await srv.board(token)).body;
  const orders = [...board.backlog, ...board.workCentres.flatMap((w) => w.orders)];
  const m0 = (await srv.req('GET', '/metrics')).text;
  const movers = [];
  for (let k = 0; k < N; k++) {
    movers.push((async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const o = orders[(k + i * N) % orders.length];
        const to = list[(k + i) % list.length].id;
        const r = await srv.req('PUT', `/api/orders/${o.id}/move`, { token, json: { toWorkCentreId: to } });
        assert.equal(r.status, 200, r.text);
      }
    })());
  }
  await Promise.all(movers);
  return { m0, m1: (await srv.req('GET', '/metrics')).text };
}

test('concurrent moves are answered and broadcast in seq order, at most one commit each', async () => {
  const token = await srv.token('scheduler');
  const watcher = await srv.ws(token);
  const N = 8, ROUNDS = 10;
  const { m0, m1 } = await concurrentMoves(token, N, ROUNDS);
  await watcher.waitFor(() => watcher.messages.filter((m) => m.event === 'order_moved').length >= N * ROUNDS,
    { timeout: 10000 });
  const seqs = watcher.messages.filter((m) => m.seq !== undefined).map((m) => m.seq);
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], 'seq strictly increasing');
  const commits = metric(m1, 'planboard_sqlite_commits_total') - metric(m0, 'planboard_sqlite_commits_total');
  // one tenant's moves that wait for its previous write go as one batch, one commit
  // (docs/writer.md "Moves"): at most one commit per move, at least one in all
  assert.ok(commits >= 1 && commits <= N * ROUNDS, `commits ${commits}`);
  const p = spawnSync('promtool', ['check', 'metrics'], { input: m1, encoding: 'utf8' });
  assert.equal(p.status, 0, `promtool: ${p.stdout}${p.stderr}`);
  watcher.close();
});

// SQLite only: group commit is the fdatasync of SQLite's WAL file (server/durable.c);
// PostgreSQL's COMMIT is durable by itself.
test('concurrent moves under FULL are grouped into fewer fsyncs of the WAL', { skip: SQLITE_ONLY }, async () => {
  const token = await srv.token('scheduler');
  const N = 8, ROUNDS = 10;
  const { m0, m1 } = await concurrentMoves(token, N, ROUNDS);
  const commits = metric(m1, 'planboard_sqlite_commits_total') - metric(m0, 'planboard_sqlite_commits_total');
  const syncs = metric(m1, 'planboard_group_commit_syncs_total') - metric(m0, 'planboard_group_commit_syncs_total');
  assert.ok(commits >= 1 && commits <= N * ROUNDS, `commits ${commits}`);
  assert.ok(syncs >= 1 && syncs <= commits, `syncs ${syncs} for ${commits} commits`);
  assert.ok(metric(m1, 'planboard_commit_durable_seconds_count') >= syncs - 1, 'one latency sample per group');
});

test('an answered move is in the database after a restart', async () => {
  const token = await srv.token('scheduler');
  const { byCode } = await srv.workCentres(token);
  const board = (await srv.board(token)).body;
  const o = board.backlog[0] ?? board.workCentres[0].orders[0];
  const r = await srv.req('PUT', `/api/orders/${o.id}/move`, { token, json: { toWorkCentreId: byCode.PACK, position: 0 } });
  assert.equal(r.status, 200, r.text);
  await srv.restart();
  srv.tokens = {};
  const t2 = await srv.token('scheduler');
  const g = await srv.req('GET', `/api/orders/${o.id}`, { token: t2 });
  assert.equal(g.body.workCentreId, byCode.PACK);
  assert.equal(g.body.position, 0);
  assert.equal(g.body.version, r.body.version);
});

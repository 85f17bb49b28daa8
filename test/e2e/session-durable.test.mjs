// [database] synchronous = FULL for sessions (issue 8 item 8): logins, refreshes and logouts
// are commits that group commit (server/durable.c) syncs before their answer leaves, like
// every other write; the demo tenant seeded at start is synced before anything is answered;
// `planboard tenant create` syncs its commit before it reports success.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, BIN, OTHER_PASSWORD, SQLITE_ONLY } from './lib.mjs';

let srv;
before(async () => { srv = await startServer({ config: { database: { synchronous: 'FULL' } } }); });
after(async () => { if (srv) await srv.stop(); });

function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line !== undefined, `metric ${name} missing`);
  return Number(line.split(' ').pop());
}

/** The commit counter (both stores) and group commit's WAL syncs (SQLite only: `withSyncs`). */
async function counters(withSyncs) {
  const t = (await srv.req('GET', '/metrics')).text;
  return { commits: metric(t, 'planboard_sqlite_commits_total'),
    syncs: withSyncs ? metric(t, 'planboard_group_commit_syncs_total') : undefined };
}

// Runs first: nothing has been written since the start but the demo tenant. SQLite only (as
// every test here of group commit's fdatasync of SQLite's WAL; PostgreSQL's COMMIT is durable
// by itself).
test('the demo tenant written at start is synced before the first answer', { skip: SQLITE_ONLY }, async () => {
  const c = await counters(true);
  assert.ok(c.commits >= 1, `commits ${c.commits}`);
  assert.ok(c.syncs >= 1, 'the seed commit was never synced: it was counted durable unsynced');
});

/** Run `what`; assert it was a commit and, with `synced`, that a sync covering it ran by the
 * time it answered. */
async function assertCommitted(what, fn, synced) {
  const c0 = await counters(synced);
  const r = await fn();
  const c1 = await counters(synced);
  assert.ok(c1.commits - c0.commits >= 1, `${what}: no commit counted (the answer waited for nothing)`);
  if (synced) assert.ok(c1.syncs - c0.syncs >= 1, `${what}: no fdatasync covered it`);
  return r;
}

/** Log in, refresh, log out, each asserted a commit (and synced, with `synced`), then restart. */
async function sessionRound(synced) {
  const login = await assertCommitted('login', () => srv.login('scheduler'), synced);
  assert.equal(login.status, 200, login.text);
  const refresh = await assertCommitted('refresh', () =>
    srv.req('POST', '/api/auth/refresh', { json: { refreshToken: login.body.refreshToken } }), synced);
  assert.equal(refresh.status, 200, refresh.text);
  const logout = await assertCommitted('logout', () =>
    srv.req('POST', '/api/auth/logout', { token: refresh.body.accessToken }), synced);
  assert.equal(logout.status, 204, logout.text);
  // What was answered survives a restart: the rotated-away and the logged-out tokens stay dead.
  await srv.restart();
  const again = await srv.req('POST', '/api/auth/refresh', { json: { refreshToken: refresh.body.refreshToken } });
  assert.equal(again.status, 401, again.text);
  const old = await srv.req('POST', '/api/auth/refresh', { json: { refreshToken: login.body.refreshToken } });
  assert.equal(old.status, 401, old.text);
}

test('login, refresh and logout are commits, and what they answered survives a restart', () => sessionRound(false));

test('login, refresh and logout are group commits: their answers wait for the fsync', { skip: SQLITE_ONLY },
  () => sessionRound(true));

test('a failed refresh is no commit', async () => {
  const c0 = await counters(false);
  const r = await srv.req('POST', '/api/auth/refresh', { json: { refreshToken: 'no-such-token' } });
  assert.equal(r.status, 401, r.text);
  const c1 = await counters(false);
  assert.equal(c1.commits, c0.commits);
});

// The CLI runs no group-commit thread: under FULL, SQLite itself must sync its COMMIT, before
// it prints success. Traced with strace (system calls in order, file descriptors with paths).
// SQLite only: it looks for the fdatasync of SQLite's WAL file (pb.db-wal).
test('planboard tenant create under FULL syncs its commit before it reports success', { skip: SQLITE_ONLY }, () => {
  const trace = join(srv.dir, 'cli.strace');
  const p = spawnSync('strace', ['-f', '-y', '-e', 'trace=fsync,fdatasync,write', '-o', trace,
    BIN, 'tenant', 'create', 'durable-co', '--name', 'Durable Co', '--admin', 'root', '--config', srv.cfgPath],
  { env: { ...process.env, PLANBOARD_PASSWORD: OTHER_PASSWORD,
    // LeakSanitizer cannot run under ptrace; the CLI's leaks are checked by cli.test.mjs.
    ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'detect_leaks=0'].filter(Boolean).join(':') },
  encoding: 'utf8', timeout: 60000 });
  assert.equal(p.error, undefined, `strace: ${p.error}`);
  assert.equal(p.status, 0, p.stdout + p.stderr);
  const lines = readFileSync(trace, 'utf8').split('\n');
  const done = lines.findIndex((l) => /write\(1</.test(l) && l.includes('tenant durable-co created'));
  assert.ok(done >= 0, `no success line in the trace:\n${lines.join('\n').slice(-3000)}`);
  const syncs = lines.slice(0, done).filter((l) => /\b(fsync|fdatasync)\(\d+<[^>]*pb\.db-wal>\) = 0/.test(l));
  assert.ok(syncs.length >= 1, `success printed before any sync of the WAL:\n${lines.slice(0, done + 1).join('\n').slice(-3000)}`);
});

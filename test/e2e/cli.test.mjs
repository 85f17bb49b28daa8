// The CLI (SPEC §7): tenant create against a running server, bad config, port in use.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { startServer, run, writeConfig, freePort, assertError, SANITIZER_MARKERS } from './lib.mjs';

let srv, dir;
before(async () => {
  srv = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'e2e-planboard-cli-'));
});
after(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (srv) await srv.stop();
});

/** Assert a failed start: non-zero exit (not a crash) with a one-line reason on stderr. */
function assertRefused(r, what, pattern, maxLines = 1) {
  assert.equal(r.signal, null, `${what}: killed by ${r.signal}\n${r.stderr}`);
  assert.notEqual(r.code, 0, `${what}: exit code 0\n${r.stderr}`);
  for (const m of SANITIZER_MARKERS) assert.ok(!r.stderr.includes(m), `${what}: sanitizer report\n${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.ok(lines.length >= 1 && lines.length <= maxLines, `${what}: expected a one-line reason, got:\n${r.stderr}`);
  if (pattern) assert.match(lines.at(-1), pattern, what);
}

test('a tenant created by the CLI while the server runs can log in at once', async () => {
  const r = await run(['tenant', 'create', 'acme-2', '--name', 'Acme Two', '--admin', 'root', '--config', srv.cfgPath],
    { env: { PLANBOARD_PASSWORD: 'acme-password-123' } });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const l = await srv.login('root', 'acme-password-123', 'acme-2');
  assert.equal(l.status, 200, l.text);
  assert.equal(l.body.user.role, 'admin');
  const me = await srv.req('GET', '/api/auth/me', { token: l.body.accessToken });
  assert.equal(me.status, 200, me.text);
  assert.equal(me.body.tenant.slug, 'acme-2');
  assert.equal(me.body.tenant.name, 'Acme Two');
  // Its board is its own: no demo orders.
  const b = await srv.board(l.body.accessToken);
  assert.equal(b.status, 200, b.text);
  assert.equal(b.body.backlog.length, 0);
  for (const w of b.body.workCentres) assert.equal(w.orders.length, 0);
  const o = await srv.req('GET', '/api/orders', { token: l.body.accessToken });
  assert.equal(o.body.data.length, 0);
  // A demo order id is a 404 in the new tenant.
  assertError(await srv.req('GET', '/api/orders/1', { token: l.body.accessToken }), 404, 'not_found');
  // The password can also come from stdin.
  const r2 = await run(['tenant', 'create', 'acme-3', '--name', 'Acme Three', '--admin', 'root', '--config', srv.cfgPath],
    { input: 'stdin-password-123\n' });
  assert.equal(r2.code, 0, r2.stdout + r2.stderr);
  assert.equal((await srv.login('root', 'stdin-password-123', 'acme-3')).status, 200);
  // A slug that exists already is refused.
  const r3 = await run(['tenant', 'create', 'acme-2', '--name', 'Again', '--admin', 'root', '--config', srv.cfgPath],
    { env: { PLANBOARD_PASSWORD: 'acme-password-123' } });
  assert.notEqual(r3.code, 0, 'duplicate slug accepted');
});

test('a bad config file: non-zero exit with a one-line reason', async () => {
  const port = await freePort();
  const env = { PORT: String(port) };
  const cases = {
    'bad value': '[locks]\nttl_seconds = banana\n',
    'out of range': '[limits]\nws_queue_bytes = 10\n',
    'garbage line': '[server]\nthis is not an ini line\n',
    'unknown key': '[server]\nno_such_setting = 1\n',
  };
  for (const [what, text] of Object.entries(cases)) {
    const p = join(dir, `${what.replace(/ /g, '-')}.ini`);
    writeFileSync(p, `[database]\npath = ${join(dir, 'x.db')}\n[auth]\njwt_secret_file = ${join(dir, 'jwt')}\n${text}`);
    const r = await run(['serve', '--config', p], { env, timeout: 10000 });
    assertRefused(r, what);
  }
  assertRefused(await run(['serve', '--config', join(dir, 'does-not-exist.ini')], { env, timeout: 10000 }), 'missing file');
  // An unreadable database: a file that is not SQLite.
  const garbage = join(dir, 'garbage.db');
  writeFileSync(garbage, 'this is not an SQLite database\n'.repeat(200));
  const p = join(dir, 'baddb.ini');
  writeFileSync(p, `[database]\npath = ${garbage}\n[auth]\njwt_secret_file = ${join(dir, 'jwt')}\n`);
  assertRefused(await run(['serve', '--config', p], { env, timeout: 10000 }), 'unreadable database', /database/i);
});

test('a port already in use: non-zero exit with a one-line reason', async () => {
  // The port of the running server.
  const d2 = mkdtempSync(join(tmpdir(), 'e2e-planboard-port-'));
  try {
    const cfg = writeConfig(d2);
    const r = await run(['serve', '--config', cfg], { env: { PORT: String(srv.port) }, timeout: 5000 });
    assertRefused(r, 'port of a running planboard');
    // A port held by another process.
    const holder = net.createServer();
    await new Promise((res) => holder.listen(0, '127.0.0.1', res));
    try {
      const r2 = await run(['serve', '--config', cfg], { env: { PORT: String(holder.address().port) }, timeout: 5000 });
      assertRefused(r2, 'port held by another process');
    } finally {
      await new Promise((res) => holder.close(res));
    }
  } finally {
    rmSync(d2, { recursive: true, force: true });
  }
  // The running server is unaffected.
  assert.equal((await srv.req('GET', '/api/health')).status, 200);
});

// The schema on PostgreSQL (SPEC §12; docs/postgresql.md "The schema on PostgreSQL"),
// PostgreSQL only: every node applies schema-pg.sql at start.
//   1. Nodes started at the same time on one new database all come up: the schema goes in
//      under an advisory lock, one node after the other. Before, CREATE TABLE IF NOT EXISTS
//      raced in PostgreSQL's catalog and three of four nodes exited with "duplicate key value
//      violates unique constraint pg_type_typname_nsp_index".
//   2. A database whose schema_version is newer than this planboard's is refused at start,
//      with a message naming both versions, and left as it was.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startServer, run, pgCreateDb, BACKEND } from './lib.mjs';

const PG = BACKEND === 'postgresql' ? false : 'needs PostgreSQL (PB_TEST_PG): the schema on PostgreSQL';
const NODES = 4;
const servers = [];
after(async () => { for (const s of servers) await s.stop(); });

const psql = (url, sql) => {
  const r = spawnSync('psql', [url, '-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, `psql: ${r.stderr}`);
  return r.stdout.trim();
};

test(`${NODES} nodes started at the same time on a new database all come up`, { skip: PG, timeout: 60000 }, async () => {
  const url = pgCreateDb();
  const started = await Promise.allSettled(Array.from({ length: NODES },
    () => startServer({ command: 'serve', config: { database: { url } } })));
  for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
  const failed = started.filter((s) => s.status === 'rejected').map((s) => String(s.reason).slice(0, 600));
  assert.deepEqual(failed, [], `nodes that did not start: ${failed.length}`);
  assert.equal(psql(url, 'SELECT count(*) FROM schema_version'), '1');
  for (const s of servers) {
    const h = await s.req('GET', '/api/health');
    assert.equal(h.status, 200, h.text);
  }
});

test('a database of a newer schema version is refused at start and left as it was', { skip: PG, timeout: 60000 }, async () => {
  const url = pgCreateDb();
  const dir = mkdtempSync(join(tmpdir(), 'e2e-pg-schema-'));
  const cfg = join(dir, 'cfg.ini');
  writeFileSync(cfg, `[database]\nurl = ${url}\n[auth]\njwt_secret_file = ${join(dir, 'jwt.secret')}\n`);
  let r = await run(['tenant', 'create', 'first', '--name', 'First', '--admin', 'boss', '--config', cfg],
    { env: { PLANBOARD_PASSWORD: 'a-long-enough-password' } });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const version = psql(url, 'SELECT max(version) FROM schema_version');
  assert.ok(Number(version) >= 1, `schema_version ${version}`);
  psql(url, 'UPDATE schema_version SET version = 999');
  r = await run(['tenant', 'create', 'second', '--name', 'Second', '--admin', 'boss', '--config', cfg],
    { env: { PLANBOARD_PASSWORD: 'a-long-enough-password' } });
  assert.notEqual(r.code, 0, 'a planboard of an older schema opened the database');
  assert.match(r.stderr + r.stdout, new RegExp(`schema is version 999, newer than this planboard's \\(${version}\\)`));
  assert.equal(psql(url, 'SELECT max(version) FROM schema_version'), '999');
  assert.equal(psql(url, "SELECT count(*) FROM tenants WHERE slug = 'second'"), '0');
});

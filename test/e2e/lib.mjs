// End-to-end test helpers for planboard (SPEC.md): start a real server process on a free
// 127.0.0.1 port with its own temp dir, log in, talk REST (global fetch) and WebSocket (npm ws).
// Every wait is bounded by a timeout so a test never hangs.
//
// Environment: PB_BIN (server binary, default build/planboard of this checkout),
//              PB_SAMPLES (sample CSV dir, default ../shared/samples beside this checkout).
//              PB_E2E_LOG (a file): every server's stderr is appended to it when the server
//              stops, headed by the test file's name (to read the store's errors of a run).
//              PB_TEST_PG (a PostgreSQL URL whose role may CREATE DATABASE, e.g. the one
//              scripts/pg-temp.sh prints): every server then stores in a fresh PostgreSQL
//              database of its own instead of an SQLite file (SPEC §12; `make test` runs the
//              suite both ways).
// Every default path is derived from this file's place, never from the machine's layout.

import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, appendFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = process.env.PB_BIN || join(CHECKOUT, 'build/planboard');
export const SAMPLES = process.env.PB_SAMPLES || join(CHECKOUT, '../shared/samples');
/** The browser board served by every test server: web/ of this checkout. */
export const WEB_DIR = join(CHECKOUT, 'web');
export const DEMO_PASSWORD = 'demo-password-123';
export const OTHER_PASSWORD = 'other-password-123';
export const SANITIZER_MARKERS = ['AddressSanitizer', 'LeakSanitizer', 'runtime error'];
// ASan builds are slower to start and to answer.
export const SLOW = /san/.test(BIN);

export function sample(name) {
  return readFileSync(join(SAMPLES, name));
}

/**
 * A UTC calendar day as YYYY-MM-DD, from the clock alone (no locale, time-zone or ICU data).
 * Tests that compare a server-set date with "today" take utcDay() before and after the request
 * and accept either, so they pass on any day at any hour. The demo tenant's timezone is UTC.
 */
export function utcDay(offsetDays = 0) {
  return new Date(Date.now() + offsetDays * 86400000).toISOString().slice(0, 10);
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolve `p`, or reject with `what` after `ms`. */
export function withTimeout(p, ms, what) {
  let t;
  const timer = new Promise((_, rej) => {
    t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timer]).finally(() => clearTimeout(t));
}

/** A free TCP port on 127.0.0.1 (bind to 0, read it, release it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Poll until `fn()` returns a truthy value; returns it. Rejects after `timeout` ms. */
export async function until(fn, { timeout = 5000, interval = 50, what = 'condition', abort } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    const why = abort && abort();
    if (why) throw new Error(`gave up waiting for ${what}: ${why}`);
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timeout after ${timeout} ms waiting for ${what} (last: ${last})`);
    await sleep(interval);
  }
}

/**
 * Run the server binary to completion; resolves {code, signal, stdout, stderr}. Bounded: after
 * `timeout` ms the child is killed (SIGKILL) and the promise rejects with what it printed.
 */
export function run(args, { env = {}, timeout = 20000, input } = {}) {
  let p;
  let stdout = '', stderr = '';
  const done = new Promise((resolve, reject) => {
    p = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    p.stdin.on('error', () => {});
    if (input !== undefined) p.stdin.end(input); else p.stdin.end();
  });
  return withTimeout(done, timeout, `${BIN} ${args.join(' ')}`).catch((e) => {
    if (p && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    throw new Error(`${e.message}\nstdout: ${stdout.slice(-1000)}\nstderr: ${stderr.slice(-2000)}`);
  });
}

/** The PostgreSQL URL the suite runs against, or null (SQLite). */
export const PG_URL = process.env.PB_TEST_PG || null;
/** Which store the servers use: 'postgresql' or 'sqlite'. Tests of SQLite's own files (WAL,
 * checkpoints, the file peeked at with sqlite3) run on SQLite only. */
export const BACKEND = PG_URL ? 'postgresql' : 'sqlite';
export const SQLITE_ONLY = PG_URL ? 'SQLite only (PB_TEST_PG is set): a test of SQLite\'s own machinery' : false;

let pgDbCount = 0;
/** A new, empty PostgreSQL database on PG_URL's server; returns its URL. */
export function pgCreateDb() {
  const name = `e2e_${process.pid}_${Date.now().toString(36)}_${pgDbCount++}`;
  const r = spawnSync('psql', [PG_URL, '-qAtc', `CREATE DATABASE ${name}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`CREATE DATABASE ${name}: ${r.stderr || r.error}`);
  const u = new URL(PG_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Drop a database pgCreateDb made (after its server exited). */
export function pgDropDb(url) {
  const name = new URL(url).pathname.slice(1);
  spawnSync('psql', [PG_URL, '-qAtc', `DROP DATABASE IF EXISTS ${name}`], { encoding: 'utf8' });
}

/** `v` as an SQL literal for Server.sql (the same spelling on SQLite and PostgreSQL). */
function sqlLiteral(v) {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return v ? '1' : '0';
  return `'${String(v).replace(/'/g, "''")}'`;
}

/** Write a config INI into `dir`; `extra` is {section: {key: value}} merged over the base. */
export function writeConfig(dir, extra = {}) {
  const cfg = {
    server: { static_dir: WEB_DIR },
    database: PG_URL ? { url: pgCreateDb() } : { path: join(dir, 'pb.db') },
    auth: { jwt_secret_file: join(dir, 'jwt.secret') },
    locks: { ttl_seconds: 30 },
  };
  for (const [sec, kv] of Object.entries(extra)) cfg[sec] = { ...(cfg[sec] || {}), ...kv };
  let text = '';
  for (const [sec, kv] of Object.entries(cfg)) {
    text += `[${sec}]\n`;
    for (const [k, v] of Object.entries(kv)) text += `${k} = ${v}\n`;
    text += '\n';
  }
  const path = join(dir, 'cfg.ini');
  writeFileSync(path, text);
  if (cfg.database.url) writeFileSync(join(dir, 'pg.url'), cfg.database.url);
  return path;
}

/**
 * Start `planboard demo` with its own temp dir and a free port, and wait for /api/health.
 * options.config: extra INI settings {section: {key: value}}; options.command: `demo` (the
 * default: seeds the demo tenant) or `serve`.
 * Returns a Server (see class below). Always call server.stop() (asserts a clean exit).
 */
export async function startServer({ config = {}, startTimeout = 15000, command = 'demo' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'e2e-planboard-'));
  const cfgPath = writeConfig(dir, config);
  const port = await freePort();
  const srv = new Server(dir, cfgPath, port);
  await srv.launch(startTimeout, command);
  return srv;
}

export class Server {
  constructor(dir, cfgPath, port) {
    this.dir = dir;
    this.cfgPath = cfgPath;
    this.port = port;
    this.base = `http://127.0.0.1:${port}`;
    this.wsBase = `ws://127.0.0.1:${port}`;
    this.stdout = '';
    this.stderr = '';
    this.exit = null;
    this.tokens = {};
    this.clients = new Set();
  }

  async launch(startTimeout, command = 'demo') {
    this.proc = spawn(BIN, [command, '--config', this.cfgPath], {
      env: { ...process.env, PORT: String(this.port), PLANBOARD_DEMO_PASSWORD: DEMO_PASSWORD },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      this.proc.on('error', (e) => {
        this.exit = { code: null, signal: null, error: e };
        resolve(this.exit);
      });
    });
    this.proc.stdout.on('data', (d) => { this.stdout += d; });
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    try {
      await until(async () => {
        const r = await fetch(`${this.base}/api/health`, { signal: AbortSignal.timeout(1000) });
        return r.status === 200;
      }, { timeout: startTimeout, interval: 50, what: 'server /api/health',
        abort: () => this.exit && `server exited early: ${JSON.stringify(this.exit)}` });
    } catch (e) {
      if (!this.exit) this.proc.kill('SIGKILL');
      throw new Error(`${e.message}\nstderr:\n${this.stderr.slice(-4000)}`);
    }
  }

  /** SIGTERM; assert exit code 0 and no sanitizer report. Closes leftover WS clients first. */
  async stop({ closeClients = true } = {}) {
    if (closeClients) for (const c of this.clients) c.terminate();
    // A signal the test did not send (another process on this machine; PIDs are reused fast
    // here) shows up as a shutdown log line before ours: name it in any failure below.
    const foreign = !this.exit && /signal \d+/.test(this.stderr)
      ? 'NOTE: the server logged a signal before stop() sent SIGTERM (an outside process signalled it)\n' : '';
    if (!this.exit) this.proc.kill('SIGTERM');
    let exit;
    try {
      exit = await withTimeout(this.exited, SLOW ? 20000 : 10000, 'server exit after SIGTERM');
    } catch (e) {
      this.proc.kill('SIGKILL');
      await withTimeout(this.exited, 5000, 'server exit after SIGKILL').catch(() => {});
      throw e;
    }
    if (process.env.PB_E2E_LOG) {
      appendFileSync(process.env.PB_E2E_LOG, `==== ${process.argv[1] || ''} (${this.dir})\n${this.stderr}\n`);
    }
    try { pgDropDb(readFileSync(join(this.dir, 'pg.url'), 'utf8')); } catch { /* SQLite */ }
    rmSync(this.dir, { recursive: true, force: true });
    this.assertCleanLog();
    assert.equal(exit.signal, null, `${foreign}server killed by signal ${exit.signal}\n${this.stderr.slice(-3000)}`);
    assert.equal(exit.code, 0, `${foreign}server exit code ${exit.code}\n${this.stderr.slice(-3000)}`);
  }

  /**
   * Stop the process (SIGTERM; clean exit asserted) and start a new one on the SAME port,
   * database and JWT secret: tokens stay valid, locks are gone, the rooms keep their epoch
   * and seq (the event log). With `kill: true` the process is SIGKILLed instead (a crash):
   * then every room's epoch changes. `whileStopped(dbPath)` runs between the two processes
   * (dbPath: the SQLite file; this.sql(..., { write: true }) works on either backend).
   */
  async restart({ startTimeout = 15000, kill = false, whileStopped = null } = {}) {
    for (const c of this.clients) c.terminate();
    if (!this.exit) this.proc.kill(kill ? 'SIGKILL' : 'SIGTERM');
    const exit = await withTimeout(this.exited, SLOW ? 20000 : 10000, 'server exit for restart');
    this.assertCleanLog();
    if (kill) assert.equal(exit.signal, 'SIGKILL', `server exit ${JSON.stringify(exit)} before restart`);
    else assert.equal(exit.code, 0, `server exit code ${exit.code} before restart\n${this.stderr.slice(-3000)}`);
    if (whileStopped) await whileStopped(join(this.dir, 'pb.db'));
    this.exit = null;
    await this.launch(startTimeout);
  }

  assertCleanLog() {
    for (const m of SANITIZER_MARKERS) {
      const i = this.stderr.indexOf(m);
      assert.equal(i, -1, `server stderr contains "${m}":\n${this.stderr.slice(Math.max(0, i - 2000), i + 3000)}`);
    }
  }

  /** fetch `path` with optional token and JSON body; returns {status, headers, body, text}. */
  async req(method, path, { token, json, body, headers = {}, timeout = 10000 } = {}) {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (json !== undefined) {
      body = JSON.stringify(json);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    }
    const r = await fetch(this.base + path, { method, headers: h, body, signal: AbortSignal.timeout(timeout) });
    const text = await r.text();
    let parsed;
    try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
    return { status: r.status, headers: r.headers, body: parsed, text };
  }

  /** POST /api/auth/login; returns the response. */
  login(username, password = DEMO_PASSWORD, tenant = 'demo') {
    return this.req('POST', '/api/auth/login', { json: { tenant, username, password } });
  }

  /** Access token for a user (cached); asserts the login works. */
  async token(username, password = DEMO_PASSWORD, tenant = 'demo') {
    const key = `${tenant}/${username}`;
    if (!this.tokens[key]) {
      const r = await this.login(username, password, tenant);
      assert.equal(r.status, 200, `login ${key}: ${r.text}`);
      this.tokens[key] = r.body.accessToken;
    }
    return this.tokens[key];
  }

  /** `planboard tenant create` against this server's database (while it runs). */
  async createTenant(slug, admin = 'boss', password = OTHER_PASSWORD, name = slug) {
    const r = await run(['tenant', 'create', slug, '--name', name, '--admin', admin, '--config', this.cfgPath],
      { env: { PLANBOARD_PASSWORD: password } });
    assert.equal(r.code, 0, `tenant create ${slug}: ${r.stdout}${r.stderr}`);
    return r;
  }

  board(token) {
    return this.req('GET', '/api/planning-board', { token });
  }

  /** The URL of this server's PostgreSQL database (PB_TEST_PG), or null on SQLite. */
  pgUrl() {
    return PG_URL ? readFileSync(join(this.dir, 'pg.url'), 'utf8').trim() : null;
  }

  /**
   * PostgreSQL: a test trigger on room_events refuses (raises on) every row whose frame
   * contains `marker`, as a failing log write would: the change that causes such an event must
   * then not happen at all (SPEC §12, issue 13 item 2). acceptEvents() drops it.
   */
  refuseEvents(marker) {
    this.sql(`CREATE OR REPLACE FUNCTION pb_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF strpos(NEW.frame, TG_ARGV[0]) > 0 THEN RAISE EXCEPTION 'refused by the test'; END IF;
      RETURN NEW; END $$;
      DROP TRIGGER IF EXISTS pb_test_refuse ON room_events;
      CREATE TRIGGER pb_test_refuse BEFORE INSERT ON room_events FOR EACH ROW
        EXECUTE FUNCTION pb_test_refuse('${marker}')`, [], { write: true });
  }

  acceptEvents() {
    this.sql('DROP TRIGGER IF EXISTS pb_test_refuse ON room_events', [], { write: true });
  }

  /**
   * Run one SQL statement on this server's database from another process, on either backend:
   * `sqlite3 -json -readonly` on the SQLite file (WAL lets it read while the server runs), or
   * `psql` on the server's PostgreSQL database with the rows folded by json_agg. Returns the
   * rows as objects (column name -> value; integers are JSON numbers on both). `params` fill
   * $1, $2, ... as SQL literals (numbers as they are, strings quoted, null as NULL).
   * Write portable SQL (CAST, COALESCE, CASE; no hex(), no PRAGMA). With `write: true` the
   * statement runs as it is (read-write; for UPDATEs while the server is stopped) and [] is
   * returned. Throws with the tool's stderr on any SQL error.
   */
  sql(query, params = [], { write = false } = {}) {
    const q = query.trim().replace(/;\s*$/, '').replace(/\$(\d+)/g, (_, i) => sqlLiteral(params[Number(i) - 1]));
    const opts = { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] };
    if (PG_URL) {
      const stmt = write ? q : `SELECT coalesce(json_agg(t), '[]') FROM (${q}) t`;
      const out = execFileSync('psql', [this.pgUrl(), '-X', '-v', 'ON_ERROR_STOP=1', '-Atc', stmt], opts);
      return write ? [] : JSON.parse(out);
    }
    const args = write ? [join(this.dir, 'pb.db'), q] : ['-json', '-readonly', join(this.dir, 'pb.db'), q];
    const out = execFileSync('sqlite3', ['-bail', ...args], opts);
    return write || !out.trim() ? [] : JSON.parse(out);
  }

  /** Open a WS client (see WsClient.connect). Tracked so stop() can clean up. On PostgreSQL
   * it returns once the events its join published (user_joined) are out (settled()). */
  async ws(token, opts = {}) {
    const c = await WsClient.connect(this, token, opts);
    this.clients.add(c);
    c.ws.on('close', () => this.clients.delete(c));
    await this.settled();
    return c;
  }

  /**
   * Wait until every event this server published or was notified of has reached its room
   * (/metrics planboard_events_unsettled is 0). On PostgreSQL the database gives events their
   * seq after the change is answered (SPEC §12), so a test that compares seqs or counts
   * events "after" something waits for this first; on SQLite events are in the room when the
   * answer leaves: nothing to wait for.
   */
  async settled({ timeout = 5000 } = {}) {
    if (!PG_URL) return;
    await until(async () => {
      const r = await fetch(`${this.base}/metrics`, { signal: AbortSignal.timeout(1000) });
      const m = /^planboard_events_unsettled (\d+)/m.exec(await r.text());
      return m !== null && m[1] === '0';
    }, { timeout, interval: 10, what: 'planboard_events_unsettled 0' });
  }

  /** Work-centre code -> id map and id -> code map. */
  async workCentres(token) {
    const r = await this.req('GET', '/api/work-centres', { token });
    assert.equal(r.status, 200, r.text);
    const byCode = {}, byId = {};
    for (const w of r.body.data) { byCode[w.code] = w.id; byId[w.id] = w.code; }
    return { list: r.body.data, byCode, byId };
  }
}

let refCounter = 0;

/**
 * A WebSocket client that records every message it receives.
 * - waitFor(pred, {timeout, from}) resolves with the first message (from index `from`) matching.
 * - request(event, data) sends with a fresh ref and resolves with the ack or error carrying it.
 * - closed: a promise of {code, reason} once the socket closes.
 */
export class WsClient {
  constructor(ws) {
    this.ws = ws;
    this.messages = [];
    this.waiters = [];
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        for (const w of this.waiters) w.check();
      });
    });
    ws.on('message', (data, isBinary) => {
      let m;
      try { m = JSON.parse(data.toString()); } catch { m = { unparsable: data.toString(), isBinary }; }
      this.messages.push(m);
      for (const w of [...this.waiters]) w.check();
    });
    ws.on('error', () => {});
  }

  /**
   * Connect to /ws. opts: protocol (string, e.g. 'planboard.v1'; default none), join (default
   * true: send join_planning_board and wait for its ack), joinData ({sinceSeq, epoch}),
   * auth: 'query' (default) or 'header'. Resolves once `hello` (and the join ack) arrived.
   */
  static async connect(server, token, { protocol, join = true, joinData, auth = 'query', timeout = 10000 } = {}) {
    const url = auth === 'query' ? `${server.wsBase}/ws?token=${encodeURIComponent(token)}` : `${server.wsBase}/ws`;
    const headers = auth === 'header' ? { authorization: `Bearer ${token}` } : {};
    const ws = protocol ? new WebSocket(url, protocol, { headers }) : new WebSocket(url, { headers });
    const c = new WsClient(ws);
    await withTimeout(new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    }), timeout, 'ws open');
    c.hello = await c.waitFor((m) => m.event === 'hello', { timeout });
    if (join) {
      const a = await c.request('join_planning_board', joinData || {}, { timeout });
      assert.equal(a.event, 'ack', `join: ${JSON.stringify(a)}`);
      c.joinAck = a;
    }
    return c;
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  /** Send {event, ref, data}; resolve with the direct reply (ack, error, pong) of the same ref. */
  async request(event, data, { timeout = 10000 } = {}) {
    const ref = `r${++refCounter}`;
    const from = this.messages.length;
    const msg = { event, ref };
    if (data !== undefined) msg.data = data;
    this.send(msg);
    // ack / error (or pong for ping): the direct reply carrying our ref.
    return this.waitFor((m) => m.ref === ref && m.seq === undefined,
      { timeout, from, what: `reply to ${event} ${ref}` });
  }

  /** First message at index >= from matching pred; bounded by timeout; rejects if closed first. */
  waitFor(pred, { timeout = 5000, from = 0, what = 'message' } = {}) {
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          for (let i = from; i < this.messages.length; i++) {
            if (pred(this.messages[i])) { done(); resolve(this.messages[i]); return; }
          }
          from = this.messages.length;
          if (this.closeInfo) { done(); reject(new Error(`socket closed (${this.closeInfo.code}) while waiting for ${what}`)); }
        },
      };
      const t = setTimeout(() => { done(); reject(new Error(`timeout after ${timeout} ms waiting for ${what}`)); }, timeout);
      const done = () => { clearTimeout(t); this.waiters = this.waiters.filter((x) => x !== w); };
      this.waiters.push(w);
      w.check();
    });
  }

  /** Wait until `n` messages match pred (counting from index 0); returns them. */
  async waitCount(pred, n, { timeout = 10000, what = 'messages' } = {}) {
    await until(() => this.messages.filter(pred).length >= n || this.closeInfo,
      { timeout, interval: 20, what: `${n} ${what}` });
    const got = this.messages.filter(pred);
    assert.ok(got.length >= n, `${what}: expected ${n}, got ${got.length} (closed: ${JSON.stringify(this.closeInfo)})`);
    return got;
  }

  events(name) {
    return this.messages.filter((m) => m.event === name);
  }

  async close(timeout = 5000) {
    if (!this.closeInfo) this.ws.close();
    return withTimeout(this.closed, timeout, 'ws close');
  }

  terminate() {
    this.ws.terminate();
  }
}

/** Try an upgrade that should be refused; resolves with the HTTP status (or 'open'/'error'). */
export function tryUpgrade(url, { protocol, ...opts } = {}, timeout = 5000) {
  return withTimeout(new Promise((resolve) => {
    const ws = protocol ? new WebSocket(url, protocol, opts) : new WebSocket(url, opts);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => { resolve({ status: res.statusCode, body }); ws.terminate(); });
      res.on('error', () => resolve({ status: res.statusCode, body }));
    });
    ws.on('open', () => { resolve({ status: 'open' }); ws.terminate(); });
    ws.on('error', (e) => resolve({ status: 'error', error: e.message }));
  }), timeout, `upgrade ${url}`);
}

/** Assert the SPEC §4 error body shape and code. */
export function assertError(r, status, code) {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status}: ${r.text}`);
  assert.ok(r.body && typeof r.body === 'object', `error body is not JSON: ${r.text}`);
  assert.equal(r.body.code, code, `code: ${r.text}`);
  assert.equal(typeof r.body.error, 'string', `error sentence: ${r.text}`);
  assert.ok(r.body.error.length > 0);
}

/** Check board columns have dense positions 0..n-1; returns {wcId|'backlog': [orderIds]}. */
export function boardColumns(board) {
  const cols = {};
  for (const wc of board.workCentres) {
    cols[wc.id] = wc.orders.map((o) => o.id);
    wc.orders.forEach((o, i) => {
      assert.equal(o.position, i, `column ${wc.code}: order ${o.id} position ${o.position} at index ${i}`);
      assert.equal(o.workCentreId, wc.id);
    });
  }
  cols.backlog = board.backlog.map((o) => o.id);
  board.backlog.forEach((o, i) => {
    assert.equal(o.position, i, `backlog: order ${o.id} position ${o.position} at index ${i}`);
    assert.equal(o.workCentreId, null);
  });
  return cols;
}

/** All orders of a board snapshot by id. */
export function boardOrders(board) {
  const m = new Map();
  for (const wc of board.workCentres) for (const o of wc.orders) m.set(o.id, o);
  for (const o of board.backlog) m.set(o.id, o);
  return m;
}

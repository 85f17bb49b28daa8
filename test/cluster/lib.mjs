// Cluster test helpers (issue 13 "Tests", SPEC §12): start scripts/cluster.sh in PostgreSQL
// mode (a throwaway PostgreSQL, three planboard nodes, HAProxy in front, all on loopback) and
// talk to it through the front or to one node directly, reusing test/e2e/lib.mjs: a `Server`
// there is only a base URL plus helpers, so the front and each node are one each here.
//
// Environment: PB_BIN (server binary, default build/planboard of this checkout), as for the
// e2e tests. Needs Debian's haproxy and postgresql (the Makefile's TEST_PKGS).
// Every wait is bounded; nothing sleeps and hopes.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { BIN, DEMO_PASSWORD, SANITIZER_MARKERS, Server, freePort, until, withTimeout } from '../e2e/lib.mjs';

export * from '../e2e/lib.mjs';

const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url));
const CLUSTER_SH = join(CHECKOUT, 'scripts/cluster.sh');

/** Parse scripts/cluster.sh's cluster.env (KEY=value or KEY='a b c' lines). */
function parseEnv(text) {
  const env = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_0-9]+)=(?:'([^']*)'|(.*))$/.exec(line);
    if (m) env[m[1]] = m[2] !== undefined ? m[2] : m[3];
  }
  return env;
}

/**
 * A running scripts/cluster.sh (PB_CLUSTER_DB=postgresql). Fields once started:
 *   front: Server (HAProxy's port);  nodes: [Server] (node 1..3 directly);  nodePids: [pid];
 *   dir: the cluster's directory (nodeN.log, haproxy.log, pg/);  dbUrl.
 * Always call stop() (SIGTERM to the script; it stops HAProxy, the nodes and PostgreSQL and
 * removes its directory); it asserts no node printed a sanitizer report.
 */
export class Cluster {
  /** Start it and wait (at most `timeout` ms) until the script wrote cluster.env. A start
   * that lost a port to another process between the script's check and a node's bind (the
   * script says "cannot listen") is tried again, at most twice, on new ports. */
  static async start({ timeout = 120000 } = {}) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await Cluster.startOnce({ timeout });
      } catch (e) {
        if (attempt >= 3 || !/cannot listen on|is in use/.test(e.message)) throw e;
      }
    }
  }

  static async startOnce({ timeout }) {
    const c = new Cluster();
    // mkdtemp makes 0700 directories; as root PostgreSQL runs as `postgres` and must get in.
    c.tmp = mkdtempSync('/tmp/pb-cluster-test-');
    chmodSync(c.tmp, 0o755);
    c.dir = join(c.tmp, 'cluster');
    c.frontPort = await freePort();
    c.out = '';
    c.proc = spawn(CLUSTER_SH, [], {
      env: {
        ...process.env, PB_CLUSTER_DB: 'postgresql', PB_CLUSTER_DIR: c.dir, PB_BIN: BIN,
        PORT: String(c.frontPort), PLANBOARD_DEMO_PASSWORD: DEMO_PASSWORD,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    c.proc.stdout.on('data', (d) => { c.out += d; });
    c.proc.stderr.on('data', (d) => { c.out += d; });
    c.exited = new Promise((resolve) => c.proc.on('exit', (code, signal) => {
      c.exit = { code, signal };
      resolve(c.exit);
    }));
    // A test process that dies must not leave a cluster behind.
    c.onExit = () => { try { c.proc.kill('SIGTERM'); } catch { /* gone */ } };
    process.on('exit', c.onExit);
    const envPath = join(c.dir, 'cluster.env');
    try {
      await until(() => existsSync(envPath), { timeout, interval: 100, what: 'cluster.env',
        abort: () => c.exit && `scripts/cluster.sh exited ${JSON.stringify(c.exit)}:\n${c.out}` });
    } catch (e) {
      await c.stop({ check: false }).catch(() => {});
      throw e;
    }
    const env = parseEnv(readFileSync(envPath, 'utf8'));
    c.dbUrl = env.DB_URL;
    c.nodePorts = env.NODE_PORTS.split(' ').map(Number);
    c.nodePids = env.NODE_PIDS.split(' ').map(Number);
    c.haproxyPid = Number(env.HAPROXY_PID);
    c.front = new Server(c.dir, null, c.frontPort);
    c.nodes = c.nodePorts.map((p) => new Server(c.dir, null, p));
    return c;
  }

  /** SIGKILL node i (0-based): a crash, nothing flushed. */
  killNode(i) {
    process.kill(this.nodePids[i], 'SIGKILL');
  }

  /** The node's log so far (its stderr). */
  nodeLog(i) {
    try { return readFileSync(join(this.dir, `node${i + 1}.log`), 'utf8'); } catch { return ''; }
  }

  /** HAProxy's log so far (server UP/DOWN lines). */
  haproxyLog() {
    try { return readFileSync(join(this.dir, 'haproxy.log'), 'utf8'); } catch { return ''; }
  }

  /** PostgreSQL's settings from scripts/pg-temp.sh's state file: {BIN, RUNAS, PORT}. */
  pgState() {
    return parseEnv(readFileSync(join(this.dir, 'pg', 'pg-temp.state'), 'utf8'));
  }

  /** Run a command as the cluster's PostgreSQL user (root hands it over, as pg-temp.sh does). */
  asPg(cmd, args, timeout = 60000) {
    const st = this.pgState();
    const root = process.getuid && process.getuid() === 0;
    const r = root
      ? spawnSync('runuser', ['-u', st.RUNAS, '--', join(st.BIN, cmd), ...args], { encoding: 'utf8', cwd: '/', timeout })
      : spawnSync(join(st.BIN, cmd), args, { encoding: 'utf8', cwd: '/', timeout });
    return r;
  }

  /**
   * One SQL statement (or several) on database planboard as the superuser over the cluster's
   * socket; returns the rows as arrays of strings (psql -At, fields split on '|').
   */
  sql(text) {
    const st = this.pgState();
    const r = this.asPg('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', join(this.dir, 'pg'),
      '-p', st.PORT, '-U', 'postgres', '-d', 'planboard', '-c', text]);
    assert.equal(r.status, 0, `psql: ${r.stderr || r.error}`);
    return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('|'));
  }

  /** Stop PostgreSQL (pg_ctl stop -m fast, waits until it is down). */
  pgStop() {
    const r = this.asPg('pg_ctl', ['stop', '-s', '-D', join(this.dir, 'pg', 'data'), '-m', 'fast', '-w', '-t', '60']);
    assert.equal(r.status, 0, `pg_ctl stop: ${r.stderr}`);
  }

  /** Start it again on the same port (pg_ctl start -w: returns once it accepts connections). */
  pgStart() {
    const d = join(this.dir, 'pg');
    const r = this.asPg('pg_ctl', ['start', '-w', '-s', '-t', '60', '-D', join(d, 'data'), '-l', join(d, 'postgres.log')]);
    assert.equal(r.status, 0, `pg_ctl start: ${r.stderr}`);
  }

  /** A node's /metrics gauge or counter (no labels) as a number; null when absent. */
  async metric(i, name) {
    const r = await this.nodes[i].req('GET', '/metrics');
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(r.text);
    return m ? Number(m[1]) : null;
  }

  /** SIGTERM to the script and wait for it (at most 60 s); then the node logs are checked. */
  async stop({ check = true } = {}) {
    process.off('exit', this.onExit);
    for (const s of [this.front, ...(this.nodes || [])]) if (s) for (const cl of s.clients) cl.terminate();
    const logs = (this.nodePids || []).map((_, i) => this.nodeLog(i));
    if (!this.exit) this.proc.kill('SIGTERM');
    try {
      await withTimeout(this.exited, 60000, 'scripts/cluster.sh exit after SIGTERM');
    } catch (e) {
      this.proc.kill('SIGKILL');
      throw e;
    } finally {
      rmSync(this.tmp, { recursive: true, force: true });
    }
    if (!check) return;
    logs.forEach((log, i) => {
      for (const m of SANITIZER_MARKERS) {
        const at = log.indexOf(m);
        assert.equal(at, -1, `node ${i + 1} log contains "${m}":\n${log.slice(Math.max(0, at - 2000), at + 3000)}`);
      }
    });
  }
}

/**
 * A client-side board: the columns (work centre id or 'backlog' -> [order ids]) of a
 * GET /api/planning-board answer, kept up to date by applying order_moved events in seq order
 * (the order leaves its column and is inserted at the event's position; the others close up /
 * open up, SPEC §4 move).
 */
export class ClientBoard {
  constructor(board) {
    this.seq = board.seq;
    this.cols = new Map();
    for (const wc of board.workCentres) this.cols.set(wc.id, wc.orders.map((o) => o.id));
    this.cols.set('backlog', board.backlog.map((o) => o.id));
  }

  apply(ev) {
    if (ev.seq <= this.seq) return;
    assert.equal(ev.seq, this.seq + 1, `client board: event seq ${ev.seq} after ${this.seq}`);
    this.seq = ev.seq;
    if (ev.event !== 'order_moved') return;
    const id = ev.data.order.id;
    for (const ids of this.cols.values()) {
      const k = ids.indexOf(id);
      if (k >= 0) ids.splice(k, 1);
    }
    const to = ev.data.order.workCentreId === null ? 'backlog' : ev.data.order.workCentreId;
    const col = this.cols.get(to);
    col.splice(Math.min(ev.data.order.position, col.length), 0, id);
  }

  /** {column: [ids]} with sorted keys, for deepEqual. */
  columns() {
    return Object.fromEntries([...this.cols.entries()].map(([k, v]) => [String(k), [...v]]).sort());
  }
}

/** The same shape as ClientBoard.columns() from a GET /api/planning-board answer. */
export function boardShape(board) {
  return new ClientBoard(board).columns();
}

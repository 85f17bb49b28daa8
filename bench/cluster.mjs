// Cluster bench (issue 13 "Speed"; bench/README.md "Cluster (PostgreSQL)"): figures, never a
// pass/fail on a number. Measures
//   1. moves/s with M closed-loop movers (default 24, and 8 as in scenario 3) through HAProxy
//      over three nodes on one PostgreSQL (scripts/cluster.sh), the same for ONE node on
//      PostgreSQL (a database of its own on the same PostgreSQL) and for the SQLite single node
//      (synchronous FULL and NORMAL): the method of bench/run.py scenario 3 "Durable moves"
//      (bench/build/pbload moves: each mover one keep-alive connection, its own orders, REST
//      PUT /api/orders/:id/move, next move when the previous answered), with 85 orders added to
//      the demo tenant so 24 movers have orders of their own;
//   2. event latency: a REST move sent to node 1 until a WebSocket client joined on node 3
//      receives its order_moved (p50/p99 over N moves one at a time), next to the same with the
//      client on node 1, and on the single nodes;
//   3. for each moves run, the CPU of each process group over the run (planboard nodes,
//      postgres (the postmaster and its children), haproxy, the load client) from /proc:
//      which one limits.
// Usage: make -C bench build/pbload && make all &&
//        node bench/cluster.mjs [--seconds 5] [--latency-moves 200] [--only cluster,pg1,sqlite]
//        [--parts moves,latency,reads,fanout] [--fan-clients 1000] [--fan-rate 100]
// Prints a table and writes bench/results/cluster-<date>-<sha>.json. Real processes only.

import { spawnSync, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, mkdtempSync, rmSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir, loadavg, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

process.env.PB_CLUSTER_LOG_LEVEL = 'warn';   // as bench/run.py: no log line per request
const { Cluster, Server, BIN, freePort, until } = await import('../test/cluster/lib.mjs');

const HERE = fileURLToPath(new URL('./', import.meta.url));
const ROOT = join(HERE, '..');
const PBLOAD = join(HERE, 'build/pbload');
const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const SECONDS = Number(opt('seconds', 5));
const LAT_MOVES = Number(opt('latency-moves', 200));
const MOVERS = opt('movers', '24,8').split(',').map(Number);
const ONLY = opt('only', 'cluster,pg1,sqlite').split(',');
const PARTS = opt('parts', 'moves,latency,reads,fanout').split(',');
const FAN_CLIENTS = Number(opt('fan-clients', 1000));
const FAN_RATE = Number(opt('fan-rate', 100));
const WRK_CONNS = 64;
const EXTRA_ORDERS = 85;
const TICK = 100;   // USER_HZ: /proc/PID/stat times are in 1/100 s on Linux

if (!existsSync(PBLOAD)) { console.error(`no ${PBLOAD}: make -C bench build/pbload`); process.exit(1); }
if (!existsSync(BIN)) { console.error(`no ${BIN}: make all`); process.exit(1); }
const log = (s) => process.stderr.write(`${s}\n`);

/** utime + stime of a pid in seconds, 0 when gone. */
function cpuOf(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch { return 0; }
}

/** The postmaster of the data dir and its children (backends, walwriter, checkpointer...). */
function postgresPids(dataDir) {
  const master = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const pids = [master];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === master) pids.push(Number(d));
    } catch { /* gone */ }
  }
  return pids;
}

/** CPU seconds per group {name: [pids] | () => [pids]} now; postgres children come and go,
 * so a group may be a function read at each snapshot (a backend that exited between two
 * snapshots is missed: its connection is kept for the whole run, so few are). */
function snapshot(groups) {
  const out = {};
  for (const [name, g] of Object.entries(groups)) {
    const pids = typeof g === 'function' ? g() : g;
    out[name] = new Map(pids.map((p) => [p, cpuOf(p)]));
  }
  return out;
}
function cpuPct(a, b, wall) {
  const out = {};
  for (const name of Object.keys(b)) {
    let s = 0;
    for (const [pid, t] of b[name]) s += t - (a[name].get(pid) ?? 0);
    out[name] = Math.round(1000 * s / wall) / 10;
  }
  return out;
}

function pbloadMoves(port, token, orders, wcs, movers) {
  const r = spawnSync(PBLOAD, ['moves', '--port', String(port), '--token', token, '--orders', orders.join(','),
    '--wcs', wcs.join(','), '--movers', String(movers), '--via', 'rest', '--duration', String(SECONDS),
    '--max-moves', '200000'], { encoding: 'utf8', timeout: (SECONDS + 60) * 1000 });
  // pbload exits 1 when a move failed; its report is still there, failures counted in it.
  let out;
  try { out = JSON.parse(r.stdout); } catch {
    throw new Error(`pbload: ${r.status} ${r.error || ''} ${r.stderr.slice(-2000)} ${r.stdout.slice(-2000)}`);
  }
  return out;
}

/** Add EXTRA_ORDERS orders to the demo tenant through `srv`; returns {orders, wcs}. */
async function prepare(srv, token) {
  for (let k = 0; k < EXTRA_ORDERS; k++) {
    const r = await srv.req('POST', '/api/orders', { token,
      json: { orderNumber: `CL-${k}`, stockCode: 'STK-1', description: 'cluster bench', quantityToMake: 10 } });
    if (r.status !== 201) throw new Error(`order create: ${r.status} ${r.text}`);
  }
  const b = (await srv.board(token)).body;
  return {
    orders: [...b.workCentres.flatMap((w) => w.orders.map((o) => o.id)), ...b.backlog.map((o) => o.id)],
    wcs: b.workCentres.map((w) => w.id),
  };
}

/** moves/s runs for each mover count against `port`, with CPU per group. */
async function movesRuns(label, port, token, ids, groups, movers = MOVERS) {
  const out = [];
  for (const m of movers) {
    log(`${label}: ${m} movers, ${SECONDS} s`);
    const a = snapshot(groups), t0 = performance.now();
    const r = pbloadMoves(port, token, ids.orders, ids.wcs, m);
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuPct(a, snapshot(groups), wall);
    cpu.pbload = Math.round(1000 * r.clientCpuSeconds / r.totalSeconds) / 10;
    out.push({ label, movers: m, movesPerSec: r.movesPerSec, movesOk: r.movesOk, movesFailed: r.movesFailed,
      firstError: r.firstError, ackMs: r.ackMs, cpuPct: cpu, wallSeconds: wall });
  }
  return out;
}

/**
 * Event latency: `n` REST moves, one at a time, sent to `writer`; a client joined on
 * `reader` stamps each order_moved on arrival. Returns {p50, p99, max} in ms.
 */
async function latency(label, writer, reader, token, viewerToken, ids, n) {
  log(`latency: ${label}, ${n} moves`);
  const c = await reader.ws(viewerToken);
  const seen = new Map();
  c.ws.on('message', (d) => {
    const t = performance.now();
    const m = JSON.parse(d.toString());
    if (m.event === 'order_moved') seen.set(`${m.data.order.id}:${m.data.order.version}`, t);
  });
  const lat = [];
  for (let i = 0; i < n; i++) {
    const id = ids.orders[i % ids.orders.length];
    const t0 = performance.now();
    const r = await writer.req('PUT', `/api/orders/${id}/move`, { token,
      json: { toWorkCentreId: ids.wcs[i % ids.wcs.length], position: 0 } });
    if (r.status !== 200) throw new Error(`latency move: ${r.status} ${r.text}`);
    const key = `${id}:${r.body.version}`;
    await until(() => seen.has(key), { timeout: 10000, interval: 1, what: `order_moved ${key} at the reader` });
    lat.push(seen.get(key) - t0);
  }
  c.terminate();
  lat.sort((x, y) => x - y);
  const q = (f) => Math.round(1000 * lat[Math.min(lat.length - 1, Math.floor(f * lat.length))]) / 1000;
  return { label, moves: n, p50: q(0.5), p99: q(0.99), max: Math.round(1000 * lat.at(-1)) / 1000 };
}

/** wrk -t1 -c64 on GET /api/planning-board of `port` for SECONDS (bench/run.py scenario 1):
 * requests/s, latency p50/p99 (ms), CPU % of each group and µs of CPU per request of `per`
 * (the planboard processes). */
function wrkBoard(label, port, token, groups, per, dir) {
  log(`reads: ${label}, ${SECONDS} s`);
  const lua = join(dir, 'auth.lua');
  writeFileSync(lua, `wrk.headers["Authorization"] = "Bearer ${token}"\n`);
  const a = snapshot(groups), t0 = performance.now();
  const r = spawnSync('wrk', ['-t1', `-c${WRK_CONNS}`, `-d${SECONDS}s`, '--latency', '--timeout', '10s', '-s', lua,
    `http://127.0.0.1:${port}/api/planning-board`], { encoding: 'utf8', timeout: (SECONDS + 60) * 1000 });
  const wall = (performance.now() - t0) / 1000;
  const b = snapshot(groups);
  const out = r.stdout || '';
  const dur = (x) => { const m = /([\d.]+)(us|ms|s)/.exec(x); return m ? Number(m[1]) * { us: 1e-3, ms: 1, s: 1e3 }[m[2]] : null; };
  const num = (re) => { const m = re.exec(out); return m ? m[1] : null; };
  const requests = Number(num(/(\d+) requests in/) ?? 0);
  const non2xx = Number(num(/Non-2xx or 3xx responses: (\d+)/) ?? 0);
  if (r.status !== 0 || requests === 0 || non2xx) throw new Error(`wrk ${label}: ${r.status} ${out.slice(-1000)} ${r.stderr}`);
  const cpu = cpuPct(a, b, wall);
  let srvSec = 0;
  for (const g of per) for (const [pid, t] of b[g]) srvSec += t - (a[g].get(pid) ?? 0);
  return { label, requests, rps: Number(num(/Requests\/sec:\s+([\d.]+)/)), p50Ms: dur(num(/^\s+50%\s+(\S+)/m) ?? ''),
    p99Ms: dur(num(/^\s+99%\s+(\S+)/m) ?? ''), cpuPct: cpu, serverCpuUsPerRequest: Math.round(10 * srvSec * 1e6 / requests) / 10 };
}

/** pbload fanout (bench/run.py scenario 2): FAN_CLIENTS viewers joined through `port` (through
 * HAProxy they spread over the nodes), a REST mover at FAN_RATE moves/s through `port`, for
 * SECONDS: move -> last client's receipt p50/p99, deliveries/s, every event in seq order at
 * every client, CPU per group and µs of CPU per delivery of `per` (the planboard processes). */
function fanout(label, port, sched, viewer, ids, groups, per, clients = FAN_CLIENTS) {
  log(`fanout: ${label}, ${clients} clients, ${FAN_RATE} moves/s, ${SECONDS} s`);
  const a = snapshot(groups), t0 = performance.now();
  const r = spawnSync(PBLOAD, ['fanout', '--port', String(port), '--room',
    `${viewer}:${sched}:${ids.orders.join(',')}:${ids.wcs.join(',')}`, '--clients', String(clients),
    '--mover', 'rest', '--rate', String(FAN_RATE), '--duration', String(SECONDS), '--max-moves', '200000'],
  { encoding: 'utf8', timeout: (SECONDS + 200) * 1000 });
  const wall = (performance.now() - t0) / 1000;
  const b = snapshot(groups);
  let out;
  try { out = JSON.parse(r.stdout); } catch {
    throw new Error(`pbload fanout: ${r.status} ${r.error || ''} ${r.stderr.slice(-2000)} ${r.stdout.slice(-2000)}`);
  }
  let srvSec = 0;
  for (const g of per) for (const [pid, t] of b[g]) srvSec += t - (a[g].get(pid) ?? 0);
  if (!out.movesOk) log(`fanout ${label}: no move went through: ${r.stderr.slice(-1500)}`);
  const deliveries = out.deliveriesPerSec * out.totalSeconds;
  return { label, clients, rate: FAN_RATE, movesPerSec: out.movesPerSec, movesOk: out.movesOk,
    fanoutMs: out.fanoutMs, deliveriesPerSec: out.deliveriesPerSec, lost: out.lostDeliveries, gaps: out.gaps,
    reordered: out.reordered, incomplete: out.movesIncomplete, cpuPct: cpuPct(a, b, wall),
    serverCpuUsPerDelivery: deliveries > 0 ? Math.round(100 * srvSec * 1e6 / deliveries) / 100 : null };
}

/** The loop threads' blocking PostgreSQL round trips and wait (s) summed over `ports`
 * (GET /metrics planboard_loop_db_*; zeros on SQLite, which has none). */
async function loopWaits(ports) {
  let trips = 0, wait = 0;
  for (const port of ports) {
    const t = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const get = (n) => { const l = t.split('\n').find((x) => x.startsWith(`${n} `)); return l ? Number(l.split(' ').pop()) : 0; };
    trips += get('planboard_loop_db_round_trips_total');
    wait += get('planboard_loop_db_wait_seconds_total');
  }
  return { trips, wait };
}

/** Per operation: loop round trips and µs waited, from two loopWaits. */
function perOp(a, b, ops) {
  return ops > 0 ? { loopTripsPerOp: Math.round(100 * (b.trips - a.trips) / ops) / 100,
    loopWaitUsPerOp: Math.round(10 * 1e6 * (b.wait - a.wait) / ops) / 10 } : {};
}

/** The parts of PARTS for one setup. */
async function runParts(label, srv, port, sched, viewer, ids, groups, per, dir, mports) {
  let a;
  if (PARTS.includes('reads')) {
    a = await loopWaits(mports);
    const r = wrkBoard(label, port, sched, groups, per, dir);
    results.reads.push({ ...r, ...perOp(a, await loopWaits(mports), r.requests) });
  }
  if (PARTS.includes('fanout')) {
    a = await loopWaits(mports);
    const r = fanout(label, port, sched, viewer, ids, groups, per);
    results.fanout.push({ ...r, ...perOp(a, await loopWaits(mports), r.movesOk) });
  }
  if (PARTS.includes('moves')) {
    for (const m of MOVERS) {
      a = await loopWaits(mports);
      const [r] = await movesRuns(label, port, sched, ids, groups, [m]);
      results.moves.push({ ...r, ...perOp(a, await loopWaits(mports), r.movesOk) });
    }
  }
}

/** `planboard demo` on a free port with the given [database] settings; returns a Server. */
async function singleNode(dir, database) {
  const port = await freePort();
  const cfg = join(dir, 'node.ini');
  writeFileSync(cfg, `[server]\nbind = 127.0.0.1\nport = ${port}\nlog_level = warn\nstatic_dir = ${join(ROOT, 'web')}\n` +
    `[database]\n${Object.entries(database).map(([k, v]) => `${k} = ${v}`).join('\n')}\n` +
    `[auth]\njwt_secret_file = ${join(dir, 'jwt.secret')}\n[limits]\nmax_conns_per_address = 1000000\n`);
  const srv = new Server(dir, cfg, port);
  await srv.launch(30000);
  return srv;
}

const results = { date: new Date().toISOString(), load: { start: loadavg() }, cpus: cpus().length,
  seconds: SECONDS, moves: [], latency: [], reads: [], fanout: [] };

if (ONLY.includes('cluster') || ONLY.includes('pg1')) {
  const cl = await Cluster.start();
  try {
    const sched = await cl.front.token('scheduler');
    const viewer = await cl.front.token('viewer');
    const ids = await prepare(cl.front, sched);
    const pgData = join(cl.dir, 'pg', 'data');
    if (ONLY.includes('cluster')) {
      const groups = { node1: [cl.nodePids[0]], node2: [cl.nodePids[1]], node3: [cl.nodePids[2]],
        haproxy: [cl.haproxyPid], postgres: () => postgresPids(pgData) };
      const nodes = ['node1', 'node2', 'node3'];
      if (PARTS.includes('reads')) {   // one node of the cluster alone: "per node"
        const a = await loopWaits([cl.nodes[0].port]);
        const r = wrkBoard('cluster: node 1 directly', cl.nodes[0].port, sched, groups, ['node1'], cl.dir);
        results.reads.push({ ...r, ...perOp(a, await loopWaits([cl.nodes[0].port]), r.requests) });
      }
      await runParts('cluster (3 nodes, HAProxy)', cl.front, cl.frontPort, sched, viewer, ids, groups, nodes, cl.dir,
        cl.nodes.map((n) => n.port));
      if (PARTS.includes('latency')) {
        results.latency.push(await latency('cluster: write node 1 -> client node 3', cl.nodes[0], cl.nodes[2], sched, viewer, ids, LAT_MOVES));
        results.latency.push(await latency('cluster: write node 1 -> client node 1', cl.nodes[0], cl.nodes[0], sched, viewer, ids, LAT_MOVES));
      }
    }
    if (ONLY.includes('pg1')) {
      // One node on a database of its own on the same PostgreSQL (the cluster's nodes idle).
      const url = execFileSync(join(ROOT, 'scripts/pg-temp.sh'), ['createdb', join(cl.dir, 'pg'), 'single'], { encoding: 'utf8' }).trim();
      const dir = mkdtempSync(join(tmpdir(), 'pb-bench-pg1-'));
      const srv = await singleNode(dir, { url });
      try {
        const s = await srv.token('scheduler'), v = await srv.token('viewer');
        const ids1 = await prepare(srv, s);
        await runParts('one node, PostgreSQL', srv, srv.port, s, v, ids1,
          { node: [srv.proc.pid], postgres: () => postgresPids(pgData) }, ['node'], dir, [srv.port]);
        if (PARTS.includes('latency'))
          results.latency.push(await latency('one node, PostgreSQL', srv, srv, s, v, ids1, LAT_MOVES));
      } finally {
        await srv.stop().catch((e) => log(`pg1 stop: ${e.message}`));
      }
    }
  } finally {
    await cl.stop().catch((e) => log(`cluster stop: ${e.message}`));
  }
}

if (ONLY.includes('sqlite')) {
  for (const sync of ['FULL', 'NORMAL']) {
    const dir = mkdtempSync(join(tmpdir(), 'pb-bench-sqlite-'));
    const srv = await singleNode(dir, { path: join(dir, 'pb.db'), synchronous: sync });
    try {
      const s = await srv.token('scheduler'), v = await srv.token('viewer');
      const ids = await prepare(srv, s);
      await runParts(`one node, SQLite ${sync}`, srv, srv.port, s, v, ids, { node: [srv.proc.pid] }, ['node'], dir, [srv.port]);
      if (PARTS.includes('fanout') && sync === 'FULL') {
        // "Per node" at a cluster node's load: a third of the clients (each of the three nodes
        // serves a third of them), so batching per write is comparable (bench/README.md).
        const share = Math.round(FAN_CLIENTS / 3);
        results.fanout.push(fanout(`one node, SQLite ${sync}, ${share} clients`, srv.port, s, v, ids,
          { node: [srv.proc.pid] }, ['node'], share));
      }
      if (PARTS.includes('latency'))
        results.latency.push(await latency(`one node, SQLite ${sync}`, srv, srv, s, v, ids, LAT_MOVES));
    } finally {
      await srv.stop().catch((e) => log(`sqlite stop: ${e.message}`));
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

results.load.end = loadavg();
const sha = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
const la = (l) => l.map((x) => x.toFixed(2)).join(' ');
console.log(`planboard cluster bench git ${sha}, ${results.cpus} CPUs, load ${la(results.load.start)} -> ${la(results.load.end)}, ${SECONDS} s per run`);
console.log('moves/s (closed loop, REST, each mover one keep-alive connection; CPU % of one core over the run)');
for (const r of results.moves) {
  const cpu = Object.entries(r.cpuPct).map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`  ${r.label.padEnd(28)} ${String(r.movers).padStart(2)} movers ${r.movesPerSec.toFixed(0).padStart(6)} moves/s ` +
    `ack p50 ${r.ackMs.p50.toFixed(2)} p99 ${r.ackMs.p99.toFixed(2)} ms, failed ${r.movesFailed}; CPU: ${cpu}` +
    (r.loopTripsPerOp ? `; loop waits ${r.loopTripsPerOp} round trips ${r.loopWaitUsPerOp} µs per move` : ''));
  if (r.movesFailed) console.log(`    !!! ${r.movesFailed} moves failed, first: ${String(r.firstError).replace(/.*(\{"error".*)$/, '$1')}`);
}
console.log(`board reads (wrk -t1 -c${WRK_CONNS} GET /api/planning-board of the demo board + 85 orders; CPU per request of the planboard processes)`);
for (const r of results.reads) {
  const cpu = Object.entries(r.cpuPct).map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`  ${r.label.padEnd(28)} ${r.rps.toFixed(0).padStart(7)} req/s p50 ${r.p50Ms} p99 ${r.p99Ms} ms, ${r.serverCpuUsPerRequest} µs/req; CPU: ${cpu}` +
    (r.loopTripsPerOp ? `; loop waits ${r.loopTripsPerOp} round trips ${r.loopWaitUsPerOp} µs per read` : ''));
}
console.log(`fan-out (${FAN_CLIENTS} viewers, REST mover at ${FAN_RATE} moves/s; move -> last client's receipt; CPU per delivery of the planboard processes)`);
for (const r of results.fanout) {
  const cpu = Object.entries(r.cpuPct).map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`  ${r.label.padEnd(28)} ${r.clients} clients ${r.movesPerSec.toFixed(1)} moves/s p50 ${r.fanoutMs.p50} p99 ${r.fanoutMs.p99} max ${r.fanoutMs.max} ms, ` +
    `${r.deliveriesPerSec.toFixed(0)} deliv/s, ${r.serverCpuUsPerDelivery} µs/deliv, lost ${r.lost} gaps ${r.gaps} reordered ${r.reordered}; CPU: ${cpu}` +
    (r.loopTripsPerOp ? `; loop waits ${r.loopTripsPerOp} round trips ${r.loopWaitUsPerOp} µs per move` : ''));
}
console.log('event latency (REST move sent -> order_moved at the client, one move at a time)');
for (const r of results.latency) console.log(`  ${r.label.padEnd(40)} p50 ${r.p50} ms  p99 ${r.p99} ms  max ${r.max} ms (${r.moves} moves)`);
mkdirSync(join(HERE, 'results'), { recursive: true });
const file = join(HERE, 'results', `cluster-${results.date.slice(0, 10)}-${sha}.json`);
writeFileSync(file, JSON.stringify(results, null, 2));
console.log(`wrote ${file}`);

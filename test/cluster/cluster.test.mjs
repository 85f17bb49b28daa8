// Cluster tests through HAProxy on loopback (issue 13 "Tests", SPEC §12): one
// scripts/cluster.sh (PostgreSQL, three nodes, HAProxy) for the file, tests in this order:
//   1. 200 WebSocket clients spread over the three nodes see 60 concurrent moves (REST through
//      the front, so every node takes writes) exactly once each, in one gap-free seq order, and
//      every node then serves the same board;
//   2. PostgreSQL stopped under load: every node's health says 503 and writes answer 503
//      `unavailable` with nothing changed; after it is back every node answers 200 and writes
//      and events work again with no node restarted;
//   3. SIGKILL of a node in the middle of a move storm: no acknowledged move lost (checked in
//      the database), the dead node's WebSocket clients reconnect through HAProxy with
//      {sinceSeq, epoch} within 5 s and end with the same board as everyone else.
// The drag-lock race between nodes is in locks.test.mjs (not in `make test` until locks live
// in the database). Real processes only; every wait is for a condition and bounded.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, ClientBoard, boardShape, until, withTimeout, DEMO_PASSWORD } from './lib.mjs';

let cl;
let tok = {};          // username -> access token (one login through the front each)
let wcIds = [];        // the demo tenant's work centre ids
let orderIds = [];     // the demo tenant's order ids

const SCHEDULERS = ['admin', 'scheduler', 'sched2', 'sched3'];

before(async () => {
  cl = await Cluster.start();
  const f = cl.front;
  tok.admin = await f.token('admin');
  for (const u of ['sched2', 'sched3']) {
    const r = await f.req('POST', '/api/users', { token: tok.admin,
      json: { username: u, email: `${u}@example.com`, role: 'scheduler', password: DEMO_PASSWORD } });
    assert.equal(r.status, 201, `create ${u}: ${r.text}`);
  }
  for (const u of ['scheduler', 'sched2', 'sched3', 'viewer']) tok[u] = await f.token(u);
  const b = await f.board(tok.viewer);
  assert.equal(b.status, 200, b.text);
  wcIds = b.body.workCentres.map((w) => w.id);
  orderIds = [...b.body.workCentres.flatMap((w) => w.orders.map((o) => o.id)), ...b.body.backlog.map((o) => o.id)];
  assert.ok(orderIds.length >= 12, `demo orders: ${orderIds.length}`);
}, { timeout: 180000 });

after(async () => {
  if (cl) await cl.stop();
}, { timeout: 90000 });

/** Open n WebSocket clients on `server` (20 handshakes at a time), joined to the demo room. */
async function openClients(server, token, n, opts = {}) {
  const out = [];
  while (out.length < n) {
    const k = Math.min(20, n - out.length);
    out.push(...await Promise.all(Array.from({ length: k }, () => server.ws(token, opts))));
  }
  return out;
}

/** The board as every node serves it directly: resolves once all three have the same seq and
 * columns (a NOTIFY may still be on its way to one); returns that shape and seq. */
async function nodesAgree(nodes, timeout = 5000) {
  let last;
  return until(async () => {
    const boards = await Promise.all(nodes.map((n) => n.board(tok.viewer)));
    for (const b of boards) assert.equal(b.status, 200, b.text);
    const shapes = boards.map((b) => JSON.stringify(boardShape(b.body)));
    last = boards.map((b) => b.body.seq).join(',');
    if (boards.some((b) => b.body.seq !== boards[0].body.seq) || shapes.some((s) => s !== shapes[0])) return false;
    return { shape: boardShape(boards[0].body), seq: boards[0].body.seq, epochs: boards.map((b) => b.body.epoch) };
  }, { timeout, what: `the nodes' boards to agree (seqs ${last})` });
}

/** Room events (with seq) a client received, in arrival order. */
function roomEvents(c) {
  return c.messages.filter((m) => typeof m.seq === 'number');
}

/** Assert a client's room events are gap-free and increasing; returns them. */
function assertGapFree(c, label) {
  const ev = roomEvents(c);
  for (let i = 1; i < ev.length; i++) {
    assert.equal(ev[i].seq, ev[i - 1].seq + 1, `${label}: seq ${ev[i].seq} after ${ev[i - 1].seq}`);
  }
  return ev;
}

/**
 * Closed-loop movers through `server`: mover k moves its own orders (orderIds[i] with
 * i % movers == k; `orders` defaults to all) to the top of the next work centre, one request at a time, until `stop()`
 * says so or it made `max` moves. Every answer is recorded: {ok: [{id, version, wc, node}],
 * failed: [{status, code}]}.
 */
function startMovers(server, users, movers, { max = Infinity, stop = () => false, orders = orderIds } = {}) {
  const rec = { ok: [], failed: [] };
  const loops = Array.from({ length: movers }, async (_, k) => {
    const mine = orders.filter((_, i) => i % movers === k);
    for (let n = 0; n < max && !stop(); n++) {
      const id = mine[n % mine.length];
      const wc = wcIds[(n + k) % wcIds.length];
      let r;
      try {
        r = await server.req('PUT', `/api/orders/${id}/move`, { token: tok[users[k % users.length]],
          json: { toWorkCentreId: wc, position: 0 }, timeout: 10000 });
      } catch (e) {
        rec.failed.push({ status: 'no answer', code: e.message });
        continue;
      }
      if (r.status === 200) rec.ok.push({ id, version: r.body.version, wc: r.body.workCentreId });
      else rec.failed.push({ status: r.status, code: r.body && r.body.code });
    }
  });
  rec.done = Promise.all(loops);
  return rec;
}

/**
 * For a failed board comparison: per column that differs, what the events said (seq, order,
 * version, position, and the order's commit in audit_log) and the ranks in the database.
 */
function explainColumns(got, want, events) {
  let out = '';
  for (const col of Object.keys(want)) {
    if (JSON.stringify(got[col]) === JSON.stringify(want[col])) continue;
    const wc = col === 'backlog' ? null : Number(col);
    const evs = events.filter((m) => m.event === 'order_moved' && m.data.order.workCentreId === wc)
      .map((m) => `seq ${m.seq} order ${m.data.order.id} v${m.data.order.version} pos ${m.data.order.position}`);
    const ranks = cl.sql(`SELECT id, rank, version FROM orders WHERE work_centre_id ${wc === null ? 'IS NULL' : `= ${wc}`} ORDER BY rank, id`)
      .map(([id, rank, v]) => `${id}(rank ${rank}, v${v})`);
    const audit = cl.sql(`SELECT id, order_id FROM audit_log WHERE event_type = 'order_moved' AND to_work_centre_id ${wc === null ? 'IS NULL' : `= ${wc}`} ORDER BY id`)
      .map(([id, o]) => `audit ${id}: order ${o}`).slice(-12);
    out += `\ncolumn ${col}: from events ${JSON.stringify(got[col])}, served ${JSON.stringify(want[col])}` +
      `\n  events: ${evs.join('; ')}\n  database ranks: ${ranks.join(' ')}\n  last moves in audit order: ${audit.join('; ')}`;
  }
  return out;
}

/** GET /metrics of node i: the count of 200 answers to PUT /api/orders/:id/move. */
async function movesAnswered(i) {
  const r = await cl.nodes[i].req('GET', '/metrics');
  const m = /^planboard_http_requests_total\{method="PUT",route="\/api\/orders\/:id\/move",status="200"\} (\d+)$/m.exec(r.text);
  return m ? Number(m[1]) : 0;
}

test('200 clients over three nodes see 60 concurrent moves once each, in one gap-free seq order', { timeout: 180000 }, async () => {
  const clients = await openClients(cl.front, tok.viewer, 200);
  // Spread: HAProxy's round robin hands each node about a third of the connections.
  const perNode = await Promise.all([0, 1, 2].map((i) => cl.metric(i, 'planboard_websocket_connections')));
  assert.equal(perNode.reduce((a, b) => a + b, 0), 200, `connections per node ${perNode}`);
  for (const n of perNode) assert.ok(n >= 50, `connections per node ${perNode}: each should have about 67`);

  const board0 = (await cl.front.board(tok.viewer)).body;
  const movesBefore = await Promise.all([0, 1, 2].map(movesAnswered));
  const rec = startMovers(cl.front, SCHEDULERS, 4, { max: 15 });
  await withTimeout(rec.done, 120000, '60 moves');
  assert.deepEqual(rec.failed, [], 'every move answers 200');
  assert.equal(rec.ok.length, 60);
  const movesAfter = await Promise.all([0, 1, 2].map(movesAnswered));
  const took = movesAfter.map((a, i) => a - movesBefore[i]);
  assert.equal(took.reduce((a, b) => a + b, 0), 60, `moves per node ${took}`);
  for (const n of took) assert.ok(n >= 10, `every node takes writes: moves per node ${took}`);

  // Every client receives all 60 order_moved events.
  const acked = new Set(rec.ok.map((m) => `${m.id}:${m.version}`));
  await until(() => clients.every((c) => c.events('order_moved').length >= 60), {
    timeout: 20000, interval: 50,
    what: 'order_moved at every client',
  }).catch((e) => {
    const counts = clients.map((c) => c.events('order_moved').length);
    throw new Error(`${e.message}: fewest ${Math.min(...counts)}, most ${Math.max(...counts)}`);
  });
  const ref = clients[0].events('order_moved').map((m) => `${m.seq}:${m.data.order.id}:${m.data.order.version}`);
  assert.equal(ref.length, 60, 'exactly 60 order_moved events');
  assert.deepEqual(new Set(ref.map((s) => s.slice(s.indexOf(':') + 1))), acked,
    'the order_moved events are the acknowledged moves, each once');
  const lastSeq = Math.max(...clients.map((c) => roomEvents(c).at(-1).seq));
  for (const [k, c] of clients.entries()) {
    assertGapFree(c, `client ${k}`);
    const mine = c.events('order_moved').map((m) => `${m.seq}:${m.data.order.id}:${m.data.order.version}`);
    assert.deepEqual(mine, ref, `client ${k} saw the moves in the same seq order as client 0`);
  }
  // The same seq for one event everywhere: the frames of every seq are equal across clients.
  const bySeq = new Map();
  for (const c of clients) {
    for (const m of roomEvents(c)) {
      const s = JSON.stringify(m);
      if (!bySeq.has(m.seq)) bySeq.set(m.seq, s);
      else assert.equal(s, bySeq.get(m.seq), `seq ${m.seq} differs between clients`);
    }
  }

  // Every node serves the same board, and it is what a client built from the events.
  const agreed = await nodesAgree(cl.nodes);
  assert.equal(agreed.seq, lastSeq, 'the nodes are at the clients\' last seq');
  const cb = new ClientBoard(board0);
  for (const m of roomEvents(clients[0])) cb.apply(m);
  // Two findings are collected rather than thrown, so that one does not hide the other.
  const problems = [];
  if (JSON.stringify(cb.columns()) !== JSON.stringify(agreed.shape)) {
    problems.push('the board a client builds from GET + the events (each move at its acknowledged position, in seq ' +
      'order) differs from the board every node serves:' + explainColumns(cb.columns(), agreed.shape, roomEvents(clients[0])));
  }
  // One room, one epoch (SPEC §5, §12): a client moving to another node resumes with it.
  if (new Set(agreed.epochs).size !== 1) problems.push(`the nodes serve different epochs for one room: ${agreed.epochs}`);
  for (const c of clients) c.terminate();
  await until(async () => {
    const n = await Promise.all([0, 1, 2].map((i) => cl.metric(i, 'planboard_websocket_connections')));
    return n.every((x) => x === 0);
  }, { timeout: 10000, what: 'the 200 connections to close' });
  assert.deepEqual(problems, []);
});

test('PostgreSQL stopped under load: 503 while down, nothing half-done, recovery by itself', { timeout: 180000 }, async (t) => {
  // A client on each node (directly) to see that events flow again afterwards.
  const watchers = await Promise.all(cl.nodes.map((n) => n.ws(tok.viewer)));
  // An order the background load never touches: only the single moves below name it.
  const probe = orderIds[orderIds.length - 1];
  const [before] = cl.sql(`SELECT version, COALESCE(work_centre_id, 0) FROM orders WHERE id = ${probe}`);
  const target = wcIds.find((w) => String(w) !== before[1]);
  const seqBefore = Number(cl.sql('SELECT COALESCE(MAX(seq), 0) FROM room_events')[0][0]);
  // Background load through the front until told to stop (its answers are recorded; while
  // every node is unhealthy HAProxy itself answers 503).
  let stopLoad = false;
  const load = startMovers(cl.front, ['scheduler', 'sched2'], 2,
    { stop: () => stopLoad, max: 300, orders: orderIds.filter((id) => id !== probe) });
  await until(() => load.ok.length >= 10, { timeout: 20000, what: 'background moves before the stop' });

  // While it is down every check is collected (so one wrong answer does not hide the
  // recovery's); PostgreSQL is started again whatever happens.
  const problems = [];
  let downMs;
  cl.pgStop();
  try {
    const downAt = Date.now();
    await until(async () => {
      const st = await Promise.all(cl.nodes.map((n) => n.req('GET', '/api/health', { timeout: 3000 }).then((r) => r.status)));
      return st.every((s) => s === 503);
    }, { timeout: 10000, what: 'every node /api/health 503 with PostgreSQL down' });
    for (const [i, n] of cl.nodes.entries()) {
      const h = await n.req('GET', '/api/health');
      if (h.status !== 503) problems.push(`node ${i + 1} health: ${h.status} ${h.text}`);
      const r = await n.req('PUT', `/api/orders/${probe}/move`, { token: tok.admin,
        json: { toWorkCentreId: target, position: 0 }, timeout: 15000 });
      if (r.status !== 503 || !r.body || r.body.code !== 'unavailable') {
        problems.push(`node ${i + 1}: a move with PostgreSQL down answered ${r.status} ${r.text} (want 503 unavailable)`);
      }
    }
    downMs = Date.now() - downAt;
  } finally {
    cl.pgStart();
  }
  await until(async () => {
    const st = await Promise.all(cl.nodes.map((n) => n.req('GET', '/api/health', { timeout: 3000 }).then((r) => r.status)));
    return st.every((s) => s === 200);
  }, { timeout: 20000, what: 'every node /api/health 200 after PostgreSQL is back' });
  // The refused moves changed nothing: the probe order is as it was, no event names it.
  const [now] = cl.sql(`SELECT version, COALESCE(work_centre_id, 0) FROM orders WHERE id = ${probe}`);
  assert.deepEqual(now, before, 'the 503 moves changed nothing in the database');
  const named = cl.sql(`SELECT seq FROM room_events WHERE seq > ${seqBefore} AND frame LIKE '%"event":"order_moved"%' AND frame LIKE '%"order":{"id":${probe},%'`);
  assert.deepEqual(named, [], 'no event of a refused move');

  // Writes work again on every node without a restart (the first may meet a connection
  // that is reconnecting: bounded retry), and every node's watcher sees each of them.
  for (const [i, n] of cl.nodes.entries()) {
    const wc = wcIds[i % wcIds.length];
    let first = null;
    const r = await until(async () => {
      const x = await n.req('PUT', `/api/orders/${probe}/move`, { token: tok.admin, json: { toWorkCentreId: wc, position: 0 } });
      first = first || x;
      return x.status === 200 ? x : false;
    }, { timeout: 10000, interval: 100, what: `a move on node ${i + 1} after PostgreSQL is back` });
    if (first.status !== 200) {
      problems.push(`node ${i + 1}: the first move after PostgreSQL is back (health 200) answered ${first.status} ${first.text}`);
    }
    const v = r.body.version;
    await Promise.all(watchers.map((w, j) => w.waitFor((m) => m.event === 'order_moved' && m.data.order.id === probe && m.data.order.version === v,
      { timeout: 10000, what: `node ${j + 1}'s client: the move made on node ${i + 1} after the restart` })));
  }
  const okAtRecovery = load.ok.length;
  await until(() => load.ok.length >= okAtRecovery + 10, { timeout: 20000, what: 'the background load to move again' });
  stopLoad = true;
  await withTimeout(load.done, 20000, 'background movers to stop');
  const codes = [...new Set(load.failed.map((f) => `${f.status} ${f.code}`))];
  for (const c of codes) if (!/^(503|502) /.test(c)) problems.push(`a move of the load while PostgreSQL was down answered ${c} (want 503, or HAProxy's 502/503)`);
  for (const [k, w] of watchers.entries()) assertGapFree(w, `watcher on node ${k + 1}`);
  await nodesAgree(cl.nodes);
  // Every acknowledged background move is in the database.
  const stored = new Set(cl.sql(`SELECT frame FROM room_events WHERE frame LIKE '%"event":"order_moved"%'`)
    .map(([f]) => JSON.parse(f)).map((e) => `${e.data.order.id}:${e.data.order.version}`));
  for (const m of load.ok) assert.ok(stored.has(`${m.id}:${m.version}`), `acknowledged move ${m.id} v${m.version} in room_events`);
  t.diagnostic(`PostgreSQL down ${downMs} ms; load: ${load.ok.length} moves acknowledged, failures ${JSON.stringify(codes)}`);
  for (const w of watchers) w.terminate();
  assert.deepEqual(problems, [], 'answers while PostgreSQL was down');
});

test('SIGKILL of a node in a move storm: no acknowledged move lost, its clients reconnect and catch up within 5 s', { timeout: 180000 }, async (t) => {
  const DEAD = 1;   // node 2
  // Findings collected, so that the database and board checks all run and say their part.
  const problems = [];
  const byNode = await Promise.all(cl.nodes.map((n) => openClients(n, tok.viewer, 10)));
  const board0 = (await cl.front.board(tok.viewer)).body;
  const epoch = board0.epoch;
  let stop = false;
  const rec = startMovers(cl.front, SCHEDULERS, 6, { stop: () => stop, max: 200 });
  await until(() => rec.ok.length >= 30, { timeout: 30000, what: '30 moves before the kill' });

  // The dead node's clients reconnect through HAProxy with {sinceSeq, epoch} as soon as
  // their socket closes (a browser's reconnect), and record when they caught up.
  const dead = byNode[DEAD];
  const reconnected = dead.map(async (c, k) => {
    await withTimeout(c.closed, 10000, `client ${k} of the dead node to see its socket close`);
    const closedAt = Date.now();
    const last = roomEvents(c).at(-1);
    const sinceSeq = last ? last.seq : board0.seq;
    const n = await until(async () => {
      try {
        return await cl.front.ws(tok.viewer, { joinData: { sinceSeq, epoch }, timeout: 3000 });
      } catch { return false; }
    }, { timeout: 5000, interval: 50, what: `client ${k} to reconnect through HAProxy` });
    return { old: c, c: n, sinceSeq, closedAt, joinedMs: Date.now() - closedAt };
  });
  cl.killNode(DEAD);
  const okAtKill = rec.ok.length;
  const again = await withTimeout(Promise.all(reconnected), 15000, 'the dead node\'s clients to reconnect');
  await until(() => rec.ok.length >= okAtKill + 30, { timeout: 30000, what: '30 more moves after the kill' });
  stop = true;
  await withTimeout(rec.done, 30000, 'the movers to stop');

  for (const [k, r] of again.entries()) {
    if (r.joinedMs >= 5000) problems.push(`client ${k}: reconnect took ${r.joinedMs} ms`);
    const resync = r.c.events('resync_required');
    if (resync.length) {
      problems.push(`client ${k}: join {sinceSeq ${r.sinceSeq}, epoch ${epoch}} got resync_required ` +
        `${JSON.stringify(resync[0].data)}, not a replay (SPEC §12: epoch survives, sinceSeq replays across nodes)`);
    }
  }
  // No acknowledged move lost: each is in the database (the order's version, its event, its
  // audit row).
  const finalSeq = Number(cl.sql('SELECT MAX(seq) FROM room_events')[0][0]);
  const stored = new Map();     // "order:version" -> [work centre of each order_moved event]
  for (const [f] of cl.sql(`SELECT frame FROM room_events WHERE frame LIKE '%"event":"order_moved"%'`)) {
    const e = JSON.parse(f);
    const k = `${e.data.order.id}:${e.data.order.version}`;
    stored.set(k, [...(stored.get(k) || []), e.data.order.workCentreId]);
  }
  // SPEC §4: version counts the order's changes, so no two moves give an order one version.
  const twice = [...stored].filter(([, w]) => w.length > 1).map(([k, w]) => `${k} (to ${w.join(', ')})`);
  if (twice.length) problems.push(`${twice.length} order versions were given by more than one move: ${twice.slice(0, 5).join('; ')}`);
  const versions = new Map(cl.sql('SELECT id, version FROM orders').map(([id, v]) => [Number(id), Number(v)]));
  const audits = new Map(cl.sql("SELECT order_id, COUNT(*) FROM audit_log WHERE event_type = 'order_moved' GROUP BY order_id")
    .map(([id, n]) => [Number(id), Number(n)]));
  const ackPerOrder = new Map();
  for (const m of rec.ok) {
    ackPerOrder.set(m.id, (ackPerOrder.get(m.id) || 0) + 1);
    assert.ok(versions.get(m.id) >= m.version, `order ${m.id}: version ${versions.get(m.id)} in the database < acknowledged ${m.version}`);
    assert.ok((stored.get(`${m.id}:${m.version}`) || []).includes(m.wc),
      `acknowledged move of order ${m.id} to v${m.version} (work centre ${m.wc}) has its order_moved event in room_events`);
  }
  // audit rows: at least the acknowledged moves of the storm (earlier tests moved orders too)
  for (const [id, n] of ackPerOrder) assert.ok(audits.get(id) >= n, `order ${id}: ${audits.get(id)} audit rows < ${n} acknowledged moves`);

  // Everyone ends with the same board: survivors' and reconnected clients reach the last seq
  // within 5 s of the storm's end, their client-side boards equal the survivors' GET and the
  // GET through the front.
  const everyone = [...byNode[0], ...byNode[2], ...again.map((r) => r.c)];
  const endAt = Date.now();
  await until(() => everyone.every((c) => roomEvents(c).at(-1)?.seq >= finalSeq), {
    timeout: 5000, interval: 20, what: `every client to reach seq ${finalSeq}` });
  const caughtUpMs = Date.now() - endAt;
  const survivors = [cl.nodes[0], cl.nodes[2]];
  const agreed = await nodesAgree(survivors);
  assert.equal(agreed.seq, finalSeq);
  const viaFront = await cl.front.board(tok.viewer);
  assert.deepEqual(boardShape(viaFront.body), agreed.shape, 'GET through the front = the survivors\' GET');
  const differ = [];
  for (const [k, c] of everyone.entries()) {
    const cb = new ClientBoard(board0);
    const old = again.find((r) => r.c === c);
    if (old && c.events('resync_required').length) continue;   // a problem above; a browser would reload
    if (old) {
      for (const m of roomEvents(old.old)) cb.apply(m);
      assert.equal(cb.seq, old.sinceSeq);
    }
    for (const m of roomEvents(c)) cb.apply(m);
    assert.equal(cb.seq, finalSeq, `client ${k}`);
    if (JSON.stringify(cb.columns()) !== JSON.stringify(agreed.shape)) differ.push({ k, cb, c, old });
  }
  if (differ.length) {
    const d = differ[0];
    problems.push(`${differ.length} of ${everyone.length} clients built a board (GET + events${d.old ? ' + replay' : ''}) ` +
      `other than the survivors' board; client ${d.k}:` + explainColumns(d.cb.columns(), agreed.shape,
      [...(d.old ? roomEvents(d.old.old) : []), ...roomEvents(d.c)]));
  }
  const deadFailures = [...new Set(rec.failed.map((f) => `${f.status} ${f.code}`))];
  t.diagnostic(`${rec.ok.length} moves acknowledged, failures ${JSON.stringify(deadFailures)}; ` +
    `reconnect ms ${again.map((r) => r.joinedMs).join(',')}; caught up ${caughtUpMs} ms after the storm`);
  assert.deepEqual(problems, []);
});

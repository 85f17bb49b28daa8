// Drag locks across nodes (issue 13 "Tests", SPEC §5 drag locks, §12 "the database holds ...
// the drag locks"):
//   1. two schedulers connected DIRECTLY to two different nodes race start_drag for the same
//      order, round after round: exactly one wins each round (its ack and one order_locked
//      seen by both), the other gets `locked`;
//   2. a node killed while its user holds a lock: the lock ends at its TTL (3 s here:
//      PB_CLUSTER_LOCK_TTL) with reason `expired`, one order_unlocked at a client of another
//      node, published by whichever surviving node's sweep removed the row;
//   3. presence across nodes (SPEC §12 "the union of the nodes' connections"): one user on
//      two nodes is one user_joined, stays online while either connection does, and leaves
//      (user_left, once: the surviving node and a fourth started on the same database both
//      sweep the dead node each second) when the node of their last connection dies.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Cluster, DEMO_PASSWORD, OTHER_PASSWORD, until, startServer } from './lib.mjs';

const ROUNDS = 20;
let cl;

const TTL_S = 3;

before(async () => {
  process.env.PB_CLUSTER_LOCK_TTL = String(TTL_S);
  try {
    cl = await Cluster.start();
  } finally {
    delete process.env.PB_CLUSTER_LOCK_TTL;
  }
}, { timeout: 180000 });

after(async () => {
  if (cl) await cl.stop();
}, { timeout: 90000 });

test(`two schedulers on two nodes race start_drag for one order ${ROUNDS} times: exactly one wins each round`, { timeout: 180000 }, async () => {
  const admin = await cl.front.token('admin');
  const r = await cl.front.req('POST', '/api/users', { token: admin,
    json: { username: 'sched2', email: 'sched2@example.com', role: 'scheduler', password: DEMO_PASSWORD } });
  assert.equal(r.status, 201, r.text);
  const t1 = await cl.front.token('scheduler');
  const t2 = await cl.front.token('sched2');
  const a = await cl.nodes[0].ws(t1);   // node 1
  const b = await cl.nodes[1].ws(t2);   // node 2
  const board = (await cl.front.board(t1)).body;
  const orders = [...board.workCentres.flatMap((w) => w.orders.map((o) => o.id)), ...board.backlog.map((o) => o.id)];

  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) {
    const orderId = orders[i % orders.length];
    const fromA = a.messages.length, fromB = b.messages.length;
    // Both frames leave before either answer is read: the race is in the servers.
    const [ra, rb] = await Promise.all([a.request('start_drag', { orderId }), b.request('start_drag', { orderId })]);
    const winners = [ra, rb].filter((m) => m.event === 'ack').length;
    const lockedErr = [ra, rb].filter((m) => m.event === 'error' && m.data.code === 'locked').length;
    // Release what was won, and wait until both clients saw every release, so the next round
    // starts with the order free everywhere (order_unlocked reason released).
    const holders = [[a, ra], [b, rb]].filter(([, m]) => m.event === 'ack');
    for (const [c] of holders) {
      const e = await c.request('end_drag', { orderId, completed: false });
      assert.equal(e.event, 'ack', `end_drag: ${JSON.stringify(e)}`);
    }
    for (const [c, from, name] of [[a, fromA, 'node 1'], [b, fromB, 'node 2']]) {
      await until(() => c.messages.slice(from).filter((m) => m.event === 'order_unlocked' && m.data.orderId === orderId).length >= holders.length,
        { timeout: 10000, what: `order_unlocked of order ${orderId} (round ${i + 1}) at ${name}'s client` });
    }
    const lockedSeen = [a.messages.slice(fromA), b.messages.slice(fromB)]
      .map((ms) => ms.filter((m) => m.event === 'order_locked' && m.data.orderId === orderId).length);
    rounds.push({ round: i + 1, orderId, winners, lockedErr, lockedSeen,
      answers: [ra, rb].map((m) => (m.event === 'ack' ? 'ack' : m.data.code)) });
  }
  const bad = rounds.filter((x) => x.winners !== 1 || x.lockedErr !== 1 || x.lockedSeen.some((n) => n !== 1));
  assert.deepEqual(bad.map((x) => `round ${x.round} order ${x.orderId}: node 1 ${x.answers[0]}, node 2 ${x.answers[1]}, ` +
    `order_locked seen ${x.lockedSeen.join('/')}`), [],
  `${bad.length} of ${ROUNDS} rounds had not exactly one winner (one ack, one locked, one order_locked at each client)`);
});

test('a node that never served the tenant refuses a REST move of an order locked through another node (423)', { timeout: 60000 }, async () => {
  // Before: a node with no room of the tenant (no board, no WebSocket client of it) checked
  // the move against an empty lock mirror and moved the order past the holder's lock.
  cl.nodes[0].cfgPath = join(cl.dir, 'node1.ini');
  await cl.nodes[0].createTenant('gapco', 'boss', OTHER_PASSWORD);
  const A = cl.nodes[0], C = cl.nodes[2];
  const boss = await A.token('boss', OTHER_PASSWORD, 'gapco');
  let r = await A.req('POST', '/api/users', { token: boss,
    json: { username: 'planner2', email: 'planner2@example.com', role: 'scheduler', password: OTHER_PASSWORD } });
  assert.equal(r.status, 201, r.text);
  for (const code of ['GAP-A', 'GAP-B']) {   // a new tenant may have no work centres
    r = await A.req('POST', '/api/work-centres', { token: boss, json: { code, name: code } });
    assert.equal(r.status, 201, r.text);
  }
  const wcs = (await A.workCentres(boss)).list.filter((w) => w.code.startsWith('GAP-')).map((w) => w.id);
  r = await A.req('POST', '/api/orders', { token: boss,
    json: { orderNumber: 'GAP-1', stockCode: 'SC', description: 'locked on node 1', quantityToMake: 1, workCentreId: wcs[0] } });
  assert.equal(r.status, 201, r.text);
  const orderId = r.body.id;
  const a = await A.ws(boss);
  const lock = await a.request('start_drag', { orderId });
  assert.equal(lock.event, 'ack', JSON.stringify(lock));
  const planner = await C.token('planner2', OTHER_PASSWORD, 'gapco');
  r = await C.req('PUT', `/api/orders/${orderId}/move`, { token: planner, json: { toWorkCentreId: wcs[1], position: 0 } });
  assert.equal(r.status, 423, `a move through node 3 past node 1's lock: ${r.status} ${r.text}`);
  assert.equal(r.body.code, 'locked', r.text);
  const row = cl.sql(`SELECT work_centre_id FROM orders WHERE id = ${orderId}`);
  assert.equal(Number(row[0][0]), wcs[0], 'the order did not move');
  a.ws.close();
});

test('a node killed while its user holds a drag lock: the lock ends at its TTL with reason expired, once', { timeout: 60000 }, async () => {
  const t = await cl.front.token('scheduler');
  const viewer = await cl.front.token('viewer');
  const watch = await cl.nodes[0].ws(viewer);           // node 1: survives
  const holder = await cl.nodes[2].ws(t);               // node 3: dies
  const board = (await cl.front.board(t)).body;
  const orderId = board.backlog[0]?.id ?? board.workCentres.find((w) => w.orders.length).orders[0].id;
  const from = watch.messages.length;
  const ack = await holder.request('start_drag', { orderId });
  assert.equal(ack.event, 'ack', JSON.stringify(ack));
  const lockedAt = Date.now();
  await watch.waitFor((m) => m.event === 'order_locked' && m.data.orderId === orderId, { timeout: 5000, what: 'order_locked at node 1' });
  cl.killNode(2);
  const un = await watch.waitFor((m) => m.event === 'order_unlocked' && m.data.orderId === orderId,
    { timeout: (TTL_S + 10) * 1000, what: 'order_unlocked of the dead node\'s lock' });
  assert.equal(un.data.reason, 'expired', JSON.stringify(un));
  assert.ok(Date.now() - lockedAt >= TTL_S * 1000 - 1000, 'not before its TTL');
  // Later events are out; the lock's end was told once.
  const wc = board.workCentres[0].id;
  const mv = await cl.nodes[1].req('PUT', `/api/orders/${orderId}/move`, { token: t, json: { toWorkCentreId: wc, position: 0 } });
  assert.equal(mv.status, 200, mv.text);
  await watch.waitFor((m) => m.event === 'order_moved' && m.data.order.id === orderId, { timeout: 5000, what: 'the move after' });
  const ends = watch.messages.slice(from).filter((m) => m.event === 'order_unlocked' && m.data.orderId === orderId);
  assert.equal(ends.length, 1, JSON.stringify(ends));
});

// SPEC §12: presence is the union of the nodes' connections. One user on two nodes is one
// user_joined and stays online while either connection does; a node that dies takes its
// users' presence with it (user_left once, from a surviving node's sweep).
test('presence across nodes: one user_joined for a user on two nodes, online while either is, user_left when the last node dies', { timeout: 60000 }, async () => {
  const admin = await cl.front.token('admin');
  const r = await cl.front.req('POST', '/api/users', { token: admin,
    json: { username: 'roamer', email: 'roamer@example.com', role: 'viewer', password: DEMO_PASSWORD } });
  assert.equal(r.status, 201, r.text);
  const t = await cl.front.token('roamer');
  const viewer = await cl.front.token('viewer');
  const watch = await cl.nodes[0].ws(viewer);           // node 1
  // a fourth node on the same database (node 3 died in the test above): with node 1 it sweeps
  // node 2 when it dies
  const extra = await startServer({ command: 'serve', config: { database: { url: cl.dbUrl } } });
  const watch4 = await extra.ws(await extra.token('viewer'));
  const from = watch.messages.length, from4 = watch4.messages.length;
  const onNode1 = await cl.nodes[0].ws(t);
  const onNode2 = await cl.nodes[1].ws(t);
  await watch.waitFor((m) => m.event === 'user_joined' && m.data.username === 'roamer', { timeout: 5000, what: 'user_joined of roamer' });
  const online = async (node) => (await cl.nodes[node].board(viewer)).body.online.map((u) => u.username);
  // every node lists roamer, whichever node its connections are on
  for (const n of [0, 1]) {
    await until(async () => (await online(n)).includes('roamer'), { timeout: 5000, what: `roamer online at node ${n + 1}` });
  }
  // the node-1 connection goes: roamer is still online through node 2
  await onNode1.close();
  await cl.nodes[0].settled();
  await cl.nodes[1].settled();
  assert.ok((await online(0)).includes('roamer'), 'still online through node 2');
  assert.equal(watch.messages.slice(from).filter((m) => m.event === 'user_left' && m.data.username === 'roamer').length, 0);
  // node 2 dies: roamer leaves, told once
  cl.killNode(1);
  await watch.waitFor((m) => m.event === 'user_left' && m.data.username === 'roamer', { timeout: 15000, what: 'user_left of roamer after node 2 died' });
  await until(async () => !(await online(0)).includes('roamer'), { timeout: 5000, what: 'roamer off the online list' });
  const joins = watch.messages.slice(from).filter((m) => m.event === 'user_joined' && m.data.username === 'roamer');
  assert.equal(joins.length, 1, JSON.stringify(joins));
  // both surviving nodes sweep node 2 every second (SKIP LOCKED: the one that locked the dead
  // node's row reports it): after three more sweeps on each, still one user_left, seen alike
  // on node 1 and the fourth node
  const beat = async (srv) => Number(/^planboard_presence_beats_total (\S+)$/m.exec((await srv.req('GET', '/metrics')).text)[1]);
  const beats = async () => [await beat(cl.nodes[0]), await beat(extra)];
  const b0 = await beats();
  await until(async () => (await beats()).every((b, k) => b >= b0[k] + 3), { timeout: 15000, what: 'three more sweeps on node 1 and the fourth node' });
  await watch4.waitFor((m) => m.event === 'user_left' && m.data.username === 'roamer', { timeout: 5000, what: 'user_left of roamer at the fourth node' });
  await cl.nodes[0].settled();
  await extra.settled();
  const lefts = (w, k) => w.messages.slice(k).filter((m) => m.event === 'user_left' && m.data.username === 'roamer');
  assert.equal(lefts(watch, from).length, 1, JSON.stringify(lefts(watch, from)));
  assert.equal(lefts(watch4, from4).length, 1, JSON.stringify(lefts(watch4, from4)));
  assert.equal(lefts(watch, from)[0].seq, lefts(watch4, from4)[0].seq, 'one event, one seq');
  await watch4.close();
  await extra.stop();
  void onNode2;
});

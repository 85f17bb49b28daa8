// Real-time fan-out (SPEC §5): many clients of one tenant see every order_moved in the same seq
// order, another tenant sees none, and the board snapshot matches the events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, boardColumns, boardOrders, OTHER_PASSWORD, assertError } from './lib.mjs';

let srv;
let tok = {};
let wc;
before(async () => {
  srv = await startServer();
  await srv.createTenant('other', 'boss', OTHER_PASSWORD, 'Other Works');
  tok.scheduler = await srv.token('scheduler');
  tok.viewer = await srv.token('viewer');
  tok.admin = await srv.token('admin');
  tok.other = await srv.token('boss', OTHER_PASSWORD, 'other');
  wc = await srv.workCentres(tok.scheduler);
});
after(async () => {
  if (srv) await srv.stop();
});

/** Apply an order_moved event to a {col: [ids]} model (col = wc id or 'backlog'). */
function applyMove(cols, ev) {
  const id = ev.data.order.id;
  for (const k of Object.keys(cols)) cols[k] = cols[k].filter((x) => x !== id);
  const to = ev.data.toWorkCentreId === null ? 'backlog' : ev.data.toWorkCentreId;
  cols[to].splice(ev.data.position, 0, id);
}

test('21 WebSocket clients: every demo client sees every move in the same seq order, the other tenant none', async () => {
  const initial = await srv.board(tok.scheduler);
  assert.equal(initial.status, 200, initial.text);
  const cols0 = boardColumns(initial.body);
  const orders0 = boardOrders(initial.body);
  assert.equal(orders0.size, 15, 'demo has 15 orders');

  // 22 demo clients: schedulers and viewers, one with planboard.v1, one authenticated by header.
  const demo = [];
  for (let i = 0; i < 22; i++) {
    const role = i % 2 === 0 ? 'scheduler' : 'viewer';
    const opts = {};
    if (i === 3) opts.protocol = 'planboard.v1';
    if (i === 5) opts.auth = 'header';
    const c = await srv.ws(tok[role], opts);
    c.role = role;
    assert.equal(c.hello.data.tenant.slug, 'demo');
    assert.equal(c.hello.data.user.username, role);
    assert.equal(typeof c.hello.data.epoch, 'string');
    demo.push(c);
  }
  assert.equal(demo[3].ws.protocol, 'planboard.v1', 'server accepted the planboard.v1 subprotocol');
  const other = await srv.ws(tok.other);
  assert.equal(other.hello.data.tenant.slug, 'other');

  const sched = demo[0];
  const viewerWs = demo[1];
  const expected = []; // order ids in the order the moves were made
  const { CUT, ASM, QC, PACK, SHIP } = wc.byCode;

  // Pick orders from the snapshot.
  const ids = [...orders0.keys()].sort((a, b) => a - b);
  const restMove = async (id, body) => {
    const r = await srv.req('PUT', `/api/orders/${id}/move`, { token: tok.scheduler, json: body });
    assert.equal(r.status, 200, `REST move ${id} ${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.body.id, id);
    assert.equal(r.body.workCentreId, body.toWorkCentreId);
    expected.push(id);
    return r.body;
  };
  const boardMove = async (id, body) => {
    const r = await srv.req('PUT', '/api/planning-board/move', { token: tok.admin, json: { orderId: id, ...body } });
    assert.equal(r.status, 200, `board move ${id} ${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.body.id, id);
    assert.equal(r.body.workCentreId, body.toWorkCentreId);
    expected.push(id);
    return r.body;
  };
  const wsMove = async (id, body) => {
    const a = await sched.request('move_order', { orderId: id, ...body });
    assert.equal(a.event, 'ack', `WS move ${id}: ${JSON.stringify(a)}`);
    assert.equal(a.data.id, id, 'ack carries the moved order');
    assert.equal(a.data.workCentreId, body.toWorkCentreId);
    assert.equal(typeof a.data.version, 'number');
    expected.push(id);
    return a.data;
  };

  const o1 = orders0.get(ids[0]);
  const m1 = await restMove(ids[0], { toWorkCentreId: ASM, position: 0, fromWorkCentreId: o1.workCentreId, version: o1.version });
  assert.equal(m1.position, 0);
  assert.equal(m1.version, o1.version + 1, 'version increments on a move');
  await restMove(ids[1], { toWorkCentreId: null });
  await boardMove(ids[2], { toWorkCentreId: CUT, position: 1 });
  await wsMove(ids[3], { toWorkCentreId: QC, position: 0 });
  await wsMove(ids[4], { toWorkCentreId: PACK, position: 99 });
  await boardMove(ids[5], { toWorkCentreId: SHIP });
  await restMove(ids[6], { toWorkCentreId: CUT, position: 0 });
  await wsMove(ids[0], { toWorkCentreId: ASM, position: 2, fromWorkCentreId: ASM }); // inside its column

  // A viewer's move is refused on both paths and publishes nothing.
  assertError(await srv.req('PUT', `/api/orders/${ids[7]}/move`, { token: tok.viewer, json: { toWorkCentreId: CUT } }), 403, 'forbidden');
  assertError(await srv.req('PUT', '/api/planning-board/move', { token: tok.viewer, json: { orderId: ids[7], toWorkCentreId: CUT } }), 403, 'forbidden');
  const vr = await viewerWs.request('move_order', { orderId: ids[7], toWorkCentreId: CUT, position: 0 });
  assert.equal(vr.event, 'error', JSON.stringify(vr));
  assert.equal(vr.data.code, 'forbidden');

  await boardMove(ids[8], { toWorkCentreId: null, position: 0 });
  await wsMove(ids[9], { toWorkCentreId: SHIP, position: 0 });
  await restMove(ids[10], { toWorkCentreId: QC, position: 1 });
  await wsMove(ids[1], { toWorkCentreId: PACK, position: 1, fromWorkCentreId: null });

  const n = expected.length;
  const moved = (m) => m.event === 'order_moved';
  const lists = [];
  for (const c of demo) {
    const evs = await c.waitCount(moved, n, { timeout: 10000, what: `order_moved on client ${demo.indexOf(c)}` });
    assert.equal(evs.length, n, 'no extra order_moved');
    lists.push(evs.map((e) => [e.seq, e.data.order.id]));
    for (let i = 1; i < evs.length; i++) assert.ok(evs[i].seq > evs[i - 1].seq, 'seqs strictly increasing');
    // Every room event carries a strictly increasing seq, whatever its kind.
    const seqd = c.messages.filter((m) => m.seq !== undefined).map((m) => m.seq);
    for (let i = 1; i < seqd.length; i++) assert.ok(seqd[i] > seqd[i - 1], `room seqs increasing: ${seqd}`);
    for (const m of c.messages) {
      if (['hello', 'ack', 'error', 'pong', 'resync_required'].includes(m.event)) assert.equal(m.seq, undefined, `direct reply ${m.event} has no seq`);
    }
  }
  for (let i = 1; i < lists.length; i++) assert.deepEqual(lists[i], lists[0], `client ${i} saw a different sequence`);
  assert.deepEqual(lists[0].map((x) => x[1]), expected, 'events in the order the moves were made');

  // Event payload shape.
  const ev0 = sched.messages.filter(moved)[0];
  assert.equal(ev0.data.fromWorkCentreId, o1.workCentreId);
  assert.equal(ev0.data.toWorkCentreId, ASM);
  assert.equal(ev0.data.position, 0);
  assert.equal(ev0.data.order.position, 0);
  assert.ok(ev0.data.movedBy && ev0.data.movedBy.username === 'scheduler', JSON.stringify(ev0.data.movedBy));

  // The other tenant: a ping round-trip after all moves, and not one of them arrived.
  const p = await other.request('ping');
  assert.equal(p.event, 'pong');
  assert.equal(other.messages.filter(moved).length, 0, 'other tenant received demo moves');
  for (const m of other.messages) {
    const s = JSON.stringify(m);
    for (const id of expected) {
      const num = orders0.get(id).orderNumber;
      assert.ok(!s.includes(num), `other tenant saw ${num}: ${s}`);
    }
  }

  // The board afterwards: dense positions and exactly what the events describe.
  const after = await srv.board(tok.viewer);
  assert.equal(after.status, 200, after.text);
  const cols = boardColumns(after.body);
  const model = JSON.parse(JSON.stringify(cols0));
  for (const e of sched.messages.filter(moved)) {
    assert.equal(e.data.position, e.data.order.position, 'event position is the order position');
    applyMove(model, e);
  }
  assert.deepEqual(cols, model, 'board equals initial board + events');
  const lastSeq = Math.max(...sched.messages.filter((m) => m.seq !== undefined).map((m) => m.seq));
  assert.equal(after.body.seq, lastSeq, 'board seq is the last room seq');
  assert.equal(after.body.epoch, sched.hello.data.epoch);
  // Orders that moved twice were counted twice in their version.
  const final = boardOrders(after.body);
  assert.equal(final.get(ids[0]).version, o1.version + 2);
  assert.equal(final.get(ids[7]).version, orders0.get(ids[7]).version, 'refused move changed nothing');

  // Online presence lists both demo users.
  const online = after.body.online.map((u) => u.username).sort();
  assert.deepEqual(online, ['scheduler', 'viewer']);

  for (const c of [...demo, other]) await c.close();
});

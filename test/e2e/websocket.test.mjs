// WebSocket protocol (SPEC §5): upgrade refusal, frames, ping/pong, resume with sinceSeq/epoch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, tryUpgrade, boardOrders, sleep } from './lib.mjs';

let srv, tok = {}, wc, ids;
before(async () => {
  srv = await startServer();
  for (const u of ['scheduler', 'admin', 'viewer']) tok[u] = await srv.token(u);
  wc = await srv.workCentres(tok.scheduler);
  ids = [...boardOrders((await srv.board(tok.scheduler)).body).keys()].sort((a, b) => a - b);
});
after(async () => {
  if (srv) await srv.stop();
});

test('an upgrade without a token or with a bad token is refused with HTTP 401', async () => {
  const cases = [
    [`${srv.wsBase}/ws`, {}],
    [`${srv.wsBase}/ws?token=`, {}],
    [`${srv.wsBase}/ws?token=garbage.token.here`, {}],
    [`${srv.wsBase}/ws?token=${'A'.repeat(6000)}`, {}],
    [`${srv.wsBase}/ws`, { headers: { authorization: 'Bearer nope' } }],
    [`${srv.wsBase}/ws?token=${tok.viewer.slice(0, -3)}xyz`, {}],
  ];
  for (const [url, opts] of cases) {
    const r = await tryUpgrade(url, opts);
    assert.equal(r.status, 401, `${url.slice(0, 80)}: ${JSON.stringify(r)}`);
    const body = JSON.parse(r.body);
    assert.equal(body.code, 'unauthorized');
  }
  // Also with the planboard.v1 subprotocol offered.
  const r = await tryUpgrade(`${srv.wsBase}/ws?token=bad`, { protocol: 'planboard.v1' }, 5000);
  assert.equal(r.status, 401);
  // The server is fine afterwards.
  assert.equal((await srv.req('GET', '/api/health')).status, 200);
});

test('a valid token in the query string or in the Authorization header opens a socket with hello', async () => {
  for (const opts of [{}, { protocol: 'planboard.v1' }, { auth: 'header' }]) {
    const c = await srv.ws(tok.viewer, { ...opts, join: false });
    assert.equal(c.hello.data.user.username, 'viewer');
    assert.equal(c.hello.data.tenant.slug, 'demo');
    assert.equal(typeof c.hello.data.seq, 'number');
    assert.equal(typeof c.hello.data.epoch, 'string');
    assert.equal(c.hello.seq, undefined, 'hello is a direct reply without seq');
    await c.close();
  }
});

test('malformed frames and unknown events get error validation_failed and the connection stays open', async () => {
  const c = await srv.ws(tok.scheduler, { join: false });
  const frames = ['this is not json', '[1,2,3]', '"str"', '{"event": 42}', '{"no_event": true}', '{"event":"ping","data":[1]}', '{'];
  for (const f of frames) {
    const from = c.messages.length;
    c.send(f);
    const e = await c.waitFor((m) => m.event === 'error', { from, timeout: 3000, what: `error for ${f}` });
    assert.equal(e.data.code, 'validation_failed', `${f}: ${JSON.stringify(e)}`);
    assert.equal(typeof e.data.error, 'string');
  }
  const u = await c.request('no_such_event', { x: 1 });
  assert.equal(u.event, 'error');
  assert.equal(u.data.code, 'validation_failed');
  const bad = await c.request('start_drag', { orderId: 'abc' });
  assert.equal(bad.event, 'error');
  assert.equal(bad.data.code, 'validation_failed');
  // Binary frame: still open afterwards.
  c.ws.send(Buffer.from([0, 1, 2, 3]), { binary: true });
  const p = await c.request('ping');
  assert.equal(p.event, 'pong');
  assert.equal(c.closeInfo, null, 'connection stayed open');
  await c.close();
});

test('ping with ref answers pong with the same ref; without ref a bare pong', async () => {
  const c = await srv.ws(tok.viewer);
  c.send({ event: 'ping', ref: 'my-ref-123' });
  const p = await c.waitFor((m) => m.event === 'pong', { timeout: 3000 });
  assert.equal(p.ref, 'my-ref-123');
  assert.equal(p.seq, undefined);
  const from = c.messages.length;
  c.send({ event: 'ping' });
  const p2 = await c.waitFor((m) => m.event === 'pong', { from, timeout: 3000 });
  assert.equal(p2.ref, undefined);
  await c.close();
});

test('a client that reconnects with {sinceSeq, epoch} receives exactly the events it missed, in order', async () => {
  const watcher = await srv.ws(tok.admin);
  const c = await srv.ws(tok.viewer);
  await srv.req('PUT', `/api/orders/${ids[0]}/move`, { token: tok.scheduler, json: { toWorkCentreId: wc.byCode.QC, position: 0 } });
  await c.waitFor((m) => m.event === 'order_moved', { timeout: 3000 });
  const epoch = c.hello.data.epoch;
  const lastSeq = Math.max(...c.messages.filter((m) => m.seq !== undefined).map((m) => m.seq));
  await c.close();

  // Missed while away: moves over REST and WS plus a lock and unlock.
  const startIdx = watcher.messages.length;
  const moves = [[ids[1], wc.byCode.ASM], [ids[2], null], [ids[3], wc.byCode.CUT], [ids[4], wc.byCode.SHIP]];
  for (const [id, to] of moves) {
    const r = await srv.req('PUT', `/api/orders/${id}/move`, { token: tok.scheduler, json: { toWorkCentreId: to, position: 0 } });
    assert.equal(r.status, 200, r.text);
  }
  assert.equal((await watcher.request('start_drag', { orderId: ids[5] })).event, 'ack');
  assert.equal((await watcher.request('move_order', { orderId: ids[5], toWorkCentreId: wc.byCode.PACK, position: 0 })).event, 'ack');
  await watcher.waitFor((m) => m.event === 'order_unlocked' && m.data.orderId === ids[5], { from: startIdx, timeout: 3000 });
  const p = await watcher.request('ping');
  assert.equal(p.event, 'pong');
  // What the watcher saw after the viewer's last seq (the viewer leaving included).
  const missed = watcher.messages.filter((m) => m.seq !== undefined && m.seq > lastSeq);
  assert.ok(missed.filter((m) => m.event === 'order_moved').length === 5, JSON.stringify(missed.map((m) => m.event)));

  const c2 = await srv.ws(tok.viewer, { joinData: { sinceSeq: lastSeq, epoch } });
  // The replay ends with the last missed seq; the rejoin then adds its own user_joined.
  const lastMissed = missed.at(-1).seq;
  await c2.waitFor((m) => m.seq === lastMissed, { timeout: 3000, what: `replay up to seq ${lastMissed}` });
  await c2.request('ping');
  const replay = c2.messages.filter((m) => m.seq !== undefined && m.seq <= lastMissed);
  assert.deepEqual(replay.map((m) => m.seq), missed.map((m) => m.seq), 'exactly the missed seqs, in order');
  assert.deepEqual(replay, missed, 'the replayed events are the events as broadcast');
  assert.equal(c2.messages.filter((m) => m.resync_required).length, 0);
  assert.equal(c2.events('resync_required').length, 0);
  // Nothing before sinceSeq is replayed.
  assert.ok(c2.messages.every((m) => m.seq === undefined || m.seq > lastSeq));
  await c2.close();
  await watcher.close();
});

test('join with a wrong epoch (or a future sinceSeq) answers resync_required', async () => {
  const c = await srv.ws(tok.viewer, { joinData: { sinceSeq: 1, epoch: 'not-the-epoch' } });
  const r = await c.waitFor((m) => m.event === 'resync_required', { timeout: 3000, what: 'resync_required' });
  assert.equal(r.seq, undefined, 'resync_required is a direct reply');
  assert.equal(c.events('order_moved').length, 0, 'no replay across epochs');
  await c.close();
  const b = await srv.board(tok.viewer);
  const c2 = await srv.ws(tok.viewer, { joinData: { sinceSeq: b.body.seq + 1000, epoch: b.body.epoch } });
  await c2.waitFor((m) => m.event === 'resync_required', { timeout: 3000, what: 'resync_required for a future seq' });
  await c2.close();
});

test('board snapshot seq + join sinceSeq: fetch the board then resume with no gap', async () => {
  const b = await srv.board(tok.viewer);
  await srv.req('PUT', `/api/orders/${ids[6]}/move`, { token: tok.scheduler, json: { toWorkCentreId: wc.byCode.ASM, position: 0 } });
  await sleep(50);
  const c = await srv.ws(tok.viewer, { joinData: { sinceSeq: b.body.seq, epoch: b.body.epoch } });
  const ev = await c.waitFor((m) => m.event === 'order_moved', { timeout: 3000 });
  assert.equal(ev.data.order.id, ids[6]);
  // Every room event after the snapshot's seq arrives, without a gap.
  const seqs = c.messages.filter((m) => m.seq !== undefined && m.seq <= ev.seq).map((m) => m.seq);
  assert.deepEqual(seqs, Array.from({ length: ev.seq - b.body.seq }, (_, i) => b.body.seq + 1 + i));
  await c.close();
});

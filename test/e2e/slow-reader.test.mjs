// Slow clients (SPEC §5): a connection whose outgoing queue passes [limits] ws_queue_bytes is
// closed with 1008, and the other clients are not delayed by it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, until, withTimeout } from './lib.mjs';

const MIN_MOVES = 300;
const MAX_MOVES = 8000; // ~8 MB of events: more than loopback socket buffers hold
let srv, tok = {}, wc;
let shared = null; // state handed from the slow-reader test to the recovery test
before(async () => {
  srv = await startServer({ config: { limits: { ws_queue_bytes: 65536 } } });
  for (const u of ['scheduler', 'viewer', 'admin']) tok[u] = await srv.token(u);
  wc = await srv.workCentres(tok.scheduler);
});
after(async () => {
  if (srv) await srv.stop();
});

test('a paused client is closed with 1008 while a normal client gets every event in order', async () => {
  // Orders with long descriptions make each order_moved about 1 KB.
  const ids = [];
  for (let i = 0; i < 6; i++) {
    const r = await srv.req('POST', '/api/orders', {
      token: tok.scheduler,
      json: { orderNumber: `MO-SLOW-${i}`, stockCode: `STK-${i}`, description: `${i}`.repeat(500), currentOperation: 'Op'.repeat(20), quantityToMake: 10, workCentreId: wc.byCode.CUT },
    });
    assert.equal(r.status, 201, r.text);
    ids.push(r.body.id);
  }
  const normal = await srv.ws(tok.viewer);
  const slow = await srv.ws(tok.viewer);
  const slowSeen = slow.messages.length;
  slow.ws._socket.pause();

  // Publish order_moved events (about 1 KB each) until the server gives up on the paused client.
  // The kernel's socket buffers absorb a few MB first (measured ~2.7 MB on loopback), so this
  // takes a few thousand moves: a scheduler pipelines move_order in batches small enough for its
  // own queue (acks + events), and stops early once the server logged the slow-client close.
  const mover = await srv.ws(tok.scheduler);
  const cols = [wc.byCode.CUT, wc.byCode.ASM, wc.byCode.QC, wc.byCode.PACK, wc.byCode.SHIP, null];
  const t0 = Date.now();
  const BATCH = 16;
  let moves = 0;
  // The cull's own log line: a looser pattern matched a request's duration ("... 21008us")
  // once, stopping the moves before the paused client's socket buffers were full.
  const CULLED = /warn (room \d+: a reader is .*|ws: send queue over \d+ bytes), closing 1008/;
  while (moves < MAX_MOVES && !(moves >= MIN_MOVES && CULLED.test(srv.stderr))) {
    let lastRef;
    for (let i = 0; i < BATCH; i++, moves++) {
      lastRef = `mv${moves}`;
      mover.send({ event: 'move_order', ref: lastRef,
        data: { orderId: ids[moves % ids.length], toWorkCentreId: cols[(moves + Math.floor(moves / ids.length)) % cols.length], position: moves % 3 } });
    }
    const a = await mover.waitFor((m) => m.ref === lastRef, { timeout: 10000, what: `ack ${lastRef}` });
    assert.equal(a.event, 'ack', JSON.stringify(a));
  }
  const MOVES = moves;
  const errors = mover.messages.filter((m) => m.event === 'error');
  assert.deepEqual(errors, [], 'every pipelined move succeeded');
  const tMoves = Date.now();

  // The normal client has every event promptly, in seq order, no gaps.
  const evs = await normal.waitCount((m) => m.event === 'order_moved', MOVES, { timeout: 3000, what: 'order_moved on the normal client' });
  const lag = Date.now() - tMoves;
  assert.ok(lag < 2000, `normal client was delayed ${lag} ms after the last move`);
  const seqs = normal.messages.filter((m) => m.seq !== undefined).map((m) => m.seq);
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, 'no gap in the normal client\'s seqs');
  assert.equal(evs.length, MOVES);
  assert.equal(normal.closeInfo, null, 'the normal client stays connected');

  // The slow one: resume reading; it must see a close with 1008 (not 1006).
  slow.ws._socket.resume();
  const ci = await withTimeout(slow.closed, 10000, 'slow client closed');
  const got = slow.messages.length - slowSeen;
  shared = { slow, normal, mover, lastSeq: seqs.at(-1), moves: MOVES };
  assert.ok(slow.messages.filter((m) => m.event === 'order_moved').length < MOVES, 'slow client was closed before the end');
  const seen = slow.messages.filter((m) => m.seq !== undefined);
  for (let i = 1; i < seen.length; i++) assert.equal(seen[i].seq, seen[i - 1].seq + 1, 'slow client got a prefix without gaps');
  assert.equal(ci.code, 1008, `slow client close code ${ci.code} (reason "${ci.reason}") after ${got} messages; ${Date.now() - t0} ms`);
});

test('the closed slow client recovers by reconnecting with sinceSeq (replay, or resync_required)', async () => {
  assert.ok(shared, 'the slow-reader test ran');
  const { slow, normal, mover, lastSeq } = shared;
  const seen = slow.messages.filter((m) => m.seq !== undefined);
  const last = seen.length ? seen.at(-1).seq : slow.joinAck.data.seq;
  const again = await srv.ws(tok.viewer, { joinData: { sinceSeq: last, epoch: slow.hello.data.epoch } });
  // Either exactly the missed events in order, or resync_required when they are no longer kept
  // (the client then fetches the board); the new connection must not be dropped either way.
  await again.waitFor((m) => m.seq === lastSeq || m.event === 'resync_required', { timeout: 5000, what: `replay up to ${lastSeq}` });
  const p = await again.request('ping');
  assert.equal(p.event, 'pong');
  if (again.events('resync_required').length === 0) {
    const replay = again.messages.filter((m) => m.seq !== undefined && m.seq <= lastSeq).map((m) => m.seq);
    assert.deepEqual(replay, Array.from({ length: lastSeq - last }, (_, i) => last + 1 + i));
  } else {
    const b = await srv.board(tok.viewer);
    assert.equal(b.status, 200);
    assert.ok(b.body.seq >= lastSeq);
  }
  assert.equal(again.closeInfo, null, `reconnected client was closed: ${JSON.stringify(again.closeInfo)}`);

  await until(async () => (await srv.req('GET', '/api/health')).status === 200, { timeout: 3000, what: 'health' });
  await again.close();
  await normal.close();
  await mover.close();
});

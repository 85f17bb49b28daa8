// The room's event log (SPEC §5 / §12, issue 13 item 2): after a clean restart a client that
// reconnects with {sinceSeq, epoch} is replayed what it missed, from before and after the
// restart, with the same epoch and no resync; after a crash (SIGKILL) the epoch changes and it
// is told to resync; the log keeps the last 1024 (to 1087) events of a room.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, boardOrders, SQLITE_ONLY, BACKEND } from './lib.mjs';

let srv, tok = {}, wc, ids;
before(async () => {
  srv = await startServer();
  for (const u of ['scheduler', 'viewer']) tok[u] = await srv.token(u);
  wc = await srv.workCentres(tok.scheduler);
  ids = [...boardOrders((await srv.board(tok.scheduler)).body).keys()].sort((a, b) => a - b);
});
after(async () => {
  if (srv) await srv.stop();
});

const move = async (id, to, position = 0) => {
  const r = await srv.req('PUT', `/api/orders/${id}/move`, { token: tok.scheduler, json: { toWorkCentreId: to, position } });
  assert.equal(r.status, 200, r.text);
  return r.body;
};

const seqOf = (c) => Math.max(0, ...c.messages.filter((m) => m.seq !== undefined).map((m) => m.seq));

test('after a clean restart the epoch and seq go on and a reconnect replays the missed events', async () => {
  const c = await srv.ws(tok.viewer);
  await move(ids[0], wc.byCode.QC);
  await c.waitFor((m) => m.event === 'order_moved', { timeout: 3000 });
  const { epoch } = c.hello.data;
  const lastSeq = seqOf(c);
  await c.close();

  // Missed: one move before the restart, one after.
  await move(ids[1], wc.byCode.ASM);
  const before1 = await srv.board(tok.viewer);
  await srv.restart();
  const b = await srv.board(tok.viewer);
  assert.equal(b.body.epoch, epoch, 'a clean restart keeps the epoch');
  assert.ok(b.body.seq >= before1.body.seq, `seq ${b.body.seq} went back from ${before1.body.seq}`);
  await move(ids[2], null);

  const c2 = await srv.ws(tok.viewer, { joinData: { sinceSeq: lastSeq, epoch } });
  assert.equal(c2.hello.data.epoch, epoch);
  await c2.waitFor((m) => m.event === 'order_moved' && m.data.order.id === ids[2], { timeout: 3000, what: 'the move after the restart' });
  await c2.request('ping');
  assert.equal(c2.events('resync_required').length, 0, JSON.stringify(c2.events('resync_required')));
  const seqs = c2.messages.filter((m) => m.seq !== undefined).map((m) => m.seq);
  assert.equal(seqs[0], lastSeq + 1, 'the replay starts right after sinceSeq');
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => lastSeq + 1 + i), 'no gap, in order');
  const moved = c2.events('order_moved').map((m) => m.data.order.id);
  assert.deepEqual(moved, [ids[1], ids[2]], 'the move before the restart (replayed from the log) and the one after');
  await c2.close();
});

test('after a crash every room has a new epoch and a reconnect is told to resync', { skip: SQLITE_ONLY }, async () => {
  const b0 = await srv.board(tok.viewer);
  await move(ids[3], wc.byCode.CUT);
  await srv.restart({ kill: true });
  const b = await srv.board(tok.viewer);
  assert.notEqual(b.body.epoch, b0.body.epoch, 'a crash renews the epoch');
  const c = await srv.ws(tok.viewer, { joinData: { sinceSeq: b0.body.seq, epoch: b0.body.epoch } });
  const r = await c.waitFor((m) => m.event === 'resync_required', { timeout: 3000, what: 'resync_required' });
  assert.equal(r.data.reason, 'epoch');
  assert.equal(r.data.epoch, b.body.epoch);
  await c.close();
  // And the next clean restart keeps the new epoch.
  await srv.restart();
  assert.equal((await srv.board(tok.viewer)).body.epoch, b.body.epoch);
});

// SPEC §12: on PostgreSQL an event is in the database before anyone sees it, so even a crash
// loses none: the epoch stays and a reconnect is replayed what it missed.
test('PostgreSQL: after a crash the epoch stays and a reconnect replays the missed events', { skip: BACKEND !== 'postgresql' && 'needs PostgreSQL (PB_TEST_PG)' }, async () => {
  const c = await srv.ws(tok.viewer);
  const b0 = await srv.board(tok.viewer);
  await move(ids[3], wc.byCode.CUT);
  await c.waitFor((m) => m.event === 'order_moved' && m.data.order.id === ids[3], { timeout: 3000 });
  await c.close();
  await srv.restart({ kill: true });
  const b = await srv.board(tok.viewer);
  assert.equal(b.body.epoch, b0.body.epoch, 'a crash keeps the epoch on PostgreSQL');
  const c2 = await srv.ws(tok.viewer, { joinData: { sinceSeq: b0.body.seq, epoch: b0.body.epoch } });
  await c2.waitFor((m) => m.event === 'order_moved' && m.data.order.id === ids[3], { timeout: 3000, what: 'the move before the crash, replayed' });
  await c2.request('ping');
  assert.equal(c2.events('resync_required').length, 0);
  await c2.close();
});

test('the log keeps the last 1024 events of a room across a restart, and not many more', async () => {
  const b0 = await srv.board(tok.viewer);
  // 1100 events: moves of one order between two columns.
  for (let i = 0; i < 1100; i++) await move(ids[4], i % 2 ? wc.byCode.ASM : wc.byCode.PACK);
  const b1 = await srv.board(tok.viewer);
  assert.ok(b1.body.seq - b0.body.seq >= 1100);
  await srv.restart();
  const b = await srv.board(tok.viewer);
  // (>=: a schedule refresh may publish at any time: SPEC §9 refresh_seconds)
  assert.ok(b.body.seq >= b1.body.seq, `seq ${b.body.seq} went back from ${b1.body.seq}`);
  // 1024 back is replayed ...
  const ok = await srv.ws(tok.viewer, { joinData: { sinceSeq: b.body.seq - 1024, epoch: b.body.epoch } });
  await ok.waitFor((m) => m.seq === b.body.seq, { timeout: 5000, what: 'the replay of 1024 events' });
  assert.equal(ok.events('resync_required').length, 0);
  assert.equal(ok.messages.filter((m) => m.seq !== undefined && m.seq <= b.body.seq).length, 1024);
  await ok.close();
  // ... 1100 back is gone (old rows go in steps of 64: the log holds 1024 to 1087 events).
  const gone = await srv.ws(tok.viewer, { joinData: { sinceSeq: b.body.seq - 1100, epoch: b.body.epoch } });
  const r = await gone.waitFor((m) => m.event === 'resync_required', { timeout: 3000, what: 'resync_required' });
  assert.equal(r.data.reason, 'gone');
  await gone.close();
});

// The invalid-UTF-8 frame exists only in SQLite: PostgreSQL's text refuses invalid UTF-8, so
// no row of the log can hold one there.
for (const [what, sql, skip] of [
  ['edited into invalid UTF-8', (bad) => `UPDATE room_events SET frame = CAST(X'7B22FF7D' AS TEXT) WHERE seq = ${bad}`, SQLITE_ONLY],
  ['copied from another seq', (bad) => `UPDATE room_events SET frame = (SELECT frame FROM room_events r WHERE r.tenant_id = room_events.tenant_id AND r.seq = ${bad} - 1) WHERE seq = ${bad}`, false],
]) test(`a logged frame ${what} is never sent: a replay across it is told to resync`, { skip }, async () => {
  const b0 = await srv.board(tok.viewer);
  for (let i = 0; i < 3; i++) await move(ids[5], i % 2 ? wc.byCode.ASM : wc.byCode.PACK);
  const b1 = await srv.board(tok.viewer);
  const bad = b0.body.seq + 2;          // the second of the three moves
  await srv.restart({ whileStopped: () => { srv.sql(sql(bad), [], { write: true }); } });
  const b = await srv.board(tok.viewer);
  assert.equal(b.body.epoch, b1.body.epoch);
  const across = await srv.ws(tok.viewer, { joinData: { sinceSeq: b0.body.seq, epoch: b.body.epoch } });
  const r = await across.waitFor((m) => m.event === 'resync_required', { timeout: 3000, what: 'resync_required' });
  assert.equal(r.data.reason, 'gone');
  assert.equal(across.messages.filter((m) => m.seq !== undefined && m.seq <= b1.body.seq).length, 0, 'nothing of the replay sent');
  await across.close();
  const after = await srv.ws(tok.viewer, { joinData: { sinceSeq: bad, epoch: b.body.epoch } });
  await after.waitFor((m) => m.seq === b1.body.seq, { timeout: 3000, what: 'the replay after the bad frame' });
  assert.equal(after.events('resync_required').length, 0);
  await after.close();
});

test('a clean stop ends every drag lock and presence in the log: a replay across the restart keeps neither', async () => {
  const sched = await srv.ws(tok.scheduler);
  const viewer = await srv.ws(tok.viewer);
  const lock = await sched.request('start_drag', { orderId: ids[6] });
  assert.equal(lock.event, 'ack', JSON.stringify(lock));
  const locked = await viewer.waitFor((m) => m.event === 'order_locked' && m.data.orderId === ids[6], { timeout: 3000 });
  const { epoch } = viewer.hello.data;
  await viewer.close();
  await srv.restart();           // sched's connection, its lock and its presence go with it
  const again = await srv.ws(tok.viewer, { joinData: { sinceSeq: locked.seq, epoch } });
  const un = await again.waitFor((m) => m.event === 'order_unlocked' && m.data.orderId === ids[6],
    { timeout: 3000, what: 'the lock ended by the stop, replayed' });
  assert.equal(un.data.reason, 'disconnected');
  const schedId = sched.hello.data.user.id;
  await again.waitFor((m) => m.event === 'user_left' && m.data.userId === schedId,
    { timeout: 3000, what: "the scheduler's user_left, replayed" });
  assert.equal(again.events('resync_required').length, 0);
  // the board agrees: no lock after the restart
  const b = await srv.board(tok.viewer);
  const o = [...boardOrders(b.body).values()].find((x) => x.id === ids[6]);
  assert.equal(o.lockedBy, null, JSON.stringify(o));
  await again.close();
});

// SPEC §12, issue 13 item 2 (PostgreSQL): every change's room events are rows of the change's
// own transaction (server/job_events.c; moves: board_ops.c batch_run). Two guarantees, driven
// as a user would, against a real server on a real PostgreSQL:
//   1. when a write is answered, its events are already in room_events, with the tenant's next
//      seqs, and the change is in its table (no "sequenced after commit" window);
//   2. a write whose events cannot be sequenced does not commit: a test-only trigger on
//      room_events refuses the frames that carry a marker, the write is answered with an
//      error and no row changed. (Before job_events.c the change committed and only its
//      event was lost: these writes answered 200/201/202/204 and changed their rows.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, BACKEND } from './lib.mjs';

const skip = BACKEND !== 'postgresql' && 'needs PostgreSQL (PB_TEST_PG)';
let srv, tok = {}, wc, tenantId, apiKey;

before(async () => {
  if (skip) return;
  srv = await startServer();
  for (const u of ['admin', 'scheduler']) tok[u] = await srv.token(u);
  wc = await srv.workCentres(tok.admin);
  tenantId = srv.sql("SELECT id FROM tenants WHERE slug = 'demo'")[0].id;
  const k = await srv.req('POST', '/api/api-keys', { token: tok.admin, json: { name: 'evtx line' } });
  assert.equal(k.status, 201, k.text);
  apiKey = k.body.key;
});
after(async () => { if (srv) await srv.stop(); });

const json = (method, path, body, token = tok.admin) => srv.req(method, path, { token, json: body });
const scan = (ev) => srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': apiKey }, json: ev });
const importCsv = (csv) => srv.req('POST', '/api/orders/import', { token: tok.scheduler, body: Buffer.from(csv), headers: { 'content-type': 'text/csv' } });
let evCount = 0;
const evId = () => `evtx-${process.pid}-${evCount++}`;

function lastSeq() {
  return Number(srv.sql('SELECT COALESCE(max(seq), 0) AS s FROM room_events WHERE tenant_id = $1', [tenantId])[0].s);
}

/** The tenant's event rows after seq `after`, parsed, in seq order. */
function rowsAfter(after) {
  return srv.sql('SELECT seq, frame FROM room_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq', [tenantId, after])
    .map((r) => {
      const f = JSON.parse(r.frame);
      assert.equal(f.seq, Number(r.seq), `the frame carries its row's seq: ${r.frame}`);
      return f;
    });
}

/**
 * Run `write` with nothing else in flight (settled before), and check, as soon as it is
 * answered and before waiting for anything, that its events are the tenant's next rows, in
 * order, gap-free. Returns [answer, events].
 */
async function expectEvents(names, write) {
  await srv.settled();
  const seq0 = lastSeq();
  const r = await write();
  const rows = rowsAfter(seq0);
  const got = rows.slice(0, names.length);
  assert.deepEqual(got.map((e) => e.event), names, `events right after the answer ${r.status} ${r.text}: ${JSON.stringify(rows)}`);
  got.forEach((e, i) => assert.equal(e.seq, seq0 + 1 + i, `gap-free seqs: ${JSON.stringify(rows)}`));
  return [r, got];
}

test('every kind of write has its events in room_events, with the next seqs, when it is answered', { skip }, async () => {
  // create
  let [r, ev] = await expectEvents(['order_created'], () => json('POST', '/api/orders',
    { orderNumber: 'EVTX-1', stockCode: 'S-1', description: 'event in the transaction', quantityToMake: 3 }));
  assert.equal(r.status, 201, r.text);
  const id = r.body.id;
  assert.equal(ev[0].data.order.id, id, 'the event names the id the database gave');
  assert.equal(ev[0].data.order.orderNumber, 'EVTX-1');
  assert.equal(srv.sql('SELECT count(*) AS n FROM orders WHERE id = $1', [id])[0].n, 1);

  // field update
  [r, ev] = await expectEvents(['order_updated'], () => json('PUT', `/api/orders/${id}`, { version: 1, description: 'updated in one transaction' }));
  assert.equal(r.status, 200, r.text);
  for (const [k, v] of Object.entries(ev[0].data.order)) {
    if (!['projectedStart', 'projectedFinish', 'late'].includes(k)) assert.deepEqual(v, r.body[k], `the event's ${k} is the answer's`);
  }
  assert.equal(ev[0].data.order.version, 2);
  assert.equal(ev[0].data.order.updatedAt, r.body.updatedAt);
  assert.equal(ev[0].data.order.description, 'updated in one transaction');
  assert.equal(srv.sql('SELECT description FROM orders WHERE id = $1', [id])[0].description, 'updated in one transaction');

  // a field update that moves the order, by the holder of its drag lock: ONE order_moved with
  // the updated order, then the lock's end {moved} (before: both sequenced by a job of their
  // own after the update's commit)
  const holder = await srv.ws(tok.admin);
  const lk = await holder.request('start_drag', { orderId: id });
  assert.equal(lk.event, 'ack', JSON.stringify(lk));
  [r, ev] = await expectEvents(['order_moved', 'order_unlocked'], () => json('PUT', `/api/orders/${id}`,
    { version: 2, description: 'updated and moved', workCentreId: wc.byCode.ASM, position: 0 }));
  assert.equal(r.status, 200, r.text);
  assert.equal(ev[0].data.toWorkCentreId, wc.byCode.ASM);
  assert.equal(ev[0].data.fromWorkCentreId, null);
  assert.equal(ev[0].data.position, 0);
  assert.equal(ev[0].data.movedBy.username, 'admin');
  for (const k of ['id', 'version', 'updatedAt', 'description', 'workCentreId', 'position']) {
    assert.deepEqual(ev[0].data.order[k], r.body[k], `the event's order.${k} is the answer's`);
  }
  assert.equal(ev[0].data.order.version, 3);
  assert.deepEqual(ev[1].data, { orderId: id, reason: 'moved' });
  assert.equal(srv.sql('SELECT count(*) AS n FROM drag_locks WHERE order_id = $1', [id])[0].n, 0);
  await holder.waitFor((m) => m.event === 'order_unlocked' && m.data.orderId === id);
  await holder.close();
  // and back to the backlog, no lock held: order_moved alone
  [r, ev] = await expectEvents(['order_moved'], () => json('PUT', `/api/orders/${id}`, { version: 3, workCentreId: null }));
  assert.equal(r.status, 200, r.text);
  assert.equal(ev[0].data.toWorkCentreId, null);
  assert.equal(rowsAfter(ev[0].seq).filter((e) => e.event === 'order_unlocked').length, 0);

  // scanner job_start: the order moves and starts (order_moved, then order_updated)
  [r, ev] = await expectEvents(['order_moved', 'order_updated'], () => scan({ eventId: evId(), orderNumber: 'EVTX-1', workCentreCode: 'CUT', eventType: 'job_start' }));
  assert.equal(r.status, 202, r.text);
  assert.equal(ev[0].data.toWorkCentreId, wc.byCode.CUT);
  assert.equal(ev[0].data.order.position, r.body.order.position);
  assert.equal(ev[1].data.order.status, 'in_progress');
  assert.equal(ev[1].data.order.version, r.body.order.version);
  assert.equal(srv.sql('SELECT work_centre_id FROM orders WHERE id = $1', [id])[0].work_centre_id, wc.byCode.CUT);

  // delete of a locked order: order_deleted, then the lock's end (the drag-lock row goes with it)
  const s = await srv.ws(tok.scheduler);
  const ack = await s.request('start_drag', { orderId: id });
  assert.equal(ack.event, 'ack', JSON.stringify(ack));
  [r, ev] = await expectEvents(['order_deleted', 'order_unlocked'], () => json('DELETE', `/api/orders/${id}`, undefined));
  assert.equal(r.status, 204, r.text);
  assert.deepEqual(ev.map((e) => e.data), [{ orderId: id }, { orderId: id, reason: 'deleted' }]);
  assert.notEqual(srv.sql('SELECT deleted_at FROM orders WHERE id = $1', [id])[0].deleted_at, null);
  assert.equal(srv.sql('SELECT count(*) AS n FROM drag_locks WHERE order_id = $1', [id])[0].n, 0);
  await s.waitFor((m) => m.event === 'order_unlocked' && m.data.orderId === id);

  // a delete with no lock tells no order_unlocked
  const o2 = await json('POST', '/api/orders', { orderNumber: 'EVTX-2', stockCode: 'S', description: 'd', quantityToMake: 1 });
  assert.equal(o2.status, 201, o2.text);
  [r, ev] = await expectEvents(['order_deleted'], () => json('DELETE', `/api/orders/${o2.body.id}`, undefined));
  assert.equal(r.status, 204, r.text);
  assert.equal(rowsAfter(ev[0].seq).filter((e) => e.event === 'order_unlocked').length, 0);

  // work-centre edit and create (the new centre's id is in its event)
  [r, ev] = await expectEvents(['work_centre_updated'], () => json('PUT', `/api/work-centres/${wc.byCode.CUT}`, { name: 'Cutting (evtx)' }));
  assert.equal(r.status, 200, r.text);
  assert.equal(ev[0].data.workCentres.find((w) => w.id === wc.byCode.CUT).name, 'Cutting (evtx)');
  [r, ev] = await expectEvents(['work_centre_updated'], () => json('POST', '/api/work-centres', { code: 'EVX', name: 'Evtx cell' }));
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(ev[0].data.workCentres.map((w) => w.id), (await srv.workCentres(tok.admin)).list.map((w) => w.id), 'the list as the board has it');
  assert.ok(ev[0].data.workCentres.some((w) => w.id === r.body.id && w.code === 'EVX'));

  // import: the counts are known only by the write
  [r, ev] = await expectEvents(['orders_imported'], () => importCsv('order_number,stock_code,description,quantity_to_make\nEVTX-I1,S,imported,2\nEVTX-I2,S,imported,3\n'));
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(ev[0].data, { created: 2, updated: 0 });
  assert.equal(srv.sql("SELECT count(*) AS n FROM orders WHERE order_number LIKE 'EVTX-I%'")[0].n, 2);
});

test('a write whose events cannot be sequenced does not commit (nothing changed, an error answered)', { skip }, async () => {
  // test-only: refuse the room_events rows whose frame matches a pattern of evtx_fail
  srv.sql(`CREATE TABLE evtx_fail (pattern TEXT NOT NULL);
    CREATE FUNCTION evtx_fail_fn() RETURNS trigger LANGUAGE plpgsql AS $f$
    BEGIN
      IF EXISTS (SELECT 1 FROM evtx_fail WHERE NEW.frame LIKE pattern) THEN
        RAISE EXCEPTION 'evtx test: this event is refused';
      END IF;
      RETURN NEW;
    END $f$;
    CREATE TRIGGER evtx_fail BEFORE INSERT ON room_events FOR EACH ROW EXECUTE FUNCTION evtx_fail_fn()`, [], { write: true });
  const refuse = (pattern) => srv.sql('INSERT INTO evtx_fail VALUES ($1)', [pattern], { write: true });
  const failed = (r, what) => assert.ok(r.status >= 500, `${what}: answered ${r.status} ${r.text}`);

  const o = await json('POST', '/api/orders', { orderNumber: 'EVTX-F1', stockCode: 'S', description: 'before', quantityToMake: 4 });
  assert.equal(o.status, 201, o.text);
  const id = o.body.id;
  const o3 = await json('POST', '/api/orders', { orderNumber: 'EVTX-FAIL-S', stockCode: 'S', description: 'scan', quantityToMake: 1 });
  assert.equal(o3.status, 201, o3.text);
  refuse('%EVTX-FAIL%');

  // update
  let r = await json('PUT', `/api/orders/${id}`, { version: o.body.version, description: 'EVTX-FAIL update' });
  failed(r, 'update');
  assert.deepEqual(srv.sql('SELECT description, version FROM orders WHERE id = $1', [id]), [{ description: 'before', version: o.body.version }]);
  const again = await srv.req('GET', `/api/orders/${id}`, { token: tok.admin });
  assert.equal(again.body.description, 'before', 'the cache did not take it either');

  // update that moves the order (its order_moved names the order: refused by the pattern)
  r = await json('PUT', `/api/orders/${o3.body.id}`, { version: o3.body.version, workCentreId: wc.byCode.ASM });
  failed(r, 'update with a move');
  assert.deepEqual(srv.sql('SELECT work_centre_id, version FROM orders WHERE id = $1', [o3.body.id]), [{ work_centre_id: null, version: o3.body.version }]);
  const still = await srv.req('GET', `/api/orders/${o3.body.id}`, { token: tok.admin });
  assert.equal(still.body.workCentreId, null, 'the cache did not take it either');

  // create
  r = await json('POST', '/api/orders', { orderNumber: 'EVTX-FAIL-C', stockCode: 'S', description: 'x', quantityToMake: 1 });
  failed(r, 'create');
  assert.equal(srv.sql("SELECT count(*) AS n FROM orders WHERE order_number = 'EVTX-FAIL-C'")[0].n, 0);

  // work centre
  r = await json('PUT', `/api/work-centres/${wc.byCode.ASM}`, { name: 'EVTX-FAIL cell' });
  failed(r, 'work centre');
  assert.notEqual(srv.sql('SELECT name FROM work_centres WHERE id = $1', [wc.byCode.ASM])[0].name, 'EVTX-FAIL cell');

  // scanner event: no scanner_events row, the order where it was
  const sid = evId();
  r = await scan({ eventId: sid, orderNumber: 'EVTX-FAIL-S', workCentreCode: 'CUT', eventType: 'job_start' });
  failed(r, 'scanner event');
  assert.equal(srv.sql('SELECT count(*) AS n FROM scanner_events WHERE event_id = $1', [sid])[0].n, 0);
  assert.deepEqual(srv.sql('SELECT work_centre_id, status FROM orders WHERE id = $1', [o3.body.id]), [{ work_centre_id: null, status: 'not_started' }]);

  // delete (its frame names the order by id only)
  refuse(`%order_deleted%"orderId":${id}}%`);
  r = await json('DELETE', `/api/orders/${id}`, undefined);
  failed(r, 'delete');
  assert.equal(srv.sql('SELECT deleted_at FROM orders WHERE id = $1', [id])[0].deleted_at, null);

  // import (its frame holds counts only)
  refuse('%orders_imported%');
  r = await importCsv('order_number,stock_code,description,quantity_to_make\nEVTX-FAIL-I,S,x,1\n');
  failed(r, 'import');
  assert.equal(srv.sql("SELECT count(*) AS n FROM orders WHERE order_number = 'EVTX-FAIL-I'")[0].n, 0);

  // the seqs stayed gap-free, and writes work again once the events are accepted
  srv.sql('DELETE FROM evtx_fail', [], { write: true });
  const seqs = srv.sql('SELECT seq FROM room_events WHERE tenant_id = $1 ORDER BY seq', [tenantId]).map((x) => Number(x.seq));
  seqs.forEach((s, i) => i > 0 && assert.equal(s, seqs[i - 1] + 1, 'no seq was spent by a refused write'));
  const [ok] = await expectEvents(['order_updated'], () => json('PUT', `/api/orders/${id}`, { version: o.body.version, description: 'after' }));
  assert.equal(ok.status, 200, ok.text);
  srv.sql('DROP TRIGGER evtx_fail ON room_events', [], { write: true });
});

test('a move or a drag lock answered counts as unsettled until its event reached the room: settled() then the board seq covers it', { skip }, async () => {
  // Before: a move batch's and a lock job's events were not counted in
  // planboard_events_unsettled between the answer and the bus reading them back, so
  // srv.settled() could return before the event was out, and a board read right after had an
  // older seq (e2e wip: an "extra" order_moved after a snapshot, now and then).
  const watcher = await srv.ws(tok.scheduler);
  const board = (await srv.board(tok.admin)).body;
  const orders = board.workCentres.flatMap((w) => w.orders.map((o) => o.id));
  const cols = board.workCentres.map((w) => w.id);
  const behind = [];
  const N = 40;
  for (let i = 0; i < N; i++) {
    const id = orders[i % orders.length];
    let r;
    if (i % 4 === 3) {
      r = await srv.req('POST', `/api/orders/${id}/start-move`, { token: tok.admin });
      assert.equal(r.status, 200, r.text);
    } else {
      r = await json('PUT', `/api/orders/${id}/move`, { toWorkCentreId: cols[i % cols.length], position: 0 });
      assert.equal(r.status, 200, r.text);
    }
    await srv.settled();
    const seq = (await srv.board(tok.admin)).body.seq;
    const event = i % 4 === 3 ? 'order_locked' : 'order_moved';
    const m = await watcher.waitFor((x) => x.event === event && (x.data.orderId ?? x.data.order?.id) === id && x.seq > (behind.at(-1)?.last ?? 0),
      { what: `${event} of ${id}` });
    if (seq < m.seq) behind.push({ i, event, boardSeq: seq, eventSeq: m.seq });
    if (i % 4 === 3) {
      const e = await srv.req('POST', `/api/orders/${id}/end-move`, { token: tok.admin });
      assert.ok(e.status === 200 || e.status === 204, e.text);
    }
  }
  assert.deepEqual(behind, [], 'after settled(), the board seq covers the answered write\'s event');
  watcher.close();
});

// Lock expiry (SPEC §5: a uv timer sweeps at least once a second) with [locks] ttl_seconds = 1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, boardOrders } from './lib.mjs';

let srv, tok = {}, wc, ids;
before(async () => {
  srv = await startServer({ config: { locks: { ttl_seconds: 1 } } });
  for (const u of ['scheduler', 'admin', 'viewer']) tok[u] = await srv.token(u);
  wc = await srv.workCentres(tok.scheduler);
  ids = [...boardOrders((await srv.board(tok.scheduler)).body).keys()].sort((a, b) => a - b);
});
after(async () => {
  if (srv) await srv.stop();
});

test('a WS drag lock expires after ttl_seconds with order_unlocked reason expired within ~3 s', async () => {
  const id = ids[0];
  const v = await srv.ws(tok.viewer);
  const s = await srv.ws(tok.scheduler);
  const t0 = Date.now();
  const ack = await s.request('start_drag', { orderId: id });
  assert.equal(ack.event, 'ack', JSON.stringify(ack));
  const u = await v.waitFor((m) => m.event === 'order_unlocked' && m.data.orderId === id,
    { timeout: 3500, what: 'order_unlocked expired' });
  assert.equal(u.data.reason, 'expired');
  const dt = Date.now() - t0;
  assert.ok(dt >= 900, `expired too early: ${dt} ms`);
  assert.ok(dt <= 3000, `expired too late: ${dt} ms`);
  await s.waitFor((m) => m.event === 'order_unlocked' && m.data.orderId === id, { timeout: 1000 });
  // Another user can move it now.
  const r = await srv.req('PUT', `/api/orders/${id}/move`, { token: tok.admin, json: { toWorkCentreId: wc.byCode.SHIP } });
  assert.equal(r.status, 200, r.text);
  await s.close();
  await v.close();
});

test('a REST lock of a user with no connection simply expires', async () => {
  const id = ids[1];
  const v = await srv.ws(tok.viewer);
  const r = await srv.req('POST', `/api/orders/${id}/start-move`, { token: tok.scheduler });
  assert.equal(r.status, 200, r.text);
  const m = await srv.req('PUT', `/api/orders/${id}/move`, { token: tok.admin, json: { toWorkCentreId: wc.byCode.SHIP } });
  assert.equal(m.status, 423, m.text);
  const u = await v.waitFor((x) => x.event === 'order_unlocked' && x.data.orderId === id,
    { timeout: 3500, what: 'order_unlocked expired (REST lock)' });
  assert.equal(u.data.reason, 'expired');
  const b = boardOrders((await srv.board(tok.viewer)).body);
  assert.equal(b.get(id).lockedBy, null);
  const ok = await srv.req('PUT', `/api/orders/${id}/move`, { token: tok.admin, json: { toWorkCentreId: wc.byCode.SHIP } });
  assert.equal(ok.status, 200, ok.text);
  await v.close();
});

// Scanner API keys and scanner events over HTTP (SPEC §3 API keys, §4 "Audit, scanners,
// health", §5 broadcasts): roles, the secret shown once, revocation, each event type's effect
// in GET /api/orders/:id and on a joined WebSocket, idempotent retries, 400s naming the field,
// tenant isolation, drag locks ended by a scanner move. Choices: server/routes_scanner.c.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startServer, assertError, boardColumns, utcDay, until, BACKEND, OTHER_PASSWORD } from './lib.mjs';

const PG = BACKEND === 'postgresql' ? false : 'needs PostgreSQL (PB_TEST_PG): another session racing the scan';

let srv, tok = {}, wc, ws, key, today;
before(async () => {
  srv = await startServer();
  await srv.createTenant('other', 'boss', OTHER_PASSWORD, 'Other Works');
  for (const u of ['admin', 'scheduler', 'viewer']) tok[u] = await srv.token(u);
  tok.other = await srv.token('boss', OTHER_PASSWORD, 'other');
  wc = await srv.workCentres(tok.admin);
  ws = await srv.ws(tok.viewer);      // a joined viewer sees every broadcast
  const t = await srv.req('GET', '/api/tenant', { token: tok.admin });
  assert.equal(t.body.timezone, 'UTC', 'the demo tenant keeps its days in UTC');
  today = utcDay();
  const k = await srv.req('POST', '/api/api-keys', { token: tok.admin, json: { name: 'line 1' } });
  assert.equal(k.status, 201, k.text);
  key = k.body.key;
});
after(async () => {
  if (srv) await srv.stop();
});

const json = (method, path, body, token = tok.admin) => srv.req(method, path, { token, json: body });
const get = (path, token = tok.admin) => srv.req('GET', path, { token });
const scan = (ev, apiKey = key) => srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': apiKey }, json: ev });
/** A server-set date is "today": between the day the tests started and the day it is now (UTC). */
const assertToday = (day) => assert.ok(day >= today && day <= utcDay(), `${day} is not today (${today}..${utcDay()})`);
let evCounter = 0;
const evId = () => `e2e-${process.pid}-${++evCounter}`;

async function order(id) {
  const r = await get(`/api/orders/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function newOrder(number, extra = {}) {
  const r = await json('POST', '/api/orders', {
    orderNumber: number, stockCode: 'STK-S', description: 'Scanned part', quantityToMake: 10, ...extra,
  }, tok.scheduler);
  assert.equal(r.status, 201, r.text);
  return r.body;
}

async function auditTotal(q = '') {
  const r = await get(`/api/audit-log?limit=1${q}`);
  assert.equal(r.status, 200, r.text);
  return r.body.total;
}

/** The next broadcast `event` after index `from` matching pred; asserts it carries seq. */
async function nextEvent(event, from, pred = () => true) {
  const m = await ws.waitFor((x) => x.event === event && pred(x), { from, what: event });
  assert.equal(typeof m.seq, 'number', `${event} carries seq`);
  assert.ok(m.seq > 0);
  return m;
}

test('API keys: admin only; the secret is shown once and never listed', async () => {
  for (const who of ['scheduler', 'viewer']) {
    assertError(await json('POST', '/api/api-keys', { name: 'nope' }, tok[who]), 403, 'forbidden');
    assertError(await get('/api/api-keys', tok[who]), 403, 'forbidden');
    assertError(await srv.req('DELETE', '/api/api-keys/1', { token: tok[who] }), 403, 'forbidden');
  }
  assertError(await srv.req('GET', '/api/api-keys'), 401, 'unauthorized');

  const k = await json('POST', '/api/api-keys', { name: 'packing scanner' });
  assert.equal(k.status, 201, k.text);
  assert.match(k.body.key, /^pbk_[0-9a-f]{40}$/);
  assert.equal(k.body.name, 'packing scanner');
  assert.ok(k.body.id > 0);
  assert.match(k.body.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const k2 = await json('POST', '/api/api-keys', { name: 'packing scanner' });
  assert.notEqual(k2.body.key, k.body.key, 'every key is fresh');

  const list = await get('/api/api-keys');
  assert.equal(list.status, 200, list.text);
  const mine = list.body.data.find((x) => x.id === k.body.id);
  assert.ok(mine, 'the new key is listed');
  assert.equal(mine.name, 'packing scanner');
  assert.equal(mine.key, undefined);
  assert.ok(!list.text.includes(k.body.key.slice(4)), 'no secret in the list');
  assert.ok(!list.text.includes(key.slice(4)));

  for (const bad of [{}, { name: '' }, { name: '   ' }, { name: 'x'.repeat(101) }, { name: 7 }]) {
    const r = await json('POST', '/api/api-keys', bad);
    assertError(r, 400, 'validation_failed');
    assert.equal(r.body.details[0].field, 'name');
  }
  assert.equal(await auditTotal('&eventType=api_key_created') >= 3, true);

  // the other tenant's admin sees none of these and cannot revoke them
  const ol = await get('/api/api-keys', tok.other);
  assert.equal(ol.status, 200);
  assert.ok(!ol.body.data.some((x) => x.id === k.body.id));
  assertError(await srv.req('DELETE', `/api/api-keys/${k.body.id}`, { token: tok.other }), 404, 'not_found');

  const revoked0 = await auditTotal('&eventType=api_key_revoked');
  const d = await srv.req('DELETE', `/api/api-keys/${k2.body.id}`, { token: tok.admin });
  assert.equal(d.status, 204, d.text);
  assert.equal(await auditTotal('&eventType=api_key_revoked'), revoked0 + 1);
  assertError(await srv.req('DELETE', `/api/api-keys/${k2.body.id}`, { token: tok.admin }), 404, 'not_found');
  assert.ok(!(await get('/api/api-keys')).body.data.some((x) => x.id === k2.body.id), 'revoked keys are not listed');
});

test('scanner events: a missing, unknown or revoked key is 401', async () => {
  const o = await newOrder('SC-AUTH', { workCentreId: wc.byCode.CUT });
  const ev = { eventId: evId(), orderNumber: 'SC-AUTH', workCentreCode: 'CUT', eventType: 'progress_update', quantity: 1 };
  assertError(await srv.req('POST', '/api/scanner/events', { json: ev }), 401, 'unauthorized');
  assertError(await scan(ev, 'pbk_0000000000000000000000000000000000000000'), 401, 'unauthorized');
  // a user's access token is not a scanner key
  assertError(await srv.req('POST', '/api/scanner/events', { token: tok.admin, json: ev }), 401, 'unauthorized');

  const k = await json('POST', '/api/api-keys', { name: 'to revoke' });
  assert.equal((await scan({ ...ev, eventId: evId() }, k.body.key)).status, 202);
  assert.equal((await srv.req('DELETE', `/api/api-keys/${k.body.id}`, { token: tok.admin })).status, 204);
  assertError(await scan({ ...ev, eventId: evId() }, k.body.key), 401, 'unauthorized');
  assert.equal((await order(o.id)).quantityCompleted, 1, 'only the event before revocation counted');
});

test('job_start moves the order to the end of the centre, starts it and broadcasts', async () => {
  const o = await newOrder('SC-START', {
    steps: [
      { operationName: 'Cut', workCentreId: wc.byCode.CUT },
      { operationName: 'Assemble', workCentreId: wc.byCode.ASM },
    ],
  });
  assert.equal(o.workCentreId, null);
  const depth = (await srv.board(tok.admin)).body.workCentres.find((w) => w.id === wc.byCode.CUT).orders.length;
  const moved0 = await auditTotal('&eventType=order_moved'), scans0 = await auditTotal('&eventType=scanner_event');
  const from = ws.messages.length;
  const id = evId();
  const r = await scan({ eventId: id, orderNumber: 'SC-START', workCentreCode: 'CUT', eventType: 'job_start',
    operatorBadge: 'B-7', scannerId: 'SC-01', operationName: 'Cut' });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.eventId, id);
  assert.equal(r.body.applied, true);
  assert.equal(r.body.duplicate, false);

  const now = await order(o.id);
  assert.equal(now.workCentreId, wc.byCode.CUT);
  assert.equal(now.position, depth, 'joined the end of the column');
  assert.equal(now.status, 'in_progress');
  assertToday(now.startDate);
  assert.equal(now.currentOperation, 'Cut');
  assert.equal(now.version, o.version + 1);
  assert.deepEqual(now.steps.map((s) => s.status), ['in_progress', 'pending']);
  boardColumns((await srv.board(tok.admin)).body);     // every column still dense

  const mv = await nextEvent('order_moved', from, (m) => m.data.order.id === o.id);
  assert.equal(mv.data.fromWorkCentreId, null);
  assert.equal(mv.data.toWorkCentreId, wc.byCode.CUT);
  assert.equal(mv.data.position, depth);
  assert.equal(mv.data.movedBy.userId, null);
  assert.match(mv.data.movedBy.username, /line 1/);
  const up = await nextEvent('order_updated', from, (m) => m.data.order.id === o.id);
  assert.ok(up.seq > mv.seq);
  assert.equal(up.data.order.status, 'in_progress');
  assert.equal(up.data.order.version, now.version);

  assert.equal(await auditTotal('&eventType=order_moved'), moved0 + 1);
  assert.equal(await auditTotal('&eventType=scanner_event'), scans0 + 1);
  const a = await get(`/api/audit-log?orderId=${o.id}&eventType=scanner_event`);
  assert.equal(a.body.data.length, 1);
  assert.equal(a.body.data[0].userId, null);
  assert.equal(a.body.data[0].eventData.eventId, id);
  assert.equal(a.body.data[0].eventData.statusTo, 'in_progress');
});

test('progress_update adds up to quantityToMake; a retried eventId changes nothing', async () => {
  const o = await newOrder('SC-QTY', { workCentreId: wc.byCode.ASM, quantityToMake: 10 });
  let from = ws.messages.length;
  const id = evId();
  const ev = { eventId: id, orderNumber: 'SC-QTY', workCentreCode: 'ASM', eventType: 'progress_update', quantity: 4 };
  const r = await scan(ev);
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.quantityCompletedDelta, 4);
  const up = await nextEvent('order_updated', from, (m) => m.data.order.id === o.id);
  assert.equal(up.data.order.quantityCompleted, 4);
  const after1 = await order(o.id);
  assert.equal(after1.quantityCompleted, 4);

  // the scanner retries (lost answer): accepted, ignored, no broadcast, no audit row
  const scans0 = await auditTotal('&eventType=scanner_event');
  from = ws.messages.length;
  for (let i = 0; i < 3; i++) {
    const again = await scan(ev);
    assert.equal(again.status, 202, again.text);
    assert.equal(again.body.duplicate, true);
    assert.equal(again.body.applied, false);
  }
  const after2 = await order(o.id);
  assert.equal(after2.quantityCompleted, 4);
  assert.equal(after2.version, after1.version);
  assert.equal(await auditTotal('&eventType=scanner_event'), scans0);

  // the next real event is the first order_updated after the retries
  const big = await scan({ ...ev, eventId: evId(), quantity: 100 });
  assert.equal(big.status, 202, big.text);
  assert.equal(big.body.quantityCompletedDelta, 6, 'clamped to quantityToMake');
  const up2 = await nextEvent('order_updated', from, (m) => m.data.order.id === o.id);
  assert.equal(up2.data.order.quantityCompleted, 10);
  assert.equal(up2.data.order.version, after1.version + 1);
  assert.equal((await order(o.id)).quantityCompleted, 10);
  const a = await get(`/api/audit-log?orderId=${o.id}&eventType=scanner_event`);
  assert.deepEqual(a.body.data.map((x) => x.eventData.quantityCompletedDelta).sort(), [4, 6]);
});

test('a retried event whose order was deleted since is still a duplicate; a new one is refused', async () => {
  // (PostgreSQL decides the eventId in the job's run on the writer thread and refuses the
  // unknown order there, only after it: store_scanner_prepare_cached)
  const o = await newOrder('SC-GONE', { workCentreId: wc.byCode.CUT });
  const ev = { eventId: evId(), orderNumber: 'SC-GONE', workCentreCode: 'CUT', eventType: 'progress_update', quantity: 1 };
  const r = await scan(ev);
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.applied, true);
  const del = await srv.req('DELETE', `/api/orders/${o.id}`, { token: tok.admin });
  assert.equal(del.status, 204, del.text);
  const scans0 = await auditTotal('&eventType=scanner_event');
  const from = ws.messages.length;
  const again = await scan(ev);
  assert.equal(again.status, 202, again.text);
  assert.deepEqual(again.body, { eventId: ev.eventId, applied: false, duplicate: true });
  const fresh = await scan({ ...ev, eventId: evId() });
  assertError(fresh, 400, 'validation_failed');
  assert.equal(fresh.body.details[0].field, 'orderNumber');
  assert.equal(await auditTotal('&eventType=scanner_event'), scans0, 'neither wrote an audit row');
  await srv.settled();
  assert.equal(ws.messages.slice(from).filter((m) => m.data?.order?.id === o.id || m.data?.orderId === o.id).length, 0, 'nothing broadcast');
});

test('job_complete completes the step, and the order after its last step', async () => {
  const o = await newOrder('SC-DONE', {
    workCentreId: wc.byCode.CUT,
    steps: [
      { operationName: 'Cut', workCentreId: wc.byCode.CUT },
      { operationName: 'Check', workCentreId: wc.byCode.QC },
    ],
  });
  let from = ws.messages.length;
  let r = await scan({ eventId: evId(), orderNumber: 'SC-DONE', workCentreCode: 'CUT', eventType: 'job_complete' });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.orderCompleted, false);
  let now = await order(o.id);
  assert.deepEqual(now.steps.map((s) => s.status), ['complete', 'pending']);
  assert.ok(now.steps[0].completedAt);
  assert.notEqual(now.status, 'complete');
  await nextEvent('order_updated', from, (m) => m.data.order.id === o.id);

  from = ws.messages.length;
  r = await scan({ eventId: evId(), orderNumber: 'SC-DONE', workCentreCode: 'QC', eventType: 'job_complete' });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.orderCompleted, true);
  now = await order(o.id);
  assert.deepEqual(now.steps.map((s) => s.status), ['complete', 'complete']);
  assert.equal(now.status, 'complete');
  assertToday(now.completionDate);
  const up = await nextEvent('order_updated', from, (m) => m.data.order.id === o.id && m.data.order.status === 'complete');
  assertToday(up.data.order.completionDate);

  // an order without steps completes at once
  const p = await newOrder('SC-NOSTEPS', { workCentreId: wc.byCode.PACK });
  r = await scan({ eventId: evId(), orderNumber: 'SC-NOSTEPS', workCentreCode: 'PACK', eventType: 'job_complete' });
  assert.equal(r.status, 202, r.text);
  assert.equal((await order(p.id)).status, 'complete');
});

test('scanner events: 400 naming the field for unknown orders, centres and bad bodies', async () => {
  await newOrder('SC-BAD', { workCentreId: wc.byCode.CUT });
  const base = { orderNumber: 'SC-BAD', workCentreCode: 'CUT', eventType: 'progress_update', quantity: 1 };
  const cases = [
    [{ ...base, eventId: evId(), orderNumber: 'NO-SUCH-ORDER' }, 'orderNumber'],
    [{ ...base, eventId: evId(), workCentreCode: 'NOPE' }, 'workCentreCode'],
    [{ ...base, eventId: evId(), eventType: 'job_paused' }, 'eventType'],
    [{ ...base, eventId: evId(), quantity: undefined }, 'quantity'],
    [{ ...base, eventId: evId(), quantity: -1 }, 'quantity'],
    [{ ...base, eventId: evId(), quantity: 1.5 }, 'quantity'],
    [{ ...base, eventId: 'x'.repeat(101) }, 'eventId'],
    [{ ...base }, 'eventId'],
    [{ ...base, eventId: 42 }, 'eventId'],
  ];
  const scans0 = await auditTotal('&eventType=scanner_event');
  for (const [ev, field] of cases) {
    const r = await scan(ev);
    assertError(r, 400, 'validation_failed');
    assert.ok(r.body.details.some((d) => d.field === field), `${JSON.stringify(ev).slice(0, 80)}: ${r.text}`);
  }
  assert.equal(await auditTotal('&eventType=scanner_event'), scans0, 'a refused event writes nothing');
  // a refused eventId is not used up
  const id = evId();
  assertError(await scan({ ...base, eventId: id, orderNumber: 'NO-SUCH-ORDER' }), 400, 'validation_failed');
  const ok = await scan({ ...base, eventId: id });
  assert.equal(ok.status, 202, ok.text);
  assert.equal(ok.body.applied, true);
});

test("another tenant's key cannot touch this tenant's orders", async () => {
  const o = await newOrder('SC-MINE', { workCentreId: wc.byCode.CUT });
  const k = await json('POST', '/api/api-keys', { name: 'other line' }, tok.other);
  assert.equal(k.status, 201, k.text);
  const r = await scan({ eventId: evId(), orderNumber: 'SC-MINE', workCentreCode: 'CUT', eventType: 'job_start' }, k.body.key);
  assertError(r, 400, 'validation_failed');
  assert.equal(r.body.details[0].field, 'orderNumber');
  const now = await order(o.id);
  assert.equal(now.status, 'not_started');
  assert.equal(now.version, o.version);

  // the same eventId is independent per tenant
  const id = evId();
  const mine = await scan({ eventId: id, orderNumber: 'SC-MINE', workCentreCode: 'CUT', eventType: 'progress_update', quantity: 2 });
  assert.equal(mine.body.applied, true);
  const owc = await json('POST', '/api/work-centres', { code: 'CUT', name: 'Their cutting', capacity: 1 }, tok.other);
  assert.equal(owc.status, 201, owc.text);
  const theirs = await json('POST', '/api/orders', { orderNumber: 'SC-THEIRS', stockCode: 'S', description: 'D', quantityToMake: 5, workCentreId: owc.body.id }, tok.other);
  assert.equal(theirs.status, 201, theirs.text);
  const from = ws.messages.length;
  const t = await scan({ eventId: id, orderNumber: 'SC-THEIRS', workCentreCode: 'CUT', eventType: 'progress_update', quantity: 1 }, k.body.key);
  assert.equal(t.status, 202, t.text);
  assert.equal(t.body.applied, true, 'not a duplicate of the other tenant\'s event');
  const th = await srv.req('GET', `/api/orders/${theirs.body.id}`, { token: tok.other });
  assert.equal(th.body.quantityCompleted, 1);
  assert.equal((await order(o.id)).quantityCompleted, 2);
  // their event never reaches this tenant's room
  await new Promise((res) => setTimeout(res, 200));
  assert.ok(!ws.messages.slice(from).some((m) => m.data?.order?.id === theirs.body.id), 'no cross-tenant broadcast');
});

test("a scanner's job_start moves a locked order and ends the lock (reason moved)", async () => {
  const o = await newOrder('SC-LOCK', { workCentreId: wc.byCode.CUT });
  const l = await srv.req('POST', `/api/orders/${o.id}/start-move`, { token: tok.scheduler });
  assert.equal(l.status, 200, l.text);
  const from = ws.messages.length;
  const r = await scan({ eventId: evId(), orderNumber: 'SC-LOCK', workCentreCode: 'QC', eventType: 'job_start' });
  assert.equal(r.status, 202, r.text);
  const now = await order(o.id);
  assert.equal(now.workCentreId, wc.byCode.QC);
  assert.equal(now.lockedBy, null);
  const mv = await nextEvent('order_moved', from, (m) => m.data.order.id === o.id);
  const un = await nextEvent('order_unlocked', from, (m) => m.data.orderId === o.id);
  assert.equal(un.data.reason, 'moved');
  assert.ok(un.seq > mv.seq);
  // the scheduler's stale move is no longer blocked by anyone, and the board is dense
  boardColumns((await srv.board(tok.admin)).body);
});

test("job_start's startDate is the day in the tenant's timezone, the zone changed a moment before", async () => {
  // Two zones without daylight saving 26 hours apart: their days always differ. The expected
  // day is plain UTC arithmetic (no time-zone database in the test): the day at now + offset,
  // taken before and after the request (a day may turn between them).
  const dayAt = (offsetHours) => new Date(Date.now() + offsetHours * 3600000).toISOString().slice(0, 10);
  for (const [zone, offset, number] of [['Pacific/Kiritimati', 14, 'SC-TZ-EAST'], ['Etc/GMT+12', -12, 'SC-TZ-WEST']]) {
    const t = await json('PUT', '/api/tenant', { timezone: zone });
    assert.equal(t.status, 200, t.text);
    const o = await newOrder(number);
    const lo = dayAt(offset);
    const r = await scan({ eventId: evId(), orderNumber: number, workCentreCode: 'CUT', eventType: 'job_start' });
    assert.equal(r.status, 202, r.text);
    const hi = dayAt(offset);
    const start = (await order(o.id)).startDate;
    assert.ok(start === lo || start === hi, `${zone}: startDate ${start}, want ${lo}${hi !== lo ? ` or ${hi}` : ''}`);
  }
  const back = await json('PUT', '/api/tenant', { timezone: 'UTC' });
  assert.equal(back.status, 200, back.text);
});

/** PostgreSQL: another session that ran `BEGIN; <sql>` and keeps its transaction open until
 * commit() (as loop-waits.test.mjs holdLock). */
async function holdOpen(sql) {
  const p = spawn('psql', [srv.pgUrl(), '-X', '-q', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '', err = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { err += d; });
  p.stdin.write(`BEGIN; ${sql}; SELECT 'held';\n`);
  await until(() => out.includes('held') || p.exitCode !== null, { timeout: 10000, what: `psql: ${sql}` });
  assert.ok(out.includes('held'), `psql: ${err}`);
  return { commit: () => new Promise((resolve) => { p.on('exit', resolve); p.stdin.end('COMMIT;\n'); }) };
}

const waitingOnLock = () => srv.sql('SELECT count(*) AS n FROM pg_locks WHERE NOT granted')[0].n > 0;
const writerOutstanding = async () => {
  const line = (await srv.req('GET', '/metrics')).text.split('\n').find((l) => l.startsWith('planboard_writer_outstanding '));
  return Number(line.split(' ').pop());
};

/** Another session (another node) records eventId for order o at centre CUT, uncommitted. */
function recordElsewhere(o, eventId) {
  const [{ tenant_id: tid }] = srv.sql('SELECT tenant_id FROM orders WHERE id = $1', [o.id]);
  return holdOpen(`INSERT INTO scanner_events(tenant_id, event_id, order_id, work_centre_id, event_type,
    quantity, timestamp, processed) VALUES (${tid}, '${eventId}', ${o.id}, ${wc.byCode.CUT},
    'progress_update', 5, '2026-01-05T08:00:00.000Z', 1)`);
}

// Issue 13 leftover: the scan's run inserts its scanner_events row while another connection
// (another node) has inserted the same new eventId and not committed yet: the INSERT waits on
// the unique index, then meets the committed row. SPEC §4: a repeated eventId is accepted and
// ignored, as a retry through the normal path is. (Before: PostgreSQL's unique-key error aborted
// the writer's transaction, RELEASE failed and the scan was answered 500.)
test('a scan racing another connection that records the same eventId is a duplicate (PostgreSQL)', { skip: PG }, async () => {
  const o = await newOrder('SC-RACE', { workCentreId: wc.byCode.CUT });
  assert.equal((await srv.board(tok.admin)).status, 200);         // cached: nothing loads meanwhile
  const scans0 = await auditTotal(`&orderId=${o.id}&eventType=scanner_event`);
  const id = evId();
  const ev = { eventId: id, orderNumber: 'SC-RACE', workCentreCode: 'CUT', eventType: 'progress_update', quantity: 3 };
  const other = await recordElsewhere(o, id);
  let answered = null;
  const pending = srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': key }, json: ev, timeout: 20000 })
    .then((r) => { answered = r; return r; });
  try {
    await until(() => waitingOnLock() || answered !== null, { timeout: 5000, what: 'the scan waiting on the other insert' });
    assert.equal(answered, null, `the scan was answered before the other session committed: ${answered?.status} ${answered?.text}`);
  } finally {
    await other.commit();
  }
  const from = ws.messages.length;
  const r = await pending;
  assert.equal(r.status, 202, r.text);
  assert.deepEqual(r.body, { eventId: id, applied: false, duplicate: true });
  // the same answer as a retry of a recorded eventId through the normal path
  const again = await scan(ev);
  assert.equal(again.status, r.status, again.text);
  assert.deepEqual(again.body, r.body);
  // the order is as the other session left it (it changed no order), nothing written or broadcast
  const now = await order(o.id);
  assert.equal(now.quantityCompleted, o.quantityCompleted);
  assert.equal(now.version, o.version);
  assert.equal(await auditTotal(`&orderId=${o.id}&eventType=scanner_event`), scans0);
  await srv.settled();
  assert.ok(!ws.messages.slice(from).some((m) => m.data?.order?.id === o.id), 'nothing broadcast for the duplicate');
  // the server keeps serving: a new scan is applied, the board reads
  const next = await scan({ ...ev, eventId: evId() });
  assert.equal(next.status, 202, next.text);
  assert.equal(next.body.applied, true);
  assert.equal((await order(o.id)).quantityCompleted, o.quantityCompleted + 3);
  const b = await srv.board(tok.admin);
  assert.equal(b.status, 200, b.text);
  boardColumns(b.body);
});

// The same race with another job behind the scan in the same writer group (one transaction,
// a savepoint each): the writer is held by a third job (the other tenant's order create, its
// tenant row locked by another session) while the scan and then an API key create (no tenant
// gate) queue behind it; both are taken as one group when it finishes. The scan's duplicate
// must not cost the key create anything.
test('a racing duplicate scan does not harm the next job of its writer group (PostgreSQL)', { skip: PG }, async () => {
  const o = await newOrder('SC-RACE-GROUP', { workCentreId: wc.byCode.CUT });
  assert.equal((await srv.board(tok.admin)).status, 200);
  assert.equal((await srv.board(tok.other)).status, 200);
  const [{ id: otherTenant }] = srv.sql("SELECT id FROM tenants WHERE slug = 'other'");
  const id = evId();
  const ev = { eventId: id, orderNumber: 'SC-RACE-GROUP', workCentreCode: 'CUT', eventType: 'progress_update', quantity: 2 };
  const racer = await recordElsewhere(o, id);
  const holder = await holdOpen(`SELECT id FROM tenants WHERE id = ${otherTenant} FOR UPDATE`);
  const base = await writerOutstanding();
  const log0 = srv.stderr.length;
  let heldAnswered = null, scanAnswered = null, keyAnswered = null;
  let held, pending, keyCreate;
  try {
    held = json('POST', '/api/orders', { orderNumber: 'SC-HOLDER', stockCode: 'S', description: 'holds the writer', quantityToMake: 1 }, tok.other)
      .then((r) => { heldAnswered = r; return r; });
    await until(() => waitingOnLock() || heldAnswered !== null, { timeout: 5000, what: 'the other tenant\'s create waiting on its tenant row' });
    assert.equal(heldAnswered, null, `the holder was answered: ${heldAnswered?.status} ${heldAnswered?.text}`);
    pending = srv.req('POST', '/api/scanner/events', { headers: { 'x-api-key': key }, json: ev, timeout: 20000 })
      .then((r) => { scanAnswered = r; return r; });
    await until(async () => (await writerOutstanding()) >= base + 2, { timeout: 5000, what: 'the scan queued at the writer' });
    keyCreate = json('POST', '/api/api-keys', { name: 'behind the race' }).then((r) => { keyAnswered = r; return r; });
    await until(async () => (await writerOutstanding()) >= base + 3, { timeout: 5000, what: 'the key create queued at the writer' });
  } finally {
    await holder.commit();
  }
  try {
    const h = await held;
    assert.equal(h.status, 201, h.text);
    // the group [scan, key create]: the scan's insert waits on the racer's row
    await until(() => waitingOnLock() || scanAnswered !== null, { timeout: 5000, what: 'the scan waiting on the other insert' });
    assert.equal(scanAnswered, null, `the scan was answered before the other session committed: ${scanAnswered?.status} ${scanAnswered?.text}`);
    assert.equal(keyAnswered, null, 'the key create was answered before its group');
  } finally {
    await racer.commit();
  }
  const r = await pending;
  assert.equal(r.status, 202, r.text);
  assert.deepEqual(r.body, { eventId: id, applied: false, duplicate: true });
  const k = await keyCreate;
  assert.equal(k.status, 201, k.text);
  assert.ok((await get('/api/api-keys')).body.data.some((x) => x.id === k.body.id), 'the key was created');
  const withKey = await scan({ ...ev, eventId: evId() }, k.body.key);
  assert.equal(withKey.status, 202, withKey.text);
  assert.equal(withKey.body.applied, true);
  const now = await order(o.id);
  assert.equal(now.quantityCompleted, o.quantityCompleted + 2, 'only the new scan counted');
  // the group's transaction was not lost (then rolled back whole and run again job by job,
  // store/writer.c run_group: the writer logs the failed statement)
  const lost = /^writer: .*$/m.exec(srv.stderr.slice(log0));
  assert.equal(lost, null, `the writer group failed: ${lost?.[0]}`);
});

// Analytics and board stats over HTTP (SPEC §4 "Planning board" stats, "Analytics"; roles of §3):
// the figures must agree with what a client computes from GET /api/orders pages, and the
// dashboard must stay cheap with a 10,000-order tenant.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, assertError, utcDay, SAMPLES, SLOW } from './lib.mjs';

let srv, admin, scheduler, viewer;

before(async () => {
  srv = await startServer();
  admin = await srv.token('admin');
  scheduler = await srv.token('scheduler');
  viewer = await srv.token('viewer');
});
after(async () => {
  if (srv) await srv.stop();
});

/** Every order of the tenant, read in pages of 500 (SPEC §4 limit clamp). */
async function allOrders(token) {
  const out = [];
  for (let offset = 0; ; offset += 500) {
    const r = await srv.req('GET', `/api/orders?limit=500&offset=${offset}`, { token });
    assert.equal(r.status, 200, r.text);
    out.push(...r.body.data);
    if (offset + 500 >= r.body.total) {
      assert.equal(out.length, r.body.total);
      return out;
    }
  }
}

/** Today in the tenant's timezone, as the server must see it: the demo tenant keeps UTC. */
async function today(token) {
  const r = await srv.req('GET', '/api/tenant', { token });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.timezone, 'UTC');
  return utcDay();
}

/** 100 × num ÷ den with one decimal, half up, from integers (as the server computes it). */
function pct(num, den) {
  return den === 0 ? 0 : Math.floor((2000 * num + den) / (2 * den)) / 10;
}

const overdue = (o, day) => o.dueDate !== null && o.dueDate < day
  && o.status !== 'complete' && o.status !== 'cancelled';

/** The dashboard counts of SPEC §4 computed from the order list and the work centres. */
function expectedCounts(orders, wcs, day) {
  const by = (s) => orders.filter((o) => o.status === s).length;
  let busy = 0, cap = 0;
  for (const w of wcs.filter((x) => x.isActive)) {
    const wip = orders.filter((o) => o.workCentreId === w.id && o.status === 'in_progress').length;
    busy += Math.min(wip, w.capacity);
    cap += w.capacity;
  }
  return {
    activeOrders: by('not_started') + by('in_progress') + by('on_hold'),
    completionRate: pct(by('complete'), orders.length - by('cancelled')),
    workCentreUtilization: pct(busy, cap),
    overdueOrders: orders.filter((o) => overdue(o, day)).length,
  };
}

async function dashboard(token = viewer) {
  const r = await srv.req('GET', '/api/analytics/dashboard', { token });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function checkDashboardAgainstOrders() {
  let orders, list, day, d;
  do {            // again if the UTC day turned while the figures were read
    day = await today(viewer);
    orders = await allOrders(viewer);
    ({ list } = await srv.workCentres(viewer));
    d = await dashboard();
  } while (utcDay() !== day);
  const want = expectedCounts(orders, list, day);
  for (const k of Object.keys(want)) assert.equal(d[k], want[k], `${k}: ${JSON.stringify(d)}`);
  return { d, orders, list, day };
}

test('viewer reads dashboard and board stats but not cycle times or routing', async () => {
  for (const path of ['/api/analytics/dashboard', '/api/planning-board/stats']) {
    for (const token of [viewer, scheduler, admin]) {
      const r = await srv.req('GET', path, { token });
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.match(r.headers.get('content-type'), /^application\/json/);
    }
    assertError(await srv.req('GET', path), 401, 'unauthorized');
  }
  for (const path of ['/api/analytics/cycle-times', '/api/analytics/routing']) {
    assertError(await srv.req('GET', path, { token: viewer }), 403, 'forbidden');
    for (const token of [scheduler, admin]) {
      const r = await srv.req('GET', path, { token });
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.ok(Array.isArray(r.body.data));
    }
  }
});

test('dashboard agrees with counts computed from the order list, demo shows real numbers', async () => {
  const { d } = await checkDashboardAgainstOrders();
  assert.deepEqual(Object.keys(d).sort(), ['activeOrders', 'avgCycleTime', 'completionRate',
    'dailyProduction', 'lateOrders', 'overdueOrders', 'workCentreUtilization']);
  assert.ok(Number.isInteger(d.lateOrders) && d.lateOrders >= 0);
  // demo: three scanner progress events today (20 + 150 + 400), daily target 500
  assert.deepEqual(d.dailyProduction, { actual: 570, target: 500 });
  assert.equal(typeof d.avgCycleTime, 'number');
  assert.ok(d.avgCycleTime > 0);
  assert.equal(Math.round(d.avgCycleTime * 10), d.avgCycleTime * 10, 'one decimal');
  assert.ok(d.activeOrders > 0 && d.completionRate > 0 && d.workCentreUtilization > 0);
});

test('board stats agree with the order list per work centre, in display order', async () => {
  let orders, list, day, r;
  do {            // again if the UTC day turned while the figures were read
    day = await today(viewer);
    orders = await allOrders(viewer);
    ({ list } = await srv.workCentres(viewer));
    r = await srv.req('GET', '/api/planning-board/stats', { token: viewer });
  } while (utcDay() !== day);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.data.map((e) => e.workCentreId), list.map((w) => w.id));
  let capped = 0;
  for (const [i, e] of r.body.data.entries()) {
    const w = list[i];
    const mine = orders.filter((o) => o.workCentreId === w.id);
    const wip = mine.filter((o) => o.status === 'in_progress').length;
    if (wip > w.capacity) capped++;
    // SPEC §9 (issue 11 item 7): queued work and when it clears; exact values in wip.test.mjs
    const { workMinutes, clearsAt, ...rest } = e;
    const queued = mine.filter((o) => o.status === 'not_started' || o.status === 'in_progress');
    assert.ok(Number.isInteger(workMinutes) && (workMinutes > 0) === (queued.length > 0), `workMinutes of ${w.code}`);
    assert.equal(clearsAt === null, queued.length === 0, `clearsAt of ${w.code}`);
    assert.deepEqual(rest, {
      workCentreId: w.id,
      code: w.code,
      orderCount: mine.length,
      inProgress: wip,
      capacity: w.capacity,
      utilization: pct(Math.min(wip, w.capacity), w.capacity),
      overdue: mine.filter((o) => overdue(o, day)).length,
      quantityToMake: mine.reduce((s, o) => s + o.quantityToMake, 0),
      quantityCompleted: mine.reduce((s, o) => s + o.quantityCompleted, 0),
    }, `stats of ${w.code}`);
  }
  assert.ok(capped > 0, 'the demo has a centre over capacity (QC: 2 in progress, capacity 1)');
});

test('cycle times and routing come from moves, and a new move counts', async () => {
  const { byCode } = await srv.workCentres(scheduler);
  const get = async (p) => {
    const r = await srv.req('GET', p, { token: scheduler });
    assert.equal(r.status, 200, r.text);
    return r.body.data;
  };
  const routes0 = await get('/api/analytics/routing');
  const cycles0 = await get('/api/analytics/cycle-times');
  // routing: sorted by count, backlog is null, demo starts every route in the backlog
  for (let i = 1; i < routes0.length; i++) assert.ok(routes0[i - 1].count >= routes0[i].count);
  assert.equal(routes0[0].fromWorkCentreId, null);
  assert.equal(routes0[0].toWorkCentreId, byCode.CUT);
  for (const e of routes0) {
    assert.deepEqual(Object.keys(e).sort(), ['avgQueueDepthTo', 'count', 'fromWorkCentreId', 'toWorkCentreId']);
    assert.notEqual(e.fromWorkCentreId, e.toWorkCentreId);
    assert.equal(typeof e.avgQueueDepthTo, 'number');
  }
  // cycle times: one entry per work centre; no samples -> nulls
  assert.equal(cycles0.length, Object.keys(byCode).length);
  for (const e of cycles0) {
    if (e.samples === 0) {
      assert.deepEqual([e.avgHours, e.p50Hours, e.p90Hours], [null, null, null]);
    } else {
      assert.ok(e.p50Hours <= e.p90Hours, JSON.stringify(e));
      assert.ok(e.avgHours > 0);
    }
  }
  assert.ok(cycles0.find((e) => e.code === 'CUT').samples > 0);

  // move an ASM order (it arrived there by a move) to QC
  const asm = (await allOrders(scheduler)).find((o) => o.workCentreId === byCode.ASM);
  const m = await srv.req('PUT', `/api/orders/${asm.id}/move`,
    { token: scheduler, json: { toWorkCentreId: byCode.QC } });
  assert.equal(m.status, 200, m.text);

  const routes1 = await get('/api/analytics/routing');
  const pair = (rs) => rs.find((e) => e.fromWorkCentreId === byCode.ASM && e.toWorkCentreId === byCode.QC);
  assert.equal(pair(routes1).count, (pair(routes0)?.count ?? 0) + 1);
  const cycles1 = await get('/api/analytics/cycle-times');
  const asmSamples = (cs) => cs.find((e) => e.code === 'ASM').samples;
  assert.equal(asmSamples(cycles1), asmSamples(cycles0) + 1);
  await checkDashboardAgainstOrders();
});

test('dashboard stays cheap with a 10,000-order tenant', async (t) => {
  const csv = execFileSync('python3', [`${SAMPLES}/gen-orders.py`, '10000'], { maxBuffer: 1 << 26 });
  const imp = await srv.req('POST', '/api/orders/import',
    { token: admin, body: csv, headers: { 'content-type': 'text/csv' }, timeout: 120000 });
  assert.equal(imp.status, 200, imp.text.slice(0, 2000));
  assert.equal(imp.body.created, 10000);

  await dashboard();                      // first read after the import warms the caches
  const times = [];
  for (let i = 0; i < 20; i++) {
    const t0 = process.hrtime.bigint();
    await dashboard();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const median = times[10], max = times[19];
  t.diagnostic(`dashboard with 10,015 orders: median ${median.toFixed(2)} ms, max ${max.toFixed(2)} ms (client-side, 20 requests)`);
  assert.ok(median < (SLOW ? 250 : 50), `median ${median} ms`);

  const { orders } = await checkDashboardAgainstOrders();
  assert.equal(orders.length, 10015);
});

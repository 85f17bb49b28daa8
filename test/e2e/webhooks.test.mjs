// Webhooks (SPEC §11, issue 12 item 3) against a real receiver: a small Node HTTP server on
// 127.0.0.1 started by each test. The receiver checks every signature the way a receiver
// would (HMAC-SHA256 of "<t>.<raw body>" with the endpoint's secret, constant-time compare).
//
// Run: PB_BIN=build/planboard node --test test/e2e/webhooks.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { startServer, until, withTimeout, SLOW, SQLITE_ONLY } from './lib.mjs';

const WAIT = SLOW ? 30000 : 15000;

/**
 * A receiver on 127.0.0.1: records every request {at, headers, raw, body, sigOk}; answers
 * `status()` (default 200). secret: the endpoint's secret, set once known.
 */
async function receiver() {
  const rx = { got: [], secret: null, status: () => 200 };
  rx.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body;
      try { body = JSON.parse(raw); } catch { body = null; }
      rx.got.push({ at: Date.now(), headers: req.headers, raw, body, sigOk: verify(rx.secret, req.headers, raw) });
      res.writeHead(rx.status(rx.got.length)).end();
    });
  });
  await new Promise((r) => rx.server.listen(0, '127.0.0.1', r));
  rx.port = rx.server.address().port;
  rx.url = `http://127.0.0.1:${rx.port}/hook`;
  rx.close = () => new Promise((r) => { rx.server.closeAllConnections(); rx.server.close(r); });
  return rx;
}

/** What a receiver does with X-Planboard-Signature: t=<secs>,v1=<hex>. */
function verify(secret, headers, raw) {
  if (!secret) return false;
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(headers['x-planboard-signature'] || '');
  if (!m) return false;
  const want = createHmac('sha256', secret).update(`${m[1]}.${raw}`).digest();
  return timingSafeEqual(want, Buffer.from(m[2], 'hex'));
}

function isPrivate(a) {
  if (net.isIPv4(a)) {
    const [x, y] = a.split('.').map(Number);
    return x === 127 || x === 10 || (x === 172 && y >= 16 && y < 32) || (x === 192 && y === 168) || (x === 169 && y === 254);
  }
  return a === '::1' || /^f[cd]/i.test(a) || /^fe[89ab]/i.test(a);
}

async function someOrders(srv, token, n) {
  const b = await srv.board(token);
  assert.equal(b.status, 200, b.text);
  const all = [...b.body.backlog, ...b.body.workCentres.flatMap((w) => w.orders)];
  assert.ok(all.length >= n, `demo board has ${all.length} orders`);
  return { orders: all.slice(0, n), wcs: b.body.workCentres.map((w) => w.id) };
}

async function moves(srv, token, n) {
  const { orders, wcs } = await someOrders(srv, token, n);
  for (let i = 0; i < n; i++) {
    const r = await srv.req('PUT', `/api/orders/${orders[i].id}/move`,
      { token, json: { toWorkCentreId: wcs[(i + 1) % wcs.length], position: 0 } });
    assert.equal(r.status, 200, r.text);
  }
  return orders;
}

const HOOK_CONFIG = { webhooks: { allow_private: 'true', retry_base_ms: 100, retry_max_ms: 800, poll_ms: 50 } };

test('admin routes: create (secret shown once), list, deliveries, delete; SPEC §4 input rules', async () => {
  const srv = await startServer({ config: HOOK_CONFIG });
  try {
    const admin = await srv.token('admin');
    const sched = await srv.token('scheduler');
    const post = (json, token = admin) => srv.req('POST', '/api/webhooks', { token, json });
    assert.equal((await post({ url: 'http://example.com/h', events: ['*'] }, sched)).status, 403);
    for (const [body, field] of [
      [{ events: ['*'] }, 'url'],
      [{ url: 'ftp://example.com/x', events: ['*'] }, 'url'],
      [{ url: 'not a url', events: ['*'] }, 'url'],
      [{ url: `http://example.com/${'a'.repeat(2048)}`, events: ['*'] }, 'url'],
      [{ url: 'http://example.com/h' }, 'events'],
      [{ url: 'http://example.com/h', events: [] }, 'events'],
      [{ url: 'http://example.com/h', events: ['order_locked'] }, 'events'],
      [{ url: 'http://example.com/h', events: ['*', 'order_moved'] }, 'events'],
      [{ url: 'http://example.com/h', events: ['order_moved', 'order_moved'] }, 'events'],
      [{ url: 'http://example.com/h', events: ['*'], secret: 's'.repeat(257) }, 'secret'],
      [{ url: 'http://example.com/h', events: ['*'], secret: '' }, 'secret'],
      [{ url: 'http://example.com/h', events: ['*'], secret: 5 }, 'secret'],
    ]) {
      const r = await post(body);
      assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 100)}: ${r.text}`);
      assert.equal(r.body.code, 'validation_failed');
      assert.ok(r.body.details.some((d) => d.field === field), r.text);
    }
    const made = await post({ url: 'http://example.com/h', events: ['order_moved', 'order_created'] });
    assert.equal(made.status, 201, made.text);
    assert.match(made.body.secret, /^whsec_[0-9a-f]{48}$/);
    assert.deepEqual(made.body.events, ['order_moved', 'order_created']);
    const own = await post({ url: 'https://example.com/x', events: ['*'], secret: 's'.repeat(256) });
    assert.equal(own.status, 201, own.text);
    assert.equal(own.body.secret, 's'.repeat(256));
    const list = await srv.req('GET', '/api/webhooks', { token: admin });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.data.map((w) => w.id), [made.body.id, own.body.id]);
    assert.ok(list.body.data.every((w) => w.secret === undefined && w.state === 'active'));
    const d = await srv.req('GET', `/api/webhooks/${made.body.id}/deliveries`, { token: admin });
    assert.equal(d.status, 200);
    assert.deepEqual(d.body.data, []);
    assert.equal((await srv.req('DELETE', `/api/webhooks/${made.body.id}`, { token: admin })).status, 204);
    assert.equal((await srv.req('DELETE', `/api/webhooks/${made.body.id}`, { token: admin })).status, 404);
    assert.equal((await srv.req('GET', `/api/webhooks/${made.body.id}/deliveries`, { token: admin })).status, 404);
    const metrics = await srv.req('GET', '/metrics');
    assert.match(metrics.text, /^planboard_webhook_endpoints\{state="active"\} 1$/m);
    assert.match(metrics.text, /^planboard_webhook_endpoints\{state="failing"\} 0$/m);
  } finally {
    await srv.stop();
  }
});

test('deliveries are signed, in seq order, with the SPEC §11 body and headers', async () => {
  const rx = await receiver();
  const srv = await startServer({ config: HOOK_CONFIG });
  try {
    const admin = await srv.token('admin');
    const made = await srv.req('POST', '/api/webhooks', { token: admin, json: { url: rx.url, events: ['order_moved'] } });
    assert.equal(made.status, 201, made.text);
    rx.secret = made.body.secret;
    const orders = await moves(srv, admin, 5);
    await until(() => rx.got.length >= 5, { timeout: WAIT, what: '5 deliveries' });
    const seqs = rx.got.map((g) => g.body.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'seq order');
    assert.equal(new Set(seqs).size, 5);
    for (const [i, g] of rx.got.entries()) {
      assert.ok(g.sigOk, `signature of delivery ${i}: ${g.headers['x-planboard-signature']}`);
      assert.equal(g.headers['x-planboard-event'], 'order_moved');
      assert.equal(g.headers['x-planboard-delivery'], g.body.deliveryId);
      assert.equal(g.headers['content-type'], 'application/json');
      assert.deepEqual(Object.keys(g.body).sort(), ['data', 'deliveryId', 'event', 'seq', 'tenant', 'timestamp']);
      assert.equal(g.body.tenant, 'demo');
      assert.equal(g.body.event, 'order_moved');
      assert.equal(g.body.data.orderId, orders[i].id);
      assert.match(g.body.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    // A tampered body does not verify (the check above can fail).
    assert.equal(verify(rx.secret, rx.got[0].headers, rx.got[0].raw.replace('order_moved', 'order_muved')), false);
    const admin2 = admin;
    await until(async () => {
      const d = await srv.req('GET', `/api/webhooks/${made.body.id}/deliveries`, { token: admin2 });
      return d.body.data.length === 5 && d.body.data.every((x) => x.status === 'delivered') && d.body.data;
    }, { timeout: WAIT, what: 'delivery log' });
    const m = await srv.req('GET', '/metrics');
    assert.match(m.text, /^planboard_webhook_deliveries_total 5$/m);
  } finally {
    await srv.stop();
    await rx.close();
  }
});

test('receiver down: retried with growing gaps, then delivered in order', async () => {
  const rx = await receiver();
  let down = true;
  rx.status = () => (down ? 503 : 200);
  const srv = await startServer({ config: HOOK_CONFIG });
  try {
    const admin = await srv.token('admin');
    const made = await srv.req('POST', '/api/webhooks', { token: admin, json: { url: rx.url, events: ['*'] } });
    rx.secret = made.body.secret;
    await moves(srv, admin, 3);
    await until(() => rx.got.length >= 5, { timeout: WAIT, what: '5 attempts while down' });
    const first = rx.got.slice(0, 5);
    assert.ok(first.every((g) => g.body.seq === first[0].body.seq), 'the first delivery is retried, nothing after it overtakes');
    const gaps = first.slice(1).map((g, i) => g.at - first[i].at);
    // retry_base_ms 100 doubling, at most 800: 100, 200, 400, 800 (lower bounds; timers never fire early)
    [100, 200, 400, 800].forEach((want, i) => assert.ok(gaps[i] >= want - 5, `gap ${i} ${gaps[i]} ms >= ${want}`));
    assert.ok(gaps[3] > gaps[0] * 3, `gaps grow: ${gaps}`);
    const log = await srv.req('GET', `/api/webhooks/${made.body.id}/deliveries`, { token: admin });
    assert.equal(log.body.data[0].status, 'pending');
    assert.ok(log.body.data[0].attempts >= 1);
    assert.equal(log.body.data[0].lastError, 'HTTP 503');
    down = false;
    const n0 = rx.got.length;
    await until(() => new Set(rx.got.slice(n0).map((g) => g.body.seq)).size >= 3, { timeout: WAIT, what: 'delivered once up' });
    // After the receiver is up: the retried one first, then the others in seq order.
    const seqs = [...new Set(rx.got.slice(n0).map((g) => g.body.seq))];
    assert.equal(seqs[0], first[0].body.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.ok(rx.got.every((g) => g.sigOk));
  } finally {
    await srv.stop();
    await rx.close();
  }
});

test('no 2xx for give_up_seconds: the endpoint is failing (list, metrics), still retried, active again after a 2xx', async () => {
  const rx = await receiver();
  let down = true;
  rx.status = () => (down ? 502 : 200);
  const srv = await startServer({ config: { webhooks: { ...HOOK_CONFIG.webhooks, give_up_seconds: 1, retry_max_ms: 300 } } });
  try {
    const admin = await srv.token('admin');
    const made = await srv.req('POST', '/api/webhooks', { token: admin, json: { url: rx.url, events: ['order_moved'] } });
    rx.secret = made.body.secret;
    await moves(srv, admin, 2);
    const state = async () => (await srv.req('GET', '/api/webhooks', { token: admin })).body.data[0].state;
    assert.equal(await state(), 'active');
    await until(async () => (await state()) === 'failing', { timeout: WAIT, what: 'failing after 1 s of 502s' });
    assert.match((await srv.req('GET', '/metrics')).text, /^planboard_webhook_endpoints\{state="failing"\} 1$/m);
    const n = rx.got.length;
    await until(() => rx.got.length > n, { timeout: WAIT, what: 'a failing endpoint is still retried' });
    assert.ok(rx.got.every((g) => g.body.seq === rx.got[0].body.seq), 'nothing skipped while failing');
    down = false;
    await until(() => new Set(rx.got.map((g) => g.body.seq)).size === 2, { timeout: WAIT, what: 'both delivered' });
    await until(async () => (await state()) === 'active', { timeout: WAIT, what: 'active again' });
    assert.match((await srv.req('GET', '/metrics')).text, /^planboard_webhook_endpoints\{state="active"\} 1$/m);
  } finally {
    await srv.stop();
    await rx.close();
  }
});

test('SIGKILL with deliveries pending: all delivered after the restart, duplicates keep their deliveryId', async () => {
  const rx = await receiver();
  let down = true;
  rx.status = () => (down ? 500 : 204);
  const srv = await startServer({ config: HOOK_CONFIG });
  try {
    const admin = await srv.token('admin');
    const made = await srv.req('POST', '/api/webhooks', { token: admin, json: { url: rx.url, events: ['order_moved'] } });
    rx.secret = made.body.secret;
    await moves(srv, admin, 6);
    const logged = async () => (await srv.req('GET', `/api/webhooks/${made.body.id}/deliveries`, { token: admin })).body.data;
    const before = await until(async () => { const d = await logged(); return d.length === 1 && d[0].attempts >= 2 && d[0]; },
      { timeout: WAIT, what: 'two logged attempts before the kill' });
    srv.proc.kill('SIGKILL');
    await withTimeout(srv.exited, 10000, 'SIGKILL exit');
    assert.equal(srv.exit.signal, 'SIGKILL');
    down = false;
    srv.exit = null;
    await srv.launch(WAIT);
    await until(() => new Set(rx.got.map((g) => g.body.seq)).size >= 6,
      { timeout: WAIT, what: '6 distinct deliveries after restart' });
    const bySeq = new Map();
    for (const g of rx.got) {
      assert.ok(g.sigOk);
      const id = bySeq.get(g.body.seq);
      if (id !== undefined) assert.equal(g.body.deliveryId, id, 'a duplicate keeps its deliveryId');
      bySeq.set(g.body.seq, g.body.deliveryId);
    }
    assert.equal(bySeq.size, 6, 'none lost, none extra');
    // The restart resumed the first delivery's attempts (and its 24 h clock) from the log.
    const after = await until(async () => { const d = await logged(); return d.length === 6 && d.find((x) => x.seq === before.seq); },
      { timeout: WAIT, what: 'the log after the restart' });
    assert.equal(after.status, 'delivered');
    assert.ok(after.attempts > before.attempts, `attempts ${before.attempts} before the kill, ${after.attempts} after`);
    // First receipt of each seq in seq order.
    const firstSeen = [];
    for (const g of rx.got) if (!firstSeen.includes(g.body.seq)) firstSeen.push(g.body.seq);
    assert.deepEqual(firstSeen, [...firstSeen].sort((a, b) => a - b));
  } finally {
    await srv.stop();
    await rx.close();
  }
});

test('a private address is refused without allow_private (at create, and at connect for a name)', async () => {
  const rx = await receiver();
  const srv = await startServer({ config: { webhooks: { retry_base_ms: 100, poll_ms: 50 } } });
  try {
    const admin = await srv.token('admin');
    for (const url of [rx.url, 'http://10.1.2.3/x', 'http://[::1]:9/x', 'http://169.254.169.254/latest',
      'http://192.168.0.1/', 'http://localhost:9/', 'http://[fd00::1]/', 'http://[::ffff:127.0.0.1]/']) {
      const r = await srv.req('POST', '/api/webhooks', { token: admin, json: { url, events: ['*'] } });
      assert.equal(r.status, 400, `${url}: ${r.text}`);
      assert.equal(r.body.details[0].field, 'url');
    }
    // A name is checked on every address it resolves to, before connecting: this machine's
    // own name resolves to a loopback or private address on Debian (/etc/hosts, 127.0.1.1).
    // (a name of /etc/hosts other than localhost, else this machine's name)
    const hosts = (() => { try { return readFileSync('/etc/hosts', 'utf8'); } catch { return ''; } })();
    const named = hosts.split('\n').map((l) => l.replace(/#.*/, '').trim().split(/\s+/))
      .filter((f) => f.length > 1 && isPrivate(f[0])).flatMap((f) => f.slice(1))
      .find((n) => !/^localhost$/i.test(n) && !/^ip6-/.test(n));
    const name = named || hostname();
    const addrs = await lookup(name, { all: true }).catch(() => []);
    assert.ok(addrs.length > 0 && addrs.every((a) => isPrivate(a.address)),
      `${name} resolves to ${JSON.stringify(addrs)}: this test needs the host's name to resolve to its own private address`);
    const made = await srv.req('POST', '/api/webhooks',
      { token: admin, json: { url: `http://${name}:${rx.port}/`, events: ['*'] } });
    assert.equal(made.status, 201, made.text);
    await moves(srv, admin, 1);
    const d = await until(async () => {
      const r = await srv.req('GET', `/api/webhooks/${made.body.id}/deliveries`, { token: admin });
      return r.body.data.length === 1 && r.body.data[0].attempts >= 2 && r.body.data[0];
    }, { timeout: WAIT, what: 'refused attempts logged' });
    assert.match(d.lastError, /^refused: /);
    assert.equal(d.status, 'pending');
    assert.equal(d.httpStatus, null);
    assert.equal(rx.got.length, 0, 'the receiver was never reached');
    const m = await srv.req('GET', '/metrics');
    assert.match(m.text, /^planboard_webhook_refused_total [1-9]/m);
  } finally {
    await srv.stop();
    await rx.close();
  }
});

// SQLite only: group commit's fdatasync of SQLite's WAL (server/durable.c), absent on PostgreSQL.
test('at synchronous = FULL deliveries wait for a group-commit sync after their outbox read, and arrive', { skip: SQLITE_ONLY }, async () => {
  const rx = await receiver();
  const srv = await startServer({ config: { ...HOOK_CONFIG, database: { synchronous: 'FULL' } } });
  try {
    const admin = await srv.token('admin');
    const made = await srv.req('POST', '/api/webhooks', { token: admin, json: { url: rx.url, events: ['order_moved'] } });
    assert.equal(made.status, 201, made.text);
    rx.secret = made.body.secret;
    const syncs = async () => Number(/^planboard_group_commit_syncs_total (\d+)$/m.exec((await srv.req('GET', '/metrics')).text)[1]);
    await moves(srv, admin, 3);
    // Liveness: the deliveries wait for a sync that starts after their outbox read (the
    // barrier; that it waits is proven in test/test_durable.c) and still all arrive, signed,
    // in order, although no commit follows the moves.
    const before = await syncs();
    await until(() => rx.got.length >= 3, { timeout: WAIT, what: '3 deliveries at FULL' });
    assert.ok(rx.got.every((g) => g.sigOk));
    const seqs = rx.got.map((g) => g.body.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.ok(await syncs() >= before, 'syncs only grow');
  } finally {
    await srv.stop();
    await rx.close();
  }
});

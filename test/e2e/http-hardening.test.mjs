// HTTP transport hardening (issue 8 "Trust", items 2 and 3): one packet must not hang the
// server, early answers reach the client, trickled bodies are cut off, one address cannot
// hold every connection, client text in the log is escaped, and the listener binds exactly
// the configured address. Raw sockets (node:net) so that the bytes on the wire are ours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, writeConfig, freePort, Server, until, withTimeout, SLOW } from './lib.mjs';

/**
 * Open a raw connection, write `chunks` (strings/Buffers; a number is a pause in ms), and
 * collect what comes back until the server closes or `idle` ms pass without a byte.
 * Resolves {text, closed, error}. Never rejects; bounded by `limit` ms.
 */
function rawExchange(port, chunks, { idle = 1500, limit = 10000 } = {}) {
  return new Promise((resolve) => {
    // allowHalfOpen: like curl or a browser, keep sending after the server's FIN.
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let text = '', closed = false, error = null, timer, sent = false;
    const done = () => { clearTimeout(timer); clearTimeout(cap); s.destroy(); resolve({ text, closed, error }); };
    const arm = () => { clearTimeout(timer); timer = setTimeout(done, idle); };
    const cap = setTimeout(done, limit);
    s.on('data', (d) => { text += d.toString('latin1'); arm(); });
    s.on('end', () => { closed = true; if (sent) s.end(); });
    s.on('close', () => { closed = true; done(); });
    s.on('error', (e) => { error = e.code || String(e); });
    s.on('connect', async () => {
      for (const c of chunks) {
        if (typeof c === 'number') await new Promise((r) => setTimeout(r, c));
        else if (!s.destroyed && s.writable) s.write(c);
      }
      sent = true;
      if (closed) s.end();
      arm();
    });
  });
}

/** Status codes of the HTTP responses in `text`, in order. */
function statuses(text) {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
}

async function healthy(srv) {
  const r = await srv.req('GET', '/api/health', { timeout: 3000 });
  assert.equal(r.status, 200);
}

const jsonPost = (path, body) =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const get = (path) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

test('a request followed in the same packet by one with a body does not hang the server', async () => {
  const srv = await startServer();
  try {
    // The packet of the issue: before the fix the loop spun at ~95% CPU and ignored SIGTERM.
    const r = await rawExchange(srv.port, [get('/api/health') + jsonPost('/api/auth/login', '{}')]);
    assert.deepEqual(statuses(r.text), [200], r.text);
    assert.ok(r.closed, 'the connection is closed after the answered request');
    await healthy(srv);
    // The same with a body on the first request too, and with a bigger second body.
    const big = JSON.stringify({ tenant: 'demo', username: 'x'.repeat(300), password: 'y' });
    const r2 = await rawExchange(srv.port, [jsonPost('/api/auth/login', '{}') + jsonPost('/api/auth/login', big)]);
    assert.deepEqual(statuses(r2.text), [400], r2.text);
    assert.ok(r2.closed);
    await healthy(srv);
    assert.match(srv.stderr, /pipelined request with a body: closing/);
  } finally {
    await srv.stop();                   // SIGTERM -> exit 0 (asserted)
  }
});

test('pipelined requests without bodies are all answered in order on one connection', async () => {
  const srv = await startServer();
  try {
    const r = await rawExchange(srv.port, [get('/api/health') + get('/api/no-such') + get('/api/health')]);
    assert.deepEqual(statuses(r.text), [200, 404, 200], r.text);
    // A request with a body followed by one without: both answered, in order.
    const r2 = await rawExchange(srv.port, [jsonPost('/api/auth/login', '{}') + get('/api/health')]);
    assert.deepEqual(statuses(r2.text), [400, 200], r2.text);
    // Keep-alive without pipelining: each request waits for its answer; bodies are read.
    const s = net.connect(srv.port, '127.0.0.1');
    let text = '';
    s.on('data', (d) => { text += d; });
    await new Promise((res) => s.on('connect', res));
    for (let i = 1; i <= 3; i++) {
      s.write(jsonPost('/api/auth/login', '{}'));
      await until(() => statuses(text).length === i, { timeout: 3000, what: `answer ${i}` });
    }
    assert.deepEqual(statuses(text), [400, 400, 400]);
    s.destroy();
    await healthy(srv);
  } finally {
    await srv.stop();
  }
});

test('a 413 reaches a client that is still sending a large body', async () => {
  const srv = await startServer({ config: { limits: { max_body: 1024 } } });
  try {
    const body = JSON.stringify({ pad: 'x'.repeat(1024 * 1024) });
    const head = `POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    // Sent in 64 KiB pieces, as a client on a real network would: the client is still
    // sending when the answer comes. Before the fix the server closed with unread bytes,
    // the kernel answered the next piece with a reset and the client saw EPIPE/ECONNRESET.
    const pieces = [head];
    for (let o = 0; o < body.length; o += 65536) pieces.push(10, body.slice(o, o + 65536));
    for (let i = 0; i < 3; i++) {
      const r = await rawExchange(srv.port, pieces, { idle: 3000 });
      assert.deepEqual(statuses(r.text), [413], `try ${i}: ${r.error} ${r.text.slice(0, 200)}`);
      assert.match(r.text, /payload_too_large/);
      assert.equal(r.error, null, `try ${i}: the client saw ${r.error}`);
      assert.ok(r.closed);
    }
    await healthy(srv);
  } finally {
    await srv.stop();
  }
});

test('a body that trickles in is cut off at the body deadline', async () => {
  const srv = await startServer({ config: { limits: { body_timeout_seconds: 2 } } });
  try {
    const t0 = Date.now();
    const drip = [];
    for (let i = 0; i < 40; i++) drip.push(250, 'x');   // one byte every 250 ms: never silent
    const r = await rawExchange(srv.port, [
      'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n',
      ...drip], { idle: 8000, limit: 12000 });
    const took = Date.now() - t0;
    assert.ok(r.closed, 'closed by the server');
    assert.ok(took >= 1800 && took < (SLOW ? 7000 : 5000), `closed after ${took} ms`);
    assert.match(srv.stderr, /body not complete after 2 s/);
    await healthy(srv);
  } finally {
    await srv.stop();
  }
});

test('one address cannot hold more than max_conns_per_address connections', async () => {
  const cap = 6;
  const srv = await startServer({ config: { limits: { max_conns_per_address: cap } } });
  const socks = [];
  try {
    // Open idle connections until the server refuses one (it closes it at accept).
    let refused = -1;
    for (let i = 0; i < cap + 4 && refused < 0; i++) {
      const s = net.connect(srv.port, '127.0.0.1');
      s.on('error', () => {});
      s.closedByPeer = new Promise((res) => s.on('close', () => res(true)));
      await new Promise((res) => s.on('connect', res));
      socks.push(s);
      const gone = await Promise.race([s.closedByPeer, new Promise((res) => setTimeout(() => res(false), 300))]);
      if (gone) refused = i;
    }
    assert.ok(refused >= 0 && refused <= cap, `refused at ${refused}`);
    assert.match(srv.stderr, /refused a connection from ::ffff:127\.0\.0\.1/);
    for (const s of socks) s.destroy();
    // Once they are closed the address is served again.
    await until(async () => (await srv.req('GET', '/api/health', { timeout: 1000 })).status === 200,
      { timeout: 5000, what: 'health after closing the idle connections' });
  } finally {
    for (const s of socks) s.destroy();
    await srv.stop();
  }
});

test('control bytes and invalid UTF-8 in a logged path are escaped', async () => {
  const srv = await startServer();
  try {
    const r = await rawExchange(srv.port, [get('/api/x%1b%5b31mred%7f%ff%c3%a9')], { idle: 500 });
    assert.deepEqual(statuses(r.text), [404], r.text);
    await until(() => /GET \/api\/x/.test(srv.stderr), { timeout: 3000, what: 'the log line' });
    const line = srv.stderr.split('\n').find((l) => l.includes('GET /api/x'));
    assert.ok(line.includes('\\x1b[31mred\\x7f\\xffé'), line);
    assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(srv.stderr), 'no raw control byte in the log');
  } finally {
    await srv.stop();
  }
});

/** Listening TCP sockets on `port` as "addr" strings from /proc/net/tcp and tcp6. */
function listeners(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const out = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== '0A') continue;          // 0A = LISTEN
      const [addr, p] = cols[1].split(':');
      if (p === hexPort) out.push(`${f.endsWith('6') ? 'v6' : 'v4'}:${addr}`);
    }
  }
  return out;
}

test('bind = 127.0.0.1 listens on 127.0.0.1 only', async () => {
  const srv = await startServer({ config: { server: { bind: '127.0.0.1' } } });
  try {
    assert.deepEqual(listeners(srv.port), ['v4:0100007F']);
  } finally {
    await srv.stop();
  }
});

test('bind = ::1 listens on ::1 only, bind = 0.0.0.0 on every IPv4 address', async (t) => {
  if (!listeners(0).length && !readFileSync('/proc/net/if_inet6', 'utf8').includes('lo')) {
    t.skip('no IPv6 loopback');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'e2e-planboard-'));
  const port = await freePort();
  const srv = new Server(dir, writeConfig(dir, { server: { bind: '::1' } }), port);
  srv.base = `http://[::1]:${port}`;
  await srv.launch(15000);
  try {
    assert.deepEqual(listeners(port), ['v6:00000000000000000000000001000000']);
  } finally {
    await srv.stop();
  }
  const any = await startServer({ config: { server: { bind: '0.0.0.0' } } });
  try {
    assert.deepEqual(listeners(any.port), ['v4:00000000']);
  } finally {
    await any.stop();
  }
});

test('a bind address that does not exist is a start-up error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'e2e-planboard-'));
  const port = await freePort();
  const srv = new Server(dir, writeConfig(dir, { server: { bind: '192.0.2.77' } }), port);
  await assert.rejects(withTimeout(srv.launch(5000), 10000, 'launch'), /exited early/);
  assert.notEqual(srv.exit.code, 0);
  assert.match(srv.stderr, /cannot listen on 192\.0\.2\.77/);
});

test('PUT, DELETE and POST with Content-Length: 0 are answered (an empty body), not left hanging', async () => {
  // Found by fuzz_json_body: lws 4.1 sends no BODY_COMPLETION for a PUT or DELETE without
  // body bytes, and the server waited for it; the client got "Empty reply from server".
  const srv = await startServer();
  try {
    const token = await srv.token('admin');
    const head = (method, path) => `${method} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
      'Content-Type: application/json\r\nContent-Length: 0\r\n\r\n';
    for (const [method, path, want] of [['PUT', '/api/tenant', 400], ['POST', '/api/api-keys', 400],
      ['DELETE', '/api/api-keys/999999', 404]]) {
      const r = await rawExchange(srv.port, [head(method, path)], { idle: 3000 });
      assert.deepEqual(statuses(r.text), [want], `${method} ${path}: ${JSON.stringify(r.text.slice(0, 300))}`);
    }
    await healthy(srv);
  } finally {
    await srv.stop();
  }
});

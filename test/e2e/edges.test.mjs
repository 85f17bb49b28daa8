// Protocol edges of PLATFORM.md and SPEC §5: WebSocket liveness (a silent connection is closed
// after two ping intervals; a live one stays), and Expect: 100-continue on uploads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import crypto from 'node:crypto';
import { startServer, sample, sleep, withTimeout } from './lib.mjs';

let srv;
before(async () => { srv = await startServer({ config: { limits: { ws_ping_seconds: 1 } } }); });
after(async () => { await srv.stop(); });

/** A raw WebSocket handshake over TCP; the socket then never answers anything (no pong). */
function silentSocket(token) {
  return new Promise((resolve, reject) => {
    const s = net.connect(srv.port, '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    let buf = '';
    s.on('error', reject);
    s.on('connect', () => s.write(
      `GET /ws?token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
      `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
      'Sec-WebSocket-Version: 13\r\n\r\n'));
    s.on('data', function first(d) {
      buf += d.toString('latin1');
      if (buf.includes('\r\n\r\n')) {
        s.off('data', first);
        assert.match(buf, /^HTTP\/1\.1 101/);
        resolve(s);
      }
    });
  });
}

test('a connection silent for two ping intervals is closed; a live client stays', async () => {
  const token = await srv.token('viewer');
  const live = await srv.ws(token);            // npm ws answers pings with pongs
  const silent = await silentSocket(token);
  const closedAt = withTimeout(new Promise((r) => silent.on('close', () => r(Date.now()))), 10000,
    'server closing the silent connection');
  const t0 = Date.now();
  const t = await closedAt;
  assert.ok(t - t0 >= 1000, `closed too early (${t - t0} ms): it must get a ping interval first`);
  await sleep(500);
  assert.equal(live.closeInfo, null, 'the live client was closed');
  const pong = await live.request('ping', {});
  assert.equal(pong.event, 'pong');
  live.close();
});

test('an upload with Expect: 100-continue gets its 100 at once and is imported', async () => {
  const token = await srv.token('scheduler');
  const body = sample('orders-erp-export.csv');
  const t0 = Date.now();
  const res = await withTimeout(new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: srv.port, method: 'POST', path: '/api/orders/import?dryRun=true',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv',
        'content-length': body.length, expect: '100-continue' },
    });
    req.on('continue', () => { req.continueAt = Date.now(); req.end(body); });
    req.on('response', (r) => {
      let text = '';
      r.on('data', (d) => { text += d; });
      r.on('end', () => resolve({ status: r.statusCode, text, continueAt: req.continueAt }));
    });
    req.on('error', reject);
    req.flushHeaders();
  }), 5000, 'import with 100-continue');
  assert.ok(res.continueAt, 'no 100 Continue was received');
  assert.ok(res.continueAt - t0 < 900, `100 Continue took ${res.continueAt - t0} ms`);
  assert.equal(res.status, 200, res.text);
  assert.equal(JSON.parse(res.text).dryRun, true);
});

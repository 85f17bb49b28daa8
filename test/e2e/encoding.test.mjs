// Big boards light on the wire, static files from memory (issue 9 items 3-4): gzip by
// Accept-Encoding (q-values honoured), the board's gzip copy made once per board version,
// static files with strong ETags and 304, and the one error path counted in /metrics.
// Raw node:http requests: fetch would add its own Accept-Encoding and decode the body.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, WEB_DIR } from './lib.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

/** One request on a fresh connection; resolves {status, headers, body: Buffer} (raw bytes). */
function raw(path, headers = {}, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, path, method, headers, agent: false,
      timeout: 10000 }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

function metric(text, name, labels = '') {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

async function gzips() {
  return metric((await raw('/metrics')).body.toString(), 'planboard_blob_gzip_total');
}

test('a gzip board read decodes to exactly the identity body', async () => {
  const token = await srv.token('viewer');
  const auth = { authorization: `Bearer ${token}` };
  const id = await raw('/api/planning-board', auth);
  assert.equal(id.status, 200);
  assert.equal(id.headers['content-encoding'], undefined);
  assert.equal(Number(id.headers['content-length']), id.body.length);
  const gz = await raw('/api/planning-board', { ...auth, 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(gz.status, 200);
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.match(gz.headers.vary, /accept-encoding/i);
  assert.equal(Number(gz.headers['content-length']), gz.body.length);
  assert.ok(gz.body.length < id.body.length / 3, `${gz.body.length} vs ${id.body.length}`);
  assert.deepEqual(gunzipSync(gz.body), id.body);
  JSON.parse(id.body.toString());
});

test('gzip;q=0, identity, unknown codings and no header all get identity', async () => {
  const token = await srv.token('viewer');
  const auth = { authorization: `Bearer ${token}` };
  const plain = (await raw('/api/planning-board', auth)).body;
  for (const ae of ['gzip;q=0', 'identity', 'br, deflate', 'gzip;q=0, *', '*;q=0', 'gzip;q=2', 'gzip;q=0.0']) {
    const r = await raw('/api/planning-board', { ...auth, 'accept-encoding': ae });
    assert.equal(r.status, 200, ae);
    assert.equal(r.headers['content-encoding'], undefined, `Accept-Encoding: ${ae}`);
    assert.deepEqual(r.body, plain, ae);
  }
  for (const ae of ['GZIP', 'x-gzip', 'br;q=1, gzip;q=0.001', '*']) {
    const r = await raw('/api/planning-board', { ...auth, 'accept-encoding': ae });
    assert.equal(r.headers['content-encoding'], 'gzip', `Accept-Encoding: ${ae}`);
    assert.deepEqual(gunzipSync(r.body), plain, ae);
  }
});

test('the board is compressed once per board version, not per request', async () => {
  const token = await srv.token('scheduler');
  const auth = { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' };
  await raw('/api/planning-board', auth);          // this version's copy exists now
  const n0 = await gzips();
  for (let i = 0; i < 5; i++) {
    const r = await raw('/api/planning-board', auth);
    assert.equal(r.headers['content-encoding'], 'gzip');
  }
  assert.equal(await gzips(), n0, 'repeated reads of one version compress nothing');

  const { byCode } = await srv.workCentres(token);
  const board = JSON.parse(gunzipSync((await raw('/api/planning-board', auth)).body));
  const order = board.backlog[0] ?? board.workCentres[0].orders[0];
  const mv = await srv.req('PUT', `/api/orders/${order.id}/move`,
    { token, json: { toWorkCentreId: byCode.QC, position: 0 } });
  assert.equal(mv.status, 200, mv.text);
  // The new version is read once its event is out (on PostgreSQL the event reaches the room
  // after the answer: a read in between would be a version of its own, seq and board).
  await srv.settled();
  const after1 = await raw('/api/planning-board', auth);
  const moved = JSON.parse(gunzipSync(after1.body));
  const qc = moved.workCentres.find((w) => w.id === byCode.QC);
  assert.equal(qc.orders[0].id, order.id, 'the gzip answer is the new board');
  assert.equal(await gzips(), n0 + 1, 'one compression for the new version');
  await raw('/api/planning-board', auth);
  await raw('/api/planning-board', auth);
  assert.equal(await gzips(), n0 + 1);
});

test('static files: strong ETag, gzip copy with its own ETag, 304 on If-None-Match', async () => {
  const file = readFileSync(join(WEB_DIR, 'js', 'app.js'));
  const id = await raw('/js/app.js');
  assert.equal(id.status, 200);
  assert.match(id.headers['content-type'], /^text\/javascript/);
  assert.deepEqual(id.body, file);
  assert.match(id.headers.etag, /^"[0-9a-f]{32}"$/);
  assert.match(id.headers.vary, /accept-encoding/i);

  const gz = await raw('/js/app.js', { 'accept-encoding': 'gzip' });
  assert.equal(gz.status, 200);
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.deepEqual(gunzipSync(gz.body), file);
  assert.equal(gz.headers.etag, id.headers.etag.replace(/"$/, '-gz"'));

  const nm = await raw('/js/app.js', { 'if-none-match': id.headers.etag });
  assert.equal(nm.status, 304);
  assert.equal(nm.body.length, 0);
  assert.equal(nm.headers.etag, id.headers.etag);
  const nmgz = await raw('/js/app.js', { 'if-none-match': `"x", W/${gz.headers.etag}`, 'accept-encoding': 'gzip' });
  assert.equal(nmgz.status, 304);
  const other = await raw('/js/app.js', { 'if-none-match': '"0123"' });
  assert.equal(other.status, 200);
  assert.deepEqual(other.body, file);
  const root = await raw('/', { 'accept-encoding': 'gzip' });
  assert.equal(root.status, 200);
  assert.deepEqual(gunzipSync(root.body), readFileSync(join(WEB_DIR, 'index.html')));
  assert.match(root.headers['content-security-policy'], /default-src 'self'/);
});

test('paths outside the loaded files are 404 (.., hidden, unknown, directories)', async () => {
  for (const p of ['/../etc/passwd', '/../../../../etc/passwd', '/nope.js', '/js', '/js/', '/.git/config']) {
    const r = await raw(p);
    assert.equal(r.status, 404, p);
    assert.equal(JSON.parse(r.body).code, 'not_found', p);
  }
  // lws normalises "/js/../" and "//" before we see the path: they name a loaded file
  for (const p of ['/js/../index.html', '//index.html']) {
    const r = await raw(p);
    assert.equal(r.status, 200, p);
    assert.deepEqual(r.body, readFileSync(join(WEB_DIR, 'index.html')), p);
  }
});

test('error answers of every channel are counted per code in /metrics', async () => {
  const imp = await srv.req('POST', '/api/orders/import?mode=bad', {
    token: await srv.token('scheduler'), body: 'x', headers: { 'content-type': 'text/csv' } });
  assert.equal(imp.status, 400);                                      // import refusal
  assert.deepEqual(imp.body.details.map((d) => d.field), ['mode']);
  const before = (await raw('/metrics')).body.toString();
  const c = (t, code) => metric(t, 'planboard_errors_total', `{code="${code}"}`);
  await raw('/api/orders/999999', { authorization: `Bearer ${await srv.token('viewer')}` });
  await raw('/api/planning-board');                                   // no token: 401
  const up = await raw('/ws', { connection: 'Upgrade', upgrade: 'websocket',
    'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' });
  assert.equal(up.status, 401);                                       // upgrade refusal
  const ws = await srv.ws(await srv.token('viewer'));
  ws.send('{"event":"ping","ref":"e1"}}');                             // WebSocket error frame
  const e = await ws.waitFor((m) => m.event === 'error' && m.data.code === 'invalid_json');
  assert.deepEqual(e.data.details.map((d) => d.field), ['body']);
  ws.close();
  const now = (await raw('/metrics')).body.toString();
  assert.equal(c(now, 'not_found') - c(before, 'not_found'), 1);
  assert.equal(c(now, 'unauthorized') - c(before, 'unauthorized'), 2);
  assert.equal(c(now, 'invalid_json') - c(before, 'invalid_json'), 1);
});

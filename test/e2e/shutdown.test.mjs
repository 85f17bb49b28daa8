// Clean shutdown (SPEC §7): SIGTERM closes WebSocket connections with 1001 and exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, withTimeout, OTHER_PASSWORD, SLOW } from './lib.mjs';

test('SIGTERM with clients connected: every client gets close code 1001 and the server exits 0', async () => {
  const srv = await startServer();
  let stopped = false;
  try {
    await srv.createTenant('other', 'boss', OTHER_PASSWORD);
    const s = await srv.token('scheduler');
    const v = await srv.token('viewer');
    const o = await srv.token('boss', OTHER_PASSWORD, 'other');
    const clients = [];
    for (let i = 0; i < 6; i++) clients.push(await srv.ws(i % 2 ? s : v, { protocol: i === 2 ? 'planboard.v1' : undefined }));
    clients.push(await srv.ws(o));
    clients.push(await srv.ws(s, { join: false })); // connected, not joined
    // A lock held at shutdown does not prevent a clean exit.
    const b = await srv.board(s);
    const a = await clients[1].request('start_drag', { orderId: b.body.workCentres[0].orders[0].id });
    assert.equal(a.event, 'ack', JSON.stringify(a));

    const stopping = srv.stop({ closeClients: false });
    stopped = true;
    const closes = await withTimeout(Promise.all(clients.map((c) => c.closed)), SLOW ? 15000 : 8000, 'all clients closed');
    for (const [i, ci] of closes.entries()) assert.equal(ci.code, 1001, `client ${i} close code ${ci.code} "${ci.reason}"`);
    await stopping; // asserts exit 0 and a clean sanitizer log
    assert.match(srv.stderr, /shut|stop/i);
  } finally {
    if (!stopped) await srv.stop();
  }
});

test('after SIGTERM the port is released and new connections are refused', async () => {
  const srv = await startServer();
  const port = srv.port;
  await srv.stop();
  await assert.rejects(fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(2000) }));
});

// Regressions for what the fuzz targets found (docs/fuzzing.md), against the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib.mjs';

let srv, tok;
before(async () => {
  srv = await startServer();
  tok = await srv.token('scheduler');
});
after(async () => {
  if (srv) await srv.stop();
});

// fuzz_ws_message: a "ref" longer than 128 bytes was cut inside a multi-byte character, so the
// pong/ack/error echoed invalid UTF-8 and the client dropped the connection (1007).
test('a long ref is echoed cut at a character boundary, as valid UTF-8', async () => {
  const c = await srv.ws(tok, { join: false });
  for (const [ref, want] of [
    ['a'.repeat(127) + 'é', 'a'.repeat(127)],                 // 2-byte char across byte 128
    ['a'.repeat(126) + '😀', 'a'.repeat(126)],                // 4-byte char across byte 128
    ['é'.repeat(64), 'é'.repeat(64)],                          // exactly 128 bytes: kept
    ['ü'.repeat(70), 'ü'.repeat(64)],
  ]) {
    const from = c.messages.length;
    c.send({ event: 'ping', ref });
    const pong = await c.waitFor((m) => m.event === 'pong', { from, timeout: 3000, what: 'pong' });
    assert.equal(pong.ref, want);
    const from2 = c.messages.length;
    c.send({ event: 'no_such_event', ref });
    const err = await c.waitFor((m) => m.event === 'error', { from: from2, timeout: 3000, what: 'error' });
    assert.equal(err.ref, want);
    assert.equal(err.data.code, 'validation_failed');
  }
  assert.equal(c.closeInfo, null);
  await c.close();
});

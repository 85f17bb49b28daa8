// SPEC §4 login limit under concurrency (issue 8 item 6; server/ratelimit.c, r_login in
// server/routes.c). An attempt counts from the moment it starts, while its argon2 check still
// runs: parallel guesses cannot all pass the limit check before the first failure is counted.
// Requests come from chosen loopback source addresses (127.0.0.0/8 is all loopback on Linux),
// so the per-address and the per tenant+username keys are tested apart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, until, DEMO_PASSWORD, SLOW } from './lib.mjs';

const RATE = 5;

let srv;
before(async () => {
  srv = await startServer({ config: { auth: { login_rate_per_minute: RATE } } });
});
after(async () => { if (srv) await srv.stop(); });

/** POST /api/auth/login on its own connection from source address `from`. */
function loginFrom(server, from, username, password, tenant = 'demo') {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ tenant, username, password });
    const req = http.request({
      host: '127.0.0.1', port: server.port, method: 'POST', path: '/api/auth/login',
      localAddress: from, agent: false, timeout: SLOW ? 60000 : 30000,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, body: json, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`login from ${from} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Every answer is a 401 or a 429 with Retry-After; returns the counts. */
function tally(answers) {
  let n401 = 0, n429 = 0;
  for (const a of answers) {
    if (a.status === 401) {
      n401++;
      assert.equal(a.body?.code, 'unauthorized', a.text);
    } else {
      assert.equal(a.status, 429, a.text);
      assert.equal(a.body?.code, 'rate_limited', a.text);
      assert.match(String(a.headers['retry-after']), /^[1-9][0-9]*$/, 'Retry-After in whole seconds');
      n429++;
    }
  }
  return { n401, n429 };
}

/** Resolves with the first answer of `promises` that is a 429; rejects if none is. */
function first429(promises) {
  return new Promise((resolve, reject) => {
    let left = promises.length;
    for (const p of promises) {
      p.then((a) => { if (a.status === 429) resolve(a); }, reject)
        .finally(() => { if (--left === 0) reject(new Error('no attempt was answered 429')); });
    }
  });
}

test('150 wrong logins at once from one address: at most the limit are checked, the rest 429 at once', async () => {
  const from = '127.0.0.11';
  // A different username each time: only the address key can stop them.
  const answers = await Promise.all(Array.from({ length: 150 },
    (_, i) => loginFrom(srv, from, `nobody-${i}`, 'wrong-password-1')));
  const { n401, n429 } = tally(answers);
  assert.ok(n401 >= 1 && n401 <= RATE, `${n401} answered 401, limit ${RATE}`);
  assert.equal(n429, 150 - n401);
  // The address stays limited for the window, right password or not.
  const r = await loginFrom(srv, from, 'scheduler', DEMO_PASSWORD);
  assert.equal(r.status, 429, r.text);
  assert.ok(Number(r.headers['retry-after']) >= 1 && Number(r.headers['retry-after']) <= 60);
});

test('the right password among 40 parallel wrong guesses from one address gets 429, not 200', async () => {
  const from = '127.0.0.12';
  const guesses = Array.from({ length: 40 }, (_, i) => loginFrom(srv, from, 'viewer', `guess-${i}-wrong`));
  // Once one guess was refused, the limit is full of attempts begun (in flight or failed):
  // the right password sent now, while guesses are still being checked, must not get in.
  await first429(guesses);
  const right = await loginFrom(srv, from, 'viewer', DEMO_PASSWORD);
  assert.equal(right.status, 429, `right password hidden among guesses: ${right.status} ${right.text}`);
  const { n401 } = tally(await Promise.all(guesses));
  assert.ok(n401 <= RATE, `${n401} guesses were checked, limit ${RATE}`);
});

test('the same per tenant + username: 150 guesses from 150 addresses, and the right password after them', async () => {
  const guesses = Array.from({ length: 150 },
    (_, i) => loginFrom(srv, `127.0.1.${i + 1}`, 'admin', `guess-${i}-wrong`));
  await first429(guesses);
  const right = await loginFrom(srv, '127.0.2.1', 'admin', DEMO_PASSWORD);
  assert.equal(right.status, 429, `right password from a fresh address: ${right.status} ${right.text}`);
  const { n401, n429 } = tally(await Promise.all(guesses));
  assert.ok(n401 >= 1 && n401 <= RATE, `${n401} answered 401, limit ${RATE}`);
  assert.equal(n429, 150 - n401);
  // Another user of the same tenant is not affected.
  const other = await loginFrom(srv, '127.0.2.2', 'scheduler', DEMO_PASSWORD);
  assert.equal(other.status, 200, other.text);
});

test('a success gives its own slot back: more right logins than the limit from one address get in', async () => {
  const from = '127.0.0.13';
  for (let i = 0; i < RATE + 3; i++) {
    const r = await loginFrom(srv, from, 'scheduler', DEMO_PASSWORD);
    assert.equal(r.status, 200, `login ${i + 1}: ${r.text}`);
  }
});

test('[auth] login_max_inflight caps password checks for all clients together; 429 with Retry-After: 1', async () => {
  const s2 = await startServer({ config: { auth: { login_rate_per_minute: 1000, login_max_inflight: 1 } } });
  try {
    // 60 different addresses and users: no per-key limit applies, only the global cap.
    const answers = await Promise.all(Array.from({ length: 60 },
      (_, i) => loginFrom(s2, `127.0.3.${i + 1}`, `nobody-${i}`, 'wrong-password-1')));
    const { n401, n429 } = tally(answers);
    assert.ok(n401 >= 1, 'some were checked');
    assert.ok(n429 >= 1, `all ${n401} were checked at once: no cap`);
    for (const a of answers) if (a.status === 429) assert.equal(a.headers['retry-after'], '1');
    // Nothing stays counted in flight: the right password gets in once the flood is over.
    const ok = await until(async () => (await loginFrom(s2, '127.0.3.200', 'scheduler', DEMO_PASSWORD)).status === 200,
      { timeout: 10000, what: 'a login after the flood' });
    assert.ok(ok);
  } finally {
    await s2.stop();
  }
});

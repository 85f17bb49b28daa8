// Figures for bench/README.md "Webhooks" (issue 12 item 3): delivery throughput to a local
// receiver and the loop's latency meanwhile (/api/health p99, goal <= 10 ms while 1,000
// deliveries/s go out). Not a pass/fail on a number.
//
// 1. A receiver on 127.0.0.1 (this process) answers 503 ("down"); ENDPOINTS endpoints subscribe
//    to everything; CHANGES moves are made (each one audit row, so ENDPOINTS x CHANGES
//    deliveries wait in the outbox).
// 2. /api/health is timed in a closed loop on one keep-alive connection for 2 s (quiet).
// 3. The receiver comes up (204); the same health loop runs while the backlog drains: the
//    deliveries/s (from the receiver's counts) and the health p50/p99/max during it.
//   PB_BIN=build/planboard node bench/webhooks.mjs [CHANGES=3000] [ENDPOINTS=4]
import http from 'node:http';
import { startServer } from '../test/e2e/lib.mjs';

const CHANGES = Number(process.argv[2] || 3000);
const ENDPOINTS = Number(process.argv[3] || 4);

let up = false, got = 0;
const seen = new Set();
const rx = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (up) {
      got++;
      seen.add(req.headers['x-planboard-delivery']);
    }
    res.writeHead(up ? 204 : 503).end();
  });
});
await new Promise((r) => rx.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${rx.address().port}/bench`;

const srv = await startServer({ config: {
  server: { log_level: 'warn' },
  webhooks: { allow_private: 'true', retry_base_ms: 50, retry_max_ms: 200, poll_ms: 1000 },
} });
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function health() {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    http.get(`${srv.base}/api/health`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
    }).on('error', reject);
  });
}

async function healthLoop(stop) {
  const v = [];
  while (!stop()) v.push(await health());
  v.sort((a, b) => a - b);
  const q = (p) => v[Math.min(v.length - 1, Math.floor(p * v.length))];
  return { n: v.length, p50: q(0.5), p99: q(0.99), max: v[v.length - 1] };
}

try {
  const admin = await srv.token('admin');
  for (let i = 0; i < ENDPOINTS; i++) {
    const r = await srv.req('POST', '/api/webhooks', { token: admin, json: { url: `${url}/${i}`, events: ['*'] } });
    if (r.status !== 201) throw new Error(r.text);
  }
  const b = await srv.board(admin);
  const orders = [...b.body.backlog, ...b.body.workCentres.flatMap((w) => w.orders)];
  const wcs = b.body.workCentres.map((w) => w.id);
  const t0 = Date.now();
  let made = 0;
  await Promise.all(orders.slice(0, 8).map(async (o, k) => {
    for (let i = 0; made < CHANGES; i++) {
      made++;
      const r = await srv.req('PUT', `/api/orders/${o.id}/move`, { token: admin, json: { toWorkCentreId: wcs[(i + k) % wcs.length], position: 0 } });
      if (r.status !== 200) throw new Error(r.text);
    }
  }));
  console.log(`${made} moves in ${Date.now() - t0} ms; ${ENDPOINTS} endpoints -> ${made * ENDPOINTS} deliveries waiting`);

  let until = Date.now() + 2000;
  const quiet = await healthLoop(() => Date.now() > until);
  console.log(`quiet:     /api/health n=${quiet.n} p50 ${quiet.p50.toFixed(2)} ms p99 ${quiet.p99.toFixed(2)} ms max ${quiet.max.toFixed(2)} ms`);

  const total = made * ENDPOINTS;
  up = true;
  const d0 = Date.now();
  const drain = await healthLoop(() => seen.size >= total || Date.now() - d0 > 120000);
  const secs = (Date.now() - d0) / 1000;
  console.log(`draining:  ${seen.size} distinct deliveries (${got} requests) in ${secs.toFixed(2)} s = ` +
    `${(seen.size / secs).toFixed(0)} deliveries/s; /api/health n=${drain.n} p50 ${drain.p50.toFixed(2)} ms ` +
    `p99 ${drain.p99.toFixed(2)} ms max ${drain.max.toFixed(2)} ms`);
  const m = await srv.req('GET', '/metrics');
  console.log(m.text.split('\n').filter((l) => /^planboard_webhook|^planboard_writer_transactions_total/.test(l)).join('\n'));
} finally {
  agent.destroy();
  await srv.stop();
  rx.close();
}

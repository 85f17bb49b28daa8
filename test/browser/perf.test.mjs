// A 2,000-order board in a real Chromium: initial render time and the cost of applying one
// remote move. The figures are printed as test diagnostics (docs/web.md keeps a copy); the
// bounds asserted here are loose so that a slow CI machine does not fail, a pathological
// regression (e.g. a full re-render per event) does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startServer, SAMPLES } from '../e2e/lib.mjs';
import { launchBrowser, boardAs, domColumns, apiColumns, waitCardAt, assertNoPageErrors } from './helpers.mjs';

const N = 2000;
let srv, browser;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  const csv = execFileSync('python3', [join(SAMPLES, 'gen-orders.py'), String(N)]);
  const r = await srv.req('POST', '/api/orders/import', {
    token: await srv.token('scheduler'), body: csv, headers: { 'content-type': 'text/csv' }, timeout: 30000,
  });
  assert.equal(r.status, 200, r.text.slice(0, 500));
  assert.equal(r.body.created, N);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const max = (xs) => Math.max(...xs);

for (const motion of ['no-preference', 'reduce']) {
test(`a ${N}-order board renders at once and applies a remote move in a few milliseconds (motion: ${motion})`, async (t) => {
  const page = await boardAs(browser, srv, 'scheduler', { reducedMotion: motion });
  const token = await srv.token('scheduler');
  const board = (await srv.board(token)).body;
  const total = board.backlog.length + board.workCentres.reduce((n, w) => n + w.orders.length, 0);
  assert.equal(await page.locator('#board .card').count(), total);
  assert.deepEqual(await domColumns(page), apiColumns(board));
  await page.waitForFunction(() => (window.planboard.timings.renderPainted || []).length > 0);
  const first = await page.evaluate(() => JSON.parse(JSON.stringify(window.planboard.timings)));

  // Remote moves (another client over REST): the first card of a big column to the middle of
  // another one, ten times; each time the card must arrive where the server put it.
  const wcs = board.workCentres.map((w) => w.id);
  const moves = 10;
  for (let i = 0; i < moves; i++) {
    const b = (await srv.board(token)).body;
    const from = b.workCentres[i % wcs.length];
    const to = b.workCentres[(i + 2) % wcs.length];
    const id = from.orders[0].id;
    const pos = Math.floor(to.orders.length / 2);
    const r = await srv.req('PUT', `/api/orders/${id}/move`, { token, json: { toWorkCentreId: to.id, position: pos } });
    assert.equal(r.status, 200, r.text);
    await waitCardAt(page, id, String(to.id), pos);
  }
  assert.deepEqual(await domColumns(page), apiColumns((await srv.board(token)).body));
  const tm = await page.evaluate(() => JSON.parse(JSON.stringify(window.planboard.timings)));
  // order_moved only (the lock events of a REST move without start-move do not exist): the
  // last `moves` apply/eventToDom entries are the moves.
  const apply = tm.apply.slice(-moves), e2d = tm.eventToDom.slice(-moves), ev = tm.event.slice(-moves);
  const figures = {
    motion, orders: total,
    boardFetchMs: first.boardFetch[0], renderMs: first.render[0], renderPaintedMs: first.renderPainted[0],
    moveEventMedianMs: median(ev), moveApplyMedianMs: median(apply), moveApplyMaxMs: max(apply),
    moveEventToDomMedianMs: median(e2d), moveEventToDomMaxMs: max(e2d),
  };
  t.diagnostic(`figures ${JSON.stringify(figures)}`);
  assert.ok(figures.renderMs < 3000, `render ${figures.renderMs} ms`);
  assert.ok(figures.moveApplyMedianMs < 50, `apply ${figures.moveApplyMedianMs} ms`);
  assertNoPageErrors(page);
  await page.context().close();
});
}

// A 2,000-order (or PB_PERF_ORDERS) board in a real Chromium: initial render time and the cost of applying one
// remote move. The figures are printed as test diagnostics (docs/web.md keeps a copy; `make bench`
// is where speed is judged): no time is asserted, so a loaded machine cannot fail the test. What
// is asserted is the shape of the work: a remote move keeps every other card's DOM node (a
// regression to a full re-render per event fails), and the cards end where the server put them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startServer, SAMPLES } from '../e2e/lib.mjs';
import { launchBrowser, openPage, login, domColumns, apiColumns, waitCardAt, assertNoPageErrors, WAIT } from './helpers.mjs';

// PB_PERF_ORDERS=10000 measures the 10,000-order figures of docs/web.md (default 2,000).
const N = Number(process.env.PB_PERF_ORDERS) || 2000;
const T = Math.max(WAIT, N * 6);   // bound of one wait: a 10,000-order board takes seconds on a busy machine
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
  const page = await openPage(browser, srv, { reducedMotion: motion });
  page.setDefaultTimeout(T);
  await login(page, 'scheduler', { timeout: T });
  const token = await srv.token('scheduler');
  const board = (await srv.board(token)).body;
  const total = board.backlog.length + board.workCentres.reduce((n, w) => n + w.orders.length, 0);
  assert.equal(await page.locator('#board .card').count(), total);
  assert.deepEqual(await domColumns(page), apiColumns(board));
  await page.waitForFunction(() => (window.planboard.timings.renderPainted || []).length > 0);
  const first = await page.evaluate(() => JSON.parse(JSON.stringify(window.planboard.timings)));
  // Long columns are finished after the first paint (board.js render): the cards built later
  // carry the filters' marks ("Hide complete and cancelled" is on) and their plan positions too.
  const late = await page.evaluate(() => {
    const bad = [];
    for (const list of document.querySelectorAll('#board ol.cards')) {
      [...list.querySelectorAll('.card')].forEach((li, i) => {
        if (li.dataset.position !== String(i)) bad.push(`${li.id} at ${i} says ${li.dataset.position}`);
        if (li.dataset.status === 'complete' && !li.classList.contains('filter-out')) bad.push(`${li.id} complete, shown`);
      });
    }
    return bad;
  });
  assert.deepEqual(late.slice(0, 5), []);

  // Mark every card node; a move may rebuild the moved card, never the others.
  await page.evaluate(() => { for (const el of document.querySelectorAll('#board .card')) el.__pbKept = true; });

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
    await waitCardAt(page, id, String(to.id), pos, T);
  }
  assert.deepEqual(await domColumns(page), apiColumns((await srv.board(token)).body));
  const tm = await page.evaluate(() => JSON.parse(JSON.stringify(window.planboard.timings)));
  // The last `moves` apply/eventToDom entries: the moves' batches and the schedule_updated
  // batches after them (figures as docs/web.md kept them before the split below).
  const apply = tm.apply.slice(-moves), e2d = tm.eventToDom.slice(-moves), ev = tm.event.slice(-moves);
  // Each move is followed by a schedule_updated of the orders whose projection it shifted (SPEC
  // §9), often in a batch of its own: the batches split by kind.
  const applyMove = (tm.applyMove || []).slice(-moves), applySchedule = tm.applySchedule || [];
  const figures = {
    motion, orders: total,
    boardFetchMs: first.boardFetch[0], renderMs: first.render[0], renderPaintedMs: first.renderPainted[0],
    renderCompleteMs: first.renderComplete[0],
    moveEventMedianMs: median(ev), moveApplyMedianMs: median(apply), moveApplyMaxMs: max(apply),
    moveEventToDomMedianMs: median(e2d), moveEventToDomMaxMs: max(e2d),
    applyMoveMedianMs: median(applyMove), applyMoveMaxMs: max(applyMove),
    applyScheduleMedianMs: applySchedule.length ? median(applySchedule) : null, applyScheduleBatches: applySchedule.length,
  };
  t.diagnostic(`figures ${JSON.stringify(figures)}`);
  // Search orders on the big board: typed key by key (debounced), 100 matches marked; then one
  // order number, and Enter focuses that card.
  const box = page.getByRole('searchbox', { name: 'Search orders' });
  await box.focus();
  await page.keyboard.type('GEN-00012');
  await page.waitForFunction(() => document.querySelectorAll('#board .card.search-hit').length === 100, null, { timeout: T });
  await box.fill('gen-0001234');
  await page.waitForFunction(() => document.querySelectorAll('#board .card.search-hit').length === 1, null, { timeout: T });
  await box.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement?.querySelector?.('.order-number')?.textContent), 'GEN-0001234');
  const search = await page.evaluate(() => window.planboard.timings.search.slice());
  t.diagnostic(`search ms per debounced query: ${JSON.stringify(search)}`);
  assert.ok(median(search) < 100 * Math.max(1, N / 2000), `a search on ${total} orders took ${median(search)} ms (median)`);
  const kept = await page.evaluate(() => [...document.querySelectorAll('#board .card')].filter((el) => el.__pbKept).length);
  assert.ok(kept >= total - moves, `only ${kept} of ${total} card nodes survived ${moves} remote moves: re-rendered`);
  assertNoPageErrors(page);
  await page.context().close();
});
}

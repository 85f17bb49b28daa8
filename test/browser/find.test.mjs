// "Search orders" (issue 10 item 1, first half) in a real Chromium against the real server:
// matches highlighted, the rest dimmed, Enter jumps (wrapping), `/` focuses, ?q= survives reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../e2e/lib.mjs';
import { launchBrowser, boardAs, assertNoPageErrors, WAIT } from './helpers.mjs';

let srv, browser;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

/** Order numbers of the cards marked as matches, in DOM (board) order. */
const hits = (page) => page.$$eval('#board .card.search-hit .order-number', (els) => els.map((e) => e.textContent));
const focusedNumber = (page) => page.evaluate(() => document.activeElement?.closest?.('.card')?.querySelector('.order-number')?.textContent ?? null);

test('a scheduler finds orders by description, jumps between them with Enter, and the query survives a reload', async () => {
  const page = await boardAs(browser, srv, 'scheduler');
  const box = page.getByRole('searchbox', { name: 'Search orders' });
  assert.equal(await box.count(), 1);
  // MO-2026-013 is cancelled: show complete and cancelled orders (hidden by default, filters.js).
  await page.getByRole('checkbox', { name: 'Hide complete and cancelled' }).uncheck();

  // `/` focuses the box from a card (not typing in a field), and the `/` is not typed into it.
  await page.locator('#board .card').first().focus();
  await page.keyboard.press('/');
  await page.waitForFunction(() => document.activeElement?.id === 'search');
  assert.equal(await box.inputValue(), '');

  // "plate": MO-2026-003 (Control panel front plate, in CUT) and MO-2026-013 (Motor mount plate, backlog).
  await page.keyboard.type('PLATE');
  await page.waitForFunction(() => document.querySelectorAll('#board .card.search-hit').length === 2, null, { timeout: WAIT });
  assert.deepEqual(await hits(page), ['MO-2026-003', 'MO-2026-013']);
  assert.equal(await page.textContent('#search-status'), '2 matches');
  // The rest are dimmed (flat: no card background), the matches are not.
  assert.equal(await page.locator('#board.searching').count(), 1);
  const bg = (sel) => page.$eval(sel, (el) => getComputedStyle(el).backgroundColor);
  const miss = await page.$eval('#board .card:not(.search-hit)', (el) => el.id);
  assert.equal(await bg(`#${miss}`), 'rgba(0, 0, 0, 0)');
  assert.notEqual(await bg('#board .card.search-hit'), 'rgba(0, 0, 0, 0)');
  // The URL holds the query.
  assert.equal(new URL(page.url()).searchParams.get('q'), 'PLATE');

  // Enter: the first match in board order is focused and on screen; again: the next; then it wraps.
  await page.keyboard.press('Enter');
  assert.equal(await focusedNumber(page), 'MO-2026-003');
  assert.equal(await page.textContent('#search-status'), '1 of 2');
  await page.keyboard.press('/');
  await page.keyboard.press('Enter');
  assert.equal(await focusedNumber(page), 'MO-2026-013');
  const inView = await page.$eval('#board .card:focus', (el) => {
    const r = el.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth;
  });
  assert.equal(inView, true);
  await page.keyboard.press('/');
  await page.keyboard.press('Enter');
  assert.equal(await focusedNumber(page), 'MO-2026-003');

  // Typing `/` inside the box is a character, not the shortcut.
  await box.focus();
  await page.keyboard.type('/');
  assert.equal(await box.inputValue(), 'PLATE/');
  await page.keyboard.press('Backspace');

  // Reload: the query comes back from the URL and the same cards are marked.
  await page.reload();
  await page.waitForSelector('#board[aria-busy=false]', { timeout: WAIT });
  assert.equal(await box.inputValue(), 'PLATE');
  await page.waitForFunction(() => document.querySelectorAll('#board .card.search-hit').length === 2, null, { timeout: WAIT });
  assert.deepEqual(await hits(page), ['MO-2026-003', 'MO-2026-013']);

  // A stock code matches too; Escape clears the search and the URL.
  await box.fill('hsg-220');
  await page.waitForFunction(() => document.querySelectorAll('#board .card.search-hit').length === 1, null, { timeout: WAIT });
  assert.deepEqual(await hits(page), ['MO-2026-002']);
  await box.press('Escape');
  await page.waitForFunction(() => !document.querySelector('#board.searching') && !document.querySelector('.card.search-hit'));
  assert.equal(new URL(page.url()).searchParams.get('q'), null);
  assertNoPageErrors(page);
  await page.context().close();
});

test('a card moved by another user is re-marked on arrival, and no match says so', async () => {
  const page = await boardAs(browser, srv, 'viewer');
  const box = page.getByRole('searchbox', { name: 'Search orders' });
  await box.fill('VLV-015');
  await page.waitForFunction(() => document.querySelectorAll('#board .card.search-hit').length === 1, null, { timeout: WAIT });
  const id = Number(await page.$eval('#board .card.search-hit', (el) => el.dataset.orderId));
  // Another user renames it: the description no longer decides, the stock code still does.
  const token = await srv.token('scheduler');
  const o = (await srv.req('GET', `/api/orders/${id}`, { token })).body;
  const r = await srv.req('PUT', `/api/orders/${id}`, { token, json: { version: o.version, stockCode: 'VLV-016' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await page.waitForFunction(() => document.querySelectorAll('#board .card.search-hit').length === 0, null, { timeout: WAIT });
  assert.equal(await page.textContent('#search-status'), 'No match');
  await box.fill('vlv-016');
  await page.waitForFunction((id) => document.getElementById(`order-${id}`)?.classList.contains('search-hit'), id, { timeout: WAIT });
  assertNoPageErrors(page);
  await page.context().close();
});

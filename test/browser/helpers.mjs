// Browser test helpers: Debian's Chromium driven by playwright-core (never downloads a browser),
// against a real planboard started with test/e2e/lib.mjs. Every wait is bounded.
//
// Environment: PB_CHROMIUM (browser binary, default /usr/bin/chromium), plus PB_BIN / PB_SAMPLES
// of test/e2e/lib.mjs.

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { DEMO_PASSWORD } from '../e2e/lib.mjs';

export const CHROMIUM = process.env.PB_CHROMIUM || '/usr/bin/chromium';
export const WAIT = 8000;   // default bound of one wait in a page

/** Launch headless Chromium. Close it with browser.close() in an `after` hook. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 15000,
  });
}

/**
 * A fresh browser context (own sessionStorage, own cookies) with one page on the board URL.
 * Records uncaught page errors in page.pbErrors and sent WebSocket frames in page.pbSent.
 */
export async function openPage(browser, srv, { viewport = { width: 1440, height: 900 }, colorScheme = 'light', reducedMotion = 'reduce' } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, reducedMotion });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.pbErrors = [];
  page.pbSent = [];
  page.on('pageerror', (e) => page.pbErrors.push(e.message));
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => {
      try { page.pbSent.push(JSON.parse(String(f.payload))); } catch { /* not JSON */ }
    });
  });
  await page.goto(`${srv.base}/`, { timeout: WAIT });
  return page;
}

/** Fill and submit the login form; wait until the board is rendered and the socket is live. */
export async function login(page, username, { password = DEMO_PASSWORD, tenant = 'demo', timeout = WAIT } = {}) {
  await page.waitForSelector('#login-form', { state: 'visible' });
  await page.fill('#tenant', tenant);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#login-submit');
  await waitLive(page, timeout);
}

/** Board rendered (aria-busy false) and #connection-status online. */
export async function waitLive(page, timeout = WAIT) {
  await page.waitForSelector('#app-view:not([hidden]) #board[aria-busy=false]', { timeout });
  await page.waitForSelector('#connection-status[data-state=online]', { timeout });
}

/** Open a context, log in as `username`, return the page. */
export async function boardAs(browser, srv, username, opts) {
  const page = await openPage(browser, srv, opts);
  await login(page, username);
  return page;
}

/** {columnKey: [orderId, ...]} as the page's DOM shows it (cards in DOM order). */
export function domColumns(page) {
  return page.evaluate(() => {
    const out = {};
    for (const ol of document.querySelectorAll('#board ol.cards[data-column-id]')) {
      out[ol.dataset.columnId] = [...ol.querySelectorAll(':scope > li.card[data-order-id]')]
        .map((li) => Number(li.dataset.orderId));
    }
    return out;
  });
}

/** The same shape from a GET /api/planning-board body. */
export function apiColumns(board) {
  const out = {};
  for (const wc of board.workCentres) out[String(wc.id)] = wc.orders.map((o) => o.id);
  out.backlog = board.backlog.map((o) => o.id);
  return out;
}

/** Centre of an element's box, asserting it is visible. */
export async function centre(page, selector) {
  const box = await page.locator(selector).boundingBox({ timeout: WAIT });
  assert.ok(box, `no box for ${selector}`);
  return { x: box.x + box.width / 2, y: box.y + box.height / 2, box };
}

/**
 * Press the mouse on a card and move it past the drag threshold (a real pointer drag).
 * Resolves once the page shows the drag ghost.
 */
export async function pickUp(page, orderId) {
  const { x, y } = await centre(page, `#order-${orderId}`);
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x + 12, y + 8, { steps: 3 });
  await page.waitForSelector('.drag-ghost', { timeout: WAIT });
}

/**
 * Carry the held card to column `toKey`, before card `beforeId` (or to the end of the column when
 * null), wait until the placeholder is there, and release the mouse.
 */
export async function dropOn(page, toKey, beforeId) {
  let x, y;
  if (beforeId !== null && beforeId !== undefined) {
    const { box } = await centre(page, `#order-${beforeId}`);
    x = box.x + box.width / 2;
    y = box.y + Math.min(12, box.height / 4);   // upper half: before it
  } else {
    const list = page.locator(`ol.cards[data-column-id="${toKey}"]`);
    const box = await list.boundingBox({ timeout: WAIT });
    x = box.x + box.width / 2;
    y = box.y + box.height - 10;                // below the last card: the end
  }
  await page.mouse.move(x, y, { steps: 10 });
  await page.waitForFunction(({ toKey, beforeId }) => {
    const ph = document.querySelector('.drag-placeholder');
    if (!ph || ph.parentElement.dataset.columnId !== String(toKey)) return false;
    let n = ph.nextElementSibling;
    while (n && (!n.dataset.orderId || n.classList.contains('drag-source'))) n = n.nextElementSibling;
    return beforeId === null ? n === null : n && Number(n.dataset.orderId) === beforeId;
  }, { toKey: String(toKey), beforeId: beforeId ?? null }, { timeout: WAIT });
  await page.mouse.up();
}

/** Wait until the card sits in column `key` at index `index` of the page's DOM. */
export function waitCardAt(page, orderId, key, index, timeout = WAIT) {
  return page.waitForFunction(({ orderId, key, index }) => {
    const li = document.getElementById(`order-${orderId}`);
    if (!li || !li.parentElement || li.parentElement.dataset.columnId !== key) return false;
    const cards = [...li.parentElement.querySelectorAll(':scope > li.card[data-order-id]')];
    return cards.indexOf(li) === index && li.dataset.position === String(index);
  }, { orderId, key: String(key), index }, { timeout });
}

/** Assert the page raised no uncaught errors. */
export function assertNoPageErrors(page) {
  assert.deepEqual(page.pbErrors, [], `uncaught errors in the page: ${page.pbErrors.join('\n')}`);
}

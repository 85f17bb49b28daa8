// Shop-floor details of issue 10 items 3 and 6 in a real Chromium against the real server:
// WIP limits on the column headers (soft: the page asks first; hard: the server's refusal and an
// admin's override), the admin's Limits dialog, the "due soon" cue from the tenant's calendar,
// and the phone layout: compact header, "Move to…" and auto-scroll while dragging.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, until, DEMO_PASSWORD } from '../e2e/lib.mjs';
import {
  launchBrowser, openPage, login, boardAs, pickUp, dropOn, waitCardAt, assertNoPageErrors, WAIT,
} from './helpers.mjs';

let srv, browser, admin, sched, wcs;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  admin = await srv.token('admin');
  sched = await srv.token('scheduler');
  wcs = await srv.workCentres(admin);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

const open = (o) => o.status !== 'complete' && o.status !== 'cancelled';

async function boardNow() {
  const r = await srv.board(sched);
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** Orders of work centre `code` on the server's board (null code: the backlog). */
async function ordersOf(code) {
  const b = await boardNow();
  return code ? b.workCentres.find((w) => w.code === code).orders : b.backlog;
}

async function setLimits(code, json) {
  const r = await srv.req('PUT', `/api/work-centres/${wcs.byCode[code]}`, { token: admin, json });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** An open order that is not in `notIn`, from the first column that has one (a visible card). */
async function openOrderOutside(notIn) {
  const b = await boardNow();
  for (const w of b.workCentres) {
    if (w.code === notIn) continue;
    const o = w.orders.find(open);
    if (o) return { order: o, code: w.code };
  }
  throw new Error('no open order outside ' + notIn);
}

test('WIP on the headers; a drop into a column at its soft limit asks first: Cancel sends nothing, Move anyway moves', async () => {
  const asm = (await ordersOf('ASM')).filter(open).length;
  assert.ok(asm >= 1, 'the demo has open orders in Assembly');
  await setLimits('ASM', { wipLimit: asm, wipPolicy: 'soft' });
  const page = await boardAs(browser, srv, 'scheduler');
  const col = page.locator(`section.column[data-column-id="${wcs.byCode.ASM}"]`);
  await page.waitForFunction((id) => document.querySelector(`section.column[data-column-id="${id}"]`)?.dataset.wipLimit !== undefined, wcs.byCode.ASM);
  assert.equal(await col.getAttribute('data-wip-count'), String(asm));
  assert.match(await col.locator('.wip-text').textContent(), new RegExp(`^WIP ${asm} / ${asm} · `));
  assert.equal(await col.locator('.wip-marker').textContent(), 'At WIP limit');

  const { order } = await openOrderOutside('ASM');
  const sent = () => page.pbSent.filter((m) => m.event === 'move_order' && m.data.orderId === order.id).length;
  await pickUp(page, order.id);
  await dropOn(page, wcs.byCode.ASM, null);
  const dialog = page.getByRole('dialog', { name: 'Over the WIP limit' });
  await dialog.waitFor();
  assert.equal(await page.textContent('#wip-text'),
    `Work centre Assembly is over its WIP limit (${asm + 1} / ${asm}). Move anyway?`);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await page.waitForFunction(() => !document.getElementById('wip-dialog').open);
  const from = String(order.workCentreId);
  await waitCardAt(page, order.id, from, order.position);
  assert.equal(sent(), 0, 'Cancel sends no move');
  assert.equal((await ordersOf('ASM')).some((o) => o.id === order.id), false);

  await pickUp(page, order.id);
  await dropOn(page, wcs.byCode.ASM, null);
  await dialog.waitFor();
  await dialog.getByRole('button', { name: 'Move anyway' }).click();
  await until(async () => (await ordersOf('ASM')).some((o) => o.id === order.id), { timeout: WAIT, what: 'the move on the server' });
  assert.equal(sent(), 1);
  await page.waitForSelector(`section.column[data-column-id="${wcs.byCode.ASM}"][data-over-wip=true]`);
  assert.equal(await col.locator('.wip-marker').textContent(), 'Over WIP limit');
  assertNoPageErrors(page);
  await page.context().close();
});

test('a hard WIP limit: the refusal is shown with its reason; an admin may override', async () => {
  const qc = (await ordersOf('QC')).filter(open).length;
  await setLimits('QC', { wipLimit: Math.max(qc, 1), wipPolicy: 'hard' });
  const { order: probe } = await openOrderOutside('QC');
  // The server enforces SPEC §9's hard limit (store/wip.c): a preview of the move says so.
  assert.ok(qc >= 1, 'Quality Control has open orders in the demo data');
  const pr = await srv.req('POST', '/api/planning-board/preview-move', { token: sched, json: { orderId: probe.id, toWorkCentreId: wcs.byCode.QC } });
  assert.equal(pr.status, 409, pr.text);
  assert.equal(pr.body.reason, 'wip_limit', pr.text);
  for (const who of ['scheduler', 'admin']) {
    const { order } = await openOrderOutside('QC');
    const page = await openPage(browser, srv);
    await login(page, who);
    await pickUp(page, order.id);
    await dropOn(page, wcs.byCode.QC, null);
    const text = `${order.orderNumber} was not moved: it would put work centre Quality Control over its hard WIP limit (${Math.max(qc, 1) + 1} / ${Math.max(qc, 1)}).`;
    await page.waitForSelector('#message:not([hidden])');
    assert.equal(await page.textContent('#message-text'), text);
    await waitCardAt(page, order.id, String(order.workCentreId), order.position);
    if (who === 'scheduler') {
      assert.equal(await page.locator('#wip-dialog[open]').count(), 0, 'no override for a scheduler');
    } else {
      const dialog = page.getByRole('dialog', { name: 'Hard WIP limit' });
      await dialog.waitFor();
      await dialog.getByRole('button', { name: 'Override' }).click();
      await until(async () => (await ordersOf('QC')).some((o) => o.id === order.id), { timeout: WAIT, what: 'the override on the server' });
      await page.waitForSelector(`#order-${order.id}[data-work-centre-id="${wcs.byCode.QC}"]`);
      // the override is audited on the server (SPEC §9)
      const audit = await srv.req('GET', `/api/audit-log?orderId=${order.id}`, { token: sched });
      const moved = (audit.body.data || []).find((e) => e.eventType === 'order_moved');
      assert.ok(moved && JSON.stringify(moved).includes('wipOverride'), audit.text);
    }
    assertNoPageErrors(page);
    await page.context().close();
  }
});

test('an admin sets the WIP limit, policy and default minutes of a work centre from its header', async () => {
  const page = await boardAs(browser, srv, 'admin');
  const other = await boardAs(browser, srv, 'scheduler');
  assert.equal(await other.getByRole('button', { name: 'Limits of Packaging' }).count(), 0, 'schedulers have no Limits button');
  await page.getByRole('button', { name: 'Limits of Packaging' }).click();
  const dialog = page.getByRole('dialog', { name: 'Limits of Packaging' });
  await dialog.waitFor();
  await dialog.getByLabel('WIP limit').fill('0');
  await dialog.getByRole('button', { name: 'Save' }).click();
  assert.match(await page.textContent('#limits-error'), /at least 1/);
  await dialog.getByLabel('WIP limit').fill('7');
  await dialog.getByLabel('Over the limit').selectOption('hard');
  await dialog.getByLabel('Default operation time (minutes)').fill('45');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await page.waitForFunction(() => !document.getElementById('limits-dialog').open);
  const wc = (await srv.workCentres(admin)).list.find((w) => w.code === 'PACK');
  assert.deepEqual([wc.wipLimit, wc.wipPolicy, wc.defaultOperationMinutes], [7, 'hard', 45]);
  // Every board follows through work_centre_updated: the scheduler's header shows the new limit
  // and the queued work at 45 minutes per order.
  const n = (await ordersOf('PACK')).filter(open).length;
  const sel = `section.column[data-column-id="${wcs.byCode.PACK}"] .wip-text`;
  await other.waitForFunction(({ sel, n }) => document.querySelector(sel)?.textContent.startsWith(`WIP ${n} / 7 (hard)`), { sel, n });
  // The hours are the projected schedule's (SPEC §9 work at 45 minutes an order without a step
  // here, not_started and in_progress only), as GET /api/planning-board/stats says.
  const stats = await srv.req('GET', '/api/planning-board/stats', { token: admin });
  const mins = stats.body.data.find((e) => e.code === 'PACK').workMinutes;
  const work = mins < 60 ? `${mins} min` : `${Math.round(mins / 6) / 10} h`;
  if (n > 0) {
    await other.waitForFunction(({ sel, work }) => document.querySelector(sel)?.textContent.endsWith(` · ${work} of work`), { sel, work });
  }
  assertNoPageErrors(page);
  await page.context().close();
  await other.context().close();
});

test('while the board loads the page shows a progress and a sentence, not an empty board', async () => {
  const page = await openPage(browser, srv);
  let release;
  const held = new Promise((r) => { release = r; });
  let asked = false;
  await page.route('**/api/planning-board', async (route) => { asked = true; await held; await route.continue(); });
  await page.fill('#tenant', 'demo');
  await page.fill('#username', 'viewer');
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('#login-submit');
  const status = page.getByRole('status').filter({ hasText: 'Loading the board…' });
  await status.waitFor();
  assert.ok(asked, 'the board request is in flight');
  assert.equal(await page.locator('#board-loading progress').isVisible(), true);
  assert.equal(await page.locator('#board .card').count(), 0);
  release();
  await page.waitForSelector('#board[aria-busy=false] .card');
  await page.waitForSelector('#board-loading', { state: 'hidden' });
  assertNoPageErrors(page);
  await page.context().close();
});

/** YYYY-MM-DD plus n days (civil dates, no zone). */
function plusDays(date, n) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

test('"Due soon" marks an order due on the next working day of the tenant\'s calendar, not one due three working days on', async () => {
  // The tenant in UTC and the SPEC's default calendar, set here so the test reads them back from
  // the server; "today" is the server's now in UTC, taken without the machine's zone or ICU.
  let r = await srv.req('PUT', '/api/tenant', { token: admin, json: { timezone: 'UTC' } });
  assert.equal(r.status, 200, r.text);
  r = await srv.req('PUT', '/api/tenant/calendar', { token: admin, json: {
    shifts: [1, 2, 3, 4, 5].map((weekday) => ({ weekday, start: '08:00', end: '16:00' })), holidays: [],
  } });
  assert.equal(r.status, 200, r.text);
  const cal = (await srv.req('GET', '/api/tenant/calendar', { token: sched })).body;
  const working = (d) => {
    const wd = new Date(`${d}T00:00:00Z`).getUTCDay() || 7;
    return !cal.holidays.includes(d) && cal.shifts.some((s) => s.weekday === wd);
  };
  const today = new Date().toISOString().slice(0, 10);
  const next = [];
  for (let d = plusDays(today, 1); next.length < 3; d = plusDays(d, 1)) if (working(d)) next.push(d);
  const make = async (num, dueDate) => {
    const m = await srv.req('POST', '/api/orders', { token: sched, json: {
      orderNumber: num, stockCode: 'DUE', description: 'due soon check', quantityToMake: 5, dueDate, workCentreId: wcs.byCode.CUT,
    } });
    assert.equal(m.status, 201, m.text);
    return m.body.id;
  };
  const soon = await make('MO-DUE-NEXT', next[0]);
  const later = await make('MO-DUE-THIRD', next[2]);
  for (const colorScheme of ['light', 'dark']) {
    const page = await boardAs(browser, srv, 'scheduler', { colorScheme });
    await page.waitForSelector(`#order-${soon}[data-due-soon=true]`);
    const cue = page.locator(`#order-${soon} .due-soon-marker`);
    assert.equal(await cue.isVisible(), true);
    assert.equal(await cue.textContent(), 'Due soon');
    assert.match(await page.getAttribute(`#order-${soon}`, 'aria-label'), /, due soon/);
    assert.equal(await page.locator(`#order-${later}[data-due-soon]`).count(), 0);
    assert.equal(await page.locator(`#order-${later} .due-soon-marker`).isVisible(), false);
    assertNoPageErrors(page);
    await page.context().close();
  }
});

test('on a phone: a compact header, "Move to…" moves a card, and a drag auto-scrolls the snapping board', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, reducedMotion: 'reduce' });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.pbErrors = [];
  page.on('pageerror', (e) => page.pbErrors.push(e.message));
  await page.goto(`${srv.base}/`);
  await login(page, 'scheduler');
  // Nothing widens the page past the phone's width (a mobile browser would zoom it all out).
  assert.deepEqual(await page.evaluate(() => [window.innerWidth, document.documentElement.scrollWidth]), [390, 390]);
  const header = await page.locator('header.topbar').boundingBox();
  assert.ok(header.height <= 844 * 0.2, `the header is ${header.height} px high`);

  const { order } = await openOrderOutside('SHIP');
  const card = page.locator(`#order-${order.id}`);
  await card.scrollIntoViewIfNeeded();
  await card.getByRole('button', { name: 'Move to…' }).tap();
  const menu = page.getByRole('dialog', { name: `Move ${order.orderNumber} to…` });
  await menu.waitFor();
  await menu.getByRole('button', { name: 'Bottom of Shipping' }).tap();
  await until(async () => (await ordersOf('SHIP')).some((o) => o.id === order.id), { timeout: WAIT, what: 'the move on the server' });
  const ship = await ordersOf('SHIP');
  await waitCardAt(page, order.id, String(wcs.byCode.SHIP), ship.length - 1);
  assert.equal(await menu.isVisible(), false);
  assertNoPageErrors(page);
  await context.close();

  // Auto-scroll: the board snaps to columns on a phone; a drag held at the right edge must still
  // scroll it all the way to the backlog (mouse input, same layout).
  const p2 = await openPage(browser, srv, { viewport: { width: 390, height: 844 } });
  await login(p2, 'scheduler');
  assert.equal(await p2.$eval('#board', (b) => getComputedStyle(b).scrollSnapType), 'x mandatory');
  const first = (await boardNow()).workCentres[0].orders.find(open);
  await pickUp(p2, first.id);
  await p2.mouse.move(385, 420, { steps: 5 });
  await p2.waitForFunction(() => { const b = document.getElementById('board'); return b.scrollLeft + b.clientWidth >= b.scrollWidth - 2; }, null, { timeout: 15000 });
  await dropOn(p2, 'backlog', null);
  await until(async () => (await ordersOf(null)).some((o) => o.id === first.id), { timeout: WAIT, what: 'the drop in the backlog' });
  assertNoPageErrors(p2);
  await p2.context().close();
});

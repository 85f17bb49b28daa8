// The board in a real Chromium against the real server: login, live moves between two
// schedulers, drag locks, viewers. Run: node --test test/browser/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEMO_PASSWORD } from '../e2e/lib.mjs';
import {
  launchBrowser, openPage, login, boardAs, domColumns, apiColumns, pickUp, dropOn, waitCardAt,
  centre, assertNoPageErrors, WAIT,
} from './helpers.mjs';

let srv, browser, wc;

/**
 * A second user with the scheduler's rights: a new scheduler when the users API exists,
 * else the demo admin (admins hold every scheduler permission, SPEC §3).
 */
async function secondScheduler() {
  const admin = await srv.token('admin');
  const r = await srv.req('POST', '/api/users', { token: admin, json: {
    username: 'planner2', email: 'planner2@demo.example', role: 'scheduler',
    firstName: 'Pat', lastName: 'Planner', password: DEMO_PASSWORD,
  } });
  return r.status === 201 ? 'planner2' : 'admin';
}

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  wc = await srv.workCentres(await srv.token('scheduler'));
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test('a scheduler logs in through the form and sees every order of the board, live', async () => {
  const page = await openPage(browser, srv);
  // A wrong password is refused with the page's message, and the form stays.
  await page.fill('#tenant', 'demo');
  await page.fill('#username', 'scheduler');
  await page.fill('#password', 'not-the-password');
  await page.click('#login-submit');
  await page.waitForSelector('#login-error:not([hidden])');
  assert.match(await page.textContent('#login-error'), /Wrong organisation, username or password/);

  await login(page, 'scheduler');
  const board = (await srv.board(await srv.token('scheduler'))).body;
  assert.deepEqual(await domColumns(page), apiColumns(board));
  // Column order: work centres by displayOrder, then the backlog.
  const keys = await page.$$eval('#board > section.column', (s) => s.map((x) => x.dataset.columnId));
  assert.deepEqual(keys, [...board.workCentres.map((w) => String(w.id)), 'backlog']);
  // Card text comes from the order.
  const o = board.workCentres.find((w) => w.orders.length).orders[0];
  const card = page.locator(`#order-${o.id}`);
  assert.equal(await card.locator('.order-number').textContent(), o.orderNumber);
  assert.equal(await card.locator('.stock-code').textContent(), o.stockCode);
  assert.equal(await card.locator('.qty-text').textContent(), `${o.quantityCompleted} / ${o.quantityToMake}`);
  assert.equal(await page.locator('#board.can-edit').count(), 1);
  assert.equal(await page.locator('#online-list li.me').textContent(), 'scheduler (you)');
  assert.equal(await page.isVisible('#import-button'), true);
  assertNoPageErrors(page);
  await page.context().close();
});

test('a card dragged by one scheduler arrives at the same position on the other scheduler\'s board', async () => {
  const other = await secondScheduler();
  const a = await boardAs(browser, srv, 'scheduler');
  const b = await boardAs(browser, srv, other);
  const before = await domColumns(a);
  const cut = String(wc.byCode.CUT), asm = String(wc.byCode.ASM);
  assert.ok(before[cut].length >= 1 && before[asm].length >= 2, JSON.stringify(before));
  const id = before[cut][0];
  const beforeId = before[asm][1];           // drop between the first and second card of Assembly

  await pickUp(a, id);
  await dropOn(a, asm, beforeId);

  // Both pages show it in Assembly at index 1, and both agree with the server, card for card.
  await waitCardAt(a, id, asm, 1);
  await waitCardAt(b, id, asm, 1);
  const board = (await srv.board(await srv.token('scheduler'))).body;
  const want = apiColumns(board);
  assert.deepEqual(want[asm].indexOf(id), 1);
  assert.deepEqual(await domColumns(a), want);
  assert.deepEqual(await domColumns(b), want);
  // The mover sent exactly one move_order with the final position.
  const moves = a.pbSent.filter((m) => m.event === 'move_order');
  assert.equal(moves.length, 1);
  assert.deepEqual({ ...moves[0].data, version: undefined },
    { orderId: id, toWorkCentreId: Number(asm), position: 1, fromWorkCentreId: Number(cut), version: undefined });
  // Headers recounted on the watcher's page.
  assert.equal(await b.getAttribute(`section.column[data-column-id="${asm}"]`, 'data-count'), String(want[asm].length));
  assert.equal(await b.getAttribute(`section.column[data-column-id="${cut}"]`, 'data-count'), String(want[cut].length));
  // Nothing left locked.
  await b.waitForFunction((id) => !document.getElementById(`order-${id}`).classList.contains('locked'), id);
  assertNoPageErrors(a);
  assertNoPageErrors(b);
  await a.context().close();
  await b.context().close();
});

test('while one scheduler holds a card the other sees the lock and cannot pick the card up', async () => {
  const other = await secondScheduler();
  const a = await boardAs(browser, srv, 'scheduler');
  const b = await boardAs(browser, srv, other);
  const cols = await domColumns(a);
  const qc = String(wc.byCode.QC);
  const id = cols[qc][0];

  await pickUp(a, id);                       // hold it: mouse still down
  await a.waitForSelector(`#order-${id}.locked-mine`, { state: 'attached' });
  const card = `#order-${id}`;
  await b.waitForSelector(`${card}.locked[data-locked-by="scheduler"]`);
  assert.equal(await b.textContent(`${card} .lock-info`), 'Being moved by scheduler');
  assert.equal(await b.getAttribute(card, 'aria-disabled'), 'true');

  // Pointer: press and move on the locked card: no drag begins, nothing is sent, a message says why.
  const sentBefore = b.pbSent.length;
  const { x, y } = await centre(b, card);
  await b.mouse.move(x, y);
  await b.mouse.down();
  await b.mouse.move(x + 40, y + 30, { steps: 5 });
  await b.waitForSelector('#message:not([hidden])');
  assert.match(await b.textContent('#message-text'), /is being moved by scheduler/);
  assert.equal(await b.locator('.drag-ghost').count(), 0);
  assert.equal(await b.locator('body.dragging').count(), 0);
  await b.mouse.up();
  // Keyboard: M on the locked card does not open the move dialog.
  await b.focus(card);
  await b.keyboard.press('m');
  await b.waitForTimeout(150);
  assert.equal(await b.locator('#move-dialog[open]').count(), 0);
  assert.deepEqual(b.pbSent.slice(sentBefore).filter((m) => ['start_drag', 'move_order'].includes(m.event)), []);
  // The server agrees: B's move over REST is 423.
  const other_t = await srv.token(other);
  const r = await srv.req('PUT', `/api/orders/${id}/move`, { token: other_t, json: { toWorkCentreId: null } });
  assert.equal(r.status, 423, r.text);

  // A lets go with Escape: the card goes back and B sees it free again.
  await a.keyboard.press('Escape');
  await a.mouse.up();
  await b.waitForSelector(`${card}:not(.locked)`);
  assert.equal(await b.isVisible(`${card} .lock-info`), false);
  await waitCardAt(a, id, qc, 0);
  assert.deepEqual(await domColumns(a), await domColumns(b));
  assertNoPageErrors(a);
  assertNoPageErrors(b);
  await a.context().close();
  await b.context().close();
});

test('a viewer sees the live board without drag handles and cannot drag a card', async () => {
  const v = await boardAs(browser, srv, 'viewer');
  assert.ok(await v.locator('#board .card').count() > 0);
  assert.equal(await v.locator('#board .drag-handle').count(), 0);
  assert.equal(await v.locator('#board.can-edit').count(), 0);
  assert.equal(await v.isVisible('#import-button'), false);
  const before = await domColumns(v);
  const cut = String(wc.byCode.CUT);
  const id = before[cut][0];
  const { x, y } = await centre(v, `#order-${id}`);
  await v.mouse.move(x, y);
  await v.mouse.down();
  await v.mouse.move(x + 300, y + 40, { steps: 8 });
  await v.waitForTimeout(150);
  assert.equal(await v.locator('.drag-ghost').count(), 0);
  await v.mouse.up();
  assert.deepEqual(v.pbSent.filter((m) => ['start_drag', 'move_order'].includes(m.event)), []);
  assert.deepEqual(await domColumns(v), before);

  // And it still sees other people's moves live.
  const s = await srv.token('scheduler');
  const r = await srv.req('PUT', `/api/orders/${id}/move`, { token: s, json: { toWorkCentreId: null, position: 0 } });
  assert.equal(r.status, 200, r.text);
  await waitCardAt(v, id, 'backlog', 0, WAIT);
  assertNoPageErrors(v);
  await v.context().close();
});

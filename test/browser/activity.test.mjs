// Activity panel and Undo (issue 10 item 5), driven as a person would: by the accessible names
// "Activity", "Undo", "Move", "Save", Ctrl+Z, in a real Chromium against the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, until } from '../e2e/lib.mjs';
import { launchBrowser, boardAs, waitCardAt, assertNoPageErrors, WAIT } from './helpers.mjs';

let srv, browser;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

/** The server's view of an order: {order, key (column), index}. */
async function where(orderId) {
  const board = (await srv.board(await srv.token('admin'))).body;
  for (const wc of board.workCentres) {
    const i = wc.orders.findIndex((o) => o.id === orderId);
    if (i >= 0) return { order: wc.orders[i], key: String(wc.id), index: i };
  }
  const i = board.backlog.findIndex((o) => o.id === orderId);
  return i >= 0 ? { order: board.backlog[i], key: 'backlog', index: i } : null;
}

/** Two distinct orders of the demo board, in two different work centres, chosen by index. */
async function demoOrders() {
  const board = (await srv.board(await srv.token('admin'))).body;
  const cols = board.workCentres.filter((w) => w.orders.length >= 2);
  assert.ok(cols.length >= 2, 'the demo has two work centres with two orders each');
  return { board, cols };
}

/** Move a card with the keyboard: focus it, M, choose the column and the position, press Move. */
async function moveWithDialog(page, orderId, columnKey, position1) {
  await page.focus(`#order-${orderId}`);
  await page.keyboard.press('m');
  const dialog = page.getByRole('dialog', { name: /^Move order/ });
  await dialog.waitFor({ state: 'visible' });
  await page.getByLabel('Column').selectOption(String(columnKey));
  await page.getByLabel('Position (1 = top)').fill(String(position1));
  await dialog.getByRole('button', { name: 'Move', exact: true }).click();
}

test('Activity lists a move made in another window, who made it, and the older audit entries', async () => {
  const { cols } = await demoOrders();
  const sched = await boardAs(browser, srv, 'scheduler');
  const admin = await boardAs(browser, srv, 'admin');

  await sched.getByRole('button', { name: 'Activity' }).click();
  const panel = sched.getByRole('complementary', { name: 'Activity' });
  await panel.waitFor({ state: 'visible' });
  assert.equal(await sched.getAttribute('#activity-button', 'aria-expanded'), 'true');
  // The older entries come from the audit log (the demo's moves), newest first.
  await sched.waitForSelector('#activity-list li.older[data-audit-id]');
  const ids = await sched.$$eval('#activity-list li.older', (lis) => lis.map((li) => Number(li.dataset.auditId)));
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');

  const o = cols[0].orders[0];
  const target = cols[1];
  await moveWithDialog(admin, o.id, target.id, 1);
  await waitCardAt(sched, o.id, String(target.id), 0);
  const line = panel.getByRole('listitem').filter({ hasText: `moved ${o.orderNumber}` }).first();
  await line.waitFor({ state: 'visible' });
  const text = await line.textContent();
  assert.match(text, new RegExp(`admin moved ${o.orderNumber} from ${cols[0].name} to ${target.name}, position 1\\.`));
  assert.match(text, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2} /, 'with its time');
  // The admin's drag lock shows too (taken when the Move dialog opened).
  await panel.getByRole('listitem').filter({ hasText: `admin picked up ${o.orderNumber}` }).first().waitFor();

  // An edit in another window: who is filled in from the audit log.
  const tok = await srv.token('admin');
  const cur = await where(o.id);
  const r = await srv.req('PUT', `/api/orders/${o.id}`, { token: tok, json: { version: cur.order.version, description: 'Changed by the admin' } });
  assert.equal(r.status, 200, r.text);
  await sched.waitForFunction((num) => [...document.querySelectorAll('#activity-list li[data-event-type=order_updated]')]
    .some((li) => li.textContent.includes(`admin changed ${num}: description`)), o.orderNumber, { timeout: WAIT });

  // Closing hides the landmark.
  await sched.getByRole('button', { name: 'Activity' }).click();
  await panel.waitFor({ state: 'hidden' });
  assertNoPageErrors(sched);
  assertNoPageErrors(admin);
  await sched.context().close();
  await admin.context().close();
});

test('Undo puts back your own move (button) and your own edit (Ctrl+Z)', async () => {
  const { cols } = await demoOrders();
  const page = await boardAs(browser, srv, 'scheduler');
  const undo = page.getByRole('button', { name: 'Undo' });
  assert.equal(await undo.isDisabled(), true, 'nothing to undo yet');

  const o = cols[1].orders[1];
  const from = await where(o.id);
  const to = cols[0];
  await moveWithDialog(page, o.id, to.id, 1);
  await until(async () => (await where(o.id)).key === String(to.id), { what: 'the move on the server' });
  await page.waitForFunction(() => !document.getElementById('undo-button').disabled);
  await undo.click();
  await until(async () => {
    const w = await where(o.id);
    return w.key === from.key && w.index === from.index;
  }, { what: 'the move undone on the server' });
  await waitCardAt(page, o.id, from.key, from.index);
  await page.waitForFunction((num) => /Undone: /.test(document.getElementById('message-text').textContent) &&
    document.getElementById('message-text').textContent.includes(num), o.orderNumber);

  // An edit saved in the order dialog, then Ctrl+Z on the board.
  const before = (await where(o.id)).order;
  await page.click(`#order-${o.id}`);
  const dialog = page.getByRole('dialog', { name: `Order ${o.orderNumber}` });
  await dialog.waitFor({ state: 'visible' });
  await page.waitForFunction(() => document.getElementById('order-dialog').getAttribute('aria-busy') !== 'true');
  const newPriority = before.priority === 'urgent' ? 'low' : 'urgent';
  await dialog.getByLabel('Priority').selectOption(newPriority);
  await dialog.getByLabel('Description').fill('Edited, then undone');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await page.waitForFunction(() => document.getElementById('order-message').textContent === 'Saved.');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await page.waitForFunction((id) => document.activeElement && document.activeElement.id === `order-${id}`, o.id);
  await until(async () => (await where(o.id)).order.priority === newPriority, { what: 'the edit on the server' });
  await page.keyboard.press('Control+z');
  await until(async () => {
    const now = (await where(o.id)).order;
    return now.priority === before.priority && now.description === before.description;
  }, { what: 'the edit undone on the server' });
  await page.waitForFunction((id) => document.querySelector(`#order-${id} .description`).textContent !== 'Edited, then undone', o.id);
  await page.waitForFunction(() => document.getElementById('undo-button').disabled);
  assertNoPageErrors(page);
  await page.context().close();
});

test('Undo is refused after another user changed the order, and names that user', async () => {
  const { cols } = await demoOrders();
  const page = await boardAs(browser, srv, 'scheduler');
  const o = cols[0].orders[cols[0].orders.length - 1];
  const to = cols[1];
  await moveWithDialog(page, o.id, to.id, 1);
  await until(async () => (await where(o.id)).key === String(to.id), { what: 'the move on the server' });
  await page.waitForFunction(() => !document.getElementById('undo-button').disabled);

  // The admin changes the order in the meantime (its version moves on).
  const tok = await srv.token('admin');
  const cur = await where(o.id);
  const r = await srv.req('PUT', `/api/orders/${o.id}`, { token: tok, json: { version: cur.order.version, description: 'Admin was here' } });
  assert.equal(r.status, 200, r.text);
  await page.waitForFunction(({ id, v }) => document.getElementById(`order-${id}`)?.dataset.version === String(v),
    { id: o.id, v: r.body.version });

  await page.getByRole('button', { name: 'Undo' }).click();
  await page.waitForFunction(() => /Cannot undo/.test(document.getElementById('message-text').textContent));
  const msg = await page.textContent('#message-text');
  assert.match(msg, new RegExp(`Cannot undo your move of ${o.orderNumber}: it was changed by admin since\\.`));
  const after = await where(o.id);
  assert.equal(after.key, String(to.id), 'the order stays where the scheduler put it');
  assert.equal(after.order.version, r.body.version, 'nothing was written');
  assert.equal(await page.isDisabled('#undo-button'), true, 'the refused step is gone');
  assertNoPageErrors(page);
  await page.context().close();
});

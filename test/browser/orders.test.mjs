// Find, filter, open and edit orders (issue 10 items 1 and 2) in a real Chromium against the real
// server, driven the way a person does it: by the controls' accessible names, the mouse and the
// keyboard. Every wait is bounded; no test depends on today's date (due dates are set to 2000 and
// 2999, so "overdue" and "due within N days" hold whatever the day).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, until } from '../e2e/lib.mjs';
import {
  launchBrowser, boardAs, assertNoPageErrors, apiColumns, pickUp, dropOn, waitCardAt, WAIT,
} from './helpers.mjs';

let srv, browser, tok, wc;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  tok = await srv.token('scheduler');
  wc = await srv.workCentres(tok);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

const done = (o) => o.status === 'complete' || o.status === 'cancelled';

async function apiBoard() {
  const r = await srv.board(tok);
  assert.equal(r.status, 200, r.text);
  const orders = [...r.body.workCentres.flatMap((w) => w.orders), ...r.body.backlog];
  return { body: r.body, orders, byId: new Map(orders.map((o) => [o.id, o])) };
}

async function put(id, fields) {
  const o = (await srv.req('GET', `/api/orders/${id}`, { token: tok })).body;
  const r = await srv.req('PUT', `/api/orders/${id}`, { token: tok, json: { version: o.version, ...fields } });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** Ids of the cards a person sees (not filtered out, in a shown column), in board order. */
const shownIds = (page) => page.$$eval('#board section.column:not(.filter-hidden) li.card:not(.filter-out)',
  (els) => els.map((e) => Number(e.dataset.orderId)));
const sorted = (a) => [...a].sort((x, y) => x - y);
const filterBar = (page) => page.getByRole('form', { name: 'Filters' });

async function waitShown(page, want, what) {
  const ids = sorted(want);
  try {
    await page.waitForFunction((ids) => {
      const got = [...document.querySelectorAll('#board section.column:not(.filter-hidden) li.card:not(.filter-out)')]
        .map((e) => Number(e.dataset.orderId)).sort((a, b) => a - b);
      return JSON.stringify(got) === JSON.stringify(ids);
    }, ids, { timeout: WAIT });
  } catch {
    assert.deepEqual(sorted(await shownIds(page)), ids, what);
  }
}

test('filters (status, priority, work centre, overdue, due within N days) are in the URL and survive a reload', async () => {
  const b0 = await apiBoard();
  // Two open urgent orders: one due in 2000 (overdue, due within any N days), one in 2999.
  const open = b0.orders.filter((o) => !done(o));
  const [x, y] = open;
  await put(x.id, { priority: 'urgent', dueDate: '2000-01-02' });
  await put(y.id, { priority: 'urgent', dueDate: '2999-12-31' });
  const { orders, byId } = await apiBoard();

  const page = await boardAs(browser, srv, 'scheduler');
  const bar = filterBar(page);
  // Nothing chosen: every order but the complete and cancelled ones.
  await waitShown(page, orders.filter((o) => !done(o)).map((o) => o.id), 'default view');

  await bar.getByLabel('Priority').selectOption('urgent');
  const urgent = orders.filter((o) => !done(o) && o.priority === 'urgent').map((o) => o.id);
  await waitShown(page, urgent, 'urgent only');
  assert.equal(new URL(page.url()).searchParams.get('priority'), 'urgent');

  await bar.getByRole('checkbox', { name: 'Overdue only' }).check();
  await page.waitForFunction(() => new URL(location.href).searchParams.get('overdue') === '1');
  let shown = await shownIds(page);
  assert.ok(shown.includes(x.id) && !shown.includes(y.id), 'the 2000 order is overdue, the 2999 one is not');
  for (const id of shown) {
    assert.equal(byId.get(id).priority, 'urgent');
    assert.equal(await page.getAttribute(`#order-${id}`, 'data-overdue'), 'true');
  }
  await bar.getByRole('checkbox', { name: 'Overdue only' }).uncheck();

  await bar.getByLabel('Due within (days)').fill('30');
  await bar.getByLabel('Due within (days)').press('Tab');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('due') === '30');
  shown = await shownIds(page);
  assert.ok(shown.includes(x.id) && !shown.includes(y.id), 'due within 30 days: the 2000 order yes, the 2999 one no');

  // Work centre: only x's column is shown.
  const key = x.workCentreId === null ? 'backlog' : String(x.workCentreId);
  await bar.getByLabel('Work centre').selectOption(key);
  await page.waitForFunction(() => document.querySelectorAll('#board section.column:not(.filter-hidden)').length === 1);
  assert.equal(await page.$eval('#board section.column:not(.filter-hidden)', (s) => s.dataset.columnId), key);
  const view = sorted(await shownIds(page));
  assert.ok(view.includes(x.id));

  // A shared link / reload restores the same view and the same controls.
  const url = new URL(page.url());
  assert.deepEqual([url.searchParams.get('priority'), url.searchParams.get('due'), url.searchParams.get('wc')], ['urgent', '30', key]);
  const other = await boardAs(browser, srv, 'viewer');
  await other.goto(page.url());
  await other.waitForSelector('#board[aria-busy=false]');
  await waitShown(other, view, 'the shared URL in another window');
  await page.reload();
  await page.waitForSelector('#board[aria-busy=false]');
  await waitShown(page, view, 'after reload');
  assert.equal(await bar.getByLabel('Priority').inputValue(), 'urgent');
  assert.equal(await bar.getByLabel('Due within (days)').inputValue(), '30');
  assert.equal(await bar.getByLabel('Work centre').inputValue(), key);

  await bar.getByRole('button', { name: 'Clear filters' }).click();
  await waitShown(page, orders.filter((o) => !done(o)).map((o) => o.id), 'cleared');
  for (const p of ['priority', 'due', 'wc', 'overdue', 'status']) assert.equal(new URL(page.url()).searchParams.get(p), null, p);

  // A search counts the matches that filters hide, and Enter jumps over them: "plate" matches
  // MO-2026-003 (open) and MO-2026-013 (cancelled, hidden by default).
  const search = page.getByRole('searchbox', { name: 'Search orders' });
  await search.fill('plate');
  await page.waitForFunction(() => document.getElementById('search-status').textContent === '2 matches, 1 hidden by filters');
  await search.press('Enter');
  await page.waitForFunction(() => document.getElementById('search-status').textContent === '1 of 1, 1 hidden by filters');
  assert.equal(await page.evaluate(() => document.activeElement.querySelector('.order-number')?.textContent), 'MO-2026-003');
  await search.fill('');
  await search.press('Escape');

  // Status: an explicit "Complete" shows complete orders even though they are hidden by default.
  await bar.getByLabel('Status').selectOption('complete');
  await waitShown(page, orders.filter((o) => o.status === 'complete').map((o) => o.id), 'status complete');
  assertNoPageErrors(page);
  assertNoPageErrors(other);
  await page.context().close();
  await other.context().close();
});

test('"Hide complete and cancelled" is on by default and leaves a count per column; unticked, they show', async () => {
  const { body, orders } = await apiBoard();
  const page = await boardAs(browser, srv, 'scheduler');
  const box = filterBar(page).getByRole('checkbox', { name: 'Hide complete and cancelled' });
  assert.equal(await box.isChecked(), true);
  const cols = [...body.workCentres.map((w) => [String(w.id), w.orders]), ['backlog', body.backlog]];
  let total = 0;
  for (const [key, list] of cols) {
    const n = list.filter(done).length;
    total += n;
    const sec = page.locator(`#board section.column[data-column-id="${key}"]`);
    if (!(await sec.count())) continue;
    assert.equal(await sec.getAttribute('data-done-hidden'), String(n), `column ${key}`);
    const note = await sec.locator('.filter-note').textContent();
    if (n) assert.match(note, new RegExp(`\\b${n} complete or cancelled hidden`), `column ${key}`);
    else assert.doesNotMatch(note, /complete or cancelled/);
  }
  assert.ok(total > 0, 'the demo has complete or cancelled orders');
  for (const o of orders.filter(done)) assert.equal(await page.locator(`#order-${o.id}`).isVisible(), false);

  await box.uncheck();
  await waitShown(page, orders.map((o) => o.id), 'all shown');
  assert.equal(new URL(page.url()).searchParams.get('done'), 'show');
  await page.reload();
  await page.waitForSelector('#board[aria-busy=false]');
  assert.equal(await box.isChecked(), false);
  await waitShown(page, orders.map((o) => o.id), 'all shown after reload');
  assertNoPageErrors(page);
  await page.context().close();
});

test('sorting a column by due date or priority changes the view only: positions on the server stay', async () => {
  const before = await apiBoard();
  const cols = apiColumns(before.body);
  const [key] = Object.entries(cols).sort((a, b) => b[1].length - a[1].length)[0];
  const ids = cols[key];
  assert.ok(ids.length >= 3, 'a column with a few orders');
  const page = await boardAs(browser, srv, 'scheduler');
  const domOrder = () => page.$$eval(`ol.cards[data-column-id="${key}"] > li.card`, (els) => els.map((e) => Number(e.dataset.orderId)));
  const name = await page.$eval(`section.column[data-column-id="${key}"] .column-name`, (e) => e.textContent);
  const sort = page.getByRole('combobox', { name: `Sort ${name}` });
  assert.deepEqual(await domOrder(), ids);

  const due = (id) => before.byId.get(id).dueDate || '9999-99-99';
  const byDue = [...ids].sort((a, b) => (due(a) < due(b) ? -1 : due(a) > due(b) ? 1 : ids.indexOf(a) - ids.indexOf(b)));
  await sort.selectOption('due');
  await page.waitForFunction(({ key, want }) => JSON.stringify([...document.querySelectorAll(`ol.cards[data-column-id="${key}"] > li.card`)]
    .map((e) => Number(e.dataset.orderId))) === JSON.stringify(want), { key, want: byDue }, { timeout: WAIT });
  assert.equal(new URL(page.url()).searchParams.get('sort'), `${key}:due`);
  // data-position is still the plan's rank.
  for (const [i, id] of ids.entries()) assert.equal(await page.getAttribute(`#order-${id}`, 'data-position'), String(i));

  const rank = { urgent: 0, high: 1, normal: 2, low: 3 };
  const pr = (id) => rank[before.byId.get(id).priority];
  const byPriority = [...ids].sort((a, b) => pr(a) - pr(b) || ids.indexOf(a) - ids.indexOf(b));
  await sort.selectOption('priority');
  await page.waitForFunction(({ key, want }) => JSON.stringify([...document.querySelectorAll(`ol.cards[data-column-id="${key}"] > li.card`)]
    .map((e) => Number(e.dataset.orderId))) === JSON.stringify(want), { key, want: byPriority }, { timeout: WAIT });

  await page.reload();
  await page.waitForSelector('#board[aria-busy=false]');
  assert.equal(await sort.inputValue(), 'priority');
  assert.deepEqual(await domOrder(), byPriority);
  assert.deepEqual(apiColumns((await apiBoard()).body), cols, 'the plan on the server is unchanged');
  await sort.selectOption('position');
  await page.waitForFunction(() => !new URL(location.href).searchParams.get('sort'));
  assert.deepEqual(await domOrder(), ids);
  assertNoPageErrors(page);
  await page.context().close();
});

/** A non-done order with steps, in a work-centre column. */
async function pickOrder(skip = []) {
  const { orders } = await apiBoard();
  for (const o of orders) {
    if (done(o) || o.workCentreId === null || skip.includes(o.id)) continue;
    const full = (await srv.req('GET', `/api/orders/${o.id}`, { token: tok })).body;
    if (full.steps && full.steps.length) return full;
  }
  throw new Error('no order with steps');
}

const dialogOf = (page, number) => page.getByRole('dialog', { name: new RegExp(number) });

test('a card opens with a click and with Enter: number, fields, steps; Escape closes and the focus is back on the card', async () => {
  const o = await pickOrder();
  const page = await boardAs(browser, srv, 'scheduler');
  await page.click(`#order-${o.id} .description`);
  const dlg = dialogOf(page, o.orderNumber);
  await dlg.waitFor({ state: 'visible' });
  await page.waitForFunction(() => document.getElementById('order-dialog').getAttribute('aria-busy') === 'false');
  assert.equal(await dlg.getByLabel('Description').inputValue(), o.description);
  assert.equal(await dlg.getByLabel('Priority').inputValue(), o.priority);
  assert.equal(await dlg.getByLabel('Status').inputValue(), o.status);
  assert.equal(await dlg.getByLabel('Due date').inputValue(), o.dueDate ? o.dueDate.slice(0, 10) : '');
  assert.equal(await dlg.getByLabel('Quantity to make').inputValue(), String(o.quantityToMake));
  assert.equal(await dlg.getByLabel('Quantity completed').inputValue(), String(o.quantityCompleted));
  assert.equal(await dlg.locator('#order-facts').getByText(o.stockCode).count(), 1);
  const rows = dlg.locator('#order-steps tbody tr');
  assert.equal(await rows.count(), o.steps.length);
  const wcName = new Map(wc.list.map((w) => [w.id, w.name]));
  for (const [i, s] of o.steps.entries()) {
    const text = await rows.nth(i).textContent();
    assert.ok(text.includes(s.operationName), text);
    if (s.workCentreId) assert.ok(text.includes(wcName.get(s.workCentreId)), text);
  }
  await page.keyboard.press('Escape');
  await dlg.waitFor({ state: 'hidden' });
  await page.waitForFunction((id) => document.activeElement?.id === `order-${id}`, o.id);

  // Enter on the focused card opens it again; so does Space.
  await page.keyboard.press('Enter');
  await dlg.waitFor({ state: 'visible' });
  await page.getByRole('button', { name: 'Close' }).click();
  await dlg.waitFor({ state: 'hidden' });
  await page.waitForFunction((id) => document.activeElement?.id === `order-${id}`, o.id);
  await page.keyboard.press(' ');
  await dlg.waitFor({ state: 'visible' });
  await page.keyboard.press('Escape');
  await dlg.waitFor({ state: 'hidden' });
  assertNoPageErrors(page);
  await page.context().close();
});

test('a scheduler edits and saves: the server and another window have the new values; a viewer only reads', async () => {
  const o = await pickOrder();
  const a = await boardAs(browser, srv, 'scheduler');
  const v = await boardAs(browser, srv, 'viewer');
  await a.click(`#order-${o.id} .description`);
  const dlg = dialogOf(a, o.orderNumber);
  await a.waitForFunction(() => document.getElementById('order-dialog').getAttribute('aria-busy') === 'false');
  await dlg.getByLabel('Description').fill('Edited in the dialog');
  await dlg.getByLabel('Priority').selectOption('high');
  await dlg.getByLabel('Due date').fill('2031-05-06');
  await dlg.getByLabel('Quantity completed').fill('1');
  await dlg.getByRole('button', { name: 'Save' }).click();
  await dlg.getByText('Saved.', { exact: true }).waitFor();
  const now = (await srv.req('GET', `/api/orders/${o.id}`, { token: tok })).body;
  assert.equal(now.description, 'Edited in the dialog');
  assert.equal(now.priority, 'high');
  assert.equal(now.dueDate, '2031-05-06');
  assert.equal(now.quantityCompleted, 1);
  assert.equal(now.version, o.version + 1);
  // The other window's card follows live.
  await v.waitForFunction((id) => document.querySelector(`#order-${id} .description`)?.textContent === 'Edited in the dialog', o.id);
  assert.equal(await v.getAttribute(`#order-${o.id}`, 'data-priority'), 'high');

  // The viewer opens it: the values, read-only, no Save.
  await v.click(`#order-${o.id} .description`);
  const vd = dialogOf(v, o.orderNumber);
  await v.waitForFunction(() => document.getElementById('order-dialog').getAttribute('aria-busy') === 'false');
  assert.equal(await vd.getByLabel('Description').inputValue(), 'Edited in the dialog');
  assert.equal(await vd.getByLabel('Description').isEditable(), false);
  assert.equal(await vd.getByLabel('Priority').isEnabled(), false);
  assert.equal(await vd.getByRole('button', { name: 'Save' }).count(), 0);
  assertNoPageErrors(a);
  assertNoPageErrors(v);
  await a.context().close();
  await v.context().close();
});

test('a stale edit answers 409: the dialog shows what changed, and "Reload order" shows the server\'s values', async () => {
  const o = await pickOrder();
  const page = await boardAs(browser, srv, 'scheduler');
  await page.focus(`#order-${o.id}`);
  await page.keyboard.press('Enter');
  const dlg = dialogOf(page, o.orderNumber);
  await page.waitForFunction(() => document.getElementById('order-dialog').getAttribute('aria-busy') === 'false');
  const loaded = (await srv.req('GET', `/api/orders/${o.id}`, { token: tok })).body;
  // Someone else changes it after the dialog was opened.
  const theirs = await put(o.id, { description: 'Changed elsewhere', priority: 'low' });
  await dlg.getByLabel('Quantity to make').fill(String(loaded.quantityToMake + 5));
  await dlg.getByRole('button', { name: 'Save' }).click();
  const conflict = dlg.getByRole('region', { name: 'Someone else changed this order' });
  await conflict.waitFor({ state: 'visible' });
  const row = (field) => conflict.locator(`tr[data-field="${field}"]`);
  assert.match(await row('description').textContent(), /Changed elsewhere \(changed\)/);
  assert.match(await row('priority').textContent(), /Low \(changed\)/);
  assert.equal(await row('quantityToMake').locator('td').first().textContent(), String(loaded.quantityToMake + 5));
  assert.equal(await row('stockCode').count(), 0);
  // Nothing of ours was written.
  const server = (await srv.req('GET', `/api/orders/${o.id}`, { token: tok })).body;
  assert.equal(server.version, theirs.version);
  assert.equal(server.quantityToMake, loaded.quantityToMake);

  await conflict.getByRole('button', { name: 'Reload order' }).click();
  await conflict.waitFor({ state: 'hidden' });
  assert.equal(await dlg.getByLabel('Description').inputValue(), 'Changed elsewhere');
  assert.equal(await dlg.getByLabel('Priority').inputValue(), 'low');
  assert.equal(await dlg.getByLabel('Quantity to make').inputValue(), String(loaded.quantityToMake));
  // Saving again now goes through on the new version.
  await dlg.getByLabel('Quantity to make').fill(String(loaded.quantityToMake + 5));
  await dlg.getByRole('button', { name: 'Save' }).click();
  await dlg.getByText('Saved.', { exact: true }).waitFor();
  assert.equal((await srv.req('GET', `/api/orders/${o.id}`, { token: tok })).body.quantityToMake, loaded.quantityToMake + 5);
  assertNoPageErrors(page);
  await page.context().close();
});

test('History lists who changed the order and shows a move made in another window as it happens', async () => {
  const o = await pickOrder();
  const a = await boardAs(browser, srv, 'scheduler');
  const b = await boardAs(browser, srv, 'admin');
  await a.click(`#order-${o.id} .description`);
  const dlg = dialogOf(a, o.orderNumber);
  const history = dlg.getByRole('list', { name: 'History' });
  await history.locator('li').first().waitFor();
  const n0 = await history.locator('li').count();
  const audit = (await srv.req('GET', `/api/audit-log?orderId=${o.id}&limit=100`, { token: tok })).body;
  assert.equal(n0, Math.min(audit.total, 100));

  // The admin drags it to the end of another work centre in their own window.
  const from = String(o.workCentreId);
  const to = String(wc.list.find((w) => String(w.id) !== from && w.isActive !== false).id);
  await pickUp(b, o.id);
  await dropOn(b, to, null);
  // The drop only sends the move: read the server's board once it has it (it raced the commit).
  let cols;
  await until(async () => (cols = apiColumns((await apiBoard()).body))[to].includes(o.id),
    { what: 'the move on the server' });
  await waitCardAt(b, o.id, to, cols[to].indexOf(o.id));
  const names = new Map(wc.list.map((w) => [String(w.id), w.name]));
  const first = history.locator('li').first();
  await a.waitForFunction(({ want }) => document.querySelector('#order-history li')?.textContent.includes(want),
    { want: `admin moved it from ${names.get(from)} to ${names.get(to)}.` }, { timeout: WAIT });
  assert.equal(await first.getAttribute('data-event-type'), 'order_moved');
  assert.equal(await history.locator('li').count(), n0 + 1);
  // The dialog's facts follow the board too.
  await a.waitForFunction((name) => document.getElementById('order-facts').textContent.includes(name), names.get(to));
  assertNoPageErrors(a);
  assertNoPageErrors(b);
  await a.context().close();
  await b.context().close();
});

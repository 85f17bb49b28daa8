// The projected schedule in the browser (issue 11 item 6, SPEC §9): card finish times and Late
// markers, the drag preview ("Drop here: 1 order becomes late: LINE-X"), and the Timeline view
// (same finish times as the cards, bars that follow a move made in another window, a bar dragged
// to another row moves the order). Independent of today's date and the time of day: the tenant
// works around the clock (working minutes are real minutes), and LINE-X is due the day after
// tomorrow (UTC), so it is on time when it runs first (1 hour) and late behind LINE-BIG (3 days),
// whenever the test runs. Run: node --test test/browser/schedule.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../e2e/lib.mjs';
import { launchBrowser, boardAs, pickUp, centre, assertNoPageErrors, WAIT } from './helpers.mjs';

let srv, browser, admin, scheduler, line, x, big, cut;

const AROUND_THE_CLOCK = [1, 2, 3, 4, 5, 6, 7].map((weekday) => ({ weekday, start: '00:00', end: '00:00' }));
const day = (ms, plus) => new Date(ms + plus * 86400000).toISOString().slice(0, 10);

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  admin = await srv.token('admin');
  scheduler = await srv.token('scheduler');
  let r = await srv.req('PUT', '/api/tenant/calendar', { token: admin, json: { shifts: AROUND_THE_CLOCK } });
  assert.equal(r.status, 200, r.text);
  r = await srv.req('POST', '/api/work-centres', { token: admin, json: { code: 'LINE', name: 'Line one', capacity: 1, displayOrder: 0 } });
  assert.equal(r.status, 201, r.text);
  line = r.body.id;
  cut = (await srv.workCentres(scheduler)).byCode.CUT;
  const board = await srv.board(scheduler);
  assert.equal(board.status, 200, board.text);
  const at = Date.parse(board.body.scheduleAt);
  const create = async (orderNumber, minutes, dueDate) => {
    const c = await srv.req('POST', '/api/orders', { token: scheduler, json: {
      orderNumber, stockCode: 'S', description: 'schedule test', quantityToMake: 10, workCentreId: line, dueDate,
      steps: [{ operationName: 'run', workCentreId: line, plannedDurationMinutes: minutes }] } });
    assert.equal(c.status, 201, c.text);
    return c.body.id;
  };
  x = await create('LINE-X', 60, day(at, 2));          // first: done in an hour, on time
  big = await create('LINE-BIG', 3 * 24 * 60, day(at, 30));
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

async function serverOrder(id) {
  const r = await srv.req('GET', `/api/orders/${id}`, { token: scheduler });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

test('dragging LINE-BIG above LINE-X previews "1 order becomes late: LINE-X"; the drop makes its card Late live', async () => {
  const page = await boardAs(browser, srv, 'scheduler');
  const other = await boardAs(browser, srv, 'admin');
  const before = await serverOrder(x);
  assert.equal(before.late, false, JSON.stringify(before));
  // The cards show the server's projection: finish text, no Late marker.
  for (const p of [page, other]) {
    await p.waitForFunction(({ id, f }) => document.getElementById(`order-${id}`)?.dataset.projectedFinish === f,
      { id: x, f: before.projectedFinish });
    assert.match(await p.textContent(`#order-${x} .projected-finish`), /^Finish \d{1,2} [A-Z][a-z]{2} \d\d:\d\d$/);
    assert.equal(await p.isVisible(`#order-${x} .late-marker`), false);
  }

  await pickUp(page, big);
  const { box } = await centre(page, `#order-${x}`);
  await page.mouse.move(box.x + box.width / 2, box.y + Math.min(12, box.height / 4), { steps: 8 });
  await page.waitForFunction((id) => {
    const ph = document.querySelector('.drag-placeholder');
    return ph && ph.nextElementSibling && ph.nextElementSibling.id === `order-${id}`;
  }, x);
  // The preview is asked over the WebSocket and shown before the drop.
  await page.waitForSelector('#drop-preview:not([hidden])');
  await page.waitForFunction(() => /Drop here: 1 order becomes late: LINE-X\./.test(document.getElementById('drop-preview').textContent));
  assert.equal(await page.getAttribute('#drop-preview', 'data-newly-late'), String(x));
  assert.equal(await page.getAttribute('#drop-preview', 'role'), 'status');
  const asked = page.pbSent.filter((m) => m.event === 'preview_move');
  assert.ok(asked.length >= 1 && asked.every((m) => m.ref && m.data.orderId === big), JSON.stringify(asked));
  assert.ok(asked.some((m) => m.data.toWorkCentreId === line && m.data.position === 0), JSON.stringify(asked));
  assert.equal((await serverOrder(x)).late, false, 'a preview changes nothing');

  await page.mouse.up();
  await page.waitForSelector('#drop-preview', { state: 'hidden' });
  // schedule_updated turns LINE-X late on both pages, with the server's new finish.
  const after = await (async () => {
    for (let i = 0; i < 100; i++) {
      const o = await serverOrder(x);
      if (o.late) return o;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('LINE-X never became late on the server');
  })();
  assert.notEqual(after.projectedFinish, before.projectedFinish);
  for (const p of [page, other]) {
    await p.waitForSelector(`#order-${x}.late[data-late=true] .late-marker:not([hidden])`);
    assert.equal(await p.getAttribute(`#order-${x}`, 'data-projected-finish'), after.projectedFinish);
    assert.equal(await p.textContent(`#order-${x} .late-marker`), 'Late');
    assert.match(await p.getAttribute(`#order-${x}`, 'aria-label'), /, finish .*, late/);
  }
  assertNoPageErrors(page);
  assertNoPageErrors(other);
  await page.context().close();
  await other.context().close();
});

test('the timeline shows the cards\' finish times, follows a move made in another window, and moves a bar dragged to another row', async () => {
  const page = await boardAs(browser, srv, 'scheduler');
  const other = await boardAs(browser, srv, 'admin');
  await page.getByRole('button', { name: 'Timeline' }).click();
  assert.equal(await page.getAttribute('#timeline-button', 'aria-pressed'), 'true');
  await page.waitForSelector(`#timeline .tl-row[data-column-id="${line}"] #tl-bar-${x}`);
  assert.equal(await page.isVisible('#board'), false);
  assert.equal(await page.locator('#timeline .tl-row[data-column-id=backlog]').count(), 0, 'no backlog row');

  // Every bar says the finish its card says, and both are the server's.
  const pairs = await page.$$eval('#timeline .tl-bar[data-order-id]', (bars) => bars.map((b) => ({
    id: Number(b.dataset.orderId), bar: b.querySelector('.tl-finish').textContent, f: b.dataset.projectedFinish,
    card: document.querySelector(`#order-${b.dataset.orderId} .projected-finish`)?.textContent,
    cardF: document.getElementById(`order-${b.dataset.orderId}`)?.dataset.projectedFinish,
    late: b.classList.contains('late'), cardLate: document.getElementById(`order-${b.dataset.orderId}`)?.dataset.late === 'true',
    name: b.getAttribute('aria-label'), focusable: b.tabIndex === 0,
  })));
  assert.ok(pairs.length >= 2, JSON.stringify(pairs));
  const sched = await srv.req('GET', '/api/planning-board/schedule', { token: scheduler });
  assert.equal(sched.status, 200, sched.text);
  const byId = new Map(sched.body.data.map((d) => [d.orderId, d]));
  for (const p of pairs) {
    assert.equal(p.card, `Finish ${p.bar}`, JSON.stringify(p));
    assert.equal(p.f, p.cardF, JSON.stringify(p));
    assert.equal(p.f, byId.get(p.id).projectedFinish, JSON.stringify(p));
    assert.equal(p.late, p.cardLate, JSON.stringify(p));
    assert.equal(p.late, byId.get(p.id).late === true, JSON.stringify(p));
    assert.ok(p.focusable && p.name.includes(`finish ${p.bar}`), JSON.stringify(p));
  }
  const xBar = pairs.find((p) => p.id === x);
  assert.equal(xBar.late, true, 'left late by the first test');
  assert.match(await page.textContent(`#tl-bar-${x}`), /Late/);

  // Another window moves LINE-X back to the top of its work centre (keyboard, Alt+↑).
  const xLeft = () => page.$eval(`#tl-bar-${x}`, (b) => b.getBoundingClientRect().left);
  const bigLeft = () => page.$eval(`#tl-bar-${big}`, (b) => b.getBoundingClientRect().left);
  assert.ok(await xLeft() > await bigLeft());
  await other.focus(`#order-${x}`);
  await other.keyboard.press('Alt+ArrowUp');
  await page.waitForSelector(`#tl-bar-${x}:not(.late)`);
  const moved = await serverOrder(x);
  assert.equal(moved.position, 0);
  await page.waitForFunction(({ id, s }) => document.getElementById(`tl-bar-${id}`).dataset.projectedStart === s,
    { id: x, s: moved.projectedStart });
  assert.ok(await xLeft() < await bigLeft(), 'the bar now runs before LINE-BIG');

  // Dragging the LINE-X bar down to the Cutting row moves the order there (drag lock included).
  const from = await centre(page, `#tl-bar-${x}`);
  const row = await page.locator(`#timeline .tl-track[data-column-id="${cut}"]`).boundingBox();
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(from.x + 4, from.y + 10, { steps: 2 });
  await page.mouse.move(from.x + 4, row.y + row.height / 2, { steps: 8 });
  await other.waitForSelector(`#order-${x}.locked`);   // the other window sees the drag lock
  await page.waitForFunction(() => /Drop here:/.test(document.getElementById('drop-preview').textContent));
  await page.mouse.up();
  await page.waitForSelector(`#timeline .tl-row[data-column-id="${cut}"] #tl-bar-${x}`, { timeout: WAIT });
  assert.equal((await serverOrder(x)).workCentreId, cut);
  await other.waitForFunction(({ id, wc }) => document.getElementById(`order-${id}`)?.dataset.workCentreId === String(wc) &&
    !document.getElementById(`order-${id}`).classList.contains('locked'), { id: x, wc: cut });

  // Back to the board.
  await page.getByRole('button', { name: 'Timeline' }).click();
  await page.waitForSelector('#timeline', { state: 'hidden' });
  assert.equal(await page.isVisible('#board'), true);
  assertNoPageErrors(page);
  assertNoPageErrors(other);
  await page.context().close();
  await other.context().close();
});

test('the board\'s search and filters apply to the timeline: matches ringed, the rest flat, filtered bars and rows gone', async () => {
  const page = await boardAs(browser, srv, 'scheduler');
  await page.getByRole('button', { name: 'Timeline' }).click();
  // LINE-X is in Cutting since the test before, LINE-BIG in Line one.
  await page.waitForSelector(`#timeline .tl-row[data-column-id="${cut}"] #tl-bar-${x}`);
  await page.waitForSelector(`#timeline .tl-row[data-column-id="${line}"] #tl-bar-${big}`);
  const bars = page.locator('#filters');
  assert.equal(await bars.isVisible(), true, 'the filters stay on screen with the Timeline');

  // Search: the match is ringed, the other bars are flat; Escape gives every bar back.
  const box = page.getByRole('searchbox', { name: 'Search orders' });
  await box.fill('line-big');
  await page.waitForSelector(`#timeline.searching #tl-bar-${big}.search-hit`);
  assert.equal(await page.$eval(`#tl-bar-${x}`, (b) => b.classList.contains('search-hit')), false);
  const flat = await page.$eval(`#tl-bar-${x}`, (b) => getComputedStyle(b).borderTopStyle);
  assert.equal(flat, 'dotted');
  await box.press('Escape');
  await page.waitForSelector('#timeline:not(.searching)');
  assert.equal(await page.locator('#timeline .tl-bar.search-hit').count(), 0);

  // Filters: Priority Urgent hides both (normal) orders' bars; the work-centre filter hides the
  // other rows; Clear filters brings them back.
  await bars.getByLabel('Priority').selectOption('urgent');
  await page.waitForFunction(({ a, b }) => !document.getElementById(`tl-bar-${a}`) && !document.getElementById(`tl-bar-${b}`), { a: x, b: big });
  await bars.getByLabel('Work centre').selectOption(String(line));
  await page.waitForSelector(`#timeline .tl-row[data-column-id="${cut}"]`, { state: 'hidden' });
  assert.equal(await page.isVisible(`#timeline .tl-row[data-column-id="${line}"]`), true);
  await bars.getByRole('button', { name: 'Clear filters' }).click();
  await page.waitForSelector(`#timeline .tl-row[data-column-id="${cut}"] #tl-bar-${x}`);
  await page.waitForSelector(`#timeline .tl-row[data-column-id="${line}"] #tl-bar-${big}`);
  assertNoPageErrors(page);
  await page.context().close();
});

test('the column header\'s queued hours are the projected schedule\'s work, live as schedule_updated arrives', async () => {
  const page = await boardAs(browser, srv, 'scheduler');
  // Line one holds LINE-BIG (3 days = 4,320 working minutes of its step there; LINE-X went to
  // Cutting in the timeline test). The page's old estimate (60 default minutes) would say "1 h".
  const stats = async () => {
    const r = await srv.req('GET', '/api/planning-board/stats', { token: scheduler });
    assert.equal(r.status, 200, r.text);
    return new Map(r.body.data.map((e) => [e.workCentreId, e.workMinutes]));
  };
  assert.equal((await stats()).get(line), 3 * 24 * 60);
  const head = `section.column[data-column-id="${line}"]`;
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.queuedSource === 'schedule', head);
  assert.equal(await page.getAttribute(head, 'data-queued-minutes'), '4320');
  assert.match(await page.textContent(`${head} .wip-text`), / · 72 h of work$/);

  // Another client moves LINE-X (1 hour at Line one) back to the top of Line one: the header
  // follows the schedule_updated (72 + 1 h), and Cutting loses LINE-X's minutes.
  const cutBefore = (await stats()).get(cut);
  const r = await srv.req('PUT', `/api/orders/${x}/move`, { token: admin, json: { toWorkCentreId: line, position: 0 } });
  assert.equal(r.status, 200, r.text);
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.queuedMinutes === String(4320 + 60), head);
  assert.match(await page.textContent(`${head} .wip-text`), / · 73 h of work$/);
  const after = await stats();
  assert.equal(after.get(line), 4320 + 60);
  assert.ok(after.get(cut) < cutBefore, JSON.stringify([cutBefore, after.get(cut)]));
  await page.waitForFunction(({ sel, m }) => document.querySelector(sel)?.dataset.queuedMinutes === String(m),
    { sel: `section.column[data-column-id="${cut}"]`, m: after.get(cut) });
  assertNoPageErrors(page);
  await page.context().close();
});

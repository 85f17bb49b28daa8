// Screenshots of the browser board for the docs: docs/board.png (the board), docs/lock.png (a
// card held by another scheduler, as the second one sees it after trying to pick it up) and
// docs/import.png (the import dialog after the dry run of a file with errors) and
// docs/order-dialog.png (an order opened by a scheduler after another user moved it) and
// docs/timeline.png (the Timeline view of the projected schedule, SPEC §9).
// docs/activity.png (the Activity panel after another user's move and edit).
//
// Run from the repository root after `make`:  node scripts/screenshots.mjs [name ...]
// (names such as `activity` write only those pictures; none = all of them).
// Starts its own demo server (test/e2e/lib.mjs) and Debian's Chromium (test/browser/helpers.mjs).

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, SAMPLES } from '../test/e2e/lib.mjs';
import { launchBrowser, boardAs, domColumns, pickUp, centre } from '../test/browser/helpers.mjs';

const DOCS = fileURLToPath(new URL('../docs/', import.meta.url));
const VIEW = { viewport: { width: 1440, height: 860 } };
const ONLY = process.argv.slice(2);
/** Write docs/<name>.png unless other names were asked for. */
async function shot(page, name) {
  if (ONLY.length && !ONLY.includes(name)) return;
  await page.screenshot({ path: join(DOCS, `${name}.png`) });
  console.log(`docs/${name}.png`);
}

const srv = await startServer();
const browser = await launchBrowser();
try {
  const wc = await srv.workCentres(await srv.token('scheduler'));
  const a = await boardAs(browser, srv, 'scheduler', VIEW);
  const b = await boardAs(browser, srv, 'admin', VIEW);
  await a.waitForSelector('#dashboard:not([hidden])');
  await a.waitForFunction(() => document.querySelectorAll('#online-list li').length === 2);
  await shot(a, 'board');

  // The scheduler holds a Quality Control card; the admin tries to pick it up.
  const id = (await domColumns(a))[String(wc.byCode.QC)][0];
  await pickUp(a, id);
  await b.waitForSelector(`#order-${id}.locked`);
  const { x, y } = await centre(b, `#order-${id}`);
  await b.mouse.move(x, y);
  await b.mouse.down();
  await b.mouse.move(x + 30, y + 20, { steps: 4 });
  await b.waitForSelector('#message:not([hidden])');
  await b.mouse.up();
  await b.mouse.move(x + 400, y + 300);   // no hover outline on the card
  await b.waitForTimeout(400);            // the shake is over
  await shot(b, 'lock');
  await a.keyboard.press('Escape');
  await a.mouse.up();

  await a.click('#import-button');
  await a.setInputFiles('#import-file', join(SAMPLES, 'orders-invalid.csv'));
  await a.waitForFunction(() => document.querySelectorAll('#import-errors tbody tr').length > 0);
  await shot(a, 'import');
  await a.click('#import-close');

  // The order dialog: the admin moves an order in progress, the scheduler opens it.
  const board = (await srv.board(await srv.token('scheduler'))).body;
  const o = board.workCentres.flatMap((w) => w.orders).find((x) => x.status === 'in_progress');
  await b.focus(`#order-${o.id}`);
  await b.keyboard.press('Alt+ArrowRight');
  await a.waitForFunction((id) => document.getElementById(`order-${id}`)?.dataset.workCentreId !== undefined &&
    window.planboard.state.orders.get(id).version > 0, o.id);
  await a.waitForFunction(({ id, wc }) => document.getElementById(`order-${id}`)?.dataset.workCentreId !== String(wc),
    { id: o.id, wc: o.workCentreId });
  await a.setViewportSize({ width: 1440, height: 1200 });   // steps and History in one picture
  await a.focus(`#order-${o.id}`);
  await a.keyboard.press('Enter');
  await a.waitForFunction(() => document.querySelectorAll('#order-history li').length > 1);
  await shot(a, 'order-dialog');
  await a.keyboard.press('Escape');

  // Activity: the admin moves another order and edits it; the scheduler's panel tells who did what.
  await a.setViewportSize(VIEW.viewport);
  await a.getByRole('button', { name: 'Activity' }).click();
  await a.waitForSelector('#activity-list li.older');
  const other = board.workCentres[0].orders.find((x) => x.id !== o.id);   // Cutting → Assembly
  await b.focus(`#order-${other.id}`);
  await b.keyboard.press('Alt+ArrowRight');
  await a.waitForFunction((id) => document.querySelector(`#activity-list li[data-event-type=order_moved][data-order-id="${id}"]`), other.id);
  const tok = await srv.token('admin');
  const cur = (await srv.req('GET', `/api/orders/${other.id}`, { token: tok })).body;
  await srv.req('PUT', `/api/orders/${other.id}`, { token: tok, json: { version: cur.version, priority: cur.priority === 'urgent' ? 'high' : 'urgent' } });
  await a.waitForFunction(() => [...document.querySelectorAll('#activity-list li[data-event-type=order_updated] .who')]
    .some((w) => w.textContent === 'admin'));
  await a.mouse.move(5, 5);
  await shot(a, 'activity');

  // The Timeline: one row per work centre, the projected bars over the working week.
  await a.setViewportSize({ width: 1440, height: 860 });
  await a.getByRole('button', { name: 'Activity' }).click();   // close the panel
  await a.click('#timeline-button');
  await a.waitForSelector('#timeline .tl-bar');
  await a.waitForSelector('#timeline .tl-off');          // the calendar's shading is in
  await a.mouse.move(1400, 840);
  await a.screenshot({ path: join(DOCS, 'timeline.png') });
  console.log('docs/timeline.png');
} finally {
  await browser.close();
  await srv.stop();
}

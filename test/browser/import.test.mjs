// CSV import through the page's dialog (file input), in a real Chromium against the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, SAMPLES } from '../e2e/lib.mjs';
import { launchBrowser, boardAs, domColumns, apiColumns, assertNoPageErrors, WAIT } from './helpers.mjs';

let srv, browser;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

const rowsOf = (page, table) => page.$$eval(`#${table} tbody tr`, (trs) => trs.map((tr) => ({
  row: tr.dataset.row, column: tr.dataset.column, cells: [...tr.cells].map((c) => c.textContent),
})));

test('the import dialog shows every dry-run error of a bad file with its row, and imports a good file for everyone', async () => {
  const page = await boardAs(browser, srv, 'scheduler');
  const watcher = await boardAs(browser, srv, 'viewer');
  const cardsBefore = await page.locator('#board .card').count();

  await page.click('#import-button');
  await page.waitForSelector('#import-dialog[open]');
  assert.equal(await page.isDisabled('#import-apply'), true);

  // Bad file: dry run answers 422 with one error on each of rows 3..9; Import stays disabled.
  await page.setInputFiles('#import-file', join(SAMPLES, 'orders-invalid.csv'));
  await page.waitForFunction(() => /error/.test(document.getElementById('import-status').textContent) &&
    document.querySelectorAll('#import-errors tbody tr').length > 0, null, { timeout: WAIT });
  const errors = await rowsOf(page, 'import-errors');
  assert.deepEqual([...new Set(errors.map((e) => Number(e.row)))].sort((a, b) => a - b), [3, 4, 5, 6, 7, 8, 9],
    JSON.stringify(errors));
  for (const e of errors) {
    assert.equal(e.cells[0], e.row);
    assert.ok(e.cells[2].length > 0, `row ${e.row} has a message`);
  }
  const byRow = Object.fromEntries(errors.map((e) => [e.row, e.column]));
  assert.equal(byRow['3'], 'due_date');
  assert.equal(byRow['4'], 'quantity_to_make');
  assert.equal(byRow['5'], 'work_centre_code');
  assert.equal(byRow['6'], 'stock_code');
  assert.equal(byRow['7'], 'priority');
  assert.equal(byRow['8'], 'order_number');
  assert.match(await page.textContent('#import-status'), /nothing would be imported/);
  assert.equal(await page.textContent('#import-rows'), '8');
  assert.equal(await page.textContent('#import-error-count'), String(errors.length));
  assert.equal(await page.isDisabled('#import-apply'), true);
  assert.match(await page.textContent('#import-file-name'), /^orders-invalid\.csv \(\d+ B\)$/);

  // "Skip bad rows" re-checks: 200, 1 to create, 7 skipped, Import enabled.
  await page.check('#import-skip');
  await page.waitForFunction(() => /Check passed/.test(document.getElementById('import-status').textContent));
  assert.equal(await page.textContent('#import-created'), '1');
  assert.equal(await page.textContent('#import-skipped'), '7');
  assert.equal(await page.isEnabled('#import-apply'), true);
  await page.uncheck('#import-skip');
  await page.waitForFunction(() => /nothing would be imported/.test(document.getElementById('import-status').textContent));
  assert.equal(await page.isDisabled('#import-apply'), true);

  // Nothing was written by the dry runs.
  assert.equal(await page.locator('#board .card').count(), cardsBefore);

  // Good file: dry run 200 (5 to create), then Import.
  await page.setInputFiles('#import-file', join(SAMPLES, 'orders-erp-export.csv'));
  await page.waitForFunction(() => /Check passed/.test(document.getElementById('import-status').textContent));
  assert.equal(await page.textContent('#import-created'), '5');
  assert.equal(await page.locator('#import-errors-section').isVisible(), false);
  await page.click('#import-apply');
  await page.waitForFunction(() => /^Imported: 5 created/.test(document.getElementById('import-status').textContent));
  assert.equal(await page.isDisabled('#import-apply'), true);
  await page.click('#import-close');
  assert.equal(await page.locator('#import-dialog[open]').count(), 0);

  // Both boards reload after orders_imported and match the server: J-40004 has no work centre.
  const board = (await srv.board(await srv.token('scheduler'))).body;
  const j4 = board.backlog.find((o) => o.orderNumber === 'J-40004');
  assert.ok(j4, 'J-40004 in the backlog');
  for (const p of [page, watcher]) {
    await p.waitForFunction((n) => document.querySelectorAll('#board .card').length === n, cardsBefore + 5);
    assert.deepEqual(await domColumns(p), apiColumns(board));
    assert.equal(await p.textContent(`#order-${j4.id} .order-number`), 'J-40004');
  }
  const j3 = [...board.workCentres.flatMap((w) => w.orders)].find((o) => o.orderNumber === 'J-40003');
  assert.equal(await watcher.textContent(`#order-${j3.id} .qty-text`), '12 / 60');
  assertNoPageErrors(page);
  assertNoPageErrors(watcher);
  await page.context().close();
  await watcher.context().close();
});

test('the import dialog takes an .xlsx workbook: its dry run shows the sheet\'s rows, a broken one its sentence', async () => {
  const data = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'data');
  const page = await boardAs(browser, srv, 'scheduler');
  await page.click('#import-button');
  await page.waitForSelector('#import-dialog[open]');
  assert.match(await page.getAttribute('#import-file', 'accept'), /\.xlsx/);

  // LibreOffice's save of orders-invalid.csv: the CSV's errors on rows 3..8 (row 9 is the
  // writer's own reading of an unterminated quote: test/data/README.md).
  await page.setInputFiles('#import-file', join(data, 'orders-invalid.lo.xlsx'));
  await page.waitForFunction(() => /error/.test(document.getElementById('import-status').textContent) &&
    document.querySelectorAll('#import-errors tbody tr').length > 0, null, { timeout: WAIT });
  const errors = await rowsOf(page, 'import-errors');
  assert.deepEqual(errors.map((e) => [Number(e.row), e.column]),
    [[3, 'due_date'], [4, 'quantity_to_make'], [5, 'work_centre_code'], [6, 'stock_code'], [7, 'priority'], [8, 'order_number']]);
  assert.equal(await page.textContent('#import-rows'), '8');

  // A file named .xlsx that is no workbook: the server's sentence, Import stays disabled.
  await page.setInputFiles('#import-file', { name: 'orders.xlsx', mimeType: 'application/octet-stream', buffer: Buffer.from('order_number\n') });
  await page.waitForFunction(() => /not a zip/.test(document.getElementById('import-status').textContent), null, { timeout: WAIT });
  assert.equal(await page.isDisabled('#import-apply'), true);
  assertNoPageErrors(page);
  await page.context().close();
});

test('"Export to Excel" downloads every order as an .xlsx that imports back as updates (a viewer can export)', async () => {
  const page = await boardAs(browser, srv, 'viewer');
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: WAIT }),
    page.click('#export-button'),
  ]);
  assert.equal(download.suggestedFilename(), 'orders.xlsx');
  const path = await download.path();
  const bytes = (await import('node:fs')).readFileSync(path);
  assert.equal(bytes.subarray(0, 2).toString('latin1'), 'PK', 'a zip archive');
  await page.waitForFunction(() => /Exported the orders to orders\.xlsx/.test(
    document.getElementById('announcer')?.textContent || document.body.textContent), null, { timeout: WAIT });
  // the workbook is the board: importing it back changes nothing and creates nothing
  const tok = await srv.token('scheduler');
  const n = (await srv.req('GET', '/api/orders?limit=1', { token: tok })).body.total;
  const r = await srv.req('POST', '/api/orders/import?dryRun=true', { token: tok, body: bytes,
    headers: { 'content-type': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.created, 0, r.text);
  assert.equal(r.body.updated, n, r.text);
  assertNoPageErrors(page);
  await page.context().close();
});

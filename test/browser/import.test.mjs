// CSV import through the page's dialog (file input), in a real Chromium against the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, SAMPLES, until } from '../e2e/lib.mjs';
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

test('a re-import of orders-erp-export.csv after a manual move keeps the move; the dry run lists the field changes and "Move orders to the file\'s work centres" re-checks', async () => {
  const csv = (await import('node:fs')).readFileSync(join(SAMPLES, 'orders-erp-export.csv'));
  const tok = await srv.token('admin');
  const first = await srv.req('POST', '/api/orders/import', { token: tok, body: csv, headers: { 'content-type': 'text/csv' } });
  assert.equal(first.status, 200, first.text);
  const wcs = (await srv.req('GET', '/api/work-centres', { token: tok })).body.data;
  const asm = wcs.find((w) => w.code === 'ASM');
  const cut = wcs.find((w) => w.code === 'CUT');
  const find = async (num) => {
    const b = (await srv.board(tok)).body;
    for (const wc of b.workCentres) {
      const i = wc.orders.findIndex((o) => o.orderNumber === num);
      if (i >= 0) return { order: wc.orders[i], wc: wc.id, index: i };
    }
    return null;
  };

  const page = await boardAs(browser, srv, 'scheduler');
  // The scheduler moves J-40001 from Cutting to the top of Assembly with the Move dialog.
  const j1 = await find('J-40001');
  if (j1.wc !== cut.id) {   // an earlier test may have run the file already: put it back first
    const r = await srv.req('PUT', `/api/orders/${j1.order.id}/move`, { token: tok, json: { toWorkCentreId: cut.id } });
    assert.equal(r.status, 200, r.text);
  }
  await page.waitForFunction(({ id, wc }) => document.getElementById(`order-${id}`)?.dataset.workCentreId === String(wc),
    { id: j1.order.id, wc: cut.id });
  await page.focus(`#order-${j1.order.id}`);
  await page.keyboard.press('m');
  const move = page.getByRole('dialog', { name: /^Move order/ });
  await move.waitFor({ state: 'visible' });
  await page.getByLabel('Column').selectOption(String(asm.id));
  await page.getByLabel('Position (1 = top)').fill('1');
  await move.getByRole('button', { name: 'Move', exact: true }).click();
  await page.waitForFunction(({ id, wc }) => document.getElementById(`order-${id}`)?.dataset.workCentreId === String(wc) &&
    document.getElementById(`order-${id}`).dataset.position === '0', { id: j1.order.id, wc: asm.id });
  // Someone changes J-40002 on the board: the file would set its priority back.
  const j2 = await find('J-40002');
  const put = await srv.req('PUT', `/api/orders/${j2.order.id}`, { token: tok, json: { version: j2.order.version, priority: 'urgent', quantityToMake: 150 } });
  assert.equal(put.status, 200, put.text);

  await page.getByRole('button', { name: 'Import CSV…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Import orders from CSV or Excel' });
  await dialog.waitFor({ state: 'visible' });
  const placement = dialog.getByLabel("Move orders to the file's work centres");
  assert.equal(await placement.isChecked(), false, 'keep is the default');
  await page.setInputFiles('#import-file', join(SAMPLES, 'orders-erp-export.csv'));
  await page.waitForFunction(() => /Check passed/.test(document.getElementById('import-status').textContent));
  const changes = () => page.$$eval('#import-changes tbody tr', (trs) => trs.map((tr) => ({
    order: tr.dataset.orderNumber, field: tr.dataset.field, cells: [...tr.cells].map((c) => c.textContent) })));
  let rows = await changes();
  assert.deepEqual(rows.map((r) => [r.order, r.field]).sort(), [['J-40002', 'priority'], ['J-40002', 'quantityToMake']], JSON.stringify(rows));
  const pr = rows.find((r) => r.field === 'priority');
  assert.deepEqual(pr.cells, ['J-40002', 'Priority', 'Urgent', 'High']);
  assert.deepEqual(rows.find((r) => r.field === 'quantityToMake').cells.slice(1), ['Quantity to make', '150', '120']);
  assert.match(await page.textContent('#import-changes-caption'), /1 order$/);
  assert.equal(await page.isEnabled('#import-apply'), true);

  // Ticking the choice re-runs the dry run: J-40001 would go back to Cutting; Import waits for it.
  await placement.check();
  await page.waitForFunction(() => document.querySelector('#import-changes tbody tr[data-field=workCentreId]'));
  rows = await changes();
  assert.deepEqual(rows.find((r) => r.field === 'workCentreId').cells, ['J-40001', 'Work centre', 'Assembly', 'Cutting']);
  await placement.uncheck();
  await page.waitForFunction(() => /Check passed/.test(document.getElementById('import-status').textContent) &&
    !document.querySelector('#import-changes tbody tr[data-field=workCentreId]') &&
    document.querySelectorAll('#import-changes tbody tr').length === 2);
  // The progress bar has ended (not indeterminate) once the check is answered.
  assert.equal(await page.$eval('#import-progress', (p) => p.hidden || p.position === 1), true);

  await dialog.getByRole('button', { name: 'Import', exact: true }).click();
  await page.waitForFunction(() => /^Imported: 0 created, 5 updated/.test(document.getElementById('import-status').textContent));
  const after1 = await find('J-40001');
  assert.equal(after1.wc, asm.id, 'the manual move survived the re-import');
  assert.equal(after1.index, 0);
  assert.equal((await find('J-40002')).order.priority, 'high', 'the file\'s fields were written');
  await page.waitForFunction(({ id, wc }) => document.getElementById(`order-${id}`)?.dataset.workCentreId === String(wc),
    { id: j1.order.id, wc: asm.id });
  assertNoPageErrors(page);
  await page.context().close();
});

test('the import dialog shows the file it checked: a second file replaces the first one\'s check, long warnings wrap, a failed upload ends the progress bar', async () => {
  const page = await boardAs(browser, srv, 'scheduler');
  await page.getByRole('button', { name: 'Import CSV…' }).click();
  await page.waitForSelector('#import-dialog[open]');
  // The first file's check is held on the wire until the second file has been checked.
  let seen = 0;
  let release;
  const gate = new Promise((r) => { release = r; });
  await page.route('**/api/orders/import**', async (route) => {
    if (seen++ === 0) await gate;
    try { await route.continue(); } catch { /* the page aborted it */ }
  });
  await page.setInputFiles('#import-file', join(SAMPLES, 'orders-invalid.csv'));
  await until(() => seen === 1, { what: 'the first check on the wire' });
  await page.setInputFiles('#import-file', join(SAMPLES, 'orders-erp-export.csv'));
  await page.waitForFunction(() => /Check passed/.test(document.getElementById('import-status').textContent));
  release();
  assert.match(await page.textContent('#import-file-name'), /^orders-erp-export\.csv /);
  assert.equal(await page.locator('#import-errors-section').isVisible(), false, 'no report of the first file');
  assert.equal(await page.isEnabled('#import-apply'), true);
  await page.unroute('**/api/orders/import**');

  // A long unknown header without spaces wraps instead of widening the dialog sideways.
  const wide = Buffer.from(`order_number,stock_code,description,quantity_to_make,${'x'.repeat(400)}\nW-1,S,D,1,v\n`);
  await page.setInputFiles('#import-file', { name: 'wide.csv', mimeType: 'text/csv', buffer: wide });
  await page.waitForFunction(() => document.querySelectorAll('#import-warnings tbody tr').length > 0);
  assert.equal(await page.textContent('#import-file-name'), `wide.csv (${wide.length} B)`);
  const wraps = await page.$eval('#import-dialog', (d) => d.scrollWidth <= d.clientWidth);
  assert.equal(wraps, true, 'the dialog does not overflow sideways');

  // A failed upload (the connection dropped under it) ends the progress bar.
  await page.route('**/api/orders/import**', (route) => route.abort('failed'));
  await page.getByRole('button', { name: 'Check again' }).click();
  await page.waitForFunction(() => /failed|network/i.test(document.getElementById('import-status').textContent));
  assert.equal(await page.$eval('#import-progress', (p) => p.hidden), true, 'no endless progress bar');
  await page.unroute('**/api/orders/import**');
  assertNoPageErrors(page);
  await page.context().close();
});

test('"Export CSV" downloads every order as CSV with the import\'s columns (a viewer can export)', async () => {
  const page = await boardAs(browser, srv, 'viewer');
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: WAIT }),
    page.getByRole('button', { name: 'Export CSV' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /\.csv$/);
  const text = (await import('node:fs')).readFileSync(await download.path(), 'utf8');
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).filter(Boolean);
  assert.match(lines[0], /^order_number,stock_code,description,quantity_to_make,/);
  const tok = await srv.token('viewer');
  const n = (await srv.req('GET', '/api/orders?limit=1', { token: tok })).body.total;
  const r = await srv.req('POST', '/api/orders/import?dryRun=true', { token: await srv.token('scheduler'),
    body: Buffer.from(text), headers: { 'content-type': 'text/csv' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.created, 0, r.text);
  assert.equal(r.body.updated, n, r.text);
  assertNoPageErrors(page);
  await page.context().close();
});

test('the import dialog shows the separator: a ";" file checks as "semicolon (detected)"; Comma re-checks with the hint; hidden for .xlsx', async () => {
  const fs = await import('node:fs');
  const data = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'data');
  // the ERP export with ';' for every ',' outside quotes ("Bracket, left hand" stays one field)
  let inq = false, text = '';
  for (const ch of fs.readFileSync(join(SAMPLES, 'orders-erp-export.csv'), 'utf8')) {
    if (ch === '"') inq = !inq;
    text += ch === ',' && !inq ? ';' : ch;
  }
  const semicolonFile = { name: 'orders-semicolon.csv', mimeType: 'text/csv', buffer: Buffer.from(text) };
  const status = () => page.textContent('#import-status');
  const page = await boardAs(browser, srv, 'scheduler');
  await page.click('#import-button');
  await page.waitForSelector('#import-dialog[open]');
  const separator = page.getByLabel('Separator', { exact: true });
  assert.equal(await separator.inputValue(), 'auto');
  assert.equal(await separator.locator('option:checked').textContent(), 'Detect automatically');

  await page.setInputFiles('#import-file', semicolonFile);
  await page.waitForFunction(() => /Check passed/.test(document.getElementById('import-status').textContent), null, { timeout: WAIT });
  assert.equal(await page.textContent('#import-separator'), 'semicolon (detected)');
  assert.equal(await page.locator('#import-errors-section').isVisible(), false);
  assert.equal(await page.isEnabled('#import-apply'), true);

  // Choosing Comma re-checks: the four header errors, each naming the separator to choose.
  await separator.selectOption({ label: 'Comma' });
  await page.waitForFunction(() => /nothing would be imported/.test(document.getElementById('import-status').textContent), null, { timeout: WAIT });
  assert.equal(await page.textContent('#import-separator'), 'comma');
  const header = (await rowsOf(page, 'import-errors')).filter((e) => e.row === '1');
  assert.deepEqual(header.map((e) => e.column).sort(), ['description', 'order_number', 'quantity_to_make', 'stock_code'], await status());
  for (const e of header) assert.match(e.cells[2], /the file looks separated by ';' — choose Semicolon/);
  assert.equal(await page.isDisabled('#import-apply'), true);

  // Semicolon by hand: clean again, shown without "(detected)".
  await separator.selectOption({ label: 'Semicolon' });
  await page.waitForFunction(() => /Check passed/.test(document.getElementById('import-status').textContent), null, { timeout: WAIT });
  assert.equal(await page.textContent('#import-separator'), 'semicolon');
  assert.equal(await page.isEnabled('#import-apply'), true);

  // A workbook has no separator: the choice is hidden and no separator is reported.
  await page.setInputFiles('#import-file', join(data, 'orders-erp-export.lo.xlsx'));
  await page.waitForFunction(() => /Check passed/.test(document.getElementById('import-status').textContent), null, { timeout: WAIT });
  assert.equal(await separator.isVisible(), false);
  assert.equal(await page.locator('#import-separator').count(), 0);
  await page.setInputFiles('#import-file', semicolonFile);
  await page.waitForFunction(() => /Check passed/.test(document.getElementById('import-status').textContent), null, { timeout: WAIT });
  assert.equal(await separator.isVisible(), true);
  assertNoPageErrors(page);
  await page.context().close();
});

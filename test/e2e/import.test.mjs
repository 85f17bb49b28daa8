// CSV import (SPEC §6) with the shared samples (/work/shared/samples/README.md).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, sample, assertError, boardColumns, boardOrders } from './lib.mjs';

let srv, tok = {}, watchers = [], wc;
before(async () => {
  srv = await startServer();
  for (const u of ['scheduler', 'admin', 'viewer']) tok[u] = await srv.token(u);
  wc = await srv.workCentres(tok.scheduler);
  watchers = [await srv.ws(tok.viewer), await srv.ws(tok.admin, { protocol: 'planboard.v1' })];
});
after(async () => {
  if (srv) await srv.stop();
});

/** A dry run's body as the real import would answer it: SPEC §6 adds "changes" and
 * "changesTotal" to a dry run only. */
function asReal(body) {
  const { changes, changesTotal, ...rest } = body;
  assert.ok(Array.isArray(changes) && typeof changesTotal === 'number', `dry run lists changes: ${JSON.stringify(body).slice(0, 500)}`);
  return { ...rest, dryRun: false };
}

function importCsv(buf, query = '', token = tok.scheduler) {
  return srv.req('POST', `/api/orders/import${query}`, { token, body: buf, headers: { 'content-type': 'text/csv' } });
}

function importMultipart(buf, query = '', filename = 'orders.csv') {
  const fd = new FormData();
  fd.append('file', new Blob([buf], { type: 'text/csv' }), filename);
  return srv.req('POST', `/api/orders/import${query}`, { token: tok.scheduler, body: fd });
}

/** Board content without the volatile seq/online parts. */
async function snapshot() {
  const b = await srv.board(tok.scheduler);
  assert.equal(b.status, 200, b.text);
  return { cols: boardColumns(b.body), orders: [...boardOrders(b.body).values()].sort((x, y) => x.id - y.id) };
}

/** orders_imported events seen by every watcher so far (after a ping round-trip). */
async function importedEvents() {
  await srv.settled();                  // PostgreSQL: the import's event follows its answer
  const lists = [];
  for (const w of watchers) {
    assert.equal((await w.request('ping')).event, 'pong');
    lists.push(w.events('orders_imported').map((e) => [e.seq, e.data.created, e.data.updated]));
  }
  for (const l of lists) assert.deepEqual(l, lists[0], 'watchers saw the same orders_imported events');
  return lists[0];
}

function assertResultShape(body) {
  for (const k of ['created', 'updated', 'skipped', 'rows']) assert.equal(typeof body[k], 'number', `${k}: ${JSON.stringify(body)}`);
  assert.ok(Array.isArray(body.errors), JSON.stringify(body));
  assert.ok(Array.isArray(body.warnings), JSON.stringify(body));
  assert.equal(typeof body.dryRun, 'boolean');
  for (const e of [...body.errors, ...body.warnings]) {
    assert.equal(typeof e.row, 'number', JSON.stringify(e));
    assert.ok(e.column === null || typeof e.column === 'string', JSON.stringify(e));
    assert.equal(typeof e.message, 'string');
  }
}

test('orders-invalid.csv with onError=abort: 422 import_failed, errors on rows 3..9, nothing written; dryRun the same', async () => {
  const before0 = await snapshot();
  const ev0 = (await importedEvents()).length;
  const buf = sample('orders-invalid.csv');
  const dry = await importCsv(buf, '?dryRun=true');
  const r = await importCsv(buf);
  for (const x of [r, dry]) {
    assertError(x, 422, 'import_failed');
    assertResultShape(x.body);
    assert.equal(x.body.created, 0);
    assert.equal(x.body.updated, 0);
    assert.equal(x.body.skipped, 0);
    assert.equal(x.body.rows, 8, 'records read, header excluded');
    const rows = [...new Set(x.body.errors.map((e) => e.row))].sort((a, b) => a - b);
    assert.deepEqual(rows, [3, 4, 5, 6, 7, 8, 9], JSON.stringify(x.body.errors));
    const cols = (row) => x.body.errors.filter((e) => e.row === row).map((e) => e.column);
    assert.ok(cols(3).includes('due_date'), `row 3 impossible date: ${JSON.stringify(cols(3))}`);
    assert.ok(cols(4).includes('quantity_to_make'), `row 4 negative quantity: ${JSON.stringify(cols(4))}`);
    assert.ok(cols(5).includes('work_centre_code'), `row 5 unknown work centre: ${JSON.stringify(cols(5))}`);
    // issue 10 item 4: the error names the valid codes (the active work centres, in display order)
    const active = (await srv.req('GET', '/api/work-centres', { token: tok.scheduler })).body.data
      .filter((w) => w.isActive !== false).map((w) => w.code);
    assert.equal(x.body.errors.find((e) => e.row === 5 && e.column === 'work_centre_code').message,
      `unknown work centre code "NOPE"; valid codes: ${active.join(', ')}`);
    assert.ok(cols(6).includes('stock_code'), `row 6 missing stock code: ${JSON.stringify(cols(6))}`);
    assert.ok(cols(7).includes('priority'), `row 7 unknown priority: ${JSON.stringify(cols(7))}`);
    assert.ok(cols(8).includes('order_number'), `row 8 duplicate order number: ${JSON.stringify(cols(8))}`);
    assert.ok(cols(9).includes(null), `row 9 unterminated quote has column null: ${JSON.stringify(cols(9))}`);
  }
  assert.equal(dry.body.dryRun, true);
  assert.equal(r.body.dryRun, false);
  assert.deepEqual(asReal(dry.body), r.body, 'dryRun answers exactly what the import answers');
  assert.deepEqual(await snapshot(), before0, 'board unchanged');
  const list = await srv.req('GET', '/api/orders?q=MO-BAD', { token: tok.scheduler });
  assert.equal(list.status, 200, list.text);
  assert.equal(list.body.data.length, 0, 'no MO-BAD order written');
  assert.equal((await importedEvents()).length, ev0, 'a failed import broadcasts nothing');
});

test('orders-invalid.csv with onError=skip: created 1, skipped 7; dryRun first answers the same and writes nothing', async () => {
  const before0 = await snapshot();
  const ev0 = (await importedEvents()).length;
  const buf = sample('orders-invalid.csv');
  const dry = await importCsv(buf, '?onError=skip&dryRun=true');
  assert.equal(dry.status, 200, dry.text);
  assert.equal(dry.body.dryRun, true);
  assert.deepEqual(await snapshot(), before0, 'dryRun wrote nothing');
  assert.equal((await importedEvents()).length, ev0, 'a dryRun broadcasts nothing');

  const r = await importCsv(buf, '?onError=skip');
  assert.equal(r.status, 200, r.text);
  assertResultShape(r.body);
  assert.equal(r.body.created, 1);
  assert.equal(r.body.updated, 0);
  assert.equal(r.body.skipped, 7);
  assert.equal(r.body.rows, 8);
  assert.deepEqual([...new Set(r.body.errors.map((e) => e.row))].sort((a, b) => a - b), [3, 4, 5, 6, 7, 8, 9]);
  assert.equal(r.body.dryRun, false);
  assert.deepEqual(asReal(dry.body), r.body, 'dryRun answers exactly what the import answers');

  const list = await srv.req('GET', '/api/orders?q=MO-BAD', { token: tok.scheduler });
  assert.deepEqual(list.body.data.map((o) => o.orderNumber), ['MO-BAD-001']);
  const o = list.body.data[0];
  assert.equal(o.stockCode, 'STK-1');
  assert.equal(o.workCentreId, wc.byCode.CUT);
  // The new order joined the end of CUT.
  const after0 = await snapshot();
  assert.equal(after0.cols[wc.byCode.CUT].at(-1), o.id);
  const evs = await importedEvents();
  assert.equal(evs.length, ev0 + 1, 'exactly one orders_imported');
  assert.deepEqual(evs.at(-1).slice(1), [1, 0]);
});

test('orders-erp-export.csv as raw text/csv: created 5, no errors; again as multipart: updated 5', async () => {
  const ev0 = (await importedEvents()).length;
  const buf = sample('orders-erp-export.csv');
  const dry = await importCsv(buf, '?dryRun=true');
  assert.equal(dry.status, 200, dry.text);
  const r = await importCsv(buf);
  assert.equal(r.status, 200, r.text);
  assertResultShape(r.body);
  assert.equal(r.body.rows, 5);
  assert.equal(r.body.created, 5);
  assert.equal(r.body.updated, 0);
  assert.equal(r.body.skipped, 0);
  assert.deepEqual(r.body.errors, []);
  const headers = ['Job', 'Job Description', 'StockCode', 'QtyToMake', 'QtyManufactured', 'Priority', 'JobDeliveryDate', 'JobStartDate', 'Work Center', 'Operation'];
  for (const w of r.body.warnings) {
    assert.equal(w.row, 1, `only header warnings allowed: ${JSON.stringify(w)}`);
    assert.ok(headers.includes(w.column), `warning names a header as written: ${JSON.stringify(w)}`);
  }
  assert.deepEqual(asReal(dry.body), r.body);
  let evs = await importedEvents();
  assert.equal(evs.length, ev0 + 1, 'exactly one orders_imported for 5 rows');
  assert.deepEqual(evs.at(-1).slice(1), [5, 0]);
  assert.equal(watchers[0].events('order_created').length, 0, 'no per-row events');

  const list = await srv.req('GET', '/api/orders?q=J-4000', { token: tok.scheduler });
  assert.equal(list.status, 200, list.text);
  const byNum = Object.fromEntries(list.body.data.map((o) => [o.orderNumber, o]));
  assert.deepEqual(Object.keys(byNum).sort(), ['J-40001', 'J-40002', 'J-40003', 'J-40004', 'J-40005']);
  assert.equal(byNum['J-40001'].description, 'Bracket, left hand');
  assert.equal(byNum['J-40001'].priority, 'high');
  assert.equal(byNum['J-40001'].stockCode, 'BRK-101');
  assert.equal(byNum['J-40001'].quantityToMake, 120);
  assert.equal(byNum['J-40001'].dueDate, '2026-12-02');
  // The quoted line break is kept (RFC 4180 keeps the CRLF as written; LF is fine too).
  assert.match(byNum['J-40003'].description, /^Cable tray\r?\n\(two-piece\)$/);
  assert.equal(byNum['J-40003'].quantityCompleted, 12);
  assert.equal(byNum['J-40003'].workCentreId, wc.byCode.ASM);
  assert.equal(byNum['J-40004'].workCentreId, null, 'empty work centre = backlog');
  assert.equal(byNum['J-40005'].description, 'Shim 0,5 mm');
  assert.equal(byNum['J-40005'].quantityToMake, 10000);
  assert.equal(byNum['J-40005'].priority, 'urgent');
  const versions = Object.fromEntries(list.body.data.map((o) => [o.orderNumber, o.version]));
  // New orders joined the end of their columns in file order.
  const snap = await snapshot();
  const cut = snap.cols[wc.byCode.CUT];
  assert.deepEqual(cut.slice(-2), [byNum['J-40001'].id, byNum['J-40002'].id]);
  assert.equal(snap.cols.backlog.at(-1), byNum['J-40004'].id);

  const m = await importMultipart(buf, '', 'orders-erp-export.csv');
  assert.equal(m.status, 200, m.text);
  assertResultShape(m.body);
  assert.equal(m.body.created, 0);
  assert.equal(m.body.updated, 5);
  assert.deepEqual(m.body.errors, []);
  const again = await srv.req('GET', '/api/orders?q=J-4000', { token: tok.scheduler });
  for (const o of again.body.data) assert.equal(o.version, versions[o.orderNumber], `unchanged row keeps its version: ${o.orderNumber}`);
  evs = await importedEvents();
  assert.equal(evs.length, ev0 + 2);
  assert.deepEqual(evs.at(-1).slice(1), [0, 5]);
});

test('orders-demo.csv into the demo tenant: upsert updates 15; mode=create answers 422 with 15 "already exists" errors', async () => {
  const buf = sample('orders-demo.csv');
  const ev0 = (await importedEvents()).length;
  const before0 = await snapshot();
  const c = await importCsv(buf, '?mode=create');
  assertError(c, 422, 'import_failed');
  assertResultShape(c.body);
  assert.equal(c.body.rows, 15);
  assert.equal(c.body.created, 0);
  assert.equal(c.body.errors.length, 15, JSON.stringify(c.body.errors));
  assert.deepEqual(c.body.errors.map((e) => e.row).sort((a, b) => a - b), Array.from({ length: 15 }, (_, i) => i + 2));
  for (const e of c.body.errors) {
    assert.match(e.message, /already exists/i);
    assert.equal(e.column, 'order_number');
  }
  assert.deepEqual(await snapshot(), before0);
  assert.equal((await importedEvents()).length, ev0);

  const u = await importCsv(buf, '?mode=upsert');
  assert.equal(u.status, 200, u.text);
  assert.equal(u.body.rows, 15);
  assert.equal(u.body.created, 0);
  assert.equal(u.body.updated, 15);
  assert.deepEqual(u.body.errors, []);
  const list = await srv.req('GET', '/api/orders?q=MO-2026-002', { token: tok.scheduler });
  assert.equal(list.body.data[0].description, 'Aluminium housing, anodised');
  const evs = await importedEvents();
  assert.equal(evs.length, ev0 + 1);
  assert.deepEqual(evs.at(-1).slice(1), [0, 15]);
  // Every column still dense after the upsert.
  await snapshot();
});

test('a missing required column is 422 on row 1 whatever onError says', async () => {
  const csv = 'order_number,description,quantity_to_make\nMO-NOSTOCK-1,No stock code column,5\n';
  for (const q of ['', '?onError=skip']) {
    const r = await importCsv(Buffer.from(csv), q);
    assertError(r, 422, 'import_failed');
    assert.ok(r.body.errors.some((e) => e.row === 1), JSON.stringify(r.body.errors));
    assert.equal(r.body.created, 0);
  }
  const list = await srv.req('GET', '/api/orders?q=MO-NOSTOCK', { token: tok.scheduler });
  assert.equal(list.body.data.length, 0);
});

test('a viewer may not import; a wrong content type is 415', async () => {
  assertError(await importCsv(sample('orders-erp-export.csv'), '', tok.viewer), 403, 'forbidden');
  const r = await srv.req('POST', '/api/orders/import', { token: tok.scheduler, body: 'a,b\n1,2\n', headers: { 'content-type': 'image/png' } });
  assertError(r, 415, 'unsupported_media_type');
});

/** The ERP export with `sep` for every ',' outside quotes (quoted "Bracket, left hand" stays). */
function withSeparator(buf, sep) {
  let inq = false, out = '';
  for (const ch of buf.toString('utf8')) {
    if (ch === '"') inq = !inq;
    out += ch === ',' && !inq ? sep : ch;
  }
  return Buffer.from(out);
}

test('separator (issue 10 item 4): ";" and TAB copies of the ERP export are detected and answer as the "," file does', async () => {
  const comma = await importCsv(sample('orders-erp-export.csv'), '?dryRun=true');
  assert.equal(comma.status, 200, comma.text);
  assert.equal(comma.body.delimiter, 'comma');
  for (const [sep, name] of [[';', 'semicolon'], ['\t', 'tab']]) {
    const buf = withSeparator(sample('orders-erp-export.csv'), sep);
    assert.ok(buf.includes('"Bracket, left hand"') && !buf.includes(',BRK-101'), 'quoted commas kept, others replaced');
    for (const q of ['?dryRun=true', `?dryRun=true&delimiter=${name}`]) {
      const r = await importCsv(buf, q);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.delimiter, name, q);
      assert.deepEqual({ ...r.body, delimiter: 'comma' }, comma.body, `${name} ${q} answers as the comma file`);
    }
    // multipart (the page's upload) detects the same way
    const m = await importMultipart(buf, '?dryRun=true', 'orders.csv');
    assert.equal(m.status, 200, m.text);
    assert.equal(m.body.delimiter, name);
  }
  const real = await importCsv(withSeparator(sample('orders-erp-export.csv'), ';'));
  assert.equal(real.status, 200, real.text);
  assert.equal(real.body.delimiter, 'semicolon');
  assert.equal(real.body.created + real.body.updated, 5);
  const list = await srv.req('GET', '/api/orders?q=J-40001', { token: tok.scheduler });
  assert.equal(list.body.data[0].description, 'Bracket, left hand');
});

test('separator: delimiter=comma forces the old reading of a ";" file, and the errors name ";"', async () => {
  const buf = withSeparator(sample('orders-erp-export.csv'), ';');
  for (const q of ['?delimiter=comma', '?delimiter=comma&dryRun=true&onError=skip']) {
    const r = await importCsv(buf, q);
    assertError(r, 422, 'import_failed');
    assert.equal(r.body.delimiter, 'comma');
    const header = r.body.errors.filter((e) => e.row === 1);
    assert.deepEqual(header.map((e) => e.column).sort(), ['description', 'order_number', 'quantity_to_make', 'stock_code']);
    for (const e of header) assert.match(e.message, /is missing; the file looks separated by ';' — choose Semicolon$/);
  }
  // the "," file with TAB forced names ","
  const t = await importCsv(sample('orders-erp-export.csv'), '?delimiter=tab&dryRun=true');
  assertError(t, 422, 'import_failed');
  assert.equal(t.body.delimiter, 'tab');
  assert.ok(t.body.errors.every((e) => e.row !== 1 || /choose Comma$/.test(e.message)), t.text);
});

test('separator: any other delimiter value is 400 validation_failed naming the field', async () => {
  for (const v of ['semicolon2', ';', 'Comma', '', 'x'.repeat(100)]) {
    const r = await importCsv(sample('orders-erp-export.csv'), `?delimiter=${encodeURIComponent(v)}`);
    assertError(r, 400, 'validation_failed');
    assert.deepEqual(r.body.details.map((d) => d.field), ['delimiter'], r.text);
  }
});

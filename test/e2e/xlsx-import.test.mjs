// .xlsx import (SPEC §10 with the rules of §6): workbooks saved by LibreOffice and by exceljs
// (test/data/, test/data/README.md) give the result of their CSV twins from the shared
// samples; hostile and broken files are answered 413 / 415 / 422 and the server keeps serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, sample, assertError, boardOrders } from './lib.mjs';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const DATA = join(dirname(fileURLToPath(import.meta.url)), '..', 'data');
const data = (name) => readFileSync(join(DATA, name));

let srv, tok;
before(async () => {
  srv = await startServer();
  tok = await srv.token('scheduler');
});
after(async () => {
  if (srv) await srv.stop();
});

function post(body, type, query = '') {
  return srv.req('POST', `/api/orders/import${query}`, { token: tok, body, headers: { 'content-type': type } });
}
const importXlsx = (buf, query = '') => post(buf, XLSX, query);
const importCsv = (buf, query = '') => post(buf, 'text/csv', query);

function importMultipart(buf, filename, type, query = '') {
  const fd = new FormData();
  fd.append('file', new Blob([buf], { type }), filename);
  return srv.req('POST', `/api/orders/import${query}`, { token: tok, body: fd });
}

async function assertServing() {
  const h = await srv.req('GET', '/api/health');
  assert.equal(h.status, 200, 'the server keeps serving');
}

// A CSV record with a quoted line break takes two lines, a sheet row one (SPEC §10: `row` is
// the sheet's row number), and XML turns CRLF in a cell into LF: compare without those. Only
// the CSV answer names its "delimiter" (a workbook has none; the last test checks that).
function comparable(body) {
  const strip = (list) => list.map(({ row, ...rest }) => rest);
  const { changes, delimiter, ...b } = body;
  return { ...b, errors: strip(b.errors), warnings: strip(b.warnings), changes: changes && strip(changes).map((c) => JSON.parse(JSON.stringify(c).replace(/\\r/g, ''))) };
}

for (const writer of ['lo', 'exceljs']) {
  for (const name of ['orders-demo', 'orders-erp-export']) {
    test(`${name}.${writer}.xlsx answers its CSV twin's dry run`, async () => {
      const csv = await importCsv(sample(`${name}.csv`), '?dryRun=true');
      const xl = await importXlsx(data(`${name}.${writer}.xlsx`), '?dryRun=true');
      assert.equal(xl.status, csv.status, xl.text);
      assert.equal(xl.status, 200, xl.text);
      assert.deepEqual(comparable(xl.body), comparable(csv.body));
    });
  }

  test(`orders-invalid.${writer}.xlsx: 422 with the CSV twin's errors on the same rows`, async () => {
    const csv = await importCsv(sample('orders-invalid.csv'));
    const xl = await importXlsx(data(`orders-invalid.${writer}.xlsx`));
    assertError(csv, 422, 'import_failed');
    assertError(xl, 422, 'import_failed');
    assert.equal(xl.body.rows, csv.body.rows);
    assert.equal(xl.body.created, 0);
    // Row 9 of the CSV is an unterminated quote, which a spreadsheet cannot hold: each writer
    // made its own row 9 of it (test/test_xlsx_import.c). Rows 2..8: the same errors.
    const upTo8 = (b) => b.errors.filter((e) => e.row < 9);
    assert.deepEqual(upTo8(xl.body), upTo8(csv.body));
    assert.deepEqual(upTo8(xl.body).map((e) => e.row), [3, 4, 5, 6, 7, 8]);
    await assertServing();
  });
}

test('an imported workbook writes what its CSV twin would: the twin then changes nothing', async () => {
  // the demo tenant holds the demo orders: the workbook updates them all
  let xl = await importXlsx(data('orders-demo.lo.xlsx'));
  assert.equal(xl.status, 200, xl.text);
  assert.equal(xl.body.created + xl.body.updated, 15, xl.text);
  let csv = await importCsv(sample('orders-demo.csv'), '?dryRun=true&placement=file');
  assert.equal(csv.status, 200, csv.text);
  assert.equal(csv.body.created, 0);
  assert.equal(csv.body.updated, 15);
  assert.deepEqual(csv.body.changes, [], 'the CSV would change nothing the workbook set');
  // the ERP export's orders are new: created by the workbook, only updated by the CSV
  xl = await importXlsx(data('orders-erp-export.exceljs.xlsx'));
  assert.equal(xl.status, 200, xl.text);
  assert.equal(xl.body.created, 5, xl.text);
  csv = await importCsv(sample('orders-erp-export.csv'), '?dryRun=true&placement=file');
  assert.equal(csv.body.created, 0);
  assert.equal(csv.body.updated, 5);
  // J-40003's description has a CRLF in the CSV, an LF in the cell (XML line ends)
  assert.deepEqual(csv.body.changes.map((c) => [c.orderNumber, Object.keys(c.fields)]), [['J-40003', ['description']]]);
  const f = csv.body.changes[0].fields.description;
  assert.equal(f.from.replace(/\r/g, ''), f.to.replace(/\r/g, ''));
  const board = await srv.board(tok);
  const byNumber = new Map([...boardOrders(board.body).values()].map((o) => [o.orderNumber, o]));
  assert.equal(byNumber.get('J-40001').dueDate, '2026-12-02');
  assert.equal(byNumber.get('MO-2026-001').dueDate, '2026-11-10');
});

test('multipart: a .xlsx filename picks the xlsx reader; ?sheet= picks the sheet', async () => {
  const first = await importMultipart(data('features.exceljs.xlsx'), 'Plan.XLSX', XLSX, '?dryRun=true');
  assert.equal(first.status, 200, first.text);
  assert.equal(first.body.rows, 3);
  const later = await importMultipart(data('features.exceljs.xlsx'), 'plan.xlsx', 'application/octet-stream', '?dryRun=true&sheet=Later');
  assert.equal(later.status, 200, later.text);
  assert.equal(later.body.rows, 2);
  const lo = await importXlsx(data('workbook.lo.xlsx'), '?dryRun=true&sheet=Later');
  assert.equal(lo.status, 200, lo.text);
  assert.equal(lo.body.rows, 1);
  const none = await importXlsx(data('workbook.lo.xlsx'), '?sheet=Nope');
  assertError(none, 422, 'import_failed');
  assert.match(none.body.error, /no sheet named "Nope"/);
  const bad = await importXlsx(data('workbook.lo.xlsx'), '?sheet=');
  assertError(bad, 400, 'validation_failed');
});

test('a workbook with row errors and onError=skip imports the valid rows; rows are the sheet\'s', async () => {
  const r = await importXlsx(data('workbook.lo.xlsx'), '?onError=skip&dryRun=true');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.rows, 3);
  assert.equal(r.body.skipped, 1);
  assert.deepEqual(r.body.errors.map((e) => [e.row, e.column]), [[5, 'due_date']]);
});

// ---------------------------------------------------------------- hostile and broken files

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xFFFFFFFF;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >>> 8);
  return (c ^ 0xFFFFFFFF) >>> 0;
}

/** A zip archive of [name, Buffer] entries (deflated), as a workbook writer makes one. */
function zip(entries) {
  const locals = [], centrals = [];
  let offset = 0;
  for (const [name, content] of entries) {
    const n = Buffer.from(name), comp = deflateRawSync(content), crc = crc32(content);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(8, 8);
    lh.writeUInt32LE(crc, 14); lh.writeUInt32LE(comp.length, 18); lh.writeUInt32LE(content.length, 22);
    lh.writeUInt16LE(n.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(8, 10);
    ch.writeUInt32LE(crc, 16); ch.writeUInt32LE(comp.length, 20); ch.writeUInt32LE(content.length, 24);
    ch.writeUInt16LE(n.length, 28); ch.writeUInt32LE(offset, 42);
    locals.push(lh, n, comp);
    centrals.push(ch, n);
    offset += 30 + n.length + comp.length;
  }
  const cd = Buffer.concat(centrals), end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const WB = Buffer.from('<workbook xmlns:r="r"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>');
const RELS = Buffer.from('<Relationships><Relationship Id="rId1" Type="t/worksheet" Target="worksheets/sheet1.xml"/></Relationships>');

test('a zip bomb (a sheet that inflates past any real ratio) is 413, quickly', async () => {
  const sheet = Buffer.alloc(64 << 20, 0x20);
  sheet.write('<worksheet>');
  const bomb = zip([['xl/workbook.xml', WB], ['xl/_rels/workbook.xml.rels', RELS], ['xl/worksheets/sheet1.xml', sheet]]);
  assert.ok(bomb.length < 128 << 10, `bomb is ${bomb.length} bytes`);
  const t0 = Date.now();
  const r = await importXlsx(bomb);
  assertError(r, 413, 'payload_too_large');
  assert.match(r.body.error, /zip bomb/);
  assert.ok(Date.now() - t0 < 5000, 'refused without inflating it all');
  await assertServing();
});

test('an archive of 10,001 entries is 413', async () => {
  const entries = [['xl/workbook.xml', WB]];
  for (let i = 0; i < 10001; i++) entries.push([`e/${i}`, Buffer.alloc(0)]);
  const r = await importXlsx(zip(entries));
  assertError(r, 413, 'payload_too_large');
  assert.match(r.body.error, /entries/);
  await assertServing();
});

test('.xls, encrypted, .ods, other zips and non-zips are 415 naming what they are', async () => {
  const ole = Buffer.alloc(4096);
  Buffer.from([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]).copy(ole);
  let r = await importXlsx(ole);
  assertError(r, 415, 'unsupported_media_type');
  assert.match(r.body.error, /\.xls workbook/);
  Buffer.from('EncryptedPackage', 'utf16le').copy(ole, 2048);
  r = await importMultipart(ole, 'secret.xlsx', XLSX);
  assertError(r, 415, 'unsupported_media_type');
  assert.match(r.body.error, /encrypted/);
  r = await importXlsx(zip([['mimetype', Buffer.from('application/vnd.oasis.opendocument.spreadsheet')], ['content.xml', Buffer.from('<x/>')]]));
  assertError(r, 415, 'unsupported_media_type');
  assert.match(r.body.error, /\.ods/);
  r = await importXlsx(zip([['hello.txt', Buffer.from('hi')]]));
  assertError(r, 415, 'unsupported_media_type');
  r = await importXlsx(sample('orders-demo.csv'));
  assertError(r, 415, 'unsupported_media_type');
  assert.match(r.body.error, /not a zip/);
  await assertServing();
});

test('truncated and damaged workbooks are 422 naming the damage', async () => {
  const good = data('orders-demo.exceljs.xlsx');
  for (const cut of [100, good.length >> 1, good.length - 10]) {
    const r = await importXlsx(good.subarray(0, cut));
    assertError(r, 422, 'import_failed');
    assert.match(r.body.error, /damaged or truncated/);
  }
  const bad = zip([['xl/workbook.xml', WB], ['xl/_rels/workbook.xml.rels', RELS], ['xl/worksheets/sheet1.xml', Buffer.from('<worksheet><sheetData><row>')]]);
  const r = await importXlsx(bad);
  assertError(r, 422, 'import_failed');
  assert.match(r.body.error, /not well-formed XML/);
  await assertServing();
});

test('a workbook over max_upload is 413 before it is read', async () => {
  const big = Buffer.alloc(11 << 20, 0x41);
  const r = await importXlsx(big).catch((e) => ({ status: 'reset', e }));
  if (r.status !== 'reset') assertError(r, 413, 'payload_too_large');
  await assertServing();
});

// ---------------------------------------------------------------- export (SPEC §10)

test('GET /api/orders/export?format=xlsx round-trips through import: updated = N, created = 0, nothing changes', async () => {
  const viewer = await srv.token('viewer');
  const r = await fetch(`${srv.base}/api/orders/export?format=xlsx`, { headers: { authorization: `Bearer ${viewer}` } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), XLSX);
  assert.match(r.headers.get('content-disposition'), /orders\.xlsx/);
  const wb = Buffer.from(await r.arrayBuffer());
  assert.equal(wb.subarray(0, 2).toString(), 'PK');
  const csv = await srv.req('GET', '/api/orders/export', { token: viewer });
  const n = csv.text.trim().split('\r\n').length - 1;
  assert.ok(n >= 15, `${n} orders`);
  const dry = await importXlsx(wb, '?dryRun=true&placement=file&sheet=Orders');
  assert.equal(dry.status, 200, dry.text);
  assert.equal(dry.body.created, 0);
  assert.equal(dry.body.updated, n);
  assert.deepEqual(dry.body.changes, [], 'every field reads back as exported');
  assert.deepEqual(dry.body.warnings, []);
  const real = await importXlsx(wb);
  assert.equal(real.status, 200, real.text);
  assert.deepEqual([real.body.created, real.body.updated], [0, n]);
  const bad = await srv.req('GET', '/api/orders/export?format=ods', { token: viewer });
  assertError(bad, 400, 'validation_failed');
  await assertServing();
});

test('a workbook has no separator: the answer has no "delimiter" and ?delimiter= changes nothing', async () => {
  const plain = await importXlsx(data('orders-erp-export.exceljs.xlsx'), '?dryRun=true');
  assert.equal(plain.status, 200, plain.text);
  assert.equal('delimiter' in plain.body, false, plain.text);
  for (const d of ['semicolon', 'tab', 'comma']) {
    const r = await importXlsx(data('orders-erp-export.exceljs.xlsx'), `?dryRun=true&delimiter=${d}`);
    assert.deepEqual(r.body, plain.body, d);
  }
  assertError(await importXlsx(data('orders-erp-export.exceljs.xlsx'), '?delimiter=pipe'), 400, 'validation_failed');
});

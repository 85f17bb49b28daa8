// Bounded import work and safe export (issue 8 "Trust", items 5 and 7; SPEC §4 input rules, §6):
// hostile uploads answer small, the tenant order cap, placement=keep|file, dry-run changes,
// and the CSV-injection escape of the export that still round-trips through import.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, assertError, boardColumns } from './lib.mjs';

const MiB = 1024 * 1024;
const HEADER = 'order_number,stock_code,description,quantity_to_make,work_centre_code\n';
// The demo tenant has 15 orders; the capped server allows 20.
const CAP = 20;

let srv, capped, tok = {}, ctok = {}, wc;
before(async () => {
  srv = await startServer();
  capped = await startServer({ config: { limits: { max_orders_per_tenant: CAP } } });
  for (const u of ['scheduler', 'admin', 'viewer']) tok[u] = await srv.token(u);
  for (const u of ['scheduler', 'admin']) ctok[u] = await capped.token(u);
  wc = await srv.workCentres(tok.scheduler);
});
after(async () => {
  if (srv) await srv.stop();
  if (capped) await capped.stop();
});

function importCsv(s, body, query = '', token = tok.scheduler) {
  return s.req('POST', `/api/orders/import${query}`, {
    token, body, headers: { 'content-type': 'text/csv' }, timeout: 60000,
  });
}

/** Every import answer carries the totals; the lists never exceed 1,000. */
function assertBounded(r) {
  assert.ok(r.body && typeof r.body === 'object', `JSON answer: ${r.text.slice(0, 300)}`);
  assert.equal(typeof r.body.errorsTotal, 'number', r.text.slice(0, 300));
  assert.equal(typeof r.body.warningsTotal, 'number', r.text.slice(0, 300));
  assert.ok(r.body.errors.length <= 1000, `errors listed: ${r.body.errors.length}`);
  assert.ok(r.body.warnings.length <= 1000, `warnings listed: ${r.body.warnings.length}`);
  assert.ok(r.body.errorsTotal >= r.body.errors.length);
  assert.ok(r.body.warningsTotal >= r.body.warnings.length);
}

async function orderByNumber(s, token, number) {
  const r = await s.req('GET', `/api/orders?q=${encodeURIComponent(number)}&limit=500`, { token });
  assert.equal(r.status, 200, r.text);
  return r.body.data.find((o) => o.orderNumber === number);
}

// ------------------------------------------------------------------ bounded work

test('one 10 MiB line of commas: 422 on row 1 (header over 256 columns), small answer, nothing written', async () => {
  const body = ','.repeat(10 * MiB - 1) + '\n';
  for (const q of ['', '?dryRun=true', '?onError=skip']) {
    const r = await importCsv(srv, body, q);
    assertError(r, 422, 'import_failed');
    assertBounded(r);
    assert.ok(r.text.length < 64 * 1024, `answer is ${r.text.length} bytes`);
    assert.equal(r.body.errorsTotal, 1, JSON.stringify(r.body.errors));
    const [e] = r.body.errors;
    assert.equal(e.row, 1);
    assert.equal(e.column, null);
    assert.match(e.message, /256/);
    assert.equal(r.body.warningsTotal, r.body.warnings.length, 'at most 256 header cells are looked at');
    assert.equal(r.body.created, 0);
  }
});

test('a header of 257 columns is 422 on row 1; 256 columns are read', async () => {
  const names = ['order_number', 'stock_code', 'description', 'quantity_to_make'];
  const wide = (n) => [...names, ...Array.from({ length: n - names.length }, (_, i) => `extra${i}`)].join(',') + '\n';
  const row = 'MO-WIDE-1,S,D,1\n';
  const bad = await importCsv(srv, wide(257) + row, '?dryRun=true');
  assertError(bad, 422, 'import_failed');
  assert.deepEqual(bad.body.errors.map((e) => [e.row, e.column]), [[1, null]]);
  const ok = await importCsv(srv, wide(256) + row, '?dryRun=true');
  assert.equal(ok.status, 200, ok.text.slice(0, 500));
  assert.equal(ok.body.created, 1);
  assert.equal(ok.body.warningsTotal, 252, 'one unknown-column warning per extra header');
});

test('800 KB of empty rows: 1,000 errors listed, errorsTotal counts all, small answer', async () => {
  const n = 72000;
  const body = HEADER + ',,,,,,,,,,\n'.repeat(n);
  assert.ok(body.length > 790000);
  const r = await importCsv(srv, body);
  assertError(r, 422, 'import_failed');
  assertBounded(r);
  assert.equal(r.body.rows, n);
  assert.equal(r.body.errors.length, 1000);
  assert.equal(r.body.errorsTotal, 4 * n, 'four required fields missing on every row');
  assert.ok(r.text.length < 256 * 1024, `answer is ${r.text.length} bytes`);
  // The listed ones are the first found, in file order.
  assert.deepEqual([...new Set(r.body.errors.map((e) => e.row))], Array.from({ length: 250 }, (_, i) => i + 2));

  const skip = await importCsv(srv, body, '?onError=skip&dryRun=true');
  assert.equal(skip.status, 200, skip.text.slice(0, 300));
  assertBounded(skip);
  assert.equal(skip.body.skipped, n);
  assert.equal(skip.body.errorsTotal, 4 * n);
  assert.ok(skip.text.length < 256 * 1024, `answer is ${skip.text.length} bytes`);
});

test('a 10 MiB quoted field and a 10 MiB unquoted field: one row error each, small answer', async () => {
  for (const big of ['"' + 'a'.repeat(10 * MiB - 200) + '"', 'b'.repeat(10 * MiB - 200)]) {
    const r = await importCsv(srv, HEADER + `${big},S,D,1\nMO-AFTER-BIG,S,D,1\n`, '?onError=skip&dryRun=true');
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assertBounded(r);
    assert.ok(r.text.length < 16 * 1024, `answer is ${r.text.length} bytes`);
    assert.deepEqual(r.body.errors.map((e) => [e.row, e.column]), [[2, null]]);
    assert.match(r.body.errors[0].message, /64 KiB/);
    assert.equal(r.body.rows, 2);
    assert.equal(r.body.created, 1, 'the row after the long field is read');
  }
});

test('200,001 rows: 413 payload_too_large; 200,000 are read', async () => {
  const over = await importCsv(srv, HEADER + ',\n'.repeat(200001), '?dryRun=true');
  assertError(over, 413, 'payload_too_large');
  const at = await importCsv(srv, HEADER + ',\n'.repeat(200000), '?dryRun=true');
  assertError(at, 422, 'import_failed');
  assert.equal(at.body.rows, 200000);
  assert.ok(at.text.length < 256 * 1024);
});

// ------------------------------------------------------------------ tenant cap (SPEC §4)

test('tenant cap: a create past [limits] max_orders_per_tenant is 413 naming the limit; deleted orders do not count', async () => {
  const b = await capped.board(ctok.scheduler);
  const have = boardColumns(b.body);
  let n = Object.values(have).reduce((a, l) => a + l.length, 0);
  assert.equal(n, 15, 'demo tenant');
  const create = (num) => capped.req('POST', '/api/orders', {
    token: ctok.scheduler, json: { orderNumber: num, stockCode: 'S', description: 'D', quantityToMake: 1 },
  });
  const ids = [];
  for (; n < CAP; n++) {
    const r = await create(`MO-CAP-${n}`);
    assert.equal(r.status, 201, r.text);
    ids.push(r.body.id);
  }
  const over = await create('MO-CAP-OVER');
  assertError(over, 413, 'payload_too_large');
  assert.match(over.body.error, /max_orders_per_tenant/);
  assert.match(over.body.error, new RegExp(String(CAP)));
  assert.equal(await orderByNumber(capped, ctok.scheduler, 'MO-CAP-OVER'), undefined);

  // A soft-deleted order frees its place.
  const del = await capped.req('DELETE', `/api/orders/${ids.pop()}`, { token: ctok.admin });
  assert.equal(del.status, 204, del.text);
  const again = await create('MO-CAP-OVER');
  assert.equal(again.status, 201, again.text);
  assertError(await create('MO-CAP-OVER2'), 413, 'payload_too_large');
});

test('tenant cap: an import that would create past the limit is 413 (dry run too); updates still import', async () => {
  // The capped tenant is full (previous test).
  const list = await capped.req('GET', '/api/orders?limit=500', { token: ctok.scheduler });
  assert.equal(list.body.total, CAP);
  const one = list.body.data[0];
  const update = HEADER + `${one.orderNumber},${one.stockCode},Updated by a capped import,${one.quantityToMake},\n`;
  const create = HEADER + 'MO-CAPIMP-1,S,D,1\n';
  for (const q of ['?dryRun=true', '']) {
    const r = await importCsv(capped, create + '', q, ctok.scheduler);
    assertError(r, 413, 'payload_too_large');
    assert.match(r.body.error, /max_orders_per_tenant/);
    assert.match(r.body.error, new RegExp(String(CAP)));
  }
  assert.equal(await orderByNumber(capped, ctok.scheduler, 'MO-CAPIMP-1'), undefined);
  const u = await importCsv(capped, update, '', ctok.scheduler);
  assert.equal(u.status, 200, u.text);
  assert.equal(u.body.updated, 1);
  assert.equal((await orderByNumber(capped, ctok.scheduler, one.orderNumber)).description, 'Updated by a capped import');

  // Free two places: an import creating two fits exactly, a third does not.
  for (const o of list.body.data.slice(-2)) {
    assert.equal((await capped.req('DELETE', `/api/orders/${o.id}`, { token: ctok.admin })).status, 204);
  }
  const three = HEADER + 'MO-CAPIMP-1,S,D,1\nMO-CAPIMP-2,S,D,1\nMO-CAPIMP-3,S,D,1\n';
  assertError(await importCsv(capped, three, '?dryRun=true', ctok.scheduler), 413, 'payload_too_large');
  // With onError=skip only valid rows count: the third row is invalid, so two are created.
  const two = HEADER + 'MO-CAPIMP-1,S,D,1\nMO-CAPIMP-2,S,D,1\nMO-CAPIMP-3,S,D,0\n';
  const ok = await importCsv(capped, two, '?onError=skip', ctok.scheduler);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.created, 2);
  const after0 = await capped.req('GET', '/api/orders?limit=1', { token: ctok.scheduler });
  assert.equal(after0.body.total, CAP);
});

// ------------------------------------------------------------------ placement and changes

test('placement=keep (default) leaves a moved order where the board has it; placement=file moves it to the end of the file\'s column', async () => {
  const file = HEADER + 'MO-PLACE-1,PL-1,Placement probe,5,CUT\nMO-PLACE-2,PL-2,Placement probe two,5,CUT\n';
  const first = await importCsv(srv, file);
  assert.equal(first.status, 200, first.text);
  const o = await orderByNumber(srv, tok.scheduler, 'MO-PLACE-1');
  assert.equal(o.workCentreId, wc.byCode.CUT);
  const mv = await srv.req('PUT', `/api/orders/${o.id}/move`, {
    token: tok.scheduler, json: { toWorkCentreId: wc.byCode.ASM, position: 0 },
  });
  assert.equal(mv.status, 200, mv.text);
  const moved = await orderByNumber(srv, tok.scheduler, 'MO-PLACE-1');

  // Re-import of the same file: nothing changes, the scheduler's move survives.
  const dry = await importCsv(srv, file, '?dryRun=true');
  assert.equal(dry.status, 200, dry.text);
  assert.equal(dry.body.updated, 2);
  assert.deepEqual(dry.body.changes, []);
  assert.equal(dry.body.changesTotal, 0);
  const keep = await importCsv(srv, file);
  assert.equal(keep.status, 200, keep.text);
  const kept = await orderByNumber(srv, tok.scheduler, 'MO-PLACE-1');
  assert.equal(kept.workCentreId, wc.byCode.ASM);
  assert.equal(kept.position, 0);
  assert.equal(kept.version, moved.version, 'unchanged: version stays');
  const explicit = await importCsv(srv, file, '?placement=keep');
  assert.equal(explicit.status, 200, explicit.text);
  assert.equal((await orderByNumber(srv, tok.scheduler, 'MO-PLACE-1')).workCentreId, wc.byCode.ASM);

  // placement=file: the dry run names the move, the import makes it (end of CUT).
  const fdry = await importCsv(srv, file, '?placement=file&dryRun=true');
  assert.equal(fdry.status, 200, fdry.text);
  assert.deepEqual(fdry.body.changes, [{
    row: 2, orderNumber: 'MO-PLACE-1',
    fields: { workCentreId: { from: wc.byCode.ASM, to: wc.byCode.CUT } },
  }]);
  assert.equal(fdry.body.changesTotal, 1);
  const f = await importCsv(srv, file, '?placement=file');
  assert.equal(f.status, 200, f.text);
  const b = await srv.board(tok.scheduler);
  const cols = boardColumns(b.body);
  assert.equal(cols[wc.byCode.CUT].at(-1), o.id, 'moved to the end of the file\'s column');
  assert.ok(!cols[wc.byCode.ASM].includes(o.id));

  assertError(await importCsv(srv, file, '?placement=nowhere'), 400, 'validation_failed');
});

test('dry run lists changes of existing orders field by field (camelCase, from/to), unchanged ones not at all', async () => {
  const base = HEADER.trim() + ',priority,due_date,current_operation\n';
  const v1 = base + 'MO-CHG-1,CH-1,Change probe,5,CUT,normal,,\nMO-CHG-2,CH-2,Unchanged probe,5,CUT,low,2027-01-02,Weld\n';
  assert.equal((await importCsv(srv, v1)).status, 200);
  const v2 = base + 'MO-CHG-2,CH-2,Unchanged probe,5,CUT,low,2027-01-02,Weld\n'
    + 'MO-CHG-1,CH-1b,Change probe,7,CUT,urgent,2027-03-04,Paint\nMO-CHG-NEW,CH-3,New one,1,,,,\n';
  const before0 = await orderByNumber(srv, tok.scheduler, 'MO-CHG-1');
  const dry = await importCsv(srv, v2, '?dryRun=true');
  assert.equal(dry.status, 200, dry.text);
  assert.equal(dry.body.created, 1);
  assert.equal(dry.body.updated, 2);
  assert.equal(dry.body.changesTotal, 1);
  assert.deepEqual(dry.body.changes, [{
    row: 3, orderNumber: 'MO-CHG-1',
    fields: {
      stockCode: { from: 'CH-1', to: 'CH-1b' },
      quantityToMake: { from: 5, to: 7 },
      priority: { from: 'normal', to: 'urgent' },
      dueDate: { from: null, to: '2027-03-04' },
      currentOperation: { from: null, to: 'Paint' },
    },
  }]);
  assert.deepEqual(await orderByNumber(srv, tok.scheduler, 'MO-CHG-1'), before0, 'a dry run writes nothing');
  const real = await importCsv(srv, v2);
  assert.equal(real.status, 200, real.text);
  assert.equal(real.body.changes, undefined, 'only a dry run lists changes');
  const after0 = await orderByNumber(srv, tok.scheduler, 'MO-CHG-1');
  assert.equal(after0.stockCode, 'CH-1b');
  assert.equal(after0.quantityToMake, 7);
  assert.equal(after0.version, before0.version + 1);
});

test('dry run lists at most 1,000 changes; changesTotal counts all', async () => {
  const n = 1001;
  const rows = (desc) => HEADER + Array.from({ length: n }, (_, i) => `MO-MANY-${i},M,${desc},1,\n`).join('');
  assert.equal((await importCsv(srv, rows('first'))).status, 200);
  const dry = await importCsv(srv, rows('second'), '?dryRun=true');
  assert.equal(dry.status, 200, dry.text.slice(0, 300));
  assert.equal(dry.body.updated, n);
  assert.equal(dry.body.changes.length, 1000);
  assert.equal(dry.body.changesTotal, n);
  assert.deepEqual(dry.body.changes[0], { row: 2, orderNumber: 'MO-MANY-0', fields: { description: { from: 'first', to: 'second' } } });
});

// ------------------------------------------------------------------ export (SPEC §6, OWASP)

test('export escapes formula-like cells with a leading \'; export -> import round-trips them exactly', async () => {
  const values = [
    { orderNumber: 'MO-INJ-1', stockCode: '=cmd|\' /C calc\'!A0', description: '-5 mm', currentOperation: '@SUM(1+1)' },
    { orderNumber: 'MO-INJ-2', stockCode: '+41 22 555', description: '\tTabbed start', currentOperation: '=1+2' },
    { orderNumber: 'MO-INJ-3', stockCode: 'plain', description: '\rCarriage return start', currentOperation: null },
    { orderNumber: 'MO-INJ-4', stockCode: "'=already quoted", description: "'-5 mm as typed", currentOperation: "'plain quote" },
    { orderNumber: '-MO-INJ-5', stockCode: 'x-y', description: 'a = b, c', currentOperation: 'Cut' },
  ];
  const created = [];
  for (const v of values) {
    const r = await srv.req('POST', '/api/orders', {
      token: tok.scheduler, json: { ...v, quantityToMake: 3, workCentreId: wc.byCode.QC },
    });
    assert.equal(r.status, 201, r.text);
    created.push(r.body);
  }
  const ex = await srv.req('GET', '/api/orders/export', { token: tok.viewer });
  assert.equal(ex.status, 200, ex.text);
  const lines = ex.text.split('\r\n');
  const line = (num) => lines.find((l) => l.startsWith(num) || l.startsWith(`'${num}`) || l.startsWith(`"${num}`));
  assert.equal(line('MO-INJ-1'), 'MO-INJ-1,\'=cmd|\' /C calc\'!A0,\'-5 mm,3,0,normal,not_started,,,QC,\'@SUM(1+1)');
  assert.equal(line('MO-INJ-2'), 'MO-INJ-2,\'+41 22 555,"\'\tTabbed start",3,0,normal,not_started,,,QC,\'=1+2');
  assert.ok(ex.text.includes('MO-INJ-3,plain,"\'\rCarriage return start",3'), 'CR-led cell quoted and escaped');
  assert.equal(line('MO-INJ-4'), "MO-INJ-4,''=already quoted,''-5 mm as typed,3,0,normal,not_started,,,QC,'plain quote");
  assert.equal(line("'-MO-INJ-5"), "'-MO-INJ-5,x-y,\"a = b, c\",3,0,normal,not_started,,,QC,Cut");
  // No cell of our rows starts with a formula character (our values hold no quoted comma).
  const ours = lines.filter((l) => /^'?-?MO-INJ-[1-4]/.test(l));
  assert.equal(ours.length, 4);
  for (const l of ours) {
    for (const cell of l.split(',')) assert.ok(!/^"?[=+\-@\t\r]/.test(cell), `unescaped cell ${JSON.stringify(cell)} in ${JSON.stringify(l)}`);
  }

  // Round trip 1: re-importing the whole export changes nothing.
  const dry = await importCsv(srv, ex.text, '?dryRun=true');
  assert.equal(dry.status, 200, dry.text.slice(0, 500));
  assert.deepEqual(dry.body.errors, []);
  assert.equal(dry.body.created, 0);
  assert.deepEqual(dry.body.changes, [], 'the export reads back as exactly what is stored');

  // Round trip 2: delete our orders and import their export lines: the same values come back.
  for (const o of created) assert.equal((await srv.req('DELETE', `/api/orders/${o.id}`, { token: tok.admin })).status, 204);
  const mine = lines.filter((l) => l.includes('MO-INJ-'));
  assert.equal(mine.length, values.length);
  const r = await importCsv(srv, [lines[0], ...mine, ''].join('\r\n'));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.created, values.length);
  for (const v of values) {
    const o = await orderByNumber(srv, tok.scheduler, v.orderNumber);
    assert.ok(o, `${v.orderNumber} re-imported`);
    for (const k of ['orderNumber', 'stockCode', 'description', 'currentOperation']) assert.equal(o[k], v[k], `${v.orderNumber} ${k}`);
    assert.equal(o.workCentreId, wc.byCode.QC);
  }
});

// ------------------------------------------------------------------ multipart (lws_spa)

test('a multipart part named file without a filename cannot overflow lws_spa: 400, and the server keeps serving', async () => {
  // fuzz_multipart's reproducer (test/fuzz/known/): Debian's lws 4.1.6 stored such a part in
  // its 1 KiB parameter buffer and, after a partial boundary match, wrote every further byte
  // past it (heap overflow). With no registered parameters the part is skipped.
  const body = Buffer.concat([
    Buffer.from('--PBFUZZ\r\nContent-Disposition: form-data; name="file"\r\n\r\n'),
    Buffer.alloc(1020, 'A'), Buffer.from('\r\n--x'), Buffer.alloc(200000, 'A'),
    Buffer.from('\r\n--PBFUZZ--\r\n'),
  ]);
  const r = await srv.req('POST', '/api/orders/import?dryRun=true', {
    token: tok.scheduler, body, headers: { 'content-type': 'multipart/form-data; boundary=PBFUZZ' }, timeout: 30000,
  });
  assertError(r, 400, 'validation_failed');
  assert.equal((await srv.req('GET', '/api/health')).status, 200);
  // a browser's upload (a file part with a filename) still imports
  const csv = `${HEADER}MP-FILE-1,S,Multipart with a filename,3,CUT\n`;
  const ok = await srv.req('POST', '/api/orders/import', {
    token: tok.scheduler,
    body: Buffer.from(`--PBX\r\nContent-Disposition: form-data; name="file"; filename="orders.csv"\r\nContent-Type: text/csv\r\n\r\n${csv}\r\n--PBX--\r\n`),
    headers: { 'content-type': 'multipart/form-data; boundary=PBX' },
  });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.created, 1);
});

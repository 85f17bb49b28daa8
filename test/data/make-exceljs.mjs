// Writes the test/data/*.exceljs.xlsx workbooks with the npm exceljs package: the second,
// independent writer of the .xlsx tests (the first is LibreOffice; test/data/README.md). Run
// once by hand, the output committed; no test needs exceljs:
//   npm install --prefix /tmp/xl exceljs && NODE_PATH=/tmp/xl/node_modules \
//     node test/data/make-exceljs.mjs ../shared/samples test/data
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const ExcelJS = require(process.env.NODE_PATH ? join(process.env.NODE_PATH, 'exceljs') : 'exceljs');
const [samples, out] = process.argv.slice(2);

// RFC 4180 records; an unterminated quote takes the rest of the file, as a spreadsheet does.
function parseCsv(text) {
  text = text.replace(/^\uFEFF/, '');
  const rows = [];
  let row = [], field = '', i = 0, quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i++; continue; }
      field += c; i++; continue;
    }
    if (c === '"') { quoted = true; i++; continue; }
    if (c === ',') { row.push(field); field = ''; i++; continue; }
    if (c === '\r' || c === '\n') {
      row.push(field); rows.push(row); row = []; field = '';
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1; continue;
    }
    field += c; i++;
  }
  if (field !== '' || row.length) { row.push(field.replace(/\r?\n$/, '')); rows.push(row); }
  return rows;
}

// What a spreadsheet makes of CSV text: integers as numbers, real ISO dates as dates.
function typed(v, isHeader) {
  if (v === '') return null;
  if (isHeader) return v;
  if (/^-?\d{1,15}$/.test(v)) return Number(v);
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (m) {
    const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
    if (d.getUTCDate() === +m[3] && d.getUTCMonth() === +m[2] - 1) return d;
  }
  return v;
}

async function twin(name) {
  const rows = parseCsv(readFileSync(join(samples, `${name}.csv`), 'utf8'));
  const wb = new ExcelJS.Workbook();
  wb.creator = 'planboard tests';
  wb.created = wb.modified = new Date(Date.UTC(2026, 0, 1));
  const ws = wb.addWorksheet('Orders');
  rows.forEach((r, i) => {
    const row = ws.addRow(r.map((v) => typed(v, i === 0)));
    row.eachCell((cell) => { if (cell.value instanceof Date) cell.numFmt = 'yyyy-mm-dd'; });
  });
  await wb.xlsx.writeFile(join(out, `${name}.exceljs.xlsx`));
}

// The 1904 date system, formulas with cached values, a skipped column and a second sheet.
async function features() {
  const wb = new ExcelJS.Workbook();
  wb.created = wb.modified = new Date(Date.UTC(2026, 0, 1));
  wb.properties.date1904 = true;
  const ws = wb.addWorksheet('Orders');
  ws.addRow(['order_number', 'stock_code', 'description', 'quantity_to_make', 'due_date',
    null, 'work_centre_code']);
  const day = (y, m, d) => new Date(Date.UTC(y, m - 1, d));
  ws.addRow(['XL-1', 'S-1', 'Formula quantity', { formula: '60*2', result: 120 },
    day(2026, 12, 1), 'ignored', 'CUT']);
  ws.addRow(['XL-2', { formula: '"S-"&2', result: 'S-2' }, 'Text formula', 5,
    day(2027, 2, 28), null, 'ASM']);
  ws.addRow(['XL-3', 'S-3', 'No date', 7, null, null, 'QC']);
  ws.eachRow((row) => { const c = row.getCell(5); if (c.value instanceof Date) c.numFmt = 'dd/mm/yyyy'; });
  const later = wb.addWorksheet('Later');
  later.addRow(['order_number', 'stock_code', 'description', 'quantity_to_make']);
  later.addRow(['XL-L1', 'S-L1', 'On the second sheet', 1]);
  later.addRow(['XL-L2', 'S-L2', 'Also second', 2]);
  await wb.xlsx.writeFile(join(out, 'features.exceljs.xlsx'));
}

// Inline strings: exceljs's streaming writer writes no shared strings part.
async function inline() {
  const wb = new ExcelJS.stream.xlsx.WorkbookWriter({
    filename: join(out, 'inline.exceljs.xlsx'), useSharedStrings: false, useStyles: true,
  });
  wb.created = wb.modified = new Date(Date.UTC(2026, 0, 1));
  const ws = wb.addWorksheet('Orders');
  ws.addRow(['Job', 'StockCode', 'Job Description', 'QtyToMake', 'JobDeliveryDate']).commit();
  const r = ws.addRow(['IN-1', 'S-1', 'Inline string', 3, new Date(Date.UTC(2026, 11, 24))]);
  r.getCell(5).numFmt = 'yyyy-mm-dd';
  r.commit();
  ws.addRow(['IN-2', 'S-2', 'Second', 4, null]).commit();
  ws.commit();
  await wb.commit();
}

for (const n of ['orders-demo', 'orders-erp-export', 'orders-invalid']) await twin(n);
await features();
await inline();

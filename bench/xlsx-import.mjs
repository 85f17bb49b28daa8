// Figures for bench/README.md "Excel import": the same 100,000 orders imported as CSV and as
// .xlsx into a fresh server each (the demo tenant), wall time of the POST and the server's peak
// RSS (VmHWM). Not a pass/fail on a number.
//   python3 ../shared/samples/gen-orders.py 100000 > /tmp/big.csv
//   soffice --headless --convert-to xlsx --outdir /tmp /tmp/big.csv
//   PB_BIN=build/planboard node bench/xlsx-import.mjs /tmp/big.csv /tmp/big.xlsx
import { readFileSync } from 'node:fs';
import { startServer } from '../test/e2e/lib.mjs';

const [csvPath, xlsxPath] = process.argv.slice(2);
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const hwm = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

for (const [path, type] of [[csvPath, 'text/csv'], [xlsxPath, XLSX], [csvPath, 'text/csv'], [xlsxPath, XLSX]]) {
  const srv = await startServer({ config: { limits: { max_upload: 64 << 20, max_orders_per_tenant: 200000 } } });
  try {
    const tok = await srv.token('scheduler');
    const body = readFileSync(path);
    const before = hwm(srv.proc.pid);
    const t0 = process.hrtime.bigint();
    const r = await srv.req('POST', '/api/orders/import?onError=skip', { token: tok, body, headers: { 'content-type': type }, timeout: 120000 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`${type.padEnd(10).slice(0, 10)} ${String(body.length).padStart(9)} B  status ${r.status}  created ${r.body?.created} ` +
      `rows ${r.body?.rows}  ${ms.toFixed(0)} ms  peak RSS ${hwm(srv.proc.pid).toFixed(0)} MB (${before.toFixed(0)} MB before)`);
  } finally {
    await srv.stop();
  }
}

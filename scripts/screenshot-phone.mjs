// docs/phone.png: the board on a phone (390 × 844, touch) as a scheduler sees it — compact
// header, one column per screen, the WIP line of the column header (Cutting at a soft limit),
// a "Due soon" order and the "Move to…" buttons (issue 10 items 3 and 6).
//
// Run from the repository root after `make`:  node scripts/screenshot-phone.mjs
// Starts its own demo server (test/e2e/lib.mjs) and Debian's Chromium (test/browser/helpers.mjs).

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../test/e2e/lib.mjs';
import { launchBrowser, login } from '../test/browser/helpers.mjs';

const DOCS = fileURLToPath(new URL('../docs/', import.meta.url));

const srv = await startServer();
const browser = await launchBrowser();
try {
  const admin = await srv.token('admin');
  const wc = await srv.workCentres(admin);
  await srv.req('PUT', `/api/work-centres/${wc.byCode.CUT}`, { token: admin, json: { wipLimit: 2, wipPolicy: 'soft' } });
  await srv.req('POST', '/api/orders', { token: admin, json: {
    orderNumber: 'MO-2026-016', stockCode: 'BRK-100', description: 'Mounting bracket', quantityToMake: 40,
    dueDate: new Date().toISOString().slice(0, 10), workCentreId: wc.byCode.CUT, priority: 'high',
  } });
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.goto(`${srv.base}/`);
  await login(page, 'scheduler');
  await page.waitForSelector('#dashboard:not([hidden])');
  await page.waitForSelector('.card.due-soon');
  await page.screenshot({ path: join(DOCS, 'phone.png') });
  console.log('docs/phone.png');
} finally {
  await browser.close();
  await srv.stop();
}

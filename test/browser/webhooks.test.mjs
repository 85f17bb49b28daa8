// The admin's Webhooks dialog (SPEC §11): endpoints with their state and last deliveries, in a
// real Chromium against the real server and a receiver on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, until } from '../e2e/lib.mjs';
import { launchBrowser, boardAs, assertNoPageErrors, WAIT } from './helpers.mjs';

let srv, browser, rx, rxUrl;

before(async () => {
  rx = http.createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(503).end()); });
  await new Promise((r) => rx.listen(0, '127.0.0.1', r));
  rxUrl = `http://127.0.0.1:${rx.address().port}/down`;
  srv = await startServer({ config: { webhooks: { allow_private: 'true', retry_base_ms: 60000, poll_ms: 50 } } });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (rx) { rx.closeAllConnections(); await new Promise((r) => rx.close(r)); }
});

test('an admin sees each webhook with its last deliveries; a scheduler has no Webhooks button', async () => {
  const admin = await srv.token('admin');
  const made = await srv.req('POST', '/api/webhooks', { token: admin, json: { url: rxUrl, events: ['order_moved'] } });
  assert.equal(made.status, 201, made.text);
  const b = await srv.board(admin);
  const o = b.body.backlog[0] ?? b.body.workCentres[0].orders[0];
  const mv = await srv.req('PUT', `/api/orders/${o.id}/move`, { token: admin, json: { toWorkCentreId: b.body.workCentres[1].id } });
  assert.equal(mv.status, 200, mv.text);
  await until(async () => (await srv.req('GET', `/api/webhooks/${made.body.id}/deliveries`, { token: admin })).body.data.length === 1,
    { timeout: WAIT, what: 'a logged attempt' });

  const page = await boardAs(browser, srv, 'admin');
  await page.click('#webhooks-button');
  await page.waitForSelector('#webhooks-dialog[open] .webhook');
  assert.equal(await page.textContent('.webhook .webhook-url'), rxUrl);
  assert.equal(await page.textContent('.webhook .webhook-state'), 'active');
  assert.equal(await page.textContent('.webhook .webhook-events'), 'order_moved');
  const cells = await page.$$eval('.webhook-deliveries tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(cells.length, 1);
  assert.equal(cells[0][1], 'order_moved');
  assert.equal(cells[0][2], 'pending');
  assert.equal(cells[0][4], 'HTTP 503');
  assert.match(cells[0][5], /^retry \d{4}-/);
  await page.click('#webhooks-close');
  await page.waitForSelector('#webhooks-dialog', { state: 'hidden' });
  await assertNoPageErrors(page);

  const sched = await boardAs(browser, srv, 'scheduler');
  assert.equal(await sched.isHidden('#webhooks-button'), true);
  await assertNoPageErrors(sched);
});

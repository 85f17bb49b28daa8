// The server restarts under an open page: the page notices and reconnects by itself. After a
// clean restart the room keeps its epoch (the event log, issue 13): the page is replayed the
// move it missed without reloading the board. After a crash the epoch is new: the page reloads
// the board. Either way it keeps receiving live moves. Real Chromium, real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../e2e/lib.mjs';
import { launchBrowser, boardAs, domColumns, apiColumns, waitCardAt, assertNoPageErrors } from './helpers.mjs';

let srv, browser;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

async function recordStates(page) {
  const states = [];
  await page.exposeFunction('pbRecordState', (st) => states.push(st));
  await page.evaluate(() => {
    const el = document.getElementById('connection-status');
    const banner = document.getElementById('stale-banner');
    new MutationObserver(() => window.pbRecordState(el.dataset.state))
      .observe(el, { attributes: true, attributeFilter: ['data-state'] });
    new MutationObserver(() => { if (!banner.hidden) window.pbRecordState('banner'); })
      .observe(banner, { attributes: true, attributeFilter: ['hidden'] });
  });
  return states;
}

test('after a clean restart the page reconnects with the same epoch and is replayed the move it missed', async () => {
  const page = await boardAs(browser, srv, 'scheduler');
  const epoch0 = await page.evaluate(() => window.planboard.state.epoch);
  assert.ok(epoch0);
  const states = await recordStates(page);
  const fetches = await page.evaluate(() => window.planboard.timings.boardFetch.length);

  const token = await srv.token('scheduler');
  await srv.restart();
  const board0 = (await srv.board(token)).body;
  assert.equal(board0.epoch, epoch0, 'a clean restart keeps the epoch');
  const id = board0.backlog[0].id;
  const to = board0.workCentres[1].id;
  const mv = await srv.req('PUT', `/api/orders/${id}/move`, { token, json: { toWorkCentreId: to, position: 0 } });
  assert.equal(mv.status, 200, mv.text);

  await waitCardAt(page, id, String(to), 0);
  await page.waitForFunction(() => window.planboard.connection === 'online', null, { timeout: 15000 });
  assert.ok(states.includes('reconnecting'), `reconnecting not in ${states}`);
  assert.ok(!states.includes('resyncing'), `the page reloaded the board: ${states}`);
  assert.equal(await page.evaluate(() => window.planboard.timings.boardFetch.length), fetches,
    'no board reload: the move came as a replay');
  assert.equal(await page.evaluate(() => window.planboard.state.epoch), epoch0);
  assert.deepEqual(await domColumns(page), apiColumns((await srv.board(token)).body));
  assertNoPageErrors(page);
  await page.context().close();
});

test('after a crash and a restart on the same port and database the page reconnects, reloads the board and stays live', async () => {
  const page = await boardAs(browser, srv, 'scheduler');
  const epoch0 = await page.evaluate(() => window.planboard.state.epoch);
  assert.ok(epoch0);
  const states = await recordStates(page);

  // A move made while the server is down the page cannot see; after the restart it must.
  const token = await srv.token('scheduler');
  await srv.restart({ kill: true });
  const board0 = (await srv.board(token)).body;       // the old token still works (same secret)
  assert.notEqual(board0.epoch, epoch0, 'a crash changes the epoch');
  const id = board0.backlog[0].id;
  const mv = await srv.req('PUT', `/api/orders/${id}/move`, { token, json: { toWorkCentreId: board0.workCentres[0].id, position: 0 } });
  assert.equal(mv.status, 200, mv.text);

  // It comes back by itself (backoff 0.5 s, 1 s, 2 s …): live, new epoch, banner gone.
  await page.waitForFunction((e0) => window.planboard.connection === 'online' &&
    window.planboard.state && window.planboard.state.epoch !== e0, epoch0, { timeout: 15000 });
  await page.waitForSelector('#stale-banner', { state: 'hidden' });
  assert.equal(await page.evaluate(() => document.body.classList.contains('stale')), false);
  // On the way it said so: reconnecting, the stale banner, reloading the board.
  for (const s of ['reconnecting', 'banner', 'resyncing']) assert.ok(states.includes(s), `${s} not in ${states}`);
  const board1 = (await srv.board(token)).body;
  assert.equal(await page.evaluate(() => window.planboard.state.epoch), board1.epoch);
  await waitCardAt(page, id, String(board0.workCentres[0].id), 0);
  assert.deepEqual(await domColumns(page), apiColumns(board1));
  assert.equal(await page.locator('#online-list li.me').count(), 1);

  // And it is joined to the new room: a live move arrives.
  const board2 = (await srv.board(token)).body;
  const id2 = board2.workCentres[1].orders[0].id;
  const r = await srv.req('PUT', `/api/orders/${id2}/move`, { token, json: { toWorkCentreId: null, position: 0 } });
  assert.equal(r.status, 200, r.text);
  await waitCardAt(page, id2, 'backlog', 0);
  assert.deepEqual(await domColumns(page), apiColumns((await srv.board(token)).body));
  assertNoPageErrors(page);
  await page.context().close();
});

// Everyday accessibility defects of issue 10 in a real Chromium against the real server:
// closed dialogs are not in the tab order, viewers see "View only", dark-mode contrast.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../e2e/lib.mjs';
import { launchBrowser, boardAs, login, assertNoPageErrors } from './helpers.mjs';

let srv, browser;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

/**
 * Press Tab until focus comes back round to where it started (or `max` presses) and return
 * where it went each time: {id, inDialog} per press.
 */
async function tabRound(page, max = 80) {
  const seen = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const at = await page.evaluate(() => {
      const el = document.activeElement;
      return { id: el ? (el.id || el.tagName) : null, inDialog: !!(el && el.closest('dialog')) };
    });
    seen.push(at);
  }
  return seen;
}

test('closed dialogs are not rendered and Tab never reaches their controls', async () => {
  for (const user of ['viewer', 'scheduler']) {
    const page = await boardAs(browser, srv, user);
    for (const id of ['import-dialog', 'move-dialog']) {
      const shown = await page.$eval(`#${id}`, (d) => ({ open: d.open, display: getComputedStyle(d).display, rects: d.getClientRects().length }));
      assert.deepEqual(shown, { open: false, display: 'none', rects: 0 }, `${user}: #${id}`);
    }
    await page.evaluate(() => document.activeElement?.blur());
    const seen = await tabRound(page);
    const inDialog = seen.filter((s) => s.inDialog).map((s) => s.id);
    assert.deepEqual(inDialog, [], `${user} tabbed into a closed dialog: ${inDialog.join(', ')}`);
    assert.ok(seen.some((s) => s.id.startsWith('order-')), `${user}: Tab reaches the cards`);
    // The import dialog still opens, lays out as a grid, and closes again.
    if (user === 'scheduler') {
      await page.click('#import-button');
      await page.waitForSelector('#import-dialog[open]');
      assert.equal(await page.$eval('#import-dialog', (d) => getComputedStyle(d).display), 'grid');
      await page.click('#import-close');
      await page.waitForFunction(() => !document.getElementById('import-dialog').open &&
        getComputedStyle(document.getElementById('import-dialog')).display === 'none');
    }
    assertNoPageErrors(page);
    await page.context().close();
  }
});

test('a viewer sees "View only" in the header and cannot drag; a scheduler does not see it', async () => {
  const viewer = await boardAs(browser, srv, 'viewer');
  const cue = viewer.locator('header').getByText('View only', { exact: true });
  assert.equal(await cue.count(), 1);
  assert.equal(await cue.isVisible(), true);
  const box = await cue.boundingBox();
  assert.ok(box && box.width > 20 && box.height > 8, JSON.stringify(box));
  assert.equal(await viewer.locator('#board.can-edit').count(), 0);
  assert.equal(await viewer.locator('#board .card .drag-handle').count(), 0);
  assert.equal(await viewer.isVisible('#import-button'), false);
  assertNoPageErrors(viewer);

  const scheduler = await boardAs(browser, srv, 'scheduler');
  assert.equal(await scheduler.locator('header').getByText('View only', { exact: true }).isVisible(), false);
  assert.ok(await scheduler.locator('#board .card .drag-handle').count() > 0);
  // Logging out and in as another role does not carry the cue over (one page, two sessions).
  await viewer.click('#logout-button');
  await viewer.waitForSelector('#login-form', { state: 'visible' });
  await login(viewer, 'scheduler');
  assert.equal(await cue.isVisible(), false);
  await viewer.context().close();
  await scheduler.context().close();
});

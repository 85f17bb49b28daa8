// Everyday accessibility defects of issue 10 in a real Chromium against the real server:
// closed dialogs are not in the tab order, viewers see "View only", dark-mode contrast.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../e2e/lib.mjs';
import { launchBrowser, boardAs, assertNoPageErrors } from './helpers.mjs';

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

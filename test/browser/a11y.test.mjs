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
    for (const id of ['import-dialog', 'move-dialog', 'wip-dialog', 'limits-dialog', 'moveto-dialog']) {
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

/**
 * In the page: every visible text's contrast against its effective background (WCAG 2 relative
 * luminance). The background is found by walking up to the first opaque background and
 * compositing the translucent ones on the way; an element's (and its ancestors') opacity blends
 * its text toward that background. Colours are resolved through a 1×1 canvas, so any CSS colour
 * syntax (rgb(), color(srgb …) from color-mix, oklab …) is read the same way. Disabled controls
 * are exempt (WCAG 1.4.3: inactive components); visually hidden text (clipped to ≤ 1 px) is not
 * visible. Returns [{text, where, fg, bg, ratio}] of those below `min`, and how many were checked.
 */
function lowContrast(min) {
  const cv = document.createElement('canvas');
  cv.width = cv.height = 1;
  const ctx = cv.getContext('2d', { willReadFrequently: true });
  const rgba = (css) => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = 'rgba(0, 0, 0, 0)';
    ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat(1);
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];   // the canvas behind everything
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const opacity = (el) => { let o = 1; for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity); return o; };
  const where = (el) => {
    const card = el.closest('.card');
    return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''}${card && card !== el ? ` in ${card.id}` : ''}`;
  };
  const bad = [];
  let checked = 0;
  const check = (el, fgCss, text) => {
    const bg = background(el);
    const fg0 = rgba(fgCss);
    const fg = over([fg0[0], fg0[1], fg0[2], fg0[3] * opacity(el)], bg);
    const r = ratio(fg, bg);
    checked++;
    if (r < min) bad.push({ text: text.slice(0, 40), where: where(el), fg: `rgb(${fg.slice(0, 3).map(Math.round)})`, bg: `rgb(${bg.slice(0, 3).map(Math.round)})`, ratio: Math.round(r * 100) / 100 });
  };
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    if (!n.data.trim()) continue;
    const el = n.parentElement;
    if (!el || el.closest('script, style, template, option, :disabled')) continue;
    if (!el.checkVisibility({ visibilityProperty: true, contentVisibilityAuto: false })) continue;
    range.selectNodeContents(n);
    const rects = [...range.getClientRects()].filter((r) => r.width > 1 && r.height > 1);
    if (!rects.length) continue;
    check(el, getComputedStyle(el).color, n.data.trim());
  }
  // Placeholders are text too.
  for (const input of document.querySelectorAll('input[placeholder]')) {
    if (input.value || input.disabled || !input.checkVisibility({ visibilityProperty: true })) continue;
    check(input, getComputedStyle(input, '::placeholder').color, input.placeholder);
  }
  return { bad, checked };
}

test('every visible text has a contrast of at least 4.5:1, in dark and in light mode', async () => {
  // Make every badge appear whatever today is: an urgent order due in 2000 (OVERDUE + URGENT);
  // the demo data has high, complete, cancelled and on-hold orders. A card locked by the admin.
  const token = await srv.token('scheduler');
  const wc = await srv.workCentres(token);
  const made = await srv.req('POST', '/api/orders', { token, json: {
    orderNumber: 'MO-CONTRAST-1', stockCode: 'CON-1', description: 'Long overdue urgent order',
    quantityToMake: 10, priority: 'urgent', dueDate: '2000-01-02', workCentreId: wc.byCode.CUT,
  } });
  assert.equal(made.status, 201, made.text);
  // The shop-floor cues (issue 10 items 3 and 6): an order due today is "Due soon" whatever the
  // calendar says (the tenant in UTC, so today is the server's UTC date, no zone data needed),
  // Cutting over a WIP limit of 1, Assembly at its limit.
  const adminTok0 = await srv.token('admin');
  assert.equal((await srv.req('PUT', '/api/tenant', { token: adminTok0, json: { timezone: 'UTC' } })).status, 200);
  const dueToday = await srv.req('POST', '/api/orders', { token, json: {
    orderNumber: 'MO-CONTRAST-2', stockCode: 'CON-2', description: 'Due today', quantityToMake: 5,
    dueDate: new Date().toISOString().slice(0, 10), workCentreId: wc.byCode.PACK,
  } });
  assert.equal(dueToday.status, 201, dueToday.text);
  const board0 = (await srv.board(token)).body;
  const openIn = (code) => board0.workCentres.find((w) => w.code === code).orders.filter((o) => o.status !== 'complete' && o.status !== 'cancelled').length;
  for (const [code, wipLimit] of [['CUT', 1], ['ASM', Math.max(openIn('ASM'), 1)]]) {
    const r = await srv.req('PUT', `/api/work-centres/${wc.byCode[code]}`, { token: adminTok0, json: { wipLimit } });
    assert.equal(r.status, 200, r.text);
  }
  for (const colorScheme of ['dark', 'light']) {
    const page = await boardAs(browser, srv, 'scheduler', { colorScheme });
    const adminTok = await srv.token('admin');
    const lock = await srv.req('POST', `/api/orders/${made.body.id}/start-move`, { token: adminTok });
    assert.equal(lock.status, 200, lock.text);
    await page.waitForSelector(`#order-${made.body.id}.locked`);
    for (const sel of ['.card[data-priority=urgent] .priority', '.card[data-priority=high] .priority', '.card.overdue .overdue-marker', '.card[data-status=cancelled]',
      '.card.due-soon .due-soon-marker', '.column.over-wip .wip-marker', '.column.at-wip .wip-marker',
      '.card.late .late-marker', '.card .projected-finish']) {
      assert.ok(await page.locator(sel).count() > 0, `${colorScheme}: the board shows ${sel}`);
    }
    const plain = await page.evaluate(lowContrast, 4.5);
    assert.ok(plain.checked > 100, `${colorScheme}: only ${plain.checked} texts checked`);
    assert.deepEqual(plain.bad, [], `${colorScheme} board:\n${JSON.stringify(plain.bad, null, 1)}`);
    // The Timeline view (issue 11 item 6): bars, late bars, shaded non-working time, day headings.
    await page.getByRole('button', { name: 'Timeline' }).click();
    await page.waitForSelector(`#timeline #tl-bar-${made.body.id}.late`);
    const tl = await page.evaluate(lowContrast, 4.5);
    assert.deepEqual(tl.bad, [], `${colorScheme} timeline:\n${JSON.stringify(tl.bad, null, 1)}`);
    // The Timeline while searching: the late bar does not match, so it is flat (muted text).
    await page.getByRole('searchbox', { name: 'Search orders' }).fill('no such order zz');
    await page.waitForSelector(`#timeline.searching #tl-bar-${made.body.id}:not(.search-hit)`);
    const tlSearch = await page.evaluate(lowContrast, 4.5);
    assert.deepEqual(tlSearch.bad, [], `${colorScheme} timeline search:\n${JSON.stringify(tlSearch.bad, null, 1)}`);
    await page.getByRole('searchbox', { name: 'Search orders' }).fill('');
    await page.waitForSelector('#timeline:not(.searching)');
    await page.getByRole('button', { name: 'Timeline' }).click();
    await page.waitForSelector('#timeline', { state: 'hidden' });
    // While searching, the dimmed cards too.
    await page.getByRole('searchbox', { name: 'Search orders' }).fill('plate');
    await page.waitForSelector('#board.searching .card.search-hit');
    const searching = await page.evaluate(lowContrast, 4.5);
    assert.deepEqual(searching.bad, [], `${colorScheme} search:\n${JSON.stringify(searching.bad, null, 1)}`);
    // The Activity panel open: its pressed button, a live line (the admin's lock) and older lines.
    await page.getByRole('searchbox', { name: 'Search orders' }).fill('');
    await page.getByRole('button', { name: 'Activity' }).click();
    await page.waitForSelector('#activity-list li[data-live=true]');
    await page.waitForSelector('#activity-list li.older');
    const activity = await page.evaluate(lowContrast, 4.5);
    assert.deepEqual(activity.bad, [], `${colorScheme} activity:\n${JSON.stringify(activity.bad, null, 1)}`);
    await srv.req('POST', `/api/orders/${made.body.id}/end-move`, { token: adminTok, json: { completed: false } });
    // The login form and its error.
    await page.click('#logout-button');
    await page.waitForSelector('#login-error:not([hidden])');
    const loginPage = await page.evaluate(lowContrast, 4.5);
    assert.deepEqual(loginPage.bad, [], `${colorScheme} login:\n${JSON.stringify(loginPage.bad, null, 1)}`);
    assertNoPageErrors(page);
    await page.context().close();
  }
});

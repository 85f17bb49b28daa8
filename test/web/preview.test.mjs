// The drag preview (web/js/preview.js): only the answer to the last preview_move sent is shown.
// No DOM: the output element is a plain object. Run: node --test test/web/
import test from 'node:test';
import assert from 'node:assert/strict';
import { DropPreview } from '../../web/js/preview.js';
import { boardFromSnapshot } from '../../web/js/state.js';

const order = (id, wc, position) => ({ id, orderNumber: `MO-${id}`, workCentreId: wc, position, version: 1, status: 'not_started' });
const state = boardFromSnapshot({ seq: 1, workCentres: [{ id: 1, code: 'A', name: 'A', capacity: 1, displayOrder: 1,
  orders: [order(1, 1, 0), order(2, 1, 1), order(3, 1, 2)] }], backlog: [] });

function deferred() {
  let resolve;
  const p = new Promise((r) => { resolve = r; });
  return { p, resolve };
}

test('an answer older than the last preview_move sent is dropped; the newest one is shown', async () => {
  const asked = [];
  const preview = new DropPreview({ getState: () => state, request: (event, data) => {
    const d = deferred();
    asked.push({ event, data, d });
    return d.p;
  } });
  const out = { textContent: '', dataset: {}, hidden: true };
  preview.start(3, out);
  const first = preview._ask('1', 0);       // the debounce timer's call, made directly
  const second = preview._ask('1', 1);
  assert.deepEqual(asked.map((a) => [a.event, a.data.orderId, a.data.toWorkCentreId, a.data.position]),
    [['preview_move', 3, 1, 0], ['preview_move', 3, 1, 1]]);
  asked[1].d.resolve({ changes: [{ orderId: 2, orderNumber: 'MO-2' }], newlyLate: [2], noLongerLate: [] });
  await second;
  assert.equal(out.textContent, 'Drop here: 1 order becomes late: MO-2.');
  asked[0].d.resolve({ changes: [], newlyLate: [], noLongerLate: [] });   // stale, arrives last
  await first;
  assert.equal(out.textContent, 'Drop here: 1 order becomes late: MO-2.');
  assert.equal(out.dataset.newlyLate, '2');
  // after stop (drop or cancel) a late answer shows nothing
  const third = preview._ask('1', 0);
  preview.stop();
  asked[2].d.resolve({ changes: [], newlyLate: [1], noLongerLate: [] });
  await third;
  assert.equal(out.textContent, '');
});

test('a drop point where the order already is asks nothing', () => {
  let n = 0;
  const preview = new DropPreview({ getState: () => state, request: () => { n++; return new Promise(() => {}); } });
  const out = { textContent: 'old', dataset: {}, hidden: false };
  preview.start(2, out);
  preview.hover('1', 1);
  assert.equal(out.textContent, '');
  preview.stop();
  assert.equal(n, 0);
});

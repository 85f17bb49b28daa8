// "Search orders" matching (web/js/find.js): pure functions, no DOM. Run: node --test test/web/
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseQuery, orderMatches, nextMatch, fold, MAX_QUERY } from '../../web/js/find.js';

const o = (orderNumber, stockCode, description) => ({ orderNumber, stockCode, description });

test('a query is folded and split into terms; blank is no search', () => {
  assert.deepEqual(parseQuery('  GEN-0001234  '), ['gen-0001234']);
  assert.deepEqual(parseQuery('Bracket  STEEL'), ['bracket', 'steel']);
  assert.deepEqual(parseQuery('   '), []);
  assert.deepEqual(parseQuery(null), []);
  assert.equal(fold('Gehäuse ＡＢＣ'), 'gehause abc');   // accents and full-width forms fold
  assert.equal(parseQuery('x'.repeat(MAX_QUERY + 50))[0].length, MAX_QUERY);
});

test('every term must occur in the order number, stock code or description', () => {
  const a = o('MO-2026-001', 'BRK-100', 'Steel mounting bracket');
  assert.equal(orderMatches(a, parseQuery('mo-2026-001')), true);
  assert.equal(orderMatches(a, parseQuery('brk')), true);
  assert.equal(orderMatches(a, parseQuery('steel bracket')), true);
  assert.equal(orderMatches(a, parseQuery('steel housing')), false);
  assert.equal(orderMatches(a, parseQuery('')), false);
  // A term never spans two fields.
  assert.equal(orderMatches(o('AB', 'CD', 'x'), parseQuery('bc')), false);
  assert.equal(orderMatches(o('X', 'Y', 'Aluminium housing, anodised'), parseQuery('ANODISED')), true);
  assert.equal(orderMatches(o('X', 'Y', null), parseQuery('x')), true);
});

test('Enter goes to the next match in board order and wraps; Shift+Enter goes back', () => {
  const ordered = [5, 1, 9, 3, 7];
  const hits = new Set([9, 7, 5]);
  assert.equal(nextMatch(ordered, hits, null), 5);
  assert.equal(nextMatch(ordered, hits, 5), 9);
  assert.equal(nextMatch(ordered, hits, 9), 7);
  assert.equal(nextMatch(ordered, hits, 7), 5);          // wraps
  assert.equal(nextMatch(ordered, hits, 3), 5);          // no longer a match: start over
  assert.equal(nextMatch(ordered, hits, 5, true), 7);    // backwards wraps
  assert.equal(nextMatch(ordered, new Set(), null), null);
});

test('a changed description is seen by the next search (folded text is cached per order)', () => {
  const a = o('MO-1', 'S-1', 'bracket');
  assert.equal(orderMatches(a, parseQuery('bracket')), true);
  a.description = 'housing';
  assert.equal(orderMatches(a, parseQuery('bracket')), false);
  assert.equal(orderMatches(a, parseQuery('housing')), true);
});

test('matching 2,000 orders stays far below a frame', () => {
  const orders = Array.from({ length: 2000 }, (_, i) => o(`GEN-${String(i).padStart(7, '0')}`, `SKU-${i % 97}`, `Part ${i} machined housing`));
  // The best of ten passes (the machine is shared: one slow pass is noise, ten are not).
  let n = 0, best = Infinity;
  for (let k = 0; k < 10; k++) {
    const t0 = performance.now();
    const terms = parseQuery('gen-00012 housing');
    for (const x of orders) if (orderMatches(x, terms)) n++;
    best = Math.min(best, performance.now() - t0);
  }
  assert.equal(n, 10 * 100);   // GEN-0001200 … GEN-0001299
  assert.ok(best < 10, `the best pass over 2,000 orders took ${best} ms`);
});

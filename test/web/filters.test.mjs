// filters.js and the pure part of order_dialog.js (issue 10 items 1 and 2), without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseFilters, writeFilters, hiddenReason, sortIds, addDays, defaultFilters, MAX_SORTS,
} from '../../web/js/filters.js';
import { patchOf, conflictRows, describeEntry } from '../../web/js/order_dialog.js';

const TODAY = '2030-06-15';   // a fixed day: nothing here reads the clock
const order = (o) => ({ status: 'not_started', priority: 'normal', dueDate: null, ...o });

test('a URL round-trips through parseFilters / writeFilters, and junk is dropped', () => {
  const f = parseFilters('?status=on_hold&priority=urgent&wc=3&overdue=1&due=14&done=show&sort=3:due,backlog:priority');
  assert.deepEqual({ ...f, sort: [...f.sort] }, {
    status: 'on_hold', priority: 'urgent', wc: '3', overdue: true, dueWithin: 14, hideDone: false,
    sort: [['3', 'due'], ['backlog', 'priority']],
  });
  const url = writeFilters(new URL('http://h/?q=plate'), f);
  assert.equal(url.searchParams.get('q'), 'plate', 'the search query is left alone');
  const g = parseFilters(url.search);
  assert.deepEqual({ ...g, sort: [...g.sort] }, { ...f, sort: [...f.sort] });
  // The default view writes nothing.
  assert.equal(writeFilters(new URL('http://h/'), defaultFilters()).search, '');
  // Unknown values, negative / huge / fractional days, bad keys: the default instead.
  const bad = parseFilters('?status=done&priority=URGENT&wc=0&due=-1&overdue=yes&sort=x:due,3:name,%3Cb%3E:due');
  assert.deepEqual({ ...bad, sort: [...bad.sort] }, { ...defaultFilters(), sort: [] });
  assert.equal(parseFilters('?due=3651').dueWithin, null);
  assert.equal(parseFilters('?due=1.5').dueWithin, null);
  const many = Array.from({ length: 1000 }, (_, i) => `${i + 1}:due`).join(',');
  assert.equal(parseFilters(`?sort=${many}`).sort.size, MAX_SORTS);
});

test('hiddenReason: done orders hidden by default unless a status asks for them; due within N days', () => {
  const f = defaultFilters();
  assert.equal(hiddenReason(order({ status: 'complete' }), f, TODAY), 'done');
  assert.equal(hiddenReason(order({ status: 'cancelled' }), f, TODAY), 'done');
  assert.equal(hiddenReason(order({}), f, TODAY), null);
  assert.equal(hiddenReason(order({ status: 'complete' }), { ...f, status: 'complete' }, TODAY), null);
  assert.equal(hiddenReason(order({ status: 'complete' }), { ...f, hideDone: false }, TODAY), null);
  assert.equal(hiddenReason(order({ priority: 'low' }), { ...f, priority: 'urgent' }, TODAY), 'filter');
  const due = { ...f, dueWithin: 3 };
  assert.equal(hiddenReason(order({ dueDate: '2030-06-18' }), due, TODAY), null);
  assert.equal(hiddenReason(order({ dueDate: '2030-06-19' }), due, TODAY), 'filter');
  assert.equal(hiddenReason(order({ dueDate: '2030-01-01' }), due, TODAY), null, 'overdue is due within N days');
  assert.equal(hiddenReason(order({}), due, TODAY), 'filter', 'no due date');
  const over = { ...f, overdue: true };
  assert.equal(hiddenReason(order({ dueDate: '2030-06-14' }), over, TODAY), null);
  assert.equal(hiddenReason(order({ dueDate: '2030-06-15' }), over, TODAY), 'filter');
  assert.equal(addDays('2030-02-27', 2), '2030-03-01');
  assert.equal(addDays('2032-02-28', 1), '2032-02-29');
});

test('sortIds: by due date (none last) or priority, ties in plan order; position is the plan', () => {
  const orders = new Map([
    [1, order({ dueDate: '2030-07-01', priority: 'low' })],
    [2, order({ dueDate: null, priority: 'urgent' })],
    [3, order({ dueDate: '2030-06-01', priority: 'low' })],
    [4, order({ dueDate: '2030-07-01', priority: 'high' })],
  ]);
  const plan = [1, 2, 3, 4];
  assert.deepEqual(sortIds(plan, orders, 'due'), [3, 1, 4, 2]);
  assert.deepEqual(sortIds(plan, orders, 'priority'), [2, 4, 1, 3]);
  assert.equal(sortIds(plan, orders, 'position'), plan);
  assert.deepEqual(plan, [1, 2, 3, 4], 'the plan array is not changed');
});

test('order dialog: the patch holds only changed fields with the version; conflict rows; history lines', () => {
  const base = { version: 7, description: 'A', priority: 'normal', status: 'not_started', dueDate: '2030-01-02',
    quantityToMake: 10, quantityCompleted: 0 };
  const form = { description: 'A', priority: 'high', status: 'not_started', dueDate: '', quantityToMake: '10', quantityCompleted: '3' };
  assert.deepEqual(patchOf(base, form), { version: 7, priority: 'high', dueDate: null, quantityCompleted: 3 });
  assert.equal(patchOf(base, { ...form, priority: 'normal', dueDate: '2030-01-02', quantityCompleted: '0' }), null);
  const server = { ...base, version: 8, description: 'B' };
  const rows = conflictRows(base, form, server).map((r) => [r.field.key, r.mine, r.server, r.theirs]);
  assert.deepEqual(rows, [
    ['description', 'A', 'B', true], ['priority', 'high', 'normal', false], ['dueDate', null, '2030-01-02', false],
    ['quantityCompleted', 3, 0, false],
  ]);
  const name = (id) => ({ 1: 'Cutting', 2: 'Assembly' })[id];
  assert.deepEqual(describeEntry({ eventType: 'order_moved', username: 'sam', fromWorkCentreId: 1, toWorkCentreId: 2 }, name),
    { who: 'sam', what: 'moved it from Cutting to Assembly' });
  assert.deepEqual(describeEntry({ eventType: 'order_moved', username: 'sam', fromWorkCentreId: null, toWorkCentreId: 1 }, name),
    { who: 'sam', what: 'moved it from Backlog to Cutting' });
  assert.deepEqual(describeEntry({ eventType: 'order_updated', username: 'kim',
    eventData: { fields: ['status', 'quantityCompleted'], statusFrom: 'not_started', statusTo: 'in_progress', quantityCompletedDelta: 4 } }, name),
  { who: 'kim', what: 'changed status, quantity completed (status Not started → In progress) (+4 completed)' });
  assert.equal(describeEntry({ eventType: 'scanner_event', username: null, eventData: { eventType: 'job_start' }, toWorkCentreId: 2 }, name).who, 'A scanner');
});

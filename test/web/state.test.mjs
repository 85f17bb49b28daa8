// Board-state reducer of the browser board (web/js/state.js): pure functions, no DOM.
// Run: node --test test/web/
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  BACKLOG, colKey, keyToWorkCentreId, boardFromSnapshot, applyEvent, columnLoad, isOverdue,
  todayIn, dropPosition, isNoopMove, backoffDelay, stableIds, displayColumns, findColumnOf,
} from '../../web/js/state.js';

function order(id, wc, position, extra = {}) {
  return {
    id, orderNumber: `MO-${id}`, stockCode: `S-${id}`, description: `Order ${id}`,
    quantityToMake: 10, quantityCompleted: 0, workCentreId: wc, position, status: 'not_started',
    priority: 'normal', dueDate: '2026-12-01', version: 1, lockedBy: null, ...extra,
  };
}

function snapshot() {
  return {
    seq: 10, epoch: 'e1',
    workCentres: [
      { id: 2, code: 'ASM', name: 'Assembly', capacity: 2, displayOrder: 2, isActive: true,
        orders: [order(4, 2, 0), order(5, 2, 1)] },
      { id: 1, code: 'CUT', name: 'Cutting', capacity: 1, displayOrder: 1, isActive: true,
        orders: [order(2, 1, 1), order(1, 1, 0), order(3, 1, 2)] },
    ],
    backlog: [order(6, null, 0), order(7, null, 1)],
    locks: [{ orderId: 5, orderNumber: 'MO-5', lockedBy: { userId: 9, username: 'ann' }, expiresAt: 'x' }],
    online: [{ userId: 9, username: 'ann' }],
  };
}

const ids = (s, key) => s.columns.get(key);
const positions = (s, key) => ids(s, key).map((id) => s.orders.get(id).position);

test('snapshot sorts work centres by displayOrder and orders by position', () => {
  const s = boardFromSnapshot(snapshot());
  assert.deepEqual(s.workCentres.map((w) => w.code), ['CUT', 'ASM']);
  assert.deepEqual(ids(s, '1'), [1, 2, 3]);
  assert.deepEqual(ids(s, BACKLOG), [6, 7]);
  assert.equal(s.seq, 10);
  assert.equal(s.epoch, 'e1');
  assert.equal(s.locks.get(5).lockedBy.username, 'ann');
  assert.equal(s.online.get(9).username, 'ann');
  assert.deepEqual(displayColumns(s).map((c) => c.key), ['1', '2', BACKLOG]);
});

test('column keys map backlog to null and ids to numbers', () => {
  assert.equal(colKey(null), BACKLOG);
  assert.equal(colKey(undefined), BACKLOG);
  assert.equal(colKey(3), '3');
  assert.equal(keyToWorkCentreId(BACKLOG), null);
  assert.equal(keyToWorkCentreId('3'), 3);
});

test('order_moved removes from the old column, inserts at position and renumbers both', () => {
  const s = boardFromSnapshot(snapshot());
  const res = applyEvent(s, {
    event: 'order_moved', seq: 11,
    data: { order: order(1, 2, 1, { version: 2 }), fromWorkCentreId: 1, toWorkCentreId: 2, position: 1, movedBy: { userId: 9 } },
  });
  assert.equal(res.status, 'applied');
  assert.deepEqual(ids(s, '1'), [2, 3]);
  assert.deepEqual(positions(s, '1'), [0, 1]);
  assert.deepEqual(ids(s, '2'), [4, 1, 5]);
  assert.deepEqual(positions(s, '2'), [0, 1, 2]);
  assert.equal(s.orders.get(1).version, 2);
  assert.equal(s.orders.get(1).workCentreId, 2);
  assert.deepEqual(res.moved, [{ orderId: 1, from: '1', to: '2' }]);
  assert.ok(res.columns.has('1') && res.columns.has('2'));
  assert.equal(s.seq, 11);
});

test('order_moved inside one column moves down and up correctly', () => {
  const s = boardFromSnapshot(snapshot());
  applyEvent(s, { event: 'order_moved', seq: 11, data: { order: order(1, 1, 2), toWorkCentreId: 1, position: 2 } });
  assert.deepEqual(ids(s, '1'), [2, 3, 1]);
  applyEvent(s, { event: 'order_moved', seq: 12, data: { order: order(3, 1, 0), toWorkCentreId: 1, position: 0 } });
  assert.deepEqual(ids(s, '1'), [3, 2, 1]);
  assert.deepEqual(positions(s, '1'), [0, 1, 2]);
});

test('order_moved to the backlog with a position past the end lands at the end', () => {
  const s = boardFromSnapshot(snapshot());
  applyEvent(s, { event: 'order_moved', seq: 11, data: { order: order(4, null, 99), toWorkCentreId: null, position: 99 } });
  assert.deepEqual(ids(s, BACKLOG), [6, 7, 4]);
  assert.equal(s.orders.get(4).workCentreId, null);
  assert.equal(s.orders.get(4).position, 2);
});

test('events at or below the current seq are ignored', () => {
  const s = boardFromSnapshot(snapshot());
  const res = applyEvent(s, { event: 'order_deleted', seq: 10, data: { orderId: 1 } });
  assert.equal(res.status, 'ignored');
  assert.ok(s.orders.has(1));
});

test('a gap in seq applies nothing and asks for a rejoin', () => {
  const s = boardFromSnapshot(snapshot());
  const res = applyEvent(s, { event: 'order_deleted', seq: 12, data: { orderId: 1 } });
  assert.equal(res.status, 'gap');
  assert.ok(s.orders.has(1));
  assert.equal(s.seq, 10);
});

test('order_created joins its column at its position; order_deleted closes the gap', () => {
  const s = boardFromSnapshot(snapshot());
  applyEvent(s, { event: 'order_created', seq: 11, data: { order: order(8, 1, 1) } });
  assert.deepEqual(ids(s, '1'), [1, 8, 2, 3]);
  const res = applyEvent(s, { event: 'order_deleted', seq: 12, data: { orderId: 2 } });
  assert.deepEqual(ids(s, '1'), [1, 8, 3]);
  assert.deepEqual(positions(s, '1'), [0, 1, 2]);
  assert.equal(s.orders.has(2), false);
  assert.deepEqual(res.removed, [{ orderId: 2, from: '1' }]);
});

test('order_updated in place changes fields without moving; with a new column it moves', () => {
  const s = boardFromSnapshot(snapshot());
  let res = applyEvent(s, { event: 'order_updated', seq: 11, data: { order: { ...order(2, 1, 1), quantityCompleted: 7, version: 3 } } });
  assert.equal(s.orders.get(2).quantityCompleted, 7);
  assert.deepEqual(res.moved, []);
  assert.ok(res.updated.has(2));
  res = applyEvent(s, { event: 'order_updated', seq: 12, data: { order: order(2, null, 0) } });
  assert.deepEqual(ids(s, BACKLOG), [2, 6, 7]);
  assert.deepEqual(ids(s, '1'), [1, 3]);
  assert.equal(res.moved.length, 1);
});

test('lock events set and clear the lock of an order', () => {
  const s = boardFromSnapshot(snapshot());
  applyEvent(s, { event: 'order_locked', seq: 11, data: { orderId: 1, orderNumber: 'MO-1', lockedBy: { userId: 3, username: 'bob' }, expiresAt: 'e' } });
  assert.equal(s.locks.get(1).lockedBy.username, 'bob');
  const res = applyEvent(s, { event: 'order_unlocked', seq: 12, data: { orderId: 1, reason: 'released' } });
  assert.equal(s.locks.has(1), false);
  assert.ok(res.updated.has(1));
});

test('presence events maintain the online list', () => {
  const s = boardFromSnapshot(snapshot());
  applyEvent(s, { event: 'user_joined', seq: 11, data: { userId: 3, username: 'bob' } });
  assert.deepEqual([...s.online.keys()].sort(), [3, 9]);
  const res = applyEvent(s, { event: 'user_left', seq: 12, data: { userId: 9, username: 'ann' } });
  assert.deepEqual([...s.online.keys()], [3]);
  assert.equal(res.presence, true);
});

test('resync_required and orders_imported ask for a refetch', () => {
  const s = boardFromSnapshot(snapshot());
  assert.equal(applyEvent(s, { event: 'resync_required', data: {} }).status, 'refetch');
  assert.equal(applyEvent(s, { event: 'orders_imported', seq: 11, data: { created: 3, updated: 0 } }).status, 'refetch');
});

test('work_centre_updated reorders columns and keeps their orders', () => {
  const s = boardFromSnapshot(snapshot());
  const res = applyEvent(s, { event: 'work_centre_updated', seq: 11, data: { workCentres: [
    { id: 1, code: 'CUT', name: 'Cutting', capacity: 1, displayOrder: 2, isActive: true },
    { id: 2, code: 'ASM', name: 'Assembly', capacity: 2, displayOrder: 1, isActive: true },
    { id: 3, code: 'QC', name: 'Quality', capacity: 1, displayOrder: 3, isActive: true },
  ] } });
  assert.equal(res.workCentres, true);
  assert.deepEqual(displayColumns(s).map((c) => c.key), ['2', '1', '3', BACKLOG]);
  assert.deepEqual(ids(s, '1'), [1, 2, 3]);
  assert.deepEqual(ids(s, '3'), []);
});

test('user_activity advances seq without changes', () => {
  const s = boardFromSnapshot(snapshot());
  const res = applyEvent(s, { event: 'user_activity', seq: 11, data: {} });
  assert.equal(res.status, 'applied');
  assert.equal(s.seq, 11);
});

test('column load compares the card count with capacity', () => {
  const s = boardFromSnapshot(snapshot());
  assert.deepEqual(columnLoad(s, '1'), { count: 3, capacity: 1, over: true });
  assert.deepEqual(columnLoad(s, '2'), { count: 2, capacity: 2, over: false });
  assert.deepEqual(columnLoad(s, BACKLOG), { count: 2, capacity: null, over: false });
});

test('overdue means due before today and not complete or cancelled', () => {
  assert.equal(isOverdue({ dueDate: '2026-11-20', status: 'in_progress' }, '2026-11-21'), true);
  assert.equal(isOverdue({ dueDate: '2026-11-21', status: 'in_progress' }, '2026-11-21'), false);
  assert.equal(isOverdue({ dueDate: '2026-11-20', status: 'complete' }, '2026-11-21'), false);
  assert.equal(isOverdue({ dueDate: '2026-11-20', status: 'cancelled' }, '2026-11-21'), false);
  assert.equal(isOverdue({ dueDate: null, status: 'on_hold' }, '2026-11-21'), false);
});

test('today follows the tenant time zone', () => {
  const t = new Date('2026-11-21T23:30:00Z');
  assert.equal(todayIn('UTC', t), '2026-11-21');
  assert.equal(todayIn('Asia/Tokyo', t), '2026-11-22');
  assert.equal(todayIn('America/New_York', t), '2026-11-21');
});

test('drop position counts the other cards of the target column', () => {
  const s = boardFromSnapshot(snapshot());
  assert.equal(dropPosition(s, 1, '1', 3), 1);       // [2,3] before 3 -> 1
  assert.equal(dropPosition(s, 1, '1', null), 2);    // end
  assert.equal(dropPosition(s, 1, '2', 5), 1);       // into [4,5] before 5
  assert.equal(isNoopMove(s, 1, '1', 0), true);
  assert.equal(isNoopMove(s, 3, '1', 2), true);
  assert.equal(isNoopMove(s, 1, '1', 1), false);
  assert.equal(isNoopMove(s, 1, '2', 0), false);
  assert.equal(findColumnOf(s, 5), '2');
});

test('backoff grows exponentially with jitter and a cap', () => {
  const one = () => 1;
  assert.equal(backoffDelay(0, { random: one }), 500);
  assert.equal(backoffDelay(1, { random: one }), 1000);
  assert.equal(backoffDelay(3, { random: one }), 4000);
  assert.equal(backoffDelay(20, { random: one }), 30000);
  assert.equal(backoffDelay(2, { random: () => 0 }), 1000);
});

test('keyed reconciliation keeps the longest already-ordered run', () => {
  assert.deepEqual([...stableIds([1, 2, 3, 4], [1, 2, 3, 4])].sort(), [1, 2, 3, 4]);
  // moving the first card to the end: only that card moves
  const keep = stableIds([1, 2, 3, 4, 5], [2, 3, 4, 5, 1]);
  assert.deepEqual([...keep].sort(), [2, 3, 4, 5]);
  // ids not in the target are ignored
  assert.deepEqual([...stableIds([9, 1, 2], [1, 2])].sort(), [1, 2]);
});

test('a 2,000-order board applies a move quickly', () => {
  const wcs = [1, 2, 3, 4, 5].map((id) => ({ id, code: `W${id}`, name: `W${id}`, capacity: 5, displayOrder: id, isActive: true, orders: [] }));
  let id = 1;
  for (const wc of wcs) for (let i = 0; i < 400; i++) wc.orders.push(order(id++, wc.id, i));
  const s = boardFromSnapshot({ seq: 0, epoch: 'e', workCentres: wcs, backlog: [], locks: [], online: [] });
  const t0 = performance.now();
  for (let n = 1; n <= 500; n++) {
    const oid = 1 + ((n * 37) % 2000);
    applyEvent(s, { event: 'order_moved', seq: n, data: { order: order(oid, 1 + (n % 5), n % 400), toWorkCentreId: 1 + (n % 5), position: n % 400 } });
  }
  const ms = performance.now() - t0;
  let total = 0;
  for (const [, list] of s.columns) total += list.length;
  assert.equal(total, 2000);
  assert.ok(ms < 1000, `500 moves took ${ms} ms`);
});

test('schedule_updated changes only the projection of the orders it carries, in seq order', () => {
  const s = boardFromSnapshot({ ...snapshot(), scheduleAt: '2026-01-05T08:00Z' });
  assert.equal(s.scheduleAt, '2026-01-05T08:00Z');
  s.orders.get(2).projectedFinish = '2026-01-05T09:00Z';
  s.orders.get(2).late = false;
  const res = applyEvent(s, { event: 'schedule_updated', seq: 11, data: { scheduleAt: '2026-01-05T08:05Z', orders: [
    { orderId: 1, projectedStart: '2026-01-05T08:05Z', projectedFinish: '2026-01-05T10:00Z', late: true },
    { orderId: 999, projectedStart: null, projectedFinish: null, late: null },
  ] } });
  assert.equal(res.status, 'applied');
  assert.equal(s.seq, 11);
  assert.equal(s.scheduleAt, '2026-01-05T08:05Z');
  assert.deepEqual([...res.updated], [1]);
  assert.equal(res.schedule, true);
  assert.deepEqual(res.moved, []);
  const o = s.orders.get(1);
  assert.deepEqual([o.projectedStart, o.projectedFinish, o.late], ['2026-01-05T08:05Z', '2026-01-05T10:00Z', true]);
  assert.equal(s.orders.get(2).projectedFinish, '2026-01-05T09:00Z', 'not carried: unchanged');
  // an old one (replayed) is ignored, a gap asks for a rejoin
  assert.equal(applyEvent(s, { event: 'schedule_updated', seq: 11, data: { orders: [{ orderId: 1, late: false }] } }).status, 'ignored');
  assert.equal(s.orders.get(1).late, true);
  assert.equal(applyEvent(s, { event: 'schedule_updated', seq: 13, data: { orders: [] } }).status, 'gap');
});

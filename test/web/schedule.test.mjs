// The projected schedule as the page shows it (web/js/schedule.js): pure, no DOM. Only the UTC
// zone is used, so nothing here depends on the machine's zone or on ICU's zone data.
// Run: node --test test/web/
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  formatShort, formatDay, projectionText, workingIntervals, nonWorking, positionAtTime, assignLanes,
  previewText, startOfLocalDay, localToUtc, cachedOffset, wallClock, OFFSET_CACHE_MAX,
} from '../../web/js/schedule.js';

const T = (s) => Date.parse(s);

test('projected times read short in the tenant zone; null is a dash', () => {
  assert.equal(formatShort('2026-03-12T14:30Z', 'UTC'), '12 Mar 14:30');
  assert.equal(formatShort('2026-03-12T00:05Z', 'UTC'), '12 Mar 00:05');
  assert.equal(formatShort(null, 'UTC'), '—');
  assert.equal(formatDay(T('2026-03-10T10:00Z'), 'UTC'), 'Tue 10 Mar');
  assert.equal(startOfLocalDay(T('2026-03-10T10:17Z'), 'UTC'), T('2026-03-10T00:00Z'));
  assert.equal(localToUtc(2026, 3, 10, 8, 0, 'UTC'), T('2026-03-10T08:00Z'));
});

test('a card says its finish and whether it is late; unscheduled orders say nothing', () => {
  assert.deepEqual(projectionText({ projectedFinish: '2026-03-12T14:30Z', late: true }, 'UTC'),
    { finish: 'Finish 12 Mar 14:30', late: true });
  assert.deepEqual(projectionText({ projectedFinish: '2026-03-12T14:30Z', late: false }, 'UTC'),
    { finish: 'Finish 12 Mar 14:30', late: false });
  assert.deepEqual(projectionText({ projectedFinish: null, late: null }, 'UTC'), { finish: null, late: false });
  assert.deepEqual(projectionText({ projectedFinish: null, late: true }, 'UTC'),
    { finish: 'Finish beyond the calendar', late: true });
});

test('working time follows shifts, night shifts past midnight and holidays (SPEC §9)', () => {
  const cal = { shifts: [{ weekday: 1, start: '08:00', end: '16:00' }, { weekday: 2, start: '22:00', end: '06:00' }],
    holidays: ['2026-03-16'] };
  // Mon 9 Mar .. Mon 16 Mar 2026 (UTC)
  const from = T('2026-03-09T00:00Z'), to = T('2026-03-17T00:00Z');
  const w = workingIntervals(cal, 'UTC', from, to);
  assert.deepEqual(w.map(([a, b]) => [new Date(a).toISOString(), new Date(b).toISOString()]), [
    ['2026-03-09T08:00:00.000Z', '2026-03-09T16:00:00.000Z'],
    ['2026-03-10T22:00:00.000Z', '2026-03-11T06:00:00.000Z'],
  ], 'the Monday 16 Mar holiday removes its shift');
  const off = nonWorking(w, from, to);
  assert.equal(off.length, 3);
  assert.deepEqual(off[0], [from, T('2026-03-09T08:00Z')]);
  assert.deepEqual(off[2], [T('2026-03-11T06:00Z'), to]);
  // end == start: 24 hours; overlapping days merge
  const all = workingIntervals({ shifts: [1, 2, 3, 4, 5, 6, 7].map((d) => ({ weekday: d, start: '00:00', end: '00:00' })) }, 'UTC', from, to);
  assert.deepEqual(all, [[from, to]]);
  assert.deepEqual(nonWorking(all, from, to), []);
});

test('a bar dropped at a moment goes before the first order starting at or after it', () => {
  const orders = new Map([
    [1, { projectedStart: '2026-03-09T08:00Z' }], [2, { projectedStart: '2026-03-09T10:00Z' }],
    [3, { projectedStart: null }], [4, { projectedStart: '2026-03-09T12:00Z' }],
  ]);
  const ids = [1, 2, 3, 4];
  assert.equal(positionAtTime(ids, orders, 4, T('2026-03-09T07:00Z')), 0);
  assert.equal(positionAtTime(ids, orders, 4, T('2026-03-09T09:00Z')), 1);
  assert.equal(positionAtTime(ids, orders, 1, T('2026-03-09T11:00Z')), 2, 'among [2, 3, 4]: before 4, after 2 and the unscheduled 3');
  assert.equal(positionAtTime(ids, orders, 9, T('2026-03-10T00:00Z')), 4);
  assert.equal(positionAtTime([], orders, 9, 0), 0);
});

test('overlapping bars of a row get separate lanes', () => {
  const { lanes, count } = assignLanes([{ id: 1, start: 0, end: 10 }, { id: 2, start: 5, end: 15 }, { id: 3, start: 10, end: 20 }]);
  assert.equal(count, 2);
  assert.deepEqual([lanes.get(1), lanes.get(2), lanes.get(3)], [0, 1, 0]);
});

test('the preview sentence names the orders that become and stop being late', () => {
  const answer = { changes: [{ orderId: 1, orderNumber: 'MO-1' }, { orderId: 2, orderNumber: 'MO-2' }, { orderId: 3, orderNumber: 'MO-3' }],
    newlyLate: [1, 2], noLongerLate: [3] };
  assert.equal(previewText(answer).text, 'Drop here: 2 orders become late: MO-1, MO-2. 1 order stops being late: MO-3.');
  assert.equal(previewText({ changes: [], newlyLate: [7], noLongerLate: [] }, new Map([[7, { orderNumber: 'MO-7' }]])).text,
    'Drop here: 1 order becomes late: MO-7.');
  assert.equal(previewText({ changes: [], newlyLate: [], noLongerLate: [] }).text, 'Drop here: no order becomes late.');
});

test('zone offsets are asked once per quarter hour and follow a change at its instant', () => {
  // A made-up zone (no ICU data): +1 h until 2026-03-29T01:00Z, +2 h from then on.
  const change = T('2026-03-29T01:00Z');
  let asked = 0;
  const offsetOf = (ms) => { asked++; return ms < change ? 3600000 : 7200000; };
  const cache = new Map();
  assert.equal(cachedOffset(cache, change - 1, 'Fake/Zone', offsetOf), 3600000);
  assert.equal(cachedOffset(cache, change - 14 * 60000, 'Fake/Zone', offsetOf), 3600000, 'same quarter: cached');
  assert.equal(asked, 1);
  assert.equal(cachedOffset(cache, change, 'Fake/Zone', offsetOf), 7200000, 'the next quarter asks again');
  assert.equal(cachedOffset(cache, change + 59 * 60000, 'Fake/Zone', offsetOf), 7200000);
  assert.equal(asked, 3);
  assert.equal(cachedOffset(cache, change, 'Other/Zone', () => 0), 0, 'zones are apart');
  // Bounded: full, it starts again.
  for (let i = 0; cache.size < OFFSET_CACHE_MAX; i++) cachedOffset(cache, i * 15 * 60000, 'Fill', () => 0);
  cachedOffset(cache, change, 'After/Full', () => 0);
  assert.equal(cache.size, 1);
  // The fields of an instant in UTC (cached or not, the same answer twice).
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(wallClock(T('2026-03-29T23:59:59Z'), 'UTC'),
      { year: 2026, month: 3, day: 29, hour: 23, minute: 59, weekday: 7 });
  }
});

// Shop-floor rules of the browser board (web/js/wip.js): WIP load of a column, the WIP check of a
// move, working days and "due soon". Pure functions on fixed data: no date, zone or locale of the
// machine is involved. Run: node --test test/web/
import test from 'node:test';
import assert from 'node:assert/strict';
import { boardFromSnapshot } from '../../web/js/state.js';
import {
  isWip, columnWip, wipCheck, isoWeekday, addDays, isWorkingDay, dueSoonUntil, isDueSoon, formatWork, scheduledMinutes,
} from '../../web/js/wip.js';

function order(id, position, extra = {}) {
  return {
    id, orderNumber: `MO-${id}`, stockCode: `S-${id}`, description: '', quantityToMake: 1, quantityCompleted: 0,
    position, status: 'not_started', priority: 'normal', dueDate: null, version: 1, lockedBy: null, ...extra,
  };
}

function board() {
  return boardFromSnapshot({
    seq: 1, epoch: 'e',
    workCentres: [
      { id: 1, code: 'CUT', name: 'Cutting', capacity: 2, displayOrder: 1, wipLimit: 2, wipPolicy: 'soft', defaultOperationMinutes: 30,
        orders: [order(1, 0), order(2, 1, { status: 'complete' }), order(3, 2, { status: 'in_progress', workMinutes: 90 })] },
      { id: 2, code: 'ASM', name: 'Assembly', capacity: 1, displayOrder: 2, wipLimit: 1, wipPolicy: 'hard', defaultOperationMinutes: 60,
        orders: [order(4, 0, { status: 'on_hold' })] },
      { id: 3, code: 'QC', name: 'Quality', capacity: 1, displayOrder: 3, wipLimit: null, wipPolicy: 'soft', orders: [order(5, 0)] },
    ],
    backlog: [order(6, 0), order(7, 1, { status: 'cancelled' })],
  });
}

test('WIP counts orders that are not complete or cancelled, with their queued work', () => {
  const st = board();
  assert.equal(isWip({ status: 'on_hold' }), true);
  assert.equal(isWip({ status: 'cancelled' }), false);
  assert.deepEqual(columnWip(st, '1'),
    { count: 2, minutes: 30 + 90, source: 'estimate', capacity: 2, wipLimit: 2, policy: 'soft', over: false, full: true });
  assert.deepEqual(columnWip(st, '3'),
    { count: 1, minutes: 60, source: 'estimate', capacity: 1, wipLimit: null, policy: 'soft', over: false, full: false });
  const backlog = columnWip(st, 'backlog');
  assert.equal(backlog.count, 1);
  assert.equal(backlog.wipLimit, null);
});

test('queued work: the projected schedule\'s minutes of a column win over the estimate; the backlog has none', () => {
  const st = board();
  // GET /api/planning-board/stats data: Cutting 250 working minutes, Assembly 0 (its only order
  // is on hold: SPEC §9 counts not_started and in_progress), a malformed and a negative entry.
  const m = scheduledMinutes([
    { workCentreId: 1, workMinutes: 250 }, { workCentreId: 2, workMinutes: 0 },
    { workCentreId: 3, workMinutes: 'x' }, { workCentreId: 4, workMinutes: -5 }, null,
  ]);
  assert.deepEqual([...m], [['1', 250], ['2', 0]]);
  assert.equal(scheduledMinutes(undefined).size, 0);
  const cut = columnWip(st, '1', m.get('1'));
  assert.deepEqual([cut.count, cut.minutes, cut.source], [2, 250, 'schedule']);
  const asm = columnWip(st, '2', m.get('2'));
  assert.deepEqual([asm.count, asm.minutes, asm.source], [1, 0, 'schedule']);
  const qc = columnWip(st, '3', m.get('3'));
  assert.deepEqual([qc.minutes, qc.source], [60, 'estimate'], 'no figure: the estimate');
  assert.equal(columnWip(st, 'backlog', 99).source, 'estimate', 'the backlog is not scheduled');
  assert.equal(formatWork(250), '4.2 h');
});

test('a column past its limit is over', () => {
  const st = board();
  st.workCentres[0].wipLimit = 1;
  assert.equal(columnWip(st, '1').over, true);
});

test('a move into a full column is checked with the count after the move; inside the column or a done order is not', () => {
  const st = board();
  assert.deepEqual(wipCheck(st, 5, '1'), { name: 'Cutting', count: 3, wipLimit: 2, policy: 'soft' });
  assert.deepEqual(wipCheck(st, 6, '2'), { name: 'Assembly', count: 2, wipLimit: 1, policy: 'hard' });
  assert.equal(wipCheck(st, 1, '1'), null, 'a move inside the column adds nothing');
  assert.equal(wipCheck(st, 7, '1'), null, 'a cancelled order does not count');
  assert.equal(wipCheck(st, 1, '3'), null, 'no limit');
  st.workCentres[0].wipLimit = 3;
  assert.equal(wipCheck(st, 5, '1'), null, 'room for one more');
});

// 2026-12-04 is a Friday (ISO weekday 5); the calendar is the SPEC §9 default, Monday to Friday.
const WEEKDAYS = { shifts: [1, 2, 3, 4, 5].map((weekday) => ({ weekday, start: '08:00', end: '16:00' })), holidays: [] };

test('working days follow the shifts and the holidays', () => {
  assert.equal(isoWeekday('2026-12-04'), 5);
  assert.equal(isoWeekday('2026-12-06'), 7);
  assert.equal(addDays('2026-12-31', 1), '2027-01-01');
  assert.equal(addDays('2028-02-28', 1), '2028-02-29');
  assert.equal(isWorkingDay(WEEKDAYS, '2026-12-04'), true);
  assert.equal(isWorkingDay(WEEKDAYS, '2026-12-05'), false);
  assert.equal(isWorkingDay({ ...WEEKDAYS, holidays: ['2026-12-04'] }, '2026-12-04'), false);
  assert.equal(isWorkingDay({ shifts: [], holidays: [] }, '2026-12-04'), false);
});

test('due soon ends with the second working day after today', () => {
  assert.equal(dueSoonUntil(WEEKDAYS, '2026-12-03'), '2026-12-07', 'Thursday: Friday and Monday');
  assert.equal(dueSoonUntil(WEEKDAYS, '2026-12-04'), '2026-12-08', 'Friday: Monday and Tuesday');
  assert.equal(dueSoonUntil(WEEKDAYS, '2026-12-05'), '2026-12-08', 'Saturday: Monday and Tuesday');
  assert.equal(dueSoonUntil({ ...WEEKDAYS, holidays: ['2026-12-07'] }, '2026-12-04'), '2026-12-09', 'a holiday is skipped');
  const night = { shifts: [{ weekday: 6, start: '22:00', end: '06:00' }], holidays: [] };
  assert.equal(dueSoonUntil(night, '2026-12-04'), '2026-12-12', 'only Saturdays work');
  assert.equal(dueSoonUntil({ shifts: [], holidays: [] }, '2026-12-04'), null);
});

test('the due-soon cue: today up to the limit, open orders only, overdue is not due soon', () => {
  const until = dueSoonUntil(WEEKDAYS, '2026-12-04');
  const o = (dueDate, status = 'not_started') => ({ dueDate, status });
  assert.equal(isDueSoon(o('2026-12-04'), '2026-12-04', until), true, 'due today');
  assert.equal(isDueSoon(o('2026-12-07'), '2026-12-04', until), true, 'next working day');
  assert.equal(isDueSoon(o('2026-12-08'), '2026-12-04', until), true, 'second working day');
  assert.equal(isDueSoon(o('2026-12-09'), '2026-12-04', until), false, 'third working day');
  assert.equal(isDueSoon(o('2026-12-03'), '2026-12-04', until), false, 'overdue');
  assert.equal(isDueSoon(o('2026-12-07', 'complete'), '2026-12-04', until), false);
  assert.equal(isDueSoon(o(null), '2026-12-04', until), false);
});

test('queued work reads in minutes below an hour, else hours to one decimal', () => {
  assert.equal(formatWork(45), '45 min');
  assert.equal(formatWork(60), '1 h');
  assert.equal(formatWork(450), '7.5 h');
});

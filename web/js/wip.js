// wip.js — shop-floor rules of the board as data (issue 10 items 3 and 6): a column's real load
// (work in progress against capacity and wipLimit, SPEC §2 and §9) and the "due soon" cue
// (due within the tenant's next two working days, SPEC §9 calendar).
//
// No DOM, no network: pure functions over the state of state.js and the calendar answer of
// GET /api/tenant/calendar, tested by `node --test test/web/wip.test.mjs`.

import { BACKLOG } from './state.js';

/** Statuses that no longer count as work in a column (SPEC §9: "not complete or cancelled"). */
export function isWip(order) {
  return !!order && order.status !== 'complete' && order.status !== 'cancelled';
}

function workCentreOf(state, key) {
  if (key === BACKLOG) return null;
  return state.workCentres.find((w) => String(w.id) === String(key)) || null;
}

/**
 * The load of column `key`:
 *   {count: orders not complete or cancelled, minutes: queued work in working minutes,
 *    source: 'schedule' | 'estimate', capacity, wipLimit (null = none), policy ('soft'|'hard'),
 *    over: count > wipLimit, full: count >= wipLimit (one more would be over)}
 * `scheduled` (optional): the projected schedule's work of the column, working minutes — the
 * server's SPEC §9 work at this centre of its not_started and in_progress orders
 * (GET /api/planning-board/stats `workMinutes`); then minutes = scheduled, source 'schedule'.
 * Without it (not read yet, or the request failed) minutes is the page's estimate, source
 * 'estimate': per order not complete or cancelled its `workMinutes` when the server sends one,
 * else the centre's defaultOperationMinutes (60 when unknown).
 * The backlog has no limit: capacity, wipLimit null, over and full false.
 */
export function columnWip(state, key, scheduled) {
  const wc = workCentreOf(state, key);
  const dflt = wc && Number(wc.defaultOperationMinutes) > 0 ? Number(wc.defaultOperationMinutes) : 60;
  let count = 0;
  let minutes = 0;
  for (const id of state.columns.get(key) || []) {
    const o = state.orders.get(id);
    if (!isWip(o)) continue;
    count++;
    minutes += Number(o.workMinutes) > 0 ? Number(o.workMinutes) : dflt;
  }
  const limit = wc && Number(wc.wipLimit) >= 1 ? Number(wc.wipLimit) : null;
  const fromSchedule = key !== BACKLOG && Number.isFinite(scheduled) && scheduled >= 0;
  return {
    count,
    minutes: fromSchedule ? scheduled : minutes,
    source: fromSchedule ? 'schedule' : 'estimate',
    capacity: wc && Number.isFinite(Number(wc.capacity)) ? Number(wc.capacity) : null,
    wipLimit: limit,
    policy: wc && wc.wipPolicy === 'hard' ? 'hard' : 'soft',
    over: limit !== null && count > limit,
    full: limit !== null && count >= limit,
  };
}

/**
 * What moving order `orderId` into column `toKey` does to that column's WIP limit (SPEC §9):
 * null when it stays within the limit (or the order does not count, or it is already in the
 * column, or the column has no limit); else {name, count: the column's WIP count after the move,
 * wipLimit, policy}. The page asks for confirmation under `soft`; under `hard` the server decides.
 */
export function wipCheck(state, orderId, toKey) {
  const o = state.orders.get(orderId);
  if (!isWip(o)) return null;
  const from = o.workCentreId === null || o.workCentreId === undefined ? BACKLOG : String(o.workCentreId);
  if (from === String(toKey)) return null;
  const load = columnWip(state, String(toKey));
  if (load.wipLimit === null || load.count + 1 <= load.wipLimit) return null;
  const wc = workCentreOf(state, toKey);
  return { name: wc ? wc.name : String(toKey), count: load.count + 1, wipLimit: load.wipLimit, policy: load.policy };
}

// ── working days (SPEC §9 calendar) ─────────────────────────────────────────

/** ISO weekday (Monday = 1 … Sunday = 7) of a YYYY-MM-DD date (a civil date: no time zone). */
export function isoWeekday(date) {
  const [y, m, d] = date.split('-').map(Number);
  const wd = new Date(Date.UTC(y, m - 1, d)).getUTCDay();
  return wd === 0 ? 7 : wd;
}

/** The civil date `n` days after YYYY-MM-DD `date`. */
export function addDays(date, n) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/**
 * Whether YYYY-MM-DD `date` is a working day of `calendar` ({shifts: [{weekday}], holidays}):
 * some shift starts on that weekday and the date is not a holiday (SPEC §9: a shift belongs to
 * the day it starts). A calendar without shifts has no working day.
 */
export function isWorkingDay(calendar, date) {
  if (!calendar) return false;
  if ((calendar.holidays || []).includes(date)) return false;
  const wd = isoWeekday(date);
  return (calendar.shifts || []).some((s) => Number(s.weekday) === wd);
}

/**
 * The last date that is "due soon" seen from `today` (YYYY-MM-DD in the tenant's zone): the
 * second working day after today (issue 10 item 6: due within the tenant's next two working
 * days; today itself counts as due soon). Null when the calendar has no working day in the next
 * 366 days (nothing is due soon then but today).
 */
export function dueSoonUntil(calendar, today) {
  let found = 0;
  for (let i = 1; i <= 366; i++) {
    const d = addDays(today, i);
    if (isWorkingDay(calendar, d) && ++found === 2) return d;
  }
  return null;
}

/**
 * The due-soon cue of an order: dueDate from today up to `until` (dueSoonUntil), status not
 * complete or cancelled. An overdue order (due before today) is overdue, not due soon.
 */
export function isDueSoon(order, today, until) {
  if (!isWip(order) || !order.dueDate || !today) return false;
  const due = String(order.dueDate).slice(0, 10);
  return due >= today && due <= (until || today);
}

/**
 * The projected schedule's queued work per column from GET /api/planning-board/stats `data`
 * ([{workCentreId, workMinutes}]): Map column key -> working minutes. Entries without a
 * non-negative finite workMinutes are left out (their column falls back to the estimate).
 */
export function scheduledMinutes(stats) {
  const out = new Map();
  for (const e of Array.isArray(stats) ? stats : []) {
    const m = Number(e && e.workMinutes);
    if (e && e.workCentreId !== null && e.workCentreId !== undefined && Number.isFinite(m) && m >= 0) {
      out.set(String(e.workCentreId), m);
    }
  }
  return out;
}

/** "7.5 h" / "45 min" for a number of working minutes (column headers). */
export function formatWork(minutes) {
  if (minutes < 60) return `${minutes} min`;
  const h = Math.round(minutes / 6) / 10;
  return `${h} h`;
}

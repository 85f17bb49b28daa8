// schedule.js — the projected schedule (SPEC §9) as the page shows it: finish times in the
// tenant's zone, the working calendar as UTC intervals, the text of a move's preview, and where
// a bar dropped at a moment lands in a column. Pure: no DOM, no network (node --test test/web/).

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
export const MINUTE = 60000;
export const DAY = 86400000;

const partsCache = new Map();   // timeZone -> Intl.DateTimeFormat (numeric parts, 24 h)

function numericFormat(timeZone) {
  const key = timeZone || '';
  let f = partsCache.get(key);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-CA', {
        timeZone: timeZone || 'UTC', year: 'numeric', month: '2-digit', day: '2-digit',
        hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
      });
    } catch {
      f = new Intl.DateTimeFormat('en-CA', {
        timeZone: 'UTC', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
      });
    }
    partsCache.set(key, f);
  }
  return f;
}

/** Offset of `timeZone` from UTC at the minute of `ms` (ms, east positive), from Intl parts. */
function intlOffset(ms, timeZone) {
  const out = {};
  for (const p of numericFormat(timeZone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  if (out.hour === 24) out.hour = 0;
  return Date.UTC(out.year, out.month - 1, out.day, out.hour, out.minute) - Math.floor(ms / MINUTE) * MINUTE;
}

/** Offsets are cached per zone and quarter hour of UTC; at most this many entries are kept. */
export const OFFSET_CACHE_MAX = 50000;
const QUARTER_HOUR = 15 * MINUTE;

/**
 * The zone offset at `ms` through `cache` (Map "zone|quarter" -> offset ms), asking
 * `offsetOf(ms, zone)` once per zone and UTC quarter hour. Correct when the zone's offset changes
 * only at UTC instants that are whole quarter hours — true of the rules every zone follows today
 * (offsets are whole quarter hours and change at whole local hours such as 02:00; St John's
 * changed at 00:01 until 2011): a projected schedule lies ahead, not in that past. The Intl call it saves was most of the
 * cost of a schedule_updated that shifts thousands of finish times (docs/web.md). The cache is
 * emptied when it reaches OFFSET_CACHE_MAX entries.
 */
export function cachedOffset(cache, ms, zone, offsetOf) {
  const key = `${zone || ''}|${Math.floor(ms / QUARTER_HOUR)}`;
  let off = cache.get(key);
  if (off === undefined) {
    off = offsetOf(ms, zone);
    if (cache.size >= OFFSET_CACHE_MAX) cache.clear();
    cache.set(key, off);
  }
  return off;
}

const offsets = new Map();

/**
 * Wall-clock fields of the UTC instant `ms` in `timeZone` (IANA name; UTC when unknown):
 * {year, month (1-12), day, hour, minute, weekday (ISO, Monday = 1)}.
 */
export function wallClock(ms, timeZone) {
  const d = new Date(Math.floor(ms / MINUTE) * MINUTE + cachedOffset(offsets, ms, timeZone, intlOffset));
  const wd = d.getUTCDay();
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(),
    minute: d.getUTCMinutes(), weekday: wd === 0 ? 7 : wd };
}

/** Offset of `timeZone` from UTC at the instant `ms`, in ms (east positive). */
function offsetAt(ms, timeZone) {
  const w = wallClock(ms, timeZone);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute) - Math.floor(ms / MINUTE) * MINUTE;
}

/**
 * UTC ms of the local time y-m-d h:min in `timeZone`. A time inside a DST gap counts from the
 * end of the gap, as the server does (api-notes "Calendar").
 */
export function localToUtc(y, m, d, h, min, timeZone) {
  const guess = Date.UTC(y, m - 1, d, h, min);
  let t = guess - offsetAt(guess, timeZone);
  const t2 = guess - offsetAt(t, timeZone);
  if (t2 !== t) t = Math.max(t, t2);
  return t;
}

/** UTC ms of the midnight that starts the local day holding `ms` in `timeZone`. */
export function startOfLocalDay(ms, timeZone) {
  const w = wallClock(ms, timeZone);
  return localToUtc(w.year, w.month, w.day, 0, 0, timeZone);
}

const two = (n) => String(n).padStart(2, '0');

/** "12 Mar 14:30" — a projected time in the tenant's zone, short; "—" for null. */
export function formatShort(iso, timeZone) {
  if (!iso) return '—';
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return '—';
  const w = wallClock(ms, timeZone);
  return `${w.day} ${MONTHS[w.month - 1]} ${two(w.hour)}:${two(w.minute)}`;
}

/** "Tue 12 Mar" — a day heading of the timeline. */
export function formatDay(ms, timeZone) {
  const w = wallClock(ms, timeZone);
  return `${WEEKDAYS[w.weekday - 1]} ${w.day} ${MONTHS[w.month - 1]}`;
}

/**
 * The text a card shows for its projection (SPEC §9): {finish, late, label} where `finish` is
 * "Finish 12 Mar 14:30", "Finish beyond the calendar" (late or not, no finish within the
 * server's horizon) or null (not scheduled: backlog, on hold, complete, cancelled).
 */
export function projectionText(order, timeZone) {
  const late = order && order.late === true;
  if (!order || (!order.projectedFinish && order.late !== true)) return { finish: null, late: false };
  const finish = order.projectedFinish ? `Finish ${formatShort(order.projectedFinish, timeZone)}` : 'Finish beyond the calendar';
  return { finish, late };
}

/**
 * Working time of `calendar` ({shifts: [{weekday, start, end}], holidays: [YYYY-MM-DD]}, tenant
 * zone) between the UTC instants `from` and `to` (ms), as sorted, merged [start, end) pairs.
 * Same rules as the server (SPEC §9): a shift whose end is not after its start runs past
 * midnight (equal: 24 h); it belongs to the day it starts, so a holiday removes the shifts that
 * start on it.
 */
export function workingIntervals(calendar, timeZone, from, to) {
  const shifts = (calendar && Array.isArray(calendar.shifts)) ? calendar.shifts : [];
  const holidays = new Set((calendar && calendar.holidays) || []);
  const hm = (s) => { const [h, m] = String(s).split(':').map(Number); return h * 60 + m; };
  const out = [];
  // A shift starting the day before `from` may still run; one starting after `to` cannot.
  for (let dayMs = startOfLocalDay(from - DAY, timeZone); dayMs < to; ) {
    const w = wallClock(dayMs + 12 * 3600000, timeZone);   // noon: safely inside the local day
    const date = `${w.year}-${two(w.month)}-${two(w.day)}`;
    if (!holidays.has(date)) {
      for (const s of shifts) {
        if (Number(s.weekday) !== w.weekday) continue;
        const a = hm(s.start), b = hm(s.end);
        const start = localToUtc(w.year, w.month, w.day, Math.floor(a / 60), a % 60, timeZone);
        const endDay = b > a ? 0 : 1;
        const next = new Date(Date.UTC(w.year, w.month - 1, w.day + endDay));
        const end = localToUtc(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), Math.floor(b / 60), b % 60, timeZone);
        if (end > from && start < to) out.push([Math.max(start, from), Math.min(end, to)]);
      }
    }
    const nd = new Date(Date.UTC(w.year, w.month - 1, w.day + 1));
    dayMs = localToUtc(nd.getUTCFullYear(), nd.getUTCMonth() + 1, nd.getUTCDate(), 0, 0, timeZone);
  }
  out.sort((x, y) => x[0] - y[0]);
  const merged = [];
  for (const iv of out) {
    const last = merged[merged.length - 1];
    if (last && iv[0] <= last[1]) last[1] = Math.max(last[1], iv[1]);
    else merged.push([iv[0], iv[1]]);
  }
  return merged;
}

/** The complement of `working` (sorted, merged) inside [from, to): the non-working time. */
export function nonWorking(working, from, to) {
  const out = [];
  let at = from;
  for (const [a, b] of working) {
    if (a > at) out.push([at, Math.min(a, to)]);
    at = Math.max(at, b);
    if (at >= to) break;
  }
  if (at < to) out.push([at, to]);
  return out;
}

/**
 * Position (0-based, counted without the moved order, as move_order wants) for a bar of order
 * `orderId` dropped at instant `t` (ms) in column `ids` (order ids in position order): before
 * the first other order projected to start at or after `t`; after the last scheduled order
 * otherwise (unscheduled orders — on hold, complete — keep their places around it).
 */
export function positionAtTime(ids, orders, orderId, t) {
  const others = ids.filter((id) => id !== orderId);
  let lastScheduled = -1;
  for (let i = 0; i < others.length; i++) {
    const o = orders.get(others[i]);
    if (!o || !o.projectedStart) continue;
    if (Date.parse(o.projectedStart) >= t) return i;
    lastScheduled = i;
  }
  return lastScheduled + 1;
}

/**
 * Lanes for the bars of one row: bars ({id, start, end} in ms) sorted by start each take the
 * lowest lane whose last bar ended by then. Returns {lanes: Map<id, lane>, count}.
 */
export function assignLanes(bars) {
  const ends = [];
  const lanes = new Map();
  for (const b of bars.slice().sort((x, y) => x.start - y.start || x.end - y.end)) {
    let lane = ends.findIndex((e) => e <= b.start);
    if (lane < 0) { lane = ends.length; ends.push(b.end); } else ends[lane] = b.end;
    lanes.set(b.id, lane);
  }
  return { lanes, count: Math.max(1, ends.length) };
}

/**
 * The sentence of a preview-move answer (SPEC §9 what-if `{changes, newlyLate, noLongerLate}`):
 * "Drop here: 2 orders become late: MO-1, MO-2. 1 order stops being late: MO-3." or
 * "Drop here: no order becomes late." Order numbers come from `changes`, else from `orders`.
 */
export function previewText(answer, orders) {
  const numberOf = (id) => {
    const c = (answer.changes || []).find((x) => x.orderId === id);
    if (c && c.orderNumber) return c.orderNumber;
    const o = orders && orders.get(id);
    return o ? o.orderNumber : `#${id}`;
  };
  const late = (answer.newlyLate || []).map(numberOf);
  const fixed = (answer.noLongerLate || []).map(numberOf);
  const n = (k) => `${k} order${k === 1 ? '' : 's'}`;
  let text = late.length
    ? `Drop here: ${n(late.length)} become${late.length === 1 ? 's' : ''} late: ${late.join(', ')}.`
    : 'Drop here: no order becomes late.';
  if (fixed.length) text += ` ${n(fixed.length)} stop${fixed.length === 1 ? 's' : ''} being late: ${fixed.join(', ')}.`;
  return { text, late, fixed };
}

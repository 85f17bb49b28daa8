// timeline.js — the "Timeline" view of the projected schedule (issue 11 item 6, SPEC §9).
//
// One row per work centre (the backlog has no projection, so no row), each order a bar from
// its projectedStart to its projectedFinish over a window of WINDOW_DAYS days in the tenant's
// zone: non-working time (GET /api/tenant/calendar) shaded, a "now" line, late bars marked with
// text and colour. ← Week / ← Day / Now / Day → / Week → move the window. A bar dragged within
// or between rows is the board's move: the same drag lock (start_drag / end_drag) and the same
// move_order, through the hooks app.js gives (the position is where the bar's start lands among
// the row's projected starts). Bars are keyed by order id and only their custom properties and
// texts change on an update; geometry goes through CSS custom properties (CSP: no style
// attribute), as drag.js does.

import { displayColumns, BACKLOG } from './state.js';
import {
  DAY, formatShort, formatDay, startOfLocalDay, workingIntervals, nonWorking, positionAtTime, assignLanes,
} from './schedule.js';

export const WINDOW_DAYS = 7;
const THRESHOLD_PX = 6;
const MIN_BAR_PX = 96;      // keep in step with .tl-bar min-width in app.css
const MIN_LATE_BAR_PX = 150; // .tl-bar.late min-width: the number and its "Late" text both show

const pct = (v) => `${Math.round(v * 100000) / 1000}%`;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function setVar(node, name, value) {
  if (node.style.getPropertyValue(name) !== value) node.style.setProperty(name, value);
}

export class TimelineView {
  /**
   * root: the #timeline element (empty; the view builds inside it)
   * api: Api (GET /api/tenant/calendar); getState() -> board state; getTimeZone() -> IANA name
   * hooks: canEdit() -> bool; canDrag(id) -> true | reason; onStart(id) -> Promise<bool> (lock);
   *   onOver(id, toKey, position); onDrop(id, toKey, position); onCancel(id); onKeyMove(id)
   * view (the board's search and filters, filters.js and find.js; each optional):
   *   hidesOrder(order) -> bool: no bar for it; hidesRow(key) -> bool: the work-centre filter;
   *   searching() -> bool: a query is active; isHit(id) -> bool: the order matches it
   */
  constructor({ root, api, getState, getTimeZone, hooks, view }) {
    this.root = root;
    this.viewHooks = view || {};
    this.api = api;
    this.getState = getState;
    this.getTimeZone = getTimeZone;
    this.hooks = hooks;
    this.visible = false;
    this.calendar = null;          // {shifts, holidays} or null until loaded
    this.from = null;              // window start, UTC ms (a local midnight); null = today
    this.rows = new Map();         // column key -> {row, label, track, offs}
    this.bars = new Map();         // order id -> bar element
    this.drag = null;
    this.pending = null;
    this._build();
  }

  // ── shell ───────────────────────────────────────────────────────────────
  _build() {
    const bar = el('div', 'tl-toolbar');
    const mk = (label, shift, name) => {
      const b = el('button', 'tl-shift', label);
      b.type = 'button';
      b.dataset.shift = String(shift);
      if (name) b.setAttribute('aria-label', name);
      b.addEventListener('click', () => this.shift(shift));
      return b;
    };
    this.range = el('span', 'tl-range');
    this.range.setAttribute('role', 'status');
    bar.append(mk('← Week', -7, 'Earlier by a week'), mk('← Day', -1, 'Earlier by a day'), mk('Now', 0, 'Back to today'),
      mk('Day →', 1, 'Later by a day'), mk('Week →', 7, 'Later by a week'), this.range);
    const legend = el('p', 'tl-legend hint',
      'Bars run from projected start to projected finish; shaded time is not worked; the line is now. Drag a bar, or focus it and press M, to move the order.');
    this.head = el('div', 'tl-head');
    this.head.setAttribute('aria-hidden', 'true');
    this.headLabel = el('div', 'tl-label');
    this.days = el('div', 'tl-days');
    this.head.append(this.headLabel, this.days);
    this.body = el('div', 'tl-body');
    this.root.append(bar, legend, this.head, this.body);
    this.root.addEventListener('pointerdown', (e) => this._onPointerDown(e));
    window.addEventListener('pointermove', (e) => this._onPointerMove(e), { passive: false });
    window.addEventListener('pointerup', (e) => this._onPointerUp(e));
    window.addEventListener('pointercancel', (e) => this._onPointerCancel(e));
    window.addEventListener('keydown', (e) => { if (this.drag && e.key === 'Escape') { e.preventDefault(); this._finish(false); } });
    this.root.addEventListener('keydown', (e) => this._onKey(e));
  }

  /** Show the view, loading the calendar; resolves once rendered. */
  async show() {
    this.visible = true;
    this.root.hidden = false;
    this.render();
    await this.loadCalendar();
  }

  hide() {
    this.cancel();
    this.visible = false;
    this.root.hidden = true;
  }

  /** Read the working calendar again (SPEC §9 GET /api/tenant/calendar); keeps the last on error. */
  async loadCalendar() {
    try {
      this.calendar = await this.api.get('/api/tenant/calendar');
    } catch { /* no shading until it loads */ }
    if (this.visible) this.render();
  }

  /** Move the window by `days` (0 = back to the day holding now). */
  shift(days) {
    const tz = this.getTimeZone();
    if (days === 0 || this.from === null) this.from = startOfLocalDay(Date.now(), tz);
    if (days !== 0) this.from = startOfLocalDay(this.from + days * DAY + 12 * 3600000, tz);
    this.render();
  }

  /** Forget everything (logout). */
  clear() {
    this.cancel();
    this.rows.clear();
    this.bars.clear();
    this.body.replaceChildren();
    this.calendar = null;
    this.from = null;
  }

  // ── render ──────────────────────────────────────────────────────────────
  _window() {
    const tz = this.getTimeZone();
    if (this.from === null) this.from = startOfLocalDay(Date.now(), tz);
    const days = [];
    let d = this.from;
    for (let i = 0; i < WINDOW_DAYS; i++) {
      const next = startOfLocalDay(d + DAY + 12 * 3600000, tz);   // 23 or 25 h days stay days
      days.push([d, next]);
      d = next;
    }
    return { from: this.from, to: d, days, tz };
  }

  /** Bring rows and bars in line with the board state (keyed; only changed values are written). */
  render() {
    const state = this.getState();
    if (!this.visible || !state) return;
    const { from, to, days, tz } = this._window();
    const span = to - from;
    const x = (t) => (t - from) / span;
    this.range.textContent = `${formatDay(from, tz)} – ${formatDay(days[days.length - 1][0], tz)}`;

    const dayCells = days.map(([a, b]) => {
      const c = el('div', 'tl-day', formatDay(a, tz));
      c.style.setProperty('--x', pct(x(a)));
      c.style.setProperty('--w', pct((b - a) / span));
      return c;
    });
    this.days.replaceChildren(...dayCells);

    const off = this.calendar ? nonWorking(workingIntervals(this.calendar, tz, from, to), from, to) : [];
    const now = Date.now();
    const vh = this.viewHooks;
    const searching = !!(vh.searching && vh.searching());
    this.root.classList.toggle('searching', searching);
    const seenRows = new Set();
    const seenBars = new Set();
    let prev = null;
    for (const { key, workCentre } of displayColumns(state)) {
      if (key === BACKLOG) continue;
      seenRows.add(key);
      const row = this.rows.get(key) || this._row(key);
      row.name.textContent = workCentre ? workCentre.name : `Work centre ${key}`;
      row.row.classList.toggle('filter-hidden', !!(vh.hidesRow && vh.hidesRow(key)));
      const next = prev ? prev.row.nextSibling : this.body.firstChild;
      if (next !== row.row) this.body.insertBefore(row.row, next);
      prev = row;
      row.offs.replaceChildren(...off.map(([a, b]) => {
        const s = el('div', 'tl-off');
        s.style.setProperty('--x', pct(x(a)));
        s.style.setProperty('--w', pct((b - a) / span));
        return s;
      }));
      row.now.hidden = now < from || now >= to;
      setVar(row.now, '--x', pct(x(now)));

      const items = [];
      for (const id of state.columns.get(key) || []) {
        const o = state.orders.get(id);
        if (!o || !o.projectedStart) continue;
        // Filtered out on the board: no bar (and no lane) here either; the bar being dragged stays.
        if (vh.hidesOrder && vh.hidesOrder(o) && !(this.drag && this.drag.id === id)) continue;
        const start = Date.parse(o.projectedStart);
        const end = o.projectedFinish ? Date.parse(o.projectedFinish) : Infinity;
        items.push({ id, o, start, end });
      }
      // A bar is at least MIN_BAR_PX wide (its order number stays readable), so lanes are
      // assigned on the drawn extent: a short order's bar never covers the next one's.
      const width = row.track.clientWidth || 1000;
      const minMs = (o) => (span * (o.late === true ? MIN_LATE_BAR_PX : MIN_BAR_PX)) / width;
      const { lanes, count } = assignLanes(items.map((i) => ({ id: i.id, start: i.start, end: Math.max(i.end, i.start + minMs(i.o)) })));
      setVar(row.track, '--lanes', String(count));
      for (const it of items) {
        seenBars.add(it.id);
        const bar = this._bar(it.id);
        if (bar.parentNode !== row.bars) row.bars.appendChild(bar);
        this._fillBar(bar, it, lanes.get(it.id), { from, to, span, tz, key });
        const hit = searching && !!(vh.isHit && vh.isHit(it.id));
        if (bar.classList.contains('search-hit') !== hit) bar.classList.toggle('search-hit', hit);
      }
    }
    for (const [key, row] of this.rows) if (!seenRows.has(key)) { row.row.remove(); this.rows.delete(key); }
    for (const [id, bar] of this.bars) {
      if (!seenBars.has(id) && (!this.drag || this.drag.id !== id)) { bar.remove(); this.bars.delete(id); }
    }
  }

  _row(key) {
    const row = el('div', 'tl-row');
    row.dataset.columnId = key;
    row.setAttribute('role', 'group');
    const labelId = `tl-label-${key}`;
    row.setAttribute('aria-labelledby', labelId);
    const label = el('div', 'tl-label');
    label.id = labelId;
    const name = el('span', 'tl-name');
    label.append(name);
    const track = el('div', 'tl-track');
    track.dataset.columnId = key;
    const offs = el('div', 'tl-offs');
    offs.setAttribute('aria-hidden', 'true');
    const now = el('div', 'tl-now');
    now.setAttribute('aria-hidden', 'true');
    const bars = el('div', 'tl-bars');
    const drop = el('div', 'tl-drop');
    drop.setAttribute('aria-hidden', 'true');
    drop.hidden = true;
    track.append(offs, now, bars, drop);
    row.append(label, track);
    const r = { key, row, label, name, track, offs, now, bars, drop };
    this.rows.set(key, r);
    return r;
  }

  _bar(id) {
    let bar = this.bars.get(id);
    if (bar) return bar;
    bar = el('div', 'tl-bar');
    bar.tabIndex = 0;
    bar.setAttribute('role', 'button');
    bar.dataset.orderId = String(id);
    bar.id = `tl-bar-${id}`;
    bar.setAttribute('aria-keyshortcuts', 'm');
    const num = el('span', 'tl-num');
    const fin = el('span', 'tl-finish');
    const late = el('span', 'tl-late', 'Late');
    bar.append(num, late, fin);   // "Late" before the finish: a short bar still shows it
    this.bars.set(id, bar);
    return bar;
  }

  _fillBar(bar, { o, start, end }, lane, { from, to, span, tz }) {
    const [num, late, fin] = bar.children;
    const finish = formatShort(o.projectedFinish, tz);
    if (num.textContent !== o.orderNumber) num.textContent = o.orderNumber;
    const finText = o.projectedFinish ? finish : 'beyond the calendar';
    if (fin.textContent !== finText) fin.textContent = finText;
    const isLate = o.late === true;
    if (late.hidden === isLate) late.hidden = !isLate;
    bar.classList.toggle('late', isLate);
    if (bar.dataset.projectedFinish !== (o.projectedFinish || '')) bar.dataset.projectedFinish = o.projectedFinish || '';
    if (bar.dataset.projectedStart !== o.projectedStart) bar.dataset.projectedStart = o.projectedStart;
    const label = `${o.orderNumber}, finish ${finText}${isLate ? ', late' : ''}, starts ${formatShort(o.projectedStart, tz)}`;
    if (bar.getAttribute('aria-label') !== label) bar.setAttribute('aria-label', label);
    const a = Math.max(start, from), b = Math.min(end, to);
    const outside = b <= from || a >= to;
    if (bar.hidden !== outside) bar.hidden = outside;
    setVar(bar, '--x', pct((Math.min(a, to) - from) / span));
    setVar(bar, '--w', pct(Math.max(0, b - a) / span));
    setVar(bar, '--lane', String(lane || 0));
    bar.classList.toggle('clip-start', start < from);
    bar.classList.toggle('clip-end', end > to);
  }

  /** Update the "now" line (called every minute). */
  tick() { if (this.visible) this.render(); }

  focusBar(id) {
    const bar = this.bars.get(id);
    if (bar && !bar.hidden) bar.focus();
  }

  // ── keyboard ────────────────────────────────────────────────────────────
  _onKey(e) {
    const bar = e.target.closest && e.target.closest('.tl-bar[data-order-id]');
    if (!bar) return;
    const id = this._idOf(bar);
    if ((e.key === 'm' || e.key === 'M') && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      this.hooks.onKeyMove(id);
    }
  }

  _idOf(bar) {
    const n = Number(bar.dataset.orderId);
    const state = this.getState();
    return state && state.orders.has(n) ? n : bar.dataset.orderId;
  }

  // ── pointer drag (same lock and move as drag.js) ────────────────────────
  _onPointerDown(e) {
    if (!this.hooks.canEdit() || this.drag || this.pending) return;
    if (e.button !== undefined && e.button !== 0) return;
    const bar = e.target.closest && e.target.closest('.tl-bar[data-order-id]');
    if (!bar) return;
    e.preventDefault();
    const r = bar.getBoundingClientRect();
    this.pending = { id: this._idOf(bar), bar, pointerId: e.pointerId, x0: e.clientX, y0: e.clientY, grab: e.clientX - r.left };
  }

  _onPointerMove(e) {
    if (this.pending && e.pointerId === this.pending.pointerId) {
      if (Math.hypot(e.clientX - this.pending.x0, e.clientY - this.pending.y0) < THRESHOLD_PX) return;
      const p = this.pending;
      this.pending = null;
      this._begin(p);
    }
    if (!this.drag || e.pointerId !== this.drag.pointerId) return;
    e.preventDefault();
    this.drag.x = e.clientX;
    this.drag.y = e.clientY;
    this._track();
  }

  _onPointerUp(e) {
    if (this.pending && e.pointerId === this.pending.pointerId) { this.pending = null; return; }
    if (this.drag && e.pointerId === this.drag.pointerId) { e.preventDefault(); this._finish(true); }
  }

  _onPointerCancel(e) {
    if (this.pending && e.pointerId === this.pending.pointerId) { this.pending = null; return; }
    if (this.drag && e.pointerId === this.drag.pointerId) this._finish(false);
  }

  _begin(p) {
    const why = this.hooks.canDrag(p.id);
    if (why !== true) return;
    this.drag = { ...p, x: p.x0, y: p.y0, target: null };
    p.bar.classList.add('tl-dragging');
    document.body.classList.add('dragging');
    const mine = this.drag;
    Promise.resolve(this.hooks.onStart(p.id)).then((ok) => {
      if (!ok && this.drag === mine) this._finish(false, true);
    }, () => { if (this.drag === mine) this._finish(false, true); });
  }

  /** The drop point under the pointer: row and the moment the bar's start would be at. */
  _track() {
    const d = this.drag;
    setVar(d.bar, '--dx', `${d.x - d.x0}px`);
    setVar(d.bar, '--dy', `${d.y - d.y0}px`);
    let hit = null;
    for (const row of this.rows.values()) {
      const r = row.track.getBoundingClientRect();
      if (d.y >= r.top && d.y < r.bottom) { hit = { row, r }; break; }
    }
    for (const row of this.rows.values()) if (!hit || row !== hit.row) row.drop.hidden = true;
    if (!hit) { d.target = null; return; }
    const { from, to } = this._window();
    const frac = Math.min(1, Math.max(0, (d.x - d.grab - hit.r.left) / hit.r.width));
    const t = from + frac * (to - from);
    const state = this.getState();
    const position = positionAtTime(state.columns.get(hit.row.key) || [], state.orders, d.id, t);
    hit.row.drop.hidden = false;
    setVar(hit.row.drop, '--x', pct(frac));
    d.target = { key: hit.row.key, position };
    this.hooks.onOver(d.id, hit.row.key, position);
  }

  _finish(drop, silent = false) {
    const d = this.drag;
    this.drag = null;
    if (!d) return;
    d.bar.classList.remove('tl-dragging');
    d.bar.style.removeProperty('--dx');
    d.bar.style.removeProperty('--dy');
    document.body.classList.remove('dragging');
    for (const row of this.rows.values()) row.drop.hidden = true;
    if (drop && d.target) this.hooks.onDrop(d.id, d.target.key, d.target.position);
    else if (!silent) this.hooks.onCancel(d.id);
    this.render();
  }

  /** Abandon a drag in progress (`id` omitted: whatever is dragged). */
  cancel(id) {
    this.pending = null;
    if (this.drag && (id === undefined || this.drag.id === id)) this._finish(false);
  }

  active() { return this.drag ? this.drag.id : null; }
}

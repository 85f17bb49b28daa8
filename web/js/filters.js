// filters.js — what the board shows (issue 10 item 1 "Find", second half): filters for status,
// priority, work centre, overdue and "due within N days"; "Hide complete and cancelled" (on by
// default) with a count per column of the cards it hides; a per-column view sort by position,
// due date or priority. None of it changes the plan: cards are hidden with a class and a sorted
// column only shows its cards in another order (positions on the server stay as they are).
// Everything is in the URL's query string, so a reload or a shared link shows the same view.
//
// The pure part (parse/write the URL, which orders pass, the sorted order) has no DOM and is
// tested by node --test test/web/; the BoardFilters class wires it to the page.

import { BACKLOG, isOverdue } from './state.js';
import { statusLabel, priorityLabel } from './board.js';

export const STATUSES = ['not_started', 'in_progress', 'complete', 'on_hold', 'cancelled'];
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
export const SORTS = ['position', 'due', 'priority'];
/** Largest "due within N days" accepted (ten years); larger or non-integer values are ignored. */
export const MAX_DUE_DAYS = 3650;
/** At most this many per-column sorts are read from a URL (a pasted URL cannot make more work). */
export const MAX_SORTS = 200;

const PRIORITY_RANK = { urgent: 0, high: 1, normal: 2, low: 3 };
const KEY_RE = /^(backlog|[1-9][0-9]{0,15})$/;

/** The view with nothing filtered: complete and cancelled hidden (the default). */
export function defaultFilters() {
  return { status: '', priority: '', wc: '', overdue: false, dueWithin: null, hideDone: true, sort: new Map() };
}

/**
 * Filters from a query string (`location.search`). Unknown or malformed values are dropped, so
 * any URL gives a valid view. in: search string. out: filters object (see defaultFilters).
 * Parameters: status, priority (one value each), wc (work centre id or `backlog`), overdue=1,
 * due=N (0..MAX_DUE_DAYS), done=show (complete and cancelled shown), sort=KEY:due,KEY:priority.
 */
export function parseFilters(search) {
  const p = new URLSearchParams(search || '');
  const f = defaultFilters();
  const status = p.get('status');
  if (STATUSES.includes(status)) f.status = status;
  const priority = p.get('priority');
  if (PRIORITIES.includes(priority)) f.priority = priority;
  const wc = p.get('wc');
  if (wc && KEY_RE.test(wc)) f.wc = wc;
  f.overdue = p.get('overdue') === '1';
  const due = p.get('due');
  if (due !== null && /^[0-9]{1,4}$/.test(due) && Number(due) <= MAX_DUE_DAYS) f.dueWithin = Number(due);
  f.hideDone = p.get('done') !== 'show';
  for (const part of (p.get('sort') || '').split(',').slice(0, MAX_SORTS)) {
    const [key, mode] = part.split(':');
    if (KEY_RE.test(key || '') && (mode === 'due' || mode === 'priority')) f.sort.set(key, mode);
  }
  return f;
}

/** Write filters into a URL's query string (only what differs from the default). Changes url. */
export function writeFilters(url, f) {
  const sp = url.searchParams;
  const set = (name, v) => { if (v === null || v === '' || v === undefined) sp.delete(name); else sp.set(name, v); };
  set('status', f.status);
  set('priority', f.priority);
  set('wc', f.wc);
  set('overdue', f.overdue ? '1' : null);
  set('due', f.dueWithin === null ? null : String(f.dueWithin));
  set('done', f.hideDone ? null : 'show');
  const sorts = [...f.sort].filter(([, m]) => m !== 'position').map(([k, m]) => `${k}:${m}`);
  set('sort', sorts.length ? sorts.join(',') : null);
  return url;
}

/** YYYY-MM-DD plus n calendar days (UTC arithmetic on the date alone: no time zone involved). */
export function addDays(date, n) {
  const [y, m, d] = String(date).split('-').map(Number);
  const t = new Date(Date.UTC(y, m - 1, d + n));
  return t.toISOString().slice(0, 10);
}

/** Complete or cancelled: what "Hide complete and cancelled" hides. */
export function isDone(order) {
  return order.status === 'complete' || order.status === 'cancelled';
}

/**
 * Why an order's card is hidden, or null when it shows: 'done' (hidden by "Hide complete and
 * cancelled"; a status filter that asks for complete or cancelled wins over it) or 'filter'
 * (another filter). The work-centre filter acts on columns, not here. "Due within N days" keeps
 * orders due on or before today + N (overdue ones included: they are the most pressing);
 * orders without a due date fail it. in: order, filters, today (YYYY-MM-DD, tenant's zone).
 */
export function hiddenReason(order, f, today) {
  if (f.status && order.status !== f.status) return 'filter';
  if (f.priority && order.priority !== f.priority) return 'filter';
  if (f.overdue && !isOverdue(order, today)) return 'filter';
  if (f.dueWithin !== null) {
    if (!order.dueDate || String(order.dueDate).slice(0, 10) > addDays(today, f.dueWithin)) return 'filter';
  }
  if (f.hideDone && !f.status && isDone(order)) return 'done';
  return null;
}

/**
 * A column's ids in view order: `position` = as given (the plan); `due` = due date, earliest
 * first, none last; `priority` = urgent, high, normal, low. Ties keep plan order (stable sort).
 * in: ids (plan order), orders (Map id -> order), mode. out: a new array (ids itself for position).
 */
export function sortIds(ids, orders, mode) {
  if (mode !== 'due' && mode !== 'priority') return ids;
  const rank = new Map(ids.map((id, i) => [id, i]));
  const key = mode === 'due'
    ? (o) => (o && o.dueDate ? String(o.dueDate).slice(0, 10) : '9999-99-99')
    : (o) => (o ? PRIORITY_RANK[o.priority] ?? 4 : 4);
  return ids.slice().sort((a, b) => {
    const ka = key(orders.get(a)), kb = key(orders.get(b));
    if (ka < kb) return -1;
    if (ka > kb) return 1;
    return rank.get(a) - rank.get(b);
  });
}

// ── the page ────────────────────────────────────────────────────────────────
const SORT_LABEL = { position: 'Position', due: 'Due date', priority: 'Priority' };

/**
 * The filter bar and the per-column sort controls. Owns the class `filter-out` on cards,
 * `filter-hidden` on column sections, each column's `.column-tools` (sort select and the
 * "N complete or cancelled hidden" note, `data-done-hidden`, `data-shown` on the section) and
 * the filter parameters of the URL (history.replaceState; `q` belongs to find.js).
 * in: form elements by id (status, priority, wc, overdue, due, hideDone, clear), view
 * (BoardView; its viewOrder hook is set here), getState () => state or null, announce (text),
 * onChange () => void after the person changed a filter.
 */
export class BoardFilters {
  constructor({ controls, view, getState, announce, onChange }) {
    this.c = controls;
    this.onChange = onChange || (() => {});   // the person changed a filter (the Timeline follows)
    this.view = view;
    this.getState = getState;
    this.announce = announce || (() => {});
    this.f = parseFilters(location.search);
    this.tools = new Map();   // column key -> {box, select, note, section}
    this.shownBy = new Map(); // column key -> cards shown there (0 for a hidden column)
    const fill = (sel, values, label) => {
      for (const v of values) { const o = document.createElement('option'); o.value = v; o.textContent = label(v); sel.append(o); }
    };
    fill(this.c.status, STATUSES, statusLabel);
    fill(this.c.priority, PRIORITIES, priorityLabel);
    view.viewOrder = (key, ids) => {
      const st = this.getState();
      const mode = this.f.sort.get(key);
      return st && mode ? sortIds(ids, st.orders, mode) : ids;
    };
    this._fillControls();
    const on = (el, ev, fn) => el.addEventListener(ev, fn);
    on(this.c.status, 'change', () => this._set({ status: this.c.status.value }));
    on(this.c.priority, 'change', () => this._set({ priority: this.c.priority.value }));
    on(this.c.wc, 'change', () => this._set({ wc: this.c.wc.value }));
    on(this.c.overdue, 'change', () => this._set({ overdue: this.c.overdue.checked }));
    on(this.c.hideDone, 'change', () => this._set({ hideDone: this.c.hideDone.checked }));
    on(this.c.due, 'change', () => {
      const v = this.c.due.value.trim();
      const n = Number(v);
      const ok = v === '' || (Number.isInteger(n) && n >= 0 && n <= MAX_DUE_DAYS);
      this.c.due.setAttribute('aria-invalid', ok ? 'false' : 'true');
      if (ok) this._set({ dueWithin: v === '' ? null : n });
    });
    on(this.c.clear, 'click', () => {
      this.f = { ...defaultFilters(), sort: this.f.sort };
      this._fillControls();
      this._apply('Filters cleared.');
    });
  }

  /** The current filters (read-only use). */
  get filters() { return this.f; }

  _set(patch) {
    Object.assign(this.f, patch);
    this._apply();
  }

  _apply(message) {
    this._writeUrl();
    this.refresh();
    this.onChange();
    const shown = this._shownTotal;
    this.announce(message || `${shown} order${shown === 1 ? '' : 's'} shown.`);
  }

  _fillControls() {
    this.c.status.value = this.f.status;
    this.c.priority.value = this.f.priority;
    this.c.overdue.checked = this.f.overdue;
    this.c.due.value = this.f.dueWithin === null ? '' : String(this.f.dueWithin);
    this.c.hideDone.checked = this.f.hideDone;
    this._fillWorkCentres();
  }

  /** The work-centre select lists the board's columns (kept current when they change). */
  _fillWorkCentres() {
    const st = this.getState();
    const sel = this.c.wc;
    const want = [['', 'Any work centre']];
    if (st) {
      for (const key of this.view.columnKeys()) want.push([key, key === BACKLOG ? 'Backlog' : this.view.columnName(key)]);
    }
    if (this.f.wc && !want.some(([k]) => k === this.f.wc)) want.push([this.f.wc, st ? 'Unknown work centre' : '…']);
    const now = [...sel.options].map((o) => [o.value, o.textContent]);
    if (JSON.stringify(now) !== JSON.stringify(want)) {
      sel.replaceChildren(...want.map(([v, t]) => { const o = document.createElement('option'); o.value = v; o.textContent = t; return o; }));
    }
    sel.value = this.f.wc;
  }

  _writeUrl() {
    const url = writeFilters(new URL(location.href), this.f);
    if (url.href !== location.href) history.replaceState(history.state, '', url);
  }

  /** The sort control and note of a column, created once per column section. */
  _toolsOf(key) {
    const col = this.view.columns.get(key);
    if (!col) return null;
    let t = this.tools.get(key);
    if (t && t.section === col.section) return t;
    const box = document.createElement('div');
    box.className = 'column-tools';
    const label = document.createElement('label');
    label.className = 'column-sort';
    const text = document.createElement('span');
    text.className = 'visually-hidden';
    const select = document.createElement('select');
    select.dataset.columnId = key;
    for (const m of SORTS) {
      const o = document.createElement('option');
      o.value = m;
      o.textContent = SORT_LABEL[m];
      select.append(o);
    }
    label.append(text, select);
    const note = document.createElement('p');
    note.className = 'filter-note';
    box.append(label, note);
    col.section.querySelector('.column-header').append(box);
    select.addEventListener('change', () => this._sortColumn(key, select.value));
    t = { box, select, note, text, section: col.section };
    this.tools.set(key, t);
    return t;
  }

  _sortColumn(key, mode) {
    if (mode === 'position') this.f.sort.delete(key); else this.f.sort.set(key, mode);
    this._writeUrl();
    this.view.syncColumn(key);    // the DOM order follows viewOrder; the plan is untouched
    this.announce(`${this.view.columnName(key)} sorted by ${SORT_LABEL[mode].toLowerCase()}; the plan order is unchanged.`);
  }

  /**
   * Re-apply the filters to the cards and headers of the columns `keys` (an iterable of column
   * keys; omitted = every column, after a render, a board reload, a filter change or a change of
   * today; live events pass the columns they touched, so a remote move costs O(touched columns),
   * not O(board)). Only cards whose state changes get their class toggled.
   */
  refresh(keys) {
    const st = this.getState();
    if (!keys) this._fillWorkCentres();
    if (!st) return;
    const today = this.view.today;
    if (!keys) this.shownBy = new Map();
    for (const key of keys || this.view.columnKeys()) {
      const t = this._toolsOf(key);
      if (!t) continue;
      const name = this.view.columnName(key);
      const label = `Sort ${name}`;
      if (t.text.textContent !== label) t.text.textContent = label;
      const mode = this.f.sort.get(key) || 'position';
      if (t.select.value !== mode) t.select.value = mode;
      const colHidden = !!this.f.wc && this.f.wc !== key;
      t.section.classList.toggle('filter-hidden', colHidden);
      let done = 0, shown = 0;
      const ids = st.columns.get(key) || [];
      for (const id of ids) {
        const why = hiddenReason(st.orders.get(id), this.f, today);
        if (why === 'done') done++;
        else if (why === null) shown++;
        const node = this.view.cardNode(id);
        if (node && node.classList.contains('filter-out') !== (why !== null)) node.classList.toggle('filter-out', why !== null);
      }
      this.shownBy.set(key, colHidden ? 0 : shown);
      const parts = [];
      if (shown !== ids.length) parts.push(`${shown} of ${ids.length} shown`);
      if (done) parts.push(`${done} complete or cancelled hidden`);
      const text = parts.join(' · ');
      if (t.note.textContent !== text) t.note.textContent = text;
      t.note.hidden = !text;
      t.section.dataset.doneHidden = String(done);
      t.section.dataset.shown = String(shown);
    }
  }

  /**
   * Give the cards `ids` (just put on the page: board.js builds long columns after the first
   * paint) the `filter-out` class the filters give them. The column counts are unchanged (they
   * come from the state, not from the cards). in: ids (order ids).
   */
  markCards(ids) {
    const st = this.getState();
    if (!st) return;
    for (const id of ids) {
      const node = this.view.cardNode(id);
      const o = st.orders.get(id);
      if (!node || !o) continue;
      const out = hiddenReason(o, this.f, this.view.today) !== null;
      if (node.classList.contains('filter-out') !== out) node.classList.toggle('filter-out', out);
    }
  }

  /** Whether the filters hide `order` (a card's `filter-out`; the Timeline shows no bar). */
  hidesOrder(order) {
    return !!order && hiddenReason(order, this.f, this.view.today) !== null;
  }

  /** Whether the work-centre filter hides column `key` (a column's `filter-hidden`). */
  hidesColumn(key) {
    return !!this.f.wc && this.f.wc !== String(key);
  }

  /** Orders shown over every column (as of the last refresh). */
  get _shownTotal() {
    let n = 0;
    for (const [key, shown] of this.shownBy) if (this.view.columns.has(key)) n += shown;
    return n;
  }
}

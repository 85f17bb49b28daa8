// board.js — the board's DOM: one <section> per column, one keyed <li> per order.
//
// Nodes are created once per order id (from <template id="card-template">) and then only
// updated or moved: an event touches the cards and column headers it names, never the rest.
// Moves are animated with FLIP (First, Last, Invert, Play) through the Web Animations API
// (element.animate: allowed by a CSP without 'unsafe-inline', no style attribute written).

import {
  BACKLOG, displayColumns, columnLoad, isOverdue, stableIds, columnOrders,
} from './state.js';
import { columnWip, isDueSoon, formatWork } from './wip.js';
import { projectionText } from './schedule.js';

const STATUS_LABEL = {
  not_started: 'Not started', in_progress: 'In progress', complete: 'Complete',
  on_hold: 'On hold', cancelled: 'Cancelled',
};
const PRIORITY_LABEL = { low: 'Low', normal: 'Normal', high: 'High', urgent: 'Urgent' };
const FLIP_NEIGHBOURS = 12;
/** Cards of each column built before the first paint (1440×900 shows ~6 a column). */
const FIRST_CARDS = 40;
/** Deferred cards: per column and round, and the time budget of one slice (ms). */
const SLICE_CARDS = 50;
const SLICE_MS = 12;
const FLIP_MAX = 80;

function setText(el, text) {
  const t = text === null || text === undefined ? '' : String(text);
  if (el.textContent !== t) el.textContent = t;
}

function setData(el, name, value) {
  const v = value === null || value === undefined ? null : String(value);
  if (v === null) {
    if (name in el.dataset) delete el.dataset[name];
  } else if (el.dataset[name] !== v) {
    el.dataset[name] = v;
  }
}

export function statusLabel(s) { return STATUS_LABEL[s] || s || ''; }
export function priorityLabel(p) { return PRIORITY_LABEL[p] || p || ''; }

export class BoardView {
  /**
   * root: the #board element; template: <template id="card-template">
   * opts.canEdit: drag handles and keyboard moves; opts.myUserId: to tell own locks from others'
   */
  constructor(root, template, opts) {
    this.root = root;
    // The template's indentation would be ~20 empty text nodes per card: drop them once.
    this.template = template.content.firstElementChild.cloneNode(true);
    const blanks = [];
    const walk = document.createTreeWalker(this.template, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) if (!n.data.trim()) blanks.push(n);
    for (const n of blanks) n.remove();
    this.canEdit = !!opts.canEdit;
    this.isAdmin = !!opts.isAdmin;
    this.myUserId = opts.myUserId;
    this.today = opts.today;
    this.dueSoonUntil = null;    // wip.js dueSoonUntil: last "due soon" date; null = calendar not known
    this.timeZone = opts.timeZone || null;  // tenant's IANA zone: projected finish times (SPEC §9)
    this.state = null;
    this.cards = new Map();      // orderId -> <li>
    this.parts = new WeakMap();  // <li> -> its child elements, looked up once
    this.columns = new Map();    // key -> {section, list, title, count, over}
    this.dirtyPositions = null;  // column keys whose data-position renumbering is pending
    this.scheduled = null;       // column key -> queued working minutes of the projected schedule
    this.build = null;           // render()'s deferred cards: {rest: Map key -> {ids, next}, t0}
    this.onCardsBuilt = null;    // (ids) => void: card nodes put on the page after render()
    this.onBuilt = null;         // (ms) => void: render() start → every card on the page
    this.positionsTimer = null;
    // View order of a column's ids (filters.js: a per-column sort); null = the plan order.
    this.viewOrder = null;       // (key, planIds) => ids
    this.reduceMotion = typeof matchMedia === 'function' &&
      matchMedia('(prefers-reduced-motion: reduce)').matches;
    this.root.classList.toggle('can-edit', this.canEdit);
  }

  /** Set who is looking (a new login reuses the view). */
  configure({ canEdit, isAdmin, myUserId, today }) {
    this.canEdit = !!canEdit;
    this.isAdmin = !!isAdmin;
    this.myUserId = myUserId;
    if (today) this.today = today;
    this.root.classList.toggle('can-edit', this.canEdit);
  }

  /** Forget everything (logout). */
  clear() {
    this.state = null;
    this.dirtyPositions = null;
    this.build = null;
    this.scheduled = null;
    this.cards.clear();
    this.columns.clear();
    this.root.replaceChildren();
    this.root.setAttribute('aria-busy', 'true');
  }

  // ── full render ───────────────────────────────────────────────────────────
  /**
   * Render `state` from scratch, reusing card nodes by order id. On a first render (no card on
   * the page yet) the first FIRST_CARDS cards of each column are built now (what a screen shows,
   * and more); the rest of a long column is
   * appended in slices of about SLICE_MS between frames (_buildRest), so the first paint of a
   * 10,000-order board does not wait for 10,000 cards. `#board` keeps `aria-busy="true"` until
   * every card is on the page; `onBuilt(ms)` is called then (render start → all built).
   */
  render(state) {
    this.state = state;
    const t0 = performance.now();
    const focusedId = this._focusedOrderId();
    const frag = document.createDocumentFragment();
    const newColumns = new Map();
    const rest = new Map();
    // Only a first render defers cards: a board on screen (a resync) is rebuilt whole, so no
    // column that someone scrolled down loses its scroll position to a short list.
    const first = this.cards.size === 0 ? FIRST_CARDS : Infinity;
    for (const { key, workCentre } of displayColumns(state)) {
      const col = this.columns.get(key) || this._createColumn(key);
      this._fillColumnHeader(col, key, workCentre);
      const listFrag = document.createDocumentFragment();
      const ids = this._viewIds(key);
      const now = Math.min(ids.length, first);
      for (let i = 0; i < now; i++) {
        listFrag.appendChild(this._card(ids[i]));
        this.updateCard(ids[i]);
      }
      col.list.replaceChildren(listFrag);
      col.pending = now < ids.length;
      if (col.pending) rest.set(key, { ids, next: now });
      newColumns.set(key, col);
      frag.appendChild(col.section);
    }
    for (const [id, node] of this.cards) {
      if (!state.orders.has(id)) { node.remove(); this.cards.delete(id); }
    }
    this.columns = newColumns;
    this.root.replaceChildren(frag);
    this.build = rest.size ? { rest, t0 } : null;
    this.root.setAttribute('aria-busy', this.build ? 'true' : 'false');
    if (this.build) this._nextSlice();
    else if (this.onBuilt) this.onBuilt(performance.now() - t0);
    if (focusedId !== null) this.focusCard(focusedId);
  }

  _nextSlice() {
    const job = this.build;
    if (!this.sliceChannel) {
      // A message task runs right after the current one (no 4 ms clamp of nested timeouts) and
      // still lets the browser paint and handle input between slices.
      this.sliceChannel = new MessageChannel();
      this.sliceChannel.port1.onmessage = () => { if (this.build) this._buildRest(this.build); };
    }
    if (job) this.sliceChannel.port2.postMessage(null);
  }

  /**
   * One slice of the deferred cards of render(): round robin over the columns still building,
   * SLICE_CARDS cards each, appended at the end of their column, until SLICE_MS have passed.
   * A column that an event reconciled meanwhile (syncColumn builds all of it) is dropped here.
   */
  _buildRest(job) {
    const t = performance.now();
    const built = [];
    while (job.rest.size && performance.now() - t < SLICE_MS) {
      for (const [key, r] of job.rest) {
        const col = this.columns.get(key);
        if (!col || !col.pending) { job.rest.delete(key); continue; }
        const frag = document.createDocumentFragment();
        const end = Math.min(r.ids.length, r.next + SLICE_CARDS);
        for (; r.next < end; r.next++) {
          const id = r.ids[r.next];
          if (!this.state.orders.has(id)) continue;
          const node = this._card(id);
          if (node.parentNode === col.list) continue;
          this.updateCard(id);
          frag.appendChild(node);
          built.push(id);
        }
        col.list.appendChild(frag);
        if (r.next >= r.ids.length) { col.pending = false; job.rest.delete(key); }
      }
    }
    if (built.length && this.onCardsBuilt) this.onCardsBuilt(built);
    if (job.rest.size) { this._nextSlice(); return; }
    this.build = null;
    this.root.setAttribute('aria-busy', 'false');
    if (this.onBuilt) this.onBuilt(performance.now() - job.t0);
  }

  /** Rebuild only the set and order of column sections (work_centre_updated); cards are kept. */
  renderColumns(state) {
    this.state = state;
    const focusedId = this._focusedOrderId();
    const wanted = displayColumns(state);
    const newColumns = new Map();
    let prev = null;
    for (const { key, workCentre } of wanted) {
      let col = this.columns.get(key);
      if (!col) {
        col = this._createColumn(key);
        for (const id of this._viewIds(key)) {
          col.list.appendChild(this._card(id));
          this.updateCard(id);
        }
      }
      this._fillColumnHeader(col, key, workCentre);
      const next = prev ? prev.nextSibling : this.root.firstChild;
      if (next !== col.section) this.root.insertBefore(col.section, next);
      prev = col.section;
      newColumns.set(key, col);
    }
    for (const [key, col] of this.columns) if (!newColumns.has(key)) col.section.remove();
    this.columns = newColumns;
    if (focusedId !== null) this.focusCard(focusedId);
  }

  _createColumn(key) {
    const section = document.createElement('section');
    section.className = 'column';
    section.dataset.columnId = key;
    const titleId = `column-title-${key}`;
    section.setAttribute('aria-labelledby', titleId);

    const header = document.createElement('header');
    header.className = 'column-header';
    const title = document.createElement('h2');
    title.className = 'column-title';
    title.id = titleId;
    const name = document.createElement('span');
    name.className = 'column-name';
    const code = document.createElement('span');
    code.className = 'column-code';
    title.append(name, code);
    const count = document.createElement('p');
    count.className = 'column-count';
    const countText = document.createElement('span');
    countText.className = 'count-text';
    const over = document.createElement('span');
    over.className = 'over-marker';
    over.textContent = 'Over capacity';
    count.append(countText, over);
    // Real load (issue 10 item 3): work not complete or cancelled vs wipLimit, queued work.
    const wip = document.createElement('p');
    wip.className = 'column-wip';
    const wipText = document.createElement('span');
    wipText.className = 'wip-text';
    const wipOver = document.createElement('span');
    wipOver.className = 'wip-marker';
    wip.append(wipText, wipOver);
    header.append(title, count, wip);
    let settings = null;
    if (key !== BACKLOG) {
      settings = document.createElement('button');
      settings.type = 'button';
      settings.className = 'wc-settings link';
      settings.dataset.columnId = key;
      settings.textContent = 'Limits…';
      header.append(settings);
    }

    const list = document.createElement('ol');
    list.className = 'cards';
    list.dataset.columnId = key;
    list.setAttribute('aria-labelledby', titleId);
    section.append(header, list);
    const col = { key, section, list, name, code, countText, count, wipText, wipOver, settings };
    this.columns.set(key, col);
    return col;
  }

  _fillColumnHeader(col, key, workCentre) {
    if (key === BACKLOG) {
      setText(col.name, 'Backlog');
      setText(col.code, '');
      col.section.classList.add('backlog');
    } else {
      setText(col.name, workCentre ? workCentre.name : `Work centre ${key}`);
      setText(col.code, workCentre ? workCentre.code : '');
    }
    if (col.settings) {
      col.settings.hidden = !this.isAdmin || !workCentre;
      const label = `Limits of ${workCentre ? workCentre.name : key}`;
      if (col.settings.getAttribute('aria-label') !== label) col.settings.setAttribute('aria-label', label);
    }
    this.updateColumnHeader(key);
  }

  /** Refresh the count / capacity line of one column. */
  updateColumnHeader(key) {
    const col = this.columns.get(key);
    if (!col || !this.state) return;
    const { count, capacity, over } = columnLoad(this.state, key);
    const noun = count === 1 ? 'order' : 'orders';
    setText(col.countText, capacity === null ? `${count} ${noun}` : `${count} / ${capacity} ${noun}`);
    setData(col.section, 'count', count);
    setData(col.section, 'capacity', capacity);
    setData(col.section, 'overCapacity', over ? 'true' : null);
    col.section.classList.toggle('over-capacity', over);
    this._updateWip(col, key);
  }

  /**
   * Set the projected schedule's queued work per column (wip.js scheduledMinutes: Map column key
   * -> working minutes, from GET /api/planning-board/stats; null = not known, the headers show
   * the estimate) and refresh every header's WIP line.
   */
  setScheduledMinutes(map) {
    this.scheduled = map;
    for (const key of this.columns.keys()) this.updateColumnHeader(key);
  }

  /** The WIP line of a column header: count (and queued work) against wipLimit (SPEC §9). */
  _updateWip(col, key) {
    const w = columnWip(this.state, key, this.scheduled ? this.scheduled.get(key) : undefined);
    let text = `WIP ${w.count}`;
    if (w.wipLimit !== null) text += ` / ${w.wipLimit}${w.policy === 'hard' ? ' (hard)' : ''}`;
    if (key !== BACKLOG && w.count > 0) text += ` · ${formatWork(w.minutes)} of work`;
    setText(col.wipText, text);
    setText(col.wipOver, w.over ? 'Over WIP limit' : w.full ? 'At WIP limit' : '');
    col.wipOver.hidden = !w.over && !w.full;
    setData(col.section, 'wipCount', w.count);
    setData(col.section, 'queuedMinutes', key === BACKLOG ? null : w.minutes);
    setData(col.section, 'queuedSource', key === BACKLOG ? null : w.source);
    setData(col.section, 'wipLimit', w.wipLimit);
    setData(col.section, 'wipPolicy', w.wipLimit === null ? null : w.policy);
    setData(col.section, 'overWip', w.over ? 'true' : null);
    col.section.classList.toggle('over-wip', w.over);
    col.section.classList.toggle('at-wip', w.full && !w.over);
  }

  /** Set the last "due soon" date (wip.js dueSoonUntil) and refresh every card's cue. */
  setDueSoonUntil(until) {
    if (until === this.dueSoonUntil) return;
    this.dueSoonUntil = until;
    this.updateAllCards();
  }

  // ── cards ─────────────────────────────────────────────────────────────────
  _card(id) {
    let node = this.cards.get(id);
    if (node) return node;
    node = this.template.cloneNode(true);
    node.dataset.orderId = String(id);
    node.id = `order-${id}`;
    if (!this.canEdit) {
      const h = node.querySelector('.drag-handle');
      if (h) h.remove();
      const m = node.querySelector('.move-to');
      if (m) m.remove();
    }
    const q = (sel) => node.querySelector(sel);
    this.parts.set(node, {
      orderNumber: q('.order-number'), stockCode: q('.stock-code'), description: q('.description'),
      priority: q('.priority'), bar: q('progress'), qtyText: q('.qty-text'), dueDate: q('.due-date'),
      overdue: q('.overdue-marker'), status: q('.status'), lockInfo: q('.lock-info'),
      dueSoon: q('.due-soon-marker'), moveTo: q('.move-to'),
      projection: q('.projection'), finish: q('.projected-finish'), late: q('.late-marker'),
    });
    this.cards.set(id, node);
    return node;
  }

  cardNode(id) { return this.cards.get(id) || null; }

  /**
   * Copy the order's fields (and its lock) into its card. What was last written to each card is
   * kept beside it (parts.last), so the comparison is done in JavaScript and only the values that
   * changed touch the DOM: a schedule_updated that shifts the projected finish of the 1,700
   * cards below a move rewrites their finish, Late mark and name, nothing else (reading every
   * field back from the DOM cost about as much as writing it). `data-position` is compared with
   * the DOM (flushPositions writes it outside this method).
   */
  updateCard(id) {
    const o = this.state && this.state.orders.get(id);
    const node = this.cards.get(id);
    if (!o || !node) return;
    const p = this.parts.get(node);
    const last = p.last || (p.last = {});
    const text = (key, el, value) => {
      const t = value === null || value === undefined ? '' : String(value);
      if (last[key] !== t) { last[key] = t; el.textContent = t; }
    };
    const data = (name, value) => {
      const v = value === null || value === undefined ? null : String(value);
      if (last[`d:${name}`] === v) return;
      last[`d:${name}`] = v;
      if (v === null) delete node.dataset[name]; else node.dataset[name] = v;
    };
    const attr = (key, el, name, value) => {
      if (last[key] !== value) { last[key] = value; el.setAttribute(name, value); }
    };
    const hide = (key, el, hidden) => {
      if (last[key] !== hidden) { last[key] = hidden; el.hidden = hidden; }
    };
    const cls = (name, on) => {
      if (last[`c:${name}`] !== on) { last[`c:${name}`] = on; node.classList.toggle(name, on); }
    };
    text('orderNumber', p.orderNumber, o.orderNumber);
    text('stockCode', p.stockCode, o.stockCode);
    text('description', p.description, o.description);
    text('priority', p.priority, priorityLabel(o.priority));
    data('priority', o.priority);
    const toMake = Number(o.quantityToMake) || 0;
    const done = Number(o.quantityCompleted) || 0;
    attr('max', p.bar, 'max', String(Math.max(toMake, 1)));
    attr('value', p.bar, 'value', String(Math.min(done, Math.max(toMake, 1))));
    text('qty', p.qtyText, `${done} / ${toMake}`);
    attr('barLabel', p.bar, 'aria-label', `Quantity completed ${done} of ${toMake}`);
    text('due', p.dueDate, o.dueDate ? String(o.dueDate).slice(0, 10) : '—');
    const overdue = isOverdue(o, this.today);
    data('overdue', overdue ? 'true' : null);
    cls('overdue', overdue);
    hide('overdueMark', p.overdue, !overdue);
    const soon = !overdue && this.dueSoonUntil !== null && isDueSoon(o, this.today, this.dueSoonUntil);
    data('dueSoon', soon ? 'true' : null);
    cls('due-soon', soon);
    hide('dueSoonMark', p.dueSoon, !soon);
    // SPEC §9 projection: "Finish 12 Mar 14:30" and a Late marker (text and colour).
    const proj = projectionText(o, this.timeZone);
    text('finish', p.finish, proj.finish || '');
    hide('projection', p.projection, !proj.finish);
    hide('lateMark', p.late, !proj.late);
    data('late', proj.late ? 'true' : null);
    data('projectedFinish', o.projectedFinish || null);
    cls('late', proj.late);
    text('status', p.status, statusLabel(o.status));
    data('status', o.status);
    data('version', o.version);
    data('workCentreId', o.workCentreId === null || o.workCentreId === undefined ? BACKLOG : o.workCentreId);
    const pos = o.position === null || o.position === undefined ? null : String(o.position);
    if (pos !== null && node.getAttribute('data-position') !== pos) node.setAttribute('data-position', pos);

    const lock = this.state.locks.get(id);
    const mine = !!lock && !!lock.lockedBy && String(lock.lockedBy.userId) === String(this.myUserId);
    data('lockedBy', lock ? (lock.lockedBy ? lock.lockedBy.username : '') : null);
    cls('locked', !!lock && !mine);
    cls('locked-mine', mine);
    text('lockInfo', p.lockInfo, !lock ? '' : mine ? 'You are moving this order' : `Being moved by ${lock.lockedBy?.username || 'another user'}`);
    hide('lockInfoHidden', p.lockInfo, !lock);
    const lockedByOther = !!lock && !mine;
    const draggable = this.canEdit && !lockedByOther;
    if (p.moveTo && p.moveTo.disabled === draggable) p.moveTo.disabled = !draggable;
    attr('disabled', node, 'aria-disabled', draggable || !this.canEdit ? 'false' : 'true');
    const label = `${o.orderNumber}, ${o.stockCode}, ${o.description || ''}, ${done} of ${toMake} made, ` +
      `due ${o.dueDate ? String(o.dueDate).slice(0, 10) : 'not set'}, ${statusLabel(o.status)}, priority ${priorityLabel(o.priority)}` +
      `${overdue ? ', overdue' : ''}${soon ? ', due soon' : ''}${proj.finish ? `, ${proj.finish.toLowerCase()}` : ''}${proj.late ? ', late' : ''}${lockedByOther ? `, being moved by ${lock.lockedBy?.username}` : ''}`;
    attr('label', node, 'aria-label', label);
  }

  updateAllCards() {
    for (const id of this.cards.keys()) this.updateCard(id);
  }

  /** The tenant's time zone changed (or became known): rewrite the finish times. */
  setTimeZone(timeZone) {
    if (timeZone === this.timeZone) return;
    this.timeZone = timeZone;
    this.updateAllCards();
  }

  setToday(today) {
    if (today === this.today) return;
    this.today = today;
    this.updateAllCards();
  }

  // ── incremental update ────────────────────────────────────────────────────
  /**
   * Bring the DOM in line with the state after applyEvent results `results` (one or many merged):
   * removed cards go, moved and added cards are placed by keyed reconciliation of the touched
   * columns, updated cards are refreshed, column headers recounted; moves are FLIP-animated.
   */
  apply(state, res) {
    this.state = state;
    if (res.workCentres) this.renderColumns(state);
    const focusedId = this._focusedOrderId();

    const movedIds = new Set([...res.moved.map((m) => m.orderId), ...res.added]);
    const touchedCols = new Set(res.columns);
    for (const m of res.moved) { if (m.from) touchedCols.add(m.from); touchedCols.add(m.to); }

    // FIRST: where the moving cards and their neighbours are now.
    const animate = !this.reduceMotion && movedIds.size > 0 && movedIds.size <= 20 &&
      document.visibilityState === 'visible';
    const tracked = new Set();
    const first = new Map();
    if (animate) {
      for (const id of movedIds) {
        const node = this.cards.get(id);
        if (node && node.isConnected) {
          tracked.add(id);
          let sib = node.nextElementSibling;
          for (let i = 0; sib && i < FLIP_NEIGHBOURS; i++, sib = sib.nextElementSibling) {
            if (sib.dataset.orderId) tracked.add(Number(sib.dataset.orderId) || sib.dataset.orderId);
          }
        } else {
          tracked.add(id);
        }
        const o = state.orders.get(id);
        const list = o ? state.columns.get(o.workCentreId === null || o.workCentreId === undefined ? BACKLOG : String(o.workCentreId)) : null;
        if (list) {
          const at = list.indexOf(id);
          for (let i = at + 1; i < list.length && i <= at + FLIP_NEIGHBOURS; i++) tracked.add(list[i]);
        }
        if (tracked.size > FLIP_MAX) break;
      }
      for (const id of tracked) {
        const node = this.cards.get(id);
        if (node && node.isConnected) first.set(id, node.getBoundingClientRect());
      }
    }

    // Change the DOM.
    for (const { orderId } of res.removed) {
      const node = this.cards.get(orderId);
      if (node) { node.remove(); this.cards.delete(orderId); }
    }
    // A batch of moves only, into columns shown in plan order: each moved node goes before its
    // successor (O(moves)); anything else reconciles the touched columns (O(column)).
    const onlyMoves = !res.workCentres && res.added.length === 0 && res.removed.length === 0 &&
      res.moved.length <= 50 && [...touchedCols].every((k) => this._planOrdered(k));
    if (!onlyMoves || !this._placeMoved(res.moved)) {
      for (const key of touchedCols) this.syncColumn(key);
    }
    for (const key of touchedCols) this._positionsLater(key);
    for (const id of res.updated) this.updateCard(id);
    for (const id of res.added) this.updateCard(id);
    for (const key of touchedCols) this.updateColumnHeader(key);
    if (focusedId !== null && document.activeElement !== this.cards.get(focusedId)) this.focusCard(focusedId);

    // LAST, INVERT, PLAY — unless every tracked card was far off screen before the change (they
    // shift by about one card, so they stay off it): then the animation would show nothing and
    // its LAST read would only force a layout of the whole board inside this frame.
    if (animate && this._anyNearScreen(tracked, first)) this._flip(tracked, first, movedIds);
  }

  /** Make column `key`'s card nodes match state order, moving as few nodes as possible. */
  syncColumn(key) {
    const col = this.columns.get(key);
    if (!col) return;
    const target = this._viewIds(key);
    const current = [];
    for (const el of col.list.children) {
      if (el.dataset.orderId) {
        const id = this._idOf(el);
        if (this.state.orders.has(id)) current.push(id);
      }
    }
    const keep = stableIds(current, target);
    let next = null;
    const built = [];
    for (let i = target.length - 1; i >= 0; i--) {
      const id = target[i];
      const node = this.cards.get(id) || this._card(id);
      if (!keep.has(id) || node.parentNode !== col.list) {
        if (node.parentNode !== col.list) built.push(id);
        col.list.insertBefore(node, next);
        if (!node.dataset.version) this.updateCard(id);
      }
      next = node;
    }
    col.pending = false;   // every card of the column is on the page now
    if (built.length && this.onCardsBuilt) this.onCardsBuilt(built);
    // Other cards' positions shift with a move (their version does not change).
    this._positionsLater(key);
    // Leftovers that belong nowhere (e.g. a drag placeholder is not a card and stays).
    for (const el of [...col.list.children]) {
      if (!el.dataset.orderId) continue;
      const id = this._idOf(el);
      if (!this.state.orders.has(id)) { el.remove(); this.cards.delete(id); }
    }
  }

  /** Whether column `key` is on the page and shows its cards in plan order (no view sort). */
  _planOrdered(key) {
    const ids = this.state.columns.get(key) || [];
    const col = this.columns.get(key);
    return !!col && !col.pending && this._viewIds(key) === ids;
  }

  /**
   * Put each moved card's node before the node of its successor in the plan, last index first
   * (so a successor that moved too is already in place), touching no other node. The cards that
   * did not move keep their relative order (a move only takes one card out and puts it back in),
   * so this gives the same DOM as syncColumn. in: moved ([{orderId}] of applyEvent). out: false
   * when a column's DOM was not as expected (the caller then reconciles the columns).
   */
  _placeMoved(moved) {
    const places = [];
    for (const id of new Set(moved.map((m) => m.orderId))) {
      const o = this.state.orders.get(id);
      if (!o) return false;
      const key = o.workCentreId === null || o.workCentreId === undefined ? BACKLOG : String(o.workCentreId);
      const plan = this.state.columns.get(key) || [];
      const at = plan.indexOf(id);
      if (at < 0) return false;
      places.push({ id, key, plan, at });
    }
    places.sort((a, b) => b.at - a.at);
    for (const { id, key, plan, at } of places) {
      const list = this.columns.get(key).list;
      const node = this._card(id);
      const after = at + 1 < plan.length ? this.cards.get(plan[at + 1]) : null;
      if (after && after.parentNode !== list) return false;
      if (node.parentNode === list && (after ? node.nextElementSibling === after : !node.nextElementSibling)) continue;
      if (after) list.insertBefore(node, after);
      else list.appendChild(node);
      if (!node.dataset.version) this.updateCard(id);
    }
    return true;
  }

  /**
   * Renumber `data-position` of column `key`'s cards soon (an idle callback, within 200 ms), not
   * in the frame that moves a card: a move shifts the rank of every card below it, and writing
   * those thousands of attributes was a fifth of a remote move's cost on a 10,000-order board.
   * The cards that an event names (moved, updated) get theirs at once in updateCard.
   */
  _positionsLater(key) {
    if (!this.dirtyPositions) this.dirtyPositions = new Set();
    this.dirtyPositions.add(key);
    if (this.positionsTimer) return;
    const run = () => { this.positionsTimer = null; this.flushPositions(); };
    this.positionsTimer = typeof requestIdleCallback === 'function'
      ? requestIdleCallback(run, { timeout: 200 }) : setTimeout(run, 50);
  }

  /** Write the pending `data-position` renumbering now (only attributes that differ). */
  flushPositions() {
    const keys = this.dirtyPositions;
    this.dirtyPositions = null;
    if (!keys || !this.state) return;
    for (const key of keys) {
      const plan = this.state.columns.get(key) || [];
      for (let i = 0; i < plan.length; i++) {
        const node = this.cards.get(plan[i]);
        if (!node) continue;
        const v = String(i);
        if (node.getAttribute('data-position') !== v) node.setAttribute('data-position', v);
      }
    }
  }

  /** Put one card back where the state says it is (a move that failed snaps back). */
  snapBack(id) {
    const o = this.state.orders.get(id);
    if (!o) return;
    const key = o.workCentreId === null || o.workCentreId === undefined ? BACKLOG : String(o.workCentreId);
    const node = this.cards.get(id);
    const first = node && node.isConnected && !this.reduceMotion ? new Map([[id, node.getBoundingClientRect()]]) : null;
    this.syncColumn(key);
    this.updateCard(id);
    if (first) this._flip(new Set([id]), first, new Set([id]));
  }

  /** Whether any card of `tracked` had no FIRST rect (new) or one within ~2 cards of the viewport. */
  _anyNearScreen(tracked, first) {
    const vh = window.innerHeight, vw = window.innerWidth, margin = 240;
    for (const id of tracked) {
      const r = first.get(id);
      if (!r) return true;
      if (r.bottom > -margin && r.top < vh + margin && r.right > -margin && r.left < vw + margin) return true;
    }
    return false;
  }

  _flip(tracked, first, movedIds) {
    // One forced layout (LAST) that the next frame would need anyway; the animations run on the
    // compositor (Web Animations API: no style attribute, no class swaps, no second reflow).
    const vh = window.innerHeight, vw = window.innerWidth;
    const onScreen = (r) => r.bottom > 0 && r.top < vh && r.right > 0 && r.left < vw;
    for (const id of tracked) {
      const node = this.cards.get(id);
      if (!node || !node.isConnected) continue;
      const last = node.getBoundingClientRect();
      const f = first.get(id);
      if (!onScreen(last) && (!f || !onScreen(f))) continue;
      let frames;
      if (f) {
        const dx = f.left - last.left, dy = f.top - last.top;
        if (Math.abs(dx) < 1 && Math.abs(dy) < 1) continue;
        frames = [{ transform: `translate(${dx}px, ${dy}px)` }, { transform: 'none' }];
      } else if (movedIds.has(id)) {
        frames = [{ opacity: 0, transform: 'scale(.96)' }, { opacity: 1, transform: 'none' }];
      } else continue;
      if (typeof node.animate === 'function') {
        for (const a of node.getAnimations()) a.cancel();
        node.animate(frames, { duration: 220, easing: 'ease' });
      }
    }
  }

  // ── focus helpers ─────────────────────────────────────────────────────────
  _idOf(el) {
    const raw = el.dataset.orderId;
    const n = Number(raw);
    return this.state && this.state.orders.has(n) ? n : raw;
  }

  orderIdOf(el) {
    const card = el && el.closest ? el.closest('.card[data-order-id]') : null;
    return card ? this._idOf(card) : null;
  }

  _focusedOrderId() {
    const el = document.activeElement;
    return el && el.classList && el.classList.contains('card') ? this._idOf(el) : null;
  }

  focusCard(id) {
    const node = this.cards.get(id);
    if (node && node.isConnected) node.focus({ preventScroll: false });
  }

  /** Ids of the orders in a column, in plan (position) order. */
  columnIds(key) { return (this.state && this.state.columns.get(key)) || []; }

  /** A column's ids in the order the page shows them (the plan, or a view sort). */
  _viewIds(key) {
    const ids = (this.state && this.state.columns.get(key)) || [];
    return this.viewOrder ? this.viewOrder(key, ids) : ids;
  }

  /**
   * Ids of the cards a person can see in a column, top to bottom (filters.js hides cards with
   * `filter-out` and columns with `filter-hidden`): for keyboard navigation and find's jumps.
   */
  visibleIds(key) {
    const col = this.columns.get(key);
    if (!col || col.section.classList.contains('filter-hidden')) return [];
    const out = [];
    for (const el of col.list.children) {
      if (el.dataset.orderId && !el.classList.contains('filter-out')) out.push(this._idOf(el));
    }
    return out;
  }

  columnKeys() { return [...this.columns.keys()]; }

  columnName(key) {
    const col = this.columns.get(key);
    return col ? col.name.textContent : key;
  }

  ordersOf(key) { return columnOrders(this.state, key); }
}

// order_dialog.js — open an order and edit it (issue 10 item 2 "Open and edit").
//
// Click, Enter or Space on a card opens a native <dialog> named "Order <number>": the order's
// full text, its steps with their work centres and progress, the fields Description, Priority,
// Status, Due date, Quantity to make and Quantity completed (editable by schedulers and admins,
// read-only for viewers), Save with the `version` precondition of PUT /api/orders/:id (SPEC §4),
// and its History from GET /api/audit-log?orderId= (who, when, what, from → to work centre),
// refetched when a live event touches the open order. A 409 shows what changed (your values
// next to the server's current ones) and offers "Reload order". Escape or Close closes the
// dialog and puts the focus back on the card.

import { ApiError } from './api.js';
import { statusLabel, priorityLabel } from './board.js';
import { STATUSES, PRIORITIES } from './filters.js';

/** The editable fields: form control id suffix, JSON member, label, kind. */
export const FIELDS = [
  { id: 'description', key: 'description', label: 'Description', kind: 'text' },
  { id: 'priority', key: 'priority', label: 'Priority', kind: 'priority' },
  { id: 'status', key: 'status', label: 'Status', kind: 'status' },
  { id: 'due', key: 'dueDate', label: 'Due date', kind: 'date' },
  { id: 'to-make', key: 'quantityToMake', label: 'Quantity to make', kind: 'int' },
  { id: 'completed', key: 'quantityCompleted', label: 'Quantity completed', kind: 'int' },
];
/** History entries read for one order (newest first; older ones are counted, not listed). */
export const HISTORY_LIMIT = 100;
const CLICK_SLOP_PX = 6;      // the drag threshold of drag.js: a press that moved more was a drag
const STEP_STATUS = { pending: 'Pending', in_progress: 'In progress', complete: 'Complete', skipped: 'Skipped' };

/** How a field's value reads to a person (the conflict table, History). */
export function showValue(field, v) {
  if (v === null || v === undefined || v === '') return '—';
  if (field.kind === 'status') return statusLabel(v);
  if (field.kind === 'priority') return priorityLabel(v);
  if (field.kind === 'date') return String(v).slice(0, 10);
  return String(v);
}

/** Comparable form of a field's value (dates to YYYY-MM-DD, empty = null). */
function norm(field, v) {
  if (v === undefined || v === null || v === '') return null;
  if (field.kind === 'date') return String(v).slice(0, 10);
  if (field.kind === 'int') return Number(v);
  return v;
}

/**
 * The PUT body for the fields the user changed: `{version, ...changed}`; null when nothing
 * changed. in: base (the order as loaded), mine (values read from the form, same members).
 */
export function patchOf(base, mine) {
  const body = { version: base.version };
  let n = 0;
  for (const f of FIELDS) {
    if (norm(f, mine[f.key]) !== norm(f, base[f.key])) { body[f.key] = norm(f, mine[f.key]); n++; }
  }
  return n ? body : null;
}

/**
 * Rows of the conflict view: every field that someone else changed since `base` was loaded or
 * that the user changed, as {field, mine, server, theirs (bool: changed on the server)}.
 */
export function conflictRows(base, mine, server) {
  const rows = [];
  for (const f of FIELDS) {
    const b = norm(f, base[f.key]), m = norm(f, mine[f.key]), s = norm(f, server[f.key]);
    if (s !== b || m !== b) rows.push({ field: f, mine: m, server: s, theirs: s !== b });
  }
  return rows;
}

/**
 * One audit entry as a History line: {who, what}. in: entry (GET /api/audit-log shape, with
 * `username`), columnName (workCentreId|null) => name.
 */
export function describeEntry(e, columnName) {
  const d = e.eventData && typeof e.eventData === 'object' ? e.eventData : {};
  const who = e.username || (e.eventType === 'scanner_event' ? 'A scanner' : 'The system');
  const col = (id) => (id === null || id === undefined ? 'Backlog' : columnName(id));
  switch (e.eventType) {
    case 'order_created': return { who, what: `created it in ${col(e.toWorkCentreId)}` };
    case 'order_moved':
      return { who, what: e.fromWorkCentreId === e.toWorkCentreId
        ? `moved it within ${col(e.toWorkCentreId)}`
        : `moved it from ${col(e.fromWorkCentreId)} to ${col(e.toWorkCentreId)}` };
    case 'order_updated': {
      const names = Array.isArray(d.fields) ? d.fields.map((k) => FIELDS.find((f) => f.key === k)?.label.toLowerCase() || k) : [];
      let what = names.length ? `changed ${names.join(', ')}` : 'changed it';
      if (d.statusFrom || d.statusTo) what += ` (status ${statusLabel(d.statusFrom)} → ${statusLabel(d.statusTo)})`;
      if (typeof d.quantityCompletedDelta === 'number') {
        what += ` (${d.quantityCompletedDelta >= 0 ? '+' : ''}${d.quantityCompletedDelta} completed)`;
      }
      return { who, what };
    }
    case 'scanner_event': return { who, what: `recorded ${String(d.eventType || 'an event').replace(/_/g, ' ')}${e.toWorkCentreId ? ` at ${col(e.toWorkCentreId)}` : ''}` };
    case 'order_deleted': return { who, what: 'deleted it' };
    default: return { who, what: String(e.eventType).replace(/_/g, ' ') };
  }
}

/** "YYYY-MM-DD HH:MM" of an ISO timestamp in an IANA zone (numbers only: no locale wording). */
export function formatStamp(iso, timeZone) {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return String(iso);
  try {
    const parts = new Intl.DateTimeFormat('en-CA', {
      timeZone: timeZone || 'UTC', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
    }).formatToParts(t);
    const g = (k) => parts.find((p) => p.type === k)?.value ?? '';
    return `${g('year')}-${g('month')}-${g('day')} ${g('hour')}:${g('minute')}`;
  } catch {
    return `${t.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  }
}

const $ = (id) => document.getElementById(id);

/**
 * The dialog's controller. in: api (Api), view (BoardView: card nodes, column names, canEdit),
 * getState () => board state, timeZone () => tenant IANA zone or null, announce (text) => void,
 * onSaved (before, sent, after) => void: an edit was saved (undo.js keeps it; optional).
 * install(board root) wires click / Enter / Space on cards.
 */
export class OrderDialog {
  constructor({ api, view, getState, timeZone, announce, onSaved }) {
    this.onSaved = onSaved || (() => {});
    this.api = api;
    this.view = view;
    this.getState = getState;
    this.timeZone = timeZone || (() => null);
    this.announce = announce || (() => {});
    this.dialog = $('order-dialog');
    this.form = $('order-form');
    this.id = null;          // open order id
    this.base = null;        // the order as last loaded from the server (its version is sent)
    this.server = null;      // the server's order after a 409
    this.loadSeq = 0;        // drops answers of an order that is no longer open
    this.historyTimer = null;
    this.press = null;
    fillOptions();
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.save(); });
    $('order-close').addEventListener('click', () => this.close());
    $('order-reload').addEventListener('click', () => this.reload());
    this.dialog.addEventListener('close', () => this._closed());
  }

  /** Open on click (a press that did not become a drag), Enter or Space on a card. */
  install(root) {
    root.addEventListener('pointerdown', (e) => { this.press = { x: e.clientX, y: e.clientY }; });
    root.addEventListener('click', (e) => {
      const card = e.target.closest && e.target.closest('.card[data-order-id]');
      if (!card || e.button !== 0 || document.body.classList.contains('dragging')) return;
      const p = this.press;
      this.press = null;
      if (p && Math.hypot(e.clientX - p.x, e.clientY - p.y) >= CLICK_SLOP_PX) return;
      this.open(this.view.orderIdOf(card));
    });
    root.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' && e.key !== ' ') return;
      if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
      if (!e.target.classList || !e.target.classList.contains('card')) return;
      e.preventDefault();
      this.open(this.view.orderIdOf(e.target));
    });
  }

  /** Open the dialog for an order id: fetch it (with steps) and its history. */
  async open(id) {
    if (id === null || id === undefined) return;
    const st = this.getState();
    const o = st && st.orders.get(id);
    this.id = id;
    this.base = null;
    this.server = null;
    const seq = ++this.loadSeq;
    $('order-number').textContent = o ? o.orderNumber : `#${id}`;
    this.dialog.dataset.orderId = String(id);
    this._setBusy(true);
    $('order-conflict').hidden = true;
    this._error('');
    this._status('Loading…');
    this._setEditable();
    if (!this.dialog.open) this.dialog.showModal();
    $('order-description').focus();
    try {
      const order = await this.api.get(`/api/orders/${id}`);
      if (seq !== this.loadSeq) return;
      this._load(order);
      this._status('');
    } catch (err) {
      if (seq !== this.loadSeq) return;
      this._status(err.status === 404 ? 'This order no longer exists.' : `The order could not be loaded: ${err.message}`);
    }
    this._setBusy(false);
    this.loadHistory();
  }

  /** Close (Escape, Close button, logout); focus goes back to the card. */
  close() {
    if (this.dialog.open) this.dialog.close();
    else this._closed();
  }

  _closed() {
    const id = this.id;
    this.id = null;
    this.loadSeq++;
    clearTimeout(this.historyTimer);
    if (id !== null) this.view.focusCard(id);
  }

  /** A room event (app.js): a change of the open order refreshes the facts and the history. */
  onEvent(msg) {
    if (this.id === null || !msg || !msg.data) return;
    const d = msg.data;
    const oid = d.order ? d.order.id : d.orderId;
    if (oid !== this.id) return;
    if (msg.event === 'order_deleted') { this._status('This order was deleted by someone else.'); return; }
    if (msg.event !== 'order_moved' && msg.event !== 'order_updated') return;
    this._facts();
    clearTimeout(this.historyTimer);
    this.historyTimer = setTimeout(() => this.loadHistory(), 100);
  }

  // ── load and show ─────────────────────────────────────────────────────────
  _load(order) {
    this.base = order;
    $('order-number').textContent = order.orderNumber;
    for (const f of FIELDS) {
      const el = $(`order-${f.id}`);
      const v = order[f.key];
      el.value = v === null || v === undefined ? '' : f.kind === 'date' ? String(v).slice(0, 10) : String(v);
      el.removeAttribute('aria-invalid');
    }
    this._facts();
    this._steps(order.steps || []);
  }

  /** Stock code, work centre, position, dates: from the live board where it has them. */
  _facts() {
    const o = this.base;
    if (!o) return;
    const live = this.getState()?.orders.get(this.id) || o;
    const wc = live.workCentreId === null || live.workCentreId === undefined ? 'Backlog' : this._wcName(live.workCentreId);
    const facts = [
      ['Stock code', o.stockCode],
      ['Work centre', `${wc}, position ${Number(live.position) + 1}`],
      ['Current operation', o.currentOperation || '—'],
      ['Start date', o.startDate || '—'],
      ['Completion date', o.completionDate || '—'],
      ['Version', String(o.version)],
    ];
    const dl = $('order-facts');
    dl.replaceChildren(...facts.map(([k, v]) => {
      const div = document.createElement('div');
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      div.append(dt, dd);
      return div;
    }));
  }

  _wcName(id) {
    const st = this.getState();
    const wc = st && st.workCentres.find((w) => String(w.id) === String(id));
    return wc ? wc.name : `Work centre ${id}`;
  }

  _steps(steps) {
    const body = $('order-steps').tBodies[0];
    body.replaceChildren(...steps.map((s) => {
      const tr = document.createElement('tr');
      tr.dataset.step = String(s.stepNumber);
      const cells = [
        String(s.stepNumber), s.operationName || '—',
        s.workCentreId === null || s.workCentreId === undefined ? '—' : this._wcName(s.workCentreId),
        STEP_STATUS[s.status] || s.status || '—',
      ];
      for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.append(td); }
      const td = document.createElement('td');
      const made = Number(s.quantityCompleted) || 0, toMake = Number(this.base.quantityToMake) || 0;
      const bar = document.createElement('progress');
      bar.max = Math.max(toMake, 1);
      bar.value = Math.min(made, Math.max(toMake, 1));
      bar.setAttribute('aria-label', `Step ${s.stepNumber}: ${made} of ${toMake} made`);
      const txt = document.createElement('span');
      txt.textContent = ` ${made} / ${toMake}`;
      td.append(bar, txt);
      tr.append(td);
      return tr;
    }));
    $('order-steps').hidden = steps.length === 0;
    $('order-no-steps').hidden = steps.length !== 0;
  }

  /** GET the order's audit entries into the History list (schedulers and admins; SPEC §3). */
  async loadHistory() {
    const id = this.id;
    if (id === null) return;
    const list = $('order-history');
    const note = $('order-history-note');
    if (!this.view.canEdit) {
      list.replaceChildren();
      note.textContent = 'The history is shown to schedulers and admins.';
      return;
    }
    try {
      const page = await this.api.get(`/api/audit-log?orderId=${encodeURIComponent(id)}&limit=${HISTORY_LIMIT}`);
      if (id !== this.id) return;
      const tz = this.timeZone();
      list.replaceChildren(...(page.data || []).map((e) => {
        const li = document.createElement('li');
        li.dataset.eventType = e.eventType;
        li.dataset.auditId = String(e.id);
        const time = document.createElement('time');
        time.dateTime = e.timestamp;
        time.textContent = formatStamp(e.timestamp, tz);
        const { who, what } = describeEntry(e, (wid) => this._wcName(wid));
        const strong = document.createElement('strong');
        strong.textContent = who;
        li.append(time, ' ', strong, ` ${what}.`);
        return li;
      }));
      const total = Number(page.total) || 0;
      note.textContent = total === 0 ? 'No history yet.'
        : total > HISTORY_LIMIT ? `The newest ${HISTORY_LIMIT} of ${total} entries.` : '';
    } catch (err) {
      if (id !== this.id) return;
      note.textContent = `The history could not be loaded: ${err.message}`;
    }
  }

  // ── edit and save ─────────────────────────────────────────────────────────
  _setEditable() {
    const edit = this.view.canEdit;
    for (const f of FIELDS) {
      const el = $(`order-${f.id}`);
      if (el.tagName === 'SELECT') el.disabled = !edit; else el.readOnly = !edit;
    }
    $('order-save').hidden = !edit;
    $('order-readonly').hidden = edit;
  }

  _setBusy(busy) {
    this.dialog.setAttribute('aria-busy', busy ? 'true' : 'false');
    $('order-save').disabled = busy;
  }

  _read() {
    const mine = {};
    for (const f of FIELDS) mine[f.key] = $(`order-${f.id}`).value;
    return mine;
  }

  _status(text) { $('order-message').textContent = text; }

  _error(text, fields = []) {
    const box = $('order-error');
    box.textContent = text;
    box.hidden = !text;
    for (const f of FIELDS) {
      const el = $(`order-${f.id}`);
      if (fields.includes(f.key)) el.setAttribute('aria-invalid', 'true'); else el.removeAttribute('aria-invalid');
    }
  }

  /** Save the changed fields with the version precondition (SPEC §4 PUT /api/orders/:id). */
  async save() {
    if (!this.view.canEdit || !this.base || this.id === null) return;
    const mine = this._read();
    for (const f of FIELDS.filter((x) => x.kind === 'int')) {
      if (!/^[0-9]{1,9}$/.test(String(mine[f.key]).trim())) {
        this._error(`${f.label} must be a whole number of 0 or more.`, [f.key]);
        $(`order-${f.id}`).focus();
        return;
      }
    }
    const body = patchOf(this.base, mine);
    if (!body) { this._error(''); this._status('Nothing to save: no field was changed.'); return; }
    const id = this.id, seq = this.loadSeq;
    this._setBusy(true);
    this._status('Saving…');
    try {
      const before = this.base;
      const order = await this.api.request('PUT', `/api/orders/${id}`, body);
      this.onSaved(before, body, order);
      if (seq !== this.loadSeq) return;
      this._error('');
      $('order-conflict').hidden = true;
      this._load(order);
      this._status('Saved.');
      this.announce(`${order.orderNumber} saved.`);
    } catch (err) {
      if (seq !== this.loadSeq) return;
      this._status('');
      await this._saveFailed(err, mine);
    } finally {
      if (seq === this.loadSeq) this._setBusy(false);
    }
  }

  async _saveFailed(err, mine) {
    const b = (err instanceof ApiError && err.body) || {};
    if (err.status === 409 && b.reason !== 'wip_limit') {
      // Someone changed it first: show their values next to ours; Reload takes theirs.
      try {
        this.server = await this.api.get(`/api/orders/${this.id}`);
      } catch (e2) {
        this._error(`Someone else changed this order, and it could not be read again: ${e2.message}`);
        return;
      }
      this._conflict(conflictRows(this.base, mine, this.server));
      return;
    }
    if (err.status === 409) {
      this._error(`The work centre is at its WIP limit (${b.count ?? '?'} of ${b.wipLimit ?? '?'}): ${b.error || 'not saved'}.`);
    } else if (err.status === 400 && Array.isArray(b.details)) {
      this._error(b.details.map((d) => `${FIELDS.find((f) => f.key === d.field)?.label || d.field}: ${d.message}`).join(' '),
        b.details.map((d) => d.field));
    } else if (err.status === 404) {
      this._error('This order no longer exists.');
    } else if (err.status === 403) {
      this._error('Your role may not change orders.');
    } else {
      this._error(`Not saved: ${err.message || err.code}`);
    }
  }

  _conflict(rows) {
    const body = $('order-conflict-table').tBodies[0];
    body.replaceChildren(...rows.map((r) => {
      const tr = document.createElement('tr');
      tr.dataset.field = r.field.key;
      if (r.theirs) tr.classList.add('theirs');
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = r.field.label;
      const a = document.createElement('td');
      a.textContent = showValue(r.field, r.mine);
      const b = document.createElement('td');
      b.textContent = showValue(r.field, r.server) + (r.theirs ? ' (changed)' : '');
      tr.append(th, a, b);
      return tr;
    }));
    const by = this.server.version - this.base.version;
    $('order-conflict-text').textContent = `Someone else saved this order ${by === 1 ? 'once' : `${by} times`} since you opened it, so yours was not saved. ` +
      'Reload order to start again from the values now on the server.';
    $('order-conflict').hidden = false;
    $('order-reload').focus();
    this.announce('Not saved: someone else changed this order first.');
  }

  /** "Reload order": the server's current order replaces the form (the user's edits go). */
  async reload() {
    if (this.id === null) return;
    const seq = this.loadSeq;
    try {
      const order = await this.api.get(`/api/orders/${this.id}`);
      if (seq !== this.loadSeq) return;
      this.server = null;
      this._load(order);
      $('order-conflict').hidden = true;
      this._error('');
      this._status('Reloaded: these are the values on the server now.');
      $('order-description').focus();
      this.loadHistory();
    } catch (err) {
      this._error(`The order could not be reloaded: ${err.message}`);
    }
  }
}

/** Option lists of the Priority and Status selects (labels as on the cards). */
export function fillOptions() {
  const fill = (sel, values, label) => {
    if (sel.options.length) return;
    for (const v of values) { const o = document.createElement('option'); o.value = v; o.textContent = label(v); sel.append(o); }
  };
  fill($('order-priority'), PRIORITIES, priorityLabel);
  fill($('order-status'), STATUSES, statusLabel);
}

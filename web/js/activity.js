// activity.js — the "Activity" panel (issue 10 item 5 "Who did what"): the room's events as
// they arrive (moves, edits, creations, deletions, imports, drag locks taken and released, work
// centre changes), who and when, in words; older entries from the audit log (GET
// /api/audit-log, SPEC §4; schedulers and admins) when the panel is opened, newest first, paged
// with "Show older". The list keeps at most ACTIVITY_MAX entries in the DOM.
//
// Live `order_updated` / `order_created` / `order_deleted` / `orders_imported` events do not say
// who made them (SPEC §5 shapes); for schedulers and admins the panel fills the name in from the
// newest audit entries (one GET per burst of events), otherwise it reads "Someone".

import { describeEntry, formatStamp, FIELDS, showValue } from './order_dialog.js';

/** Entries kept in the DOM (live and older together); the oldest are dropped beyond it. */
export const ACTIVITY_MAX = 200;
/** Audit entries read per page ("Show older"). */
export const ACTIVITY_PAGE = 50;

/** Audit event types that a live event of the same name also reports (the rest are older only). */
const AUDITED = new Set(['order_moved', 'order_updated', 'order_created', 'order_deleted', 'orders_imported']);

function userOf(v) {
  if (v && typeof v === 'object') return { userId: v.userId ?? v.id ?? null, username: v.username ?? null };
  if (typeof v === 'string') return { userId: null, username: v };
  return { userId: null, username: null };
}

/**
 * One live room event as an Activity line, or null when it is not shown (presence, pings,
 * a lock ended by the move or delete that is itself shown). Pure.
 * in: msg ({event, seq, data}), prev (before the event: {order: the order as the board had it
 * or null, lock: the drag lock on it or null}), wcName (workCentreId|null) => column name.
 * out: {type, orderId|null, who: username|null (null: not in the event), what: text}.
 */
export function describeEvent(msg, prev, wcName) {
  const d = (msg && msg.data) || {};
  const num = (o) => (o && o.orderNumber) || (prev.order && prev.order.orderNumber) || `order ${d.orderId ?? '?'}`;
  switch (msg.event) {
    case 'order_moved': {
      const o = d.order || {};
      const to = d.toWorkCentreId !== undefined ? d.toWorkCentreId : o.workCentreId ?? null;
      const from = d.fromWorkCentreId !== undefined ? d.fromWorkCentreId : prev.order ? prev.order.workCentreId ?? null : null;
      const pos = Number.isInteger(d.position) ? `, position ${d.position + 1}` : '';
      const what = (from ?? null) === (to ?? null)
        ? `moved ${num(o)} within ${wcName(to)}${pos}`
        : `moved ${num(o)} from ${wcName(from)} to ${wcName(to)}${pos}`;
      return { type: msg.event, orderId: o.id ?? null, who: userOf(d.movedBy).username, what };
    }
    case 'order_updated': {
      const o = d.order || {};
      const before = prev.order;
      const parts = [];
      if (before) {
        for (const f of FIELDS) {
          if (!(f.key in o)) continue;
          const a = showValue(f, before[f.key]), b = showValue(f, o[f.key]);
          if (a === b) continue;
          parts.push(f.kind === 'text' ? f.label.toLowerCase() : `${f.label.toLowerCase()} ${a} → ${b}`);
        }
      }
      return { type: msg.event, orderId: o.id ?? null, who: null,
        what: parts.length ? `changed ${num(o)}: ${parts.join(', ')}` : `changed ${num(o)}` };
    }
    case 'order_created': {
      const o = d.order || {};
      return { type: msg.event, orderId: o.id ?? null, who: null, what: `created ${num(o)} in ${wcName(o.workCentreId ?? null)}` };
    }
    case 'order_deleted':
      return { type: msg.event, orderId: d.orderId ?? null, who: null, what: `deleted ${num(null)}` };
    case 'orders_imported':
      return { type: msg.event, orderId: null, who: null,
        what: `imported orders: ${Number(d.created) || 0} created, ${Number(d.updated) || 0} updated` };
    case 'order_locked':
      return { type: msg.event, orderId: d.orderId ?? null, who: userOf(d.lockedBy).username,
        what: `picked up ${d.orderNumber || num(null)} (drag lock taken)` };
    case 'order_unlocked': {
      const holder = prev.lock ? prev.lock.lockedBy.username : null;
      if (d.reason === 'moved' || d.reason === 'deleted') return null;   // the move / delete is shown
      const what = d.reason === 'expired' ? `the drag lock on ${num(null)} expired`
        : d.reason === 'disconnected' ? `let go of ${num(null)} (disconnected; drag lock released)`
        : `put ${num(null)} back without moving it (drag lock released)`;
      return { type: msg.event, orderId: d.orderId ?? null, who: d.reason === 'expired' ? null : holder, what };
    }
    case 'work_centre_updated':
      return { type: msg.event, orderId: null, who: null, what: 'changed the work centres' };
    default:
      return null;
  }
}

const $ = (id) => document.getElementById(id);

/**
 * The panel's controller. in: api (Api), getState () => board state, canReadAudit () => bool
 * (schedulers and admins, SPEC §3), wcName (workCentreId|null) => column name, timeZone () =>
 * tenant IANA zone or null. The page calls before(msg) ahead of applying a room event and
 * record(msg, ctx) after it was applied.
 */
export class ActivityPanel {
  constructor({ api, getState, canReadAudit, wcName, timeZone }) {
    this.api = api;
    this.getState = getState;
    this.canReadAudit = canReadAudit;
    this.wcName = wcName;
    this.timeZone = timeZone || (() => null);
    this.panel = $('activity-panel');
    this.list = $('activity-list');
    this.status = $('activity-status');
    this.toggleBtn = $('activity-button');
    this.olderBtn = $('activity-older');
    this.auditIds = new Set();   // audit entries shown or claimed by a live entry
    this.offset = 0;             // audit entries read so far (the next page starts here)
    this.loadedOnce = false;
    this.unnamed = [];           // live entries waiting for their author from the audit log
    this.nameTimer = null;
    this.gen = 0;                // bumped by clear(): answers for a previous session are dropped
    this.toggleBtn.addEventListener('click', () => (this.isOpen() ? this.close() : this.open()));
    $('activity-close').addEventListener('click', () => { this.close(); this.toggleBtn.focus(); });
    this.olderBtn.addEventListener('click', () => this.loadOlder());
  }

  isOpen() { return !this.panel.hidden; }

  /** Show the panel; the first time, read the newest page of the audit log under the live entries. */
  open() {
    this.panel.hidden = false;
    this.toggleBtn.setAttribute('aria-expanded', 'true');
    if (!this.loadedOnce) { this.loadedOnce = true; this.loadOlder(); }
  }

  close() {
    this.panel.hidden = true;
    this.toggleBtn.setAttribute('aria-expanded', 'false');
  }

  /** Forget everything (logout / another user on the same page). */
  clear() {
    this.gen++;
    this.close();
    this.list.replaceChildren();
    this.auditIds.clear();
    this.offset = 0;
    this.loadedOnce = false;
    this.unnamed = [];
    clearTimeout(this.nameTimer);
    this.status.textContent = '';
    this.olderBtn.hidden = true;
  }

  /** What the board knew just before msg is applied (the order and its lock). */
  before(msg) {
    const st = this.getState();
    const d = (msg && msg.data) || {};
    const id = d.order ? d.order.id : d.orderId;
    const o = st && id !== undefined ? st.orders.get(id) : null;
    return { order: o ? { ...o } : null, lock: st && id !== undefined ? st.locks.get(id) || null : null };
  }

  /** Add the line for an applied room event (newest first). */
  record(msg, ctx) {
    const e = describeEvent(msg, ctx || { order: null, lock: null }, this.wcName);
    if (!e) return;
    const li = this._line(new Date().toISOString(), e.who, e.what, e.type);
    li.dataset.live = 'true';
    if (e.orderId !== null && e.orderId !== undefined) li.dataset.orderId = String(e.orderId);
    this.list.prepend(li);
    this._trim();
    if (e.who === null && AUDITED.has(e.type) && this.canReadAudit()) {
      this.unnamed.push({ li, type: e.type, orderId: e.orderId });
      clearTimeout(this.nameTimer);
      this.nameTimer = setTimeout(() => this._nameFromAudit(), 250);
    }
  }

  _line(iso, who, what, type) {
    const li = document.createElement('li');
    li.dataset.eventType = type;
    const time = document.createElement('time');
    time.dateTime = iso;
    time.textContent = formatStamp(iso, this.timeZone());
    const strong = document.createElement('strong');
    strong.className = 'who';
    strong.textContent = who || 'Someone';
    li.append(time, ' ', strong, ` ${what}.`);
    return li;
  }

  _trim() {
    while (this.list.children.length > ACTIVITY_MAX) this.list.lastElementChild.remove();
  }

  /** Fill in who made the unnamed live entries from the newest audit entries (one GET). */
  async _nameFromAudit() {
    const waiting = this.unnamed;
    this.unnamed = [];
    if (!waiting.length) return;
    const gen = this.gen;
    let page;
    try {
      page = await this.api.get(`/api/audit-log?limit=${Math.min(500, waiting.length + 20)}`);
    } catch { return; }
    if (gen !== this.gen) return;
    const entries = page.data || [];
    // Newest live entry ↔ newest audit entry of the same type and order.
    for (const w of waiting.slice().reverse()) {
      const hit = entries.find((a) => !this.auditIds.has(a.id) && a.eventType === w.type &&
        (a.orderId ?? null) === (w.orderId ?? null));
      if (!hit) continue;
      this.auditIds.add(hit.id);
      w.li.dataset.auditId = String(hit.id);
      if (hit.username) w.li.querySelector('.who').textContent = hit.username;
    }
  }

  /** Read the next page of the audit log (newest first) below what is shown. */
  async loadOlder() {
    if (!this.canReadAudit()) {
      this.status.textContent = 'Events appear here as they happen. Older entries are shown to schedulers and admins.';
      this.olderBtn.hidden = true;
      return;
    }
    const gen = this.gen;
    this.olderBtn.disabled = true;
    this.status.textContent = 'Loading older entries…';
    try {
      const page = await this.api.get(`/api/audit-log?limit=${ACTIVITY_PAGE}&offset=${this.offset}`);
      if (gen !== this.gen) return;
      const entries = page.data || [];
      this.offset += entries.length;
      // Live entries already shown are the newest audit entries of their type and order: each
      // one claims one of them, so nothing is listed twice.
      const live = [...this.list.querySelectorAll('li[data-live=true]:not([data-audit-id])')];
      const frag = document.createDocumentFragment();
      for (const a of entries) {
        if (this.auditIds.has(a.id)) continue;
        const twin = live.find((li) => !li.dataset.auditId && li.dataset.eventType === a.eventType &&
          (li.dataset.orderId ?? '') === (a.orderId === null || a.orderId === undefined ? '' : String(a.orderId)));
        this.auditIds.add(a.id);
        if (twin) {
          twin.dataset.auditId = String(a.id);
          if (a.username && twin.querySelector('.who').textContent === 'Someone') twin.querySelector('.who').textContent = a.username;
          continue;
        }
        const { who, what } = describeAudit(a, this.wcName, (id) => this.getState()?.orders.get(id)?.orderNumber);
        const li = this._line(a.timestamp, who, what, a.eventType);
        li.classList.add('older');
        li.dataset.auditId = String(a.id);
        frag.appendChild(li);
      }
      this.list.appendChild(frag);
      this._trim();
      const total = Number(page.total) || 0;
      const more = this.offset < total && this.list.children.length < ACTIVITY_MAX;
      this.olderBtn.hidden = !more;
      this.status.textContent = total === 0 && this.list.children.length === 0 ? 'Nothing has happened yet.' : '';
    } catch (err) {
      if (gen !== this.gen) return;
      this.status.textContent = `Older entries could not be loaded: ${err.message}`;
    } finally {
      if (gen === this.gen) this.olderBtn.disabled = false;
    }
  }
}

/**
 * An audit entry of any order as an Activity line: {who, what}. The order dialog's History
 * wording ("moved it from A to B") with the order number in place of "it". in: a (audit entry),
 * wcName (workCentreId|null) => name, numberOf (orderId) => order number or undefined.
 */
export function describeAudit(a, wcName, numberOf = () => undefined) {
  const d = a.eventData && typeof a.eventData === 'object' ? a.eventData : {};
  if (a.eventType === 'orders_imported') {
    return { who: a.username || 'Someone',
      what: `imported orders${Number.isFinite(d.created) ? `: ${d.created} created, ${d.updated ?? 0} updated` : ''}` };
  }
  if (/^work_centre/.test(a.eventType)) {
    const name = d.name || d.code || '';
    const verb = a.eventType === 'work_centre_created' ? 'created' : a.eventType === 'work_centre_deleted' ? 'deleted'
      : a.eventType === 'work_centres_reordered' ? 'reordered' : 'changed';
    return { who: a.username || 'Someone', what: a.eventType === 'work_centres_reordered' ? 'reordered the work centres'
      : `${verb} work centre ${name}`.trim() };
  }
  const { who, what } = describeEntry(a, (id) => wcName(id));
  const num = d.orderNumber || numberOf(a.orderId) || (a.orderId ? `order ${a.orderId}` : 'an order');
  const said = what.replace(/\bit\b/, num);
  return { who, what: said.includes(num) ? said : `${said} for ${num}` };   // scanner events name no "it"
}

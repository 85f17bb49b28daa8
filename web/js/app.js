// app.js — wires the page together: login/session, board load, live events, moves (pointer and
// keyboard), presence, connection indicator, dashboard strip and CSV import.

import { Api, ApiError } from './api.js';
import { BoardSocket } from './ws.js';
import { BoardView, statusLabel } from './board.js';
import { installDrag } from './drag.js';
import { ImportDialog } from './import.js';
import { Finder } from './find.js';
import { WebhooksDialog } from './webhooks.js';
import { BoardFilters } from './filters.js';
import { OrderDialog } from './order_dialog.js';
import { DropPreview } from './preview.js';
import { TimelineView } from './timeline.js';
import { ActivityPanel } from './activity.js';
import { UndoStack } from './undo.js';
import * as S from './state.js';
import { wipCheck, dueSoonUntil, scheduledMinutes } from './wip.js';
import { WipPrompt, LimitsDialog, MoveToMenu, BoardLoading, softWipText, hardWipText } from './shopfloor.js';

const $ = (id) => document.getElementById(id);

const api = new Api();
let me = null;             // {id, username, role, ...}
let canEdit = false;
let state = null;          // see state.js
let view = null;
let drag = null;
let sock = null;
let importer = null;
let finder = null;
let filters = null;        // filters.js: what the board shows
let orderDialog = null;    // order_dialog.js: open and edit an order
let activity = null;       // activity.js: the Activity panel
let undo = null;           // undo.js: Undo / Ctrl+Z of our own moves and edits
let timeZone = null;
let calendar = null;       // GET /api/tenant/calendar (SPEC §9): working days for "due soon"
let wipPrompt = null;      // shopfloor.js: WIP limit confirmation / refusal
let limitsDialog = null;   // shopfloor.js: an admin's WIP limit, policy, default minutes
let moveTo = null;         // shopfloor.js: "Move to…" menu
let loading = null;        // shopfloor.js: the board's loading progress
let preview = null;        // preview.js: "Drop here: N orders become late" during a move
let timeline = null;       // timeline.js: the Timeline view

let loadingBoard = false;  // a GET /api/planning-board is in flight: room events are queued
let queued = [];
let joinPending = null;    // {seq, target}: a rejoin sent because of a seq gap, until target is reached
let heldLock = null;       // orderId we hold a drag lock on (drag or keyboard dialog)
let renewTimer = null;
let batch = null;          // merged applyEvent results waiting for the next frame
let connState = 'connecting';
let everOnline = false;
let retryAt = 0;
let countdownTimer = null;
let dashboardOff = false;
let dashTimer = null;
let dashFirstPending = 0;
let todayTimer = null;
let messageTimer = null;

// ── timings (read by the browser tests and the performance figures in docs/web.md) ──────────
// The last few durations (ms) of each kind, newest last: boardFetch (GET + JSON), render
// (snapshot → state → DOM), renderPainted (render start → two frames later, i.e. painted),
// event (applyEvent of one WebSocket event), apply (DOM update of one batch of events),
// eventToDom (a batch's first frame received → its DOM update done), renderComplete (render
// start → every card on the page: long columns are finished after the first paint), applyMove /
// applySchedule (apply of a batch holding an order_moved / of a schedule_updated batch without one).
const timings = {};
function recordTiming(name, ms) {
  const list = timings[name] || (timings[name] = []);
  list.push(Math.round(ms * 100) / 100);
  if (list.length > 50) list.shift();
}

// ── announcements and messages ──────────────────────────────────────────────
function announce(text) {
  const el = $('announcer');
  el.textContent = '';
  // A fresh text node after a tick makes screen readers speak repeated messages too.
  setTimeout(() => { el.textContent = text; }, 30);
}

function showMessage(text, kind = 'error') {
  const box = $('message');
  $('message-text').textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(messageTimer);
  messageTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

function explainError(err, order) {
  const num = order ? order.orderNumber : 'The order';
  switch (err.code) {
    case 'conflict':
      return `${num} was changed by someone else first; it has been put back. Try again.`;
    case 'locked': {
      const who = err.data?.lockedBy?.username;
      return `${num} is being moved by ${who || 'another user'}; it has been put back.`;
    }
    case 'forbidden': return 'Your role may not move orders.';
    case 'not_found': return `${num} no longer exists.`;
    case 'validation_failed': return `That move is not allowed: ${err.message}`;
    case 'disconnected': case 'timeout':
      return `The server did not confirm the move of ${num}; it has been put back.`;
    default: return `${num} could not be moved: ${err.message || err.code}`;
  }
}

// ── views ───────────────────────────────────────────────────────────────────
function showLogin(message) {
  $('app-view').hidden = true;
  $('login-view').hidden = false;
  const err = $('login-error');
  if (message) { err.textContent = message; err.hidden = false; } else { err.hidden = true; }
  try {
    const last = localStorage.getItem('planboard.lastTenant');
    if (last && !$('tenant').value) $('tenant').value = last;
  } catch { /* ignore */ }
  ($('tenant').value ? $('username') : $('tenant')).focus();
}

function showApp() {
  $('login-view').hidden = true;
  $('app-view').hidden = false;
}

// ── connection indicator ────────────────────────────────────────────────────
function setConn(st, info = {}) {
  connState = st;
  const box = $('connection-status');
  box.dataset.state = st;
  const text = $('connection-text');
  clearInterval(countdownTimer);
  $('reconnect-button').hidden = st !== 'reconnecting';
  if (st === 'online') {
    everOnline = true;
    text.textContent = 'Live';
  } else if (st === 'connecting') {
    text.textContent = 'Connecting…';
  } else if (st === 'resyncing') {
    text.textContent = 'Reloading board…';
  } else if (st === 'offline') {
    text.textContent = 'Offline';
  } else if (st === 'reconnecting') {
    retryAt = Date.now() + (info.retryInMs || 0);
    const tick = () => {
      const s = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      text.textContent = s > 0 ? `Reconnecting in ${s} s…` : 'Reconnecting…';
    };
    tick();
    countdownTimer = setInterval(tick, 1000);
  }
  const stale = everOnline && st !== 'online' && st !== 'offline';
  $('stale-banner').hidden = !stale;
  $('stale-text').textContent = st === 'resyncing'
    ? 'Reloading the board from the server…'
    : 'Connection lost: the board may be out of date. Moves are paused until it is back.';
  document.body.classList.toggle('stale', stale);
  if (st !== 'online' && drag) drag.cancel();
}

// ── board loading and events ────────────────────────────────────────────────
async function loadBoard(reason) {
  if (loadingBoard) return;
  loadingBoard = true;
  queued = [];
  if (state) setConn('resyncing');
  let attempt = 0;
  let t0, snap;
  const first = !state;      // nothing on the page yet: show the loading progress
  if (first) loading.start();
  for (;;) {
    try {
      const f0 = performance.now();
      snap = await api.get('/api/planning-board', first ? (got, total) => loading.progress(got, total) : undefined);
      recordTiming('boardFetch', performance.now() - f0);
      if (!me) { loadingBoard = false; loading.done(); return; } // logged out meanwhile
      if (first) {
        loading.building();
        await new Promise((r) => requestAnimationFrame(() => r()));   // let "Drawing the board…" paint
        if (!me) { loadingBoard = false; loading.done(); return; }
      }
      t0 = performance.now();
      state = S.boardFromSnapshot(snap);
      break;
    } catch (err) {
      if (!me || err.status === 401) { loadingBoard = false; loading.done(); return; }
      if (attempt === 0) showMessage('The board could not be loaded; retrying…');
      await new Promise((r) => setTimeout(r, S.backoffDelay(attempt++)));
      if (!me) { loadingBoard = false; return; }
    }
  }
  batch = null;
  view.render(state);
  loading.done();
  filters.refresh();
  finder.refresh();
  timeline.render();   // after the filters and the search: its bars follow them
  renderOnline();
  recordTiming('render', performance.now() - t0);
  requestAnimationFrame(() => requestAnimationFrame(() => recordTiming('renderPainted', performance.now() - t0)));
  loadingBoard = false;
  joinPending = null;
  if (sock && sock.isOpen()) {
    sock.join(state.seq, state.epoch);
    setConn('online');
  }
  const pending = queued;
  queued = [];
  for (const msg of pending) handleEvent(msg);
  if (reason) announce(reason);
  scheduleDashboard(0);
  scheduleQueued(0);
}

function onSocketMessage(msg) {
  if (msg.event === 'hello') {
    const h = msg.data || {};
    if (loadingBoard) return; // loadBoard joins when it finishes
    if (!state || (h.epoch && state.epoch && h.epoch !== state.epoch)) {
      loadBoard(state ? 'The server restarted; the board was reloaded.' : null);
    } else {
      sock.join(state.seq, state.epoch);
    }
    return;
  }
  if (loadingBoard || !state) { queued.push(msg); return; }
  handleEvent(msg, performance.now());
}

function handleEvent(msg, receivedAt) {
  const e0 = performance.now();
  const before = activity.before(msg);
  const res = S.applyEvent(state, msg);
  recordTiming('event', performance.now() - e0);
  if (res.status === 'ignored') return;
  if (res.status === 'gap') {
    // Missed events: ask for a replay from the last seq applied. If the replay has not brought
    // us up to the seq we saw within 3 s, fetch the whole board instead.
    if (joinPending) { joinPending.target = Math.max(joinPending.target, msg.seq); return; }
    const jp = { seq: state.seq, target: msg.seq };
    joinPending = jp;
    sock.join(state.seq, state.epoch);
    setTimeout(() => {
      if (joinPending !== jp || !state) return;
      joinPending = null;
      if (state.seq < jp.target) loadBoard('The board was reloaded to catch up.');
    }, 3000);
    return;
  }
  if (res.status === 'refetch') {
    if (msg.event === 'orders_imported') {
      activity.record(msg, before);
      const d = msg.data || {};
      announce(`Orders imported: ${d.created || 0} created, ${d.updated || 0} updated.`);
      loadBoard();
    } else {
      loadBoard('The board was reloaded from the server.');
    }
    return;
  }
  if (joinPending && state.seq >= joinPending.target) joinPending = null;
  queueApply(res, receivedAt ?? e0);
  orderDialog.onEvent(msg);
  activity.record(msg, before);
  if (res.presence) renderOnline();
  if (res.board) scheduleDashboard();
  if (msg.event === 'schedule_updated' || msg.event === 'work_centre_updated') scheduleQueued();
  describeForScreenReader(msg);
  // A drag in progress on a card that vanished or was taken by someone else cannot continue.
  const active = drag && drag.active();
  if (active !== null && active !== undefined) {
    const lk = state.locks.get(active);
    if (!state.orders.has(active) || (lk && String(lk.lockedBy.userId) !== String(me.id))) drag.cancel(active);
  }
  const bar = timeline.active();
  if (bar !== null) {
    const lk = state.locks.get(bar);
    if (!state.orders.has(bar) || (lk && String(lk.lockedBy.userId) !== String(me.id))) timeline.cancel(bar);
  }
  if (msg.event === 'order_unlocked' && heldLock !== null && msg.data && msg.data.orderId === heldLock &&
      msg.data.reason === 'expired') {
    heldLock = null;
  }
}

function describeForScreenReader(msg) {
  const d = msg.data || {};
  if (msg.event === 'order_moved' && d.order) {
    const mb = d.movedBy;
    let byId = null, by = null;
    if (mb && typeof mb === 'object') { byId = mb.userId ?? mb.id ?? null; by = mb.username ?? null; }
    else if (typeof mb === 'string') by = mb;
    else if (typeof mb === 'number') { byId = mb; by = state.online.get(mb)?.username ?? null; }
    if ((byId !== null && String(byId) === String(me.id)) || (by && by === me.username)) return;
    const key = S.colKey(d.toWorkCentreId !== undefined ? d.toWorkCentreId : d.order.workCentreId);
    announce(`${d.order.orderNumber} moved to ${view.columnName(key)}${by ? ` by ${by}` : ''}.`);
  } else if (msg.event === 'user_joined' && d.username && String(d.userId) !== String(me.id)) {
    announce(`${d.username} is online.`);
  } else if (msg.event === 'user_left' && d.username && String(d.userId) !== String(me.id)) {
    announce(`${d.username} went offline.`);
  }
}

function mergeResults(a, b) {
  if (!a) return { ...b, moved: [...b.moved], added: [...b.added], removed: [...b.removed],
    updated: new Set(b.updated), columns: new Set(b.columns) };
  a.moved.push(...b.moved);
  a.added.push(...b.added);
  a.removed.push(...b.removed);
  for (const x of b.updated) a.updated.add(x);
  for (const x of b.columns) a.columns.add(x);
  a.workCentres = a.workCentres || b.workCentres;
  a.presence = a.presence || b.presence;
  a.board = a.board || b.board;
  a.schedule = a.schedule || b.schedule;
  return a;
}

/** The column keys whose cards or counts a merged batch `b` changed (filters re-check those). */
function touchedColumns(b) {
  const keys = new Set(b.columns);
  for (const m of b.moved) { if (m.from) keys.add(m.from); keys.add(m.to); }
  for (const r of b.removed) if (r.from) keys.add(r.from);
  for (const id of [...b.updated, ...b.added]) {
    const o = state.orders.get(id);
    if (o) keys.add(S.colKey(o.workCentreId));
  }
  return keys;
}

function queueApply(res, receivedAt) {
  const first = !batch;
  batch = mergeResults(batch, res);
  if (!first) return;
  let done = false;
  const flush = () => {
    if (done) return;
    done = true;
    const b = batch;
    batch = null;
    if (b && state) {
      const a0 = performance.now();
      view.apply(state, b);
      filters.refresh(b.workCentres ? undefined : touchedColumns(b));
      if (b.workCentres) finder.refresh();
      else finder.refreshIds([...b.updated, ...b.added, ...b.moved.map((m) => m.orderId)]);
      timeline.render();
      const a1 = performance.now();
      recordTiming('apply', a1 - a0);
      recordTiming('eventToDom', a1 - receivedAt);
      // The same split by kind: a batch holding a move, or a schedule_updated batch without one.
      if (b.moved.length) recordTiming('applyMove', a1 - a0);
      else if (b.schedule) recordTiming('applySchedule', a1 - a0);
    }
  };
  requestAnimationFrame(flush);
  setTimeout(flush, 120); // background tabs get no animation frames
}

function renderOnline() {
  const ul = $('online-list');
  const users = [...state.online.values()].sort((a, b) => String(a.username).localeCompare(String(b.username)));
  const frag = document.createDocumentFragment();
  for (const u of users) {
    const li = document.createElement('li');
    li.dataset.userId = String(u.userId);
    li.textContent = u.username;
    if (me && String(u.userId) === String(me.id)) {
      li.classList.add('me');
      const you = document.createElement('span');
      you.className = 'you';
      you.textContent = ' (you)';
      li.appendChild(you);
    }
    frag.appendChild(li);
  }
  ul.replaceChildren(frag);
  $('online-count').textContent = String(users.length);
}

// ── dashboard ───────────────────────────────────────────────────────────────
// ── queued work of the projected schedule (column headers, issue 10 item 3) ─────────────────
// The board's order objects carry projected start and finish, not the work at their centre, so
// the hours come from GET /api/planning-board/stats `workMinutes` (SPEC §9 work of the column's
// not_started and in_progress orders): read after the board loads and again after each burst of
// schedule_updated (250 ms debounce, at most 2 s after the first), one request at a time.
let queuedTimer = null;
let queuedFirst = 0;
let queuedBusy = false;
let queuedAgain = false;
function scheduleQueued(delay = 250) {
  if (!me) return;
  const now = Date.now();
  if (!queuedFirst) queuedFirst = now;
  clearTimeout(queuedTimer);
  queuedTimer = setTimeout(refreshQueued, Math.min(delay, Math.max(0, queuedFirst + 2000 - now)));
}

async function refreshQueued() {
  queuedFirst = 0;
  if (!me || !state) return;
  if (queuedBusy) { queuedAgain = true; return; }
  queuedBusy = true;
  const who = me;
  try {
    const stats = await api.get('/api/planning-board/stats');
    if (me === who && state) view.setScheduledMinutes(scheduledMinutes(stats && stats.data));
  } catch { /* the headers keep the last figures (or the estimate) */ }
  queuedBusy = false;
  if (queuedAgain) { queuedAgain = false; scheduleQueued(0); }
}

function scheduleDashboard(delay = 1000) {
  if (dashboardOff || !me) return;
  const now = Date.now();
  if (!dashFirstPending) dashFirstPending = now;
  clearTimeout(dashTimer);
  // Debounced, but never later than 5 s after the first event of a burst.
  const wait = Math.min(delay, Math.max(0, dashFirstPending + 5000 - now));
  dashTimer = setTimeout(refreshDashboard, wait);
}

async function refreshDashboard() {
  dashFirstPending = 0;
  if (dashboardOff || !me) return;
  try {
    const d = await api.get('/api/analytics/dashboard');
    const num = (v) => (v === null || v === undefined || Number.isNaN(Number(v)) ? '—' : String(v));
    const pct = (v) => (v === null || v === undefined ? '—' : `${v}%`);
    $('dash-active-orders').textContent = num(d.activeOrders);
    $('dash-completion-rate').textContent = pct(d.completionRate);
    $('dash-utilization').textContent = pct(d.workCentreUtilization);
    const dp = d.dailyProduction || {};
    $('dash-daily-production').textContent = `${num(dp.actual)} / ${num(dp.target)}`;
    $('dash-overdue-orders').textContent = num(d.overdueOrders);
    $('dash-overdue-orders').parentElement.classList.toggle('warn', Number(d.overdueOrders) > 0);
    $('dash-avg-cycle-time').textContent = d.avgCycleTime === null || d.avgCycleTime === undefined ? '—' : `${d.avgCycleTime} h`;
    $('dashboard').hidden = false;
  } catch (err) {
    if (err.status === 404) {
      dashboardOff = true;
      $('dashboard').hidden = true;
    }
    // other failures keep the last figures; the next event retries
  }
}

// ── moves ───────────────────────────────────────────────────────────────────
function lockedByOther(id) {
  const lk = state && state.locks.get(id);
  return lk && String(lk.lockedBy.userId) !== String(me.id) ? lk : null;
}

function whyNotMovable(id) {
  if (!canEdit) return 'Viewers cannot move orders.';
  if (!state || !state.orders.has(id)) return 'That order is no longer on the board.';
  if (!sock || !sock.isOpen() || connState !== 'online') return 'Moves are paused until the connection is back.';
  const lk = lockedByOther(id);
  if (lk) return `${state.orders.get(id).orderNumber} is being moved by ${lk.lockedBy.username}.`;
  return true;
}

async function takeLock(id) {
  try {
    await sock.request('start_drag', { orderId: id });
    heldLock = id;
    clearInterval(renewTimer);
    // Locks last 30 s (SPEC §5); renew while the user still holds the card.
    renewTimer = setInterval(() => {
      if (heldLock !== null && sock.isOpen()) sock.send('start_drag', { orderId: heldLock });
    }, 20000);
    return true;
  } catch (err) {
    const o = state.orders.get(id);
    const msg = explainError(err, o).replace('; it has been put back', '');
    showMessage(msg);
    announce(msg);
    return false;
  }
}

function releaseLock(id, completed) {
  clearInterval(renewTimer);
  renewTimer = null;
  if (heldLock === id) heldLock = null;
  if (!completed && sock) sock.send('end_drag', { orderId: id, completed: false });
}

/**
 * Send move_order; on any error the card snaps back and the reason is shown. Into a column over
 * its soft WIP limit the page asks first (issue 10 item 3, SPEC §9); a hard limit is the server's
 * to refuse (409 reason wip_limit), and an admin may then resend with `override: true`. A
 * committed move is remembered for Undo (undo.js).
 */
async function moveOrder(id, toKey, position, { override = false } = {}) {
  let o = state.orders.get(id);
  if (!o) return;
  const was = { id, orderNumber: o.orderNumber, workCentreId: o.workCentreId ?? null, position: o.position };
  if (S.isNoopMove(state, id, toKey, position)) {
    releaseLock(id, false);
    view.snapBack(id);
    return;
  }
  const check = override ? null : wipCheck(state, id, toKey);
  if (check && check.policy === 'soft') {
    const ok = await wipPrompt.ask({ title: 'Over the WIP limit', text: softWipText(check), confirm: 'Move anyway' });
    o = state && state.orders.get(id);
    if (!o) return;
    if (!ok) {
      releaseLock(id, false);
      view.snapBack(id);
      announce(`${o.orderNumber} was not moved.`);
      return;
    }
  }
  const data = {
    orderId: id,
    toWorkCentreId: S.keyToWorkCentreId(toKey),
    position,
    fromWorkCentreId: o.workCentreId === undefined ? null : o.workCentreId,
    version: o.version,
  };
  if (override) data.override = true;
  try {
    const ack = await sock.request('move_order', data);
    releaseLock(id, true);
    undo.recordMove(was, ack && (ack.version ?? ack.order?.version));
    const over = ack && ack.wipExceeded ? ` ${view.columnName(toKey)} is now over its WIP limit.` : '';
    announce(`${o.orderNumber} moved to ${view.columnName(toKey)}, position ${position + 1}.${over}`);
  } catch (err) {
    releaseLock(id, false);
    view.snapBack(id);
    if (err.code === 'conflict' && err.data && err.data.reason === 'wip_limit') {
      const text = hardWipText(o.orderNumber, view.columnName(toKey), err.data, check);
      showMessage(text);
      announce(text);
      if (me && me.role === 'admin' && !override) {
        const ok = await wipPrompt.ask({ title: 'Hard WIP limit', confirm: 'Override',
          text: `${text} As an admin you may override the limit; the override is recorded.` });
        if (ok && state && state.orders.has(id)) moveOrder(id, toKey, position, { override: true });
      }
      return;
    }
    const msg = explainError(err, o);
    showMessage(msg);
    announce(msg);
  }
}

// ── keyboard ────────────────────────────────────────────────────────────────
let moveDialogId = null;

function onBoardKey(e) {
  const card = e.target.closest && e.target.closest('.card[data-order-id]');
  if (!card || !state) return;
  const id = view.orderIdOf(card);
  const o = state.orders.get(id);
  if (!o) return;
  const key = S.colKey(o.workCentreId);
  const ids = view.columnIds(key);
  const idx = ids.indexOf(id);
  const keys = view.columnKeys();
  const ci = keys.indexOf(key);

  if ((e.key === 'm' || e.key === 'M') && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    if (!canEdit) { announce('Viewers cannot move orders.'); return; }
    openMoveDialog(id);
    return;
  }
  if (e.altKey && canEdit && ['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight'].includes(e.key)) {
    // Quick moves: Alt+Up/Down one place, Alt+Left/Right to the neighbouring column.
    e.preventDefault();
    const why = whyNotMovable(id);
    if (why !== true) { showMessage(why); announce(why); return; }
    if (e.key === 'ArrowUp' && idx > 0) moveOrder(id, key, idx - 1);
    else if (e.key === 'ArrowDown' && idx < ids.length - 1) moveOrder(id, key, idx + 1);
    else if (e.key === 'ArrowLeft' && ci > 0) moveOrder(id, keys[ci - 1], Math.min(idx, view.columnIds(keys[ci - 1]).length));
    else if (e.key === 'ArrowRight' && ci < keys.length - 1) moveOrder(id, keys[ci + 1], Math.min(idx, view.columnIds(keys[ci + 1]).length));
    return;
  }
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  // Navigation goes over the cards as shown (filters hide some, a column may be view-sorted).
  const shown = view.visibleIds(key);
  const at = shown.indexOf(id);
  let target = null;
  if (e.key === 'ArrowUp' && at > 0) target = shown[at - 1];
  else if (e.key === 'ArrowDown' && at < shown.length - 1) target = shown[at + 1];
  else if (e.key === 'Home') target = shown[0];
  else if (e.key === 'End') target = shown[shown.length - 1];
  else if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
    const step = e.key === 'ArrowLeft' ? -1 : 1;
    for (let c = ci + step; c >= 0 && c < keys.length; c += step) {
      const other = view.visibleIds(keys[c]);
      if (other.length) { target = other[Math.min(Math.max(at, 0), other.length - 1)]; break; }
    }
  } else return;
  e.preventDefault();
  if (target !== null && target !== undefined) view.focusCard(target);
}

async function openMoveDialog(id) {
  const why = whyNotMovable(id);
  if (why !== true) { showMessage(why); announce(why); return; }
  const o = state.orders.get(id);
  if (!(await takeLock(id))) return;
  moveDialogId = id;
  $('move-order-number').textContent = o.orderNumber;
  const sel = $('move-column');
  sel.replaceChildren();
  const fromKey = S.colKey(o.workCentreId);
  for (const key of view.columnKeys()) {
    const opt = document.createElement('option');
    opt.value = key;
    const n = view.columnIds(key).length;
    opt.textContent = `${view.columnName(key)} (${n} order${n === 1 ? '' : 's'})`;
    if (key === fromKey) opt.selected = true;
    sel.appendChild(opt);
  }
  $('move-error').hidden = true;
  preview.start(id, $('move-preview'));
  updatePositionBounds(true);
  $('move-dialog').showModal();
  sel.focus();
}

function updatePositionBounds(initial) {
  const id = moveDialogId;
  const o = state.orders.get(id);
  const key = $('move-column').value;
  const n = view.columnIds(key).filter((x) => x !== id).length;
  const max = n + 1;
  const input = $('move-position');
  input.max = String(max);
  if (initial && key === S.colKey(o.workCentreId)) input.value = String(o.position + 1);
  else input.value = String(max);
  $('move-position-hint').textContent = `1 to ${max}; ${max} is the bottom of the column.`;
  previewMoveDialog();
}

/** The Move dialog's column and position as a drop point for the preview (preview.js). */
function previewMoveDialog() {
  if (moveDialogId === null) return;
  const pos = Number($('move-position').value);
  if (Number.isInteger(pos) && pos >= 1 && pos <= Number($('move-position').max)) preview.hover($('move-column').value, pos - 1);
}

function closeMoveDialog(moved) {
  const id = moveDialogId;
  moveDialogId = null;
  preview.stop();
  if ($('move-dialog').open) $('move-dialog').close();
  if (id !== null && !moved) releaseLock(id, false);
  if (id !== null) view.focusCard(id);
}

function submitMoveDialog(e) {
  e.preventDefault();
  const id = moveDialogId;
  if (id === null) return;
  const key = $('move-column').value;
  const max = Number($('move-position').max);
  const pos = Number($('move-position').value);
  if (!Number.isInteger(pos) || pos < 1 || pos > max) {
    const err = $('move-error');
    err.textContent = `Enter a position from 1 to ${max}.`;
    err.hidden = false;
    $('move-position').focus();
    return;
  }
  closeMoveDialog(true);
  moveOrder(id, key, pos - 1);
}

// ── drag preview and timeline ───────────────────────────────────────────────
/** A drag (card or bar) is over a drop point: the preview asks the server about it. */
function previewAt(id, toKey, position) {
  if (preview.orderId !== id) preview.start(id, $('drop-preview'));
  preview.hover(toKey, position);
}

/** Show the Timeline view instead of the board (true) or the board again (false). */
function showTimeline(on) {
  const btn = $('timeline-button');
  btn.setAttribute('aria-pressed', on ? 'true' : 'false');
  document.body.classList.toggle('timeline-on', on);
  if (on) {
    if (drag) drag.cancel();
    timeline.show();
  } else {
    timeline.hide();
  }
}

// ── session ─────────────────────────────────────────────────────────────────
function refreshToday() {
  if (view) view.setToday(S.todayIn(timeZone));
  if (view && calendar) view.setDueSoonUntil(dueSoonUntil(calendar, S.todayIn(timeZone)));
  if (view) view.setTimeZone(timeZone);
  if (filters && state) filters.refresh();   // "overdue" and "due within" follow the day
  if (timeline) timeline.tick();   // the "now" line (and the filters of the new day)
}

/** Issue 12 item 2: "Export to Excel" — every live order as an .xlsx (SPEC §10); issue 10 item 4:
 * "Export CSV" — the same as CSV (SPEC §4 GET /api/orders/export, the import's columns). Saved by
 * the browser under the server's file name. Any role may export. in: btn (the button pressed),
 * path, fallback (file name when the answer names none). */
async function exportOrders(btn, path, fallback) {
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  try {
    const { blob, filename } = await api.download(path, fallback);
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = filename;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    announce(`Exported the orders to ${filename}.`);
  } catch (err) {
    showMessage(`The export failed: ${(err.body && err.body.error) || err.message || 'unknown error'}`);
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

async function startSession() {
  me = api.user;
  if (!me) {
    try { me = await api.get('/api/auth/me'); api.user = me; } catch { showLogin(); return; }
  }
  canEdit = me.role === 'admin' || me.role === 'scheduler';
  document.body.classList.toggle('viewer', !canEdit);
  $('current-user').textContent = `${me.username} (${me.role})`;
  $('import-button').hidden = !canEdit;
  $('undo-button').hidden = !canEdit;
  undo.clear();
  activity.clear();
  $('webhooks-button').hidden = me.role !== 'admin';
  $('view-only').hidden = canEdit;  // issue 10 item 6: a visible "View only" state for viewers
  $('tenant-name').textContent = api.tenant ? `· ${api.tenant}` : '';
  dashboardOff = false;
  showApp();
  setConn('connecting');
  view.configure({ canEdit, isAdmin: me.role === 'admin', myUserId: me.id, today: S.todayIn(null) });

  // Today and the working days come together: "due soon" needs both (SPEC §9 calendar).
  Promise.all([api.get('/api/tenant').catch(() => null), api.get('/api/tenant/calendar').catch(() => null)])
    .then(([t, cal]) => {
      if (!me) return;
      if (t && t.name) $('tenant-name').textContent = `· ${t.name}`;
      if (t && t.timezone) timeZone = t.timezone;
      if (cal && Array.isArray(cal.shifts)) calendar = cal;
      refreshToday();
    });
  clearInterval(todayTimer);
  todayTimer = setInterval(refreshToday, 60000);

  await loadBoard();
  if (!me) return;
  sock = new BoardSocket({ api, onMessage: onSocketMessage, onStatus: (st, info) => {
    if (st === 'online' && loadingBoard) return; // loadBoard sets online when it joins
    setConn(st, info);
  } });
  sock.start();
  const first = document.querySelector('#board .card');
  if (first && document.activeElement === document.body) first.focus({ preventScroll: true });
}

function endSession(message) {
  if (sock) { sock.stop(); sock = null; }
  if (drag) drag.cancel();
  preview.stop();
  timeline.clear();
  showTimeline(false);
  me = null;
  state = null;
  calendar = null;
  view.setDueSoonUntil(null);
  wipPrompt.close();
  if ($('moveto-dialog').open) $('moveto-dialog').close();
  if ($('limits-dialog').open) $('limits-dialog').close();
  loading.done();
  heldLock = null;
  clearInterval(renewTimer);
  clearInterval(todayTimer);
  clearTimeout(dashTimer);
  clearTimeout(queuedTimer);
  queuedFirst = 0;
  loadingBoard = false;
  queued = [];
  batch = null;
  everOnline = false;
  view.clear();
  $('online-list').replaceChildren();
  $('dashboard').hidden = true;
  document.body.classList.remove('stale', 'viewer');
  $('view-only').hidden = true;
  if ($('import-dialog').open) $('import-dialog').close();
  if ($('move-dialog').open) $('move-dialog').close();
  orderDialog.close();
  activity.clear();
  undo.clear();
  showLogin(message);
}

async function onLogin(e) {
  e.preventDefault();
  const tenant = $('tenant').value.trim();
  const username = $('username').value.trim();
  const password = $('password').value;
  const err = $('login-error');
  if (!tenant || !username || !password) {
    err.textContent = 'Enter your organisation, username and password.';
    err.hidden = false;
    return;
  }
  const btn = $('login-submit');
  btn.disabled = true;
  err.hidden = true;
  try {
    await api.login(tenant, username, password);
    try { localStorage.setItem('planboard.lastTenant', tenant); } catch { /* ignore */ }
    $('password').value = '';
    await startSession();
  } catch (ex) {
    let msg;
    if (ex instanceof ApiError && ex.status === 401) msg = 'Wrong organisation, username or password.';
    else if (ex instanceof ApiError && ex.status === 429) {
      msg = `Too many attempts. Try again in ${ex.retryAfter || 60} seconds.`;
    } else if (ex instanceof ApiError && ex.status === 0) msg = 'The server cannot be reached. Check your connection.';
    else msg = ex.message || 'Login failed.';
    err.textContent = msg;
    err.hidden = false;
    $('password').focus();
  } finally {
    btn.disabled = false;
  }
}

// ── file drop on the page ───────────────────────────────────────────────────
function hasFiles(e) {
  const t = e.dataTransfer && e.dataTransfer.types;
  return !!t && Array.prototype.includes.call(t, 'Files');
}

function wireFileDrop() {
  const overlay = $('drop-overlay');
  let depth = 0;
  window.addEventListener('dragenter', (e) => {
    if (!hasFiles(e) || !me) return;
    depth++;
    if (canEdit) overlay.hidden = false;
  });
  window.addEventListener('dragleave', (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) overlay.hidden = true;
  });
  window.addEventListener('dragover', (e) => {
    if (!hasFiles(e) || !me) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = canEdit ? 'copy' : 'none';
  });
  window.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    if (!me) return;
    if (!canEdit) { showMessage('Viewers cannot import orders.'); return; }
    const f = e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) importer.open(f);
  });
}

// ── `/` focuses "Search orders" ─────────────────────────────────────────────
/** True when keys typed now go into a text field (there `/` is a character, not a shortcut). */
function typingInField(el) {
  if (!el) return false;
  if (el.isContentEditable) return true;
  const tag = el.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag !== 'INPUT') return false;
  return !['checkbox', 'radio', 'button', 'submit', 'reset', 'file', 'range', 'color'].includes(el.type);
}

function onSlash(e) {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
  if (!me || $('app-view').hidden || typingInField(e.target)) return;
  if (document.querySelector('dialog[open]')) return; // a modal owns the keyboard
  e.preventDefault();
  finder.focus();
}

// ── shop floor: WIP prompts, limits, "Move to…", loading (shopfloor.js) ───────
function wireShopFloor() {
  loading = new BoardLoading();
  wipPrompt = new WipPrompt();
  limitsDialog = new LimitsDialog({ api, announce, getState: () => state });
  moveTo = new MoveToMenu({
    columns: () => view.columnKeys().map((key) => ({ key, name: view.columnName(key), ids: view.columnIds(key) })),
    onChoose: (id, toKey, position) => moveOrder(id, toKey, position),
    onCancel: (id) => releaseLock(id, false),
  });
  // Capture phase: a press on these buttons must not also open the order dialog (its click
  // listener on the board runs after this one and never sees the event).
  $('board').addEventListener('click', async (e) => {
    const limits = e.target.closest && e.target.closest('button.wc-settings');
    const mt = e.target.closest && e.target.closest('button.move-to');
    if (!limits && !mt) return;
    e.stopPropagation();
    if (limits) { limitsDialog.open(limits.dataset.columnId, limits); return; }
    const id = view.orderIdOf(mt);
    const why = whyNotMovable(id);
    if (why !== true) { showMessage(why); announce(why); return; }
    if (!(await takeLock(id))) return;
    const o = state && state.orders.get(id);
    if (!o) { releaseLock(id, false); return; }
    moveTo.open(id, o.orderNumber, S.colKey(o.workCentreId), mt);
  }, true);
}

// ── Ctrl+Z: Undo (undo.js) ──────────────────────────────────────────────────
function onUndoKey(e) {
  if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey || (e.key !== 'z' && e.key !== 'Z')) return;
  if (!me || !canEdit || $('app-view').hidden || e.defaultPrevented) return;
  if (typingInField(e.target)) return;                   // the field's own undo
  if (document.querySelector('dialog[open]')) return;    // a modal owns the keyboard
  e.preventDefault();
  undo.undo();
}

// ── boot ────────────────────────────────────────────────────────────────────
function wire() {
  view = new BoardView($('board'), $('card-template'), { canEdit: false, myUserId: null, today: S.todayIn(null) });
  drag = installDrag($('board'), view, {
    canDrag: (id) => {
      const why = whyNotMovable(id);
      if (why !== true) { showMessage(why, 'info'); announce(why); }
      return why;
    },
    onStart: (id) => takeLock(id),
    onDrop: (id, toKey, beforeId) => { preview.stop(); moveOrder(id, toKey, S.dropPosition(state, id, toKey, beforeId)); },
    onCancel: (id) => { preview.stop(); releaseLock(id, false); },
    onOver: (id, toKey, beforeId) => previewAt(id, toKey, S.dropPosition(state, id, toKey, beforeId)),
  });
  preview = new DropPreview({ request: (ev, data) => sock.request(ev, data), getState: () => state });
  timeline = new TimelineView({
    root: $('timeline'), api, getState: () => state, getTimeZone: () => timeZone,
    // The board's filters and search apply to the bars too (filters, finder exist by render).
    view: {
      hidesOrder: (o) => !!filters && filters.hidesOrder(o),
      hidesRow: (key) => !!filters && filters.hidesColumn(key),
      searching: () => !!finder && finder.searching(),
      isHit: (id) => !!finder && finder.isHit(id),
    },
    hooks: {
      canEdit: () => canEdit,
      canDrag: (id) => {
        const why = whyNotMovable(id);
        if (why !== true) { showMessage(why, 'info'); announce(why); }
        return why;
      },
      onStart: (id) => takeLock(id),
      onOver: (id, toKey, position) => previewAt(id, toKey, position),
      onDrop: (id, toKey, position) => { preview.stop(); moveOrder(id, toKey, position); },
      onCancel: (id) => { preview.stop(); releaseLock(id, false); },
      onKeyMove: (id) => { if (canEdit) openMoveDialog(id); else announce('Viewers cannot move orders.'); },
    },
  });
  $('timeline-button').addEventListener('click', () => showTimeline($('timeline').hidden));
  $('move-position').addEventListener('input', previewMoveDialog);
  finder = new Finder({ input: $('search'), status: $('search-status'), view, getState: () => state, announce,
    onTiming: (ms) => recordTiming('search', ms), onChange: () => timeline.render() });
  filters = new BoardFilters({
    controls: {
      status: $('filter-status'), priority: $('filter-priority'), wc: $('filter-wc'), due: $('filter-due'),
      overdue: $('filter-overdue'), hideDone: $('filter-hide-done'), clear: $('filter-clear'),
    },
    view, getState: () => state, announce, onChange: () => timeline.render(),
  });
  // Cards that render() builds after the first paint, or that syncColumn adds, get the marks
  // of the filters and of the search like the others.
  view.onCardsBuilt = (ids) => { filters.markCards(ids); finder.refreshIds(ids); };
  view.onBuilt = (ms) => recordTiming('renderComplete', ms);
  const wcName = (id) => view.columnName(S.colKey(id));
  undo = new UndoStack({
    api, socket: () => sock, getState: () => state, me: () => me, wcName,
    canMove: (id) => whyNotMovable(id), announce, showMessage, button: $('undo-button'),
  });
  activity = new ActivityPanel({ api, getState: () => state, canReadAudit: () => canEdit, wcName,
    timeZone: () => timeZone });
  orderDialog = new OrderDialog({ api, view, getState: () => state, timeZone: () => timeZone, announce,
    onSaved: (before, sent, after) => undo.recordEdit(before, sent, after) });
  orderDialog.install($('board'));
  wireShopFloor();
  document.addEventListener('keydown', onSlash);
  document.addEventListener('keydown', onUndoKey);
  importer = new ImportDialog(api, {
    announce,
    wcName,
    onImported: () => scheduleDashboard(0),
  });

  $('login-form').addEventListener('submit', onLogin);
  $('logout-button').addEventListener('click', async () => {
    if (sock) { sock.stop(); sock = null; }
    await api.logout();
    endSession('You have logged out.');
  });
  $('reconnect-button').addEventListener('click', () => { if (sock) sock.reconnectNow(); });
  $('message-close').addEventListener('click', () => { $('message').hidden = true; });
  $('import-button').addEventListener('click', () => { importer.reset(); importer.open(); });
  $('export-button').addEventListener('click', (e) => exportOrders(e.currentTarget, '/api/orders/export?format=xlsx', 'orders.xlsx'));
  $('export-csv-button').addEventListener('click', (e) => exportOrders(e.currentTarget, '/api/orders/export', 'orders.csv'));
  const webhooks = new WebhooksDialog(api);
  $('webhooks-button').addEventListener('click', () => webhooks.open());
  $('board').addEventListener('keydown', onBoardKey);
  $('move-form').addEventListener('submit', submitMoveDialog);
  $('move-cancel').addEventListener('click', () => closeMoveDialog(false));
  $('move-dialog').addEventListener('cancel', (e) => { e.preventDefault(); closeMoveDialog(false); });
  $('move-column').addEventListener('change', () => updatePositionBounds(false));
  wireFileDrop();
  window.addEventListener('pagehide', () => {
    if (heldLock !== null && sock) sock.send('end_drag', { orderId: heldLock, completed: false });
  });

  api.onSessionLost = () => {
    if (me) endSession('Your session has ended. Please log in again.');
  };
}

async function boot() {
  wire();
  if (!api.hasSession()) { showLogin(); return; }
  // A reload: rotate the stored refresh token to get a fresh pair (retry while unreachable).
  showApp();
  setConn('connecting');
  $('board').setAttribute('aria-busy', 'true');
  for (let attempt = 0; ; attempt++) {
    try {
      const ok = await api.refresh();
      if (!ok) { showLogin('Your session has ended. Please log in again.'); return; }
      break;
    } catch {
      setConn('reconnecting', { retryInMs: S.backoffDelay(attempt) });
      await new Promise((r) => setTimeout(r, S.backoffDelay(attempt)));
    }
  }
  await startSession();
}

// Exposed for browser tests and debugging (read-only use).
window.planboard = {
  get state() { return state; },
  get connection() { return connState; },
  get user() { return me; },
  timings,
  statusLabel,
};

boot();

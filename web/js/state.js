// state.js — the planning board as data, and how each WebSocket event changes it.
//
// No DOM, no network: every function here is pure or mutates only the state object it is
// given, so it runs under `node --test` (test/web/state.test.mjs).
//
// State shape (built by boardFromSnapshot from GET /api/planning-board, SPEC §4):
//   seq, epoch           room sequence of the last event applied, and the room epoch (SPEC §5)
//   workCentres          [{id, code, name, capacity, displayOrder, isActive, description}]
//                        sorted by displayOrder, then id
//   orders               Map<orderId, order>         (order JSON of SPEC §2, kept current)
//   columns              Map<columnKey, orderId[]>   in position order; key 'backlog' or String(wcId)
//   locks                Map<orderId, {orderId, orderNumber, lockedBy:{userId, username}, expiresAt}>
//   online               Map<userId, {userId, username}>
//   scheduleAt           UTC ISO minute the projection was computed at (SPEC §9), or null

export const BACKLOG = 'backlog';

/** Column key of a work centre id (null/undefined = backlog). */
export function colKey(workCentreId) {
  return workCentreId === null || workCentreId === undefined ? BACKLOG : String(workCentreId);
}

/** Work centre id of a column key (backlog = null). */
export function keyToWorkCentreId(key) {
  if (key === BACKLOG || key === null || key === undefined) return null;
  const n = Number(key);
  return Number.isFinite(n) ? n : key;
}

function sortWorkCentres(list) {
  return list.slice().sort((a, b) =>
    (a.displayOrder ?? 0) - (b.displayOrder ?? 0) || (a.id > b.id ? 1 : a.id < b.id ? -1 : 0));
}

function stripOrders(wc) {
  const { orders: _ignored, ...rest } = wc;
  return rest;
}

function lockFromOrder(order) {
  const lb = order.lockedBy;
  if (!lb || lb.userId === undefined || lb.userId === null) return null;
  return {
    orderId: order.id,
    orderNumber: order.orderNumber,
    lockedBy: { userId: lb.userId, username: lb.username },
    expiresAt: lb.expiresAt ?? null,
  };
}

/**
 * Build a board state from the GET /api/planning-board body.
 * Orders inside each column are sorted by `position` (the server already sends them so).
 */
export function boardFromSnapshot(snap) {
  const state = {
    seq: Number(snap.seq ?? 0),
    epoch: snap.epoch ?? null,
    workCentres: sortWorkCentres((snap.workCentres || []).map(stripOrders)),
    orders: new Map(),
    columns: new Map(),
    locks: new Map(),
    online: new Map(),
    scheduleAt: snap.scheduleAt ?? null,
  };
  state.columns.set(BACKLOG, []);
  for (const wc of state.workCentres) state.columns.set(String(wc.id), []);

  const addAll = (list, key) => {
    const sorted = (list || []).slice().sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
    if (!state.columns.has(key)) state.columns.set(key, []);
    const ids = state.columns.get(key);
    for (const o of sorted) {
      const order = { ...o, workCentreId: keyToWorkCentreId(key) };
      state.orders.set(order.id, order);
      ids.push(order.id);
      const lk = lockFromOrder(order);
      if (lk) state.locks.set(order.id, lk);
    }
    renumber(state, key);
  };
  for (const wc of snap.workCentres || []) addAll(wc.orders, String(wc.id));
  addAll(snap.backlog, BACKLOG);

  for (const lk of snap.locks || []) {
    state.locks.set(lk.orderId, {
      orderId: lk.orderId,
      orderNumber: lk.orderNumber,
      lockedBy: { userId: lk.lockedBy?.userId, username: lk.lockedBy?.username },
      expiresAt: lk.expiresAt ?? null,
    });
  }
  for (const u of snap.online || []) state.online.set(u.userId, { userId: u.userId, username: u.username });
  return state;
}

/** Set `position` of every order in column `key` to its index. Returns ids whose position changed. */
export function renumber(state, key) {
  const ids = state.columns.get(key) || [];
  const changed = [];
  for (let i = 0; i < ids.length; i++) {
    const o = state.orders.get(ids[i]);
    if (o && o.position !== i) {
      o.position = i;
      changed.push(ids[i]);
    }
  }
  return changed;
}

/** Column key the order currently sits in according to the state, or null if unknown. */
export function findColumnOf(state, orderId) {
  const o = state.orders.get(orderId);
  if (!o) return null;
  const key = colKey(o.workCentreId);
  const ids = state.columns.get(key);
  if (ids && ids.includes(orderId)) return key;
  for (const [k, list] of state.columns) if (list.includes(orderId)) return k;
  return null;
}

function removeFromColumns(state, orderId) {
  const key = findColumnOf(state, orderId);
  if (key === null) return null;
  const ids = state.columns.get(key);
  const i = ids.indexOf(orderId);
  if (i >= 0) ids.splice(i, 1);
  return key;
}

function clampIndex(pos, len) {
  const n = Number(pos);
  if (!Number.isFinite(n) || n > len) return len;
  return n < 0 ? 0 : Math.floor(n);
}

function emptyResult(status) {
  return {
    status,                 // 'applied' | 'ignored' | 'gap' | 'refetch'
    moved: [],              // [{orderId, from: key|null, to: key}]   card changed column or rank
    added: [],              // orderIds new on the board
    removed: [],            // [{orderId, from: key}]
    updated: new Set(),     // orderIds whose card content (fields, lock) changed
    columns: new Set(),     // column keys whose counts changed
    workCentres: false,     // the column set or order changed
    presence: false,        // online list changed
    board: false,           // dashboard figures may have changed
    schedule: false,        // some order's projectedStart / projectedFinish / late changed
  };
}

/**
 * Put `order` (a full order JSON) on the board at `position` in its column (default: order.position),
 * replacing the previous copy. Records what changed in `res`.
 */
function placeOrder(state, order, position, res) {
  const id = order.id;
  const prev = state.orders.get(id);
  const toKey = colKey(order.workCentreId);
  if (!state.columns.has(toKey)) state.columns.set(toKey, []);
  const fromKey = prev ? removeFromColumns(state, id) : null;
  const copy = { ...order };
  state.orders.set(id, copy);
  const list = state.columns.get(toKey);
  const idx = clampIndex(position ?? order.position ?? list.length, list.length);
  list.splice(idx, 0, id);
  if (fromKey !== null && fromKey !== toKey) renumber(state, fromKey);
  renumber(state, toKey);
  if (!prev || fromKey === null) {
    res.added.push(id);
    res.columns.add(toKey);
  } else {
    const prevIdx = prev.position;
    if (fromKey !== toKey || prevIdx !== copy.position) res.moved.push({ orderId: id, from: fromKey, to: toKey });
    res.columns.add(fromKey);
    res.columns.add(toKey);
  }
  res.updated.add(id);
  res.board = true;
}

/**
 * Apply one server → client message to the state.
 * msg: {event, seq?, data}. Events with a seq at or below state.seq are ignored; a seq more than
 * one past state.seq is a gap: nothing is applied and status 'gap' asks the caller to rejoin with
 * sinceSeq = state.seq. `orders_imported` and `resync_required` answer 'refetch' (seq advanced
 * for orders_imported so the refetched board decides). Returns a result describing what changed.
 */
export function applyEvent(state, msg) {
  const ev = msg && msg.event;
  const data = (msg && msg.data) || {};
  if (ev === 'resync_required') return emptyResult('refetch');

  const hasSeq = msg && typeof msg.seq === 'number';
  if (hasSeq) {
    if (msg.seq <= state.seq) return emptyResult('ignored');
    if (msg.seq > state.seq + 1) return emptyResult('gap');
  }
  const res = emptyResult('applied');
  switch (ev) {
    case 'order_moved': {
      const order = data.order;
      if (!order || order.id === undefined) break;
      const to = data.toWorkCentreId !== undefined ? data.toWorkCentreId : order.workCentreId;
      placeOrder(state, { ...order, workCentreId: to ?? null }, data.position ?? order.position, res);
      break;
    }
    case 'order_created':
    case 'order_updated': {
      const order = data.order;
      if (!order || order.id === undefined) break;
      const prev = state.orders.get(order.id);
      const wc = order.workCentreId === undefined ? (prev ? prev.workCentreId : null) : order.workCentreId;
      const pos = order.position ?? (prev ? prev.position : undefined);
      if (prev && colKey(prev.workCentreId) === colKey(wc) && prev.position === pos) {
        state.orders.set(order.id, { ...prev, ...order, workCentreId: wc, position: prev.position });
        res.updated.add(order.id);
        res.columns.add(colKey(wc));
        res.board = true;
      } else {
        placeOrder(state, { ...(prev || {}), ...order, workCentreId: wc }, pos, res);
      }
      break;
    }
    case 'order_deleted': {
      const id = data.orderId ?? (data.order && data.order.id);
      if (id === undefined || !state.orders.has(id)) break;
      const from = removeFromColumns(state, id);
      state.orders.delete(id);
      state.locks.delete(id);
      if (from !== null) {
        renumber(state, from);
        res.columns.add(from);
      }
      res.removed.push({ orderId: id, from });
      res.board = true;
      break;
    }
    case 'order_locked': {
      if (data.orderId === undefined) break;
      state.locks.set(data.orderId, {
        orderId: data.orderId,
        orderNumber: data.orderNumber,
        lockedBy: { userId: data.lockedBy?.userId, username: data.lockedBy?.username },
        expiresAt: data.expiresAt ?? null,
      });
      if (state.orders.has(data.orderId)) res.updated.add(data.orderId);
      break;
    }
    case 'order_unlocked': {
      if (data.orderId === undefined) break;
      state.locks.delete(data.orderId);
      const o = state.orders.get(data.orderId);
      if (o) {
        o.lockedBy = null;
        res.updated.add(data.orderId);
      }
      break;
    }
    case 'work_centre_updated': {
      const list = Array.isArray(data.workCentres) ? data.workCentres : Array.isArray(data) ? data : null;
      if (!list) break;
      state.workCentres = sortWorkCentres(list.map(stripOrders));
      for (const wc of state.workCentres) {
        const key = String(wc.id);
        if (!state.columns.has(key)) state.columns.set(key, []);
      }
      // A work centre that vanished can only have been empty (SPEC §4: delete is 409 otherwise);
      // keep a column that still holds orders so nothing silently disappears.
      const live = new Set(state.workCentres.map((w) => String(w.id)));
      for (const [key, ids] of [...state.columns]) {
        if (key !== BACKLOG && !live.has(key) && ids.length === 0) state.columns.delete(key);
      }
      res.workCentres = true;
      res.board = true;
      break;
    }
    case 'schedule_updated': {
      // SPEC §9: only the orders whose projectedStart, projectedFinish or late changed; the
      // order objects of earlier events carry the values from before the recompute.
      if (data.scheduleAt !== undefined) state.scheduleAt = data.scheduleAt;
      for (const s of Array.isArray(data.orders) ? data.orders : []) {
        const o = s && state.orders.get(s.orderId);
        if (!o) continue;
        o.projectedStart = s.projectedStart ?? null;
        o.projectedFinish = s.projectedFinish ?? null;
        o.late = s.late ?? null;
        res.updated.add(s.orderId);
        res.schedule = true;
      }
      break;
    }
    case 'user_joined': {
      if (data.userId === undefined) break;
      state.online.set(data.userId, { userId: data.userId, username: data.username });
      res.presence = true;
      break;
    }
    case 'user_left': {
      if (data.userId === undefined) break;
      state.online.delete(data.userId);
      res.presence = true;
      break;
    }
    case 'orders_imported':
      if (hasSeq) state.seq = msg.seq;
      return { ...res, status: 'refetch', board: true };
    default:
      // user_activity and unknown future events: nothing to change, but the seq still advances.
      break;
  }
  if (hasSeq) state.seq = msg.seq;
  return res;
}

/** Orders of a column, in order. */
export function columnOrders(state, key) {
  return (state.columns.get(key) || []).map((id) => state.orders.get(id)).filter(Boolean);
}

/** Columns to display: one per work centre (active ones, plus any inactive one holding orders), then backlog last. */
export function displayColumns(state) {
  const cols = [];
  for (const wc of state.workCentres) {
    const key = String(wc.id);
    const n = (state.columns.get(key) || []).length;
    if (wc.isActive === false && n === 0) continue;
    cols.push({ key, workCentre: wc });
  }
  const known = new Set(cols.map((c) => c.key));
  for (const [key, ids] of state.columns) {
    if (key !== BACKLOG && !known.has(key) && ids.length > 0) cols.push({ key, workCentre: null });
  }
  cols.push({ key: BACKLOG, workCentre: null });
  return cols;
}

/** Today as YYYY-MM-DD in an IANA time zone (falls back to the runtime's zone on a bad name). */
export function todayIn(timeZone, now = new Date()) {
  try {
    const parts = new Intl.DateTimeFormat('en-CA', {
      timeZone: timeZone || undefined, year: 'numeric', month: '2-digit', day: '2-digit',
    }).formatToParts(now);
    const get = (t) => parts.find((p) => p.type === t).value;
    return `${get('year')}-${get('month')}-${get('day')}`;
  } catch {
    const y = now.getFullYear();
    const m = String(now.getMonth() + 1).padStart(2, '0');
    const d = String(now.getDate()).padStart(2, '0');
    return `${y}-${m}-${d}`;
  }
}

/** SPEC §4 overdue rule: dueDate before today and status not complete or cancelled. */
export function isOverdue(order, today) {
  if (!order || !order.dueDate) return false;
  if (order.status === 'complete' || order.status === 'cancelled') return false;
  return String(order.dueDate).slice(0, 10) < today;
}

/** Column load: count of cards and whether it exceeds capacity (backlog has none). */
export function columnLoad(state, key) {
  const count = (state.columns.get(key) || []).length;
  const wc = state.workCentres.find((w) => String(w.id) === key);
  const capacity = wc && Number.isFinite(Number(wc.capacity)) ? Number(wc.capacity) : null;
  return { count, capacity, over: capacity !== null && count > capacity };
}

/**
 * Final position to send in move_order when a card is dropped into column `toKey` before the
 * card `beforeId` (null = at the end). Positions are counted without the moved card itself.
 */
export function dropPosition(state, orderId, toKey, beforeId) {
  const others = (state.columns.get(toKey) || []).filter((id) => id !== orderId);
  if (beforeId === null || beforeId === undefined) return others.length;
  const i = others.indexOf(beforeId);
  return i < 0 ? others.length : i;
}

/** Whether a move to (toKey, position) would change nothing. */
export function isNoopMove(state, orderId, toKey, position) {
  const from = findColumnOf(state, orderId);
  if (from !== toKey) return false;
  const o = state.orders.get(orderId);
  const last = (state.columns.get(toKey) || []).length - 1;
  return o.position === Math.min(position, last);
}

/** Reconnect delay in ms for attempt n (0-based): exponential, capped, with jitter in [0.5, 1]. */
export function backoffDelay(attempt, { base = 500, max = 30000, random = Math.random } = {}) {
  const raw = Math.min(max, base * 2 ** Math.min(attempt, 16));
  return Math.round(raw * (0.5 + random() / 2));
}

/**
 * Keyed reconciliation plan: which ids of `current` (the DOM order) can stay where they are so
 * that moving only the others yields `target`. Returns the Set of ids to keep: a longest run of
 * ids whose target indices increase (longest increasing subsequence), O(n log n).
 */
export function stableIds(current, target) {
  const index = new Map();
  target.forEach((id, i) => index.set(id, i));
  const seq = [];
  for (const id of current) if (index.has(id)) seq.push(id);
  const tails = [];      // tails[k] = position in seq of the smallest tail of an increasing run of length k+1
  const prev = new Array(seq.length);
  for (let i = 0; i < seq.length; i++) {
    const v = index.get(seq[i]);
    let lo = 0, hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (index.get(seq[tails[mid]]) < v) lo = mid + 1; else hi = mid;
    }
    prev[i] = lo > 0 ? tails[lo - 1] : -1;
    tails[lo] = i;
  }
  const keep = new Set();
  let k = tails.length ? tails[tails.length - 1] : -1;
  while (k >= 0) {
    keep.add(seq[k]);
    k = prev[k];
  }
  return keep;
}

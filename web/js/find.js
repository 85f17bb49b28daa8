// find.js — "Search orders": which orders match a query (pure, tested by node --test test/web/),
// and the Finder that marks the matching cards, dims the rest and jumps from match to match
// (issue 10, item 1 "Find").
//
// A keystroke costs one pass over the orders (three short strings each) after a debounce, and
// toggles the class of only the cards whose match state changed: no card is re-rendered.

/** Longest query kept (characters); longer input is cut, so a pasted page cannot stall the board. */
export const MAX_QUERY = 200;
/** Milliseconds between the last keystroke and the search. */
export const DEBOUNCE_MS = 120;

/** Fold text for matching: NFKC, lower case (locale-independent `toLowerCase`), no diacritics. */
export function fold(text) {
  const s = String(text ?? '');
  if (/^[\x20-\x7e]*$/.test(s)) return s.toLowerCase(); // printable ASCII: nothing to normalise
  return s.normalize('NFKD').replace(/\p{M}/gu, '').normalize('NFKC').toLowerCase();
}

// Folded text per order object, recomputed when one of its three fields changes (an update may
// replace the object or change it in place; both are seen).
const folded = new WeakMap();
function haystack(order) {
  const c = folded.get(order);
  if (c && c.n === order.orderNumber && c.s === order.stockCode && c.d === order.description) return c.hay;
  const hay = `${fold(order.orderNumber)}\u0000${fold(order.stockCode)}\u0000${fold(order.description)}`;
  folded.set(order, { n: order.orderNumber, s: order.stockCode, d: order.description, hay });
  return hay;
}

/**
 * The search terms of a query: folded, split on white space, empties dropped.
 * in: query (any string; only the first MAX_QUERY characters count). out: array of strings
 * (empty = no search).
 */
export function parseQuery(query) {
  return fold(String(query ?? '').slice(0, MAX_QUERY)).split(/\s+/u).filter(Boolean);
}

/**
 * Whether an order matches every term: each term must occur in its order number, stock code or
 * description (substring, case and accent insensitive). No terms: false (nothing is "found").
 * in: order (SPEC order object), terms from parseQuery. out: boolean.
 */
export function orderMatches(order, terms) {
  if (!terms.length || !order) return false;
  const hay = haystack(order);
  for (const t of terms) if (!hay.includes(t)) return false;
  return true;
}

/**
 * The next match to jump to, in board order (columns left to right, cards top to bottom), after
 * `fromId` (or the first when fromId is null or no longer a match); wraps round. `backwards` goes
 * the other way. in: orderedIds (board order), matches (Set of ids), fromId. out: id or null.
 */
export function nextMatch(orderedIds, matches, fromId, backwards = false) {
  const list = orderedIds.filter((id) => matches.has(id));
  if (!list.length) return null;
  const at = fromId === null || fromId === undefined ? -1 : list.indexOf(fromId);
  if (at < 0) return backwards ? list[list.length - 1] : list[0];
  const n = list.length;
  return list[(at + (backwards ? n - 1 : 1)) % n];
}

/**
 * The search box's controller. Owns the classes `searching` on the board root, `search-hit` on
 * matching cards, and the `?q=` parameter of the URL (history.replaceState, so Back is not
 * flooded). in: input (<input type=search>), status (element for "N matches"), view (BoardView),
 * getState () => board state or null, announce (text) => void, onTiming (ms) => void: the duration
 * of each search (match pass, class toggles, URL), for window.planboard.timings.search;
 * onChange () => void after each query applied.
 */
export class Finder {
  constructor({ input, status, view, getState, announce, onTiming, onChange }) {
    this.onTiming = onTiming || (() => {});
    this.onChange = onChange || (() => {});   // after a query was applied (the Timeline follows)
    this.input = input;
    this.status = status;
    this.view = view;
    this.getState = getState;
    this.announce = announce || (() => {});
    this.terms = [];
    this.hits = new Set();   // order ids currently marked
    this.lastJump = null;
    this.timer = null;
    const q = new URLSearchParams(location.search).get('q');
    if (q) input.value = q.slice(0, MAX_QUERY);
    this.terms = parseQuery(input.value);
    input.maxLength = MAX_QUERY;
    input.addEventListener('input', () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.run(), DEBOUNCE_MS);
    });
    input.addEventListener('keydown', (e) => this.onKey(e));
  }

  onKey(e) {
    if (e.key === 'Enter') {
      e.preventDefault();
      clearTimeout(this.timer);
      this.run();
      this.jump(e.shiftKey);
    } else if (e.key === 'Escape' && this.input.value) {
      e.preventDefault();
      e.stopPropagation();
      this.input.value = '';
      clearTimeout(this.timer);
      this.run();
    }
  }

  /** Focus the box without selecting (`/` shortcut): Enter then goes on from the last match. */
  focus() {
    this.input.focus();
    const n = this.input.value.length;
    this.input.setSelectionRange(n, n);
  }

  /** Apply the box's query now: URL, marks on every card, status text. */
  run() {
    const t0 = performance.now();
    const raw = this.input.value.slice(0, MAX_QUERY);
    this.terms = parseQuery(raw);
    this._writeUrl(raw.trim());
    this.refresh();
    this.onTiming(performance.now() - t0);
    this.onChange();
  }

  /** Whether a query is active (`#board.searching`). */
  searching() { return this.terms.length > 0; }

  /** Whether order `id` matches the active query (its card has `search-hit`). */
  isHit(id) { return this.terms.length > 0 && this.hits.has(id); }

  /** Re-mark every card (after a full render or a board reload). */
  refresh() {
    const state = this.getState();
    const root = this.view.root;
    const on = this.terms.length > 0 && !!state;
    root.classList.toggle('searching', on);
    const now = new Set();
    if (on) for (const [id, o] of state.orders) if (orderMatches(o, this.terms)) now.add(id);
    for (const id of this.hits) if (!now.has(id)) this._mark(id, false);
    for (const id of now) this._mark(id, true); // checks the class first: new nodes after a render too
    this.hits = now;
    this._status();
  }

  /** Re-mark some orders only (after live events: updated, added or moved cards). */
  refreshIds(ids) {
    const state = this.getState();
    if (!this.terms.length || !state) return;
    let changed = false;
    for (const id of ids) {
      const m = orderMatches(state.orders.get(id), this.terms);
      if (m !== this.hits.has(id)) {
        changed = true;
        if (m) this.hits.add(id); else this.hits.delete(id);
      }
      this._mark(id, m); // a new card node gets its class
    }
    for (const id of [...this.hits]) if (!state.orders.has(id)) { this.hits.delete(id); changed = true; }
    if (changed) this._status();
  }

  /** Scroll the next (or previous) match into view and focus it. */
  jump(backwards = false) {
    if (!this.terms.length) return;
    const ordered = [];
    // Only cards that are shown (filters.js may hide some), in the order they are shown.
    for (const key of this.view.columnKeys()) ordered.push(...this.view.visibleIds(key));
    const id = nextMatch(ordered, this.hits, this.lastJump, backwards);
    if (id === null) { this.announce('No order matches.'); return; }
    this.lastJump = id;
    const node = this.view.cardNode(id);
    if (!node) return;
    node.scrollIntoView({ block: 'center', inline: 'nearest' });
    node.focus({ preventScroll: true });
    const list = ordered.filter((x) => this.hits.has(x));
    this._status(list.indexOf(id) + 1);
  }

  _mark(id, hit) {
    const node = this.view.cardNode(id);
    if (node && node.classList.contains('search-hit') !== hit) node.classList.toggle('search-hit', hit);
  }

  _status(current) {
    const n = this.hits.size;
    let text = '';
    if (this.terms.length) {
      // Matches that filters.js hides are counted apart: Enter jumps over the shown ones only.
      let hidden = 0;
      for (const id of this.hits) {
        const node = this.view.cardNode(id);
        if (node && (node.classList.contains('filter-out') || node.closest('.column.filter-hidden'))) hidden++;
      }
      text = n === 0 ? 'No match' : `${n} match${n === 1 ? '' : 'es'}`;
      if (current) text = `${current} of ${n - hidden}`;
      if (hidden) text += `, ${hidden} hidden by filters`;
    }
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  _writeUrl(q) {
    const url = new URL(location.href);
    if ((url.searchParams.get('q') || '') === q) return;
    if (q) url.searchParams.set('q', q); else url.searchParams.delete('q');
    history.replaceState(history.state, '', url);
  }
}

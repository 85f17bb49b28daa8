// preview.js — "Drop here: 2 orders become late" while a move is being chosen (issue 11 item 6).
//
// While a card or a timeline bar is dragged, or the keyboard Move dialog is open, each drop
// position the person settles on for 150 ms is sent as WebSocket `preview_move` (SPEC §9
// what-if: same body and checks as move_order, changes nothing). Only the answer to the last
// request sent is shown: an older one arriving late is dropped. The sentence goes into a live
// region (role=status), so a screen reader hears it too.

import { keyToWorkCentreId, isNoopMove } from './state.js';
import { previewText } from './schedule.js';

export const PREVIEW_DEBOUNCE_MS = 150;

export class DropPreview {
  /**
   * request(event, data) -> Promise<ack data>, rejects with {code, message} (ws.js request)
   * getState() -> the board state (state.js)
   */
  constructor({ request, getState }) {
    this.request = request;
    this.getState = getState;
    this.out = null;       // element showing the sentence (role=status)
    this.orderId = null;   // order being moved, null = no preview session
    this.target = '';      // "key:position" of the last position asked about (or waiting)
    this.timer = 0;
    this.sent = 0;         // number of the last request sent; answers to older ones are stale
    this.shown = 0;        // number of the request whose answer is shown
  }

  /** Begin a preview session for `orderId`, writing into `out` (which is un-hidden). */
  start(orderId, out) {
    this.stop();
    this.orderId = orderId;
    this.out = out;
    this._write('', {});
  }

  /**
   * The drop position changed to column `toKey`, final position `position` (0-based, counted
   * without the moved order). Asks the server 150 ms later if it is still the position then.
   */
  hover(toKey, position) {
    if (this.orderId === null || toKey === null || toKey === undefined) return;
    const target = `${toKey}:${position}`;
    if (target === this.target) return;
    this.target = target;
    clearTimeout(this.timer);
    const state = this.getState();
    if (!state || !state.orders.has(this.orderId) || isNoopMove(state, this.orderId, toKey, position)) {
      this.sent++;                       // an answer still on its way is now stale
      this._write('', {});
      return;
    }
    this.timer = setTimeout(() => this._ask(toKey, position), PREVIEW_DEBOUNCE_MS);
  }

  /** End the session: nothing more is asked, late answers are dropped, the output is cleared. */
  stop() {
    clearTimeout(this.timer);
    this.sent++;
    if (this.out) {
      this.out.textContent = '';
      if (this.out.dataset.floating === 'true') this.out.hidden = true;
      delete this.out.dataset.newlyLate;
      delete this.out.dataset.noLongerLate;
    }
    this.orderId = null;
    this.target = '';
    this.out = null;
  }

  async _ask(toKey, position) {
    const state = this.getState();
    const o = state && state.orders.get(this.orderId);
    if (!o) return;
    const n = ++this.sent;
    const data = {
      orderId: this.orderId, toWorkCentreId: keyToWorkCentreId(toKey), position,
      fromWorkCentreId: o.workCentreId ?? null, version: o.version,
    };
    let text, attrs = {};
    try {
      const answer = await this.request('preview_move', data);
      const p = previewText(answer || {}, this.getState()?.orders);
      text = p.text;
      attrs = { newlyLate: (answer.newlyLate || []).join(','), noLongerLate: (answer.noLongerLate || []).join(',') };
    } catch (err) {
      text = `Drop here is not possible: ${err.message || err.code}`;
    }
    if (n !== this.sent || this.orderId === null) return;   // stale: a newer question was asked
    this.shown = n;
    this._write(text, attrs);
  }

  _write(text, attrs) {
    if (!this.out) return;
    if (this.out.textContent !== text) this.out.textContent = text;
    if (attrs.newlyLate !== undefined) this.out.dataset.newlyLate = attrs.newlyLate;
    else delete this.out.dataset.newlyLate;
    if (attrs.noLongerLate !== undefined) this.out.dataset.noLongerLate = attrs.noLongerLate;
    else delete this.out.dataset.noLongerLate;
    if (this.out.dataset.floating === 'true') this.out.hidden = !text;
  }
}

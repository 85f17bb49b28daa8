// undo.js — "Undo" and Ctrl+Z (issue 10 item 5): revert the user's own last move or field edit
// made on this page, with the order's version as precondition (SPEC §4 PUT /api/orders/:id and
// move_order `version`). When the order changed since (its version differs), nothing is sent and
// the page says who changed it (the newest audit entry of the order). Undo itself is not undone.

import { ApiError } from './api.js';
import { colKey, keyToWorkCentreId } from './state.js';

/** Steps remembered per page (older ones are forgotten). */
export const UNDO_MAX = 20;

/**
 * The PUT body that reverts an edit: `{version, field: value before, ...}` for the fields the
 * edit sent. in: before (the order as it was), sent (the PUT body of the edit), version (the
 * order's version after the edit). Pure.
 */
export function revertBody(before, sent, version) {
  const body = { version };
  for (const k of Object.keys(sent)) {
    if (k === 'version') continue;
    body[k] = before[k] === undefined ? null : before[k];
  }
  return body;
}

/**
 * The undo stack and its button. in: api (Api), socket () => BoardSocket|null, getState () =>
 * board state, me () => the user, wcName (workCentreId|null) => column name, canMove (orderId)
 * => true | reason, announce (text), showMessage (text, kind).
 */
export class UndoStack {
  constructor({ api, socket, getState, me, wcName, canMove, announce, showMessage, button }) {
    Object.assign(this, { api, socket, getState, me, wcName, canMove, announce, showMessage, button });
    this.steps = [];
    this.running = false;
    button.addEventListener('click', () => this.undo());
    this._render();
  }

  clear() { this.steps = []; this._render(); }

  /** A move of ours committed: order (before the move: id, orderNumber, workCentreId, position), version after it. */
  recordMove(order, version) {
    if (!Number.isInteger(version)) return;
    this._push({ kind: 'move', orderId: order.id, orderNumber: order.orderNumber,
      fromKey: colKey(order.workCentreId), fromPosition: order.position, version });
  }

  /** An edit of ours saved: before (the order as loaded), sent (the PUT body), after (the answer). */
  recordEdit(before, sent, after) {
    if (!after || !Number.isInteger(after.version) || after.version === before.version) return;
    this._push({ kind: 'edit', orderId: after.id, orderNumber: after.orderNumber,
      body: revertBody(before, sent, after.version), version: after.version });
  }

  _push(step) {
    this.steps.push(step);
    if (this.steps.length > UNDO_MAX) this.steps.shift();
    this._render();
  }

  _render() {
    const top = this.steps[this.steps.length - 1];
    this.button.disabled = !top || this.running;
    this.button.title = top ? `Undo your last ${top.kind === 'move' ? 'move' : 'edit'} (${top.orderNumber}) — Ctrl+Z`
      : 'Nothing to undo';
  }

  /** Who changed the order since our step: the newest audit entry's username. */
  async _whoChanged(orderId) {
    try {
      const page = await this.api.get(`/api/audit-log?orderId=${encodeURIComponent(orderId)}&limit=1`);
      const name = page.data && page.data[0] && page.data[0].username;
      if (!name) return 'someone else';
      return name === this.me().username ? 'you (in another window)' : name;
    } catch { return 'someone else'; }
  }

  async _refuse(step, what) {
    this.steps.pop();    // it can never apply again: the order has moved on
    const who = await this._whoChanged(step.orderId);
    const msg = `Cannot undo your ${step.kind} of ${step.orderNumber}: ${what || `it was changed by ${who} since`}.`;
    this.showMessage(msg);
    this.announce(msg);
  }

  /** Revert the newest step. Refused (with who changed it) when the order's version moved on. */
  async undo() {
    if (this.running) return;
    const step = this.steps[this.steps.length - 1];
    if (!step) { this.announce('Nothing to undo.'); return; }
    const st = this.getState();
    const o = st && st.orders.get(step.orderId);
    if (!o) {
      this.steps.pop();
      this._render();
      this.showMessage(`Cannot undo: ${step.orderNumber} is no longer on the board.`);
      return;
    }
    this.running = true;
    this._render();
    try {
      if (o.version !== step.version) { await this._refuse(step); return; }
      if (step.kind === 'move') await this._undoMove(step, o);
      else await this._undoEdit(step);
    } finally {
      this.running = false;
      this._render();
    }
  }

  async _undoMove(step, o) {
    const why = this.canMove(step.orderId);
    if (why !== true) { this.showMessage(why); this.announce(why); return; }
    const sock = this.socket();
    try {
      await sock.request('move_order', {
        orderId: step.orderId, toWorkCentreId: keyToWorkCentreId(step.fromKey), position: step.fromPosition,
        fromWorkCentreId: o.workCentreId ?? null, version: step.version,
      });
    } catch (err) {
      if (err.code === 'conflict') { await this._refuse(step); return; }
      if (err.code === 'locked') {
        const who = err.data?.lockedBy?.username || 'another user';
        const msg = `Cannot undo now: ${step.orderNumber} is being moved by ${who}.`;
        this.showMessage(msg); this.announce(msg);
        return;
      }
      const msg = `The move of ${step.orderNumber} could not be undone: ${err.message || err.code}`;
      this.showMessage(msg); this.announce(msg);
      return;
    }
    this.steps.pop();
    const msg = `Undone: ${step.orderNumber} moved back to ${this.wcName(keyToWorkCentreId(step.fromKey))}, position ${step.fromPosition + 1}.`;
    this.showMessage(msg, 'info');
    this.announce(msg);
  }

  async _undoEdit(step) {
    try {
      await this.api.request('PUT', `/api/orders/${step.orderId}`, step.body);
    } catch (err) {
      const b = (err instanceof ApiError && err.body) || {};
      if (err.status === 409 && b.reason !== 'wip_limit') { await this._refuse(step); return; }
      const msg = `The edit of ${step.orderNumber} could not be undone: ${b.error || err.message}`;
      this.showMessage(msg); this.announce(msg);
      return;
    }
    this.steps.pop();
    const msg = `Undone: your edit of ${step.orderNumber}.`;
    this.showMessage(msg, 'info');
    this.announce(msg);
  }
}

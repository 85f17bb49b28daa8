// ws.js — the board's WebSocket (SPEC §5): connect with ?token=, reconnect with exponential
// backoff, request/ack correlation by `ref`, application-level ping to notice dead links.
//
// The socket knows nothing about the board: every server frame goes to onMessage(msg), and the
// app decides what to do with hello, resync_required and room events (see app.js).

import { backoffDelay } from './state.js';

const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 50000;
const REPLY_TIMEOUT_MS = 15000;

export class SocketError extends Error {
  constructor(code, message, data) {
    super(message || code);
    this.code = code;
    this.data = data || null;
  }
}

export class BoardSocket {
  /**
   * api: Api (for the token and for refreshing it before a reconnect)
   * onMessage(msg): every frame except ack/error/pong replies to our own refs
   * onStatus(state, info): 'connecting' | 'online' | 'reconnecting' | 'offline'; info.retryInMs
   */
  constructor({ api, onMessage, onStatus }) {
    this.api = api;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.pending = new Map();
    this.nextRef = 1;
    this.lastHeard = 0;
    this.gotHello = false;
    this.failedBeforeHello = 0;
    this._retryTimer = null;
    this._pingTimer = null;
    this._onOnline = () => { if (!this.stopped && !this.ws) this.reconnectNow(); };
  }

  start() {
    this.stopped = false;
    window.addEventListener('online', this._onOnline);
    this._connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this._onOnline);
    clearTimeout(this._retryTimer);
    clearInterval(this._pingTimer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      try { ws.close(1000, 'logout'); } catch { /* ignore */ }
    }
    this._failPending('disconnected', 'The connection was closed.');
    this._status('offline');
  }

  /** Skip the remaining backoff and try now. */
  reconnectNow() {
    if (this.stopped) return;
    clearTimeout(this._retryTimer);
    if (this.ws) {
      try { this.ws.close(4000, 'reconnect'); } catch { /* ignore */ }
      return;
    }
    this._connect();
  }

  isOpen() { return !!this.ws && this.ws.readyState === WebSocket.OPEN && this.gotHello; }

  /** Send a client event without waiting for an answer. Returns false when not connected. */
  send(event, data) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ event, data: data || {} }));
    return true;
  }

  /** Send a client event with a ref; resolves with the ack's data, rejects with SocketError. */
  request(event, data) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new SocketError('disconnected', 'Not connected to the server.'));
    }
    const ref = `c${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new SocketError('timeout', 'The server did not answer in time.'));
      }, REPLY_TIMEOUT_MS);
      this.pending.set(ref, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ event, ref, data: data || {} }));
    });
  }

  join(sinceSeq, epoch) {
    const data = {};
    if (typeof sinceSeq === 'number') data.sinceSeq = sinceSeq;
    if (epoch) data.epoch = epoch;
    return this.send('join_planning_board', data);
  }

  // ── internals ─────────────────────────────────────────────────────────────
  _status(state, info = {}) { if (this.onStatus) this.onStatus(state, info); }

  _failPending(code, message) {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new SocketError(code, message));
    }
    this.pending.clear();
  }

  async _connect() {
    if (this.stopped) return;
    this._status(this.attempt === 0 ? 'connecting' : 'reconnecting', { retryInMs: 0 });
    try {
      if (this.failedBeforeHello >= 2) {
        // The upgrade may be refused for an expired or revoked token; the browser cannot tell
        // us it was a 401, so check the session over REST (which refreshes or ends it).
        await this.api.request('GET', '/api/auth/me');
      } else {
        const ok = await this.api.ensureFresh();
        if (!ok) return; // session ended; api.onSessionLost shows the login form
      }
    } catch (err) {
      if (err && err.status === 401) return; // refresh failed: session lost
      this._scheduleRetry();
      return;
    }
    if (this.stopped) return;
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${proto}://${location.host}/ws?token=${encodeURIComponent(this.api.accessToken || '')}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
    this.gotHello = false;
    ws.onopen = () => {
      this.lastHeard = Date.now();
      clearInterval(this._pingTimer);
      this._pingTimer = setInterval(() => this._heartbeat(), PING_EVERY_MS);
    };
    ws.onmessage = (e) => this._onFrame(e.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this._pingTimer);
      if (!this.gotHello) this.failedBeforeHello++;
      this._failPending('disconnected', 'The connection was lost.');
      if (!this.stopped) this._scheduleRetry();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  _scheduleRetry() {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt++);
    this._status('reconnecting', { retryInMs: delay, attempt: this.attempt });
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }

  _heartbeat() {
    if (!this.ws) return;
    if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
      try { this.ws.close(4001, 'silent'); } catch { /* ignore */ }
      return;
    }
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ event: 'ping', ref: `p${this.nextRef++}`, data: {} }));
    }
  }

  _onFrame(text) {
    this.lastHeard = Date.now();
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    if (!msg || typeof msg.event !== 'string') return;
    if (msg.event === 'pong') return;
    if ((msg.event === 'ack' || msg.event === 'error') && msg.ref !== undefined && msg.ref !== null) {
      const p = this.pending.get(msg.ref);
      if (p) {
        this.pending.delete(msg.ref);
        clearTimeout(p.timer);
        if (msg.event === 'ack') p.resolve(msg.data || {});
        else p.reject(new SocketError(msg.data?.code || 'error', msg.data?.error, msg.data));
      }
      return;
    }
    if (msg.event === 'hello') {
      this.gotHello = true;
      this.attempt = 0;
      this.failedBeforeHello = 0;
      this._status('online');
    }
    if (this.onMessage) this.onMessage(msg);
  }
}

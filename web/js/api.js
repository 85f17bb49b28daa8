// api.js — REST client for SPEC §4: tokens, refresh rotation, JSON requests, CSV upload.
//
// The refresh token lives in sessionStorage (survives a reload of this tab, not shared between
// tabs, so two tabs never race each other's rotation). The access token lives in memory only;
// after a reload the page rotates the refresh token once to get a new pair.

const STORE_KEY = 'planboard.session';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || (status === 0 ? 'network' : 'http_' + status);
    this.body = body || null;
  }
}

/** Read a fetch Response's body as UTF-8 text, reporting bytes received (streamed fetch). */
async function readWithProgress(res, onProgress) {
  const len = Number(res.headers.get('Content-Length'));
  const total = Number.isFinite(len) && len > 0 ? len : null;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parts = [];
  let received = 0;
  onProgress(0, total);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    parts.push(decoder.decode(value, { stream: true }));
    onProgress(received, total);
  }
  parts.push(decoder.decode());
  return parts.join('');
}

export class Api {
  constructor() {
    this.accessToken = null;
    this.refreshToken = null;
    this.expiresAt = 0;          // ms epoch when the access token expires
    this.user = null;
    this.tenant = null;          // slug typed at login
    this.onSessionLost = null;   // called once when refresh fails: show login
    this._refreshing = null;
    this._timer = null;
    this._load();
  }

  // ── session storage ───────────────────────────────────────────────────────
  _load() {
    try {
      const raw = sessionStorage.getItem(STORE_KEY);
      if (!raw) return;
      const s = JSON.parse(raw);
      this.refreshToken = s.refreshToken || null;
      this.user = s.user || null;
      this.tenant = s.tenant || null;
    } catch { /* storage unavailable or corrupt: start logged out */ }
  }

  _save() {
    try {
      if (this.refreshToken) {
        sessionStorage.setItem(STORE_KEY, JSON.stringify({
          refreshToken: this.refreshToken, user: this.user, tenant: this.tenant,
        }));
      } else {
        sessionStorage.removeItem(STORE_KEY);
      }
    } catch { /* ignore */ }
  }

  hasSession() { return !!this.refreshToken; }

  _setTokens(body) {
    this.accessToken = body.accessToken;
    if (body.refreshToken) this.refreshToken = body.refreshToken;
    const ttl = Number(body.expiresIn) > 0 ? Number(body.expiresIn) : 900;
    this.expiresAt = Date.now() + ttl * 1000;
    if (body.user) this.user = body.user;
    this._save();
    clearTimeout(this._timer);
    // Refresh at 80% of the lifetime so sockets reconnect with a valid token.
    this._timer = setTimeout(() => { this.refresh().catch(() => {}); }, Math.max(5000, ttl * 800));
  }

  clear() {
    clearTimeout(this._timer);
    this.accessToken = null;
    this.refreshToken = null;
    this.expiresAt = 0;
    this.user = null;
    this._save();
  }

  // ── auth ──────────────────────────────────────────────────────────────────
  async login(tenant, username, password) {
    const body = await this._fetchJson('POST', '/api/auth/login', { tenant, username, password }, false);
    this.tenant = tenant;
    this._setTokens(body);
    return body.user;
  }

  /** Rotate the refresh token (single flight). Resolves true, or false when the session is over. */
  refresh() {
    if (this._refreshing) return this._refreshing;
    if (!this.refreshToken) return Promise.resolve(false);
    const rt = this.refreshToken;
    this._refreshing = (async () => {
      try {
        const body = await this._fetchJson('POST', '/api/auth/refresh', { refreshToken: rt }, false);
        this._setTokens(body);
        return true;
      } catch (err) {
        if (err.status === 0 || err.status >= 500 || err.status === 429) throw err; // transient
        this.clear();
        if (this.onSessionLost) this.onSessionLost();
        return false;
      } finally {
        this._refreshing = null;
      }
    })();
    return this._refreshing;
  }

  /** Make sure the access token is valid for at least `marginMs`; refreshes if not. */
  async ensureFresh(marginMs = 30000) {
    if (this.accessToken && Date.now() + marginMs < this.expiresAt) return true;
    return this.refresh();
  }

  async logout() {
    const token = this.accessToken;
    const rt = this.refreshToken;
    this.clear();
    if (!token) return;
    try {
      await fetch('/api/auth/logout', {
        method: 'POST',
        headers: { 'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ refreshToken: rt }),
        credentials: 'same-origin',
      });
    } catch { /* the tokens are gone locally either way */ }
  }

  // ── requests ──────────────────────────────────────────────────────────────
  async _fetchJson(method, path, body, auth, onProgress) {
    const headers = { 'Accept': 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth && this.accessToken) headers['Authorization'] = `Bearer ${this.accessToken}`;
    let res;
    try {
      res = await fetch(path, {
        method, headers, credentials: 'same-origin',
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (e) {
      throw new ApiError(0, { error: 'The server cannot be reached.', code: 'network' });
    }
    if (res.status === 204) return null;
    let json = null;
    const text = onProgress && res.ok && res.body ? await readWithProgress(res, onProgress) : await res.text();
    if (text) {
      try { json = JSON.parse(text); } catch { json = null; }
    }
    if (!res.ok) {
      const err = new ApiError(res.status, json);
      const ra = res.headers.get('Retry-After');
      if (ra) err.retryAfter = Number(ra);
      throw err;
    }
    return json;
  }

  /** Authenticated JSON request; on 401 refreshes once and retries. */
  async request(method, path, body, onProgress) {
    await this.ensureFresh().catch(() => {});
    try {
      return await this._fetchJson(method, path, body, true, onProgress);
    } catch (err) {
      if (err.status !== 401) throw err;
      const ok = await this.refresh();
      if (!ok) throw err;
      return this._fetchJson(method, path, body, true, onProgress);
    }
  }

  /**
   * Authenticated GET of JSON. onProgress(receivedBytes, totalBytes | null), when given, is
   * called as the answer streams in (total from Content-Length; null when the server sent none):
   * the board's loading indicator (issue 10 item 6).
   */
  get(path, onProgress) { return this.request('GET', path, undefined, onProgress); }

  /**
   * Authenticated GET of a file (an export): resolves {blob, filename} with the name of the
   * answer's Content-Disposition (or `fallback`); rejects with ApiError. Retries once after a
   * 401, like request().
   */
  async download(path, fallback, { retried = false } = {}) {
    await this.ensureFresh().catch(() => {});
    let res;
    try {
      res = await fetch(path, {
        headers: this.accessToken ? { 'Authorization': `Bearer ${this.accessToken}` } : {},
        credentials: 'same-origin',
      });
    } catch {
      throw new ApiError(0, { error: 'The server cannot be reached.', code: 'network' });
    }
    if (res.status === 401 && !retried && await this.refresh())
      return this.download(path, fallback, { retried: true });
    if (!res.ok) {
      let json = null;
      try { json = JSON.parse(await res.text()); } catch { json = null; }
      throw new ApiError(res.status, json);
    }
    const m = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '');
    return { blob: await res.blob(), filename: m ? m[1] : fallback };
  }

  /**
   * Upload a File/Blob as the raw body with XMLHttpRequest (for upload progress): text/csv, or
   * the .xlsx type when the file's name ends in .xlsx (SPEC §10).
   * onProgress(loaded, total) is called as the body goes out. Resolves {status, body} for 200 and
   * 422 (both carry the import report); rejects with ApiError otherwise. Retries once after a 401.
   */
  async uploadCsv(path, file, onProgress, { retried = false } = {}) {
    await this.ensureFresh().catch(() => {});
    let sent = null;
    const result = await new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      sent = xhr;
      xhr.open('POST', path);
      xhr.setRequestHeader('Content-Type', /\.xlsx$/i.test(file.name || '')
        ? 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' : 'text/csv');
      xhr.setRequestHeader('Accept', 'application/json');
      if (this.accessToken) xhr.setRequestHeader('Authorization', `Bearer ${this.accessToken}`);
      xhr.upload.onprogress = (e) => { if (onProgress) onProgress(e.loaded, e.lengthComputable ? e.total : file.size); };
      xhr.onload = () => {
        let json = null;
        try { json = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { json = null; }
        resolve({ status: xhr.status, body: json });
      };
      xhr.onerror = () => resolve({ status: 0, body: { error: 'The upload failed: network error.', code: 'network' } });
      xhr.onabort = () => resolve({ status: 0, body: { error: 'The upload was cancelled.', code: 'aborted' } });
      this._xhr = xhr;
      xhr.send(file);
    });
    // A newer upload may have started meanwhile (the import dialog aborts this one for it):
    // keep its handle so that abortUpload() still reaches it.
    if (this._xhr === sent) this._xhr = null;
    if (result.status === 401 && !retried) {
      const ok = await this.refresh();
      if (ok) return this.uploadCsv(path, file, onProgress, { retried: true });
    }
    if (result.status === 200 || (result.status === 422 && result.body && Array.isArray(result.body.errors))) {
      return result;
    }
    throw new ApiError(result.status, result.body);
  }

  abortUpload() { if (this._xhr) this._xhr.abort(); }
}

// shopfloor.js — the shop-floor dialogs of issue 10 items 3 and 6:
//   WipPrompt           "over its WIP limit" confirmation (soft) and the refusal with Override (hard)
//   LimitsDialog        an admin sets wipLimit, wipPolicy and defaultOperationMinutes of a work centre
//   MoveToMenu          "Move to…" on a card: the touch alternative to a drag (same move_order)
//   BoardLoading        the progress shown while the board's JSON streams in
// The rules themselves (what counts, when a column is over) are in wip.js; app.js wires these in.

const $ = (id) => document.getElementById(id);

/**
 * The WIP limit dialog (#wip-dialog). ask({title, text, confirm}) shows it and resolves true when
 * the person presses the confirm button (`confirm` is its label), false on Cancel or Escape.
 */
export class WipPrompt {
  constructor() {
    this.dialog = $('wip-dialog');
    this.resolve = null;
    $('wip-confirm').addEventListener('click', () => this._done(true));
    $('wip-cancel').addEventListener('click', () => this._done(false));
    this.dialog.addEventListener('cancel', (e) => { e.preventDefault(); this._done(false); });
  }

  ask({ title, text, confirm }) {
    this._done(false);
    $('wip-title').textContent = title;
    $('wip-text').textContent = text;
    $('wip-confirm').textContent = confirm;
    this.dialog.showModal();
    $('wip-cancel').focus();   // the safe choice has the focus: Enter does not override
    return new Promise((resolve) => { this.resolve = resolve; });
  }

  _done(ok) {
    const r = this.resolve;
    this.resolve = null;
    if (this.dialog.open) this.dialog.close();
    if (r) r(ok);
  }

  close() { this._done(false); }
}

/** "Work centre X is over its WIP limit (n / limit). Move anyway?" (issue 10 item 3). */
export function softWipText(check) {
  return `Work centre ${check.name} is over its WIP limit (${check.count} / ${check.wipLimit}). Move anyway?`;
}

/**
 * The sentence for a server refusal 409 `reason: "wip_limit"` (SPEC §9; `wipLimit` and `count`
 * from the answer when present, else from the page's header numbers). `count` is what the
 * column would hold with the order (docs/api-notes.md "WIP limits"), as in the soft prompt.
 */
export function hardWipText(orderNumber, name, data, fallback) {
  const limit = data && data.wipLimit !== undefined ? data.wipLimit : fallback && fallback.wipLimit;
  const count = data && data.count !== undefined ? data.count : fallback && fallback.count;
  const figures = limit !== undefined && limit !== null ? ` (${count ?? '?'} / ${limit})` : '';
  return `${orderNumber} was not moved: it would put work centre ${name} over its hard WIP limit${figures}.`;
}

/**
 * Admin dialog (#limits-dialog) for one work centre's WIP limit, WIP policy and default
 * operation minutes: PUT /api/work-centres/:id (SPEC §4, admin). The server's
 * work_centre_updated event then updates every board's headers.
 * deps: {api, announce, getState}
 */
export class LimitsDialog {
  constructor(deps) {
    this.deps = deps;
    this.dialog = $('limits-dialog');
    this.wcId = null;
    this.opener = null;
    $('limits-form').addEventListener('submit', (e) => { e.preventDefault(); this.save(); });
    $('limits-cancel').addEventListener('click', () => this.close());
    this.dialog.addEventListener('cancel', (e) => { e.preventDefault(); this.close(); });
  }

  open(wcId, opener) {
    const st = this.deps.getState();
    const wc = st && st.workCentres.find((w) => String(w.id) === String(wcId));
    if (!wc) return;
    this.wcId = wc.id;
    this.opener = opener || null;
    $('limits-name').textContent = wc.name;
    $('limits-wip-limit').value = wc.wipLimit === null || wc.wipLimit === undefined ? '' : String(wc.wipLimit);
    $('limits-wip-policy').value = wc.wipPolicy === 'hard' ? 'hard' : 'soft';
    $('limits-default-minutes').value = String(wc.defaultOperationMinutes ?? 60);
    this._error(null);
    this.dialog.showModal();
    $('limits-wip-limit').focus();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
    if (this.opener && this.opener.isConnected) this.opener.focus();
    this.wcId = null;
  }

  _error(text, field) {
    const el = $('limits-error');
    el.textContent = text || '';
    el.hidden = !text;
    for (const id of ['limits-wip-limit', 'limits-default-minutes']) {
      if (id === field) $(id).setAttribute('aria-invalid', 'true'); else $(id).removeAttribute('aria-invalid');
    }
    if (field) $(field).focus();
  }

  async save() {
    const rawLimit = $('limits-wip-limit').value.trim();
    const limit = rawLimit === '' ? null : Number(rawLimit);
    if (limit !== null && !(Number.isInteger(limit) && limit >= 1)) {
      this._error('The WIP limit is a whole number of at least 1, or empty for none.', 'limits-wip-limit');
      return;
    }
    const minutes = Number($('limits-default-minutes').value);
    if (!(Number.isInteger(minutes) && minutes >= 1)) {
      this._error('The default operation time is a whole number of minutes, at least 1.', 'limits-default-minutes');
      return;
    }
    const body = { wipLimit: limit, wipPolicy: $('limits-wip-policy').value, defaultOperationMinutes: minutes };
    const btn = $('limits-save');
    btn.disabled = true;
    try {
      const wc = await this.deps.api.request('PUT', `/api/work-centres/${this.wcId}`, body);
      this.deps.announce(`Limits of ${wc && wc.name ? wc.name : 'the work centre'} saved.`);
      this.close();
    } catch (err) {
      const d = err.body && Array.isArray(err.body.details) ? err.body.details[0] : null;
      this._error(d ? `${d.field}: ${d.message}` : (err.body && err.body.error) || err.message || 'Could not save.');
    } finally {
      btn.disabled = false;
    }
  }
}

/**
 * "Move to…" (#moveto-dialog): a list of the columns, each with "Top" and "Bottom" (issue 10
 * item 6, the touch alternative to a drag). Choosing one calls onChoose(toKey, position) with the
 * same final 0-based position a drop would send; closing without a choice calls onCancel().
 * deps: {columns(): [{key, name, ids}], onChoose(id, toKey, position), onCancel(id)}
 */
export class MoveToMenu {
  constructor(deps) {
    this.deps = deps;
    this.dialog = $('moveto-dialog');
    this.id = null;
    this.opener = null;
    $('moveto-cancel').addEventListener('click', () => this.close(false));
    this.dialog.addEventListener('cancel', (e) => { e.preventDefault(); this.close(false); });
    $('moveto-list').addEventListener('click', (e) => {
      const b = e.target.closest('button[data-column-id]');
      if (!b || this.id === null) return;
      const id = this.id;
      const key = b.dataset.columnId;
      const pos = Number(b.dataset.position);
      this.close(true);
      this.deps.onChoose(id, key, pos);
    });
  }

  /** Show the menu for order `id` (whose number is `orderNumber`, in column `fromKey`). */
  open(id, orderNumber, fromKey, opener) {
    this.id = id;
    this.opener = opener || null;
    $('moveto-order-number').textContent = orderNumber;
    const frag = document.createDocumentFragment();
    for (const { key, name, ids } of this.deps.columns()) {
      const others = ids.filter((x) => x !== id);
      const at = ids.indexOf(id);
      const li = document.createElement('li');
      li.dataset.columnId = key;
      const label = document.createElement('span');
      label.className = 'moveto-name';
      label.textContent = `${name} (${others.length} order${others.length === 1 ? '' : 's'}${key === fromKey ? ', here now' : ''})`;
      li.append(label);
      for (const [where, pos] of [['Top', 0], ['Bottom', others.length]]) {
        const b = document.createElement('button');
        b.type = 'button';
        b.dataset.columnId = key;
        b.dataset.position = String(pos);
        b.textContent = where;
        b.setAttribute('aria-label', `${where} of ${name}`);
        b.disabled = key === fromKey && at === Math.min(pos, ids.length - 1);
        li.append(b);
      }
      frag.append(li);
    }
    $('moveto-list').replaceChildren(frag);
    this.dialog.showModal();
    const first = $('moveto-list').querySelector('button:not([disabled])');
    if (first) first.focus();
  }

  close(chosen) {
    const id = this.id;
    this.id = null;
    if (this.dialog.open) this.dialog.close();
    if (this.opener && this.opener.isConnected) this.opener.focus({ preventScroll: true });
    if (!chosen && id !== null) this.deps.onCancel(id);
  }
}

/**
 * The loading state (#board-loading): a <progress> of the board JSON's bytes (determinate when
 * the server sent Content-Length) and a sentence, instead of an empty page (issue 10 item 6).
 */
export class BoardLoading {
  constructor() {
    this.box = $('board-loading');
    this.bar = $('board-progress');
    this.text = $('board-progress-text');
  }

  start() {
    this.bar.removeAttribute('value');   // indeterminate until the first bytes arrive
    this.text.textContent = 'Loading the board…';
    this.box.hidden = false;
  }

  progress(received, total) {
    const kb = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.round(n / 1024)} kB`);
    if (total) {
      this.bar.max = total;
      this.bar.value = Math.min(received, total);
      this.text.textContent = `Loading the board… ${kb(received)} of ${kb(total)}`;
    } else if (received > 0) {
      this.text.textContent = `Loading the board… ${kb(received)}`;
    }
  }

  building() { this.text.textContent = 'Drawing the board…'; }

  done() { this.box.hidden = true; }
}

// import.js — CSV import dialog (SPEC §6): pick or drop a file, dry run with upload progress,
// show counts and every row error, then apply with onError=abort or onError=skip.

import { ApiError } from './api.js';

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export class ImportDialog {
  /** api: Api; announce(text): aria-live announcer; onImported(report): after a real import */
  constructor(api, { announce, onImported }) {
    this.api = api;
    this.announce = announce;
    this.onImported = onImported;
    this.file = null;
    this.busy = false;
    this.lastDry = null;       // {status, body, skip}
    this.dialog = document.getElementById('import-dialog');
    this.fileInput = document.getElementById('import-file');
    this.fileName = document.getElementById('import-file-name');
    this.skip = document.getElementById('import-skip');
    this.progress = document.getElementById('import-progress');
    this.progressText = document.getElementById('import-progress-text');
    this.status = document.getElementById('import-status');
    this.summary = document.getElementById('import-summary');
    this.errorsWrap = document.getElementById('import-errors-section');
    this.errorsBody = document.querySelector('#import-errors tbody');
    this.errorsCaption = document.getElementById('import-errors-caption');
    this.warningsWrap = document.getElementById('import-warnings-section');
    this.warningsBody = document.querySelector('#import-warnings tbody');
    this.checkBtn = document.getElementById('import-check');
    this.applyBtn = document.getElementById('import-apply');
    this.closeBtn = document.getElementById('import-close');

    this.fileInput.addEventListener('change', () => {
      const f = this.fileInput.files && this.fileInput.files[0];
      if (f) this.setFile(f);
    });
    this.skip.addEventListener('change', () => { if (this.file && !this.busy) this.dryRun(); });
    this.checkBtn.addEventListener('click', () => this.dryRun());
    this.applyBtn.addEventListener('click', () => this.apply());
    this.closeBtn.addEventListener('click', () => this.close());
    this.dialog.addEventListener('cancel', (e) => {
      if (this.busy) { e.preventDefault(); this.api.abortUpload(); }
    });
    this.dialog.addEventListener('close', () => { if (this.busy) this.api.abortUpload(); });
  }

  open(file) {
    if (!this.dialog.open) this.dialog.showModal();
    if (file) this.setFile(file);
    else if (!this.file) this.fileInput.focus();
  }

  close() {
    if (this.busy) this.api.abortUpload();
    if (this.dialog.open) this.dialog.close();
  }

  reset() {
    this.file = null;
    this.lastDry = null;
    this.fileInput.value = '';
    this.fileName.textContent = 'No file chosen yet.';
    this._clearReport();
    this.status.textContent = '';
    this.progress.hidden = true;
    this.progressText.textContent = '';
    this._buttons();
  }

  setFile(file) {
    this.file = file;
    this.fileName.textContent = `${file.name} (${fmtBytes(file.size)})`;
    this.dryRun();
  }

  _buttons() {
    this.checkBtn.disabled = this.busy || !this.file;
    const d = this.lastDry;
    const okToApply = !!d && d.status === 200 && d.skip === this.skip.checked;
    this.applyBtn.disabled = this.busy || !okToApply;
    this.skip.disabled = this.busy;
  }

  _url(dryRun) {
    const q = new URLSearchParams();
    if (dryRun) q.set('dryRun', 'true');
    q.set('onError', this.skip.checked ? 'skip' : 'abort');
    return `/api/orders/import?${q}`;
  }

  _clearReport() {
    this.summary.replaceChildren();
    this.summary.hidden = true;
    this.errorsBody.replaceChildren();
    this.errorsWrap.hidden = true;
    this.warningsBody.replaceChildren();
    this.warningsWrap.hidden = true;
  }

  async _send(dryRun) {
    if (!this.file || this.busy) return null;
    this.busy = true;
    this._buttons();
    this._clearReport();
    this.progress.hidden = false;
    this.progress.removeAttribute('value');
    this.progress.max = 1;
    this.status.textContent = dryRun ? 'Checking the file…' : 'Importing…';
    const total = this.file.size;
    try {
      const res = await this.api.uploadCsv(this._url(dryRun), this.file, (loaded, t) => {
        const all = t || total || 1;
        this.progress.max = all;
        this.progress.value = Math.min(loaded, all);
        this.progressText.textContent = `Uploaded ${fmtBytes(loaded)} of ${fmtBytes(all)}`;
      });
      this.progress.max = 1;
      this.progress.value = 1;
      return res;
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(0, { error: String(err) });
      let msg = e.message;
      if (e.status === 413) msg = 'The file is too large for the server (limit 10 MiB or 200,000 rows).';
      else if (e.status === 403) msg = 'Your role may not import orders.';
      else if (e.code === 'aborted') msg = 'The upload was cancelled.';
      this.status.textContent = msg;
      this.announce(msg);
      return null;
    } finally {
      this.busy = false;
      this._buttons();
    }
  }

  async dryRun() {
    this.lastDry = null;
    const skip = this.skip.checked;
    const res = await this._send(true);
    if (!res) return;
    this.lastDry = { status: res.status, body: res.body || {}, skip };
    this._report(res.status, res.body || {}, true);
    this._buttons();
  }

  async apply() {
    if (!this.lastDry || this.lastDry.status !== 200) return;
    const res = await this._send(false);
    if (!res) return;
    this._report(res.status, res.body || {}, false);
    this.lastDry = null;
    this._buttons();
    if (res.status === 200 && this.onImported) this.onImported(res.body);
  }

  _report(status, body, dry) {
    const errors = Array.isArray(body.errors) ? body.errors : [];
    const warnings = Array.isArray(body.warnings) ? body.warnings : [];
    const n = (v) => (Number.isFinite(Number(v)) ? Number(v) : 0);

    const dl = this.summary;
    dl.replaceChildren();
    const add = (label, value, key) => {
      const div = document.createElement('div');
      div.dataset.field = key;
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = String(value);
      dd.id = `import-${key}`;
      div.append(dt, dd);
      dl.appendChild(div);
    };
    // A 422 reports 0 created/updated; say what the file holds instead of a misleading zero.
    add('Rows read', n(body.rows), 'rows');
    add(dry ? 'Would create' : 'Created', n(body.created), 'created');
    add(dry ? 'Would update' : 'Updated', n(body.updated), 'updated');
    add(dry ? 'Would skip' : 'Skipped', n(body.skipped), 'skipped');
    add('Errors', errors.length, 'error-count');
    dl.hidden = false;

    this._rows(this.errorsBody, errors);
    this.errorsWrap.hidden = errors.length === 0;
    this.errorsCaption.textContent = `${errors.length} row error${errors.length === 1 ? '' : 's'}`;
    this._rows(this.warningsBody, warnings);
    this.warningsWrap.hidden = warnings.length === 0;

    let msg;
    if (status === 422) {
      msg = dry
        ? `The file has ${errors.length} error${errors.length === 1 ? '' : 's'}; nothing would be imported. Fix the file, or tick "Skip bad rows".`
        : `Import failed with ${errors.length} error${errors.length === 1 ? '' : 's'}; nothing was written.`;
    } else if (dry) {
      msg = `Check passed: ${n(body.created)} to create, ${n(body.updated)} to update` +
        `${n(body.skipped) ? `, ${n(body.skipped)} to skip` : ''}. Press Import to apply.`;
    } else {
      msg = `Imported: ${n(body.created)} created, ${n(body.updated)} updated` +
        `${n(body.skipped) ? `, ${n(body.skipped)} skipped` : ''}.`;
    }
    this.status.textContent = msg;
    this.announce(msg);
  }

  _rows(tbody, list) {
    const frag = document.createDocumentFragment();
    for (const e of list) {
      const tr = document.createElement('tr');
      tr.dataset.row = e.row === null || e.row === undefined ? '' : String(e.row);
      tr.dataset.column = e.column === null || e.column === undefined ? '' : String(e.column);
      for (const v of [e.row ?? '—', e.column ?? '—', e.message ?? '']) {
        const td = document.createElement('td');
        td.textContent = String(v);
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
  }
}

// import.js — CSV import dialog (SPEC §6): pick or drop a file, dry run with upload progress,
// show counts, every row error and the dry run's `changes` to existing orders, then apply with
// onError=abort|skip and placement=keep|file (issue 10 item 4 "Safe re-import"); a CSV file's
// separator is detected by the server or chosen here (delimiter=, docs/import.md "Separator").

import { ApiError } from './api.js';
import { statusLabel, priorityLabel } from './board.js';

/** Labels of the camelCase fields a dry run's `changes` name (docs/import.md). */
const CHANGE_LABEL = {
  stockCode: 'Stock code', description: 'Description', quantityToMake: 'Quantity to make',
  quantityCompleted: 'Quantity completed', status: 'Status', priority: 'Priority',
  dueDate: 'Due date', startDate: 'Start date', workCentreId: 'Work centre',
  currentOperation: 'Current operation',
};

/**
 * One field change of a dry run as words: {label, from, to}. in: field (camelCase name),
 * ch ({from, to} from the server), wcName (workCentreId|null) => column name.
 */
export function describeChange(field, ch, wcName) {
  const show = (v) => {
    if (field === 'workCentreId') return wcName(v ?? null);
    if (v === null || v === undefined || v === '') return '—';
    if (field === 'status') return statusLabel(v);
    if (field === 'priority') return priorityLabel(v);
    return String(v);
  };
  return { label: CHANGE_LABEL[field] || field, from: show(ch && ch.from), to: show(ch && ch.to) };
}

/** Whether the server reads f as a workbook (no separator): the name the upload sends ends in
 * .xlsx (SPEC §10, server/import.c). */
function isWorkbook(f) {
  return !!f && /\.xlsx$/i.test(f.name || '');
}

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export class ImportDialog {
  /**
   * api: Api; announce(text): aria-live announcer; onImported(report): after a real import;
   * wcName(workCentreId|null): the column's name for the changes table.
   */
  constructor(api, { announce, onImported, wcName }) {
    this.api = api;
    this.announce = announce;
    this.onImported = onImported;
    this.wcName = wcName || ((id) => (id === null ? 'Backlog' : String(id)));
    this.file = null;
    this.busy = false;
    this.gen = 0;              // bumped by every request: an answer for an older one is dropped
    this.applying = false;     // a real import is being sent
    this.lastDry = null;       // {status, body, skip, placeFile, delimiter, file}
    this.dialog = document.getElementById('import-dialog');
    this.fileInput = document.getElementById('import-file');
    this.fileName = document.getElementById('import-file-name');
    this.skip = document.getElementById('import-skip');
    this.placeFile = document.getElementById('import-placement-file');
    this.delimiter = document.getElementById('import-delimiter');
    this.delimiterField = document.getElementById('import-delimiter-field');
    this.changesWrap = document.getElementById('import-changes-section');
    this.changesBody = document.querySelector('#import-changes tbody');
    this.changesCaption = document.getElementById('import-changes-caption');
    this.changesMore = document.getElementById('import-changes-more');
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
    // Changing an option re-checks the file; a check still running for the old options is
    // aborted (the newest request wins), so the report always matches the options shown.
    this.skip.addEventListener('change', () => { if (this.file) this.dryRun(); });
    this.placeFile.addEventListener('change', () => { if (this.file) this.dryRun(); });
    this.delimiter.addEventListener('change', () => { if (this.file) this.dryRun(); });
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
    if (this.busy) this.api.abortUpload();
    this.gen++;
    this.busy = false;
    this.file = null;
    this.lastDry = null;
    this.placeFile.checked = false;
    this.delimiter.value = 'auto';
    this.delimiterField.hidden = false;
    this.fileInput.value = '';
    this.fileName.textContent = 'No file chosen yet.';
    this._clearReport();
    this.status.textContent = '';
    this.progress.hidden = true;
    this.progressText.textContent = '';
    this._buttons();
  }

  setFile(file) {
    if (this.applying) return;
    this.file = file;
    this.delimiterField.hidden = isWorkbook(file);     // a workbook has no separator
    this.fileName.textContent = `${file.name} (${fmtBytes(file.size)})`;
    this.dryRun();
  }

  _buttons() {
    this.checkBtn.disabled = this.busy || !this.file;
    const d = this.lastDry;
    const okToApply = !!d && d.status === 200 && d.skip === this.skip.checked &&
      d.placeFile === this.placeFile.checked && d.delimiter === this.delimiter.value &&
      d.file === this.file;
    this.applyBtn.disabled = this.busy || !okToApply;
    // A real import in flight is never replaced: its options and file stay as they are.
    this.skip.disabled = this.placeFile.disabled = this.delimiter.disabled =
      this.fileInput.disabled = this.applying;
  }

  _url(dryRun) {
    const q = new URLSearchParams();
    if (dryRun) q.set('dryRun', 'true');
    q.set('onError', this.skip.checked ? 'skip' : 'abort');
    q.set('placement', this.placeFile.checked ? 'file' : 'keep');
    if (!isWorkbook(this.file)) q.set('delimiter', this.delimiter.value);
    return `/api/orders/import?${q}`;
  }

  _clearReport() {
    this.summary.replaceChildren();
    this.summary.hidden = true;
    this.errorsBody.replaceChildren();
    this.errorsWrap.hidden = true;
    this.warningsBody.replaceChildren();
    this.warningsWrap.hidden = true;
    this.changesBody.replaceChildren();
    this.changesMore.textContent = '';
    this.changesWrap.hidden = true;
  }

  /**
   * POST the current file with the current options. A request still in flight is aborted first
   * (a new file or option makes its answer stale). Resolves {status, body} for 200/422, null when
   * it failed (the reason is shown) or a newer request replaced it. The progress bar always ends:
   * full when the upload was answered, hidden when it failed or was replaced.
   */
  async _send(dryRun) {
    if (!this.file) return null;
    const gen = ++this.gen;
    if (this.busy) this.api.abortUpload();
    this.busy = true;
    this._buttons();
    this._clearReport();
    this.progress.hidden = false;
    this.progress.removeAttribute('value');
    this.progress.max = 1;
    this.status.textContent = dryRun ? 'Checking the file…' : 'Importing…';
    const total = this.file.size;
    let ok = false;
    try {
      const res = await this.api.uploadCsv(this._url(dryRun), this.file, (loaded, t) => {
        if (gen !== this.gen) return;
        const all = t || total || 1;
        this.progress.max = all;
        this.progress.value = Math.min(loaded, all);
        this.progressText.textContent = `Uploaded ${fmtBytes(loaded)} of ${fmtBytes(all)}`;
      });
      if (gen !== this.gen) return null;
      ok = true;
      return res;
    } catch (err) {
      if (gen !== this.gen) return null;     // replaced by a newer request: say nothing
      const e = err instanceof ApiError ? err : new ApiError(0, { error: String(err) });
      let msg = e.message;
      if (e.status === 413) msg = 'The file is too large for the server (limit 10 MiB or 200,000 rows).';
      else if (e.status === 403) msg = 'Your role may not import orders.';
      else if (e.code === 'aborted') msg = 'The upload was cancelled.';
      this.status.textContent = msg;
      this.announce(msg);
      return null;
    } finally {
      if (gen === this.gen) {
        this.busy = false;
        // The bar never stays indeterminate: full once answered, gone when the upload failed.
        this.progress.max = 1;
        this.progress.value = ok ? 1 : 0;
        this.progress.hidden = !ok;
        if (!ok) this.progressText.textContent = '';
        this._buttons();
      }
    }
  }

  async dryRun() {
    this.lastDry = null;
    const skip = this.skip.checked;
    const placeFile = this.placeFile.checked;
    const delimiter = this.delimiter.value;
    const file = this.file;
    const res = await this._send(true);
    if (!res) return;
    this.lastDry = { status: res.status, body: res.body || {}, skip, placeFile, delimiter, file };
    this._report(res.status, res.body || {}, true);
    this._buttons();
  }

  async apply() {
    if (!this.lastDry || this.lastDry.status !== 200 || this.busy) return;
    this.applying = true;
    let res;
    try {
      res = await this._send(false);
    } finally {
      this.applying = false;
      this._buttons();
    }
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
    // The separator the server used (a CSV file only): "semicolon (detected)" or as chosen.
    if (typeof body.delimiter === 'string') {
      add('Separator', this.delimiter.value === 'auto' ? `${body.delimiter} (detected)` : body.delimiter, 'separator');
    }
    dl.hidden = false;

    this._rows(this.errorsBody, errors);
    this.errorsWrap.hidden = errors.length === 0;
    this.errorsCaption.textContent = `${errors.length} row error${errors.length === 1 ? '' : 's'}`;
    this._rows(this.warningsBody, warnings);
    this.warningsWrap.hidden = warnings.length === 0;
    const changes = dry && Array.isArray(body.changes) ? body.changes : [];
    this._changes(changes, n(body.changesTotal));

    let msg;
    if (status === 422) {
      msg = dry
        ? `The file has ${errors.length} error${errors.length === 1 ? '' : 's'}; nothing would be imported. Fix the file, or tick "Skip bad rows".`
        : `Import failed with ${errors.length} error${errors.length === 1 ? '' : 's'}; nothing was written.`;
    } else if (dry) {
      const nc = n(body.changesTotal);
      msg = `Check passed: ${n(body.created)} to create, ${n(body.updated)} to update` +
        `${n(body.skipped) ? `, ${n(body.skipped)} to skip` : ''}` +
        `${nc ? ` (${nc} existing order${nc === 1 ? '' : 's'} would change)` : ''}. Press Import to apply.`;
    } else {
      msg = `Imported: ${n(body.created)} created, ${n(body.updated)} updated` +
        `${n(body.skipped) ? `, ${n(body.skipped)} skipped` : ''}.`;
    }
    this.status.textContent = msg;
    this.announce(msg);
  }

  /** The dry run's changes: one table row per field (order number, field, now, from the file). */
  _changes(list, total) {
    const frag = document.createDocumentFragment();
    let fields = 0;
    for (const c of list) {
      const entries = Object.entries(c && c.fields && typeof c.fields === 'object' ? c.fields : {});
      entries.forEach(([field, ch], i) => {
        const { label, from, to } = describeChange(field, ch, this.wcName);
        const tr = document.createElement('tr');
        tr.dataset.orderNumber = String(c.orderNumber ?? '');
        tr.dataset.field = field;
        const th = document.createElement('th');
        th.scope = 'row';
        th.textContent = i === 0 ? String(c.orderNumber ?? '') : '';
        if (i !== 0) th.append(Object.assign(document.createElement('span'),
          { className: 'visually-hidden', textContent: String(c.orderNumber ?? '') }));
        const cells = [label, from, to].map((v) => {
          const td = document.createElement('td');
          td.textContent = v;
          return td;
        });
        tr.append(th, ...cells);
        frag.appendChild(tr);
        fields++;
      });
    }
    this.changesBody.replaceChildren(frag);
    const more = Math.max(0, total - list.length);
    this.changesCaption.textContent = `Changes to orders already on the board: ${total} order${total === 1 ? '' : 's'}`;
    this.changesMore.textContent = more ? `… and ${more} more order${more === 1 ? '' : 's'} not listed.` : '';
    this.changesWrap.hidden = fields === 0 && !more;
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

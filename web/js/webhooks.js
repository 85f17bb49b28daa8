// The admin's "Webhooks" dialog (SPEC §11): the tenant's endpoints, each with its state and
// its last deliveries (GET /api/webhooks, GET /api/webhooks/:id/deliveries). Read-only: the
// endpoints are made and deleted through the REST API (docs/api-notes.md "Webhooks").

const SHOWN = 5;    // last deliveries shown per endpoint

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export class WebhooksDialog {
  constructor(api) {
    this.api = api;
    this.dialog = document.getElementById('webhooks-dialog');
    this.list = document.getElementById('webhooks-list');
    this.status = document.getElementById('webhooks-status');
    document.getElementById('webhooks-close').addEventListener('click', () => this.dialog.close());
    document.getElementById('webhooks-refresh').addEventListener('click', () => this.load());
  }

  async open() {
    if (!this.dialog.open) this.dialog.showModal();
    await this.load();
  }

  async load() {
    this.status.textContent = 'Loading…';
    let hooks;
    try {
      hooks = (await this.api.get('/api/webhooks')).data;
    } catch (e) {
      this.status.textContent = `Could not load the webhooks (${e.message}).`;
      return;
    }
    const items = await Promise.all(hooks.map(async (h) => {
      try {
        return { h, d: (await this.api.get(`/api/webhooks/${h.id}/deliveries`)).data };
      } catch {
        return { h, d: null };
      }
    }));
    this.list.replaceChildren(...items.map(({ h, d }) => this.item(h, d)));
    this.status.textContent = hooks.length === 0 ? 'No webhooks. An admin creates them with POST /api/webhooks.' : '';
  }

  item(h, deliveries) {
    const li = el('li', 'webhook');
    li.dataset.id = h.id;
    li.dataset.state = h.state;
    const head = el('div', 'webhook-head');
    head.append(el('span', 'webhook-url', h.url), el('span', `webhook-state state-${h.state}`, h.state),
      el('span', 'webhook-events', h.events.join(', ')));
    li.append(head);
    if (deliveries === null) {
      li.append(el('p', 'hint', 'Could not load its deliveries.'));
      return li;
    }
    if (deliveries.length === 0) {
      li.append(el('p', 'hint', 'No deliveries yet.'));
      return li;
    }
    const table = el('table', 'report webhook-deliveries');
    const cap = el('caption', null, 'Last deliveries');
    const thead = el('thead');
    const tr = el('tr');
    for (const c of ['Seq', 'Event', 'Status', 'Attempts', 'Last error', 'Delivered']) {
      const th = el('th', null, c);
      th.scope = 'col';
      tr.append(th);
    }
    thead.append(tr);
    const tbody = el('tbody');
    for (const x of deliveries.slice(0, SHOWN)) {
      const row = el('tr');
      row.dataset.status = x.status;
      row.append(el('td', null, String(x.seq)), el('td', null, x.event), el('td', null, x.status),
        el('td', null, String(x.attempts)), el('td', null, x.lastError ?? ''),
        el('td', null, x.deliveredAt ?? (x.nextAttemptAt ? `retry ${x.nextAttemptAt}` : '')));
      tbody.append(row);
    }
    table.append(cap, thead, tbody);
    const wrap = el('div', 'table-wrap');
    wrap.append(table);
    li.append(wrap);
    return li;
  }
}

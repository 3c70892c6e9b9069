// Tiny DOM helpers. Everything is built with createElement + textContent: no innerHTML anywhere, so data from
// the API can never become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

// Stored enum → words ("audit_queued" → "audit queued").
export function spaced(value) {
  return String(value ?? '').replaceAll('_', ' ');
}

export function fields(pairs) {
  const dl = h('dl', { class: 'fields' });
  for (const [label, value] of pairs) {
    dl.append(h('dt', {}, label), h('dd', {}, value === null || value === undefined || value === '' ? '—' : value));
  }
  return dl;
}

export function formatTime(value) {
  if (!value) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

// A result banner with a Dismiss button. `show(kind, text, items)` lists extra lines (e.g. refused leads). A
// message that sends the operator to Integrations links to the page.
export class Banner {
  constructor(id) {
    this.text = h('div', { class: 'banner-text' });
    this.list = h('ul');
    this.link = h('a', { href: '/integrations', class: 'banner-link', hidden: true }, 'Open Integrations');
    this.el = h('div', { class: 'banner info', id, role: 'status', 'aria-live': 'polite', hidden: true },
      h('div', {}, this.text, this.list, this.link),
      h('button', { type: 'button', onclick: () => this.clear() }, 'Dismiss'));
  }

  show(kind, text, items = []) {
    this.el.className = `banner ${kind}`;
    this.el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    this.text.textContent = text;
    replace(this.list, items.map((item) => h('li', {}, item)));
    this.list.hidden = items.length === 0;
    this.link.hidden = !/Integrations|plusvibe_not_configured|plusvibe_auth_failed/.test(text)
      || window.location.pathname === '/integrations';
    this.el.hidden = false;
  }

  clear() {
    this.el.hidden = true;
    this.text.textContent = '';
    this.list.replaceChildren();
  }
}

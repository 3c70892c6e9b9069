// The Unibox panel of a lead: threads for the contact email, a message viewer, Read, and the reply composer.
//
// Message HTML is sanitised by the unibox service (allowlist). The browser adds a second, independent wall:
// each message is shown in an <iframe sandbox="" srcdoc=...>, an opaque origin with scripts, forms, popups
// and top navigation disabled, under the dashboard's CSP (inherited by srcdoc: no remote images or fonts).
// So even HTML that slipped past the sanitiser cannot run code or touch this page's API key. We never
// assign message HTML to innerHTML of the dashboard document.
import { errorText, get, post } from './api.js';
import { formatTime, h, replace } from './dom.js';

export function mountUnibox(container, { email, banner }) {
  const state = { threads: null, selectedId: null, mailboxes: null, draftKey: newKey(), loading: false };
  const listEl = h('div', { id: 'unibox-threads' });
  const viewerEl = h('div', { id: 'unibox-viewer' });
  const refresh = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Refresh', title: 'Refresh' },
    h('span', { 'aria-hidden': 'true' }, '⟳'));
  refresh.addEventListener('click', () => load(true));
  replace(container,
    h('div', { class: 'panel-head' }, h('h2', { id: 'unibox-heading' }, 'Unibox'), refresh),
    listEl, viewerEl);

  async function load(fresh) {
    if (state.loading) return;
    state.loading = true;
    refresh.disabled = true;
    refresh.setAttribute('aria-busy', 'true');
    try {
      const query = new URLSearchParams({ email });
      if (fresh) query.set('refresh', 'true');
      const data = await get(`/api/unibox/threads?${query}`);
      state.threads = Array.isArray(data) ? data : (data && Array.isArray(data.items) ? data.items : []);
    } catch (err) {
      state.threads = state.threads || [];
      banner.show('error', `Unibox: ${errorText(err)}`);
    } finally {
      state.loading = false;
      refresh.disabled = false;
      refresh.removeAttribute('aria-busy');
    }
    renderList();
    renderViewer();
  }

  function threadId(t) { return t.threadId ?? t.id; }
  function selected() { return (state.threads || []).find((t) => threadId(t) === state.selectedId) || null; }

  function renderList() {
    if (state.threads === null) return replace(listEl, h('p', { class: 'muted' }, 'Loading…'));
    if (state.threads.length === 0) return replace(listEl, h('p', { class: 'muted', id: 'unibox-empty' }, 'No Unibox messages for this lead.'));
    replace(listEl, h('ul', { class: 'threads', 'aria-label': 'Threads' }, state.threads.map((t) => {
      const messages = t.messages || [];
      const unread = t.unread ?? messages.some((m) => m.isRead === false);
      const row = h('button', { type: 'button', class: `thread-row${unread ? ' unread' : ''}`,
        'aria-pressed': threadId(t) === state.selectedId ? 'true' : 'false' },
      h('span', { class: 'thread-subject' }, t.subject || messages[0]?.subject || '(no subject)'),
      h('span', { class: 'muted' }, `${messages.length} message${messages.length === 1 ? '' : 's'} · ${formatTime(t.latestAt ?? messages[0]?.createdAt)}${unread ? ' · unread' : ''}`));
      row.addEventListener('click', () => {
        state.selectedId = threadId(t);
        renderList();
        renderViewer();
      });
      return h('li', {}, row);
    })));
  }

  function messageView(m) {
    const from = m.from ?? m.fromAddress ?? '';
    const to = Array.isArray(m.to) ? m.to.join(', ') : (m.to ?? '');
    const frame = h('iframe', { sandbox: '', referrerpolicy: 'no-referrer',
      title: `Message from ${from}`, class: 'message-frame' });
    // srcdoc set as a property: the string is the frame's document, never parsed into this one.
    frame.srcdoc = m.html ? String(m.html) : `<pre>${escapeHtml(m.text ?? '')}</pre>`;
    return h('article', { class: 'message', dataset: { messageId: m.id ?? '' } },
      h('div', { class: 'message-meta' },
        `${m.direction === 'in' ? 'From contact' : 'Sent'} · ${from} → ${to} · ${formatTime(m.createdAt)}${m.isRead === false ? ' · unread' : ''}`),
      h('div', {}, h('strong', {}, m.subject || '')),
      frame);
  }

  async function markRead(thread, button) {
    button.disabled = true;
    try {
      await post(`/api/unibox/threads/${encodeURIComponent(threadId(thread))}/read`, thread.markReadBody ?? { email });
      await load(true);  // the banner comes after the list shows the new read state
      banner.show('success', `Unibox: thread "${thread.subject || threadId(thread)}" marked read.`);
    } catch (err) {
      banner.show('error', `Unibox: mark read failed: ${errorText(err)}`);
      button.disabled = false;
    }
  }

  function renderViewer() {
    const t = selected();
    if (!t) return replace(viewerEl);
    const messages = t.messages || [];
    const canMarkRead = Boolean(t.markReadBody);
    const read = h('button', { type: 'button', disabled: !canMarkRead }, 'Read');
    read.addEventListener('click', () => markRead(t, read));
    replace(viewerEl,
      h('div', { class: 'panel-head' }, h('h3', {}, t.subject || '(no subject)'), read),
      messages.map(messageView),
      composer(t));
  }

  function composer(t) {
    const messages = t.messages || [];
    const replyTo = t.replyToId ?? messages.find((m) => m.direction === 'in')?.id ?? messages[0]?.id ?? '';
    const from = h('select', { id: 'reply-from', name: 'from', required: true });
    const fill = () => {
      const boxes = state.mailboxes || [];
      const preferred = t.mailbox || boxes[0]?.email || '';
      replace(from, boxes.length ? boxes.map((b) => h('option', { value: b.email, selected: b.email === preferred },
        b.name ? `${b.name} <${b.email}>` : b.email)) : (preferred ? h('option', { value: preferred }, preferred) : null));
    };
    fill();
    if (state.mailboxes === null) {
      get('/api/unibox/mailboxes').then((boxes) => { state.mailboxes = Array.isArray(boxes) ? boxes : []; fill(); })
        .catch((err) => { state.mailboxes = []; banner.show('error', `Unibox: could not load mailboxes: ${errorText(err)}`); });
    }
    const base = t.subject || messages[0]?.subject || '';
    const subject = h('input', { id: 'reply-subject', type: 'text', name: 'subject',
      value: /^re:/i.test(base) ? base : `Re: ${base}` });
    const body = h('textarea', { id: 'reply-body', name: 'bodyHtml', required: true });
    const send = h('button', { type: 'submit', class: 'primary' }, 'Send reply');
    const form = h('form', { class: 'composer', 'aria-label': 'Reply' },
      h('label', { for: 'reply-from' }, 'Reply from'), from,
      h('label', { for: 'reply-subject' }, 'Subject'), subject,
      h('label', { for: 'reply-body' }, 'Body (HTML allowed)'), body,
      h('div', { class: 'actions-row' }, send));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!body.value.trim()) { banner.show('error', 'Unibox: write a reply first.'); return; }
      send.disabled = true;
      try {
        await post('/api/unibox/replies', { replyToId: replyTo, from: from.value, to: email, subject: subject.value,
          bodyHtml: body.value, idempotencyKey: state.draftKey });
        state.draftKey = newKey();  // the next reply is a new message; a retry of a failed one reuses the key
        const sender = from.value;
        body.value = '';
        await load(true);  // the banner comes after the thread shows the sent reply
        banner.show('success', `Unibox: reply sent from ${sender}.`);
      } catch (err) {
        banner.show('error', `Unibox: reply failed: ${errorText(err)}`);
      } finally {
        send.disabled = false;
      }
    });
    return form;
  }

  load(false);
  return { email, reload: () => load(true) };
}

function newKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

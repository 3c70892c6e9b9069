// The send preview of a lead for one campaign: what PlusVibe would send, step by step and variation by
// variation, with every placeholder that would render empty highlighted (docs/TEMPLATES.md).
//
// The rendered copy is campaign HTML, so it is shown like a Unibox message: in <iframe sandbox="" srcdoc=...>,
// an opaque origin with scripts, forms, popups and navigation off, under the inherited CSP. That CSP refuses
// inline <style>, so the frame links its own small stylesheet (same origin as the page: allowed by 'self').
// In this document everything is built from text nodes; the server's `marked` HTML only ever reaches a frame.
import { errorText, get, reasonText, remedyText } from './api.js';
import { h, replace } from './dom.js';

const FRAME_CSS = '/static/css/preview-frame.css';

export function sendPreview(leadId) {
  const heading = h('h3', { id: 'send-preview-heading' }, 'Send preview');
  const body = h('div', { class: 'send-preview-body' });
  const el = h('section', { id: 'send-preview', class: 'send-preview', 'aria-labelledby': 'send-preview-heading',
    hidden: true }, heading, body);
  const state = { campaignId: '', campaignName: '', seq: 0 };

  async function load() {
    const seq = ++state.seq;
    const { campaignId } = state;
    el.hidden = false;
    el.setAttribute('aria-busy', 'true');
    replace(body, h('p', { class: 'muted', id: 'send-preview-loading' },
      `Loading the send preview for ${state.campaignName || campaignId}…`));
    let data = null;
    let error = null;
    try {
      const query = new URLSearchParams({ campaignId });
      data = await get(`/api/leads/${encodeURIComponent(leadId)}/plusvibe/preview?${query}`);
    } catch (err) {
      error = err;
    }
    if (seq !== state.seq) return;  // the choice changed while this one was in flight
    el.removeAttribute('aria-busy');
    if (error) replace(body, errorView(error));
    else replace(body, previewView(data || {}));
  }

  return {
    el,
    get campaignId() { return state.campaignId; },
    show(campaignId, campaignName = '') {
      state.campaignId = campaignId || '';
      state.campaignName = campaignName;
      if (!state.campaignId) return this.clear();
      return load();
    },
    refresh() { return state.campaignId ? load() : Promise.resolve(); },
    clear() {
      state.seq += 1;
      state.campaignId = '';
      el.hidden = true;
      el.removeAttribute('aria-busy');
      body.replaceChildren();
      return Promise.resolve();
    },
  };
}

function errorView(err) {
  const detail = (err && err.body) || {};
  const lines = [h('p', { class: 'preview-summary not-ready', id: 'send-preview-error', role: 'alert' },
    `Send preview unavailable: ${errorText(err)}`)];
  if (err && err.reason) lines.push(h('p', { class: 'hint' }, reasonText(err.reason)));
  if (detail.step || detail.variation || detail.part) {
    lines.push(h('p', { class: 'hint' }, `In ${where(detail)}.`));
  }
  if (err && err.reason === 'campaign_template_invalid') {
    lines.push(h('p', { class: 'hint' }, `Remedy: ${remedyText('edit_campaign')}`));
  } else if (detail.remedy) {
    lines.push(h('p', { class: 'hint' }, `Remedy: ${remedyText(detail.remedy)}`));
  }
  return lines;
}

function previewView(data) {
  const steps = Array.isArray(data.steps) ? data.steps : [];
  const problems = Array.isArray(data.problems) ? data.problems : [];
  const name = data.campaignName || data.campaignId || '';
  const parts = [];
  if (data.ready) {
    parts.push(h('p', { class: 'preview-summary ready', id: 'send-preview-summary' },
      `Ready: every placeholder of "${name}" renders for this lead.`));
  } else {
    const refusal = data.refusal || {};
    const count = problems.length ? ` ${problems.length} problem${problems.length === 1 ? '' : 's'}.` : '';
    parts.push(h('div', { class: 'preview-summary not-ready', id: 'send-preview-summary' },
      h('p', {}, h('strong', {}, 'Not ready: '), refusal.message || reasonText(refusal.reason) || 'the push would be refused.',
        count),
      refusal.reason ? h('p', { class: 'hint' }, `Reason: ${reasonText(refusal.reason)}`) : null,
      refusal.remedy ? h('p', { class: 'hint' }, `Remedy: ${remedyText(refusal.remedy)}`) : null));
  }
  if (data.storageRule) {
    parts.push(h('p', { class: 'hint' }, `Custom variable storage rule: ${data.storageRule}.`));
  }
  if (steps.length === 0) parts.push(h('p', { class: 'muted' }, 'The campaign has no readable templates.'));
  for (const step of steps) {
    for (const variation of (Array.isArray(step.variations) ? step.variations : [])) {
      parts.push(variationView(step.step, variation));
    }
  }
  return parts;
}

function variationView(stepNo, variation) {
  const label = `Step ${stepNo} · variation ${variation.variation}`;
  const subject = variation.subject || {};
  const body = variation.body || {};
  const problems = Array.isArray(variation.problems) ? variation.problems : [];
  const subjectText = String(subject.text ?? '');
  const subjectBad = problems.some((p) => p.part === 'subject');
  const frame = h('iframe', { sandbox: '', referrerpolicy: 'no-referrer', class: 'preview-frame',
    title: `Send preview: ${label}` });
  // srcdoc set as a property: the string becomes the frame's document, never parsed into this one.
  frame.srcdoc = frameDocument(stepNo, subject.marked, body.marked ?? body.html);
  return h('article', { class: `preview-variation${problems.length ? ' has-problems' : ''}`,
    dataset: { step: stepNo, variation: variation.variation } },
  h('h4', {}, label),
  h('p', { class: `preview-subject${subjectBad ? ' bad' : ''}` }, h('span', { class: 'muted' }, 'Subject: '),
    subjectText || (stepNo > 1 ? h('span', { class: 'muted' }, '(none: sent as a reply in the step-1 thread)')
      : h('span', { class: 'muted' }, '(empty)'))),
  frame,
  problems.length
    ? h('ul', { class: 'preview-problems', 'aria-label': `Problems of ${label}` }, problems.map((p) => h('li', {}, problemText(p))))
    : h('p', { class: 'hint preview-clean' }, 'No empty placeholders.'));
}

// The API names a token bare (`first_name`) or as written in the template (`{{first_name}}`); show it as written.
export function tokenText(token) {
  const t = String(token ?? '').trim();
  return t.startsWith('{{') ? t : `{{${t}}}`;
}

export function problemText(p) {
  const token = p.token ? `${tokenText(p.token)} renders empty` : 'Problem';
  const part = p.part ? ` (${p.part})` : '';
  return `${token} — ${p.message || reasonText(p.reason)}${part}`;
}

function where(d) {
  return [d.step ? `step ${d.step}` : '', d.variation ? `variation ${d.variation}` : '', d.part || '']
    .filter(Boolean).join(' · ');
}

function frameDocument(stepNo, subjectMarked, bodyMarked) {
  const none = stepNo > 1 ? '(none: a reply in the step-1 thread)' : '(empty)';
  const subject = subjectMarked ? String(subjectMarked) : `<span class="pv-none">${none}</span>`;
  return '<!doctype html><html><head><meta charset="utf-8">'
    + `<link rel="stylesheet" href="${FRAME_CSS}"></head><body>`
    + `<p class="pv-subject"><span class="pv-label">Subject:</span> ${subject}</p>`
    + `<div class="pv-body">${String(bodyMarked ?? '')}</div></body></html>`;
}

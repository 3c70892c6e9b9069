// /leads/<id>: header, cards, Actions, PlusVibe, Unibox, Audit Summary and Outreach Emails for one lead.
// The lead is polled every second while an audit or a writeback is in flight, so audit → email_generated
// shows up without a reload.
import { campaigns, del, errorText, get, leadStatuses, patch, post, reasonText, remedyText } from './api.js';
import { Banner, fields, formatTime, h, replace, spaced } from './dom.js';
import { forgetSelected, leadsUrl } from './list-state.js';
import { campaignAlertBanner, campaignOption } from './plusvibe-alerts.js';
import { campaignCopyForm, generateChoices } from './copy-settings.js';
import { sendPreview, tokenText } from './send-preview.js';
import { mountTimeline } from './timeline.js';
import { mountUnibox } from './unibox.js';

const POLL_MS = 1000;
const POLL_LIMIT_MS = 10 * 60 * 1000;
const WRITEBACK_WAIT_MS = 60 * 1000;
const RECENT_AUDIT_MS = 60 * 1000;

export function hasUsableDomain(domain) {
  const value = String(domain ?? '').trim().toLowerCase();
  return value !== '' && value !== 'unknown';
}

export async function renderLeadDetail(app, leadId) {
  const base = `/api/leads/${encodeURIComponent(leadId)}`;
  let lead;
  try {
    lead = await get(base);
  } catch (err) {
    replace(app, h('div', { class: 'full-error', role: 'alert' },
      h('h1', {}, 'Failed to load lead'),
      h('p', { class: 'muted' }, errorText(err)),
      h('p', {}, h('a', { href: leadsUrl() }, 'Back to Leads'))));
    return;
  }

  const state = { lead, statuses: [], campaigns: [], campaignChoice: '', integration: null, emails: null, writeback: null,
    pollTimer: null, pollStarted: 0, polling: false };
  const banner = new Banner('lead-banner');
  const riskEl = h('div', { class: 'send-risk', id: 'send-risk', role: 'alert', hidden: true });
  const headerEl = h('div', { class: 'page-header' });
  const cardsEl = h('div', { class: 'cards' });
  const actionsEl = h('section', { class: 'panel', 'aria-labelledby': 'actions-heading' });
  const plusvibeEl = h('section', { class: 'panel', 'aria-labelledby': 'plusvibe-heading' });
  const uniboxEl = h('section', { class: 'panel', 'aria-labelledby': 'unibox-heading', hidden: true });
  const summaryEl = h('section', { class: 'panel', 'aria-labelledby': 'summary-heading', hidden: true });
  const emailsEl = h('section', { class: 'panel', 'aria-labelledby': 'emails-heading' });
  const timelineEl = h('section', { class: 'panel', 'aria-labelledby': 'timeline-heading' });
  const dialog = confirmDialog();
  // Kept across re-renders of the PlusVibe panel, so a re-render does not re-fetch or lose the preview.
  const preview = sendPreview(leadId);
  const pushNote = h('p', { class: 'push-refusal', id: 'push-refusal', role: 'status', hidden: true });
  replace(app, headerEl, banner.el, riskEl, cardsEl, h('div', { class: 'grid-2' }, actionsEl, plusvibeEl), uniboxEl,
    summaryEl, emailsEl, timelineEl, dialog.el);
  let unibox = null;
  const timeline = mountTimeline(timelineEl, base);

  function renderHeader() {
    const l = state.lead;
    if (!changed(headerEl, [l.title, l.companyName, l.domain, l.status])) return;
    replace(headerEl,
      h('button', { type: 'button', onclick: () => window.location.assign(leadsUrl()) }, 'Back'),
      h('h1', {}, l.title || l.companyName || l.domain || 'Lead'),
      h('span', { class: `badge status-${l.status}`, id: 'status-badge', 'aria-label': `Status: ${spaced(l.status)}` },
        spaced(l.status)),
      h('a', { href: `/leads/${encodeURIComponent(leadId)}/edit`, class: 'button', id: 'edit-lead' }, 'Edit lead'),
      h('a', { href: '/help/lead-detail', class: 'help-link', rel: 'help' }, 'Help: this screen'));
    document.title = `${l.title || 'Lead'} · Outreach`;
  }

  function renderCards() {
    const l = state.lead;
    if (!changed(cardsEl, [l.companyName, l.domain, l.contact, l.customFields, l.audit])) return;
    const c = l.contact || {};
    const audit = l.audit;
    const auditBody = [];
    if (!audit || (!audit.grade && audit.status !== 'queued' && audit.status !== 'running' && audit.status !== 'failed')) {
      auditBody.push(h('p', { class: 'grade' }, 'Not audited'));
    }
    if (audit) {
      if (audit.grade) auditBody.push(h('p', { class: 'grade', 'aria-label': `Grade ${audit.grade}` }, audit.grade));
      auditBody.push(fields([
        ['Run status', spaced(audit.status)],
        ['Score', audit.score ?? null],
        ['Top issue', audit.topIssue || null],
      ].filter(([label, value]) => label !== 'Top issue' || value)));
      if (audit.status === 'failed' && audit.errorMessage) auditBody.push(h('p', { class: 'hint', role: 'alert' }, audit.errorMessage));
      if (audit.auditRunId) {
        auditBody.push(h('p', {}, h('a', { href: `/audits/${encodeURIComponent(audit.auditRunId)}` }, 'View audit')));
      }
    }
    replace(cardsEl,
      h('section', { class: 'panel', 'aria-labelledby': 'company-heading' }, h('h2', { id: 'company-heading' }, 'Company'),
        fields([['Company', l.companyName], ['Domain', l.domain]])),
      h('section', { class: 'panel', 'aria-labelledby': 'contact-heading' }, h('h2', { id: 'contact-heading' }, 'Contact'),
        fields([['Name', [c.firstName, c.lastName].filter(Boolean).join(' ')], ['Email', c.email], ['Title', c.title],
          ['Phone', c.phone], ...Object.entries(l.customFields || {}).map(([k, v]) => [`{{${k}}}`, v])])),
      h('section', { class: 'panel', 'aria-labelledby': 'audit-heading' }, h('h2', { id: 'audit-heading' }, 'Audit'), auditBody));
  }

  // Set by the leads service's template check (docs/TEMPLATES.md): the campaign this lead is enrolled in was
  // edited in PlusVibe and would now render an empty placeholder for it; null again once the risk is gone.
  function renderSendRisk() {
    const risk = state.lead.sendRisk;
    if (!changed(riskEl, [risk, state.campaigns])) return;
    riskEl.hidden = !risk;
    if (!risk) { riskEl.replaceChildren(); return; }
    const problems = Array.isArray(risk.problems) ? risk.problems : [];
    const name = risk.campaignName || campaignName(risk.campaignId);
    replace(riskEl,
      h('p', { class: 'send-risk-title' }, h('strong', {}, `Campaign ${name} was edited in PlusVibe after this lead was `
        + 'enrolled: its next emails would render empty placeholders.')),
      problems.length ? h('ul', { class: 'send-risk-problems', 'aria-label': 'Empty placeholders' }, problems.map((p) =>
        h('li', {}, h('code', {}, p.token ? tokenText(p.token) : '(no token)'),
          ` · ${[p.step ? `step ${p.step}` : '', p.variation ? `variation ${p.variation}` : '', p.part || '']
            .filter(Boolean).join(' · ')}`,
          h('span', { class: 'muted' }, ` — ${p.message || reasonText(p.reason)}`)))) : null,
      risk.remedy ? h('p', { class: 'send-risk-remedy' }, `Remedy: ${remedyText(risk.remedy)}`) : null,
      risk.writebackRequestedFor ? h('p', { class: 'send-risk-writeback' }, 'A writeback refresh was requested.') : null,
      risk.detectedAt ? h('p', { class: 'hint' }, `Detected ${formatTime(risk.detectedAt)}.`) : null);
  }

  function renderActions() {
    const l = state.lead;
    if (!changed(actionsEl, [l.status, l.domain, l.campaignId, l.audit && l.audit.auditRunId, state.statuses,
      Boolean(state.writeback)])) return;
    const options = state.statuses.filter((s) => s.selectable && s.dropdownLabel && s.value !== 'sent');
    const select = h('select', { id: 'status-select', name: 'status' });
    if (!options.some((s) => s.value === l.status)) {
      select.append(h('option', { value: '', disabled: true, selected: true }, `${spaced(l.status)} (legacy; normalise it)`));
    }
    for (const s of options) select.append(h('option', { value: s.value, selected: s.value === l.status }, s.dropdownLabel));
    select.addEventListener('change', async () => {
      const wanted = select.value;
      select.disabled = true;
      try {
        state.lead = await patch(base, { status: wanted });
        timeline.refresh();
        banner.show('success', `Status set to ${spaced(wanted)}.`);
      } catch (err) {
        banner.show('error', `Status change failed: ${errorText(err)}`);
        shownKeys.delete(actionsEl);  // put the select back to the stored status
      }
      renderLead('status-select');
    });
    const domainOk = hasUsableDomain(l.domain);
    const startAudit = h('button', { type: 'button', disabled: !domainOk,
      'aria-describedby': domainOk ? null : 'audit-blocked' }, 'Start audit (domain)');
    startAudit.addEventListener('click', () => action(startAudit, async () => {
      try {
        const accepted = await post(`${base}/audits`);
        banner.show('success', `Audit started for ${l.domain} (run ${accepted.auditRunId}).`);
      } catch (err) {
        banner.show('error', `Start audit failed: ${errorText(err)}`);
      }
      await reloadLead();
    }));
    const generate = h('button', { type: 'button', class: 'primary' }, 'Generate Email');
    const choices = generateChoices();
    generate.addEventListener('click', () => action(generate, async () => {
      try {
        const made = await post(`${base}/emails`, choices.body());
        banner.show('success', `Generated ${made.length} email preview${made.length === 1 ? '' : 's'}.`);
      } catch (err) {
        banner.show('error', `Generate Email failed: ${errorText(err)}`);
      }
      await loadEmails();
    }));
    const canWriteback = Boolean(l.campaignId && l.audit && l.audit.auditRunId);
    let writeback = null;
    if (canWriteback) {
      writeback = h('button', { type: 'button', disabled: Boolean(state.writeback) }, 'PlusVibe Writeback');
      writeback.addEventListener('click', () => action(writeback, requestWriteback));
    }
    const inCampaign = Boolean(l.campaignId);
    const remove = h('button', { type: 'button', class: 'danger', id: 'delete-lead', disabled: inCampaign,
      'aria-describedby': inCampaign ? 'delete-blocked' : null }, 'Delete lead');
    remove.addEventListener('click', () => action(remove, deleteLead));
    replace(actionsEl,
      h('h2', { id: 'actions-heading' }, 'Actions'),
      h('label', { for: 'status-select' }, 'Status'), select,
      l.status === 'sent' ? h('div', { class: 'actions-row' }, h('button', { type: 'button', onclick: normalise }, 'Normalise status')) : null,
      h('div', { class: 'actions-row' }, generate, choices.el, startAudit, writeback),
      h('div', { class: 'actions-row' }, remove),
      inCampaign ? h('p', { class: 'hint', id: 'delete-blocked' },
        'Delete needs the lead out of its PlusVibe campaign: remove it from PlusVibe first (deleting never touches PlusVibe).')
        : null,
      domainOk ? null : h('p', { class: 'hint', id: 'audit-blocked' },
        'Start audit needs a usable domain: the domain is missing or "unknown".'),
      canWriteback ? null : h('p', { class: 'hint' },
        'PlusVibe Writeback appears once the lead is linked to a PlusVibe campaign and has an audit run.'));
  }

  // A soft delete: the lead leaves every list; PlusVibe is not touched (a lead in a campaign cannot be deleted).
  async function deleteLead() {
    const l = state.lead;
    const name = l.companyName || l.domain || l.contact?.email || 'this lead';
    const ok = await dialog.ask('Delete lead?', `Delete ${name}? It disappears from the Leads list and every search; `
      + 'its history stays on record. It is not in a PlusVibe campaign, so PlusVibe is not affected.', 'Delete');
    if (!ok) return;
    try {
      await del(base);
      forgetSelected(leadId);
    } catch (err) {
      banner.show('error', `Delete failed: ${errorText(err)}`);
      await reloadLead();
      return;
    }
    window.location.assign(leadsUrl());
  }

  async function normalise() {
    try {
      state.lead = await post(`${base}/normalise-status`);
      timeline.refresh();
      banner.show('success', `Status normalised to ${spaced(state.lead.status)}.`);
    } catch (err) {
      banner.show('error', `Normalise failed: ${errorText(err)}`);
    }
    renderLead();
  }

  async function requestWriteback() {
    const previous = state.lead.plusvibeLeadData || {};
    try {
      await post(`${base}/plusvibe/writeback`);
    } catch (err) {
      banner.show('error', `PlusVibe Writeback failed: ${errorText(err)}`);
      return;
    }
    state.writeback = { since: Date.now(), appliedAt: previous.lastOutboundWriteback?.appliedAt ?? null,
      error: previous.lastWritebackError ?? null };
    banner.show('info', 'PlusVibe Writeback requested; waiting for it to land…');
    renderActions();
    ensurePolling();
  }

  // True when the pending writeback just resolved (landed, failed or timed out).
  function checkWriteback() {
    const pending = state.writeback;
    if (!pending) return false;
    const data = state.lead.plusvibeLeadData || {};
    const applied = data.lastOutboundWriteback?.appliedAt ?? null;
    const error = data.lastWritebackError ?? null;
    if (applied && applied !== pending.appliedAt) {
      const wb = data.lastOutboundWriteback;
      state.writeback = null;
      banner.show('success', `PlusVibe Writeback applied: ${Object.keys(wb.variables || {}).length} variables, ` +
        `${wb.delivered ? 'delivered to PlusVibe' : 'stored (not delivered: no campaign link at the time)'}.`);
    } else if (error && error !== pending.error) {
      state.writeback = null;
      banner.show('error', `PlusVibe Writeback failed: ${error}`);
    } else if (Date.now() - pending.since > WRITEBACK_WAIT_MS) {
      state.writeback = null;
      banner.show('error', 'PlusVibe Writeback has not landed after a minute; check the writeback service and retry.');
    }
    return state.writeback === null;
  }

  function campaignName(id) {
    const found = state.campaigns.find((c) => c.id === id);
    return found ? found.name : id;
  }

  function renderPlusVibe() {
    const l = state.lead;
    if (!changed(plusvibeEl, [l.campaignId, l.contact && l.contact.email, l.status, l.plusvibeLeadData,
      state.campaigns, state.integration])) return;
    const email = l.contact && l.contact.email;
    const parts = [h('h2', { id: 'plusvibe-heading' }, 'PlusVibe')];
    const integration = state.integration;
    if (integration && (!integration.configured || integration.keyValid === false)) {
      parts.push(h('p', { class: 'hint', role: 'note' }, integration.configured
        ? `PlusVibe refused the configured API key${integration.error ? `: ${integration.error}` : ''}. Check `
        : 'PlusVibe is not configured; push, writeback and Unibox need an API key and workspace under ',
      h('a', { href: '/integrations' }, 'Integrations'), '.'));
    }
    if (!l.campaignId) {
      if (email) {
        const select = h('select', { id: 'push-campaign', name: 'campaign' }, h('option', { value: '' }, 'Choose a campaign…'));
        for (const c of state.campaigns) select.append(campaignOption(c, state.campaignChoice));
        const push = h('button', { type: 'button', class: 'primary', disabled: !state.campaignChoice }, 'Push to PlusVibe');
        select.addEventListener('change', () => {
          state.campaignChoice = select.value;
          push.disabled = !select.value;
          showPushNote('');
          preview.show(select.value, campaignName(select.value));
        });
        push.addEventListener('click', () => action(push, () => pushLead(select.value)));
        parts.push(h('label', { for: 'push-campaign' }, 'Select campaign'), select, h('div', { class: 'actions-row' }, push),
          pushNote, preview.el);
        if (state.campaignChoice && preview.campaignId !== state.campaignChoice) {
          preview.show(state.campaignChoice, campaignName(state.campaignChoice));
        }
      } else {
        parts.push(h('p', { class: 'muted' }, 'Not linked to a campaign. Add a contact email to push this lead to PlusVibe.'));
      }
    } else {
      preview.clear();
      showPushNote('');
      parts.push(fields([['Campaign', campaignName(l.campaignId)]]));
      const linked = state.campaigns.find((c) => c.id === l.campaignId);
      const alert = campaignAlertBanner(linked);
      if (alert) parts.push(alert);
      if (linked) {
        parts.push(campaignCopyForm(linked, (kind, text) => {
          banner.show(kind, text);
          if (kind === 'success') {
            campaigns({ fresh: true }).then((c) => { state.campaigns = c; renderPlusVibe(); }).catch(() => {});
          }
        }));
      }
      const row = h('div', { class: 'actions-row' });
      if ((l.status === 'converted' || l.status === 'replied') && email) {
        const complete = h('button', { type: 'button' }, 'Mark completed in PlusVibe');
        complete.addEventListener('click', () => action(complete, async () => {
          try {
            await post(`${base}/plusvibe/complete`);
            banner.show('success', `Marked completed in PlusVibe (${campaignName(l.campaignId)}).`);
          } catch (err) {
            banner.show('error', `Mark completed failed: ${errorText(err)}`);
          }
          await reloadLead();
        }));
        row.append(complete);
      }
      const remove = h('button', { type: 'button', class: 'danger', disabled: !email,
        'aria-describedby': email ? null : 'remove-needs-email' }, 'Remove from PlusVibe');
      remove.addEventListener('click', async () => {
        const ok = await dialog.ask('Remove from PlusVibe?',
          `Remove ${email} from the campaign "${campaignName(l.campaignId)}"? PlusVibe stops sending to this lead.`, 'Remove');
        if (!ok) return;
        await action(remove, async () => {
          try {
            await del(`${base}/plusvibe`);
            banner.show('success', `Removed from PlusVibe campaign ${campaignName(l.campaignId)}.`);
          } catch (err) {
            banner.show('error', `Remove from PlusVibe failed: ${errorText(err)}`);
          }
          await reloadLead();
        });
      });
      row.append(remove);
      parts.push(row);
      if (!email) parts.push(h('p', { class: 'hint', id: 'remove-needs-email' }, 'Remove needs the contact email.'));
    }
    const data = l.plusvibeLeadData;
    if (data) {
      const wb = data.lastOutboundWriteback;
      parts.push(h('h3', {}, 'PlusVibe enrichment'), fields([
        ['Label', data.label], ['Reply sentiment', data.replySentiment], ['Last email subject', data.lastEmailSubject],
        ['Last writeback', wb ? `${formatTime(wb.appliedAt)} · ${Object.keys(wb.variables || {}).length} variables · ${wb.delivered ? 'delivered' : 'stored'}` : null],
        ['Last writeback error', data.lastWritebackError],
      ]));
      const raw = data.rawWebhookPayload;
      parts.push(h('details', {}, h('summary', {}, 'Raw webhook payload'),
        raw ? h('pre', { class: 'json', tabindex: 0, 'aria-label': 'Raw webhook payload JSON' }, JSON.stringify(raw, null, 2))
          : h('p', { class: 'muted' }, 'No webhook received for this lead yet.')));
    }
    replace(plusvibeEl, parts);
  }

  async function pushLead(campaignId) {
    try {
      const result = await post('/api/plusvibe/leads/push', { campaignId, leadIds: [leadId] });
      const already = (result.alreadyEnrolled || []).includes(leadId);
      banner.show('success', already ? `Already enrolled in ${campaignName(campaignId)}.`
        : `Pushed to PlusVibe campaign ${campaignName(campaignId)} with every merge field.`);
      state.campaignChoice = '';
      showPushNote('');
      preview.clear();
    } catch (err) {
      const refused = (err.body && Array.isArray(err.body.refused)) ? err.body.refused : [];
      banner.show('error', `Push to PlusVibe refused: ${errorText(err)}`, refused.map((r) =>
        `Status ${r.status ?? 'none'}: ${r.reason}. ${r.message || ''} Remedy: ${remedyText(r.remedy)}`));
      const first = refused.find((r) => r.leadId === leadId) || refused[0];
      showPushNote(`Push refused (${err.status || 'error'} ${first ? first.reason : err.reason}): `
        + `${first ? first.message || '' : err.message}${first && first.remedy ? ` Remedy: ${remedyText(first.remedy)}` : ''}`,
      first && first.remedy === 'edit_lead' ? editHref(first.reason) : null);
    }
    await reloadLead();
  }

  // The last push refusal, next to the button (the banner at the top of the page says it too).
  function showPushNote(text, fixHref = null) {
    replace(pushNote, text, fixHref ? ' ' : null,
      fixHref ? h('a', { href: fixHref, id: 'push-refusal-fix' }, 'Edit the lead') : null);
    pushNote.hidden = !text;
  }

  // The lead form, focused on the field a refusal is about.
  function editHref(reason) {
    const field = reason === 'contact_email_missing' || reason === 'bounced' ? 'email' : 'firstName';
    return `/leads/${encodeURIComponent(leadId)}/edit#${field}`;
  }

  function renderSummary() {
    const text = state.lead.auditSummary;
    summaryEl.hidden = !text;
    replace(summaryEl, h('h2', { id: 'summary-heading' }, 'Audit Summary'), text ? h('p', { class: 'email-body' }, text) : null);
  }

  function renderEmails() {
    const list = state.emails;
    if (list === null) {
      replace(emailsEl, h('h2', { id: 'emails-heading' }, 'Outreach Emails'), h('p', { class: 'muted' }, 'Loading…'));
      return;
    }
    replace(emailsEl, h('h2', { id: 'emails-heading' }, `Outreach Emails (${list.length})`),
      list.length === 0 ? h('p', { class: 'muted', id: 'emails-empty' }, 'No emails generated yet. Use the Generate Email button above.')
        : h('ul', { class: 'emails' }, list.map((e) => h('li', { dataset: { emailId: e.id } },
          h('div', { class: 'actions-row' },
            h('span', { class: 'badge neutral', title: 'type' }, e.type),
            h('span', { class: `badge ${e.writebackStatus === 'failed' ? 'bad' : 'good'}`, title: 'writebackStatus' }, e.writebackStatus),
            h('span', { class: 'muted' }, `Step ${e.step}${e.tone ? ` · ${e.tone}` : ''} · ${formatTime(e.createdAt)}`)),
          h('p', {}, h('strong', {}, e.subject || '(no subject)')),
          h('div', { class: 'email-body' }, e.body),
          e.cta ? h('p', { class: 'muted' }, `CTA: ${e.cta}`) : null))));
  }

  async function loadEmails() {
    try {
      state.emails = await get(`${base}/emails`);
    } catch (err) {
      state.emails = state.emails || [];
      banner.show('error', `Could not load the outreach emails: ${errorText(err)}`);
    }
    renderEmails();
    timeline.refresh();  // a generation or a writeback is an event of the lead's story
  }

  // Re-rendering replaces elements; keep keyboard focus on the control the operator was using.
  function renderLead(focusId = document.activeElement && document.activeElement.id) {
    renderHeader();
    renderSendRisk();
    renderCards();
    renderActions();
    renderPlusVibe();
    renderSummary();
    const email = state.lead.contact && state.lead.contact.email;
    uniboxEl.hidden = !email;
    if (email && (!unibox || unibox.email !== email)) unibox = mountUnibox(uniboxEl, { email, banner });
    if (!email) { unibox = null; uniboxEl.replaceChildren(); }
    if (focusId) document.getElementById(focusId)?.focus();
    ensurePolling();
  }

  async function reloadLead() {
    try {
      const fresh = await get(base);
      const changed = fresh.version !== state.lead.version || fresh.status !== state.lead.status;
      const wbChanged = fresh.plusvibeLeadData?.lastOutboundWriteback?.appliedAt
        !== state.lead.plusvibeLeadData?.lastOutboundWriteback?.appliedAt;
      const before = state.lead;
      state.lead = fresh;
      if (changed) {
        announceAudit(before, fresh);
        renderLead();
        timeline.refresh();
        // What the lead would send changed (audit, writeback, contact edit): re-judge the chosen campaign.
        if (!fresh.campaignId && preview.campaignId) preview.refresh();
      }
      if (wbChanged || fresh.status !== before.status) await loadEmails();
    } catch (err) {
      banner.show('error', `Could not refresh the lead: ${errorText(err)}`);
    }
  }

  function announceAudit(before, after) {
    if (before.audit?.status === after.audit?.status || !after.audit || state.writeback) return;
    if (after.audit.status === 'completed') banner.show('success', `Audit completed: grade ${after.audit.grade ?? '—'}.`);
    if (after.audit.status === 'failed') banner.show('error', `Audit failed: ${after.audit.errorMessage || 'no details'}.`);
  }

  function inFlight() {
    const l = state.lead;
    if (state.writeback) return true;
    if (l.status === 'audit_queued') return true;
    const run = l.audit;
    if (run && (run.status === 'queued' || run.status === 'running' || run.status === 'requested')) return true;
    // Between AuditCompleted and the writeback landing the lead is audit_complete for about a second.
    if (l.status === 'audit_complete' && run && run.completedAt
      && Date.now() - new Date(run.completedAt).getTime() < RECENT_AUDIT_MS) return true;
    return false;
  }

  function ensurePolling() {
    if (state.pollTimer || !inFlight()) return;
    state.pollStarted = Date.now();
    state.pollTimer = setInterval(async () => {
      if (state.polling) return;
      state.polling = true;
      try {
        await reloadLead();
        if (checkWriteback()) renderActions();
      } finally {
        state.polling = false;
      }
      if (!inFlight() || Date.now() - state.pollStarted > POLL_LIMIT_MS) {
        clearInterval(state.pollTimer);
        state.pollTimer = null;
      }
    }, POLL_MS);
  }

  renderLead();
  renderEmails();
  const extras = [
    leadStatuses().then((s) => { state.statuses = s; renderActions(); })
      .catch((err) => banner.show('error', `Could not load the status list: ${errorText(err)}`)),
    campaigns().then((c) => { state.campaigns = c; renderPlusVibe(); renderSendRisk(); })
      .catch((err) => banner.show('error', `Could not load PlusVibe campaigns: ${errorText(err)}`)),
    loadEmails(),
    get('/api/plusvibe/integration').then((i) => { state.integration = i; renderPlusVibe(); }).catch(() => {}),
  ];
  await Promise.all(extras);
}

// Re-render a panel only when what it shows changed: replacing a button under the operator's pointer between
// mousedown and mouseup swallows the click, and replacing a focused control loses keyboard focus.
const shownKeys = new WeakMap();
function changed(el, inputs) {
  const key = JSON.stringify(inputs);
  if (shownKeys.get(el) === key) return false;
  shownKeys.set(el, key);
  return true;
}

// Disables a button while its async action runs (no double submits).
async function action(button, run) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    await run();
  } finally {
    button.removeAttribute('aria-busy');
    if (button.isConnected) button.disabled = false;
  }
}

// A native modal <dialog>: focus is trapped and Escape cancels.
function confirmDialog() {
  const title = h('h2', { id: 'confirm-title' });
  const text = h('p', { id: 'confirm-text' });
  const confirm = h('button', { type: 'button', class: 'danger' }, 'Confirm');
  const cancel = h('button', { type: 'button' }, 'Cancel');
  const el = h('dialog', { 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text' },
    title, text, h('div', { class: 'actions-row' }, cancel, confirm));
  cancel.addEventListener('click', () => el.close('cancel'));
  confirm.addEventListener('click', () => el.close('confirm'));
  return {
    el,
    ask(heading, message, confirmLabel) {
      title.textContent = heading;
      text.textContent = message;
      confirm.textContent = confirmLabel;
      el.returnValue = '';
      el.showModal();
      cancel.focus();
      return new Promise((resolve) => el.addEventListener('close', () => resolve(el.returnValue === 'confirm'), { once: true }));
    },
  };
}

// /leads: 25 leads a page, badge labels from /api/lead-statuses, row selection, bulk start audit / push / mark completed.
import { campaigns, download, errorText, get, leadStatuses, post, remedyText } from './api.js';
import { Banner, h, replace } from './dom.js';
import { listState, saveListState } from './list-state.js';
import { alertsPanel, campaignOption } from './plusvibe-alerts.js';

const PAGE_SIZE = 25;

export async function renderLeads(app) {
  const params = new URLSearchParams(window.location.search);
  const state = {
    page: Math.max(1, Number(params.get('page')) || 1),
    status: params.get('status') || '',
    q: params.get('q') || '',
    rows: [],
    total: 0,
    selected: new Set(),
    badges: new Map(),
  };
  // Coming back to the same list (Back from a lead): the rows selected before are selected again.
  const saved = listState();
  if (saved && saved.search === window.location.search) for (const id of saved.selected) state.selected.add(id);
  const banner = new Banner('leads-banner');
  const alerts = alertsPanel();
  const campaignSelect = h('select', { id: 'bulk-campaign', name: 'campaign' }, h('option', { value: '' }, 'Select campaign'));
  const pushButton = h('button', { type: 'button', class: 'primary', disabled: true }, 'Push selected');
  const completeButton = h('button', { type: 'button', disabled: true }, 'Mark completed');
  const auditButton = h('button', { type: 'button', id: 'bulk-audit', disabled: true }, 'Start audit');
  const exportButton = h('button', { type: 'button', id: 'export-csv' }, 'Export CSV');
  const statusFilter = h('select', { id: 'status-filter', name: 'status' }, h('option', { value: '' }, 'All statuses'));
  const search = h('input', { id: 'lead-search', type: 'text', name: 'q', value: state.q, placeholder: 'Company, domain or email' });
  const selectAll = h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'Select all on page' });
  const tbody = h('tbody');
  const pager = h('div', { class: 'pager' });
  const selectionNote = h('span', { class: 'muted', 'aria-live': 'polite' });

  const filterForm = h('form', { class: 'toolbar', role: 'search' },
    h('div', {}, h('label', { for: 'lead-search' }, 'Search'), search),
    h('div', {}, h('label', { for: 'status-filter' }, 'Status'), statusFilter),
    h('div', {}, h('button', { type: 'submit' }, 'Apply')));
  replace(app,
    h('div', { class: 'page-header' }, h('h1', {}, 'Leads'), h('a', { href: '/leads/new', class: 'button primary' }, 'New lead'),
      h('a', { href: '/leads/import', class: 'button', id: 'import-csv' }, 'Import CSV'), exportButton),
    banner.el,
    alerts.el,
    filterForm,
    h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Bulk actions' },
      h('div', {}, h('label', { for: 'bulk-campaign' }, 'Campaign'), campaignSelect),
      auditButton, pushButton, completeButton, selectionNote),
    h('table', { class: 'leads' },
      h('caption', { class: 'sr-only' }, 'Leads'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, h('label', { class: 'inline' }, selectAll, h('span', {}, 'Select all on page'))),
        ['Company / domain', 'Contact', 'Status', 'Grade', 'Top issue', 'Opens', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody),
    pager);

  function syncSelection() {
    const onPage = state.rows.map((r) => r.id);
    const picked = onPage.filter((id) => state.selected.has(id)).length;
    selectAll.checked = onPage.length > 0 && picked === onPage.length;
    selectAll.indeterminate = picked > 0 && picked < onPage.length;
    selectionNote.textContent = state.selected.size ? `${state.selected.size} selected` : '';
    pushButton.disabled = state.selected.size === 0 || !campaignSelect.value;
    completeButton.disabled = state.selected.size === 0;
    auditButton.disabled = state.selected.size === 0;
    for (const box of tbody.querySelectorAll('input[type="checkbox"]')) box.checked = state.selected.has(box.value);
    saveListState(window.location.search, state.selected);
  }

  function nameOf(id) {
    const row = state.rows.find((r) => r.id === id);
    return row ? (row.title || row.companyName || row.domain || id) : id;
  }

  function row(lead) {
    const box = h('input', { type: 'checkbox', value: lead.id, 'aria-label': `Select ${lead.title || lead.id}` });
    box.addEventListener('change', () => {
      if (box.checked) state.selected.add(lead.id); else state.selected.delete(lead.id);
      syncSelection();
    });
    const contact = lead.contact || {};
    const name = [contact.firstName, contact.lastName].filter(Boolean).join(' ');
    const badge = state.badges.get(lead.status) || lead.statusBadge || lead.status;
    const actions = h('td', { class: 'actions' },
      h('a', { href: `/leads/${encodeURIComponent(lead.id)}` }, 'View details'),
      lead.audit && lead.audit.auditRunId
        ? h('a', { href: `/audits/${encodeURIComponent(lead.audit.auditRunId)}` }, 'View audit') : null,
      lead.status === 'sent' ? normaliseButton(lead) : null);
    return h('tr', { dataset: { leadId: lead.id } },
      h('td', {}, box),
      h('td', {}, h('div', {}, lead.companyName || lead.title || '—'), h('div', { class: 'muted' }, lead.domain || '')),
      h('td', {}, h('div', {}, name || '—'), h('div', { class: 'muted' }, contact.email || '')),
      h('td', {}, h('span', { class: `badge status-${lead.status}` }, badge)),
      h('td', {}, lead.audit && lead.audit.grade ? lead.audit.grade : '—'),
      h('td', {}, lead.audit && lead.audit.topIssue ? lead.audit.topIssue : '—'),
      h('td', {}, String(lead.opens ?? 0)),
      actions);
  }

  function normaliseButton(lead) {
    return h('button', { type: 'button', onclick: async () => {
      try {
        await post(`/api/leads/${encodeURIComponent(lead.id)}/normalise-status`);
        banner.show('success', `Normalised the status of ${nameOf(lead.id)}.`);
        await load();
      } catch (err) { banner.show('error', `Normalise failed: ${errorText(err)}`); }
    } }, 'Normalise status');
  }

  async function load() {
    const query = new URLSearchParams({ page: String(state.page), pageSize: String(PAGE_SIZE) });
    if (state.status) query.set('status', state.status);
    if (state.q) query.set('q', state.q);
    let data;
    try {
      data = await get(`/api/leads?${query}`);
    } catch (err) {
      replace(tbody, h('tr', {}, h('td', { colspan: 8, role: 'alert' }, `Failed to load leads: ${errorText(err)}`)));
      return;
    }
    state.rows = data.items || [];
    state.total = data.total || 0;
    replace(tbody, state.rows.length ? state.rows.map(row) : h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No leads match.')));
    const pages = Math.max(1, Math.ceil(state.total / PAGE_SIZE));
    const prev = h('button', { type: 'button', disabled: state.page <= 1, onclick: () => go(state.page - 1) }, 'Previous');
    const next = h('button', { type: 'button', disabled: state.page >= pages, onclick: () => go(state.page + 1) }, 'Next');
    replace(pager, prev, h('span', {}, `Page ${state.page} of ${pages} · ${state.total} leads`), next);
    syncSelection();
  }

  function go(page) {
    state.page = page;
    const url = new URL(window.location.href);
    url.searchParams.set('page', String(page));
    history.replaceState(null, '', url);
    load();
  }

  selectAll.addEventListener('change', () => {
    for (const lead of state.rows) {
      if (selectAll.checked) state.selected.add(lead.id); else state.selected.delete(lead.id);
    }
    syncSelection();
  });
  campaignSelect.addEventListener('change', syncSelection);
  filterForm.addEventListener('submit', (event) => {
    event.preventDefault();
    state.q = search.value.trim();
    state.status = statusFilter.value;
    state.page = 1;
    const url = new URL(window.location.href);
    for (const [k, v] of [['q', state.q], ['status', state.status], ['page', '1']]) {
      if (v) url.searchParams.set(k, v); else url.searchParams.delete(k);
    }
    history.replaceState(null, '', url);
    load();
  });

  pushButton.addEventListener('click', async () => {
    const leadIds = [...state.selected];
    const campaignId = campaignSelect.value;
    const campaignName = campaignSelect.selectedOptions[0]?.textContent || campaignId;
    pushButton.disabled = true;
    try {
      const result = await post('/api/plusvibe/leads/push', { campaignId, leadIds });
      const enrolled = (result.enrolled || []).length;
      const already = (result.alreadyEnrolled || []).length;
      banner.show('success', `Pushed to ${campaignName}: ${enrolled} enrolled, ${already} already enrolled.`);
      state.selected.clear();
      syncSelection();  // untick at once, not after the reload: stale ticks would mislead the next action
      await load();
    } catch (err) {
      const refused = (err.body && Array.isArray(err.body.refused)) ? err.body.refused : [];
      banner.show('error', `Push refused: ${errorText(err)}`, refused.map((r) =>
        `${nameOf(r.leadId)} — status ${r.status ?? 'none'}: ${r.reason}. ${r.message || ''} Remedy: ${remedyText(r.remedy)}`));
    } finally {
      syncSelection();
    }
  });

  // Each selected lead is audited on its own (a lead without a usable domain is refused, the others start).
  auditButton.addEventListener('click', async () => {
    const leadIds = [...state.selected];
    auditButton.disabled = true;
    try {
      const result = await post('/api/leads/audits', { leadIds });
      const refused = result.refused || [];
      banner.show(refused.length ? 'error' : 'success',
        `Audit started for ${result.started.length} of ${leadIds.length} selected leads.`,
        refused.map((r) => `${nameOf(r.leadId)}: ${r.message} (${r.reason})`));
      state.selected = new Set(refused.map((r) => r.leadId).filter((id) => state.selected.has(id)));
      await load();
    } catch (err) {
      banner.show('error', `Start audit failed: ${errorText(err)}`);
    } finally {
      syncSelection();
    }
  });

  completeButton.addEventListener('click', async () => {
    const ids = [...state.selected];
    completeButton.disabled = true;
    const failures = [];
    let done = 0;
    for (const id of ids) {
      try {
        await post(`/api/leads/${encodeURIComponent(id)}/plusvibe/complete`);
        done += 1;
      } catch (err) {
        failures.push(`${nameOf(id)}: ${errorText(err)}`);
      }
    }
    banner.show(failures.length ? 'error' : 'success',
      `Marked completed in PlusVibe: ${done} of ${ids.length}.`, failures);
    await load();
  });

  const statusesLoaded = leadStatuses().then((statuses) => {
    for (const s of statuses) {
      state.badges.set(s.value, s.badgeLabel);
      statusFilter.append(h('option', { value: s.value, selected: s.value === state.status }, s.badgeLabel));
    }
  }).catch((err) => banner.show('error', `Could not load the status labels: ${errorText(err)}`));
  // Every lead the current search and status filter match (not only this page), in the list's order.
  exportButton.addEventListener('click', async () => {
    exportButton.disabled = true;
    const query = new URLSearchParams({ format: 'csv' });
    if (state.q) query.set('q', state.q);
    if (state.status) query.set('status', state.status);
    try {
      const name = await download(`/api/leads?${query}`);
      banner.show('success', `Exported ${name}.`);
    } catch (err) {
      banner.show('error', `Export failed: ${errorText(err)}`);
    } finally {
      exportButton.disabled = false;
    }
  });
  alerts.load();
  campaigns().then((list) => {
    for (const c of list) campaignSelect.append(campaignOption(c, ''));
  }).catch((err) => banner.show('error', `Could not load PlusVibe campaigns: ${errorText(err)}`));
  await statusesLoaded;
  await load();
}

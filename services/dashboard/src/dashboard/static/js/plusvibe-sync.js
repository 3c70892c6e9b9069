// Sync from PlusVibe (the leads service's /api/plusvibe/sync, docs/FIRST-SYNC.md): start the workspace's first sync,
// follow its progress (polled every second while it runs), list the conflicts it reported, resume it when it failed
// or its process stopped.
import { errorText, get, post } from './api.js';
import { formatTime, h, replace } from './dom.js';

const POLL_MS = 1000;
const FIELDS = { campaign: 'Campaign', first_name: 'First name', last_name: 'Last name', email: 'Email' };

export function plusvibeSyncSection(banner) {
  const start = h('button', { type: 'button', class: 'primary', id: 'pv-sync-start' }, 'Sync from PlusVibe');
  const resume = h('button', { type: 'button', class: 'primary', id: 'pv-sync-resume' }, 'Resume sync');
  const actions = h('div', { class: 'actions-row' }, start);
  const bar = h('progress', { id: 'pv-sync-progress', hidden: true, 'aria-label': 'Sync progress' });
  const state = h('p', { id: 'pv-sync-state', class: 'muted' }, 'Loading…');
  const counts = h('p', { id: 'pv-sync-counts', hidden: true });
  const conflicts = h('div', { id: 'pv-sync-conflicts' });
  const el = h('section', { class: 'panel', 'aria-labelledby': 'pv-sync-heading', id: 'pv-sync' },
    h('h2', { id: 'pv-sync-heading' }, 'Sync from PlusVibe'),
    h('p', { class: 'hint' }, 'Brings this workspace\'s PlusVibe leads and their campaigns into the platform: a lead '
      + 'PlusVibe has and the platform lacks is created, a lead the platform has (same email) without a campaign is '
      + 'linked to its PlusVibe campaign. A campaign or name set here is never overwritten: where PlusVibe says '
      + 'otherwise, it is listed below as a conflict. Running it again changes nothing that is already in sync.'),
    actions, bar, state, counts, conflicts);
  let timer = null;

  async function press(button) {
    button.disabled = true;
    try {
      const sync = await post('/api/plusvibe/sync');
      banner.show('info', sync.resumed ? `Sync resumed from page ${sync.nextPage}.` : 'Sync from PlusVibe started.');
      show(sync);
    } catch (err) {
      banner.show('error', `The sync did not start: ${errorText(err)}`);
      await refresh();
    }
  }
  start.addEventListener('click', () => press(start));
  resume.addEventListener('click', () => press(resume));

  async function refresh() {
    try {
      show(await get('/api/plusvibe/sync'));
    } catch (err) {
      if (err.reason === 'sync_not_found') show(null);
      else replace(state, `Failed to load the sync: ${errorText(err)}`);
    }
  }

  function show(sync) {
    clearTimeout(timer);
    const running = sync !== null && sync.status === 'running' && !sync.stalled;
    const resumable = sync !== null && (sync.status === 'failed' || (sync.status === 'running' && sync.stalled));
    // One button: Resume when the newest sync stopped before its end, else Sync (disabled while one runs).
    start.disabled = running;
    start.textContent = running ? 'Sync running…' : 'Sync from PlusVibe';
    resume.disabled = false;
    replace(actions, resumable ? resume : start);
    bar.hidden = sync === null;
    if (running) bar.removeAttribute('value');
    else Object.assign(bar, { max: 1, value: sync !== null && sync.status === 'done' ? 1 : 0 });
    state.textContent = describe(sync);
    counts.hidden = sync === null;
    if (sync !== null) {
      counts.textContent = `Pages ${sync.pagesDone} · Leads seen ${sync.seen} · Created ${sync.created} · `
        + `Linked ${sync.linked} · Unchanged ${sync.unchanged} · Conflicts ${sync.conflictCount}`;
    }
    replace(conflicts, sync && sync.conflicts.length ? conflictTable(sync) : []);
    if (running) timer = setTimeout(() => { if (el.isConnected) refresh(); }, POLL_MS);
  }

  refresh();
  return el;
}

function describe(sync) {
  if (sync === null) return 'This workspace has not synced from PlusVibe yet.';
  if (sync.status === 'running' && sync.stalled) {
    return `Stopped on page ${sync.nextPage}: the process running it ended. Resume continues from there.`;
  }
  if (sync.status === 'running') return `Running: reading page ${sync.nextPage} (${sync.pageSize} leads a page)…`;
  if (sync.status === 'failed') {
    return `Failed on page ${sync.nextPage}: ${sync.error || 'unknown error'}. Resume continues from that page.`;
  }
  return `Done ${formatTime(sync.finishedAt)}${sync.resumed ? ' (resumed)' : ''}.`;
}

function conflictTable(sync) {
  const more = sync.conflictCount - sync.conflicts.length;
  return [
    h('h3', {}, `Conflicts: kept as they are here (${sync.conflictCount})`),
    h('table', { class: 'leads', id: 'pv-sync-conflict-table' },
      h('thead', {}, h('tr', {}, ['Lead', 'Field', 'Here', 'In PlusVibe'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, sync.conflicts.map((c) => h('tr', {},
        h('td', {}, c.leadId ? h('a', { href: `/leads/${encodeURIComponent(c.leadId)}` }, c.email) : c.email),
        h('td', {}, FIELDS[c.field] || c.field),
        h('td', {}, c.ours ?? '—'),
        h('td', {}, c.plusvibe ?? '—'))))),
    more > 0 ? h('p', { class: 'muted' }, `and ${more} more not listed.`) : null,
  ];
}

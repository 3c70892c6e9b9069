// The Leads list's state for this tab: its query string (search, status filter, page) and the selected rows, so
// Back from a lead or an audit returns to the same list with the same selection.
import { workspace } from './api.js';

// Per workspace: switching workspaces never restores another client's list or selection.
const key = () => `outreach.leads.list:${workspace() || '-'}`;

export function saveListState(search, selected) {
  try {
    sessionStorage.setItem(key(), JSON.stringify({ search, selected: [...selected] }));
  } catch {
    // Storage full or disabled: Back then opens the first page, as before.
  }
}

export function listState() {
  try {
    const value = JSON.parse(sessionStorage.getItem(key()) || 'null');
    const ok = value && typeof value.search === 'string' && Array.isArray(value.selected);
    return ok ? { search: value.search, selected: value.selected.filter((id) => typeof id === 'string') } : null;
  } catch {
    return null;
  }
}

// Always a path on this site: only a query string (starting with '?') is appended.
export function leadsUrl() {
  const state = listState();
  return state && state.search.startsWith('?') ? `/leads${state.search}` : '/leads';
}

// A lead that no longer exists (deleted) leaves the saved selection: a bulk action must not name it.
export function forgetSelected(id) {
  const state = listState();
  if (state && state.selected.includes(id)) saveListState(state.search, state.selected.filter((x) => x !== id));
}

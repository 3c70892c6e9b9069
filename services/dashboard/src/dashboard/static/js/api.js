// The API client: relative URLs through the single entry point, the operator's API key in `X-API-Key` and the
// chosen workspace in `X-Workspace`. The key lives in sessionStorage only (gone when the tab closes); `#key=...` in
// the URL pre-fills it. The workspace belongs to the tab (sessionStorage): switching in another tab never changes
// where this tab's calls go. The last choice is also remembered in localStorage, so a new tab or the next visit
// opens the same client.

const KEY_NAME = 'outreach.apiKey';
const WORKSPACE_NAME = 'outreach.workspace';

export class ApiError extends Error {
  constructor(status, reason, message, body) {
    super(message || reason || `HTTP ${status}`);
    this.status = status;
    this.reason = reason || `http_${status}`;
    this.body = body || {};
  }
}

export function takeKeyFromFragment() {
  const match = /(?:^#|&)key=([^&]+)/.exec(window.location.hash);
  if (!match) return false;
  setApiKey(decodeURIComponent(match[1]));
  // Drop the key from the address bar and history so it is not bookmarked or shared by accident.
  history.replaceState(null, '', window.location.pathname + window.location.search);
  return true;
}

export function apiKey() {
  return sessionStorage.getItem(KEY_NAME) || '';
}

export function setApiKey(value) {
  if (value) sessionStorage.setItem(KEY_NAME, value.trim());
  else sessionStorage.removeItem(KEY_NAME);
}

export function workspace() {
  try {
    const mine = sessionStorage.getItem(WORKSPACE_NAME);
    if (mine !== null) return mine;
    const remembered = localStorage.getItem(WORKSPACE_NAME) || '';
    sessionStorage.setItem(WORKSPACE_NAME, remembered);  // pinned to this tab from its first call on
    return remembered;
  } catch {
    return '';
  }
}

export function setWorkspace(value) {
  try {
    for (const store of [sessionStorage, localStorage]) {
      if (value) store.setItem(WORKSPACE_NAME, value);
      else store.removeItem(WORKSPACE_NAME);
    }
  } catch {
    // Storage disabled: the key's own workspace is used.
  }
}

export async function api(method, path, body, { headers = {} } = {}) {
  const chosen = workspace();
  const init = { method, headers: { Accept: 'application/json', 'X-API-Key': apiKey(),
    ...(chosen ? { 'X-Workspace': chosen } : {}), ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'network_error', `The server did not answer (${err.message}).`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const detail = data && typeof data === 'object' ? data : {};
    const message = typeof detail.message === 'string' ? detail.message
      : `${response.status} ${response.statusText || 'error'}`;
    if (response.status === 401) window.dispatchEvent(new CustomEvent('outreach:unauthorised'));
    if (detail.reason === 'workspace_not_found' && chosen) window.dispatchEvent(new CustomEvent('outreach:workspace-gone'));
    throw new ApiError(response.status, detail.reason, message, detail);
  }
  return data;
}

// A file from the API (the CSV export), saved by the browser under the name the API gives it. The key travels in a
// header, which a plain link cannot send, so the file is fetched and handed to the browser as a blob.
export async function download(path) {
  const chosen = workspace();
  let response;
  try {
    response = await fetch(path, { headers: { 'X-API-Key': apiKey(), ...(chosen ? { 'X-Workspace': chosen } : {}) } });
  } catch (err) {
    throw new ApiError(0, 'network_error', `The server did not answer (${err.message}).`);
  }
  if (!response.ok) {
    let detail = {};
    try { detail = await response.json(); } catch { detail = {}; }
    throw new ApiError(response.status, detail.reason, detail.message || `${response.status} error`, detail);
  }
  const name = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') || '')?.[1] || 'export.csv';
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}

// A file sent as the request body, as it is on disk (the CSV import's upload): the server reads its bytes and
// encoding itself.
export async function upload(path, file) {
  const chosen = workspace();
  let response;
  try {
    response = await fetch(path, { method: 'POST', body: file, headers: { Accept: 'application/json', 'X-API-Key': apiKey(),
      'Content-Type': 'text/csv', ...(chosen ? { 'X-Workspace': chosen } : {}) } });
  } catch (err) {
    throw new ApiError(0, 'network_error', `The server did not answer (${err.message}).`);
  }
  let data = {};
  try { data = await response.json(); } catch { data = {}; }
  if (!response.ok) throw new ApiError(response.status, data.reason, data.message || `${response.status} error`, data);
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const patch = (path, body) => api('PATCH', path, body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

export function errorText(err) {
  if (err instanceof ApiError) return err.reason ? `${err.message} (${err.reason})` : err.message;
  return String(err && err.message ? err.message : err);
}

let statusesPromise = null;
// [{value, badgeLabel, dropdownLabel, selectable}], fetched once per page.
export function leadStatuses() {
  if (!statusesPromise) statusesPromise = get('/api/lead-statuses').catch((err) => { statusesPromise = null; throw err; });
  return statusesPromise;
}

let campaignsPromise = null;
export function campaigns({ fresh = false } = {}) {
  if (fresh) campaignsPromise = null;
  if (!campaignsPromise) campaignsPromise = get('/api/plusvibe/campaigns').catch((err) => { campaignsPromise = null; throw err; });
  return campaignsPromise;
}

// Remedy codes of the push readiness guard → what the operator should do.
export const REMEDIES = {
  start_audit: 'Run an audit first with Start audit (domain).',
  re_audit: 'Re-audit the lead; the new writeback fills the variables.',
  re_audit_or_remove: 'Re-audit or remove the lead.',
  edit_lead: 'Edit the lead (add the missing contact details).',
  edit_campaign: 'Edit the campaign in PlusVibe: use a variable the system fills, or give it a fallback.',
  set_custom_storage: 'Set LEADS_PLUSVIBE_CUSTOM_STORAGE (verbatim or prefixed), or use {{custom_…}} tokens, which render under both rules.',
};

// Refusal reasons of the guard and the send preview → words (docs/TEMPLATES.md §5).
export const REASONS = {
  not_audited: 'The lead has not been audited yet.',
  writeback_missing: 'The audit writeback has not landed yet.',
  variables_missing: 'Merge variables are missing.',
  variables_empty: 'A merge variable the campaign uses is empty for this lead.',
  bounced: 'The contact email bounced.',
  contact_email_missing: 'The lead has no contact email.',
  template_variable_unknown: 'The campaign uses a variable the system cannot fill.',
  template_variable_unprefixed: 'The campaign uses {{key}} for a custom variable, but this workspace stores it as {{custom_key}}.',
  custom_storage_unknown: 'The campaign uses {{key}} for a custom variable and the workspace\'s storage rule is not known yet.',
  campaign_template_invalid: 'A template of the campaign cannot be read (unclosed {{ or invalid Liquid).',
  campaign_not_found: 'PlusVibe has no campaign with that id.',
  campaign_paused: 'The campaign is paused in PlusVibe; resume it before pushing leads.',
  campaign_completed: 'The campaign has completed in PlusVibe and sends no more emails.',
  campaign_archived: 'The campaign is archived in PlusVibe and takes no leads.',
  campaign_subsequence: 'The campaign is a subsequence: leads enter it from its parent campaign.',
  campaign_status_unknown: 'The campaign has a status the platform does not know.',
  lead_not_found: 'No lead with that id.',
  plusvibe_not_configured: 'PlusVibe is not configured (Integrations: API key and workspace).',
};

export function remedyText(code) {
  return REMEDIES[code] ? `${REMEDIES[code]} (${code})` : String(code || '');
}

export function reasonText(code) {
  return REASONS[code] ? `${REASONS[code]} (${code})` : String(code || '');
}

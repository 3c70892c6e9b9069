// The page router: one shell for /leads, /leads/<id>, /audits/<id> and /integrations; each page module renders into <main>.
import { apiKey, setApiKey, setWorkspace, takeKeyFromFragment } from './api.js';
import { h, replace } from './dom.js';
import { renderWorkspaceSwitcher } from './workspaces.js';

const app = document.getElementById('app');
let keyPromptShown = false;

function keyBox() {
  const box = document.getElementById('key-box');
  if (!box) return;
  replace(box, apiKey() ? 'API key set for this tab.' : 'No API key yet.',
    apiKey() ? h('button', { type: 'button', onclick: () => { setApiKey(''); window.location.reload(); } }, 'Forget key') : null);
}

function showKeyForm(message) {
  keyPromptShown = true;
  const input = h('input', { id: 'api-key', type: 'password', name: 'apiKey', autocomplete: 'off', required: true });
  const form = h('form', { class: 'panel key-form', 'aria-labelledby': 'key-heading' },
    h('h1', { id: 'key-heading' }, 'Enter your API key'),
    message ? h('p', { role: 'alert' }, message) : null,
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h('p', { class: 'hint' }, 'Kept in this browser tab only (session storage).'),
    h('div', { class: 'actions-row' }, h('button', { type: 'submit', class: 'primary' }, 'Save key')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setApiKey(input.value);
    window.location.reload();
  });
  replace(app, form);
  input.focus();
}

async function route() {
  const path = window.location.pathname.replace(/\/+$/, '') || '/';
  document.getElementById('nav-leads')?.setAttribute('aria-current', path.startsWith('/leads') ? 'page' : 'false');
  document.getElementById('nav-integrations')?.setAttribute('aria-current', path === '/integrations' ? 'page' : 'false');
  if (!apiKey()) return showKeyForm();
  let match;
  if (path === '/leads' || path === '/') {
    const { renderLeads } = await import('./leads.js');
    return renderLeads(app);
  }
  if (path === '/integrations') {
    const { renderIntegrations } = await import('./integrations.js');
    return renderIntegrations(app);
  }
  if (path === '/leads/import') {
    const { renderLeadImport } = await import('./lead-import.js');
    return renderLeadImport(app);
  }
  if (path === '/leads/new' || (match = /^\/leads\/([^/]+)\/edit$/.exec(path))) {
    const { renderLeadForm } = await import('./lead-form.js');
    return renderLeadForm(app, path === '/leads/new' ? null : decodeURIComponent(match[1]));
  }
  if ((match = /^\/leads\/([^/]+)$/.exec(path))) {
    const { renderLeadDetail } = await import('./lead-detail.js');
    return renderLeadDetail(app, decodeURIComponent(match[1]));
  }
  if ((match = /^\/audits\/([^/]+)$/.exec(path))) {
    const { renderAudit } = await import('./audit.js');
    return renderAudit(app, decodeURIComponent(match[1]));
  }
  replace(app, h('div', { class: 'full-error' }, h('h1', {}, 'Page not found'), h('a', { href: '/leads' }, 'Go to Leads')));
}

// The remembered workspace is no longer the key's (or no longer served): forget it and start again with the key's own.
window.addEventListener('outreach:workspace-gone', () => {
  setWorkspace('');
  window.location.assign('/leads');
});

window.addEventListener('outreach:unauthorised', () => {
  // Deferred so it replaces whatever error the page itself rendered for the refused call.
  if (!keyPromptShown) setTimeout(() => showKeyForm('The API key was refused. Enter a valid key.'), 0);
});

// A `#key=` link opened in a tab that already shows the dashboard is a same-document navigation.
window.addEventListener('hashchange', () => {
  if (!takeKeyFromFragment()) return;
  keyPromptShown = false;
  keyBox();
  renderWorkspaceSwitcher(document.getElementById('workspace-box')).then((ok) => (ok ? route() : null));
});

takeKeyFromFragment();
keyBox();
// The switcher settles the workspace before the page asks for data (a forgotten workspace is replaced first).
(apiKey() ? renderWorkspaceSwitcher(document.getElementById('workspace-box')) : Promise.resolve(true))
  .then((ok) => (ok ? route() : null)).catch((err) => {
  replace(app, h('div', { class: 'full-error', role: 'alert' }, h('h1', {}, 'Something went wrong'), String(err)));
});

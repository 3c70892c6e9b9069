// Integrations: connect a PlusVibe API key and workspace, test the connection, disconnect (docs/INTEGRATIONS.md).
// The key is typed into a password field, sent once to the leads API and never shown again: the API answers
// with its last four characters only.
import { api, del, errorText, get, post, workspace } from './api.js';
import { Banner, fields, formatTime, h, replace } from './dom.js';
import { defaultToneForm } from './copy-settings.js';
import { plusvibeSyncSection } from './plusvibe-sync.js';

const SOURCES = {
  integration: 'Connected here',
  environment: 'From the deployment\'s environment (PLUSVIBE_API_KEY)',
  none: 'Not connected',
};

// What the webhook status means to an operator (the API's webhookStatus).
const WEBHOOK_STATES = {
  registered: 'Registered: PlusVibe sends this workspace\'s events to the platform',
  not_registered: 'Not registered: connect or test the key to register it',
  not_configured: 'Not configured: this deployment has no public webhook URL (LEADS_WEBHOOK_BASE_URL); add the hook in PlusVibe by hand',
};

export async function renderIntegrations(app) {
  const banner = new Banner('integrations-banner');
  const status = h('section', { class: 'panel', 'aria-labelledby': 'pv-status-heading' });
  const connect = connectForm(banner, () => refresh());
  replace(app,
    h('header', { class: 'page-header' }, h('h1', {}, 'Integrations'),
      h('span', { class: 'muted', id: 'integrations-workspace' }, `Workspace: ${workspace() || 'default'}`)),
    banner.el,
    h('h2', {}, 'PlusVibe'),
    h('p', { class: 'hint' },
      'PlusVibe push, writeback and Unibox of this workspace use this API key and PlusVibe workspace; each workspace connects its own. The key is stored encrypted and only its last four characters are ever shown.'),
    status,
    connect,
    plusvibeSyncSection(banner),
    defaultToneForm(banner));

  async function refresh() {
    let view;
    try {
      view = await get('/api/integrations/plusvibe');
    } catch (err) {
      replace(status, h('p', { role: 'alert' }, `Failed to load the integration: ${errorText(err)}`));
      return;
    }
    renderStatus(status, view, banner, refresh);
  }

  await refresh();
}

function renderStatus(section, view, banner, refresh) {
  const connected = view.connected;
  const testButton = h('button', { type: 'button', disabled: !connected, onclick: () => run(testButton, async () => {
    const tested = await post('/api/integrations/plusvibe/test');
    if (tested.lastError) banner.show('error', `Test failed: ${tested.lastError}.`);
    else banner.show('success', 'Connection works: PlusVibe accepted the key.');
  }) }, 'Test connection');
  const disconnectButton = h('button', { type: 'button', class: 'danger', disabled: view.source === 'none' || (!connected && view.source === 'integration'),
    onclick: () => {
      if (!window.confirm('Disconnect PlusVibe? Push, writeback and Unibox stop calling PlusVibe until a key is connected again.')) return;
      run(disconnectButton, async () => {
        await del('/api/integrations/plusvibe');
        banner.show('info', 'PlusVibe disconnected.');
      });
    } }, 'Disconnect');

  async function run(button, action) {
    button.disabled = true;
    try {
      await action();
    } catch (err) {
      banner.show('error', errorText(err));
    }
    await refresh();
  }

  replace(section,
    h('h3', { id: 'pv-status-heading' }, 'Status'),
    h('p', { class: `integration-state ${connected ? 'ok' : 'off'}`, id: 'pv-state' },
      connected ? SOURCES[view.source] : SOURCES.none),
    fields([
      ['PlusVibe workspace', view.plusvibeWorkspaceName ? `${view.plusvibeWorkspaceName} (${view.plusvibeWorkspaceId})` : view.plusvibeWorkspaceId],
      ['API key', view.keyMasked],
      ['Connected', formatTime(view.connectedAt)],
      ['Last verified', formatTime(view.verifiedAt)],
      ['Last error', view.lastError ? `${view.lastError} (${formatTime(view.lastErrorAt)})` : ''],
      ['Webhook', WEBHOOK_STATES[view.webhookStatus] || view.webhookStatus || ''],
      ['Webhook URL', view.webhookUrl],
      ['Webhook registered', formatTime(view.webhookRegisteredAt)],
      ['Webhook error', view.webhookError || ''],
    ]),
    h('div', { class: 'actions-row' }, testButton, disconnectButton));
}

function connectForm(banner, refresh) {
  const keyInput = h('input', { id: 'pv-api-key', type: 'password', name: 'apiKey', autocomplete: 'off', required: true,
    minlength: 8, maxlength: 200, spellcheck: 'false' });
  const select = h('select', { id: 'pv-workspace', name: 'workspaceId', disabled: true, required: true },
    h('option', { value: '' }, 'Find the key\'s workspaces first'));
  const findButton = h('button', { type: 'button', id: 'pv-find' }, 'Find workspaces');
  const connectButton = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Connect');
  const form = h('form', { class: 'panel', 'aria-labelledby': 'pv-connect-heading' },
    h('h3', { id: 'pv-connect-heading' }, 'Connect an API key'),
    h('label', { for: 'pv-api-key' }, 'PlusVibe API key'), keyInput,
    h('div', { class: 'actions-row' }, findButton),
    h('label', { for: 'pv-workspace' }, 'PlusVibe workspace'), select,
    h('div', { class: 'actions-row' }, connectButton));

  keyInput.addEventListener('input', () => {
    select.disabled = true;
    connectButton.disabled = true;
    replace(select, h('option', { value: '' }, 'Find the key\'s workspaces first'));
  });
  findButton.addEventListener('click', async () => {
    if (!keyInput.reportValidity()) return;
    findButton.disabled = true;
    try {
      const workspaces = await post('/api/integrations/plusvibe/workspaces', { apiKey: keyInput.value.trim() });
      replace(select, workspaces.map((w) => h('option', { value: w.id }, w.name ? `${w.name} (${w.id})` : w.id)));
      select.disabled = workspaces.length === 0;
      connectButton.disabled = workspaces.length === 0;
      banner.show('info', workspaces.length ? `The key reaches ${workspaces.length} workspace(s): pick one and Connect.`
        : 'The key reaches no workspace.');
    } catch (err) {
      banner.show('error', errorText(err));
    } finally {
      findButton.disabled = false;
    }
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    connectButton.disabled = true;
    try {
      const view = await api('PUT', '/api/integrations/plusvibe', { apiKey: keyInput.value.trim(), workspaceId: select.value });
      keyInput.value = '';
      banner.show('success', `Connected to ${view.plusvibeWorkspaceName || view.plusvibeWorkspaceId} with the key ${view.keyMasked}.`);
      replace(select, h('option', { value: '' }, 'Find the key\'s workspaces first'));
      select.disabled = true;
    } catch (err) {
      banner.show('error', errorText(err));
      connectButton.disabled = false;
    }
    await refresh();
  });
  return form;
}

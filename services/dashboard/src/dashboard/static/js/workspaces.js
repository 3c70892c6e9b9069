// The workspace switcher in the sidebar: the workspaces the API key reaches (GET /api/workspaces), each with its
// PlusVibe connection state. The choice is remembered (api.js) and every API call names it in `X-Workspace`.
import { get, setWorkspace, workspace } from './api.js';
import { h, replace } from './dom.js';

function stateText(item) {
  return item.connected ? `PlusVibe connected${item.plusvibeWorkspaceName ? `: ${item.plusvibeWorkspaceName}` : ''}`
    : 'PlusVibe not connected';
}

// Pages that show one lead or audit belong to one workspace: after a switch the operator lands on the list.
function afterSwitch() {
  const path = window.location.pathname;
  window.location.assign(path === '/integrations' ? '/integrations' : '/leads');
}

// Resolves false when the key was refused (the page then shows only the key form), else true.
export async function renderWorkspaceSwitcher(box) {
  if (!box) return true;
  let items;
  try {
    items = await get('/api/workspaces');
  } catch (err) {
    replace(box);  // no list (an older deployment): the key's own workspace is used, no switcher
    return err.status !== 401;
  }
  if (!Array.isArray(items) || items.length === 0) {
    replace(box);
    return true;
  }
  const ids = items.map((item) => item.id);
  // A remembered workspace the key no longer reaches is forgotten: the first one it reaches is used.
  if (!ids.includes(workspace())) setWorkspace(ids[0]);
  const select = h('select', { id: 'workspace-switch', name: 'workspace' },
    items.map((item) => h('option', { value: item.id, selected: item.id === workspace() }, item.id)));
  const chosen = items.find((item) => item.id === workspace());
  select.addEventListener('change', () => {
    setWorkspace(select.value);
    afterSwitch();
  });
  replace(box, h('label', { for: 'workspace-switch' }, 'Workspace'), select,
    h('p', { id: 'workspace-state', class: chosen && chosen.connected ? 'connected' : 'not-connected' },
      chosen ? stateText(chosen) : ''));
  return true;
}

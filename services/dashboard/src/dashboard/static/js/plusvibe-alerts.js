// PlusVibe campaign states and system alerts (the leads service's GET /api/plusvibe/campaigns and
// /api/plusvibe/alerts): campaign picker options that offer only campaigns a push can enrol into, the alert banner of
// a lead's campaign, and the workspace's open alerts with Dismiss.
import { errorText, get, post } from './api.js';
import { formatTime, h, replace } from './dom.js';

const ALERT_TITLES = {
  CAMPAIGN_AUTO_PAUSED: 'PlusVibe auto-paused the campaign',
  EMAIL_ACCOUNT_DISCONNECTED: 'A sending mailbox was disconnected',
  EMAIL_ACCOUNT_FORWARDING_BOUNCED: 'A mailbox\'s forwarding bounced',
  INTEGRATION_DISCONNECTED: 'A PlusVibe integration was disconnected',
  WEBHOOK_DISABLED: 'PlusVibe disabled a webhook',
};

const REFUSED_SHORT = {
  campaign_paused: 'paused',
  campaign_completed: 'completed',
  campaign_archived: 'archived',
  campaign_subsequence: 'subsequence',
  campaign_status_unknown: 'unknown status',
};

export function alertTitle(alert) {
  const name = String(alert.alert || '');
  return ALERT_TITLES[name] || name.toLowerCase().replaceAll('_', ' ');
}

// One <option>: a campaign that cannot take leads is shown, disabled, with why (its full reason as the tooltip).
export function campaignOption(campaign, selectedId) {
  const status = String(campaign.status || '').toLowerCase();
  const takes = campaign.canTakeLeads !== false;
  let text = `${campaign.name} (${status})`;
  if (!takes) text += ` — cannot take leads: ${REFUSED_SHORT[campaign.reason] || campaign.reason}`;
  if (campaign.alert) text += ` ⚠ ${alertTitle(campaign.alert)}`;
  return h('option', { value: campaign.id, disabled: !takes, selected: takes && campaign.id === selectedId,
    title: campaign.message || (campaign.alert && campaign.alert.message) || '' }, text);
}

// The banner of a lead whose campaign PlusVibe has paused or raised an alert on; null when there is nothing to say.
export function campaignAlertBanner(campaign) {
  if (!campaign || (campaign.canTakeLeads !== false && !campaign.alert)) return null;
  const alert = campaign.alert;
  const lines = [];
  if (alert) {
    lines.push(h('p', {}, h('strong', {}, `${alertTitle(alert)}: ${campaign.name}`),
      alert.observedAt ? ` (${formatTime(alert.observedAt)})` : ''));
    if (alert.message) lines.push(h('p', {}, alert.message));
  }
  if (campaign.canTakeLeads === false) {
    lines.push(h('p', {}, campaign.reason === 'campaign_paused'
      ? `PlusVibe sends nothing to this lead while ${campaign.name} is paused; resume it in PlusVibe.`
      : campaign.message || 'The campaign takes no leads now.'));
  }
  return h('div', { class: 'send-risk campaign-alert', id: 'campaign-alert', role: 'alert' }, lines);
}

// The workspace's open alerts (newest first), each with Dismiss; hidden when there are none.
export function alertsPanel() {
  const el = h('section', { class: 'send-risk alerts-panel', id: 'plusvibe-alerts', 'aria-label': 'PlusVibe alerts',
    hidden: true });

  function render(alerts) {
    el.hidden = alerts.length === 0;
    replace(el, h('p', {}, h('strong', {}, 'PlusVibe alerts')), h('ul', {}, alerts.map((a) => {
      const dismiss = h('button', { type: 'button', class: 'small' }, 'Dismiss');
      dismiss.addEventListener('click', async () => {
        dismiss.disabled = true;
        try {
          await post(`/api/plusvibe/alerts/${encodeURIComponent(a.id)}/dismiss`, {});
          await load();
        } catch (err) {
          dismiss.disabled = false;
          dismiss.title = errorText(err);
        }
      });
      const where = a.campaignName || a.campaignId;
      return h('li', {}, `${alertTitle(a)}${where ? ` (${where})` : ''} · ${formatTime(a.observedAt)}`,
        a.message ? h('span', { class: 'muted' }, ` — ${a.message}`) : null, ' ', dismiss);
    })));
  }

  let latest = 0;  // only the newest load renders: an older answer arriving last must not bring a dismissed alert back
  async function load() {
    const mine = ++latest;
    let alerts = [];
    try {
      alerts = await get('/api/plusvibe/alerts');
    } catch {
      alerts = [];  // alerts are a hint; the page works without them
    }
    if (mine === latest) render(alerts);
  }

  return { el, load };
}

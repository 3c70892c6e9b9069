// Copy under the operator's control (the leads service's /api/copy-settings): the tone and steps Generate Email
// writes in, a campaign's own copy setting on Lead detail, and the workspace default tone on Integrations.
import { errorText, get, put } from './api.js';
import { h } from './dom.js';

export const TONES = ['friendly', 'direct', 'consultative'];
const MAX_STEPS = 10;

function stepOptions(first, selected) {
  const options = [h('option', { value: '', selected: !selected }, first)];
  for (let n = 1; n <= MAX_STEPS; n += 1) {
    options.push(h('option', { value: String(n), selected: selected === n }, `${n} step${n === 1 ? '' : 's'}`));
  }
  return options;
}

// Generate Email's choices: empty values mean "the lead's campaign's copy setting".
export function generateChoices() {
  const tone = h('select', { id: 'generate-tone', name: 'tone' },
    h('option', { value: '' }, 'Tone: campaign setting'), TONES.map((t) => h('option', { value: t }, t)));
  const steps = h('select', { id: 'generate-steps', name: 'steps' },
    stepOptions('Steps: campaign setting, else 1', null));
  return {
    el: h('div', { class: 'inline-choices' }, h('label', { for: 'generate-tone', class: 'sr-only' }, 'Tone'), tone,
      h('label', { for: 'generate-steps', class: 'sr-only' }, 'Steps'), steps),
    body: () => ({ ...(tone.value ? { tone: tone.value } : {}), ...(steps.value ? { steps: Number(steps.value) } : {}) }),
  };
}

// A campaign's copy setting (the lead's campaign, on Lead detail). `onSaved(text)` reports the outcome.
export function campaignCopyForm(campaign, onSaved) {
  const own = campaign.copyToneSource === 'campaign' ? campaign.copyTone : '';
  const inherit = h('option', { value: '', selected: !own }, 'Workspace default');
  const tone = h('select', { id: 'copy-tone', name: 'copyTone' }, inherit,
    TONES.map((t) => h('option', { value: t, selected: t === own }, t)));
  const steps = h('select', { id: 'copy-steps', name: 'copySteps' },
    stepOptions(`As in PlusVibe (${campaign.steps})`, campaign.copyStepsChosen ? campaign.copySteps : null));
  const save = h('button', { type: 'button' }, 'Save copy setting');
  get('/api/copy-settings').then((s) => { inherit.textContent = `Workspace default (${s.defaultTone})`; }).catch(() => {});
  save.addEventListener('click', async () => {
    save.disabled = true;
    try {
      await put(`/api/copy-settings/campaigns/${encodeURIComponent(campaign.id)}`,
        { tone: tone.value || null, steps: steps.value ? Number(steps.value) : null });
      onSaved('success', `Copy for ${campaign.name} is now written in ${tone.value || 'the workspace default tone'}`
        + `${steps.value ? `, ${steps.value} steps` : ''}. Press PlusVibe Writeback to write it to PlusVibe for this lead.`);
    } catch (err) {
      onSaved('error', `Saving the copy setting failed: ${errorText(err)}`);
    } finally {
      save.disabled = false;
    }
  });
  return h('div', { class: 'copy-setting', id: 'copy-setting' },
    h('p', { class: 'muted' }, `Copy: ${campaign.copyTone} (${campaign.copyToneSource === 'campaign' ? 'this campaign'
      : campaign.copyToneSource === 'workspace' ? 'workspace default' : 'built-in default'}), ${campaign.copySteps} `
      + `step${campaign.copySteps === 1 ? '' : 's'}`),
    h('label', { for: 'copy-tone' }, 'Copy tone for this campaign'), tone,
    h('label', { for: 'copy-steps' }, 'Steps'), steps, h('div', { class: 'actions-row' }, save));
}

// The workspace default tone (Integrations page).
export function defaultToneForm(banner) {
  // Both wait for the saved default: a choice made before it arrived would be overwritten by it.
  const tone = h('select', { id: 'default-tone', name: 'defaultTone', disabled: true },
    TONES.map((t) => h('option', { value: t }, t)));
  const save = h('button', { type: 'button', disabled: true }, 'Save default tone');
  const el = h('section', { class: 'panel', 'aria-labelledby': 'copy-heading' }, h('h2', { id: 'copy-heading' }, 'Copy'),
    h('p', { class: 'hint' }, 'The tone outreach copy is written in for every campaign without a tone of its own '
      + '(a campaign\'s own tone is set on the Lead detail of one of its leads).'),
    h('label', { for: 'default-tone' }, 'Default tone'), tone, h('div', { class: 'actions-row' }, save));
  get('/api/copy-settings').then((s) => {
    tone.value = s.defaultTone;
    tone.disabled = false;
    save.disabled = false;
  }).catch((err) => {
    banner.show('error', `Failed to load the copy settings: ${errorText(err)}`);
  });
  save.addEventListener('click', async () => {
    save.disabled = true;
    try {
      await put('/api/copy-settings/default', { tone: tone.value });
      banner.show('success', `Copy is now written in ${tone.value} for every campaign without a tone of its own.`);
    } catch (err) {
      banner.show('error', `Saving the default tone failed: ${errorText(err)}`);
    } finally {
      save.disabled = false;
    }
  });
  return el;
}

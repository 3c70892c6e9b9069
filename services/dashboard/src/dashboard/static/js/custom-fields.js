// The lead form's custom fields: the operator's own name → value pairs that campaign templates may use as
// {{name}} (docs/TEMPLATES.md). Names the platform fills are refused by the API, whose reason shows here.
import { h, replace } from './dom.js';

export function customFieldsEditor(initial) {
  const list = h('div', { class: 'custom-field-rows' });
  const error = h('p', { class: 'field-error', id: 'custom-fields-error', role: 'alert', hidden: true });
  const add = h('button', { type: 'button', id: 'add-custom-field' }, 'Add custom field');
  const rows = [];

  function addRow(name = '', value = '') {
    const n = rows.length;
    const nameInput = h('input', { type: 'text', name: `customName${n}`, value: name, maxlength: 50,
      'aria-label': 'Custom field name', placeholder: 'industry', autocomplete: 'off' });
    const valueInput = h('input', { type: 'text', name: `customValue${n}`, value, maxlength: 1000,
      'aria-label': 'Custom field value', autocomplete: 'off' });
    const row = { nameInput, valueInput };
    const remove = h('button', { type: 'button', 'aria-label': 'Remove custom field' }, 'Remove');
    const el = h('div', { class: 'custom-field-row' }, nameInput, valueInput, remove);
    remove.addEventListener('click', () => { rows.splice(rows.indexOf(row), 1); el.remove(); });
    rows.push(row);
    list.append(el);
    return nameInput;
  }

  for (const [name, value] of Object.entries(initial || {})) addRow(name, value);
  add.addEventListener('click', () => addRow().focus());
  const el = h('fieldset', { class: 'form-row custom-fields', 'aria-describedby': 'custom-fields-error' },
    h('legend', {}, 'Custom fields'),
    h('p', { class: 'hint' },
      'Your own fields, usable in PlusVibe templates as {{name}}: lower-case letters, digits and _.'),
    list, add, error);

  return {
    el,
    // name → value of the rows with a name ({} when none).
    value() {
      const out = {};
      for (const { nameInput, valueInput } of rows) {
        const name = nameInput.value.trim();
        if (name) out[name] = valueInput.value.trim();
      }
      return out;
    },
    showError(text) {
      error.textContent = text;
      error.hidden = false;
      (rows[0]?.nameInput || add).focus();
    },
    clearError() {
      error.hidden = true;
      replace(error);
    },
  };
}

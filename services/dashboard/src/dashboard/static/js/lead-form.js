// /leads/new and /leads/<id>/edit: every field of a lead (company, domain, contact, notes, custom fields). The API's
// reasons come back beside the field they are about (a 422's `errors[].loc` names it); anything else in the banner.
// A field can be linked directly: /leads/<id>/edit#email focuses the email (the push guard's "Edit the lead" remedy does).
import { api, errorText, get } from './api.js';
import { customFieldsEditor } from './custom-fields.js';
import { Banner, h, replace } from './dom.js';

// [input name, label, API path (loc after "body"), input type, max length]
const FIELDS = [
  ['companyName', 'Company name', ['companyName'], 'text', 300],
  ['domain', 'Domain (website)', ['domain'], 'text', 253],
  ['firstName', 'Contact first name', ['contact', 'firstName'], 'text', 200],
  ['lastName', 'Contact last name', ['contact', 'lastName'], 'text', 200],
  ['email', 'Contact email', ['contact', 'email'], 'email', 320],
  ['title', 'Job title', ['contact', 'title'], 'text', 300],
  ['phone', 'Phone', ['contact', 'phone'], 'tel', 100],
  ['notes', 'Notes', ['notes'], 'textarea', 10000],
];
// The wire name of each input (the API answers in camelCase; pydantic may name the field in snake_case).
const SNAKE = { companyName: 'company_name', firstName: 'first_name', lastName: 'last_name' };

function valueOf(lead, path) {
  let value = lead;
  for (const part of path) value = value == null ? null : value[part];
  return value ?? '';
}

// The body of a create (every field) or of an edit (only the fields the operator changed: a field someone else
// changed meanwhile is not overwritten with what this form loaded).
function bodyOf(inputs, loaded = null) {
  const body = {};
  for (const [name, , path] of FIELDS) {
    const typed = inputs[name].value.trim();
    const value = typed === '' ? null : typed;
    if (loaded && (String(valueOf(loaded, path)).trim() || null) === value) continue;
    if (path.length === 2) (body[path[0]] ||= {})[path[1]] = value;
    else body[path[0]] = value;
  }
  return body;
}

// The input an error's `loc` (["body", "contact", "email"]) is about, if any.
function fieldOf(loc) {
  const path = (loc || []).slice(1).map(String);
  const last = path[path.length - 1];
  const hit = FIELDS.find(([name, , apiPath]) => apiPath.join('.') === path.join('.')
    || name === last || SNAKE[name] === last);
  return hit ? hit[0] : null;
}

export async function renderLeadForm(app, leadId) {
  const editing = Boolean(leadId);
  let lead = {};
  if (editing) {
    try {
      lead = await get(`/api/leads/${encodeURIComponent(leadId)}`);
    } catch (err) {
      replace(app, h('div', { class: 'full-error', role: 'alert' }, h('h1', {}, 'Failed to load lead'),
        h('p', { class: 'muted' }, errorText(err)), h('p', {}, h('a', { href: '/leads' }, 'Back to Leads'))));
      return;
    }
  }
  const banner = new Banner('lead-form-banner');
  const inputs = {};
  const errors = {};
  const rows = FIELDS.map(([name, label, path, type, max]) => {
    const attrs = { id: `lead-${name}`, name, maxlength: max, 'aria-describedby': `lead-${name}-error` };
    const input = type === 'textarea'
      ? h('textarea', { ...attrs, rows: 4 })
      : h('input', { ...attrs, type, autocomplete: 'off' });
    input.value = editing ? String(valueOf(lead, path)) : '';
    inputs[name] = input;
    errors[name] = h('p', { class: 'field-error', id: `lead-${name}-error`, role: 'alert', hidden: true });
    return h('div', { class: 'form-row' }, h('label', { for: `lead-${name}` }, label), input, errors[name]);
  });
  const custom = customFieldsEditor(editing ? lead.customFields : {});
  const save = h('button', { type: 'submit', class: 'primary' }, editing ? 'Save changes' : 'Create lead');
  const cancelTo = editing ? `/leads/${encodeURIComponent(leadId)}` : '/leads';
  const form = h('form', { class: 'panel lead-form', 'aria-labelledby': 'lead-form-heading', novalidate: true },
    rows,
    custom.el,
    h('p', { class: 'hint' }, 'A lead needs a domain to be audited and a contact email to be pushed to PlusVibe.'),
    h('div', { class: 'actions-row' }, save, h('a', { href: cancelTo, class: 'button' }, 'Cancel')));
  replace(app,
    h('header', { class: 'page-header' }, h('h1', { id: 'lead-form-heading' },
      editing ? `Edit ${lead.companyName || lead.domain || 'lead'}` : 'New lead')),
    banner.el, form);
  document.title = `${editing ? 'Edit lead' : 'New lead'} · Outreach`;
  const target = window.location.hash.slice(1);
  (inputs[target] || inputs.companyName).focus();

  function clearErrors() {
    custom.clearError();
    for (const name of Object.keys(errors)) {
      errors[name].hidden = true;
      errors[name].textContent = '';
      inputs[name].removeAttribute('aria-invalid');
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors();
    banner.clear();
    save.disabled = true;
    try {
      const body = bodyOf(inputs, editing ? lead : null);
      const fields = custom.value();
      if (!editing || JSON.stringify(fields) !== JSON.stringify(lead.customFields || {})) body.customFields = fields;
      const saved = editing
        ? await api('PATCH', `/api/leads/${encodeURIComponent(leadId)}`, body)
        : await api('POST', '/api/leads', body);
      window.location.assign(`/leads/${encodeURIComponent(saved.id)}`);
    } catch (err) {
      save.disabled = false;
      const listed = Array.isArray(err.body?.errors) ? err.body.errors : [];
      let placed = 0;
      for (const e of listed) {
        if ((e.loc || []).includes('customFields') || (e.loc || []).includes('custom_fields')) {
          custom.showError(String(e.msg || err.message).replace(/^Value error, /, ''));
          placed += 1;
          continue;
        }
        const name = fieldOf(e.loc);
        if (!name) continue;
        errors[name].textContent = String(e.msg || err.message).replace(/^Value error, /, '');
        errors[name].hidden = false;
        inputs[name].setAttribute('aria-invalid', 'true');
        if (placed++ === 0) inputs[name].focus();
      }
      if (placed === 0) banner.show('error', `Not saved: ${errorText(err)}`);
      else banner.show('error', 'Not saved: fix the marked fields.');
    }
  });
}

// /leads/import: upload a CSV file, map its columns to lead fields (the workspace's last mapping is offered), choose
// how duplicates are handled, preview, import with a progress bar, and download the refused rows as CSV.
import { ApiError, download, errorText, get, post, upload } from './api.js';
import { Banner, h, replace } from './dom.js';

const FIELD_LABELS = {
  email: 'Contact email', company_name: 'Company', domain: 'Domain / website', first_name: 'First name',
  last_name: 'Last name', title: 'Job title', phone: 'Phone', notes: 'Notes',
};
const IGNORE = '';
const CUSTOM = '__custom__';
const POLL_MS = 500;

export async function renderLeadImport(app) {
  const banner = new Banner('import-banner');
  const fileInput = h('input', { id: 'import-file', type: 'file', name: 'file', accept: '.csv,text/csv' });
  const encodingSelect = h('select', { id: 'import-encoding', name: 'encoding' },
    h('option', { value: '' }, 'UTF-8 (detected)'),
    ['windows-1252', 'latin-1', 'utf-16'].map((e) => h('option', { value: e }, e)));
  const uploadButton = h('button', { type: 'submit', class: 'primary' }, 'Upload');
  const uploadForm = h('form', { class: 'panel', 'aria-labelledby': 'import-step-1' },
    h('h2', { id: 'import-step-1' }, '1. Choose a CSV file'),
    h('p', { class: 'hint' }, 'The first row names the columns. Up to 50,000 leads and 20 MiB per file; ',
      'a comma, semicolon or tab between cells.'),
    h('div', { class: 'toolbar' },
      h('div', {}, h('label', { for: 'import-file' }, 'File'), fileInput),
      h('div', {}, h('label', { for: 'import-encoding' }, 'Encoding'), encodingSelect),
      h('div', {}, uploadButton)));
  const mappingArea = h('div');
  const resultArea = h('div', { 'aria-live': 'polite' });

  replace(app,
    h('div', { class: 'page-header' }, h('h1', {}, 'Import leads'), h('a', { href: '/leads' }, 'Back to leads')),
    banner.el, uploadForm, mappingArea, resultArea);

  uploadForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const file = fileInput.files && fileInput.files[0];
    if (!file) { banner.show('error', 'Choose a CSV file first.'); return; }
    uploadButton.disabled = true;
    replace(mappingArea);
    replace(resultArea);
    try {
      const query = new URLSearchParams({ filename: file.name });
      if (encodingSelect.value) query.set('encoding', encodingSelect.value);
      const uploaded = await upload(`/api/leads/imports/uploads?${query}`, file);
      banner.clear();
      showMapping(uploaded, encodingSelect.value || null);
    } catch (err) {
      banner.show('error', `The file was not accepted: ${errorText(err)}`);
    } finally {
      uploadButton.disabled = false;
    }
  });

  function showMapping(uploaded, encoding) {
    // header → target (a lead field, custom.<name>, or '' to leave the column out)
    const byHeader = new Map(Object.entries(uploaded.suggestedMapping).map(([target, header]) => [header, target]));
    const rows = uploaded.headers.map((header, index) => {
      const target = byHeader.get(header) || IGNORE;
      const isCustom = target.startsWith('custom.');
      const select = h('select', { id: `map-${index}`, name: `map-${index}`, 'aria-label': `Field for column ${header}` },
        h('option', { value: IGNORE }, '— leave out —'),
        uploaded.fields.map((f) => h('option', { value: f, selected: f === target }, FIELD_LABELS[f] || f)),
        h('option', { value: CUSTOM, selected: isCustom }, 'Custom field…'));
      const customName = h('input', { type: 'text', id: `custom-${index}`, 'aria-label': `Custom field name for ${header}`,
        placeholder: 'e.g. industry', value: isCustom ? target.slice('custom.'.length) : defaultCustomName(header),
        hidden: !isCustom });
      select.addEventListener('change', () => { customName.hidden = select.value !== CUSTOM; });
      const sample = uploaded.sample.map((r) => r[header]).filter(Boolean).slice(0, 2).join(' · ');
      return { header, select, customName, el: h('tr', {},
        h('th', { scope: 'row' }, header || `(column ${index + 1})`),
        h('td', {}, select, ' ', customName),
        h('td', { class: 'muted' }, sample)) };
    });
    const dedupe = h('select', { id: 'import-dedupe', name: 'dedupe' },
      h('option', { value: 'skip' }, 'Skip the duplicate row'),
      h('option', { value: 'update' }, 'Update the existing lead with the row'),
      h('option', { value: 'keep_both' }, 'Keep both (create a new lead)'));
    const matchBy = h('select', { id: 'import-match', name: 'matchBy' },
      h('option', { value: 'email' }, 'Same email'),
      h('option', { value: 'domain' }, 'Same domain'),
      h('option', { value: 'email_or_domain' }, 'Same email or same domain'));
    const importValid = h('input', { type: 'checkbox', id: 'import-valid', name: 'importValid' });
    const previewButton = h('button', { type: 'button' }, 'Preview');
    const importButton = h('button', { type: 'button', class: 'primary', id: 'start-import' }, `Import ${uploaded.rows} rows`);
    const previewArea = h('div');

    replace(mappingArea, h('section', { class: 'panel', 'aria-labelledby': 'import-step-2' },
      h('h2', { id: 'import-step-2' }, `2. Map the columns of ${uploaded.filename} (${uploaded.rows} rows)`),
      h('table', { class: 'leads mapping' },
        h('thead', {}, h('tr', {}, ['Column', 'Lead field', 'First values'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, rows.map((r) => r.el))),
      h('div', { class: 'toolbar', style: 'margin-top:12px' },
        h('div', {}, h('label', { for: 'import-match' }, 'A row is a duplicate when it has'), matchBy),
        h('div', {}, h('label', { for: 'import-dedupe' }, 'For a duplicate (in the file or already a lead)'), dedupe)),
      h('label', { class: 'inline' }, importValid, h('span', {}, 'Import the valid rows even if some rows are invalid')),
      h('p', { class: 'hint' }, 'Without it, one invalid row stops the whole import and nothing is imported. ',
        'Importing the same file again with the same choices does not import it twice.'),
      h('div', { class: 'actions-row' }, previewButton, importButton),
      previewArea));

    function request() {
      const mapping = {};
      for (const r of rows) {
        let target = r.select.value;
        if (target === IGNORE) continue;
        if (target === CUSTOM) target = `custom.${r.customName.value.trim()}`;
        mapping[target] = r.header;
      }
      return { uploadId: uploaded.uploadId, mapping, dedupe: dedupe.value, matchBy: matchBy.value,
        onErrors: importValid.checked ? 'import_valid' : 'refuse', ...(encoding ? { encoding } : {}) };
    }

    previewButton.addEventListener('click', async () => {
      previewButton.disabled = true;
      try {
        const plan = await post('/api/leads/imports/preview', request());
        banner.clear();
        replace(previewArea, h('div', { class: 'panel', id: 'import-preview' },
          h('h2', {}, 'Preview'),
          h('p', {}, `${plan.create} new, ${plan.update} updated, ${plan.skip} skipped as duplicates, ${plan.failed} invalid.`),
          h('table', { class: 'leads' },
            h('thead', {}, h('tr', {}, ['Line', 'What happens', 'Email', 'Domain', 'Detail'].map((c) => h('th', { scope: 'col' }, c)))),
            h('tbody', {}, plan.sample.map((r) => h('tr', {}, h('td', {}, String(r.line)), h('td', {}, r.action),
              h('td', {}, r.email || ''), h('td', {}, r.domain || ''), h('td', {}, r.detail || '')))))));
      } catch (err) {
        banner.show('error', `Preview failed: ${errorText(err)}`);
      } finally {
        previewButton.disabled = false;
      }
    });

    importButton.addEventListener('click', async () => {
      importButton.disabled = true;
      previewButton.disabled = true;
      try {
        const started = await post('/api/leads/imports', request());
        banner.clear();
        await follow(started);
      } catch (err) {
        const report = err instanceof ApiError && err.body && err.body.import;
        if (report) {
          banner.show('error', report.message || errorText(err));
          showResult(report);
        } else {
          banner.show('error', `Import refused: ${errorText(err)}`);
        }
      } finally {
        importButton.disabled = false;
        previewButton.disabled = false;
      }
    });
  }

  async function follow(report) {
    const bar = h('progress', { id: 'import-progress', max: String(Math.max(1, report.total)), value: String(report.processed) });
    const label = h('span', {}, '');
    replace(resultArea, h('section', { class: 'panel', 'aria-labelledby': 'import-step-3' },
      h('h2', { id: 'import-step-3' }, '3. Importing'), bar, ' ', label));
    let current = report;
    while (current.status === 'running') {
      bar.value = current.processed;
      label.textContent = `${current.processed} of ${current.total} rows`;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      current = await get(`/api/leads/imports/${encodeURIComponent(current.id)}`);
    }
    showResult(current);
  }

  function showResult(report) {
    const done = report.status === 'done';
    const errorsButton = report.errorsUrl ? h('button', { type: 'button', id: 'import-errors', onclick: async () => {
      try { await download(report.errorsUrl); } catch (err) { banner.show('error', `Download failed: ${errorText(err)}`); }
    } }, `Download the ${report.failed} invalid rows (CSV)`) : null;
    replace(resultArea, h('section', { class: 'panel', id: 'import-result', 'aria-labelledby': 'import-result-head' },
      h('h2', { id: 'import-result-head' }, done ? 'Import finished' : `Import ${report.status}`),
      done ? h('progress', { max: String(Math.max(1, report.total)), value: String(report.total) }) : null,
      h('p', {}, `${report.created} created, ${report.updated} updated, ${report.skipped} skipped as duplicates, `,
        `${report.failed} invalid${report.replayed ? ' (this file was imported before with the same choices)' : ''}.`),
      report.message ? h('p', { role: 'alert' }, report.message) : null,
      report.errors.length ? h('table', { class: 'leads' },
        h('thead', {}, h('tr', {}, ['Line', 'Column', 'Problem'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, report.errors.slice(0, 20).map((e) => h('tr', {},
          h('td', {}, String(e.row)), h('td', {}, e.column || ''), h('td', {}, e.message))))) : null,
      h('div', { class: 'actions-row' }, errorsButton, done ? h('a', { href: '/leads', class: 'button' }, 'See the leads') : null)));
  }
}

function defaultCustomName(header) {
  const name = String(header).toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^[^a-z]+/, '').replace(/_+$/, '');
  return name.slice(0, 50);
}

// /audits/<id>: one audit run. Status, grade, a score ring per category, checks with findings and the public
// report link; a queued/running run shows progress and is polled; a failed one shows its error message.
import { errorText, get } from './api.js';
import { h, replace, spaced, svg } from './dom.js';
import { leadsUrl } from './list-state.js';

const POLL_MS = 1000;
const POLL_LIMIT_MS = 10 * 60 * 1000;

export async function renderAudit(app, runId) {
  const path = `/api/audits/${encodeURIComponent(runId)}`;
  const started = Date.now();
  let run;
  try {
    run = await get(path);
  } catch (err) {
    replace(app, h('div', { class: 'full-error', role: 'alert' }, h('h1', {}, 'Failed to load audit'),
      h('p', { class: 'muted' }, errorText(err)), h('p', {}, h('a', { href: leadsUrl() }, 'Back to Leads'))));
    return;
  }
  render(app, run);
  while (isPending(run) && Date.now() - started < POLL_LIMIT_MS) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    try {
      run = await get(path);
    } catch {
      continue;  // a blip while the audit runs: keep the last view and try again
    }
    render(app, run);
  }
}

function isPending(run) {
  return ['queued', 'running', 'requested'].includes(String(run.status));
}

function render(app, run) {
  const status = String(run.status || 'unknown');
  const body = [];
  if (isPending(run)) {
    const pct = typeof run.progress === 'number' ? Math.round(run.progress <= 1 ? run.progress * 100 : run.progress) : null;
    body.push(h('section', { class: 'panel', 'aria-live': 'polite' }, h('h2', {}, status === 'queued' ? 'Queued' : 'Running'),
      pct === null ? h('progress', { 'aria-label': 'Audit progress' }) : h('progress', { max: 100, value: pct, 'aria-label': 'Audit progress' }),
      h('p', { class: 'muted' }, 'This page updates by itself when the audit finishes.')));
  } else if (status === 'failed') {
    body.push(h('section', { class: 'panel', role: 'alert' }, h('h2', {}, 'Audit failed'),
      h('p', {}, run.errorMessage || 'The audit failed without an error message.')));
  } else {
    body.push(h('section', { class: 'panel' }, h('h2', {}, 'Result'),
      h('p', { class: 'grade', 'aria-label': `Grade ${run.grade ?? 'none'}` }, run.grade ?? '—'),
      h('p', {}, `Overall score: ${run.score ?? '—'}`),
      h('div', { class: 'rings', role: 'list', 'aria-label': 'Scores per category' }, categories(run).map(([name, value]) => ring(name, value))),
      run.reportUrl ? h('p', {}, h('a', { href: run.reportUrl, rel: 'noopener noreferrer', target: '_blank' }, 'Open the public report')) : null));
    const checks = Array.isArray(run.checks) ? run.checks : [];
    body.push(h('section', { class: 'panel' }, h('h2', {}, `Checks (${checks.length})`),
      checks.length ? h('ul', { class: 'checks' }, checks.map(checkItem)) : h('p', { class: 'muted' }, 'No checks recorded.')));
  }
  const domain = run.domain || run.profile?.domain;
  replace(app,
    h('div', { class: 'page-header' },
      h('button', { type: 'button', onclick: () => history.length > 1 ? history.back() : window.location.assign(leadsUrl()) }, 'Back'),
      h('h1', {}, `Audit${domain ? ` of ${domain}` : ''}`),
      h('span', { class: `badge ${status === 'failed' ? 'bad' : status === 'completed' ? 'good' : 'neutral'}`, id: 'audit-status' }, spaced(status))),
    body);
}

// Accepts {seo: 70, ...}, [{name|category|key, score}] or a profile's *_score keys.
function categories(run) {
  const raw = run.categories ?? run.categoryScores;
  if (Array.isArray(raw)) return raw.map((c) => [c.name ?? c.category ?? c.key, c.score ?? c.value]);
  if (raw && typeof raw === 'object') return Object.entries(raw).map(([k, v]) => [k, typeof v === 'object' && v ? v.score : v]);
  return [];
}

function ring(name, value) {
  const score = Math.max(0, Math.min(100, Number(value) || 0));
  const r = 34;
  const length = 2 * Math.PI * r;
  const tone = score >= 80 ? 'good' : score >= 50 ? 'warn' : 'bad';
  return h('div', { class: 'ring', role: 'listitem' },
    svg('svg', { viewBox: '0 0 84 84', role: 'img', 'aria-label': `${spaced(name)} score ${value ?? 'none'}` },
      svg('circle', { class: 'track', cx: 42, cy: 42, r, fill: 'none', 'stroke-width': 8 }),
      svg('circle', { class: `value ${tone}`, cx: 42, cy: 42, r, fill: 'none', 'stroke-width': 8,
        'stroke-dasharray': `${(score / 100) * length} ${length}` }),
      svg('text', { x: 42, y: 49, 'text-anchor': 'middle' }, value ?? '—')),
    h('div', {}, spaced(name)));
}

// Checks as the audits API returns them: {id, category, status PASS|WARN|FAIL, points, finding, detail}; older
// or richer shapes (title, findings[]) are shown too.
function checkItem(check) {
  const outcome = String(check.status ?? check.outcome ?? (check.passed === true ? 'pass' : check.passed === false ? 'fail' : ''));
  const findings = Array.isArray(check.findings) ? check.findings : (check.finding ? [check.finding] : []);
  const tone = { pass: 'good', passed: 'good', ok: 'good', warn: 'warn' }[outcome.toLowerCase()] || 'bad';
  const detail = check.detail || check.message || check.summary;
  return h('li', { dataset: { check: check.id ?? check.key ?? '' } },
    h('div', { class: 'actions-row' },
      h('strong', {}, check.title ?? check.name ?? spaced(check.id ?? check.key ?? 'check')),
      outcome ? h('span', { class: `badge ${tone}` }, outcome.toLowerCase()) : null,
      check.category ? h('span', { class: 'muted' }, spaced(check.category)) : null,
      typeof check.points === 'number' ? h('span', { class: 'muted' }, `${check.points} pts`) : null),
    findings.length ? h('ul', {}, findings.map((f) => h('li', {}, typeof f === 'string' ? f : (f.message ?? f.detail ?? JSON.stringify(f))))) : null,
    detail ? h('p', { class: 'muted' }, detail) : null);
}

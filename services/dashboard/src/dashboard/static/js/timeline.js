// Lead detail's Timeline: the lead's story from GET /api/leads/<id>/timeline, newest first, a page at a time
// ("Show older" appends the next page), every PlusVibe webhook with its raw payload. Refreshed when the lead changes.
import { errorText, get } from './api.js';
import { formatTime, h, replace } from './dom.js';

const PAGE_SIZE = 20;

export function mountTimeline(el, base) {
  const list = h('ol', { class: 'timeline', id: 'timeline' });
  const more = h('button', { type: 'button', hidden: true }, 'Show older');
  const note = h('p', { class: 'muted', role: 'status' });
  replace(el, h('h2', { id: 'timeline-heading' }, 'Timeline'), note, list, more);
  let page = 0;
  let total = 0;

  function item(entry) {
    return h('li', { class: `timeline-${entry.kind}`, dataset: { kind: entry.kind } },
      h('time', { datetime: entry.at }, formatTime(entry.at)),
      h('span', { class: 'timeline-title' }, entry.title),
      entry.detail ? h('span', { class: 'muted' }, ` — ${entry.detail}`) : null,
      entry.actor ? h('span', { class: 'timeline-actor' }, ` · by ${entry.actor}`) : null,
      // A webhook's payload as PlusVibe sent it, as text (it is never rendered as markup).
      entry.raw ? h('details', { class: 'timeline-raw' }, h('summary', {}, 'Raw webhook'),
        h('pre', {}, JSON.stringify(entry.raw, null, 2))) : null);
  }

  async function load(next) {
    try {
      const data = await get(`${base}/timeline?page=${next}&pageSize=${PAGE_SIZE}`);
      if (next === 1) list.replaceChildren();
      for (const entry of data.items) list.append(item(entry));
      page = next;
      total = data.total;
      note.textContent = total ? `${list.children.length} of ${total} events` : 'Nothing has happened to this lead yet.';
      more.hidden = list.children.length >= total;
    } catch (err) {
      note.textContent = `Failed to load the timeline: ${errorText(err)}`;
    }
  }

  more.addEventListener('click', () => load(page + 1));
  load(1);
  return { refresh: () => load(1) };
}

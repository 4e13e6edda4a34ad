// Pipes: those the signed-in person may read (read:pipes); one chosen shows its
// parameters, row count and time span, a chart of its numeric fields over a range, the
// latest rows as a table and a CSV download of the range.

import { describe, request } from './api.js';
import { clearChart, drawChart, numericFields } from './chart.js';
import { TIME_ZONE, dateTime, localInputToUtc, toLocalInput } from './format.js';
import { renderPager } from './pager.js';
import { $, el, setText, showError } from './ui.js';

const PAGE_SIZE = 50;
const READ_LIMIT = 10000; // rows drawn at most; the API gives up to 100,000 a page
const TABLE_ROWS = 50;
const SPANS = { hour: 3600e3, day: 24 * 3600e3, week: 7 * 24 * 3600e3 };

let offset = 0;
let chosen = null; // the pipe shown, as GET {pipe} answered

function pipePath(pipe) {
  const location = pipe.location_key === null ? '-' : pipe.location_key;
  return ['/pipes', pipe.connector_keys, pipe.metric_key, location]
    .map((part, i) => (i === 0 ? part : encodeURIComponent(part))).join('/');
}

function pipeName(pipe) {
  return [pipe.connector_keys, pipe.metric_key, pipe.location_key === null ? '(no location)'
    : pipe.location_key].join(' · ');
}

export async function loadPipes({ at = offset } = {}) {
  offset = at;
  showError('pipes-error', '');
  setText('pipes-status', 'Loading pipes…');
  try {
    const page = await request('GET', `/pipes?limit=${PAGE_SIZE}&offset=${offset}`);
    $('pipe-list').replaceChildren(...page.items.map((pipe) => {
      const button = el('button', { type: 'button', className: 'pipe-item',
        ariaPressed: String(Boolean(chosen) && pipePath(chosen) === pipePath(pipe)) },
      pipeName(pipe));
      button.addEventListener('click', () => choose(pipe, button));
      return el('li', {}, button);
    }));
    const words = renderPager($('pipes-pager'), page, 'pipes', (next) => loadPipes({ at: next }));
    setText('pipes-status', page.total === 0 ? 'No pipes yet.' : `${words}.`);
  } catch (err) {
    setText('pipes-status', '');
    showError('pipes-error', `Could not load the pipes. ${describe(err)}`);
  }
}

function fact(name, value) {
  return [el('dt', {}, name), el('dd', {}, value)];
}

async function choose(pipe, button) {
  for (const other of $('pipe-list').querySelectorAll('button')) {
    other.setAttribute('aria-pressed', String(other === button));
  }
  showError('pipe-error', '');
  try {
    chosen = await request('GET', pipePath(pipe));
  } catch (err) {
    showError('pipes-error', `Could not read the pipe. ${describe(err)}`);
    return;
  }
  $('pipe-detail').hidden = false;
  setText('pipe-title', pipeName(chosen));
  const span = chosen.first_timestamp
    ? `${dateTime(chosen.first_timestamp)} – ${dateTime(chosen.last_timestamp)}` : 'no rows';
  $('pipe-facts').replaceChildren(
    ...fact('Rows', chosen.row_count.toLocaleString()),
    ...fact('Time span', span),
    ...fact('Registered', dateTime(chosen.created_at)),
  );
  $('pipe-params').textContent = JSON.stringify(chosen.parameters, null, 2);
  // Readings older than a day: show them all rather than an empty last day.
  const recent = chosen.last_timestamp
    && Date.now() - new Date(chosen.last_timestamp).getTime() < SPANS.day;
  $('pipe-span').value = recent ? 'day' : 'all';
  syncSpan();
  await loadRows();
}

function syncSpan() {
  const custom = $('pipe-span').value === 'custom';
  for (const field of $('pipe-range').querySelectorAll('[data-custom]')) field.hidden = !custom;
  if (custom && !$('pipe-begin').value) {
    $('pipe-begin').value = toLocalInput(new Date(Date.now() - SPANS.day));
    $('pipe-end').value = toLocalInput(new Date());
  }
}

/** The chosen range as query parameters, or a message. */
function range() {
  const span = $('pipe-span').value;
  const params = new URLSearchParams();
  if (span in SPANS) {
    params.set('begin', new Date(Date.now() - SPANS[span]).toISOString());
  } else if (span === 'custom') {
    const begin = localInputToUtc($('pipe-begin').value);
    const end = localInputToUtc($('pipe-end').value);
    if (!begin || !end) return { problem: 'Choose both the From and the Until time.' };
    params.set('begin', begin);
    params.set('end', end);
  }
  return { params };
}

function valueText(value) {
  if (value === null || value === undefined) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** The latest rows, newest first: the time, the charted fields, then the others by name. */
function renderRows(rows, fields) {
  const latest = rows.slice(-TABLE_ROWS).reverse();
  const others = new Set();
  for (const row of latest) {
    for (const key of Object.keys(row)) if (key !== 'timestamp' && !fields.includes(key)) others.add(key);
  }
  const columns = ['timestamp', ...fields, ...[...others].sort()];
  $('rows-head').replaceChildren(el('tr', {}, ...columns.map((c) => el('th', { scope: 'col' }, c))));
  $('rows-body').replaceChildren(...latest.map((row) => el('tr', {}, ...columns.map((c, i) => {
    const cell = c === 'timestamp'
      ? el('td', {}, el('time', { dateTime: row.timestamp }, dateTime(row.timestamp)))
      : el('td', {}, valueText(row[c]));
    if (i === 0) cell.dataset.label = 'Time';
    else cell.dataset.label = c;
    return cell;
  }))));
  $('rows-table').hidden = latest.length === 0;
}

async function loadRows() {
  const { params, problem } = range();
  if (problem) {
    showError('pipe-error', problem);
    return;
  }
  params.set('limit', String(READ_LIMIT));
  showError('pipe-error', '');
  setText('pipe-status', 'Loading rows…');
  let page;
  try {
    page = await request('GET', `${pipePath(chosen)}/data?${params}`);
  } catch (err) {
    setText('pipe-status', '');
    showError('pipe-error', `Could not read the rows. ${describe(err)}`);
    return;
  }
  const rows = page.items;
  const fields = numericFields(rows);
  const figure = $('chart-figure');
  figure.hidden = rows.length === 0 || fields.length === 0;
  if (figure.hidden) {
    clearChart($('pipe-chart'));
  } else {
    drawChart($('pipe-chart'), rows, fields);
    setText('chart-caption', `${fields.join(', ')} over time (${TIME_ZONE}); other fields are in the table.`);
  }
  renderRows(rows, fields);
  const more = page.next ? ` (the first ${READ_LIMIT.toLocaleString()}; narrow the range for the rest)` : '';
  setText('pipe-status', rows.length === 0 ? 'No rows in this range.'
    : `${rows.length.toLocaleString()} rows in this range${more}; the latest ${Math.min(rows.length, TABLE_ROWS)} below.`);
}

async function downloadCsv() {
  const { params, problem } = range();
  if (problem) {
    showError('pipe-error', problem);
    return;
  }
  params.set('limit', '100000');
  try {
    const text = await request('GET', `${pipePath(chosen)}/data?${params}`, { accept: 'text/csv' });
    const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    const name = `${chosen.connector_keys}_${chosen.metric_key}`.replace(/[^A-Za-z0-9._-]/g, '_');
    const link = el('a', { href: url, download: `${name}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    setText('pipe-status', 'The CSV of this range is downloading.');
  } catch (err) {
    showError('pipe-error', `Could not download the rows. ${describe(err)}`);
  }
}

export function showPipes() {
  loadPipes({ at: 0 });
}

export function resetPipes() {
  chosen = null;
  clearChart($('pipe-chart'));
  $('pipe-list').replaceChildren();
  $('pipe-detail').hidden = true;
  offset = 0;
}

export function initPipes() {
  $('pipe-span').addEventListener('change', () => {
    syncSpan();
    if ($('pipe-span').value !== 'custom') loadRows();
  });
  $('pipe-range').addEventListener('submit', (event) => {
    event.preventDefault();
    loadRows();
  });
  $('pipe-csv').addEventListener('click', downloadCsv);
}

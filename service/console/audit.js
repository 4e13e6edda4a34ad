// Audit: the trail, newest first, filtered by kind, user, token and time (GET /audit).
// Admins see every event; anyone else the events they caused or that name them.

import { describe, request } from './api.js';
import { TIME_ZONE, dateTime, localInputToUtc } from './format.js';
import { renderPager } from './pager.js';
import { $, el, setText, showError } from './ui.js';

const PAGE_SIZE = 50;

let context = null;
let offset = 0;
let asked = 0;

function everything() {
  return context().me.scopes.includes('read:users');
}

/** The query from the filters, or a message naming the one to fix. */
function query() {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
  if ($('audit-kind').value) params.set('kind', $('audit-kind').value);
  const user = $('audit-user').value.trim();
  if (user && everything()) params.set('user', user);
  const token = $('audit-token').value.trim();
  if (token) params.set('token', token);
  for (const [id, name] of [['audit-since', 'since'], ['audit-until', 'until']]) {
    const value = $(id).value;
    if (!value) continue;
    const utc = localInputToUtc(value);
    if (!utc) return { problem: `The ${name === 'since' ? 'From' : 'Until'} time is not a date and time.`, field: id };
    params.set(name, utc);
  }
  return { params };
}

function who(username, id, kind) {
  if (username) return username;
  if (kind === 'operator') return '(operator)';
  return id ? el('code', {}, id) : el('span', { className: 'muted' }, '—');
}

function about(event) {
  const parts = [];
  if (event.target_username) parts.push(el('span', {}, event.target_username));
  if (event.target_token_id) {
    if (parts.length) parts.push(el('br'));
    parts.push(el('span', { className: 'small' }, 'token ', el('code', {}, event.target_token_id)));
  }
  return parts.length ? parts : [el('span', { className: 'muted' }, '—')];
}

function renderEvents(events) {
  const headers = ['When', 'Kind', 'By', 'About', 'Address', 'Details'];
  $('audit-body').replaceChildren(...events.map((event) => {
    const by = [who(event.actor_username, event.actor_user_id, event.actor_kind)];
    if (event.actor_token_id) {
      by.push(el('br'), el('span', { className: 'small' }, 'with token ',
        el('code', {}, event.actor_token_id)));
    }
    const details = Object.keys(event.details || {}).length
      ? el('code', { className: 'details' }, JSON.stringify(event.details))
      : el('span', { className: 'muted' }, '—');
    const cells = [
      el('td', {}, el('time', { dateTime: event.at, title: TIME_ZONE }, dateTime(event.at))),
      el('td', {}, el('code', {}, event.kind)),
      el('td', {}, ...by),
      el('td', {}, ...about(event)),
      el('td', {}, event.source || el('span', { className: 'muted' }, '—')),
      el('td', {}, details),
    ];
    cells.forEach((cell, i) => { cell.dataset.label = headers[i]; });
    return el('tr', {}, ...cells);
  }));
}

export async function loadAudit({ at = offset } = {}) {
  offset = at;
  const { params, problem, field } = query();
  if (problem) {
    showError('audit-error', problem);
    $(field).focus();
    return;
  }
  asked += 1;
  const mine = asked;
  showError('audit-error', '');
  setText('audit-status', 'Loading events…');
  try {
    const page = await request('GET', `/audit?${params}`);
    if (mine !== asked) return;
    renderEvents(page.items);
    $('audit-table').hidden = page.items.length === 0;
    const words = renderPager($('audit-pager'), page, 'events', (next) => loadAudit({ at: next }));
    setText('audit-status', page.total === 0 ? 'No event matches.' : `${words} shown.`);
  } catch (err) {
    if (mine !== asked) return;
    // Rows left from before would seem to match filters they were never asked with.
    $('audit-body').replaceChildren();
    $('audit-pager').hidden = true;
    setText('audit-status', '');
    showError('audit-error', `Could not load the events. ${describe(err)}`);
  }
}

export function showAudit() {
  const all = everything();
  setText('audit-intro', `${all ? 'Every event (you may read users).' : 'Your events: those you caused and those about you or your tokens.'} Newest first; times in ${TIME_ZONE}.`);
  $('audit-user-field').hidden = !all;
  if ($('audit-kind').options.length === 1) {
    // The kinds GET /audit's `kind` takes, in the API's order (GET /config).
    const kinds = context().config.audit_kinds;
    $('audit-kind').append(...kinds.map((kind) => el('option', { value: kind }, kind)));
  }
  loadAudit({ at: 0 });
}

export function resetAudit() {
  $('audit-body').replaceChildren();
  $('audit-filters').reset();
  offset = 0;
}

export function initAudit(options) {
  context = options.context;
  $('audit-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    loadAudit({ at: 0 });
  });
  $('audit-kind').addEventListener('change', () => loadAudit({ at: 0 }));
}

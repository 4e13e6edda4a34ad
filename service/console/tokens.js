// Settings > Tokens: the table, its search, filters, sort and pages, all served by
// GET /tokens; each row's menu (details, edit, invalidate, delete).

import { describe, request } from './api.js';
import { openCreate, openEdit } from './dialogs.js';
import { TIME_ZONE, dateTime, relative } from './format.js';
import { menuButton } from './menu.js';
import { renderPager } from './pager.js';
import { expiryBadge, openRotate, sourcesDetails } from './rotate.js';
import {
  $, closeDialog, confirmAction, debounce, el, focusToken, returnFocusOnClose, setText,
  showError,
} from './ui.js';

const PAGE_SIZE = 50;

let context = null; // () => ({ me, config })
let offset = 0;
let lastPage = null;
let asked = 0; // the latest request's number: an older answer arriving late is dropped

/** The query string of the filters as they are on screen. */
function query() {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
  const q = $('tokens-q').value.trim();
  if (q) params.set('q', q);
  if ($('tokens-scope').value) params.set('scope', $('tokens-scope').value);
  if ($('tokens-state').value) params.set('state', $('tokens-state').value);
  const owner = $('tokens-owner').value.trim();
  if (owner && context().me.type === 'admin') params.set('user', owner);
  const [sort, order] = $('tokens-sort').value.split(':');
  params.set('sort', sort);
  params.set('order', order);
  return params;
}

function filtered() {
  return Boolean($('tokens-q').value.trim() || $('tokens-scope').value || $('tokens-state').value
    || $('tokens-owner').value.trim());
}

export async function loadTokens({ at = offset } = {}) {
  offset = at;
  asked += 1;
  const mine = asked;
  showError('tokens-error', '');
  setText('tokens-status', 'Loading tokens…');
  try {
    const page = await request('GET', `/tokens?${query()}`);
    if (mine !== asked) return;
    lastPage = page;
    renderTokens(page.items);
    const words = renderPager($('tokens-pager'), page, 'tokens', (next) => loadTokens({ at: next }));
    setText('tokens-status', page.total === 0 ? '0 tokens shown.' : `${words} shown.`);
  } catch (err) {
    if (mine !== asked) return;
    // Rows left from before would seem to match filters they were never asked with.
    $('tokens-body').replaceChildren();
    $('tokens-pager').hidden = true;
    setText('tokens-status', '');
    showError('tokens-error', `Could not load the tokens. ${describe(err)}`);
  }
}

function statusOf(token) {
  if (token.is_valid) return ['Valid', 'ok'];
  if (token.invalidated_at) return ['Invalidated', 'bad'];
  if (token.user === null) return ['Owner deleted', 'bad'];
  return ['Expired', 'bad'];
}

function timeCell(iso, emptyText) {
  if (!iso) return el('span', { className: 'muted' }, emptyText);
  return el('time', { dateTime: iso, title: `${dateTime(iso)} (${TIME_ZONE})` }, dateTime(iso));
}

/** "expires in 3 days" for a valid token close to its end. */
function expiresCell(token) {
  if (token.expiration === null) return el('span', {}, 'Never');
  return el('span', {}, el('span', { className: 'rel' }, relative(token.expiration)),
    el('br'), el('time', { dateTime: token.expiration, className: 'muted small' },
      dateTime(token.expiration)));
}

function entries(token) {
  const list = [
    { label: 'Details', run: () => openDetails(token) },
    { label: 'Edit', run: () => openEdit(token) },
  ];
  if (token.is_valid) {
    list.push({ label: 'Invalidate', run: () => invalidate(token) });
    list.push({ label: 'Rotate', run: () => openRotate(token) });
  }
  list.push({ label: 'Delete', danger: true, run: () => remove(token) });
  return list;
}

function renderTokens(tokens) {
  const admin = context().me.type === 'admin';
  document.querySelector('th[data-owner]').hidden = !admin;
  const headers = ['Label', 'Client ID', ...(admin ? ['Owner'] : []), 'Scopes', 'Created',
    'Expires', 'Last used', 'Status', 'Actions'];
  const rows = tokens.map((token) => {
    const [status, tone] = statusOf(token);
    const button = menuButton(`Actions for ${token.label}`, () => entries(token));
    button.dataset.tokenId = token.id;
    const cells = [
      el('th', { scope: 'row' }, token.label),
      el('td', {}, el('code', { className: 'client-id' }, token.id)),
      admin ? el('td', {}, token.user === null ? el('span', { className: 'muted' }, '(deleted)')
        : token.user) : null,
      el('td', {}, token.scopes.length ? token.scopes.join(', ')
        : el('span', { className: 'muted' }, 'none'),
        token.pipes ? el('div', { className: 'hint' }, `Pipes: ${token.pipes.join(', ')}`) : null),
      el('td', {}, timeCell(token.created_at, '')),
      el('td', {}, expiresCell(token)),
      el('td', {}, timeCell(token.last_used_at, 'Not yet'), sourcesDetails(token)),
      el('td', {}, el('span', { className: `badge ${tone}` }, status), ' ',
        expiryBadge(token, context().config)),
      el('td', { className: 'row-actions' }, button),
    ].filter(Boolean);
    cells.forEach((cell, i) => { cell.dataset.label = headers[i]; });
    return el('tr', { className: token.is_valid ? '' : 'dim' }, ...cells);
  });
  $('tokens-body').replaceChildren(...rows);
  const none = tokens.length === 0;
  $('tokens-empty').hidden = !none;
  $('tokens-empty').textContent = filtered() ? 'No token matches these filters.'
    : 'No tokens yet. Use + to create one.';
  $('tokens-table').hidden = none;
}

// ---- Details, invalidate, delete ---------------------------------------------------------

function fact(name, value) {
  return [el('dt', {}, name), el('dd', {}, value)];
}

function openDetails(token) {
  const [status] = statusOf(token);
  $('details-list').replaceChildren(
    ...fact('Label', token.label),
    ...fact('Client ID', el('code', {}, token.id)),
    ...fact('Owner', token.user === null ? '(deleted)' : token.user),
    ...fact('Scopes', token.scopes.length ? token.scopes.join(', ') : 'none'),
    ...fact('Pipes', token.pipes ? token.pipes.join(', ') : 'Every pipe'),
    ...fact('Status', token.invalidated_reason ? `${status} (${token.invalidated_reason})` : status),
    ...fact('Created', dateTime(token.created_at)),
    ...fact('Expires', token.expiration ? `${dateTime(token.expiration)} (${relative(token.expiration)})`
      : 'Never'),
    ...fact('Last used', token.last_used_at ? dateTime(token.last_used_at) : 'Not yet'),
    ...fact('Rate limit', token.rate_limit ? `${token.rate_limit} requests a minute` : 'None'),
    ...fact('Allowed networks', token.allowed_cidrs ? token.allowed_cidrs.join(', ') : 'Anywhere'),
    ...(token.previous_secret_expires_at ? fact('Old secret works until',
      dateTime(token.previous_secret_expires_at)) : []),
  );
  $('details-extra').replaceChildren(...[sourcesDetails(token)].filter(Boolean));
  setText('details-title', `Token “${token.label}”`);
  const dialog = $('details-dialog');
  dialog.returnFocusTo = () => focusToken(token.id);
  dialog.dataset.tokenId = token.id; // for whatever fills the details' extra area
  dialog.showModal();
  $('details-close').focus();
}

function invalidate(token) {
  confirmAction({
    title: 'Invalidate this token?',
    text: `“${token.label}” will stop working at once, for every program that uses it. `
      + 'It stays listed. This cannot be undone.',
    ok: 'Invalidate token',
    run: () => request('POST', `/tokens/${encodeURIComponent(token.id)}/invalidate`),
    done: () => afterChange(`Invalidated “${token.label}”.`, token.id),
    returnFocus: () => focusToken(token.id),
  });
}

function remove(token) {
  confirmAction({
    title: 'Delete this token?',
    text: `“${token.label}” will be removed for good; programs that use it stop working.`,
    ok: 'Delete token',
    run: () => request('DELETE', `/tokens/${encodeURIComponent(token.id)}`),
    done: () => afterChange(`Deleted “${token.label}”.`, null),
    returnFocus: () => focusToken(token.id),
  });
}

export async function afterChange(message, tokenId) {
  await loadTokens();
  setText('tokens-status', message);
  focusToken(tokenId || '');
}

// ---- The view ------------------------------------------------------------------------------

export function showTokens() {
  const { me, config } = context();
  const admin = me.type === 'admin';
  const whose = admin ? 'Every token (you are an admin).' : 'Your tokens.';
  setText('tokens-intro', `${whose} Times are in your time zone, ${TIME_ZONE}.`);
  $('tokens-owner-field').hidden = !admin;
  const scope = $('tokens-scope');
  if (scope.options.length === 1) {
    scope.append(...config.scopes.map((s) => el('option', { value: s.name }, s.name)));
  }
  loadTokens({ at: 0 });
}

export function resetTokens() {
  $('tokens-body').replaceChildren();
  $('tokens-filters').reset();
  lastPage = null;
  offset = 0;
}

export function currentTokens() {
  return lastPage ? lastPage.items : [];
}

export function initTokens(options) {
  context = options.context;
  $('refresh').addEventListener('click', () => loadTokens());
  $('new-token').addEventListener('click', () => openCreate());
  $('tokens-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    loadTokens({ at: 0 });
  });
  // Choosing from a list applies at once; typed text after a pause, or on Enter.
  for (const id of ['tokens-scope', 'tokens-state', 'tokens-sort']) {
    $(id).addEventListener('change', () => loadTokens({ at: 0 }));
  }
  for (const id of ['tokens-q', 'tokens-owner']) {
    $(id).addEventListener('input', debounce(() => loadTokens({ at: 0 })));
  }
  returnFocusOnClose($('details-dialog'));
  $('details-close').addEventListener('click', () => closeDialog($('details-dialog')));
}

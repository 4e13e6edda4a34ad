// The console: sign in, then Settings > Tokens. Plain DOM; user text only ever goes in
// through textContent or attributes, never through innerHTML.

import {
  ApiError, currentSession, describe, onSessionEnded, request, restoreSession, setSession, signIn,
} from './api.js';
import { initTokenDialogs, openCreate, openEdit } from './dialogs.js';
import { TIME_ZONE, dateTime, relative } from './format.js';
import { expiryBadge, initRotate, openRotate, sourcesDetails } from './rotate.js';
import {
  $, closeDialog, confirmAction, el, focusToken, initConfirm, keepOpen, setText, showError,
} from './ui.js';

const PAGE_SIZE = 100;
const TOKENS_HASH = '#/settings/tokens';

const state = {
  me: null,
  config: null,
  tokens: [],
  total: 0,
  menu: null, // { token, button } while a row menu is open
  reauth: null, // { resolve, reject } while the person signs in again
};

// ---- Signing in and out ---------------------------------------------------------------

async function onLogin(event) {
  event.preventDefault();
  const username = $('login-username').value.trim();
  const password = $('login-password').value;
  if (!username || !password) {
    showError('login-error', 'Enter your username and your password.');
    ($('login-username').value.trim() ? $('login-password') : $('login-username')).focus();
    return;
  }
  const button = $('login-submit');
  button.disabled = true;
  showError('login-error', '');
  try {
    await signIn(username, password);
    $('login-password').value = '';
    if (state.reauth) {
      finishReauth();
    } else {
      await enterConsole();
    }
  } catch (err) {
    showError('login-error', describe(err));
    $('login-password').focus();
  } finally {
    button.disabled = false;
  }
}

/** Called by api.js when the session is gone: ask for the password over whatever is open. */
function askToSignInAgain() {
  return new Promise((resolve, reject) => {
    state.reauth = { resolve, reject };
    const dialog = $('reauth-dialog');
    $('reauth-slot').append($('login-form'));
    $('login-username').value = state.me ? state.me.username : $('login-username').value;
    $('login-username').readOnly = Boolean(state.me);
    $('login-password').value = '';
    showError('login-error', '');
    dialog.showModal();
    (state.me ? $('login-password') : $('login-username')).focus();
  });
}

function finishReauth() {
  const { resolve } = state.reauth;
  state.reauth = null;
  $('login-slot').append($('login-form'));
  $('login-username').readOnly = false;
  closeDialog($('reauth-dialog'));
  resolve();
}

async function enterConsole() {
  const [config, me] = await Promise.all([request('GET', '/config', { auth: false }),
    request('GET', '/users/me')]);
  state.config = config;
  state.me = me;
  setText('who', `Signed in as ${me.username} (${me.type})`);
  for (const id of ['nav', 'who', 'sign-out']) $(id).hidden = false;
  $('login-view').hidden = true;
  if (window.location.hash !== TOKENS_HASH) {
    window.location.hash = TOKENS_HASH; // the hashchange handler shows the view
  } else {
    showTokensView();
  }
}

function signOut() {
  setSession(null);
  for (const dialog of document.querySelectorAll('dialog[open]')) closeDialog(dialog);
  closeMenu(false);
  if (state.reauth) {
    const { reject } = state.reauth;
    state.reauth = null;
    $('login-slot').append($('login-form'));
    $('login-username').readOnly = false;
    reject(new ApiError(401, { error: 'signed_out', error_description: 'You signed out.' }));
  }
  Object.assign(state, { me: null, config: null, tokens: [], total: 0 });
  $('tokens-body').replaceChildren();
  for (const id of ['nav', 'who', 'sign-out', 'tokens-view']) $(id).hidden = true;
  for (const id of ['tokens-error', 'tokens-status', 'login-error']) setText(id, '');
  $('login-password').value = '';
  $('login-view').hidden = false;
  $('login-username').focus();
}

// ---- Settings > Tokens ----------------------------------------------------------------

function showTokensView() {
  if (!state.me) return;
  $('login-view').hidden = true;
  $('tokens-view').hidden = false;
  document.title = 'Tokens · mrsm-tokens console';
  const whose = state.me.type === 'admin' ? 'Every token (you are an admin).' : 'Your tokens.';
  setText('tokens-intro', `${whose} Times are in your time zone, ${TIME_ZONE}.`);
  loadTokens();
}

async function loadTokens({ more = false } = {}) {
  const offset = more ? state.tokens.length : 0;
  showError('tokens-error', '');
  setText('tokens-status', 'Loading tokens…');
  try {
    const page = await request('GET', `/tokens?limit=${PAGE_SIZE}&offset=${offset}`);
    state.tokens = more ? state.tokens.concat(page.items) : page.items;
    state.total = page.total;
    renderTokens();
    setText('tokens-status', `${state.tokens.length} of ${state.total} tokens shown.`);
  } catch (err) {
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

function expiresCell(token) {
  if (token.expiration === null) return el('span', {}, 'Never');
  return el('span', {}, el('span', { className: 'rel' }, relative(token.expiration)),
    el('br'), el('time', { dateTime: token.expiration, className: 'muted small' },
      dateTime(token.expiration)), expiryBadge(token, state.config));
}

function renderTokens() {
  const admin = state.me.type === 'admin';
  document.querySelector('th[data-owner]').hidden = !admin;
  const rows = state.tokens.map((token) => {
    const [status, tone] = statusOf(token);
    const menuButton = el('button', {
      type: 'button',
      className: 'quiet menu-button',
      ariaLabel: `Actions for ${token.label}`,
      ariaHasPopup: 'menu',
      ariaExpanded: 'false',
    }, el('span', { ariaHidden: 'true' }, '⋯'));
    menuButton.setAttribute('aria-controls', 'row-menu');
    menuButton.dataset.tokenId = token.id;
    menuButton.addEventListener('click', () => openMenu(token, menuButton));
    const cells = [
      el('th', { scope: 'row' }, token.label),
      el('td', {}, el('code', { className: 'client-id' }, token.id)),
      admin ? el('td', {}, token.user === null ? el('span', { className: 'muted' }, '(deleted)')
        : token.user) : null,
      el('td', {}, token.scopes.length ? token.scopes.join(', ') : el('span', { className: 'muted' }, 'none')),
      el('td', {}, timeCell(token.created_at, '')),
      el('td', {}, expiresCell(token)),
      el('td', {}, timeCell(token.last_used_at, 'Not yet'), sourcesDetails(token)),
      el('td', {}, el('span', { className: `badge ${tone}` }, status)),
      el('td', { className: 'row-actions' }, menuButton),
    ].filter(Boolean);
    const headers = ['Label', 'Client ID', ...(admin ? ['Owner'] : []), 'Scopes', 'Created',
      'Expires', 'Last used', 'Status', 'Actions'];
    cells.forEach((cell, i) => { cell.dataset.label = headers[i]; });
    return el('tr', { className: token.is_valid ? '' : 'dim' }, ...cells);
  });
  $('tokens-body').replaceChildren(...rows);
  $('tokens-empty').hidden = state.tokens.length > 0;
  $('tokens-table').hidden = state.tokens.length === 0;
  $('more-wrap').hidden = state.tokens.length >= state.total;
}

// ---- The row menu ---------------------------------------------------------------------

function menuItems() {
  return [...$('row-menu').querySelectorAll('[role="menuitem"]')].filter((item) => !item.hidden);
}

function openMenu(token, button) {
  if (state.menu && state.menu.button === button) {
    closeMenu(true);
    return;
  }
  closeMenu(false);
  const menu = $('row-menu');
  for (const action of ['invalidate', 'rotate']) {
    menu.querySelector(`[data-action="${action}"]`).hidden = !token.is_valid;
  }
  menu.setAttribute('aria-label', `Actions for ${token.label}`);
  state.menu = { token, button };
  button.setAttribute('aria-expanded', 'true');
  menu.hidden = false;
  const box = button.getBoundingClientRect();
  const width = menu.offsetWidth;
  const left = Math.max(8, Math.min(box.right - width, window.innerWidth - width - 8));
  menu.style.left = `${left + window.scrollX}px`;
  menu.style.top = `${box.bottom + window.scrollY + 4}px`;
  menuItems()[0].focus();
}

function closeMenu(refocus) {
  if (!state.menu) return;
  const { button } = state.menu;
  state.menu = null;
  $('row-menu').hidden = true;
  button.setAttribute('aria-expanded', 'false');
  if (refocus) button.focus();
}

function onMenuKey(event) {
  const items = menuItems();
  const index = items.indexOf(document.activeElement);
  const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: items.length - 1 };
  if (event.key in moves) {
    event.preventDefault();
    items[(moves[event.key] + items.length) % items.length].focus();
  } else if (event.key === 'Escape') {
    event.preventDefault();
    closeMenu(true);
  } else if (event.key === 'Tab') {
    closeMenu(true);
  }
}

function onMenuAction(event) {
  const item = event.target.closest('[role="menuitem"]');
  if (!item || !state.menu) return;
  const { token } = state.menu;
  closeMenu(false);
  const action = item.dataset.action;
  if (action === 'edit') {
    openEdit(token);
  } else if (action === 'rotate') {
    openRotate(token);
  } else if (action === 'invalidate') {
    confirmAction({
      title: 'Invalidate this token?',
      text: `“${token.label}” will stop working at once, for every program that uses it. `
        + 'It stays listed. This cannot be undone.',
      run: () => request('POST', `/tokens/${encodeURIComponent(token.id)}/invalidate`),
      done: () => afterChange(`Invalidated “${token.label}”.`, token.id),
      returnFocus: () => focusToken(token.id),
    });
  } else if (action === 'delete') {
    confirmAction({
      title: 'Delete this token?',
      text: `“${token.label}” will be removed for good; programs that use it stop working.`,
      run: () => request('DELETE', `/tokens/${encodeURIComponent(token.id)}`),
      done: () => afterChange(`Deleted “${token.label}”.`, null),
      returnFocus: () => focusToken(token.id),
    });
  }
}

async function afterChange(message, tokenId) {
  await loadTokens();
  setText('tokens-status', message);
  focusToken(tokenId || '');
}

// ---- Start ----------------------------------------------------------------------------

function route() {
  if (currentSession() && state.me) {
    showTokensView();
  } else if (!state.reauth) {
    $('tokens-view').hidden = true;
    $('login-view').hidden = false;
  }
}

async function start() {
  onSessionEnded(askToSignInAgain);
  $('login-form').addEventListener('submit', onLogin);
  $('sign-out').addEventListener('click', signOut);
  $('reauth-sign-out').addEventListener('click', signOut);
  keepOpen($('reauth-dialog'), () => Boolean(state.reauth));
  $('refresh').addEventListener('click', () => loadTokens());
  $('more').addEventListener('click', () => loadTokens({ more: true }));
  $('new-token').addEventListener('click', () => openCreate());
  $('nav-tokens').addEventListener('click', () => {
    if (window.location.hash === TOKENS_HASH) showTokensView();
  });
  const menu = $('row-menu');
  menu.addEventListener('keydown', onMenuKey);
  menu.addEventListener('click', onMenuAction);
  document.addEventListener('click', (event) => {
    if (state.menu && !menu.contains(event.target) && !state.menu.button.contains(event.target)) {
      closeMenu(false);
    }
  });
  window.addEventListener('hashchange', route);
  initConfirm();
  initTokenDialogs({
    context: () => ({ me: state.me, config: state.config }),
    changed: afterChange,
  });
  initRotate({ changed: afterChange });
  if (restoreSession()) {
    try {
      await enterConsole();
      return;
    } catch (err) {
      setSession(null);
      showError('login-error', `Please sign in again. ${describe(err)}`);
    }
  }
  route();
  $('login-username').focus();
}

start();

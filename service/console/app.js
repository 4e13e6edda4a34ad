// The console: sign in, then the pages (Tokens, Users, Audit, Pipes), one module each.
// Plain DOM; user text only ever goes in through textContent or attributes, never innerHTML.

import {
  ApiError, currentSession, describe, onSessionEnded, request, restoreSession, setSession, signIn,
} from './api.js';
import { initAudit, resetAudit, showAudit } from './audit.js';
import { initTokenDialogs } from './dialogs.js';
import { closeMenu, initMenu } from './menu.js';
import { initPipes, resetPipes, showPipes } from './pipes.js';
import { initRotate } from './rotate.js';
import { afterChange, initTokens, resetTokens, showTokens } from './tokens.js';
import { $, closeDialog, initConfirm, keepOpen, setText, showError } from './ui.js';
import { initUsers, resetUsers, showUsers } from './users.js';

const VIEWS = {
  tokens: { hash: '#/settings/tokens', title: 'Tokens', show: showTokens },
  users: { hash: '#/users', title: 'Users', show: showUsers, admin: true },
  audit: { hash: '#/audit', title: 'Audit', show: showAudit },
  pipes: { hash: '#/pipes', title: 'Pipes', show: showPipes },
};

const state = {
  me: null,
  config: null,
  reauth: null, // { resolve, reject } while the person signs in again
};

const context = () => ({ me: state.me, config: state.config });

function isAdmin() {
  return Boolean(state.me) && state.me.type === 'admin';
}

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
  $('nav-users').hidden = !isAdmin();
  $('login-view').hidden = true;
  if (viewOf(window.location.hash) === null) {
    window.location.hash = VIEWS.tokens.hash; // the hashchange handler shows the view
  } else {
    route();
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
  Object.assign(state, { me: null, config: null });
  resetTokens();
  resetUsers();
  resetAudit();
  resetPipes();
  for (const id of ['nav', 'who', 'sign-out']) $(id).hidden = true;
  for (const view of document.querySelectorAll('.view')) view.hidden = true;
  for (const id of ['tokens-error', 'tokens-status', 'login-error']) setText(id, '');
  $('login-password').value = '';
  $('login-view').hidden = false;
  $('login-username').focus();
}

// ---- Pages ------------------------------------------------------------------------------

function viewOf(hash) {
  const found = Object.entries(VIEWS).find(([, view]) => view.hash === hash);
  if (!found || (found[1].admin && !isAdmin())) return null;
  return found[0];
}

function route() {
  if (!(currentSession() && state.me)) {
    if (!state.reauth) {
      for (const view of document.querySelectorAll('.view')) view.hidden = true;
      $('login-view').hidden = false;
    }
    return;
  }
  const name = viewOf(window.location.hash) || 'tokens';
  closeMenu(false);
  $('login-view').hidden = true;
  for (const [key, view] of Object.entries(VIEWS)) {
    $(`${key}-view`).hidden = key !== name;
    const link = $(`nav-${key}`);
    if (key === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
    if (key === name) document.title = `${view.title} · mrsm-tokens console`;
  }
  VIEWS[name].show();
}

// ---- Start ----------------------------------------------------------------------------

async function start() {
  onSessionEnded(askToSignInAgain);
  $('login-form').addEventListener('submit', onLogin);
  $('sign-out').addEventListener('click', signOut);
  $('reauth-sign-out').addEventListener('click', signOut);
  keepOpen($('reauth-dialog'), () => Boolean(state.reauth));
  // A click on the link of the page already shown reloads it.
  for (const link of $('nav').querySelectorAll('a')) {
    link.addEventListener('click', () => {
      if (window.location.hash === link.getAttribute('href')) route();
    });
  }
  window.addEventListener('hashchange', route);
  initMenu();
  initConfirm();
  initTokens({ context });
  initTokenDialogs({ context, changed: afterChange });
  initRotate({ changed: afterChange });
  initUsers({ context });
  initAudit({ context });
  initPipes({ context });
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

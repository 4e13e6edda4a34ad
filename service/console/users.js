// Users (admins): the list with its search, and creating, changing, resetting the
// password of and deleting a user. The API's refusals (the last admin) are shown as given.

import { describe, request } from './api.js';
import { dateTime } from './format.js';
import { menuButton } from './menu.js';
import { renderPager } from './pager.js';
import {
  $, closeDialog, confirmAction, debounce, el, guardChanges, returnFocusOnClose, scopeChecks,
  setText, showError,
} from './ui.js';

const PAGE_SIZE = 50;

let context = null;
let offset = 0;
let asked = 0;
let mode = null; // 'create' | 'edit' | 'password' while the dialog is open
let target = null; // the user being changed
let initial = null;

function focusUser(name) {
  const button = name
    ? document.querySelector(`button[data-username="${CSS.escape(name)}"]`) : null;
  (button || $('new-user')).focus();
}

export async function loadUsers({ at = offset } = {}) {
  offset = at;
  asked += 1;
  const mine = asked;
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
  const q = $('users-q').value.trim();
  if (q) params.set('q', q);
  showError('users-error', '');
  setText('users-status', 'Loading users…');
  try {
    const page = await request('GET', `/users?${params}`);
    if (mine !== asked) return;
    renderUsers(page.items);
    const words = renderPager($('users-pager'), page, 'users', (next) => loadUsers({ at: next }));
    setText('users-status', page.total === 0 ? 'No users match.' : `${words} shown.`);
  } catch (err) {
    if (mine !== asked) return;
    // Rows left from before would seem to match filters they were never asked with.
    $('users-body').replaceChildren();
    $('users-pager').hidden = true;
    setText('users-status', '');
    showError('users-error', `Could not load the users. ${describe(err)}`);
  }
}

function renderUsers(users) {
  const headers = ['Username', 'Type', 'Scopes', 'Created', 'Actions'];
  $('users-body').replaceChildren(...users.map((user) => {
    const button = menuButton(`Actions for ${user.username}`, () => [
      { label: 'Change type and scopes', run: () => openDialog('edit', user) },
      { label: 'Reset password', run: () => openDialog('password', user) },
      { label: 'Delete', danger: true, run: () => remove(user) },
    ]);
    button.dataset.username = user.username;
    const cells = [
      el('th', { scope: 'row' }, user.username),
      el('td', {}, user.type === 'admin' ? 'Admin' : 'User'),
      el('td', {}, user.type === 'admin' ? 'every scope'
        : (user.scopes.join(', ') || el('span', { className: 'muted' }, 'none'))),
      el('td', {}, el('time', { dateTime: user.created_at }, dateTime(user.created_at))),
      el('td', { className: 'row-actions' }, button),
    ];
    cells.forEach((cell, i) => { cell.dataset.label = headers[i]; });
    return el('tr', {}, ...cells);
  }));
}

// ---- The user dialog: create, change type and scopes, reset the password ---------------

function chosenScopes() {
  return [...$('user-scope-list').querySelectorAll('input:checked')].map((box) => box.value);
}

function snapshot() {
  return [$('user-name').value, $('user-password').value, $('user-type').value,
    chosenScopes().join(' ')].join('\n');
}

function syncType() {
  const { config } = context();
  const admin = $('user-type').value === 'admin';
  const keep = chosenScopes();
  const checked = keep.length || mode !== 'create' ? keep
    : config.scopes.filter((s) => !s.admin_only).map((s) => s.name);
  $('user-scope-list').replaceChildren(...scopeChecks('user-scope', config.scopes, {
    checked: admin ? config.scopes.map((s) => s.name) : checked.filter((name) =>
      !config.scopes.find((s) => s.name === name).admin_only),
    disabled: (scope) => (admin ? 'an admin holds every scope'
      : (scope.admin_only ? 'for admins only' : '')),
  }));
}

function openDialog(which, user = null) {
  mode = which;
  target = user;
  const creating = which === 'create';
  const titles = { create: 'New user', edit: `Change ${user && user.username}`,
    password: `Reset the password of ${user && user.username}` };
  const buttons = { create: 'Create user', edit: 'Save changes', password: 'Reset password' };
  setText('user-dialog-title', titles[which]);
  setText('user-submit', buttons[which]);
  const form = $('user-form');
  form.querySelector('[data-create]').hidden = !creating;
  form.querySelector('[data-password]').hidden = which === 'edit';
  form.querySelector('[data-type]').hidden = which === 'password';
  form.querySelector('[data-scopes]').hidden = which === 'password';
  setText('user-password-hint', creating
    ? '8 to 1,024 characters. Pass it on to the person over a channel you trust.'
    : '8 to 1,024 characters. Every session and JWT of theirs stops working; their API keys go on.');
  $('user-name').value = '';
  $('user-password').value = '';
  $('user-type').value = user ? user.type : 'user';
  $('user-scope-list').replaceChildren();
  if (user && user.type !== 'admin') {
    const { config } = context();
    $('user-scope-list').replaceChildren(...scopeChecks('user-scope', config.scopes, {
      checked: user.scopes,
      disabled: (scope) => (scope.admin_only ? 'for admins only' : ''),
    }));
  } else {
    syncType();
  }
  initial = snapshot();
  showError('user-error', '');
  const dialog = $('user-dialog');
  dialog.returnFocusTo = () => focusUser(user ? user.username : '');
  dialog.showModal();
  (creating ? $('user-name') : (which === 'edit' ? $('user-type') : $('user-password'))).focus();
}

async function onSubmit(event) {
  event.preventDefault();
  let body;
  let call;
  if (mode === 'create') {
    body = { username: $('user-name').value.trim(), password: $('user-password').value,
      type: $('user-type').value };
    if (body.type !== 'admin') body.scopes = chosenScopes();
    call = () => request('POST', '/users', { json: body });
  } else {
    body = mode === 'password' ? { password: $('user-password').value }
      : { type: $('user-type').value };
    if (mode === 'edit' && body.type !== 'admin') body.scopes = chosenScopes();
    call = () => request('PATCH', `/users/${encodeURIComponent(target.username)}`, { json: body });
  }
  const submit = $('user-submit');
  submit.disabled = true;
  showError('user-error', '');
  try {
    const saved = await call();
    initial = null;
    const done = { create: `Created ${saved.username}.`, edit: `Saved ${saved.username}.`,
      password: `Reset the password of ${saved.username}.` }[mode];
    $('user-dialog').returnFocusTo = null;
    closeDialog($('user-dialog'));
    await loadUsers();
    setText('users-status', done);
    focusUser(saved.username);
  } catch (err) {
    showError('user-error', describe(err));
    submit.focus();
  } finally {
    submit.disabled = false;
  }
}

async function remove(user) {
  let tokens = 'their tokens';
  try {
    const page = await request('GET', `/tokens?limit=1&user=${encodeURIComponent(user.username)}`);
    tokens = page.total === 1 ? 'their 1 token' : `their ${page.total} tokens`;
  } catch {
    // The count is a courtesy; the confirmation still says what happens.
  }
  confirmAction({
    title: `Delete ${user.username}?`,
    text: `${user.username} can no longer sign in, and ${tokens} stop working at once: `
      + 'they are invalidated and stay listed without an owner. This cannot be undone.',
    ok: 'Delete user',
    run: () => request('DELETE', `/users/${encodeURIComponent(user.username)}`),
    done: async () => {
      await loadUsers();
      setText('users-status', `Deleted ${user.username}.`);
      focusUser('');
    },
    returnFocus: () => focusUser(user.username),
  });
}

// ---- The view ---------------------------------------------------------------------------

export function showUsers() {
  loadUsers({ at: 0 });
}

export function resetUsers() {
  $('users-body').replaceChildren();
  $('users-filters').reset();
  offset = 0;
}

export function initUsers(options) {
  context = options.context;
  $('new-user').addEventListener('click', () => openDialog('create'));
  $('users-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    loadUsers({ at: 0 });
  });
  $('users-q').addEventListener('input', debounce(() => loadUsers({ at: 0 })));
  const dialog = $('user-dialog');
  guardChanges(dialog, 'user-discard', () => initial !== null && snapshot() !== initial);
  returnFocusOnClose(dialog);
  $('user-form').addEventListener('submit', onSubmit);
  $('user-cancel').addEventListener('click', () => closeDialog(dialog));
  $('user-type').addEventListener('change', syncType);
}

// The token dialog (create and edit share one form) and the dialog that shows a new
// token's Client ID, Client Secret and API Key, once.

import { describe, request } from './api.js';
import { TIME_ZONE, daysFromNow, localInputToUtc, toLocalInput } from './format.js';
import { pipesChange, pipesToText } from './pipe-limit.js';
import {
  $, closeDialog, copyText, focusToken, guardChanges, keepOpen, returnFocusOnClose, scopeChecks,
  setText, showError,
} from './ui.js';

let hooks = null; // { context: () => ({ me, config }), changed: async (message, id) => void }
let editing = null; // the token being edited; null while creating
let initial = null; // the form's starting values, to send only what changed
let acknowledged = true; // false while a new secret is on screen and not confirmed copied

function scopeBoxes() {
  return [...$('scope-list').querySelectorAll('input[type="checkbox"]')];
}

function chosenScopes() {
  return scopeBoxes().filter((box) => box.checked).map((box) => box.value);
}

function syncNever() {
  $('token-expiration').disabled = $('token-never').checked;
}

function fillScopes(held, checked) {
  const { config } = hooks.context();
  const offered = config.scopes.filter((s) => held.includes(s.name) || checked.includes(s.name));
  $('scope-list').replaceChildren(...scopeChecks('scope', offered, {
    checked,
    // Kept on the token, but not the person's to give.
    disabled: (scope) => (held.includes(scope.name) ? '' : 'you do not hold this scope'),
  }));
  syncScopes();
}

/** Least privilege: nothing is created without a scope; an admin scope says what it gives. */
function syncScopes() {
  const { config } = hooks.context();
  const chosen = chosenScopes();
  $('token-submit').disabled = editing === null && chosen.length === 0;
  const admin = config.scopes.filter((s) => s.admin_only && chosen.includes(s.name));
  const warning = $('admin-scope-warning');
  warning.hidden = admin.length === 0;
  const power = chosen.includes('write:users') ? 'can create, change and delete users'
    : 'can list users and read every audit event';
  warning.textContent = admin.length === 0 ? ''
    : `${admin.map((s) => s.name).join(' and ')}: whoever holds this token ${power}.`;
}

function snapshot() {
  return { label: $('token-label').value, expiration: $('token-expiration').value,
    never: $('token-never').checked, scopes: chosenScopes().join(' '),
    pipes: $('token-pipes').value };
}

function changed() {
  if (!initial) return false;
  const now = snapshot();
  return Object.keys(now).some((key) => now[key] !== initial[key]);
}

function open(token) {
  const { me, config } = hooks.context();
  editing = token;
  const now = Date.now();
  const creating = token === null;
  setText('token-dialog-title', creating ? 'New token' : 'Edit token');
  setText('token-submit', creating ? 'Create token' : 'Save changes');
  $('token-label').value = creating ? '' : token.label;
  $('token-label-hint').hidden = !creating;
  const never = creating ? false : token.expiration === null;
  const when = creating ? daysFromNow(config.token_default_ttl_days, now)
    : (token.expiration ? new Date(token.expiration) : daysFromNow(config.token_default_ttl_days, now));
  $('token-expiration').value = toLocalInput(when);
  $('token-expiration').min = toLocalInput(new Date(now));
  if (config.token_max_ttl_days !== null) {
    $('token-expiration').max = toLocalInput(daysFromNow(config.token_max_ttl_days, now));
  } else {
    $('token-expiration').removeAttribute('max');
  }
  $('token-never').checked = never;
  $('never-wrap').hidden = !config.never_expires_allowed && !never;
  const limit = config.token_max_ttl_days === null ? ''
    : ` Tokens must expire within ${config.token_max_ttl_days} days.`;
  setText('token-expiration-hint', `In your time zone, ${TIME_ZONE}.${limit}`);
  syncNever();
  fillScopes(me.scopes, creating ? [] : token.scopes);
  $('token-pipes').value = creating ? '' : pipesToText(token.pipes);
  initial = snapshot();
  showError('token-error', '');
  const dialog = $('token-dialog');
  dialog.returnFocusTo = creating ? $('new-token') : () => focusToken(token.id);
  dialog.showModal();
  $('token-label').focus();
}

/** The request body from the form, or a message saying what to fix. */
function formBody() {
  const body = {};
  const label = $('token-label').value.trim();
  const never = $('token-never').checked;
  const value = $('token-expiration').value;
  if (editing === null) {
    if (label) body.label = label;
  } else if (label !== initial.label) {
    if (!label) return { problem: 'The label cannot be empty.', field: 'token-label' };
    body.label = label;
  }
  const expirationChanged = never !== initial.never || (!never && value !== initial.expiration);
  if (editing === null || expirationChanged) {
    if (never) {
      body.expiration = null;
    } else {
      const utc = localInputToUtc(value);
      if (!utc) {
        return { problem: 'Choose an expiration date and time, or tick Never expires.',
          field: 'token-expiration' };
      }
      body.expiration = utc;
    }
  }
  const scopes = chosenScopes();
  if (editing === null && scopes.length === 0) {
    return { problem: 'Tick at least one scope.', field: 'token-scopes' };
  }
  if (editing === null || scopes.join(' ') !== initial.scopes) body.scopes = scopes;
  const pipes = pipesChange($('token-pipes').value, editing && editing.pipes, editing === null);
  if (pipes !== undefined) body.pipes = pipes;
  return { body };
}

async function onSubmit(event) {
  event.preventDefault();
  const { body, problem, field } = formBody();
  if (problem) {
    showError('token-error', problem);
    ($(field).querySelector('input:not([disabled])') || $(field)).focus();
    return;
  }
  const submit = $('token-submit');
  submit.disabled = true;
  showError('token-error', '');
  try {
    if (editing === null) {
      const created = await request('POST', '/tokens', { json: body });
      initial = null;
      $('token-dialog').returnFocusTo = null;
      closeDialog($('token-dialog'));
      showCreated(created);
      await hooks.changed(`Created “${created.label}”.`, created.id);
    } else if (Object.keys(body).length === 0) {
      closeDialog($('token-dialog'));
      setText('tokens-status', 'Nothing changed.');
    } else {
      const saved = await request('PATCH', `/tokens/${encodeURIComponent(editing.id)}`, { json: body });
      initial = null;
      $('token-dialog').returnFocusTo = null;
      closeDialog($('token-dialog'));
      await hooks.changed(`Saved “${saved.label}”.`, saved.id);
    }
  } catch (err) {
    showError('token-error', describe(err));
    submit.focus();
  } finally {
    submit.disabled = false;
    if ($('token-dialog').open) syncScopes();
  }
}

function showCreated(token) {
  setText('created-id', token.id);
  setText('created-secret', token.secret);
  setText('created-key', token.api_key);
  setText('copy-status', '');
  $('created-ack').checked = false;
  $('created-done').disabled = true;
  acknowledged = false;
  const dialog = $('created-dialog');
  dialog.returnFocusTo = null;
  dialog.showModal();
  $('created-dialog').querySelector('[data-copy]').focus();
}

function closeCreated() {
  if (!$('created-ack').checked) return;
  acknowledged = true;
  const id = $('created-id').textContent;
  // The secret leaves the page with the dialog.
  for (const name of ['created-id', 'created-secret', 'created-key']) setText(name, '');
  closeDialog($('created-dialog'));
  focusToken(id);
}

export function openCreate() {
  open(null);
}

export function openEdit(token) {
  open(token);
}

export function initTokenDialogs(options) {
  hooks = options;
  guardChanges($('token-dialog'), 'token-discard', changed);
  returnFocusOnClose($('token-dialog'));
  $('scope-list').addEventListener('change', syncScopes);
  $('token-form').addEventListener('submit', onSubmit);
  $('token-cancel').addEventListener('click', () => closeDialog($('token-dialog')));
  $('token-never').addEventListener('change', syncNever);
  $('scopes-none').addEventListener('click', () => {
    for (const box of scopeBoxes()) if (!box.disabled) box.checked = false;
    syncScopes();
  });
  const created = $('created-dialog');
  keepOpen(created, () => !acknowledged);
  for (const button of created.querySelectorAll('[data-copy]')) {
    button.addEventListener('click',
      () => copyText($(button.dataset.copy), button, 'copy-status'));
  }
  $('created-ack').addEventListener('change', () => {
    $('created-done').disabled = !$('created-ack').checked;
  });
  $('created-done').addEventListener('click', closeCreated);
}

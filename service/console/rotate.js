// Token lifecycle in the console: the row menu's Rotate (ask the overlap, then show the new
// secret once), the expiry warning beside a token's expiration, and where a token was used.
// Its dialogs are built here, so the page and the other dialogs need not know of them.

import { describe, request } from './api.js';
import { dateTime, relative } from './format.js';
import {
  $, closeDialog, copyText, el, focusToken, keepOpen, returnFocusOnClose, setText, showError,
} from './ui.js';

const DAY_MS = 24 * 3600e3;
// The overlaps offered, in seconds; the API takes 0 to 30 days.
const OVERLAPS = [
  [0, 'None: the old secret stops now (it leaked)'],
  [1800, '30 minutes'],
  [3600, '1 hour'],
  [86400, '1 day'],
  [7 * 86400, '7 days'],
  [30 * 86400, '30 days'],
];
const DEFAULT_OVERLAP = 3600;

let hooks = null; // { changed(message, tokenId) }
let pending = null; // the token being rotated
let acknowledged = true;

// ---- Expiry warning and recent sources (for the table) -------------------------------

/** "Expires in 3 days" as a badge when the token is valid and expires within the warning
 *  days of /config (TOKEN_EXPIRY_WARNING_DAYS); null otherwise. */
export function expiryBadge(token, config, now = Date.now()) {
  if (!token.is_valid || token.expiration === null) return null;
  const days = config && Number.isInteger(config.token_expiry_warning_days)
    ? config.token_expiry_warning_days : 7;
  const left = new Date(token.expiration).getTime() - now;
  if (left > days * DAY_MS) return null;
  return el('span', { className: 'badge warn expiry', title: dateTime(token.expiration) },
    `Expires ${relative(token.expiration, now)}`);
}

/** The addresses a token was last used from, newest first, folded under a summary. */
export function sourcesDetails(token) {
  const sources = token.recent_sources || [];
  if (!sources.length) return null;
  const items = sources.map((source) => el('li', {}, el('code', {}, source.address), ' ',
    el('time', { dateTime: source.last_seen_at, className: 'muted small' },
      dateTime(source.last_seen_at))));
  const count = sources.length === 1 ? '1 address' : `${sources.length} addresses`;
  return el('details', { className: 'sources' }, el('summary', {}, `From ${count}`),
    el('ul', { ariaLabel: `Where ${token.label} was used` }, ...items));
}

// ---- Rotate --------------------------------------------------------------------------

function build() {
  const select = el('select', { id: 'rotate-overlap', name: 'overlap' },
    ...OVERLAPS.map(([seconds, text]) => el('option', { value: String(seconds),
      selected: seconds === DEFAULT_OVERLAP }, text)));
  select.setAttribute('aria-describedby', 'rotate-overlap-hint');
  const ask = el('dialog', { id: 'rotate-dialog', ariaLabelledby: 'rotate-title',
    ariaModal: 'true' },
  el('form', { id: 'rotate-form', method: 'post', action: '/console', noValidate: true },
    el('h2', { id: 'rotate-title' }, 'Rotate token'),
    el('p', { id: 'rotate-text' }),
    el('div', { className: 'field' },
      el('label', { htmlFor: 'rotate-overlap' }, 'Old secret keeps working for'), select,
      el('p', { id: 'rotate-overlap-hint', className: 'hint' },
        'Devices using the old secret are told, on each answer, when it stops. '
        + 'With none, the old secret and every JWT issued with it stop at once.')),
    el('p', { id: 'rotate-error', className: 'error', role: 'alert', ariaLive: 'assertive' }),
    el('div', { className: 'actions' },
      el('button', { type: 'button', id: 'rotate-cancel', className: 'quiet' }, 'Cancel'),
      el('button', { type: 'submit', id: 'rotate-submit', className: 'primary' }, 'Rotate secret'))));

  const secret = (id, name, copyLabel) => el('div', { className: 'secret', role: 'group',
    ariaLabelledby: `${id}-name` },
  el('span', { className: 'secret-name', id: `${id}-name` }, name),
  el('code', { id, className: 'secret-value' }),
  el('button', { type: 'button', className: 'quiet small' }, copyLabel));
  const shown = el('dialog', { id: 'rotated-dialog', ariaLabelledby: 'rotated-title',
    ariaDescribedby: 'rotated-warning', ariaModal: 'true' },
  el('h2', { id: 'rotated-title' }, 'Token rotated'),
  el('p', { id: 'rotated-warning', className: 'warning' },
    el('strong', {}, 'Copy the new Client Secret and API Key now.'),
    ' They are shown only this once and cannot be shown again.'),
  el('p', { id: 'rotated-previous' }),
  secret('rotated-id', 'Client ID', 'Copy client ID'),
  secret('rotated-secret', 'Client Secret', 'Copy client secret'),
  secret('rotated-key', 'API Key', 'Copy API key'),
  el('p', { id: 'rotated-copy-status', className: 'status', role: 'status',
    ariaLive: 'polite' }),
  el('label', { className: 'check' }, el('input', { type: 'checkbox', id: 'rotated-ack' }),
    ' I have copied the secret and the API key'),
  el('div', { className: 'actions' },
    el('button', { type: 'button', id: 'rotated-done', className: 'primary', disabled: true },
      'Done')));
  shown.setAttribute('closedby', 'none');
  document.body.append(ask, shown);

  returnFocusOnClose(ask);
  $('rotate-form').addEventListener('submit', onSubmit);
  $('rotate-cancel').addEventListener('click', () => closeDialog(ask));
  ask.addEventListener('close', () => { pending = null; });
  keepOpen(shown, () => !acknowledged);
  for (const group of shown.querySelectorAll('.secret')) {
    const button = group.querySelector('button');
    button.addEventListener('click',
      () => copyText(group.querySelector('code'), button, 'rotated-copy-status'));
  }
  $('rotated-ack').addEventListener('change', () => {
    $('rotated-done').disabled = !$('rotated-ack').checked;
  });
  $('rotated-done').addEventListener('click', closeShown);
}

export function openRotate(token) {
  if (!$('rotate-dialog')) build();
  pending = token;
  setText('rotate-title', `Rotate “${token.label}”`);
  setText('rotate-text', 'The token gets a new secret and API key; its ID, scopes and '
    + 'expiration stay.');
  $('rotate-overlap').value = String(DEFAULT_OVERLAP);
  showError('rotate-error', '');
  const dialog = $('rotate-dialog');
  dialog.returnFocusTo = () => focusToken(token.id);
  dialog.showModal();
  $('rotate-overlap').focus();
}

async function onSubmit(event) {
  event.preventDefault();
  const token = pending;
  if (!token) return;
  const submit = $('rotate-submit');
  submit.disabled = true;
  showError('rotate-error', '');
  try {
    const overlap = Number($('rotate-overlap').value);
    const out = await request('POST', `/tokens/${encodeURIComponent(token.id)}/rotate`,
      { json: { overlap_seconds: overlap } });
    const dialog = $('rotate-dialog');
    dialog.returnFocusTo = null;
    closeDialog(dialog);
    show(out);
    await hooks.changed(`Rotated “${out.label}”.`, out.id);
  } catch (err) {
    showError('rotate-error', describe(err));
    submit.focus();
  } finally {
    submit.disabled = false;
  }
}

function show(token) {
  setText('rotated-id', token.id);
  setText('rotated-secret', token.secret);
  setText('rotated-key', token.api_key);
  setText('rotated-previous', token.previous_secret_expires_at
    ? `The old secret works until ${dateTime(token.previous_secret_expires_at)} `
      + `(${relative(token.previous_secret_expires_at)}).`
    : 'The old secret no longer works.');
  setText('rotated-copy-status', '');
  $('rotated-ack').checked = false;
  $('rotated-done').disabled = true;
  acknowledged = false;
  $('rotated-dialog').showModal();
  $('rotated-dialog').querySelector('.secret button').focus();
}

function closeShown() {
  if (!$('rotated-ack').checked) return;
  acknowledged = true;
  const id = $('rotated-id').textContent;
  // The secret leaves the page with the dialog.
  for (const name of ['rotated-id', 'rotated-secret', 'rotated-key']) setText(name, '');
  closeDialog($('rotated-dialog'));
  focusToken(id);
}

/** Remember the hooks (the row menu of tokens.js offers Rotate for valid tokens). */
export function initRotate(options) {
  hooks = options;
}

// Small DOM helpers. Text goes in as text nodes; nothing here parses HTML.

import { describe } from './api.js';

export const $ = (id) => document.getElementById(id);

/** An element with properties (aria* become aria-* attributes) and text or node children. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key.startsWith('aria')) {
      node.setAttribute(`aria-${key.slice(4).toLowerCase()}`, value);
    } else {
      node[key] = value;
    }
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Focus a token's row (its menu button), or the New token button when the row is gone. */
export function focusToken(tokenId) {
  const button = tokenId
    ? document.querySelector(`button[data-token-id="${CSS.escape(tokenId)}"]`) : null;
  (button || $('new-token')).focus();
}

/** A set of checkboxes, one per scope, with its description and "for admins only" mark. */
export function scopeChecks(listId, scopes, { checked = [], disabled = () => false } = {}) {
  return scopes.map((scope, i) => {
    const box = el('input', { type: 'checkbox', value: scope.name,
      checked: checked.includes(scope.name) });
    box.id = `${listId}-${i}`;
    const hint = el('span', { className: 'hint', id: `${listId}-hint-${i}` }, scope.description);
    box.setAttribute('aria-describedby', hint.id);
    const why = disabled(scope);
    if (why) {
      box.disabled = true;
      hint.append(` (${why})`);
    }
    const name = el('label', { className: 'check' }, box, ` ${scope.name}`);
    if (scope.admin_only) name.append(' ', el('span', { className: 'tag' }, 'admins only'));
    return el('div', { className: 'scope' }, name, hint);
  });
}

/** `run` once typing has paused for `ms`. */
export function debounce(run, ms = 300) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(run, ms);
  };
}

export function setText(id, text) {
  $(id).textContent = text;
}

/** Show (or, with '', clear) an error in words in the alert region next to the action. */
export function showError(id, text) {
  const node = $(id);
  node.textContent = text;
  node.hidden = !text;
}

/**
 * Keep a modal dialog open while `keep()` is true: Escape is refused, and should the
 * browser close it anyway (Chrome lets a second Escape through), it is opened again.
 */
export function keepOpen(dialog, keep, onKept = () => {}) {
  dialog.addEventListener('cancel', (event) => {
    if (keep()) {
      event.preventDefault();
      onKept();
    }
  });
  dialog.addEventListener('close', () => {
    const deliberate = dialog.dataset.closing === 'yes';
    delete dialog.dataset.closing;
    if (keep() && !deliberate) {
      dialog.showModal();
      onKept();
    }
  });
}

/**
 * Escape on a form dialog with something typed asks first: "Discard your changes?" in
 * the dialog's footer (`promptId`), Keep editing focused. `changed()` says whether anything
 * differs from how the dialog opened.
 */
export function guardChanges(dialog, promptId, changed) {
  const prompt = $(promptId);
  let discarding = false;
  const ask = () => {
    prompt.hidden = false;
    prompt.querySelector('[data-keep]').focus();
  };
  // Registered before `returnFocusOnClose`, so a dialog kept open still knows where to go.
  keepOpen(dialog, () => !discarding && changed(), ask);
  prompt.querySelector('[data-keep]').addEventListener('click', () => {
    prompt.hidden = true;
    const fields = dialog.querySelectorAll('input:not([disabled]), select');
    const first = [...fields].find((node) => node.getClientRects().length > 0);
    if (first) first.focus();
  });
  prompt.querySelector('[data-discard]').addEventListener('click', () => {
    discarding = true;
    closeDialog(dialog);
    discarding = false;
  });
  dialog.addEventListener('close', () => { if (!dialog.open) prompt.hidden = true; });
}

/** Close a dialog on purpose (past `keepOpen`). */
export function closeDialog(dialog) {
  if (!dialog.open) return;
  // Read (and cleared) by keepOpen's listener: the close event comes a task later.
  dialog.dataset.closing = 'yes';
  dialog.close();
}

/** Where focus goes when a dialog closes, however it closes. */
export function returnFocusOnClose(dialog) {
  dialog.addEventListener('close', () => {
    const target = dialog.returnFocusTo;
    if (dialog.open || !target) return;
    dialog.returnFocusTo = null;
    // After the browser's own focus restoration, which would otherwise win.
    setTimeout(() => { if (typeof target === 'function') target(); else target.focus(); }, 0);
  });
}

let pendingConfirm = null;

async function onConfirm() {
  const action = pendingConfirm;
  if (!action) return;
  const ok = $('confirm-ok');
  const cancel = $('confirm-cancel');
  ok.disabled = true;
  cancel.disabled = true;
  showError('confirm-error', '');
  try {
    await action.run();
    pendingConfirm = null;
    $('confirm-dialog').returnFocusTo = null;
    closeDialog($('confirm-dialog'));
    await action.done();
  } catch (err) {
    showError('confirm-error', describe(err));
    ok.focus();
  } finally {
    ok.disabled = false;
    cancel.disabled = false;
  }
}

export function initConfirm() {
  const dialog = $('confirm-dialog');
  returnFocusOnClose(dialog);
  $('confirm-ok').addEventListener('click', onConfirm);
  $('confirm-cancel').addEventListener('click', () => closeDialog(dialog));
  dialog.addEventListener('close', () => { pendingConfirm = null; });
}

/**
 * Ask before a destructive action; the button says what it does (`ok`, e.g. "Delete
 * token"); errors stay in the dialog, next to it.
 */
export function confirmAction({ title, text, ok, run, done, returnFocus }) {
  pendingConfirm = { run, done };
  setText('confirm-title', title);
  setText('confirm-text', text);
  setText('confirm-ok', ok);
  showError('confirm-error', '');
  const dialog = $('confirm-dialog');
  dialog.returnFocusTo = returnFocus;
  dialog.showModal();
  $('confirm-cancel').focus(); // the safe choice has the focus
}

/** Copy `source`'s text, saying so in `statusId`; without clipboard access, select it so
 *  that Ctrl+C copies it. `button` names what is copied ("Copy API key"). */
export async function copyText(source, button, statusId) {
  const what = button.textContent.replace(/^Copy /, '');
  try {
    await navigator.clipboard.writeText(source.textContent);
    setText(statusId, `Copied the ${what}.`);
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    setText(statusId, `Could not copy the ${what} automatically: it is selected, press Ctrl+C.`);
  }
}

// The one row menu (the ⋯ button on each row of a table), its items made for the row.
// Arrow keys, Home and End move; Escape and Tab close it; focus returns to the button.

import { $, el } from './ui.js';

let open = null; // { button } while the menu is open

function items() {
  return [...$('row-menu').querySelectorAll('[role="menuitem"]')];
}

export function closeMenu(refocus) {
  if (!open) return;
  const { button } = open;
  open = null;
  $('row-menu').hidden = true;
  button.setAttribute('aria-expanded', 'false');
  if (refocus) button.focus();
}

/** Open the menu under `button` with `entries`: [{ label, run, danger? }]. */
export function openMenu(button, label, entries) {
  if (open && open.button === button) {
    closeMenu(true);
    return;
  }
  closeMenu(false);
  const menu = $('row-menu');
  menu.replaceChildren(...entries.map((entry) => {
    const item = el('button', { type: 'button', tabIndex: -1,
      className: entry.danger ? 'danger' : '' }, entry.label);
    item.setAttribute('role', 'menuitem');
    item.addEventListener('click', () => {
      closeMenu(false);
      entry.run();
    });
    return item;
  }));
  menu.setAttribute('aria-label', label);
  open = { button };
  button.setAttribute('aria-expanded', 'true');
  menu.hidden = false;
  const box = button.getBoundingClientRect();
  const width = menu.offsetWidth;
  const left = Math.max(8, Math.min(box.right - width, window.innerWidth - width - 8));
  menu.style.left = `${left + window.scrollX}px`;
  menu.style.top = `${box.bottom + window.scrollY + 4}px`;
  items()[0].focus();
}

/** A row's ⋯ button, opening the menu with what `entries()` returns at that moment. */
export function menuButton(label, entries) {
  const button = el('button', {
    type: 'button', className: 'quiet menu-button', ariaLabel: label, ariaHasPopup: 'menu',
    ariaExpanded: 'false',
  }, el('span', { ariaHidden: 'true' }, '⋯'));
  button.setAttribute('aria-controls', 'row-menu');
  button.addEventListener('click', () => openMenu(button, label, entries()));
  return button;
}

function onKey(event) {
  const list = items();
  const index = list.indexOf(document.activeElement);
  const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: list.length - 1 };
  if (event.key in moves) {
    event.preventDefault();
    list[(moves[event.key] + list.length) % list.length].focus();
  } else if (event.key === 'Escape') {
    event.preventDefault();
    closeMenu(true);
  } else if (event.key === 'Tab') {
    closeMenu(true);
  }
}

export function initMenu() {
  const menu = $('row-menu');
  menu.addEventListener('keydown', onKey);
  document.addEventListener('click', (event) => {
    if (open && !menu.contains(event.target) && !open.button.contains(event.target)) {
      closeMenu(false);
    }
  });
}

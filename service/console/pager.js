// Paging that says where you are: "41–60 of 150", Previous and Next.

import { el } from './ui.js';

/**
 * Fill `nav` for a page `{ total, limit, offset }` of `noun` ("tokens"); `go(offset)` loads
 * another. Returns the words, for a status line.
 */
export function renderPager(nav, page, noun, go) {
  const { total, limit, offset } = page;
  const shown = page.items.length;
  const words = total === 0 ? `No ${noun}.`
    : `${offset + 1}–${offset + shown} of ${total} ${noun}`;
  const pages = Math.max(1, Math.ceil(total / limit));
  const current = Math.floor(offset / limit) + 1;
  const prev = el('button', { type: 'button', className: 'quiet small', disabled: offset === 0 },
    'Previous page');
  const next = el('button', { type: 'button', className: 'quiet small',
    disabled: offset + shown >= total }, 'Next page');
  prev.addEventListener('click', () => go(Math.max(0, offset - limit)));
  next.addEventListener('click', () => go(offset + limit));
  // One page: where you are is all there is to say.
  nav.replaceChildren(el('span', { className: 'where' }, words,
    total > limit ? ` · page ${current} of ${pages}` : ''), ...(pages > 1 ? [prev, next] : []));
  nav.hidden = pages === 1; // the status line above says it already
  return words;
}

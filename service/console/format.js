// Times for people: shown in the browser's time zone, sent to the API in UTC.

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: 'always' });
const UNITS = [
  ['year', 365 * 24 * 3600e3],
  ['month', 30 * 24 * 3600e3],
  ['day', 24 * 3600e3],
  ['hour', 3600e3],
  ['minute', 60e3],
  ['second', 1e3],
];
const DAY_MS = 24 * 3600e3;

export const TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';

/** "Jan 1, 2030, 12:00 PM" in the browser's time zone and locale. */
export function dateTime(iso) {
  return DATE_TIME.format(new Date(iso));
}

/** "in 3 months", "2 days ago", "now". */
export function relative(iso, now = Date.now()) {
  const diff = new Date(iso).getTime() - now;
  for (const [unit, ms] of UNITS) {
    if (Math.abs(diff) >= ms) {
      return RELATIVE.format(Math.round(diff / ms), unit);
    }
  }
  return RELATIVE.format(0, 'second');
}

function pad(n) {
  return String(n).padStart(2, '0');
}

/** A Date as the value of <input type="datetime-local">, in local time, to the minute. */
export function toLocalInput(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`
    + `T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/**
 * The picker's local choice as UTC ISO 8601 ("2030-01-01T06:30:00.000Z"), or null if invalid.
 * A date-time string without an offset is local time in JavaScript, which is what we want.
 */
export function localInputToUtc(value) {
  if (!/^\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) {
    return null;
  }
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

export function daysFromNow(days, now = Date.now()) {
  return new Date(now + days * DAY_MS);
}

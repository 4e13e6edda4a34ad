// The JSON API, as the console uses it: the session JWT, requests, and errors in words.
//
// The JWT lives in this tab only (memory, mirrored to sessionStorage so a reload keeps
// the person signed in); it is never put in a cookie. When a request answers 401, or the
// JWT has run out, `onSessionEnded` is awaited (the page asks the person to sign in again)
// and the request is sent once more, so nothing they typed is lost.

const SESSION_KEY = 'mrsm-console-session';
const EXPIRY_MARGIN_MS = 5000;

let session = null;
let sessionEnded = null; // async () => void, set by the page
let pendingSignIn = null; // one shared promise while the person signs in again

/** An error answered by the API (or a network failure, status 0). */
export class ApiError extends Error {
  constructor(status, body) {
    const info = body && typeof body === 'object' ? body : {};
    super(info.error_description || `The service answered ${status}.`);
    this.status = status;
    this.code = info.error || 'error';
    this.fields = info.fields || null;
  }
}

export function currentSession() {
  return session;
}

export function setSession(value) {
  session = value;
  if (value) {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  } else {
    sessionStorage.removeItem(SESSION_KEY);
  }
}

/** The session saved by this tab, if it has not run out. */
export function restoreSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    if (saved && typeof saved.token === 'string' && saved.expiresAt - EXPIRY_MARGIN_MS > Date.now()) {
      session = saved;
      return saved;
    }
  } catch {
    // A damaged entry is the same as none.
  }
  sessionStorage.removeItem(SESSION_KEY);
  return null;
}

export function onSessionEnded(handler) {
  sessionEnded = handler;
}

function expired() {
  return !session || session.expiresAt - EXPIRY_MARGIN_MS <= Date.now();
}

async function signInAgain() {
  if (!pendingSignIn) {
    pendingSignIn = Promise.resolve(sessionEnded()).finally(() => { pendingSignIn = null; });
  }
  return pendingSignIn;
}

/** Exchange a username and password for a session (the password grant of /login). */
export async function signIn(username, password) {
  const data = await request('POST', '/login', {
    form: { grant_type: 'password', username, password },
    auth: false,
  });
  const value = {
    token: data.access_token,
    expiresAt: Date.now() + data.expires_in * 1000,
    username,
  };
  setSession(value);
  return value;
}

/**
 * Send a request; resolve to the parsed JSON body (null for 204), or throw ApiError.
 * With `auth`, a missing, expired or refused session makes the person sign in again first.
 * With another `accept` (e.g. text/csv), resolve to the body as text.
 */
export async function request(method, path, {
  json, form, auth = true, accept = 'application/json',
} = {}) {
  for (let attempt = 0; ; attempt += 1) {
    if (auth && expired()) {
      await signInAgain();
    }
    const headers = { Accept: accept };
    let body;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = new URLSearchParams(form);
    }
    if (auth) {
      headers.Authorization = `Bearer ${session.token}`;
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit' });
    } catch {
      throw new ApiError(0, {
        error: 'network',
        error_description: 'The service could not be reached. Check the connection and try again.',
      });
    }
    if (response.status === 401 && auth && attempt < 3) {
      setSession(null);
      await signInAgain();
      continue;
    }
    const text = await response.text();
    if (response.ok && accept !== 'application/json') return text;
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, data);
    }
    return data;
  }
}

function flatten(value, prefix, out) {
  if (Array.isArray(value) && value.every((v) => typeof v !== 'object' || v === null)) {
    out.push(`${prefix}: ${value.join('; ')}`);
  } else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      flatten(inner, prefix && key !== '_schema' ? `${prefix} ${key}` : key, out);
    }
  } else {
    out.push(`${prefix}: ${value}`);
  }
}

/** An error in words: the API's description, then what was wrong with each field. */
export function describe(err) {
  if (!(err instanceof ApiError)) {
    return `Something went wrong: ${err && err.message ? err.message : err}`;
  }
  const parts = [err.message];
  if (err.fields) {
    const lines = [];
    flatten(err.fields, '', lines);
    parts.push(...lines.map((line) => line.replace(/^_schema: /, '')));
  }
  return parts.join(' ');
}

// The API over fetch: the bearer token on every call, one refresh (with the refresh token)
// when the access token has expired, and every failure as an ApiError carrying the
// envelope's code ({"error": {"code", "message", "request_id"}}).
import { config } from "./config.js";

const STORE = "parlor.session";
const SIGNED_OUT = new Set(["session_revoked", "session_expired", "refresh_token_reused", "invalid_token"]);
let session = readSession();
let refreshing = null;
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, code, message, requestId = null, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }
}

function readSession() {
  try {
    return JSON.parse(localStorage.getItem(STORE)) || null;
  } catch {
    return null;
  }
}

export function currentSession() {
  return session;
}

export function me() {
  return session ? session.user : null;
}

/** Called with the session (or null) whenever someone signs in or out. */
export function onSessionChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Sign in with an AuthOut answer, or out with null (`why`: the ApiError that ended the session). */
export function setSession(auth, why = null) {
  session = auth ? { token: auth.token, refresh_token: auth.refresh_token, user: auth.user } : null;
  if (session) localStorage.setItem(STORE, JSON.stringify(session));
  else localStorage.removeItem(STORE);
  for (const listener of listeners) listener(session, why);
}

export function updateUser(user) {
  if (!session) return;
  session = { ...session, user };
  localStorage.setItem(STORE, JSON.stringify(session));
  for (const listener of listeners) listener(session);
}

async function send(method, url, body, token, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (token) init.headers.Authorization = `Bearer ${token}`;
  let reply;
  try {
    reply = await fetch(url, init);
  } catch (cause) {
    throw new ApiError(0, "network_error", `Cannot reach ${url}: ${cause.message}`);
  }
  if (reply.status === 204) return null;
  let data = null;
  try {
    data = await reply.json();
  } catch {
    data = null;
  }
  if (!reply.ok) {
    const error = (data && data.error) || {};
    const retry = reply.headers.get("Retry-After");
    throw new ApiError(reply.status, error.code || `http_${reply.status}`, error.message || reply.statusText,
      error.request_id || reply.headers.get("X-Request-Id"), retry ? Number(retry) : null);
  }
  return data;
}

// One refresh at a time: a refresh token works once, and a second use of it signs the session out.
function refresh() {
  if (!refreshing) {
    const spent = session && session.refresh_token;
    refreshing = send("POST", `${config.api_url}/v1/sessions/refresh`, { refresh_token: spent })
      .then((auth) => setSession(auth))
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** Call the API: `path` is "/v1/..." or an absolute URL the API gave (a media offer URL). */
export async function api(method, path, body, { auth = true, headers = {} } = {}) {
  const url = /^https?:/.test(path) ? path : config.api_url + path;
  if (refreshing) await refreshing.catch(() => {});
  const token = auth && session ? session.token : null;
  try {
    return await send(method, url, body, token, headers);
  } catch (error) {
    if (!(error instanceof ApiError) || !token) throw error;
    if (error.code === "token_expired" && session && session.refresh_token) {
      try {
        if (session.token === token) await refresh();
        else if (refreshing) await refreshing;
      } catch (refused) {
        if (refused instanceof ApiError && refused.status === 401) setSession(null, refused);
        throw refused;
      }
      return send(method, url, body, session ? session.token : null, headers);
    }
    if (SIGNED_OUT.has(error.code)) setSession(null, error);
    throw error;
  }
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const put = (path, body) => api("PUT", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path, body) => api("DELETE", path, body);

/** Every item of a paged list (`{<key>: [...], next_cursor}`), up to `maxPages` pages. */
export async function all(path, key, maxPages = 10) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page += 1) {
    const sep = path.includes("?") ? "&" : "?";
    const data = await get(cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    items.push(...data[key]);
    cursor = data.next_cursor;
    if (!cursor) break;
  }
  return items;
}

const users = new Map();

/** A user's public profile, fetched once per page load. */
export function user(id) {
  if (!users.has(id)) {
    users.set(id, get(`/v1/users/${encodeURIComponent(id)}`).catch((error) => {
      users.delete(id);
      throw error;
    }));
  }
  return users.get(id);
}

export function forgetUser(id) {
  users.delete(id);
}

// The scanner page's GraphQL client over fetch, the staff session (tokens in sessionStorage:
// gone with the tab; the access token renewed with the refresh token on HTTP 401), and this
// browser's device id (localStorage).

const SESSION_KEY = "kizuna.scanner.session";
const DEVICE_KEY = "kizuna.scanner.deviceId";
const GRAPHQL_URL = new URL("graphql", document.baseURI).href;
const RETRY_DELAYS_MS = [700, 2000];

// ---------------------------------------------------------------- GraphQL documents
// The server trusts these texts under the allow-list of trusted documents and reads them
// from here (api/builtin_operations.py): keep each one `const NAME = `…`;` on its own.

const TOKEN_FIELDS = `accessToken refreshToken accessTokenExpiresAt
  errors { code message retryAfterSeconds }`;
export const TOKEN_CREATE = `mutation ScannerSignIn($input: TokenCreateInput!) {
  tokenCreate(input: $input) { ${TOKEN_FIELDS} } }`;
const TOKEN_REFRESH = `mutation ScannerRefresh($input: TokenRefreshInput!) {
  tokenRefresh(input: $input) { ${TOKEN_FIELDS} } }`;
const TOKEN_REVOKE = `mutation ScannerSignOut($input: TokenRefreshInput!) {
  tokenRevoke(input: $input) { revoked errors { code } } }`;
export const VIEWER = `query ScannerViewer { viewer { __typename ... on Staff { name store { name code } } } }`;
export const VOUCHER_CHECK = `mutation ScannerCheck($input: VoucherCheckInput!) { voucherCheck(input: $input) {
  redeemable
  reason { code message }
  voucher { id code status kind title amountOff percentOff currency productSku minOrderTotal expiresAt
            member { firstName tier }
            redemption { redeemedAt orderReference store { name code } } }
  errors { code message field retryAfterSeconds } } }`;
export const VOUCHER_REDEEM = `mutation ScannerRedeem($input: VoucherRedeemInput!) { voucherRedeem(input: $input) {
  replayed discount
  voucher { id code status title kind amountOff percentOff currency member { firstName tier }
            redemption { redeemedAt orderReference orderTotal store { name code } } }
  errors { code message field retryAfterSeconds } } }`;

// ---------------------------------------------------------------- storage

export function readJson(storage, key) {
  try {
    const raw = storage.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

export function writeJson(storage, key, value) {
  try {
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, JSON.stringify(value));
  } catch {
    // Private mode or storage full: the page still works for this tab.
  }
}

export function newId() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

let memoryDeviceId = null;
export function deviceId() {
  try {
    let id = localStorage.getItem(DEVICE_KEY);
    if (!id) {
      id = newId();
      localStorage.setItem(DEVICE_KEY, id);
    }
    return id;
  } catch {
    memoryDeviceId ??= newId();
    return memoryDeviceId;
  }
}

// ---------------------------------------------------------------- session

const session = {
  current: null, // { accessToken, refreshToken, accessTokenExpiresAt }
  refreshing: null, // the one refresh in flight (refresh tokens are single use)
  onEnded: () => {},
};

// `handler(message)` runs whenever the session ends without the user asking (expired, revoked).
export function onSessionEnded(handler) {
  session.onEnded = handler;
}

export function saveSession(payload) {
  session.current = {
    accessToken: payload.accessToken,
    refreshToken: payload.refreshToken,
    accessTokenExpiresAt: payload.accessTokenExpiresAt ?? null,
  };
  writeJson(sessionStorage, SESSION_KEY, session.current);
}

// True when this tab still holds a session from before a reload.
export function restoreSession() {
  const saved = readJson(sessionStorage, SESSION_KEY);
  if (!saved?.accessToken || !saved?.refreshToken) return false;
  session.current = saved;
  return true;
}

// Forgets the session here and revokes it on the server (best effort).
export function revokeSession() {
  const refreshToken = session.current?.refreshToken;
  session.current = null;
  writeJson(sessionStorage, SESSION_KEY, null);
  if (refreshToken) {
    // The refresh token is the credential here; the access token may have expired already.
    post(TOKEN_REVOKE, { input: { refreshToken } }, null).catch(() => {});
  }
}

// ---------------------------------------------------------------- GraphQL over HTTP

export class ApiError extends Error {
  // kind: "network" | "server" | "session" | "forbidden"; retryable: the outcome is unknown.
  constructor(kind, message, retryable = false) {
    super(message);
    this.kind = kind;
    this.retryable = retryable;
  }
}

export async function post(query, variables, token) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(GRAPHQL_URL, {
      method: "POST", headers, body: JSON.stringify({ query, variables }),
      credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer",
    });
  } catch {
    throw new ApiError("network", "No connection to the server.", true);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { status: response.status, body };
}

function sessionEnded(message = "Your session has ended — please sign in again.") {
  session.current = null;
  writeJson(sessionStorage, SESSION_KEY, null);
  session.onEnded(message);
  return new ApiError("session", message);
}

function refreshSession() {
  if (!session.refreshing) {
    session.refreshing = (async () => {
      const refreshToken = session.current?.refreshToken;
      if (!refreshToken) throw sessionEnded();
      const { status, body } = await post(TOKEN_REFRESH, { input: { refreshToken } }, null);
      const payload = body?.data?.tokenRefresh;
      if (status === 200 && payload?.accessToken) {
        saveSession(payload);
        return;
      }
      if (status === 200 && payload) throw sessionEnded();
      throw new ApiError("server", `The server could not renew the session (HTTP ${status}).`, true);
    })().finally(() => {
      session.refreshing = null;
    });
  }
  return session.refreshing;
}

// Posts a query; on HTTP 401 renews the access token with the refresh token and tries once more.
export async function gql(query, variables, { anonymous = false } = {}) {
  if (!anonymous && !session.current) throw sessionEnded("Please sign in.");
  if (!anonymous && session.refreshing) await session.refreshing;
  let { status, body } = await post(query, variables, anonymous ? null : session.current.accessToken);
  if (status === 401 && !anonymous) {
    await refreshSession();
    ({ status, body } = await post(query, variables, session.current.accessToken));
    if (status === 401) throw sessionEnded();
  }
  if (!body || typeof body !== "object" || (status !== 200 && !body.data)) {
    throw new ApiError("server", `The server could not answer (HTTP ${status}).`, status >= 500);
  }
  const errors = Array.isArray(body.errors) ? body.errors : [];
  // Errors on nested fields leave the rest of the answer usable; a failed root field does not.
  const fatal = errors.filter((error) => !Array.isArray(error.path) || error.path.length <= 1);
  if (fatal.length > 0 || !body.data) {
    const code = fatal[0]?.extensions?.code;
    if (code === "UNAUTHENTICATED") throw sessionEnded();
    if (code === "FORBIDDEN") {
      throw new ApiError("forbidden", "This account may not scan vouchers — sign in with a staff account.");
    }
    const message = fatal[0]?.message || "The server could not answer.";
    throw new ApiError("server", message, /internal server error/i.test(message));
  }
  return body.data;
}

export async function withRetries(call) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof ApiError) || !error.retryable || attempt >= RETRY_DELAYS_MS.length) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[attempt]));
    }
  }
}

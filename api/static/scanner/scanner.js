// Kizuna staff scanner: sign in, scan (or type) a voucher, check it, redeem it once, receipt.
//
// Plain ES module, no build step. Served under a strict Content-Security-Policy with
// Trusted Types enforced: never assign HTML strings to the DOM — text goes through
// textContent only. The QR decoder is the vendored jsQR (global `jsQR`, loaded before us).

import {
  ApiError, TOKEN_CREATE, VIEWER, VOUCHER_CHECK, VOUCHER_REDEEM, deviceId, gql, newId,
  onSessionEnded, readJson, restoreSession, revokeSession, saveSession, withRetries, writeJson,
} from "./api.js";
import {
  countdown, currencyDigits, dayMonth, discountText, groupCode, memberText, money,
  parseMinorUnits, percentText, reasonText, when,
} from "./format.js";

const WHO_KEY = "kizuna.scanner.who";
const LOCK_KEY = "kizuna.scanner.lockedUntil";
const SCAN_INTERVAL_MS = 150;
const MAX_DECODE_WIDTH = 640;
const INT32_MAX = 2147483647;

// ---------------------------------------------------------------- elements

const el = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const ui = {
  views: Array.from(document.querySelectorAll("[data-view]")),
  who: el("who"), staffName: el("staff-name"), storeName: el("store-name"), signOut: el("signout"),
  signInForm: el("signin-form"), email: el("signin-email"), password: el("signin-password"),
  signInError: el("signin-error"), signInSubmit: el("signin-submit"),
  camera: el("camera"), video: el("camera-video"), cameraStatus: el("camera-status"),
  cameraStart: el("camera-start"),
  codeForm: el("code-form"), code: el("code-input"), codeError: el("code-error"),
  codeSubmit: el("code-submit"),
  card: el("result-card"), status: el("result-status"), summary: el("result-summary"),
  member: el("result-member"), reason: el("result-reason"), details: el("result-details"),
  redeemForm: el("redeem-form"), orderReference: el("order-reference"), orderTotal: el("order-total"),
  orderCurrency: el("order-currency"), redeemError: el("redeem-error"), redeemSubmit: el("redeem-submit"),
  dismiss: el("result-dismiss"),
  receiptTitle: el("receipt-title"), receiptDiscount: el("receipt-discount"),
  receiptOrder: el("receipt-order"), receiptTotal: el("receipt-total"), receiptTime: el("receipt-time"),
  receiptStore: el("receipt-store"), receiptCode: el("receipt-code"), receiptMember: el("receipt-member"),
  receiptNote: el("receipt-note"), nextCustomer: el("next-customer"),
};
const canvas = document.createElement("canvas");
const canvasContext = canvas.getContext("2d", { willReadFrequently: true });

const state = {
  view: "",
  stream: null,
  cameraStarting: false,
  scanTimer: 0,
  busy: false,
  current: null, // { input: {payload}|{code}, voucher, redeemable }
  pendingRedeem: null, // { fingerprint, key }: reused when the same checkout is retried
  lockTimer: 0,
};

// ---------------------------------------------------------------- small DOM helpers

function setText(node, text) {
  node.textContent = text ?? "";
}

function showError(node, message) {
  setText(node, message);
  node.hidden = !message;
}

function setDetails(list, rows) {
  list.replaceChildren();
  for (const [term, value] of rows) {
    if (!value) continue;
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = term;
    dd.textContent = value;
    list.append(dt, dd);
  }
}

function setBusy(button, busy, label) {
  button.disabled = busy;
  if (busy) {
    button.dataset.label ??= button.textContent;
    button.textContent = label;
  } else if (button.dataset.label) {
    button.textContent = button.dataset.label;
    delete button.dataset.label;
  }
}

function markInvalid(input, invalid) {
  if (invalid) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function show(view) {
  state.view = view;
  for (const section of ui.views) section.hidden = section.dataset.view !== view;
  const signedIn = view !== "signin";
  ui.signOut.hidden = !signedIn;
  ui.who.hidden = !signedIn || !(ui.staffName.textContent || ui.storeName.textContent);
  if (view !== "scan") stopCamera();
  window.scrollTo(0, 0);
}

function focusHeading(view) {
  const heading = document.querySelector(`[data-view="${view}"] h2`);
  if (!heading) return;
  heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
}

// ---------------------------------------------------------------- session

function setWho(who) {
  const current = readJson(sessionStorage, WHO_KEY) ?? {};
  const next = { ...current, ...who };
  writeJson(sessionStorage, WHO_KEY, next);
  setText(ui.staffName, next.name);
  setText(ui.storeName, next.store ? `${next.store.name}${next.store.code ? ` · ${next.store.code}` : ""}` : "");
  ui.who.hidden = state.view === "signin" || !(next.name || next.store);
}

// Back to the sign-in form (the session is gone already), with `message` if any.
function showSignedOut(message) {
  state.current = null;
  state.pendingRedeem = null;
  writeJson(sessionStorage, WHO_KEY, null);
  setText(ui.staffName, "");
  setText(ui.storeName, "");
  stopLockTimer();
  show("signin");
  showError(ui.signInError, message || "");
}

async function onSignIn(event) {
  event.preventDefault();
  const email = ui.email.value.trim();
  const password = ui.password.value;
  markInvalid(ui.email, !email);
  markInvalid(ui.password, !password);
  if (!email || !password) {
    showError(ui.signInError, "Enter your email and password.");
    return;
  }
  showError(ui.signInError, "");
  setBusy(ui.signInSubmit, true, "Signing in…");
  try {
    const data = await gql(TOKEN_CREATE, { input: { email, password } }, { anonymous: true });
    const payload = data.tokenCreate;
    const error = payload.errors?.[0];
    if (error || !payload.accessToken) {
      showError(ui.signInError, signInErrorText(error));
      return;
    }
    ui.password.value = "";
    saveSession(payload);
    let staff = false;
    try {
      staff = await loadViewer();
    } catch (error) {
      signOut("");
      throw error;
    }
    if (!staff) {
      signOut("This is not a staff account — sign in with your staff account.");
      return;
    }
    enterScanner();
  } catch (error) {
    showError(ui.signInError, error.message || "Could not sign in.");
  } finally {
    setBusy(ui.signInSubmit, false);
  }
}

function signInErrorText(error) {
  switch (error?.code) {
    case "INVALID_CREDENTIALS":
      return "Wrong email or password.";
    case "RATE_LIMITED":
      return `Too many attempts — try again in ${countdown(error.retryAfterSeconds ?? 60)}.`;
    default:
      return error?.message || "Could not sign in.";
  }
}

// Who is signed in; true for a staff account (whose name and store the top bar shows).
async function loadViewer() {
  const data = await gql(VIEWER, {});
  const viewer = data?.viewer;
  if (viewer?.__typename !== "Staff") return false;
  setWho({ name: viewer.name, store: viewer.store ?? null });
  return true;
}

function signOut(message) {
  revokeSession();
  showSignedOut(message);
}

function onSignOut() {
  signOut("");
  ui.email.focus();
}

function enterScanner() {
  const who = readJson(sessionStorage, WHO_KEY);
  if (who) setWho(who);
  show("scan");
  if (lockedSeconds() > 0) showLocked();
  else void startCamera();
}

// ---------------------------------------------------------------- camera and decoding

function setCameraStatus(text) {
  setText(ui.cameraStatus, text);
}

async function startCamera() {
  if (state.stream || state.cameraStarting || state.view !== "scan" || document.hidden) return;
  if (!navigator.mediaDevices?.getUserMedia) {
    setCameraStatus("The camera needs a secure (https) connection — type the code below.");
    return;
  }
  state.cameraStarting = true;
  ui.cameraStart.hidden = true;
  setCameraStatus("Starting the camera…");
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
    });
    if (state.view !== "scan" || document.hidden) {
      stopTracks(stream);
      return;
    }
    state.stream = stream;
    ui.video.srcObject = stream;
    ui.camera.hidden = false;
    await ui.video.play().catch(() => {});
    setCameraStatus("Point the camera at the voucher QR code.");
    scheduleScan();
  } catch (error) {
    ui.cameraStart.hidden = false;
    setCameraStatus(cameraErrorText(error));
  } finally {
    state.cameraStarting = false;
  }
}

function cameraErrorText(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera access was refused — allow it in the browser settings, or type the code.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera found — type the code below.";
    case "NotReadableError":
      return "The camera is busy in another app — close it, or type the code.";
    default:
      return "The camera could not start — type the code below.";
  }
}

function stopTracks(stream) {
  for (const track of stream.getTracks()) track.stop();
}

function stopCamera() {
  clearTimeout(state.scanTimer);
  state.scanTimer = 0;
  if (state.stream) {
    stopTracks(state.stream);
    state.stream = null;
  }
  ui.video.srcObject = null;
  ui.camera.hidden = true;
  if (state.view === "scan") {
    ui.cameraStart.hidden = false;
    setCameraStatus("");
  } else {
    ui.cameraStart.hidden = true;
  }
}

function scheduleScan() {
  clearTimeout(state.scanTimer);
  state.scanTimer = setTimeout(scanFrame, SCAN_INTERVAL_MS);
}

function scanFrame() {
  state.scanTimer = 0;
  if (!state.stream || state.view !== "scan" || state.busy) return;
  let text = null;
  try {
    text = decodeFrame();
  } catch {
    text = null; // a frame the decoder chokes on: try the next one
  }
  if (text) {
    navigator.vibrate?.(60);
    void runCheck({ payload: text });
    return;
  }
  scheduleScan();
}

function decodeFrame() {
  const video = ui.video;
  if (typeof window.jsQR !== "function" || video.readyState < 2 || !video.videoWidth) return null;
  const scale = Math.min(1, MAX_DECODE_WIDTH / video.videoWidth);
  const width = Math.round(video.videoWidth * scale);
  const height = Math.round(video.videoHeight * scale);
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  canvasContext.drawImage(video, 0, 0, width, height);
  const image = canvasContext.getImageData(0, 0, width, height);
  const found = window.jsQR(image.data, width, height, { inversionAttempts: "attemptBoth" });
  return found?.data || null;
}

// ---------------------------------------------------------------- check

async function runCheck(input) {
  if (state.busy) return;
  if (lockedSeconds() > 0) {
    showLocked();
    return;
  }
  state.busy = true;
  stopCamera();
  ui.cameraStart.hidden = true;
  setCameraStatus("Checking…");
  setBusy(ui.codeSubmit, true, "Checking…");
  showError(ui.codeError, "");
  try {
    const data = await gql(VOUCHER_CHECK, { input: { ...input, deviceId: deviceId() } });
    const payload = data.voucherCheck;
    const error = payload.errors?.[0];
    if (error) {
      showCheckError(error, input);
      return;
    }
    state.current = { input, voucher: payload.voucher, redeemable: Boolean(payload.redeemable) };
    state.pendingRedeem = null;
    showCheckResult(payload);
  } catch (error) {
    if (error instanceof ApiError && error.kind === "session") return;
    showProblem("COULD NOT CHECK", error.message || "Something went wrong.");
  } finally {
    state.busy = false;
    setBusy(ui.codeSubmit, false);
    if (state.view === "scan" && !state.stream) {
      ui.cameraStart.hidden = false;
      setCameraStatus("");
    }
  }
}

function resetCard(cardState, statusText) {
  stopLockTimer();
  ui.card.dataset.state = cardState;
  setText(ui.status, statusText);
  setText(ui.summary, "");
  setText(ui.member, "");
  setText(ui.reason, "");
  setDetails(ui.details, []);
  ui.redeemForm.hidden = true;
  showError(ui.redeemError, "");
  ui.dismiss.disabled = false;
  setText(ui.dismiss, "Scan another");
}

function showCheckResult(payload) {
  const voucher = payload.voucher;
  const valid = Boolean(payload.redeemable);
  resetCard(valid ? "valid" : "invalid", valid ? "VALID" : "NOT VALID");
  setText(ui.summary, discountText(voucher));
  setText(ui.member, voucher?.member ? `for ${memberText(voucher.member)}` : "");
  if (!valid) setText(ui.reason, reasonText(payload.reason, voucher));
  setDetails(ui.details, voucherDetails(voucher, valid));
  if (valid) {
    ui.redeemForm.hidden = false;
    ui.orderReference.value = "";
    ui.orderTotal.value = "";
    markInvalid(ui.orderReference, false);
    markInvalid(ui.orderTotal, false);
    setText(ui.orderCurrency, voucher?.currency ? `(${voucher.currency})` : "");
    setText(ui.dismiss, "Cancel");
  }
  show("result");
  focusHeading("result");
}

function voucherDetails(voucher, valid) {
  if (!voucher) return [];
  const rows = [
    ["Voucher", voucher.title],
    ["Code", groupCode(voucher.code)],
  ];
  if (valid && voucher.expiresAt) rows.push(["Valid until", dayMonth(voucher.expiresAt, { withYear: true })]);
  if (voucher.minOrderTotal) rows.push(["Minimum order", money(voucher.minOrderTotal, voucher.currency)]);
  if (!valid && voucher.redemption?.orderReference) rows.push(["Order", voucher.redemption.orderReference]);
  return rows;
}

function showCheckError(error, input) {
  if (error.code === "RATE_LIMITED") {
    lockFor(error.retryAfterSeconds ?? 60);
    return;
  }
  if (input.code !== undefined && error.code === "INVALID_INPUT") {
    show("scan");
    showError(ui.codeError, error.message || "That is not a voucher code.");
    markInvalid(ui.code, true);
    ui.code.focus();
    return;
  }
  const message = error.code === "INVALID_INPUT" && input.payload !== undefined
    ? "This QR code is not a Kizuna voucher."
    : error.message || "The voucher could not be checked.";
  showProblem("NOT VALID", message, "invalid");
}

function showProblem(statusText, message, cardState = "error") {
  resetCard(cardState, statusText);
  setText(ui.reason, message);
  show("result");
  focusHeading("result");
}

// ---------------------------------------------------------------- lock-out after failed scans

function lockedSeconds() {
  const until = Number(readJson(sessionStorage, LOCK_KEY) ?? 0);
  return Math.max(0, (until - Date.now()) / 1000);
}

function lockFor(seconds) {
  writeJson(sessionStorage, LOCK_KEY, Date.now() + Math.max(1, seconds) * 1000);
  showLocked();
}

function stopLockTimer() {
  clearInterval(state.lockTimer);
  state.lockTimer = 0;
}

function showLocked() {
  resetCard("locked", "LOCKED");
  state.current = null;
  ui.dismiss.disabled = true;
  setText(ui.dismiss, "Scan again");
  const tick = () => {
    const left = lockedSeconds();
    if (left <= 0) {
      stopLockTimer();
      writeJson(sessionStorage, LOCK_KEY, null);
      ui.card.dataset.state = "error";
      setText(ui.status, "READY");
      setText(ui.reason, "You can scan again.");
      ui.dismiss.disabled = false;
      return;
    }
    setText(ui.reason, `Too many failed scans — locked for ${countdown(left)}`);
  };
  tick();
  state.lockTimer = setInterval(tick, 1000);
  show("result");
  focusHeading("result");
}

// ---------------------------------------------------------------- redeem

async function onRedeem(event) {
  event.preventDefault();
  const current = state.current;
  if (!current?.redeemable || state.busy) return;
  showError(ui.redeemError, "");
  const orderReference = ui.orderReference.value.trim();
  const digits = currencyDigits(current.voucher?.currency);
  const orderTotal = parseMinorUnits(ui.orderTotal.value, digits);
  markInvalid(ui.orderReference, !orderReference);
  markInvalid(ui.orderTotal, orderTotal === null || orderTotal > INT32_MAX);
  if (!orderReference) {
    showError(ui.redeemError, "Type the order reference from the till.");
    ui.orderReference.focus();
    return;
  }
  if (orderTotal === null) {
    showError(ui.redeemError, `Type the order total like ${(4250 / 10 ** digits).toFixed(digits)}.`);
    ui.orderTotal.focus();
    return;
  }
  if (orderTotal > INT32_MAX) {
    showError(ui.redeemError, "That order total is too large.");
    ui.orderTotal.focus();
    return;
  }
  const checkout = { ...current.input, orderReference, orderTotal };
  const fingerprint = JSON.stringify(checkout);
  // One key per confirmed checkout; the same checkout retried (network trouble) keeps it.
  if (state.pendingRedeem?.fingerprint !== fingerprint) state.pendingRedeem = { fingerprint, key: newId() };
  const input = { ...checkout, idempotencyKey: state.pendingRedeem.key, deviceId: deviceId() };

  state.busy = true;
  setBusy(ui.redeemSubmit, true, "Redeeming…");
  ui.dismiss.disabled = true;
  try {
    const data = await withRetries(() => gql(VOUCHER_REDEEM, { input }));
    const payload = data.voucherRedeem;
    const error = payload.errors?.[0];
    if (error) {
      showRedeemError(error, current.voucher);
      return;
    }
    state.pendingRedeem = null;
    showReceipt(payload, checkout, current.voucher);
  } catch (error) {
    if (error instanceof ApiError && error.kind === "session") return;
    if (error instanceof ApiError && error.retryable) {
      showError(ui.redeemError,
        "No answer from the server, so it is not sure the voucher was redeemed. Press Redeem again:"
        + " it is safe and can never redeem twice.");
    } else {
      showError(ui.redeemError, error.message || "The voucher could not be redeemed.");
    }
  } finally {
    state.busy = false;
    setBusy(ui.redeemSubmit, false);
    ui.dismiss.disabled = false;
  }
}

function showRedeemError(error, voucher) {
  switch (error.code) {
    case "RATE_LIMITED":
      lockFor(error.retryAfterSeconds ?? 60);
      return;
    case "ORDER_TOTAL_TOO_LOW":
      markInvalid(ui.orderTotal, true);
      showError(ui.redeemError, voucher?.minOrderTotal
        ? `The order total must be at least ${money(voucher.minOrderTotal, voucher.currency)}.`
        : error.message || "The order total is too low for this voucher.");
      ui.orderTotal.focus();
      return;
    case "INVALID_INPUT": {
      const field = (error.field ?? []).join(".");
      if (/orderTotal/.test(field)) markInvalid(ui.orderTotal, true);
      if (/orderReference/.test(field)) markInvalid(ui.orderReference, true);
      showError(ui.redeemError, error.message || "Check the order reference and total.");
      return;
    }
    case "IDEMPOTENCY_CONFLICT":
      state.pendingRedeem = null;
      showError(ui.redeemError, "This checkout was already sent with other details. Press Redeem again.");
      return;
    default: {
      // The voucher itself is not redeemable (any more): the card turns red.
      state.current = null;
      resetCard("invalid", "NOT VALID");
      setText(ui.summary, discountText(voucher));
      setText(ui.member, voucher?.member ? `for ${memberText(voucher.member)}` : "");
      const text = error.code === "ALREADY_REDEEMED"
        ? error.message || "Already redeemed"
        : reasonText({ code: error.code, message: error.message }, voucher);
      setText(ui.reason, text);
      setDetails(ui.details, voucherDetails(voucher, false));
      focusHeading("result");
    }
  }
}

function receiptDiscountText(discount, voucher) {
  const amount = typeof discount === "number" ? discount
    : typeof discount === "string" && /^\d+$/.test(discount) ? Number(discount)
      : null;
  if (amount !== null && amount > 0 && voucher?.kind !== "FREE_PRODUCT") {
    const off = `${money(amount, voucher?.currency)} off`;
    return voucher?.kind === "PERCENT_OFF" ? `${percentText(voucher.percentOff)} — ${off}` : off;
  }
  if (typeof discount === "string" && discount && amount === null) return discount;
  return discountText(voucher);
}

function showReceipt(payload, checkout, checkedVoucher) {
  const voucher = payload.voucher ?? checkedVoucher;
  const redemption = voucher?.redemption ?? {};
  const currency = voucher?.currency ?? checkedVoucher?.currency;
  setText(ui.receiptTitle, voucher?.title);
  setText(ui.receiptDiscount, receiptDiscountText(payload.discount, voucher));
  setText(ui.receiptOrder, redemption.orderReference ?? checkout.orderReference);
  setText(ui.receiptTotal, money(redemption.orderTotal ?? checkout.orderTotal, currency));
  setText(ui.receiptTime, when(redemption.redeemedAt ?? new Date().toISOString()));
  const store = redemption.store;
  setText(ui.receiptStore, store ? `${store.name}${store.code ? ` (${store.code})` : ""}` : "");
  setText(ui.receiptCode, groupCode(voucher?.code));
  setText(ui.receiptMember, memberText(voucher?.member ?? checkedVoucher?.member));
  ui.receiptNote.hidden = !payload.replayed;
  setText(ui.receiptNote, payload.replayed ? "This redemption was already recorded; this is its receipt." : "");
  state.current = null;
  show("receipt");
  focusHeading("receipt");
}

// ---------------------------------------------------------------- navigation

function backToScanning({ keepCode = false } = {}) {
  stopLockTimer();
  ui.card.dataset.state = "";
  state.current = null;
  state.pendingRedeem = null;
  if (!keepCode) ui.code.value = "";
  markInvalid(ui.code, false);
  showError(ui.codeError, "");
  show("scan");
  if (keepCode) {
    ui.code.focus();
    ui.code.select();
  }
  void startCamera();
}

function onDismiss() {
  if (lockedSeconds() > 0) return;
  const typed = state.current?.input?.code !== undefined && !state.current.redeemable;
  backToScanning({ keepCode: typed });
}

function onCodeSubmit(event) {
  event.preventDefault();
  const code = ui.code.value.trim();
  markInvalid(ui.code, !code);
  if (!code) {
    showError(ui.codeError, "Type the voucher code.");
    ui.code.focus();
    return;
  }
  void runCheck({ code });
}

function start() {
  ui.signInForm.addEventListener("submit", onSignIn);
  ui.signOut.addEventListener("click", onSignOut);
  ui.cameraStart.addEventListener("click", () => void startCamera());
  ui.codeForm.addEventListener("submit", onCodeSubmit);
  ui.redeemForm.addEventListener("submit", onRedeem);
  ui.dismiss.addEventListener("click", onDismiss);
  ui.nextCustomer.addEventListener("click", () => backToScanning());
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) stopCamera();
    else if (state.view === "scan" && !state.busy) void startCamera();
  });
  window.addEventListener("pagehide", stopCamera);

  onSessionEnded(showSignedOut);
  if (restoreSession()) {
    enterScanner();
    // Checks the restored session early (renewing it if needed) and freshens the top bar.
    loadViewer().catch(() => {});
  } else {
    show("signin");
    ui.email.focus();
  }
}

start();

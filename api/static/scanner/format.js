// Pure formatting and parsing for the scanner page: money in minor units, voucher codes,
// dates, and what a check result means in words. No DOM, no I/O.

const LOCALE = "en-GB";

export function currencyDigits(currency) {
  if (!currency) return 2;
  try {
    return new Intl.NumberFormat(LOCALE, { style: "currency", currency }).resolvedOptions()
      .maximumFractionDigits;
  } catch {
    return 2;
  }
}

// Minor units → "€5.00" (integer arithmetic until the final division, exact for display).
export function money(minor, currency) {
  if (typeof minor !== "number") return "";
  const digits = currencyDigits(currency);
  const value = minor / 10 ** digits;
  if (!currency) return value.toFixed(digits);
  try {
    return new Intl.NumberFormat(LOCALE, {
      style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${currency}`;
  }
}

// "42.50" / "42,5" / "42" → minor units (4250) without floating point; null when unreadable.
export function parseMinorUnits(text, digits) {
  const cleaned = String(text).trim().replace(/[\s\u00a0]/g, "");
  const match = /^(\d{0,10})(?:[.,](\d*))?$/.exec(cleaned);
  if (!match || (match[1] + (match[2] ?? "")).length === 0) return null;
  const fraction = match[2] ?? "";
  if (fraction.length > digits) return null;
  const whole = Number(match[1] || "0");
  const minor = whole * 10 ** digits + Number(fraction.padEnd(digits, "0") || "0");
  return Number.isSafeInteger(minor) ? minor : null;
}

export function groupCode(code) {
  const compact = String(code ?? "").replace(/[-\s]/g, "").toUpperCase();
  return compact.match(/.{1,4}/g)?.join("-") ?? "";
}

function parts(date, options) {
  const out = {};
  for (const part of new Intl.DateTimeFormat(LOCALE, options).formatToParts(date)) out[part.type] = part.value;
  return out;
}

export function dayMonth(iso, { withYear = false } = {}) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso ?? "");
  const p = parts(date, { day: "numeric", month: "short", year: "numeric" });
  const showYear = withYear || date.getFullYear() !== new Date().getFullYear();
  return `${p.day} ${p.month}${showYear ? ` ${p.year}` : ""}`;
}

// "24 Nov 14:02" (the year too when it is not this year), in the device's time zone.
export function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso ?? "");
  const p = parts(date, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  return `${dayMonth(iso)} ${p.hour}:${p.minute}`;
}

function titleCase(text) {
  const value = String(text ?? "").replace(/_/g, " ").trim();
  if (!value) return "";
  if (value !== value.toUpperCase()) return value;
  return value.toLowerCase().replace(/(^|\s)\S/g, (c) => c.toUpperCase());
}

export function memberText(member) {
  if (!member) return "";
  const name = member.firstName || "a member";
  const tier = titleCase(member.tier?.name ?? member.tier);
  return tier ? `${name} (${tier})` : name;
}

export function percentText(percent) {
  return `${Number(percent).toLocaleString(LOCALE, { maximumFractionDigits: 2 })}% off`;
}

export function discountText(voucher) {
  if (!voucher) return "";
  switch (voucher.kind) {
    case "AMOUNT_OFF":
      return `${money(voucher.amountOff, voucher.currency)} off`;
    case "PERCENT_OFF":
      return percentText(voucher.percentOff);
    case "FREE_SHIPPING":
      return "Free shipping";
    case "FREE_PRODUCT":
      return voucher.productSku ? `Free product: ${voucher.productSku}` : "Free product";
    case "EXPERIENCE":
      return voucher.title || "Experience";
    default:
      return voucher.title || "";
  }
}

export function reasonText(reason, voucher) {
  const redemption = voucher?.redemption;
  switch (reason?.code) {
    case "ALREADY_REDEEMED":
      if (!redemption?.redeemedAt) return reason.message || "Already redeemed";
      return `Already redeemed on ${when(redemption.redeemedAt)}`
        + (redemption.store?.name ? ` at ${redemption.store.name}` : "");
    case "EXPIRED":
      return voucher?.expiresAt ? `Expired on ${dayMonth(voucher.expiresAt, { withYear: true })}` : "Expired";
    case "CANCELLED":
      return "Cancelled — this voucher can no longer be used";
    case "WRONG_STORE":
      return "Not valid in this store";
    case "WRONG_CHANNEL":
      return "Not valid in shops — online only";
    case "NOT_FOUND":
      return "Unknown voucher — check the code";
    case "INVALID_SIGNATURE":
      return "Not a genuine Kizuna voucher — do not accept it";
    case "INVALID_CODE":
      return "Code mistyped — check it";
    default:
      return reason?.message || "Not valid";
  }
}

export function countdown(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

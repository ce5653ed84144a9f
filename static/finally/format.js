/*
 * How figures read for people: the rules of portfolio/display.py, in the browser. A browser test
 * checks that both give the same text for the same values, so a live update never changes how a
 * server-rendered figure reads.
 *
 *   money(-1234.5) -> "-$1,234.50"   signedMoney(12) -> "+$12.00"   price(1234.5) -> "1,234.50"
 *   signed(-0.4) -> "-0.40"          percent(1.25) -> "+1.25%"      unitPrice("188.177900") -> "$188.1779"
 *   quantity("10.000000") -> "10"    sign(-0.004) -> "flat"         null/undefined/"" -> "—"
 *
 * Values are numbers or decimal strings (the data attributes the server renders). Rounding is half
 * up (away from zero) to the cent from the value's shortest decimal form, as Python's Decimal of a
 * float's repr does, so 1.005 rounds to 1.01 here as there (binary arithmetic would give 1.00).
 */

const DASH = "—";
const DECIMAL = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/* {negative, digits, exponent}: the value is digits x 10^exponent; null for what is not a number. */
function decimal(value) {
  if (value == null || typeof value === "boolean") return null;
  if (typeof value === "number" && !Number.isFinite(value)) return null;
  const text = String(value).trim();
  const match = DECIMAL.exec(text);
  if (!match || (!match[2] && !match[3])) return null;
  const fraction = match[3] || "";
  const digits = ((match[2] || "") + fraction).replace(/^0+(?=\d)/, "");
  return { negative: match[1] === "-", digits: digits, exponent: Number(match[4] || 0) - fraction.length };
}

/* The decimal string of digits + 1 ("199" -> "200"). */
function increment(digits) {
  const out = digits.split("");
  let i = out.length - 1;
  while (i >= 0 && out[i] === "9") out[i--] = "0";
  if (i < 0) return "1" + out.join("");
  out[i] = String(Number(out[i]) + 1);
  return out.join("");
}

/* The value with exactly `places` decimals, rounded half away from zero: {negative, digits}. */
function rounded(parts, places) {
  let { digits } = parts;
  const shift = parts.exponent + places;
  if (shift >= 0) {
    digits += "0".repeat(shift);
  } else {
    const drop = -shift;
    const padded = digits.padStart(drop + 1, "0");
    const kept = padded.slice(0, padded.length - drop);
    digits = padded[padded.length - drop] >= "5" ? increment(kept) : kept;
  }
  return { negative: parts.negative, digits: digits };
}

/* {negative, whole, fraction} of digits with `places` decimals; zero never negative. */
function split(negative, digits, places) {
  const padded = digits.padStart(places + 1, "0");
  const whole = padded.slice(0, padded.length - places).replace(/^0+(?=\d)/, "");
  const fraction = padded.slice(padded.length - places);
  const zero = /^0*$/.test(digits);
  return { negative: negative && !zero, positive: !negative && !zero, whole, fraction };
}

function grouped(whole) {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function text(parts, unit, suffix, plus) {
  const mark = parts.positive ? plus : parts.negative ? "-" : "";
  return mark + unit + grouped(parts.whole) + (parts.fraction ? "." + parts.fraction : "") + suffix;
}

function cents(value) {
  const parts = decimal(value);
  if (!parts) return null;
  const { negative, digits } = rounded(parts, 2);
  return split(negative, digits, 2);
}

/* Without trailing zeros, with at least `minimumPlaces` decimals. */
function exact(value, minimumPlaces) {
  const parts = decimal(value);
  if (!parts) return null;
  let { digits, exponent } = parts;
  if (/^0+$/.test(digits)) exponent = 0; // a zero has no decimals of its own, as Decimal.normalize() says
  while (exponent < -minimumPlaces && digits.length > 1 && digits.endsWith("0")) {
    digits = digits.slice(0, -1);
    exponent += 1;
  }
  if (exponent > -minimumPlaces) {
    digits += "0".repeat(exponent + minimumPlaces);
    exponent = -minimumPlaces;
  }
  return split(parts.negative, digits, -exponent);
}

export function figure(value, unit = "", suffix = "", plus = "+") {
  const parts = cents(value);
  return parts ? text(parts, unit, suffix, plus) : DASH;
}

export const money = (value) => figure(value, "$", "", "");
export const signedMoney = (value) => figure(value, "$");
export const price = (value) => figure(value, "", "", "");
export const signed = (value) => figure(value);
export const percent = (value) => figure(value, "", "%");

export function unitPrice(value) {
  const parts = exact(value, 2);
  return parts ? text(parts, "$", "", "") : DASH;
}

export function quantity(value) {
  const parts = exact(value, 0);
  return parts ? text(parts, "", "", "") : DASH;
}

/* "up", "down" or "flat": the CSS hook colouring a figure, from its value to the cent. */
export function sign(value) {
  const parts = cents(value);
  return !parts ? "flat" : parts.positive ? "up" : parts.negative ? "down" : "flat";
}

const pad = (n) => String(n).padStart(2, "0");

/* "14:32:05" in the browser's time zone. */
export function localClock(date) {
  return pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
}

/* "2026-12-01 14:32:05" in the browser's time zone. */
export function localDateTime(date) {
  return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " + localClock(date);
}

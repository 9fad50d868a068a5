/**
 * Numbers and JSON lines written as the Python CLI writes them, so both CLIs print the same bytes:
 * `repr(float)`, `json.dumps(record, ensure_ascii=False)`, and the `.4f`, `.2e` and `g` formats.
 */

/**
 * Shortest round-trip digits and decimal exponent of a finite non-zero number (sign dropped).
 * @param {number} x
 */
function digitsOf(x) {
  const [mantissa, exponent] = Math.abs(x).toExponential().split("e");
  return { digits: mantissa.replace(".", ""), exponent: Number(exponent) };
}

/**
 * Python's `repr(x)` of a float.
 * @param {number} x
 */
export function pyFloat(x) {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const { digits, exponent } = digitsOf(x);
  if (exponent < -4 || exponent >= 16) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
  const fraction = digits.slice(exponent + 1);
  return `${sign}${whole}.${fraction || "0"}`;
}

/**
 * `json.dumps(value, ensure_ascii=False)` for strings, booleans, numbers (as floats), arrays and
 * plain objects in insertion order.
 * @param {unknown} value
 * @returns {string}
 */
export function pyJson(value) {
  if (typeof value === "number") return pyFloat(value);
  if (Array.isArray(value)) return `[${value.map(pyJson).join(", ")}]`;
  if (value && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`).join(", ")}}`;
  }
  return JSON.stringify(value);
}

/**
 * Python's `f"{x:.{places}f}"` (exact ties round half to even, as Python does).
 * @param {number} x
 * @param {number} places
 */
export function pyFixed(x, places) {
  const scaled = x * 10 ** places;
  if (Math.abs(scaled % 1) === 0.5) {
    const even = Math.floor(Math.abs(scaled)) % 2 === 0 ? Math.floor(Math.abs(scaled)) : Math.floor(Math.abs(scaled)) + 1;
    return (Math.sign(x) * even / 10 ** places).toFixed(places);
  }
  return x.toFixed(places);
}

/**
 * Python's `f"{x:.{places}e}"`: at least two exponent digits.
 * @param {number} x
 * @param {number} places
 */
export function pyExp(x, places) {
  const [mantissa, exponent] = x.toExponential(places).split("e");
  const e = Number(exponent);
  return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
}

/**
 * Python's `f"{x:g}"` (six significant digits, trailing zeros dropped).
 * @param {number} x
 */
export function pyG(x) {
  if (x === 0) return "0";
  const exponent = Math.floor(Math.log10(Math.abs(Number(x.toPrecision(6)))));
  if (exponent < -4 || exponent >= 6) {
    const [mantissa] = pyExp(x, 5).split("e");
    const trimmed = mantissa.includes(".") ? mantissa.replace(/0+$/, "").replace(/\.$/, "") : mantissa;
    return `${trimmed}e${pyExp(x, 5).split("e")[1]}`;
  }
  const fixed = x.toFixed(Math.max(0, 5 - exponent));
  return fixed.includes(".") ? fixed.replace(/0+$/, "").replace(/\.$/, "") : fixed;
}

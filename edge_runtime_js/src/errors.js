/**
 * Errors a user can cause and fix, with the Python runtime's wording: what went wrong,
 * what was expected and found, what to do. The CLI prints them as one `error:` line and exits 1.
 */

export class EdgeError extends Error {
  /**
   * @param {string} message
   * @param {{expected?: unknown, found?: unknown, hint?: string}} [details]
   */
  constructor(message, { expected, found, hint } = {}) {
    let text = message;
    if (expected !== undefined && found !== undefined) text += ` (expected ${expected}, found ${found})`;
    else if (expected !== undefined) text += ` (expected ${expected})`;
    else if (found !== undefined) text += ` (found ${found})`;
    if (hint) text += `; ${hint}`;
    super(text);
    this.name = new.target.name;
    this.expected = expected;
    this.found = found;
    this.hint = hint;
  }
}

/** Bad input data, path or argument. */
export class InputError extends EdgeError {}

/** A deployable bundle that is missing, partial, tampered or of an unknown format. */
export class BundleError extends EdgeError {}

/**
 * Python's repr() of a string, enough for error messages (single quotes unless the text has one).
 * @param {string} text
 */
export function pyRepr(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0);
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return quote + out + quote;
}

/**
 * The bytes a manifest's `manifest_sha256` is computed over, exactly as Python writes them:
 * `json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
 *
 * `JSON.parse` forgets how a number was written (`1.0` and `1` become the same value), so the
 * manifest text is re-read here with every number kept as written: Python wrote each float with
 * `repr`, which is also what its canonical form uses.
 */

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|NaN|-?Infinity/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const SPACE = /[ \t\n\r]*/y;

/** A number kept as its source text. */
export class Lexeme {
  /** @param {string} text */
  constructor(text) {
    this.text = text;
  }
}

/**
 * Compare strings by code point, as Python sorts `str` keys.
 * @param {string} a
 * @param {string} b
 */
function byCodePoint(a, b) {
  const x = Array.from(a, (c) => c.codePointAt(0));
  const y = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * Parse JSON text keeping numbers as written.
 * @param {string} text
 * @returns {unknown}
 */
export function parseKeepingNumbers(text) {
  let at = 0;
  const fail = (what) => {
    throw new SyntaxError(`${what} at character ${at}`);
  };
  const space = () => {
    SPACE.lastIndex = at;
    SPACE.exec(text);
    at = SPACE.lastIndex;
  };
  const match = (pattern) => {
    pattern.lastIndex = at;
    const found = pattern.exec(text);
    if (!found) return null;
    at = pattern.lastIndex;
    return found[0];
  };
  const value = () => {
    space();
    const ch = text[at];
    if (ch === "{") {
      at++;
      /** @type {Map<string, unknown>} */
      const object = new Map();
      space();
      if (text[at] === "}") return at++, object;
      for (;;) {
        space();
        const key = match(STRING) ?? fail("expected a key");
        space();
        if (text[at++] !== ":") fail("expected ':'");
        const name = JSON.parse(key);
        if (object.has(name)) fail(`duplicate key ${JSON.stringify(name)}`);
        object.set(name, value());
        space();
        const next = text[at++];
        if (next === "}") return object;
        if (next !== ",") fail("expected ',' or '}'");
      }
    }
    if (ch === "[") {
      at++;
      const array = [];
      space();
      if (text[at] === "]") return at++, array;
      for (;;) {
        array.push(value());
        space();
        const next = text[at++];
        if (next === "]") return array;
        if (next !== ",") fail("expected ',' or ']'");
      }
    }
    if (ch === '"') return JSON.parse(match(STRING) ?? fail("bad string"));
    for (const [word, literal] of [["true", true], ["false", false], ["null", null]]) {
      if (text.startsWith(word, at)) return (at += word.length), literal;
    }
    const number = match(NUMBER);
    if (number === null) fail("unexpected character");
    return new Lexeme(number);
  };
  const result = value();
  space();
  if (at !== text.length) fail("trailing characters");
  return result;
}

/**
 * Serialize a value from `parseKeepingNumbers` in Python's canonical form.
 * @param {unknown} value
 * @returns {string}
 */
function serialize(value) {
  if (value instanceof Lexeme) return value.text;
  if (value instanceof Map) {
    const keys = [...value.keys()].sort(byCodePoint);
    return `{${keys.map((key) => `${JSON.stringify(key)}:${serialize(value.get(key))}`).join(",")}}`;
  }
  if (Array.isArray(value)) return `[${value.map(serialize).join(",")}]`;
  return JSON.stringify(value);
}

/**
 * The canonical JSON text of a manifest without its `manifest_sha256` key.
 * @param {string} manifestText the manifest file's text
 * @param {string} [drop]
 */
export function canonicalManifest(manifestText, drop = "manifest_sha256") {
  const tree = parseKeepingNumbers(manifestText);
  if (tree instanceof Map) tree.delete(drop);
  return serialize(tree);
}

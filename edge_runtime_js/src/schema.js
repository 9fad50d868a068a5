/**
 * The manifest's schema check: the same subset of JSON Schema as `edge_runtime.manifest_schema`,
 * run on the tree `parseKeepingNumbers` returns (objects as Maps, numbers as written), so an
 * `integer` is, as in Python, a number written without a fraction or exponent.
 * `manifest_schema.json` is a copy of Python's schema; a test compares the two.
 */

import { Lexeme } from "./canonical.js";
import { EdgeError, pyRepr } from "./errors.js";

export const MAX_DEPTH = 32;

/** A manifest value that breaks the schema; `where` is its path (`tokenizer.truncation.rule`). */
export class SchemaError extends EdgeError {
  /**
   * @param {string} where
   * @param {string} message
   * @param {{expected?: unknown, found?: unknown}} [details]
   */
  constructor(where, message, details = {}) {
    super(`${where || "the manifest"} ${message}`, details);
    this.where = where;
  }
}

/** @param {unknown} value */
function typeOf(value) {
  if (value === null) return "null";
  if (typeof value === "boolean") return "boolean";
  if (value instanceof Lexeme) return /^-?\d+$/.test(value.text) ? "integer" : "number";
  if (typeof value === "string") return "string";
  if (Array.isArray(value)) return "array";
  if (value instanceof Map) return "object";
  return typeof value;
}

/** @param {unknown} value @param {string} name */
function hasType(value, name) {
  const found = typeOf(value);
  return found === name || (name === "number" && found === "integer");
}

/** A short Python-like rendering of a value for messages. @param {unknown} value */
function show(value) {
  if (value === null) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (value instanceof Lexeme) return value.text;
  if (typeof value === "string") return pyRepr(value.length > 40 ? `${value.slice(0, 17)}...${value.slice(-17)}` : value);
  if (Array.isArray(value)) return `[${value.slice(0, 3).map(show).join(", ")}${value.length > 3 ? ", ..." : ""}]`;
  if (value instanceof Map) return `{${[...value.keys()].slice(0, 3).map((k) => `${pyRepr(k)}: ...`).join(", ")}}`;
  return String(value);
}

/** Plain JS value of a schema constant or a tree value, for comparisons. @param {unknown} value */
function plain(value) {
  if (value instanceof Lexeme) return Number(value.text);
  return value;
}

/** @param {string} where @param {string | number} key */
function child(where, key) {
  if (typeof key === "number") return `${where}[${key}]`;
  return where ? `${where}.${key}` : key;
}

/** Python's str() of a schema constant. @param {unknown} value */
function pyStr(value) {
  if (typeof value === "string") return value;
  return show(value);
}

/**
 * Throw a SchemaError at the first value of `value` that breaks `schema`.
 * @param {unknown} value a tree from parseKeepingNumbers
 * @param {any} schema
 */
export function validate(value, schema, where = "", depth = 0) {
  if ((Array.isArray(value) || value instanceof Map) && depth >= MAX_DEPTH) {
    throw new SchemaError(where, "nests too deep", { expected: `at most ${MAX_DEPTH} levels`, found: "more" });
  }
  if (schema.anyOf) {
    const errors = [];
    for (const option of schema.anyOf) {
      try {
        validate(value, option, where, depth);
        return;
      } catch (error) {
        if (!(error instanceof SchemaError)) throw error;
        errors.push(error);
      }
    }
    const best = schema.anyOf.findIndex((option) => hasType(value, option.type ?? ""));
    throw errors[best === -1 ? 0 : best];
  }
  if (schema.type !== undefined) {
    const names = typeof schema.type === "string" ? [schema.type] : schema.type;
    if (!names.some((name) => hasType(value, name))) {
      throw new SchemaError(where, "has the wrong type", { expected: names.join(" or "), found: `${typeOf(value)} ${show(value)}` });
    }
  }
  const same = (constant) => plain(value) === constant && typeOf(value) === typeOf(toTree(constant));
  if ("const" in schema && !same(schema.const)) {
    throw new SchemaError(where, "has the wrong value", { expected: show(toTree(schema.const)), found: show(value) });
  }
  if (schema.enum && !schema.enum.some(same)) {
    throw new SchemaError(where, "is not a known value", { expected: schema.enum.map(pyStr).join(" | "), found: show(value) });
  }
  if (typeof value === "string") {
    const length = [...value].length;
    if (length < (schema.minLength ?? 0)) {
      throw new SchemaError(where, "is too short", { expected: `at least ${schema.minLength} character(s)`, found: show(value) });
    }
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) {
      throw new SchemaError(where, "is malformed", { expected: `text matching ${schema.pattern}`, found: show(value) });
    }
  }
  if (hasType(value, "number")) {
    const number = plain(value);
    if ("minimum" in schema && number < schema.minimum) {
      throw new SchemaError(where, "is out of range", { expected: `>= ${schema.minimum}`, found: show(value) });
    }
    if ("exclusiveMinimum" in schema && number <= schema.exclusiveMinimum) {
      throw new SchemaError(where, "is out of range", { expected: `> ${schema.exclusiveMinimum}`, found: show(value) });
    }
    if ("maximum" in schema && number > schema.maximum) {
      throw new SchemaError(where, "is out of range", { expected: `<= ${schema.maximum}`, found: show(value) });
    }
    if (!Number.isFinite(number)) throw new SchemaError(where, "is not a finite number", { found: show(value) });
  }
  if (Array.isArray(value)) {
    if (value.length < (schema.minItems ?? 0)) {
      throw new SchemaError(where, "has too few items", { expected: `at least ${schema.minItems}`, found: value.length });
    }
    if (schema.uniqueItems) {
      const seen = value.map((item) => JSON.stringify(toPlain(item)));
      const duplicate = seen.findIndex((item, i) => seen.indexOf(item) !== i);
      if (duplicate !== -1) throw new SchemaError(where, "has a duplicate item", { expected: "unique items", found: show(value[duplicate]) });
    }
    value.forEach((item, index) => validate(item, schema.items ?? {}, child(where, index), depth + 1));
  }
  if (value instanceof Map) {
    const properties = schema.properties ?? {};
    const missing = (schema.required ?? []).filter((key) => !value.has(key));
    if (missing.length) {
      throw new SchemaError(where, "lacks required keys", { expected: schema.required.join(", "), found: `missing ${missing.join(", ")}` });
    }
    const extra = schema.additionalProperties ?? {};
    for (const [key, item] of value) {
      if (Object.hasOwn(properties, key)) validate(item, properties[key], child(where, key), depth + 1);
      else if (extra === false) {
        throw new SchemaError(child(where, key), "is not a known key", { expected: Object.keys(properties).join(", "), found: pyRepr(key) });
      } else validate(item, extra, child(where, key), depth + 1);
    }
  }
}

/** A plain JS value as a tree value (numbers become Lexemes). @param {unknown} value */
function toTree(value) {
  if (typeof value === "number") return new Lexeme(String(value));
  return value;
}

/**
 * A tree from parseKeepingNumbers as plain JS values (Maps become objects, numbers numbers).
 * @param {unknown} value
 * @returns {any}
 */
export function toPlain(value) {
  if (value instanceof Lexeme) return Number(value.text);
  if (Array.isArray(value)) return value.map(toPlain);
  if (value instanceof Map) {
    const object = {};
    for (const [key, item] of value) object[key] = toPlain(item);
    return object;
  }
  return value;
}

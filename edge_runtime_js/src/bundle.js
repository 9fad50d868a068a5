/**
 * Read and verify a bundle, as `edge_runtime.bundle` does: format and version, the manifest's own
 * hash, its shape (the schema), file names, golden probabilities against labels, then the sha256 of
 * every listed file. The files come from a `BundleSource` (a folder in Node, a URL in the browser);
 * the bytes hashed are the bytes used, so nothing is read twice.
 */

import { canonicalManifest, parseKeepingNumbers } from "./canonical.js";
import { BundleError, pyRepr } from "./errors.js";
import { SchemaError, toPlain, validate } from "./schema.js";
import schema from "./manifest_schema.js";
import { sha256Hex } from "./sha256.js";

export const BUNDLE_FORMAT = "mobilebert-edge-bundle";
export const FORMAT_VERSION = 1;
export const MANIFEST = "manifest.json";
export const MAX_MANIFEST_BYTES = 16 << 20;
export const REQUIRED_KEYS = ["format", "format_version", "labels", "model", "tokenizer", "files", "manifest_sha256"];
const REQUIRED_SECTION_KEYS = { model: ["file"], tokenizer: ["file", "max_length", "truncation"] };

/**
 * Where a bundle's files come from.
 * @typedef {object} BundleSource
 * @property {string} name how messages name the bundle (its path or URL)
 * @property {(file: string) => Promise<Uint8Array | null>} read a file's bytes; null when it is missing
 * @property {() => Promise<void>} [check] refuse a source that is not a bundle folder at all
 */

/**
 * A verified bundle: its manifest (plain JSON values) and the bytes of every listed file.
 * @typedef {object} VerifiedBundle
 * @property {any} manifest
 * @property {Map<string, Uint8Array>} files
 */

/** @param {string} name */
function isInside(name) {
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name) || name.startsWith("\\")) return false;
  return !name.split(/[\\/]/).includes("..");
}

/**
 * @param {BundleSource} source
 * @param {unknown} name
 */
function checkFileName(source, name) {
  if (typeof name !== "string" || !name) {
    throw new BundleError(`bundle ${source.name}: ${MANIFEST} lists an invalid file name`, { expected: "a file name", found: String(name) });
  }
  if (!isInside(name)) {
    throw new BundleError(`bundle ${source.name}: ${MANIFEST} lists a file outside the bundle folder`, {
      expected: "a name inside the folder",
      found: pyRepr(name),
    });
  }
  return name;
}

/**
 * Parse, check and (with `verify`) hash-check the manifest; then read (and hash-check) the files.
 * @param {BundleSource} source
 * @param {{verify?: boolean}} [options]
 * @returns {Promise<VerifiedBundle>}
 */
export async function loadBundle(source, { verify = true } = {}) {
  const manifest = await readManifest(source, { checkHash: verify });
  const files = new Map();
  for (const [name, expected] of Object.entries(manifest.files)) {
    const bytes = await source.read(name);
    if (bytes === null) throw new BundleError(`bundle ${source.name}: ${name} is missing`, { hint: "copy the whole bundle folder" });
    if (verify && (await sha256Hex(bytes)) !== expected) {
      throw new BundleError(`bundle ${source.name}: ${name} was modified or corrupted (sha256 mismatch)`, {
        hint: "copy the bundle again or re-export it",
      });
    }
    files.set(name, bytes);
  }
  return { manifest, files };
}

/**
 * The manifest as plain JSON values, checked (no file hashes).
 * @param {BundleSource} source
 * @param {{checkHash?: boolean}} [options]
 */
export async function readManifest(source, { checkHash = false } = {}) {
  await source.check?.();
  const bytes = await source.read(MANIFEST);
  if (bytes === null) throw new BundleError(`bundle ${source.name}: ${MANIFEST} is missing`, { hint: "re-export the bundle" });
  const tree = parseManifest(source, bytes);
  if (!(tree instanceof Map)) {
    throw new BundleError(`bundle ${source.name}: ${MANIFEST} is not a JSON object`, { expected: "an object", found: Array.isArray(tree) ? "list" : typeof tree });
  }
  const manifest = toPlain(tree);
  if (manifest.format !== BUNDLE_FORMAT) {
    throw new BundleError(`bundle ${source.name}: not a mobilebert-edge bundle`, {
      expected: `format ${pyRepr(BUNDLE_FORMAT)}`,
      found: typeof manifest.format === "string" ? pyRepr(manifest.format) : String(manifest.format ?? "None"),
    });
  }
  const version = manifest.format_version;
  if (version !== FORMAT_VERSION) {
    throw new BundleError(`bundle ${source.name}: unsupported bundle format version`, {
      expected: `version ${FORMAT_VERSION}`,
      found: `version ${version ?? "None"}`,
      hint: Number.isInteger(version) && version > FORMAT_VERSION ? "upgrade mobilebert-edge" : "re-export the bundle with this version of mobilebert-edge",
    });
  }
  if (checkHash) {
    const text = new TextDecoder().decode(bytes);
    if (manifest.manifest_sha256 !== (await sha256Hex(canonicalManifest(text)))) {
      throw new BundleError(`bundle ${source.name}: ${MANIFEST} was modified or corrupted (sha256 mismatch)`, {
        hint: "re-export the bundle; a manifest is only valid as written by 'mobilebert-edge export'",
      });
    }
  }
  const missing = REQUIRED_KEYS.filter((key) => !(key in manifest));
  for (const [section, keys] of Object.entries(REQUIRED_SECTION_KEYS)) {
    const value = manifest[section];
    if (value && typeof value === "object" && !Array.isArray(value)) missing.push(...keys.filter((key) => !(key in value)).map((key) => `${section}.${key}`));
    else if (section in manifest) missing.push(`${section} (an object)`);
  }
  if (missing.length) {
    throw new BundleError(`bundle ${source.name}: ${MANIFEST} lacks required keys`, {
      expected: REQUIRED_KEYS.join(", "),
      found: `missing ${missing.join(", ")}`,
      hint: "re-export the bundle",
    });
  }
  try {
    validate(tree, schema);
  } catch (error) {
    if (error instanceof SchemaError) throw new BundleError(`bundle ${source.name}: ${MANIFEST}: ${error.message}`, { hint: "re-export the bundle" });
    throw error;
  }
  for (const name of Object.keys(manifest.files)) checkFileName(source, name);
  for (const section of ["model", "tokenizer"]) {
    const name = checkFileName(source, manifest[section].file);
    if (!(name in manifest.files)) throw new BundleError(`bundle ${source.name}: ${name} has no sha256 in ${MANIFEST}`, { hint: "re-export the bundle" });
  }
  goldenProbabilities(manifest, source.name);
  return manifest;
}

/**
 * @param {BundleSource} source
 * @param {Uint8Array} bytes
 */
function parseManifest(source, bytes) {
  const refuse = (message) =>
    new BundleError(`bundle ${source.name}: ${MANIFEST} ${message}`, { hint: "the file was modified or corrupted; re-export the bundle" });
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw refuse(`is too large (${bytes.length.toLocaleString("en-US")} bytes, at most ${MAX_MANIFEST_BYTES.toLocaleString("en-US")})`);
  }
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw refuse(`is not valid JSON (${error.message})`);
  }
  try {
    const tree = parseKeepingNumbers(text);
    if (containsConstant(tree)) throw new SyntaxError("NaN and infinities are not JSON numbers");
    return tree;
  } catch (error) {
    if (error instanceof RangeError) throw refuse("nests too deep");
    throw refuse(`is not valid JSON (${error.message})`);
  }
}

/** @param {unknown} tree */
function containsConstant(tree) {
  if (tree instanceof Map) return [...tree.values()].some(containsConstant);
  if (Array.isArray(tree)) return tree.some(containsConstant);
  return tree !== null && typeof tree === "object" && /[NI]/.test(/** @type {any} */ (tree).text);
}

/**
 * Each golden text with its probabilities in label order, read by label name (or, for bundles
 * made before names were stored, by position).
 * @param {any} manifest
 * @param {string} [bundle]
 * @returns {Array<[string, number[]]>}
 */
export function goldenProbabilities(manifest, bundle = "") {
  const labels = manifest.labels;
  const examples = manifest.golden?.examples ?? [];
  return examples.map((example, i) => {
    const probs = example.probabilities;
    if (!Array.isArray(probs)) {
      const names = Object.keys(probs);
      if (names.length !== labels.length || !labels.every((label) => Object.hasOwn(probs, label))) {
        throw new BundleError(`bundle ${bundle}: ${MANIFEST}: golden.examples[${i}].probabilities do not name the bundle's labels`, {
          expected: [...labels].sort().join(", "),
          found: names.sort().join(", ") || "none",
          hint: "re-export the bundle",
        });
      }
      return [example.text, labels.map((label) => probs[label])];
    }
    if (probs.length !== labels.length) {
      throw new BundleError(`bundle ${bundle}: ${MANIFEST}: golden.examples[${i}].probabilities do not match the labels`, {
        expected: `${labels.length} numbers`,
        found: probs.length,
        hint: "re-export the bundle",
      });
    }
    return [example.text, probs.map(Number)];
  });
}

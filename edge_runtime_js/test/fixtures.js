/** Where the tests find what test/make_fixtures.py wrote, and a clear failure when it is missing. */

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const FIXTURES = process.env.MBE_JS_FIXTURES ?? path.join(ROOT, ".fixtures");

/**
 * The parsed fixture file, or null (with `optional`) when it was not built.
 * @param {string} name
 * @param {{optional?: boolean}} [options]
 */
export function fixture(name, { optional = false } = {}) {
  const file = path.join(FIXTURES, name);
  if (!existsSync(file)) {
    if (optional && !process.env.MBE_JS_REQUIRE_ALL) return null;
    throw new Error(`${file} is missing: run python edge_runtime_js/test/make_fixtures.py${name.startsWith("minilm") ? " --imdb" : ""}`);
  }
  return name.endsWith(".json") ? JSON.parse(readFileSync(file, "utf8")) : file;
}

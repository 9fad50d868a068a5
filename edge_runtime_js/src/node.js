/**
 * The Node entry: load a bundle folder from disk and run it with onnxruntime-node.
 *
 *   import { loadClassifier } from "mobilebert-edge-runtime";
 *   const clf = await loadClassifier("bundle/");
 *   await clf.predict("a great film");   // {label, score, probabilities}
 */

import { readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";

import { loadBundle, MANIFEST } from "./bundle.js";
import { Classifier } from "./classifier.js";
import { BundleError } from "./errors.js";

export { Classifier, probabilities } from "./classifier.js";
export { BundleError, EdgeError, InputError } from "./errors.js";
export { DEFAULT_BATCH_SIZE, DEFAULT_BATCH_TOKENS } from "./batching.js";
export { goldenProbabilities } from "./bundle.js";

/**
 * A bundle folder on disk as a BundleSource.
 * @param {string} folder
 * @returns {import("./bundle.js").BundleSource}
 */
export function folderSource(folder) {
  const isFile = async (file) => (await stat(file).catch(() => null))?.isFile() ?? false;
  return {
    name: folder,
    async check() {
      const info = await stat(folder).catch(() => null);
      if (!info) throw new BundleError(`bundle ${folder}: no such folder`, { hint: "pass the folder written by 'mobilebert-edge export'" });
      if (!info.isDirectory()) {
        throw new BundleError(`bundle ${folder}: not a folder`, { hint: `pass the bundle folder (the one holding ${MANIFEST}), not a file inside it` });
      }
      if (!(await isFile(path.join(folder, MANIFEST))) && (await isFile(path.join(folder, "config.json")))) {
        throw new BundleError(`${folder} is a training checkpoint, not a bundle (no ${MANIFEST})`, {
          hint: `export it first: mobilebert-edge export ${folder} --out BUNDLE, then pass BUNDLE`,
        });
      }
    },
    async read(name) {
      const file = path.join(folder, name);
      if (!(await isFile(file))) return null;
      const [root, real] = [await realpath(folder), await realpath(file)];
      if (path.relative(root, real).startsWith("..") || path.isAbsolute(path.relative(root, real))) {
        throw new BundleError(`bundle ${folder}: ${name} is a link to a file outside the bundle folder`, {
          expected: "a regular file inside the folder",
          found: real,
          hint: "copy the file into the bundle instead of linking it",
        });
      }
      return new Uint8Array(await readFile(file));
    },
  };
}

/**
 * Load and verify a bundle folder (verify: false skips the hashes).
 * @param {string} folder
 * @param {{threads?: number, verify?: boolean}} [options]
 * @returns {Promise<Classifier>}
 */
export async function loadClassifier(folder, { threads, verify = true } = {}) {
  const ort = await import("onnxruntime-node");
  const bundle = await loadBundle(folderSource(folder), { verify });
  return Classifier.create(bundle, ort.default ?? ort, { name: folder, threads });
}

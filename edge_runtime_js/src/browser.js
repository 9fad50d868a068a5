/**
 * The browser entry: load a bundle served at a URL and run it with onnxruntime-web (WASM).
 * Every file comes from the page's own server: the bundle's files from `url`, onnxruntime-web's
 * WASM files from `wasmPaths` (no CDN).
 *
 *   import { loadClassifier } from "./src/browser.js";
 *   const clf = await loadClassifier("bundle/", { ort, wasmPaths: "ort/" });
 */

import { loadBundle } from "./bundle.js";
import { Classifier } from "./classifier.js";
import { BundleError } from "./errors.js";

export { Classifier, probabilities } from "./classifier.js";
export { BundleError, EdgeError, InputError } from "./errors.js";
export { goldenProbabilities } from "./bundle.js";

/**
 * A bundle served over HTTP as a BundleSource.
 * @param {string} url the bundle folder's URL (relative URLs are resolved against the page)
 * @returns {import("./bundle.js").BundleSource}
 */
export function urlSource(url) {
  const base = new URL(url.endsWith("/") ? url : `${url}/`, globalThis.location?.href);
  return {
    name: url,
    async read(name) {
      let response;
      try {
        response = await fetch(new URL(name, base));
      } catch (error) {
        throw new BundleError(`bundle ${url}: cannot fetch ${name} (${error.message})`, { hint: "serve the bundle folder next to the page" });
      }
      if (response.status === 404) return null;
      if (!response.ok) throw new BundleError(`bundle ${url}: cannot fetch ${name} (HTTP ${response.status})`);
      return new Uint8Array(await response.arrayBuffer());
    },
  };
}

/**
 * Load and verify a bundle from a URL.
 * @param {string} url
 * @param {{ort: any, wasmPaths?: string, threads?: number, verify?: boolean}} options `ort`: the onnxruntime-web module
 * @returns {Promise<Classifier>}
 */
export async function loadClassifier(url, { ort, wasmPaths, threads, verify = true }) {
  if (wasmPaths) ort.env.wasm.wasmPaths = wasmPaths;
  if (threads) ort.env.wasm.numThreads = threads;
  const bundle = await loadBundle(urlSource(url), { verify });
  return Classifier.create(bundle, ort, { name: url, executionProviders: ["wasm"] });
}

// The demo page: load the bundle served next to the page, verify it, classify what the user types.
import * as ort from "../ort/ort.wasm.min.mjs";
import { loadClassifier } from "../src/browser.js";

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const params = new URLSearchParams(location.search);
const bundleUrl = params.get("bundle") ?? "../bundle/";

/** Show one prediction: the label and a bar per label. @param {import("../src/classifier.js").Prediction} prediction @param {number} ms */
function show(prediction, ms) {
  $("label").textContent = `${prediction.label} (${(100 * prediction.score).toFixed(1)}%)`;
  $("label").dataset.label = prediction.label;
  $("probabilities").replaceChildren(
    ...Object.entries(prediction.probabilities).map(([label, p]) => {
      const row = document.createElement("div");
      row.className = "row";
      row.dataset.label = label;
      row.dataset.probability = String(p);
      row.innerHTML = `<span></span><div class="bar"><div style="width:${(100 * p).toFixed(2)}%"></div></div><span class="value">${p.toFixed(4)}</span>`;
      row.firstElementChild.textContent = label;
      return row;
    }),
  );
  $("result").hidden = false;
  $("status").textContent = `classified in ${ms.toFixed(0)} ms, in this tab (nothing leaves the page)`;
}

/** Load a bundle from a URL with this page's onnxruntime-web (also what the browser tests call). @param {string} url */
function load(url) {
  const threads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  return loadClassifier(url, { ort, wasmPaths: new URL("../ort/", location.href).href, threads });
}
Object.assign(globalThis, { mobilebertEdge: { load } });

async function main() {
  const started = performance.now();
  const clf = await load(bundleUrl);
  Object.assign(globalThis.mobilebertEdge, { classifier: clf, readyAt: performance.now() }); // since navigation start
  const model = clf.manifest.model;
  $("bundle-info").textContent = `Bundle ${bundleUrl}: ${model.architecture ?? "model"}, ${model.precision ?? "?"}, labels ${clf.labels.join(" / ")}, ` +
    `max ${clf.maxLength} tokens; files verified (sha256) and loaded in ${(performance.now() - started).toFixed(0)} ms.`;
  const button = /** @type {HTMLButtonElement} */ ($("classify"));
  const text = /** @type {HTMLTextAreaElement} */ ($("text"));
  button.disabled = false;
  button.addEventListener("click", async () => {
    $("status").className = "";
    button.disabled = true;
    const t0 = performance.now();
    try {
      show(await clf.predict(text.value), performance.now() - t0);
    } catch (error) {
      $("result").hidden = true;
      $("status").className = "error";
      $("status").textContent = `error: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  document.body.dataset.ready = "true";
}

main().catch((error) => {
  $("bundle-info").textContent = "";
  $("status").className = "error";
  $("status").textContent = `error: ${error.message}`;
  document.body.dataset.ready = "error";
});

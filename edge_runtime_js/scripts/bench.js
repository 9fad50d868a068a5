#!/usr/bin/env node
/**
 * Time the JavaScript runtime on a bundle and texts, in Node or in headless Chromium; print one JSON line.
 * Run by bench/js_runtime.py, which times Python on the same bundle and texts in the same run.
 *
 *   node edge_runtime_js/scripts/bench.js node|chromium BUNDLE TEXTS.json [--single N]
 *
 * cold_ms: load (verify + session) and the first prediction in a fresh process (Node) or a fresh page
 * (Chromium, WASM download and compile included); batch32_ms: ms per text at batch 32 over every
 * text (after one warm-up pass); batch1_p50_ms: median of N single-text calls; browser_bytes: what the
 * page downloaded (Chromium).
 */

import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

const started = performance.now(); // before the runtime is imported
const [runtime, bundle, textsFile, flag, value] = process.argv.slice(2);
const single = flag === "--single" ? Number(value) : 50;
const texts = JSON.parse(readFileSync(textsFile, "utf8"));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** The measured loop, the same in Node and in the page. */
async function measure(clf, texts, single, now) {
  await clf.predictProba(texts, { batchSize: 32 }); // warm-up pass
  let t0 = now();
  await clf.predictProba(texts, { batchSize: 32 });
  const batch32 = (now() - t0) / texts.length;
  const times = [];
  for (const text of texts.slice(0, single)) {
    t0 = now();
    await clf.predict(text);
    times.push(now() - t0);
  }
  times.sort((a, b) => a - b);
  return { batch32_ms: batch32, batch1_p50_ms: times[Math.floor(times.length / 2)] };
}

if (runtime === "node") {
  const { loadClassifier } = await import("../src/node.js");
  const clf = await loadClassifier(bundle);
  await clf.predict(texts[0]);
  const cold = performance.now() - started;
  console.log(JSON.stringify({ runtime, cold_ms: cold, ...(await measure(clf, texts, single, () => performance.now())) }));
} else if (runtime === "chromium") {
  const puppeteer = (await import("puppeteer-core")).default;
  const { demoMounts, serve } = await import("../demo/serve.js");
  const server = await serve(demoMounts(bundle));
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage();
    const loaded = new Map();
    page.on("response", async (r) => loaded.set(r.url(), Number(r.headers()["content-length"] ?? 0)));
    await page.goto(`${server.url}/demo/?bundle=../bundle/`);
    await page.waitForSelector("body[data-ready]");
    // cold: a fresh page from navigation start to its first prediction (page, runtime, WASM and bundle
    // fetched again: the server says no-store)
    const fresh = await browser.newPage();
    await fresh.goto(`${server.url}/demo/?bundle=../bundle/`);
    await fresh.waitForSelector("body[data-ready]");
    const cold = await fresh.evaluate(async (text) => {
      const t0 = performance.now();
      await globalThis.mobilebertEdge.classifier.predict(text);
      return globalThis.mobilebertEdge.readyAt + performance.now() - t0;
    }, texts[0]);
    const timing = await page.evaluate(
      async (texts, single, measureSource) => {
        const measure = new Function(`return (${measureSource})`)();
        const clf = await globalThis.mobilebertEdge.load("../bundle/");
        return { ...(await measure(clf, texts, single, () => performance.now())), isolated: globalThis.crossOriginIsolated };
      },
      texts,
      single,
      measure.toString(),
    );
    const bytes = [...loaded.values()].reduce((a, b) => a + b, 0);
    console.log(JSON.stringify({ runtime, cold_ms: cold, ...timing, browser_bytes: bytes, files: Object.fromEntries(loaded) }));
  } finally {
    await browser.close();
    await server.close();
  }
} else {
  process.stderr.write("usage: bench.js node|chromium BUNDLE TEXTS.json [--single N]\n");
  process.exit(2);
}

#!/usr/bin/env node
/**
 * Time the JavaScript runtime on a bundle and texts, in Node or in headless Chromium; print one JSON line.
 * Run by bench/js_runtime.py, which times Python on the same bundles and texts in the same run.
 *
 *   node edge_runtime_js/scripts/bench.js node|chromium BUNDLE TEXTS.json [--single N]
 *   node edge_runtime_js/scripts/bench.js forms TEXTS.json BUNDLE...      # Chromium, each bundle
 *   node edge_runtime_js/scripts/bench.js profile BUNDLE TEXTS.json       # Chromium, ms per op type
 *
 * node|chromium: cold_ms: load (verify + session) and the first prediction in a fresh process (Node)
 * or a fresh page (Chromium, WASM download and compile included); batch32_ms: ms per text at batch 32
 * over every text (after one warm-up pass); batch1_p50_ms: median of N single-text calls; files: what
 * the page downloaded (Chromium). forms: batch32_ms and the probabilities of every text, per bundle,
 * in one page. profile: onnxruntime-web's own profile of one batch of the texts run twice (its per-node
 * times, printed to the console; the second run's), summed by op type.
 */

import { readFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";

const started = performance.now(); // before the runtime is imported
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const [runtime, ...args] = process.argv.slice(2);

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

/** Time each bundle at batch 32 in the page and keep its probabilities (runs in the page). */
async function forms(names, texts) {
  const out = {};
  for (const name of names) {
    const clf = await globalThis.mobilebertEdge.load(`../bundles/${name}/`);
    await clf.predictProba(texts.slice(0, 32), { batchSize: 32 }); // warm-up batch
    const t0 = performance.now();
    const probabilities = await clf.predictProba(texts, { batchSize: 32 });
    out[name] = { batch32_ms: (performance.now() - t0) / texts.length, probabilities };
  }
  return out;
}

/** Run one padded batch of the texts twice in a profiling session (runs in the page). */
async function profileBatch(texts) {
  const ort = await import("/ort/ort.wasm.min.mjs"); // the page's own onnxruntime-web
  const clf = globalThis.mobilebertEdge.classifier;
  const bytes = await (await fetch(`/bundle/${clf.manifest.model.file}`)).arrayBuffer();
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["wasm"], graphOptimizationLevel: clf.manifest.model.optimization_level === "extended" ? "disabled" : "all",
    enableProfiling: true,
  });
  const batch = clf.encoder.pad(clf.encoder.encodeIds(texts));
  const arrays = { input_ids: batch.inputIds, attention_mask: batch.attentionMask, token_type_ids: batch.tokenTypeIds };
  const feed = Object.fromEntries(clf.inputs.map(({ name }) => [name, new ort.Tensor("int64", BigInt64Array.from(arrays[name], BigInt), [batch.rows, batch.width])]));
  await session.run(feed);
  await session.run(feed);
  session.endProfiling();
  return { rows: batch.rows, width: batch.width };
}

/**
 * A page of the demo server with Chromium around it.
 * @param {Record<string, string>} mounts
 * @param {(browser: any, server: any) => Promise<any>} work
 */
async function withChromium(mounts, work) {
  const puppeteer = (await import("puppeteer-core")).default;
  const { serve } = await import("../demo/serve.js");
  const server = await serve(mounts);
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"], protocolTimeout: 3_600_000 }); // forms: minutes in one call
  try {
    return await work(browser, server);
  } finally {
    await browser.close();
    await server.close();
  }
}

/** @param {any} browser @param {any} server @param {string} bundle a URL relative to the page */
async function openDemo(browser, server, bundle = "../bundle/") {
  const page = await browser.newPage();
  await page.goto(`${server.url}/demo/?bundle=${encodeURIComponent(bundle)}`);
  await page.waitForSelector("body[data-ready]");
  return page;
}

const usage = () => {
  process.stderr.write("usage: bench.js node|chromium BUNDLE TEXTS.json [--single N] | forms TEXTS.json BUNDLE... | profile BUNDLE TEXTS.json\n");
  process.exit(2);
};

if (runtime === "node" || runtime === "chromium") {
  const [bundle, textsFile, flag, value] = args;
  const single = flag === "--single" ? Number(value) : 50;
  const texts = JSON.parse(readFileSync(textsFile, "utf8"));
  if (runtime === "node") {
    const { loadClassifier } = await import("../src/node.js");
    const clf = await loadClassifier(bundle);
    await clf.predict(texts[0]);
    const cold = performance.now() - started;
    console.log(JSON.stringify({ runtime, cold_ms: cold, ...(await measure(clf, texts, single, () => performance.now())) }));
  } else {
    const { demoMounts } = await import("../demo/serve.js");
    await withChromium(demoMounts(bundle), async (browser, server) => {
      const page = await browser.newPage();
      const loaded = new Map();
      page.on("response", async (r) => loaded.set(r.url(), Number(r.headers()["content-length"] ?? 0)));
      await page.goto(`${server.url}/demo/?bundle=../bundle/`);
      await page.waitForSelector("body[data-ready]");
      // cold: a fresh page from navigation start to its first prediction (page, runtime, WASM and bundle
      // fetched again: the server says no-store)
      const fresh = await openDemo(browser, server);
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
      console.log(JSON.stringify({ runtime, cold_ms: cold, ...timing, files: Object.fromEntries(loaded) }));
    });
  }
} else if (runtime === "forms" && args.length >= 2) {
  const [textsFile, ...bundles] = args;
  const texts = JSON.parse(readFileSync(textsFile, "utf8"));
  const { demoMounts } = await import("../demo/serve.js");
  const mounts = { ...demoMounts(bundles[0]), ...Object.fromEntries(bundles.map((b, i) => [`/bundles/${i}/`, path.resolve(b)])) };
  const result = await withChromium(mounts, async (browser, server) => {
    const page = await openDemo(browser, server);
    return page.evaluate(`(${forms.toString()})(${JSON.stringify(bundles.map((_, i) => String(i)))}, ${JSON.stringify(texts)})`);
  });
  console.log(JSON.stringify(bundles.map((bundle, i) => ({ bundle, ...result[String(i)] }))));
} else if (runtime === "profile" && args.length === 2) {
  const [bundle, textsFile] = args;
  const texts = JSON.parse(readFileSync(textsFile, "utf8"));
  const { demoMounts } = await import("../demo/serve.js");
  const nodes = new Map(); // node -> [op type, ms of its last run]
  const shape = await withChromium(demoMounts(bundle), async (browser, server) => {
    const page = await openDemo(browser, server);
    page.on("console", (message) => {
      const line = message.text();
      if (!line.startsWith('{"cat" : "Node"')) return;
      const event = JSON.parse(line.replace(/,\s*$/, ""));
      if (event.name.endsWith("_kernel_time")) nodes.set(event.name, [event.args.op_name, event.dur / 1000]); // the second run's stays
    });
    const result = await page.evaluate(`(${profileBatch.toString()})(${JSON.stringify(texts)})`);
    await new Promise((done) => setTimeout(done, 500)); // the last console lines
    return result;
  });
  const ops = {};
  for (const [op, ms] of nodes.values()) ops[op] = (ops[op] ?? 0) + ms;
  console.log(JSON.stringify({ ...shape, ops_ms: ops }));
} else {
  usage();
}

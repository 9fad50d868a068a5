// The same bundles in headless Chromium (Debian's, driven by puppeteer-core): token ids identical to
// Python's, probabilities within the contract's tolerance, and the demo page classifies a typed review
// as Python does. The page, the runtime, onnxruntime-web's WASM and the bundles all come from a local server.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";

import { demoMounts, ORT_DIST, serve } from "../demo/serve.js";
import { compareProbabilities, differingIds, tolerance } from "./compare.js";
import { fixture, FIXTURES } from "./fixtures.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
// Every text of each fixture (2,000 IMDb reviews for the MiniLM bundle), sent to the page in chunks (one
// page.evaluate stays well under the protocol's timeout); MBE_JS_BROWSER_TEXTS=N compares the first N only.
const BROWSER_TEXTS = Number(process.env.MBE_JS_BROWSER_TEXTS ?? Infinity);
const CHUNK = 256;
const skip = existsSync(CHROMIUM) || process.env.MBE_JS_REQUIRE_ALL ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
let browser, server, page;
/** @type {Map<string, {worst: number, atol: number}>} */
const worst = new Map();

/** Open the demo page on a bundle from the fixtures. @param {string} name */
async function openDemo(name) {
  await page.goto(`${server.url}/demo/?bundle=${encodeURIComponent(`../bundles/${name}/`)}`);
  await page.waitForSelector("body[data-ready]", { timeout: 60_000 });
  assert.equal(await page.$eval("body", (b) => b.dataset.ready), "true", await page.$eval("#status", (e) => e.textContent));
}

before(async () => {
  if (skip) return;
  const puppeteer = (await import("puppeteer-core")).default;
  server = await serve({ ...demoMounts(fixture("tiny-int8")), "/bundles/": FIXTURES });
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  page = await browser.newPage();
  page.on("pageerror", (error) => console.error("page error:", error.message));
  await page.setViewport({ width: 900, height: 640 });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

for (const name of ["tiny-fp32", "tiny-int8", "minilm-int8", "minilm-fp32"]) {
  const all = skip ? null : fixture(`${name}.json`, { optional: name.startsWith("minilm") });
  const expected = all && { texts: all.texts.slice(0, BROWSER_TEXTS), ids: all.ids.slice(0, BROWSER_TEXTS), probabilities: all.probabilities.slice(0, BROWSER_TEXTS) };
  test(`Chromium gives Python's ids and probabilities: ${name}`, { skip: skip || (expected ? false : "no fixture (make_fixtures.py --imdb)") }, async () => {
    await openDemo(name);
    const found = { ids: [], proba: [] };
    for (let start = 0; start < expected.texts.length; start += CHUNK) {
      const part = await page.evaluate(async (texts) => {
        const clf = globalThis.mobilebertEdge.classifier; // the one the page loaded
        return { manifest: clf.manifest, ids: clf.tokenizerIds(texts), proba: await clf.predictProba(texts, { batchSize: 32 }) };
      }, expected.texts.slice(start, start + CHUNK));
      found.manifest = part.manifest;
      found.ids.push(...part.ids);
      found.proba.push(...part.proba);
    }
    assert.deepEqual(differingIds(found.ids, expected.ids), []);
    const { atol, agreement } = tolerance(found.manifest);
    const result = compareProbabilities(found.proba, expected.probabilities, atol);
    console.log(`Chromium ${name}: ${result.rows} texts, max |diff| ${result.worst.toExponential(2)} (atol ${atol}; ${result.over} texts over it), labels equal ${(100 * result.agreement).toFixed(2)}%`);
    assert.ok(result.agreement >= agreement, `labels equal on ${result.agreement}`);
    worst.set(name, { worst: result.worst, atol });
  });
  // WASM's float kernels differ from x86's in the last bits (the fp32 MiniLM: 1e-6), and an int8 graph's
  // QuantizeLinear nodes now and then round such an activation to another integer: int8 probabilities move
  // more than fp32 ones, by how much depends on the model (docs/BENCHMARKS.md, js-runtime).
  test(`Chromium's probabilities within the contract's tolerance: ${name}`, { skip: skip || (expected ? false : "no fixture") }, () => {
    const { worst: diff, atol } = worst.get(name) ?? { worst: Infinity, atol: 0 };
    assert.ok(diff <= atol, `max |diff| ${diff} > ${atol}`);
  });
}

test("the demo page classifies a typed review as Python does, offline, and refuses a changed bundle byte", { skip }, async () => {
  const name = fixture("minilm-int8.json", { optional: true }) ? "minilm-int8" : "tiny-int8";
  const expected = fixture(`${name}.json`);
  const index = expected.texts.findIndex((t) => t.length > 150 && t.length < 400 && /wonderful|excellent|great/i.test(t));
  await openDemo(name);
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  await page.type("#text", expected.texts[index]);
  await page.click("#classify");
  await page.waitForSelector("#result:not([hidden])");
  const shown = await page.$$eval("#probabilities .row", (rows) => rows.map((r) => [r.dataset.label, Number(r.dataset.probability)]));
  const labels = shown.map(([label]) => label);
  const want = expected.probabilities[index];
  const label = await page.$eval("#label", (e) => e.dataset.label);
  assert.equal(label, labels[want.indexOf(Math.max(...want))]);
  shown.forEach(([, p], k) => assert.ok(Math.abs(p - want[k]) <= 0.02, `${p} vs ${want[k]}`));
  assert.ok(requests.every((url) => url.startsWith(server.url)), "every request stays on the local server");
  const shot = process.env.MBE_JS_SCREENSHOT ?? path.join(tmpdir(), "mbe-js-demo.png");
  await page.screenshot({ path: shot });
  console.log(`screenshot: ${shot}`);
  // a bundle whose files do not match their hashes is refused with the Python runtime's message
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    if (!request.url().endsWith("/tokenizer.json")) return request.continue();
    request.respond({ status: 200, contentType: "application/json", body: '{"changed": true}' });
  });
  await page.goto(`${server.url}/demo/?bundle=../bundles/tiny-int8/`);
  await page.waitForSelector("body[data-ready]");
  assert.equal(await page.$eval("#status", (e) => e.textContent), "error: bundle ../bundles/tiny-int8/: tokenizer.json was modified or corrupted (sha256 mismatch); copy the bundle again or re-export it");
});

test("onnxruntime-web's files are served from the package, not a CDN", { skip }, () => {
  assert.ok(existsSync(path.join(ORT_DIST, "ort.wasm.min.mjs")));
});

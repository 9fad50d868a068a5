// Bundle verification: what Python's verify_bundle refuses, the JavaScript runtime refuses with the same message.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";

import { loadBundle, readManifest } from "../src/bundle.js";
import { BundleError } from "../src/errors.js";
import { folderSource } from "../src/node.js";
import { fixture } from "./fixtures.js";

const original = fixture("tiny-int8", { optional: false });
const scratch = mkdtempSync(path.join(tmpdir(), "mbe-js-bundle-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let count = 0;
/** A fresh copy of the tiny int8 bundle. */
function copy() {
  const folder = path.join(scratch, `bundle-${count++}`);
  cpSync(original, folder, { recursive: true });
  return folder;
}

/** @param {string} folder @param {(m: any) => void} change */
function editManifest(folder, change) {
  const file = path.join(folder, "manifest.json");
  const manifest = JSON.parse(readFileSync(file, "utf8"));
  change(manifest);
  writeFileSync(file, JSON.stringify(manifest, null, 2));
}

const load = (folder) => loadBundle(folderSource(folder));

test("an intact bundle verifies, its manifest hash recomputed from Python's canonical JSON", async () => {
  const { manifest, files } = await load(original);
  assert.deepEqual([...files.keys()].sort(), Object.keys(manifest.files).sort());
});

test("one changed byte in a file is refused", async () => {
  const folder = copy();
  const model = path.join(folder, "model.onnx");
  const bytes = readFileSync(model);
  bytes[bytes.length - 1] ^= 1;
  writeFileSync(model, bytes);
  await assert.rejects(load(folder), { name: "BundleError", message: `bundle ${folder}: model.onnx was modified or corrupted (sha256 mismatch); copy the bundle again or re-export it` });
});

test("a changed manifest value is refused", async () => {
  const folder = copy();
  editManifest(folder, (m) => (m.labels = ["positive", "negative"]));
  await assert.rejects(load(folder), {
    message: `bundle ${folder}: manifest.json was modified or corrupted (sha256 mismatch); re-export the bundle; a manifest is only valid as written by 'mobilebert-edge export'`,
  });
});

test("missing folder, file and manifest; a file given instead of a folder; a link leaving the folder", async () => {
  await assert.rejects(load(path.join(scratch, "nope")), { message: `bundle ${path.join(scratch, "nope")}: no such folder; pass the folder written by 'mobilebert-edge export'` });
  let folder = copy();
  await assert.rejects(load(path.join(folder, "model.onnx")), { message: /: not a folder; pass the bundle folder/ });
  rmSync(path.join(folder, "tokenizer.json"));
  await assert.rejects(load(folder), { message: `bundle ${folder}: tokenizer.json is missing; copy the whole bundle folder` });
  folder = copy();
  rmSync(path.join(folder, "manifest.json"));
  await assert.rejects(load(folder), { message: `bundle ${folder}: manifest.json is missing; re-export the bundle` });
  folder = copy();
  const outside = path.join(scratch, "outside.json");
  cpSync(path.join(folder, "tokenizer.json"), outside);
  rmSync(path.join(folder, "tokenizer.json"));
  symlinkSync(outside, path.join(folder, "tokenizer.json"));
  await assert.rejects(load(folder), { message: new RegExp(`tokenizer.json is a link to a file outside the bundle folder`) });
});

test("format, version, schema and golden labels are checked before anything runs", async () => {
  const cases = [
    [(m) => (m.format = "other"), "not a mobilebert-edge bundle (expected format 'mobilebert-edge-bundle', found 'other')"],
    [(m) => (m.format_version = 2), "unsupported bundle format version (expected version 1, found version 2); upgrade mobilebert-edge"],
    [(m) => delete m.files, "manifest.json lacks required keys"],
    [(m) => (m.tokenizer.truncation.rule = "middle"), "manifest.json: tokenizer.truncation.rule is not a known value (expected head | tail | head_tail, found 'middle')"],
    [(m) => (m.model.temperature = 2), "manifest.json: model.temperature is not a known key"],
    [(m) => (m.calibration = { method: "temperature", temperature: 0 }), "manifest.json: calibration.temperature is out of range (expected > 0, found 0)"],
    [(m) => (m.files["../x"] = "0".repeat(64)), "manifest.json lists a file outside the bundle folder (expected a name inside the folder, found '../x')"],
    [(m) => (m.golden.examples[0].probabilities = { negative: 0.5, other: 0.5 }), "golden.examples[0].probabilities do not name the bundle's labels"],
  ];
  for (const [change, message] of cases) {
    const folder = copy();
    editManifest(folder, change);
    await assert.rejects(readManifest(folderSource(folder)), (error) => {
      assert.ok(error instanceof BundleError, String(error));
      assert.ok(error.message.includes(message), `${error.message}\n  lacks ${message}`);
      return true;
    });
  }
});

test("the manifest must be JSON without NaN or duplicate keys", async () => {
  const folder = copy();
  const file = path.join(folder, "manifest.json");
  const text = readFileSync(file, "utf8");
  writeFileSync(file, text.replace('"labels"', '"labels": ["a"], "labels"'));
  await assert.rejects(readManifest(folderSource(folder)), { message: /manifest.json is not valid JSON \(duplicate key "labels"/ });
  writeFileSync(file, text.replace(/"atol": [0-9.e-]+/, '"atol": NaN'));
  await assert.rejects(readManifest(folderSource(folder)), { message: /manifest.json is not valid JSON \(NaN and infinities are not JSON numbers\)/ });
});

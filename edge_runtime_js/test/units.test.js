// The pure parts: truncation rules, batch plans, canonical manifest JSON, Python number formats, the schema copy.
import assert from "node:assert/strict";
import { test } from "node:test";

import { planBatches } from "../src/batching.js";
import { canonicalManifest } from "../src/canonical.js";
import { InputError } from "../src/errors.js";
import schema from "../src/manifest_schema.js";
import { pyExp, pyFixed, pyFloat, pyG, pyJson } from "../src/pyformat.js";
import { isBlank } from "../src/text.js";
import { truncateIds } from "../src/truncation.js";
import { fixture } from "./fixtures.js";

const ids = Array.from({ length: 10 }, (_, i) => i);

test("truncation rules keep the head, the tail, or both with the head share", () => {
  assert.deepEqual(truncateIds(ids, 4, "head"), [0, 1, 2, 3]);
  assert.deepEqual(truncateIds(ids, 4, "tail"), [6, 7, 8, 9]);
  assert.deepEqual(truncateIds(ids, 8, "head_tail"), [0, 1, 2, 3, 4, 5, 6, 7].map((i) => (i < 2 ? i : i + 2))); // a quarter: 2 head
  assert.deepEqual(truncateIds(ids, 4, "head_tail", 4), [0, 1, 2, 3]);
  assert.deepEqual(truncateIds(ids, 4, "head_tail", 0), [6, 7, 8, 9]);
  assert.deepEqual(truncateIds(ids, 10, "tail"), ids);
  assert.throws(() => truncateIds(ids, 4, "middle"), { message: "unknown truncation rule (expected head | tail | head_tail, found 'middle')" });
  assert.throws(() => truncateIds(ids, 4, "head_tail", 5), InputError);
});

test("batches: shortest first, ties in input order, capped in rows and padded tokens", () => {
  assert.deepEqual(planBatches([5, 3, 5, 1], 2), [[3, 1], [0, 2]]);
  assert.deepEqual(planBatches([10, 10, 10], 8, 20), [[0, 1], [2]]);
  assert.deepEqual(planBatches([10, 10, 10], 8, 30), [[0, 1, 2]]);
  assert.deepEqual(planBatches([50, 1], 8, 20), [[1], [0]]); // a single longer text still runs alone
  assert.deepEqual(planBatches([], 8), []);
});

test("the canonical manifest JSON is byte for byte Python's (floats as written, keys by code point)", () => {
  // json.dumps(m, indent=2, ensure_ascii=False) and the canonical form, both from Python (3.11)
  const text = "{\n  \"b\": 1.0,\n  \"a\": [\n    1e-05,\n    2,\n    -0.0,\n    1e+16,\n    0.30000000000000004\n  ],\n  \"\u00e9\": \"x\u00e9\\n\\u0001\ud83d\ude00\\\"\\\\\",\n  \"Z\": {\n    \"y\": null,\n    \"x\": true\n  },\n  \"manifest_sha256\": \"zz\"\n}";
  const python = "{\"Z\":{\"x\":true,\"y\":null},\"a\":[1e-05,2,-0.0,1e+16,0.30000000000000004],\"b\":1.0,\"\u00e9\":\"x\u00e9\\n\\u0001\ud83d\ude00\\\"\\\\\"}";
  assert.equal(canonicalManifest(text), python);
  assert.throws(() => canonicalManifest('{"a": 1, "a": 2}'), /duplicate key "a"/);
});

test("Python's number formats", () => {
  assert.deepEqual([0.5, 1, 1e-5, 1e16, 0.1 + 0.2, -3.25].map(pyFloat), ["0.5", "1.0", "1e-05", "1e+16", "0.30000000000000004", "-3.25"]);
  assert.equal(pyJson({ text: "é\n", label: "positive", score: 1, probabilities: { a: 2.5e-7 } }), '{"text": "é\\n", "label": "positive", "score": 1.0, "probabilities": {"a": 2.5e-07}}');
  assert.deepEqual([pyFixed(0.03125, 4), pyFixed(0.96875, 4), pyFixed(0.123456, 4)], ["0.0312", "0.9688", "0.1235"]);
  assert.deepEqual([pyExp(1.234e-5, 2), pyExp(0, 2)], ["1.23e-05", "0.00e+00"]);
  assert.deepEqual([0.001, 0.02, 1e-5, 1234567].map(pyG), ["0.001", "0.02", "1e-05", "1.23457e+06"]);
});

test("blank means no content character: separators, controls, format, private use, lone combining marks, U+FFFD", () => {
  for (const text of ["", " ", "\t\n\r\v\f", "\u0000\u001c\u0085\u00a0\u3000\u2028", "\ufeff\u200b\u00ad", "\ue000", "\u0301", "\ufffd"]) {
    assert.ok(isBlank(text), JSON.stringify(text));
  }
  for (const text of ["a", " a ", "😀", "中", "\ud800"]) assert.ok(!isBlank(text), JSON.stringify(text));
});

test("the schema is a copy of edge_runtime.manifest_schema.SCHEMA", () => {
  assert.deepEqual(schema, fixture("schema.json"));
});

test("a graph op the JavaScript onnxruntime lacks is named with the export option that avoids it", async () => {
  const { missingOpError } = await import("../src/ops.js");
  const model = { file: "model.onnx", contrib_ops: ["QAttention", "SkipLayerNormalization"], graph_pass: null };
  const error = missingOpError("b/", model, "Could not find an implementation for QAttention(1) node with name 'x'", "1.31.1");
  assert.equal(error.message, "bundle b/: onnxruntime 1.31.1 has no operator QAttention, which model.onnx uses; upgrade onnxruntime on this device to the version that exported the bundle (manifest.json versions), or re-export it with --no-optimize");
  assert.equal(missingOpError("b/", model, "Could not find an implementation for Gemm(13)", "1.31.1"), null); // not one of the bundle's contrib ops
  assert.equal(missingOpError("b/", model, "some other failure", "1.31.1"), null);
});

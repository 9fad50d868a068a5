// The confidence map, held to Python's numbers (test/confidence_map.json, written and checked by
// tests/test_confidence_map.py): the same probabilities, labels that never change, the same refusals.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { confidenceMapOf, probabilities } from "../src/classifier.js";

const { cases, refused } = JSON.parse(readFileSync(new URL("./confidence_map.json", import.meta.url), "utf8"));

const argmax = (row) => row.reduce((best, x, i) => (x > row[best] ? i : best), 0);

test("Node gives Python's calibrated probabilities, and the logits' labels, on every row", () => {
  let worst = 0;
  for (const { logits, temperature, confidence_map: map, probabilities: expected } of cases) {
    logits.forEach((row, i) => {
      const found = probabilities(row, temperature, map);
      found.forEach((p, k) => (worst = Math.max(worst, Math.abs(p - expected[i][k]))));
      assert.equal(argmax(found), argmax(row), `row ${i}: ${row}`);
    });
  }
  assert.ok(worst <= 1e-12, `max |diff| ${worst}`);
});

test("without a map the probabilities are softmax(logits / T), and a map changes them", () => {
  const { logits, temperature, confidence_map: map } = cases[0];
  const plain = probabilities(logits[5], temperature);
  assert.deepEqual(probabilities(logits[5], temperature, null), plain);
  assert.notDeepEqual(probabilities(logits[5], temperature, map), plain);
});

test("a malformed map is refused as Python refuses it", () => {
  assert.equal(confidenceMapOf({ calibration: { method: "temperature", temperature: 1 } }, "b"), null);
  for (const { confidence_map: map, message } of refused) {
    assert.throws(() => confidenceMapOf({ calibration: { method: "temperature", temperature: 1, confidence_map: map } }, "b"),
      (error) => error.name === "BundleError" && error.message.startsWith(`${message} (expected {"from": [...], "to": [...]} of the same length 2..64`));
  }
});

// Node against Python on the same bundles and texts: token ids identical, probabilities within the
// contract's tolerance (fp32: 1e-4; int8: the bundle's golden atol), labels equal (fp32: all; int8: >= 99.5%).
import assert from "node:assert/strict";
import { test } from "node:test";

import { loadClassifier } from "../src/node.js";
import { argmax, compareProbabilities, differingIds, tolerance } from "./compare.js";
import { fixture } from "./fixtures.js";

for (const name of ["tiny-fp32", "tiny-int8", "minilm-int8", "minilm-fp32"]) {
  const expected = fixture(`${name}.json`, { optional: name.startsWith("minilm") });
  test(`Node gives Python's ids and probabilities: ${name}`, { skip: expected ? false : "no fixture (make_fixtures.py --imdb)" }, async () => {
    const clf = await loadClassifier(fixture(name));
    assert.deepEqual(differingIds(clf.tokenizerIds(expected.texts), expected.ids), []);
    const { atol, agreement } = tolerance(clf.manifest);
    const proba = await clf.predictProba(expected.texts, { batchSize: 32 });
    const found = compareProbabilities(proba, expected.probabilities);
    console.log(`${name}: ${found.rows} texts, max |diff| ${found.worst.toExponential(2)} (atol ${atol}), labels equal ${(100 * found.agreement).toFixed(2)}%`);
    assert.ok(found.worst <= atol, `max |diff| ${found.worst} > ${atol}`);
    assert.ok(found.agreement >= agreement, `labels equal on ${found.agreement}`);
    if (expected.gold) {
      const accuracy = proba.filter((row, i) => argmax(row) === expected.gold[i]).length / found.rows;
      console.log(`${name}: accuracy on the ${found.rows} held-out reviews ${(100 * accuracy).toFixed(2)}%`);
      assert.ok(accuracy > 0.7, "the bundle's labels must mean something for agreement to mean something");
    }
  });
}

test("the fp32 tolerance catches a runtime that is off: int8 answers against fp32 ones fail it", async () => {
  const fp32 = fixture("tiny-fp32.json");
  const int8 = fixture("tiny-int8.json");
  const { worst } = compareProbabilities(int8.probabilities, fp32.probabilities);
  assert.ok(worst > 1e-4, `${worst}`);
});

test("a batch of one and a batch of many give the same answer; a text's result does not depend on its batch-mates", async () => {
  const clf = await loadClassifier(fixture("tiny-fp32"));
  const texts = fixture("tiny-fp32.json").texts.slice(0, 40);
  const alone = await Promise.all(texts.slice(0, 8).map((t) => clf.predictProba([t])));
  const together = await clf.predictProba(texts, { batchSize: 40, batchTokens: null });
  alone.forEach(([row], i) => row.forEach((p, k) => assert.ok(Math.abs(p - together[i][k]) < 1e-6)));
  const single = await clf.predict("a great film");
  assert.equal(single.label, (await clf.predict(["a great film"]))[0].label);
  assert.deepEqual(Object.keys(single.probabilities), clf.labels);
});

test("empty texts are refused as Python refuses them", async () => {
  const clf = await loadClassifier(fixture("tiny-fp32"));
  await assert.rejects(clf.predictProba(["fine", " \t"]), { name: "InputError", message: "text 1 is empty (expected at least one visible character, found ' \\t')" });
  // not blank, but the tokenizer keeps nothing of it (U+1734, a spacing mark that tokenizers strips as an accent)
  await assert.rejects(clf.predictProba(["fine", "\u1734"]), { message: "text 1 is empty (expected at least one token the model reads, found '\u1734')" });
  await assert.rejects(clf.predictProba("a text"), { message: /takes a list of texts/ });
  await assert.rejects(clf.predictProba(["fine"], { batchSize: 0 }), { message: "batch_size must be a positive integer (expected >= 1, found 0)" });
  assert.throws(() => clf.tokenizerIds(["bad \ud800 surrogate"]), { message: /text 0 is not valid Unicode \(a lone surrogate at character 4\)/ });
});

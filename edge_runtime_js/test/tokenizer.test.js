// Token ids identical to Python's TextEncoder (tokenizers) on >= 2,000 texts, under every truncation rule.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { TextEncoder } from "../src/text.js";
import { WordPieceTokenizer } from "../src/wordpiece.js";
import { fixture } from "./fixtures.js";

const tokens = fixture("tokens.json");
const config = JSON.parse(readFileSync(tokens.tokenizer, "utf8"));

test("the parity set is large and covers the hard inputs", () => {
  assert.ok(tokens.texts.length >= 2000, `${tokens.texts.length} texts`);
  for (const pattern of [/\p{Script=Han}/u, /\p{Extended_Pictographic}/u, /[\u0000-\u0008]/, /\u0301/, /\S{100,}/, /\[SEP\]/]) {
    assert.ok(tokens.texts.some((t) => pattern.test(t)), `no text matches ${pattern}`);
  }
  assert.ok(tokens.cases[0].ids.some((ids) => ids.length === tokens.cases[0].max_length), "no text reaches the limit");
});

for (const { rule, max_length: maxLength, head_tokens: head, ids } of tokens.cases) {
  test(`token ids equal Python's: ${rule}, max_length ${maxLength}, head_tokens ${head}`, () => {
    const encoder = new TextEncoder(new WordPieceTokenizer(config), maxLength, rule, head);
    const found = encoder.encodeIds(tokens.texts);
    const differ = found.map((row, i) => i).filter((i) => JSON.stringify(found[i]) !== JSON.stringify(ids[i]));
    const first = differ[0];
    assert.equal(differ.length, 0, differ.length ? `${differ.length} texts differ, first ${JSON.stringify(tokens.texts[first]).slice(0, 200)}: ${found[first]} vs ${ids[first]}` : "");
  });
}

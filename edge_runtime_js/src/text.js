/**
 * Texts to model inputs, as `edge_runtime.text`: content ids -> truncation rule -> the special
 * tokens the tokenizer's post-processor adds -> batches padded to their longest row.
 */

import { BundleError, InputError } from "./errors.js";
import { truncateIds } from "./truncation.js";
import { contentIds } from "./window.js";
import { WordPieceTokenizer } from "./wordpiece.js";

const PAD_TOKENS = ["[PAD]", "<pad>", "<PAD>"];

/**
 * Characters that carry no content, as `edge_runtime.text.NO_CONTENT_CATEGORIES`: separators, control,
 * format, private use, nonspacing marks, and U+FFFD (BERT-style normalizers drop all of them).
 */
const NO_CONTENT = /^[\p{Zs}\p{Zl}\p{Zp}\p{Cc}\p{Cf}\p{Co}\p{Mn}\ufffd]*$/u;

/** True for a text with no content character: nothing to classify. @param {string} text */
export function isBlank(text) {
  return NO_CONTENT.test(text);
}

/**
 * A padded batch: int64-ready rows of equal width.
 * @typedef {object} Batch
 * @property {number} rows
 * @property {number} width
 * @property {Int32Array} inputIds
 * @property {Int32Array} attentionMask
 * @property {Int32Array} tokenTypeIds
 */

export class TextEncoder {
  /**
   * @param {WordPieceTokenizer} tokenizer
   * @param {number} maxLength
   * @param {string} [rule]
   * @param {number | null} [headTokens]
   */
  constructor(tokenizer, maxLength, rule = "head", headTokens = null) {
    this.tokenizer = tokenizer;
    this.padId = padId(tokenizer);
    this.maxLength = maxLength;
    this.rule = rule;
    this.headTokens = headTokens;
    Object.assign(this, specialLayout(tokenizer));
    /** @type {number[]} */ this.prefix;
    /** @type {number[]} */ this.suffix;
    /** @type {number[]} */ this.prefixTypes;
    /** @type {number[]} */ this.suffixTypes;
    /** @type {number} */ this.contentType;
    this.budget = maxLength - this.prefix.length - this.suffix.length;
    if (this.budget < 1) {
      throw new InputError("max_length leaves no room for text", { expected: `> ${this.prefix.length + this.suffix.length} (the special tokens)`, found: maxLength });
    }
    truncateIds([], this.budget, rule, headTokens); // validates the rule once
    if (headTokens !== null && !(headTokens >= 0 && headTokens <= this.budget)) {
      throw new InputError("head_tokens out of range", { expected: `0..${this.budget}`, found: headTokens });
    }
  }

  /**
   * Refuse what is not a string or not valid Unicode, naming the text.
   * @param {unknown} text
   * @param {number} index the text's number in error messages
   * @returns {asserts text is string}
   */
  checkText(text, index) {
    if (typeof text !== "string") throw new InputError(`text ${index} is not a string`, { expected: "str", found: text === null ? "NoneType" : typeof text });
    const lone = text.search(/\p{Cs}/u);
    if (lone !== -1) {
      throw new InputError(`text ${index} is not valid Unicode (a lone surrogate at character ${[...text.slice(0, lone)].length})`, {
        hint: "the input was probably decoded with the wrong encoding; pass UTF-8 text",
      });
    }
  }

  /**
   * Content ids of a text after the truncation rule (only the ends of a long text are tokenized).
   * @param {string} text
   * @param {number} index the text's number in error messages
   */
  keptIds(text, index = 0) {
    this.checkText(text, index);
    return contentIds(this.tokenizer, text, this.budget, this.rule, this.headTokens);
  }

  /**
   * Token ids with special tokens, truncated to maxLength, unpadded.
   * @param {string[]} texts
   * @param {number} [offset] added to text numbers in error messages
   * @returns {number[][]}
   */
  encodeIds(texts, offset = 0) {
    return texts.map((text, i) => [...this.prefix, ...this.keptIds(text, offset + i), ...this.suffix]);
  }

  /**
   * Pad id rows to the longest one.
   * @param {number[][]} rows
   * @returns {Batch}
   */
  pad(rows) {
    const width = Math.max(0, ...rows.map((row) => row.length));
    const inputIds = new Int32Array(rows.length * width).fill(this.padId);
    const attentionMask = new Int32Array(rows.length * width);
    const tokenTypeIds = new Int32Array(rows.length * width);
    const specials = this.prefix.length + this.suffix.length;
    rows.forEach((row, i) => {
      const base = i * width;
      inputIds.set(row, base);
      attentionMask.fill(1, base, base + row.length);
      const types = [...this.prefixTypes, ...new Array(row.length - specials).fill(this.contentType), ...this.suffixTypes];
      tokenTypeIds.set(types, base);
    });
    return { rows: rows.length, width, inputIds, attentionMask, tokenTypeIds };
  }
}

/**
 * Special ids (and type ids) the post-processor puts before and after a single sequence.
 * @param {WordPieceTokenizer} tokenizer
 */
export function specialLayout(tokenizer) {
  const post = tokenizer.postProcessor;
  const layout = { prefix: [], suffix: [], prefixTypes: [], suffixTypes: [], contentType: 0 };
  if (!post) return layout;
  const special = (name) => {
    const id = tokenizer.tokenToId(name);
    if (id === undefined) throw new BundleError(`tokenizer.json: the special token ${name} is not in the vocabulary`, { hint: "re-export the bundle" });
    return id;
  };
  if (post.type === "BertProcessing" || post.type === "RobertaProcessing") {
    return { prefix: [post.cls[1]], suffix: [post.sep[1]], prefixTypes: [0], suffixTypes: [0], contentType: 0 };
  }
  if (post.type === "TemplateProcessing") {
    let seen = false;
    for (const item of post.single) {
      if (item.Sequence) {
        seen = true;
        layout.contentType = item.Sequence.type_id;
        continue;
      }
      const name = item.SpecialToken.id;
      const ids = post.special_tokens?.[name]?.ids ?? [special(name)];
      (seen ? layout.suffix : layout.prefix).push(...ids);
      (seen ? layout.suffixTypes : layout.prefixTypes).push(...ids.map(() => item.SpecialToken.type_id));
    }
    if (seen) return layout;
  }
  throw new BundleError("unsupported tokenizer post-processor", {
    expected: "special tokens before and/or after the text (BERT-, RoBERTa- or template-style)",
    found: post.type,
  });
}

/** The padding id: the padding config's, else a [PAD]-like token, else 0. @param {WordPieceTokenizer} tokenizer */
function padId(tokenizer) {
  if (tokenizer.padding && tokenizer.padding.pad_id !== undefined && tokenizer.padding.pad_id !== null) return tokenizer.padding.pad_id;
  for (const token of PAD_TOKENS) {
    const id = tokenizer.tokenToId(token);
    if (id !== undefined) return id;
  }
  return 0;
}

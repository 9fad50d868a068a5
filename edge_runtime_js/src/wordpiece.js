/**
 * A WordPiece tokenizer read from a `tokenizer.json`, giving the ids Python `tokenizers` gives:
 * added tokens split out first, then the BERT normalizer (clean text, CJK spacing, accents,
 * lowercase), the BERT pre-tokenizer (whitespace, punctuation) and greedy longest-match WordPiece.
 * Character classes come from `unicode_tables.js`, generated from `tokenizers` itself.
 * Other tokenizer types are refused with a BundleError naming the part.
 */

import { BundleError } from "./errors.js";
import { CONTROL, NONSPACING_MARK, PUNCTUATION, WHITESPACE } from "./unicode_tables.js";

/** CJK Unified Ideographs blocks, as `tokenizers`' BertNormalizer lists them. */
const CJK = [0x4e00, 0x9fff, 0x3400, 0x4dbf, 0x20000, 0x2a6df, 0x2a700, 0x2b73f, 0x2b740, 0x2b81f, 0x2b920, 0x2ceaf, 0xf900, 0xfaff, 0x2f800, 0x2fa1f];
const CJK_SORTED = sortRanges(CJK);

/** @param {number[]} flat */
function sortRanges(flat) {
  const pairs = [];
  for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]]);
  return pairs.sort((a, b) => a[0] - b[0]).flat();
}

/**
 * True when `code` lies in one of the flat, sorted, inclusive ranges.
 * @param {number[]} ranges
 * @param {number} code
 */
export function inRanges(ranges, code) {
  let lo = 0;
  let hi = ranges.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (code < ranges[2 * mid]) hi = mid - 1;
    else if (code > ranges[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

/**
 * @typedef {object} AddedToken
 * @property {string} content
 * @property {number} id
 * @property {boolean} normalized
 */

export class WordPieceTokenizer {
  /**
   * @param {any} config the parsed tokenizer.json
   * @param {string} [where] how messages name the file
   */
  constructor(config, where = "tokenizer.json") {
    const unsupported = (part, found) =>
      new BundleError(`${where}: unsupported ${part}`, { expected: SUPPORTED[part], found, hint: "this runtime reads BERT-style WordPiece tokenizers" });
    const model = config?.model;
    if (model?.type !== "WordPiece") throw unsupported("model", model?.type ?? "none");
    const normalizer = config.normalizer;
    if (normalizer && normalizer.type !== "BertNormalizer") throw unsupported("normalizer", normalizer.type);
    const pre = config.pre_tokenizer;
    if (pre && pre.type !== "BertPreTokenizer") throw unsupported("pre_tokenizer", pre.type);
    /** @type {Map<string, number>} */
    this.vocab = new Map(Object.entries(model.vocab));
    this.unkToken = model.unk_token;
    this.prefix = model.continuing_subword_prefix ?? "##";
    this.maxChars = model.max_input_chars_per_word ?? 100;
    this.normalizer = normalizer
      ? {
          cleanText: normalizer.clean_text ?? true,
          chinese: normalizer.handle_chinese_chars ?? true,
          stripAccents: normalizer.strip_accents ?? normalizer.lowercase ?? true,
          lowercase: normalizer.lowercase ?? true,
        }
      : null;
    this.preTokenize = Boolean(pre);
    /** @type {AddedToken[]} */
    this.added = (config.added_tokens ?? []).map((t) => ({ content: t.content, id: t.id, normalized: Boolean(t.normalized) }));
    for (const token of this.added) this.vocab.set(token.content, token.id);
    // longest first: at one position the longest added token wins (leftmost-longest)
    this.rawAdded = this.added.filter((t) => !t.normalized).sort((a, b) => b.content.length - a.content.length);
    this.normAdded = this.added.filter((t) => t.normalized).sort((a, b) => b.content.length - a.content.length);
    this.postProcessor = config.post_processor ?? null;
    this.padding = config.padding ?? null;
  }

  /**
   * The id of a token (vocabulary or added), or undefined.
   * @param {string} token
   */
  tokenToId(token) {
    return this.vocab.get(token);
  }

  /**
   * Content ids of a text (no special tokens added by the post-processor).
   * @param {string} text
   * @returns {number[]}
   */
  encode(text) {
    return this.encodeWords(text).flat();
  }

  /**
   * Content ids of a text grouped by word (an added token, or a word of the pre-tokenizer), as
   * `tokenizers`' `word_ids` group them.
   * @param {string} text
   * @returns {number[][]}
   */
  encodeWords(text) {
    const words = [];
    for (const piece of splitAdded(text, this.rawAdded)) {
      if (typeof piece === "number") {
        words.push([piece]);
        continue;
      }
      const normalized = this.normalize(piece);
      for (const part of splitAdded(normalized, this.normAdded)) {
        if (typeof part === "number") words.push([part]);
        else for (const word of this.words(part)) words.push(this.wordPiece(word, []));
      }
    }
    return words;
  }

  /** @param {string} text */
  normalize(text) {
    const n = this.normalizer;
    if (!n) return text;
    let out = "";
    for (const ch of text) {
      const code = /** @type {number} */ (ch.codePointAt(0));
      if (n.cleanText) {
        if (inRanges(CONTROL, code)) continue;
        if (inRanges(WHITESPACE, code)) {
          out += " ";
          continue;
        }
      }
      out += n.chinese && inRanges(CJK_SORTED, code) ? ` ${ch} ` : ch;
    }
    if (n.stripAccents) {
      let kept = "";
      for (const ch of out.normalize("NFD")) if (!inRanges(NONSPACING_MARK, /** @type {number} */ (ch.codePointAt(0)))) kept += ch;
      out = kept;
    }
    if (n.lowercase) {
      let lower = "";
      for (const ch of out) lower += ch.toLowerCase(); // one character at a time, as tokenizers does (no final sigma)
      out = lower;
    }
    return out;
  }

  /**
   * Words of a normalized text: split on whitespace, punctuation isolated.
   * @param {string} text
   * @returns {string[]}
   */
  words(text) {
    if (!this.preTokenize) return text ? [text] : [];
    const words = [];
    let word = "";
    for (const ch of text) {
      const code = /** @type {number} */ (ch.codePointAt(0));
      if (inRanges(WHITESPACE, code)) {
        if (word) words.push(word);
        word = "";
      } else if (inRanges(PUNCTUATION, code)) {
        if (word) words.push(word);
        words.push(ch);
        word = "";
      } else word += ch;
    }
    if (word) words.push(word);
    return words;
  }

  /**
   * Greedy longest-match pieces of one word, appended to `ids` (the unknown token if any part fails).
   * @param {string} word
   * @param {number[]} ids
   * @returns {number[]} ids
   */
  wordPiece(word, ids) {
    const chars = Array.from(word);
    const unk = () => {
      const id = this.vocab.get(this.unkToken);
      if (id === undefined) throw new BundleError(`tokenizer.json: the unknown token ${this.unkToken} is not in the vocabulary`);
      ids.push(id);
      return ids;
    };
    if (chars.length > this.maxChars) return unk();
    const pieces = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found;
      while (start < end) {
        const piece = (start > 0 ? this.prefix : "") + chars.slice(start, end).join("");
        found = this.vocab.get(piece);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) return unk();
      pieces.push(found);
      start = end;
    }
    ids.push(...pieces);
    return ids;
  }
}

const SUPPORTED = {
  model: "WordPiece",
  normalizer: "BertNormalizer or none",
  pre_tokenizer: "BertPreTokenizer or none",
};

/**
 * Split `text` around added tokens (leftmost, then longest): strings and ids, in order.
 * @param {string} text
 * @param {AddedToken[]} tokens longest first
 * @returns {Array<string | number>}
 */
function splitAdded(text, tokens) {
  if (!tokens.length || !text) return text ? [text] : [];
  const out = [];
  let from = 0;
  let at = 0;
  while (at < text.length) {
    const token = tokens.find((t) => text.startsWith(t.content, at));
    if (token) {
      if (at > from) out.push(text.slice(from, at));
      out.push(token.id);
      at += token.content.length;
      from = at;
    } else at++;
  }
  if (from < text.length) out.push(text.slice(from));
  return out;
}

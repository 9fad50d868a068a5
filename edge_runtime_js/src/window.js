/**
 * Tokenize only the ends of a long text, as `edge_runtime.window`: memory bounded whatever the
 * text's length, the same ids as the whole text truncated by the rule. A text longer than
 * `WINDOW_CHARS_PER_TOKEN` characters per kept token is tokenized a window of characters at a time
 * from the end(s) the rule keeps; the tokens of the word the window's edge may cut are dropped, and
 * the window doubles until the whole words inside it give the tokens needed (at most
 * `MAX_WINDOW_CHARS`). Lengths and windows count code points, as Python's `len` does.
 */

import { defaultHeadTokens, truncateIds } from "./truncation.js";

export const WINDOW_CHARS_PER_TOKEN = 16;
export const MAX_WINDOW_CHARS = 1 << 20;

/** Texts up to this many characters are tokenized whole. @param {number} budget */
export function windowChars(budget) {
  return WINDOW_CHARS_PER_TOKEN * budget;
}

/** Code points of a string, counted without copying it. @param {string} text */
function codePoints(text) {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit < 0xdc00 && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
    n++;
  }
  return n;
}

/**
 * The first (`fromEnd`: last) `size` code points of `text`.
 * @param {string} text
 * @param {number} size
 * @param {boolean} fromEnd
 */
function sliceCodePoints(text, size, fromEnd) {
  let at = fromEnd ? text.length : 0;
  for (let n = 0; n < size; n++) {
    if (fromEnd) at -= at >= 2 && (text.charCodeAt(at - 1) & 0xfc00) === 0xdc00 && (text.charCodeAt(at - 2) & 0xfc00) === 0xd800 ? 2 : 1;
    else at += (text.charCodeAt(at) & 0xfc00) === 0xd800 && (text.charCodeAt(at + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
  }
  return fromEnd ? text.slice(at) : text.slice(0, at);
}

/**
 * `truncateIds(<content ids of text>, budget, rule, headTokens)`, tokenizing only the ends of a long text.
 * @param {{encodeWords(text: string): number[][]}} tokenizer
 * @param {string} text
 * @param {number} budget
 * @param {string} rule
 * @param {number | null} headTokens
 */
export function contentIds(tokenizer, text, budget, rule, headTokens) {
  const whole = () => truncateIds(tokenizer.encodeWords(text).flat(), budget, rule, headTokens);
  if (text.length <= windowChars(budget)) return whole();
  const length = codePoints(text);
  if (length <= windowChars(budget)) return whole();
  const head = rule === "head" ? budget : headTokens ?? defaultHeadTokens(budget);
  // the head window must also prove the text holds at least `budget` tokens, so head_tail truncates it
  const first = rule !== "tail" ? endIds(tokenizer, text, length, budget, budget, false) : [];
  const last = rule !== "head" ? endIds(tokenizer, text, length, rule === "head_tail" ? budget - head : budget, budget, true) : [];
  if (first === null || last === null) return whole(); // a window reached the whole text
  if (rule === "head") return first;
  if (rule === "tail") return last;
  return first.slice(0, head).concat(last);
}

/**
 * The first (`fromEnd`: last) `wanted` content ids of `text` from a window of its characters;
 * null when the window grew to the whole text.
 * @param {{encodeWords(text: string): number[][]}} tokenizer
 * @param {string} text
 * @param {number} length its code points
 * @param {number} wanted
 * @param {number} budget
 * @param {boolean} fromEnd
 * @returns {number[] | null}
 */
function endIds(tokenizer, text, length, wanted, budget, fromEnd) {
  if (wanted === 0) return [];
  for (let size = windowChars(budget); size < length; size *= 2) {
    const words = tokenizer.encodeWords(sliceCodePoints(text, size, fromEnd));
    const ids = words.flat();
    if (ids.length) {
      const kept = (fromEnd ? words.slice(1) : words.slice(0, -1)).flat(); // the word the window's edge may cut
      if (kept.length >= wanted) return fromEnd ? kept.slice(kept.length - wanted) : kept.slice(0, wanted);
      if (size >= MAX_WINDOW_CHARS) return fromEnd ? ids.slice(ids.length - wanted) : ids.slice(0, wanted);
    } else if (size >= MAX_WINDOW_CHARS) return [];
  }
  return null;
}

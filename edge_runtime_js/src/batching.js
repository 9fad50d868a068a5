/**
 * How texts are grouped into model calls, as `edge_runtime.batching`: sorted by length (ties in
 * input order), at most `batchSize` rows and, padded to the longest row, `batchTokens` tokens.
 */

import { InputError } from "./errors.js";

export const DEFAULT_BATCH_SIZE = 32;
export const DEFAULT_BATCH_TOKENS = 1024;

/**
 * `value` as a positive integer (null allowed when `optional`); else an InputError.
 * @param {unknown} value
 * @param {string} name
 * @param {{optional?: boolean}} [options]
 */
export function checkLimit(value, name, { optional = false } = {}) {
  if ((value === null || value === undefined) && optional) return null;
  if (!Number.isInteger(value) || /** @type {number} */ (value) < 1) {
    throw new InputError(`${name} must be a positive integer`, { expected: ">= 1", found: String(value) });
  }
  return /** @type {number} */ (value);
}

/**
 * Indices of `lengths` grouped into batches, shortest first.
 * @param {number[]} lengths
 * @param {number} batchSize
 * @param {number | null} [batchTokens] null: no token cap
 * @returns {number[][]}
 */
export function planBatches(lengths, batchSize, batchTokens = null) {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const batches = [];
  let current = [];
  for (const index of order) {
    const width = lengths[index]; // ascending: the newcomer is the longest row of the batch
    const full = current.length >= batchSize || (batchTokens !== null && (current.length + 1) * width > batchTokens);
    if (current.length && full) {
      batches.push(current);
      current = [];
    }
    current.push(index);
  }
  if (current.length) batches.push(current);
  return batches;
}

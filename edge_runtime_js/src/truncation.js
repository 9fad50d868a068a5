/** Truncation rules, as `edge_runtime.truncation`: which content tokens of a long text are kept. */

import { InputError } from "./errors.js";

export const RULES = ["head", "tail", "head_tail"];

/** Head share for `head_tail`: a quarter of the budget. @param {number} budget */
export function defaultHeadTokens(budget) {
  return Math.floor(budget / 4);
}

/**
 * Keep at most `budget` content ids of `ids` according to `rule`.
 * @param {number[]} ids
 * @param {number} budget
 * @param {string} [rule]
 * @param {number | null} [headTokens]
 * @returns {number[]}
 */
export function truncateIds(ids, budget, rule = "head", headTokens = null) {
  if (!RULES.includes(rule)) throw new InputError("unknown truncation rule", { expected: RULES.join(" | "), found: `'${rule}'` });
  if (budget < 1) throw new InputError("truncation budget too small", { expected: ">= 1 content token", found: budget });
  if (ids.length <= budget) return ids.slice();
  if (rule === "head") return ids.slice(0, budget);
  if (rule === "tail") return ids.slice(ids.length - budget);
  const head = headTokens ?? defaultHeadTokens(budget);
  if (!(head >= 0 && head <= budget)) throw new InputError("head_tokens out of range", { expected: `0..${budget}`, found: head });
  const tail = budget - head;
  return ids.slice(0, head).concat(tail ? ids.slice(ids.length - tail) : []);
}

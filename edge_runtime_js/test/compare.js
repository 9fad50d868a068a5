/** How a runtime's answers are compared with Python's: the same helper for Node and Chromium. */

/**
 * Largest absolute probability difference, label agreement and the rows further than `atol` between
 * two tables of probabilities.
 * @param {number[][]} found
 * @param {number[][]} expected
 * @param {number} [atol]
 */
export function compareProbabilities(found, expected, atol = Infinity) {
  if (found.length !== expected.length) throw new Error(`${found.length} rows against ${expected.length}`);
  let worst = 0;
  let same = 0;
  let over = 0;
  found.forEach((row, i) => {
    const diff = Math.max(...row.map((p, k) => Math.abs(p - expected[i][k])));
    worst = Math.max(worst, diff);
    over += diff > atol ? 1 : 0;
    same += argmax(row) === argmax(expected[i]) ? 1 : 0;
  });
  return { worst, agreement: same / found.length, rows: found.length, over };
}

/** @param {number[]} row */
export function argmax(row) {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Rows of ids that differ. @param {number[][]} found @param {number[][]} expected */
export function differingIds(found, expected) {
  return found.map((_, i) => i).filter((i) => JSON.stringify(found[i]) !== JSON.stringify(expected[i]));
}

/**
 * The contract's tolerances for a bundle: fp32 within 1e-4 and every label equal; int8 within the
 * bundle's golden atol and labels equal on >= 99.5% of texts.
 * @param {any} manifest
 */
export function tolerance(manifest) {
  return manifest.model.precision === "int8" ? { atol: manifest.golden.atol, agreement: 0.995 } : { atol: 1e-4, agreement: 1 };
}

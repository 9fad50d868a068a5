/**
 * The front class, as `edge_runtime.classifier.Classifier`: a verified bundle and an onnxruntime
 * session. Texts are tokenized, sorted by length, run in batches padded to their longest row (capped
 * in rows and tokens) and returned in input order; probabilities are softmax(logits / T) with the
 * bundle's temperature T, then its confidence map (`probabilities`). The onnxruntime module is passed in
 * (onnxruntime-node or onnxruntime-web).
 */

import { checkLimit, DEFAULT_BATCH_SIZE, DEFAULT_BATCH_TOKENS, planBatches } from "./batching.js";
import { BundleError, InputError, pyRepr } from "./errors.js";
import { missingOpError } from "./ops.js";
import { isBlank, TextEncoder } from "./text.js";
import { WordPieceTokenizer } from "./wordpiece.js";

/** Inputs the runtime knows how to fill. */
export const KNOWN_INPUTS = ["input_ids", "attention_mask", "token_type_ids"];
/** A graph stored already optimized at one of these levels loads without graph passes. */
export const BAKED_LEVELS = ["extended"];
const INT_TYPES = { int64: BigInt64Array, int32: Int32Array };

/**
 * @typedef {object} Prediction
 * @property {string} label the most probable label
 * @property {number} score its probability
 * @property {Record<string, number>} probabilities every label's probability
 */

/**
 * @typedef {object} BatchOptions
 * @property {number} [batchSize] rows per model call, at most
 * @property {number | null} [batchTokens] padded tokens per model call, at most (null: rows only)
 * @property {number} [offset] added to text numbers in error messages (texts read in chunks)
 */

/**
 * One row's probabilities, as `edge_runtime.classifier.probabilities`: softmax of logits / temperature in
 * float64 (the row maximum subtracted first); with a confidence map, the top probability c becomes
 * interp(c, from, to), kept above the tie with the runner-up, and the others share 1 - c' as they shared 1 - c.
 * @param {ArrayLike<number>} logits one row
 * @param {number} [temperature]
 * @param {{from: number[], to: number[]} | null} [confidenceMap]
 * @returns {number[]}
 */
export function probabilities(logits, temperature = 1, confidenceMap = null) {
  const z = Array.from(logits, (x) => x / temperature);
  const max = Math.max(...z);
  const e = z.map((x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  const p = e.map((x) => x / sum);
  if (!confidenceMap || p.length < 2) return p;
  const best = argmax(Array.from(logits));
  const rest = p.reduce((a, x, i) => (i === best ? a : a + x), 0);
  const shares = p.map((x, i) => (i === best ? 0 : rest > 0 ? x / rest : 1 / (p.length - 1)));
  const runnerUp = Math.max(...shares);
  const tie = runnerUp / (1 + runnerUp);
  if (p[best] <= tie + 1e-9) return p; // already level with the runner-up (to rounding): left as it is
  const mapped = Math.min(Math.max(interp(p[best], confidenceMap.from, confidenceMap.to), tie + 1e-9), 1);
  return shares.map((s, i) => (i === best ? mapped : s * (1 - mapped)));
}

/**
 * numpy.interp: linear between the points, clamped at the ends.
 * @param {number} x
 * @param {number[]} xs strictly increasing
 * @param {number[]} ys
 */
function interp(x, xs, ys) {
  if (x <= xs[0]) return ys[0];
  const n = xs.length;
  if (x >= xs[n - 1]) return ys[n - 1];
  let k = 1;
  while (xs[k] < x) k++;
  const slope = (ys[k] - ys[k - 1]) / (xs[k] - xs[k - 1]);
  return slope * (x - xs[k - 1]) + ys[k - 1];
}

/**
 * The bundle's confidence map, null without one; a BundleError when its points are malformed.
 * @param {any} manifest
 * @param {string} bundle
 * @returns {{from: number[], to: number[]} | null}
 */
export function confidenceMapOf(manifest, bundle) {
  const value = manifest.calibration?.confidence_map;
  if (value === undefined || value === null) return null;
  const [xs, ys] = [value?.from, value?.to];
  const numbers = (a) => Array.isArray(a) && a.every((x) => typeof x === "number" && Number.isFinite(x));
  const rising = (a, strict) => a.every((x, i) => i === 0 || (strict ? a[i - 1] < x : a[i - 1] <= x));
  if (!(numbers(xs) && numbers(ys) && xs.length === ys.length && xs.length >= 2 && xs.length <= 64 && xs[0] > 0
    && xs[xs.length - 1] <= 1 && rising(xs, true) && ys[0] >= 0 && ys[ys.length - 1] <= 1 && rising(ys, false))) {
    throw new BundleError(`bundle ${bundle}: calibration.confidence_map in manifest.json is malformed`, {
      expected: '{"from": [...], "to": [...]} of the same length 2..64, from strictly increasing in (0, 1], to non-decreasing in [0, 1]',
      found: JSON.stringify(value).slice(0, 80),
      hint: "re-export the bundle",
    });
  }
  return { from: xs, to: ys };
}

/**
 * The bundle's temperature: 1 without calibration (or null).
 * @param {any} manifest
 * @param {string} bundle
 */
export function temperatureOf(manifest, bundle) {
  const calibration = manifest.calibration;
  if (calibration === undefined || calibration === null) return 1;
  const value = calibration?.temperature;
  if (calibration?.method !== "temperature" || typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new BundleError(`bundle ${bundle}: calibration in manifest.json is malformed`, {
      expected: '{"method": "temperature", "temperature": a number > 0}',
      found: JSON.stringify(calibration).slice(0, 80),
      hint: "re-export the bundle",
    });
  }
  return value;
}

/**
 * @param {unknown[]} texts
 * @param {number} [offset]
 */
function checkTexts(texts, offset = 0) {
  texts.forEach((text, i) => {
    if (typeof text !== "string") throw new InputError(`text ${offset + i} is not a string`, { expected: "str", found: text === null ? "NoneType" : typeof text });
    if (isBlank(text)) throw new InputError(`text ${offset + i} is empty`, { expected: "at least one visible character", found: pyRepr(text.slice(0, 20)) });
  });
}

export class Classifier {
  /**
   * Use `loadClassifier` (Node) or `loadClassifier` of the browser entry, which verify the bundle first.
   * @param {any} session an onnxruntime InferenceSession
   * @param {any} ort the onnxruntime module
   * @param {TextEncoder} encoder
   * @param {any} manifest
   * @param {string} name how messages name the bundle
   */
  constructor(session, ort, encoder, manifest, name) {
    this.session = session;
    this.ort = ort;
    this.encoder = encoder;
    this.manifest = manifest;
    this.name = name;
    /** @type {string[]} */
    this.labels = [...manifest.labels];
    this.temperature = temperatureOf(manifest, name);
    this.confidenceMap = confidenceMapOf(manifest, name);
    const metadata = session.inputMetadata ?? session.inputNames.map((n) => ({ name: n, type: "int64" }));
    this.inputs = metadata.map((spec) => {
      const type = String(spec.type ?? "int64").replace(/^tensor\((.*)\)$/, "$1");
      if (!KNOWN_INPUTS.includes(spec.name) || !(type in INT_TYPES)) {
        throw new BundleError(`bundle ${name}: the model has an input this runtime cannot feed`, {
          expected: `int64/int32 inputs among ${KNOWN_INPUTS.join(", ")}`,
          found: `${spec.name} tensor(${type})`,
          hint: "re-export the bundle",
        });
      }
      return { name: spec.name, type };
    });
    const wanted = manifest.model?.output;
    if (wanted !== undefined && !session.outputNames.includes(wanted)) {
      throw new BundleError(`bundle ${name}: the model has no output '${wanted}'`, { expected: wanted, found: session.outputNames.join(", "), hint: "re-export the bundle" });
    }
    this.output = wanted ?? session.outputNames[0];
  }

  /**
   * Build from a verified bundle (see bundle.js `loadBundle`).
   * @param {import("./bundle.js").VerifiedBundle} bundle
   * @param {any} ort the onnxruntime module
   * @param {{name: string, threads?: number, executionProviders?: string[]}} options
   */
  static async create({ manifest, files }, ort, { name, threads, executionProviders = ["cpu"] }) {
    if (threads !== undefined && threads !== null) checkLimit(threads, "threads");
    const tok = manifest.tokenizer;
    const truncation = tok.truncation ?? {};
    let encoder;
    try {
      const config = JSON.parse(new globalThis.TextDecoder().decode(files.get(tok.file)));
      encoder = new TextEncoder(new WordPieceTokenizer(config, tok.file), tok.max_length, truncation.rule ?? "head", truncation.head_tokens ?? null);
    } catch (error) {
      if (error instanceof InputError) throw new BundleError(`bundle ${name}: bad tokenizer settings in manifest.json: ${error.message}`);
      if (error instanceof BundleError) throw new BundleError(`bundle ${name}: ${error.message}`);
      throw new BundleError(`cannot load tokenizer ${name}/${tok.file} (${error.message})`, { hint: "the file must be a fast-tokenizer tokenizer.json; re-export the bundle" });
    }
    const baked = BAKED_LEVELS.includes(manifest.model?.optimization_level);
    const options = {
      executionProviders,
      graphOptimizationLevel: baked ? "disabled" : "all",
      executionMode: "sequential",
      interOpNumThreads: 1,
      ...(threads ? { intraOpNumThreads: threads } : {}),
    };
    let session;
    try {
      session = await ort.InferenceSession.create(files.get(manifest.model.file), options);
    } catch (error) {
      const version = ort.env?.versions?.common ?? "(JavaScript)";
      const missing = missingOpError(name, manifest.model, String(error?.message ?? error), version);
      if (missing) throw missing;
      throw new BundleError(`bundle ${name}: onnxruntime cannot load ${manifest.model.file} (${String(error?.message ?? error).split("\n")[0]})`, {
        hint: "re-export the bundle, or upgrade onnxruntime if the model needs a newer opset",
      });
    }
    return new Classifier(session, ort, encoder, manifest, name);
  }

  /** Longest input in tokens, special tokens included. */
  get maxLength() {
    return this.encoder.maxLength;
  }

  /**
   * The token ids the model sees for each text (special tokens included, unpadded).
   * @param {string[]} texts
   */
  tokenizerIds(texts) {
    checkTexts(texts);
    return this.encoder.encodeIds(texts);
  }

  /**
   * Classify one text (-> Prediction) or a list (-> Prediction[], input order).
   * @overload
   * @param {string} texts
   * @param {BatchOptions} [options]
   * @returns {Promise<Prediction>}
   */
  /**
   * @overload
   * @param {string[]} texts
   * @param {BatchOptions} [options]
   * @returns {Promise<Prediction[]>}
   */
  /**
   * @param {string | string[]} texts
   * @param {BatchOptions} [options]
   */
  async predict(texts, options = {}) {
    if (typeof texts === "string") return (await this.predict([texts], options))[0];
    const proba = await this.predictProba(texts, options);
    return proba.map((row) => {
      const best = argmax(row);
      return { label: this.labels[best], score: row[best], probabilities: Object.fromEntries(this.labels.map((l, i) => [l, row[i]])) };
    });
  }

  /**
   * Probabilities, one row per text in input order.
   * @param {string[]} texts
   * @param {BatchOptions} [options]
   * @returns {Promise<number[][]>}
   */
  async predictProba(texts, options = {}) {
    const logits = await this.predictLogits(texts, options);
    return logits.map((row) => probabilities(row, this.temperature, this.confidenceMap));
  }

  /**
   * The model's logits (no temperature), one row per text in input order.
   * @param {string[]} texts
   * @param {BatchOptions} [options]
   * @returns {Promise<Float32Array[]>}
   */
  async predictLogits(texts, { batchSize = DEFAULT_BATCH_SIZE, batchTokens = DEFAULT_BATCH_TOKENS, offset = 0 } = {}) {
    if (typeof texts === "string") throw new InputError("predictProba takes a list of texts", { expected: "list[str]", found: "str" });
    if (!Array.isArray(texts)) throw new InputError("texts must be a string or a list of strings", { expected: "str or list[str]", found: typeof texts });
    checkLimit(batchSize, "batch_size");
    checkLimit(batchTokens, "batch_tokens", { optional: true });
    checkTexts(texts, offset);
    const rows = this.encoder.encodeIds(texts, offset);
    const specials = this.encoder.prefix.length + this.encoder.suffix.length;
    rows.forEach((ids, i) => {
      if (ids.length === specials) {
        // the tokenizer kept nothing of it: as empty as a blank text
        throw new InputError(`text ${offset + i} is empty`, { expected: "at least one token the model reads", found: pyRepr(texts[i].slice(0, 20)) });
      }
    });
    /** @type {Float32Array[]} */
    const out = new Array(texts.length);
    for (const index of planBatches(rows.map((r) => r.length), batchSize, batchTokens)) {
      const logits = await this.run(this.encoder.pad(index.map((i) => rows[i])));
      index.forEach((i, k) => (out[i] = logits[k]));
    }
    return out;
  }

  /**
   * One model call.
   * @param {import("./text.js").Batch} batch
   * @returns {Promise<Float32Array[]>}
   */
  async run(batch) {
    const arrays = { input_ids: batch.inputIds, attention_mask: batch.attentionMask, token_type_ids: batch.tokenTypeIds };
    const feed = {};
    for (const { name, type } of this.inputs) {
      const source = arrays[name];
      const data = type === "int64" ? BigInt64Array.from(source, BigInt) : Int32Array.from(source);
      feed[name] = new this.ort.Tensor(type, data, [batch.rows, batch.width]);
    }
    let result;
    try {
      result = await this.session.run(feed, [this.output]);
    } catch (error) {
      throw new BundleError(`bundle ${this.name}: onnxruntime failed to run the model (${String(error?.message ?? error).split("\n")[0]})`, { hint: "re-export the bundle" });
    }
    const tensor = result[this.output];
    const n = this.labels.length;
    if (tensor.dims.length !== 2 || tensor.dims[0] !== batch.rows || tensor.dims[1] !== n) {
      throw new BundleError(`bundle ${this.name}: the model's output does not match its labels`, {
        expected: `shape (${batch.rows}, ${n})`,
        found: `shape (${tensor.dims.join(", ")})`,
        hint: "re-export the bundle",
      });
    }
    const data = Float32Array.from(tensor.data);
    tensor.dispose?.();
    return Array.from({ length: batch.rows }, (_, r) => data.subarray(r * n, (r + 1) * n));
  }
}

/** @param {number[]} row */
function argmax(row) {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

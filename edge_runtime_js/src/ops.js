/**
 * A bundle's graph needs an operator this onnxruntime lacks: name it and the export that avoids it,
 * as `edge_runtime.ops` does (onnxruntime-web builds carry fewer com.microsoft ops than Python's).
 */

import { BundleError } from "./errors.js";

// onnxruntime's two ways of saying it has no such operator (unknown op, or no kernel for it).
const MISSING = [/(?:com\.microsoft[:.])?(\w+)\(-?\d+\) is not a registered function\/op/g, /Could not find an implementation for (\w+)\(/g];
// The export option that leaves an op out of the graph.
const AVOIDED_BY = {
  MultiHeadAttention: "--no-optimize", Attention: "--no-optimize", SkipLayerNormalization: "--no-optimize",
  EmbedLayerNormalization: "--no-optimize", BiasGelu: "--no-optimize", FastGelu: "--no-optimize",
  QAttention: "--no-optimize", QEmbedLayerNormalization: "--no-optimize",
  MatMulIntegerToFloat: "--precision fp32", DynamicQuantizeMatMul: "--precision fp32",
};

/**
 * The operator onnxruntime's load error `message` says it lacks (one of `needed` when given).
 * @param {string} message
 * @param {string[]} [needed]
 */
export function missingOp(message, needed = []) {
  for (const pattern of MISSING) {
    for (const [, op] of message.matchAll(pattern)) if (!needed.length || needed.includes(op)) return op;
  }
  return null;
}

/**
 * The one-line error for a graph op that onnxruntime `version` lacks, or null if that is not the cause.
 * @param {string} bundle
 * @param {any} model the manifest's model section
 * @param {string} message
 * @param {string} version
 */
export function missingOpError(bundle, model, message, version) {
  const op = missingOp(message, model.contrib_ops ?? []);
  if (op === null) return null;
  const madeBy = model.graph_pass ? ` (made by the export's graph pass ${model.graph_pass})` : "";
  const option = AVOIDED_BY[op];
  const fix = option ? `or re-export it with ${option}` : "or re-export it on the device's onnxruntime";
  return new BundleError(`bundle ${bundle}: onnxruntime ${version} has no operator ${op}, which ${model.file ?? "the model"} uses${madeBy}`, {
    hint: `upgrade onnxruntime on this device to the version that exported the bundle (manifest.json versions), ${fix}`,
  });
}

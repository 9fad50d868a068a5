"""Graph optimization for onnxruntime, in two steps.

``optimize``: onnxruntime's transformer fusions (attention, layer norm, GELU) for BERT-like graphs,
and for MobileBERT, which they do not match, this project's pass (export/fusion: NoNorm folded into
the weights, attention as MultiHeadAttention); applied to the fp32 graph before quantizing, the
pipeline checks the result against PyTorch and drops it if it drifts. ``bake``: the optimizations an onnxruntime session applies on load
(level "extended"), applied once at export and stored, so a device does not redo them.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

# model_type values of Hugging Face configs that onnxruntime's "bert" fusions understand.
BERT_LIKE = {"bert", "roberta", "distilbert", "electra", "xlm-roberta", "camembert"}
# What the fusions make of self-attention: one "Attention" op (projections included: dynamic int8
# quantizes it as QAttention) or "MultiHeadAttention" after separate Q/K/V MatMuls (which static
# int8 quantizes like any other MatMul).
ATTENTION_OPS = ("Attention", "MultiHeadAttention")
# The arrangement each int8 form gets (fp32: "fp32"). QDQ has no fused form of the projections.
ATTENTION_FOR = {"fp32": "Attention", "static": "Attention", "qdq": "MultiHeadAttention", "dynamic": "Attention"}
# Residual adds stay Add + LayerNormalization instead of SkipLayerNormalization: onnxruntime's CPU kernel of
# the fused op is a scalar loop, several times slower than the two ops it replaces (docs/BENCHMARKS.md,
# int8-edge). Storing the graph keeps them apart too (onnxruntime's own fusion of the pair is disabled).
FUSE_SKIP_LAYER_NORM = False
SKIP_LAYER_NORM_FUSION = "SkipLayerNormFusion"  # onnxruntime's graph transformer that makes it on load
# Stored graphs are optimized at this onnxruntime level: fusions that hold on any CPU. "all" adds
# layout transforms specific to the exporting machine (onnxruntime warns not to store those).
BAKE_LEVEL = "extended"
# The level the runtime loads a baked graph with (docs/ARCHITECTURE.md, model.optimization_level): none,
# since the stored graph already had every pass that holds on any CPU (basic ones included).
LOAD_LEVEL_BAKED = "off"


def optimize(src: Path, out: Path, config: dict[str, Any], attention: str = "Attention") -> dict[str, Any]:
    """Write the fused graph to ``out``; return ``{"applied": bool, "fused": {op: count}}``."""
    if attention not in ATTENTION_OPS:
        raise ValueError(f"attention must be one of {ATTENTION_OPS}, got {attention!r}")
    model_type = config.get("model_type", "")
    if model_type == "mobilebert":
        from mobilebert_edge.export.fusion import fuse_mobilebert

        return fuse_mobilebert(src, out, int(config.get("num_attention_heads") or 0))
    if model_type not in BERT_LIKE:
        return {"applied": False, "reason": f"no fusions for model_type {model_type!r}"}
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    kind = "distilbert" if model_type == "distilbert" else "bert"
    options = FusionOptions(kind)
    options.use_multi_head_attention = attention == "MultiHeadAttention"
    options.enable_skip_layer_norm = options.enable_bias_skip_layer_norm = FUSE_SKIP_LAYER_NORM
    heads = int(config.get("num_attention_heads") or 0)
    hidden = int(config.get("true_hidden_size") or config.get("hidden_size") or config.get("dim") or 0)
    for name in ("onnxruntime.transformers", "fusion"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = optimizer.optimize_model(
            str(src), model_type=kind, num_heads=heads, hidden_size=hidden, opt_level=0, optimization_options=options,
        )
        fused = {op: int(n) for op, n in model.get_fused_operator_statistics().items() if n}
        if not fused:
            return {"applied": False, "reason": "no fusions matched"}
        model.save_model_to_file(str(out))
    return {"applied": True, "fused": fused, "attention": attention}


def session_options(level: str = "all", threads: int | None = None):
    """onnxruntime session options at graph optimization ``level`` (off, basic, extended, all)."""
    import onnxruntime as ort

    levels = {
        "off": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[level]
    if threads:
        options.intra_op_num_threads = threads
    return options


def bake(src: Path, out: Path) -> dict[str, Any]:
    """Store ``src`` as onnxruntime optimizes it on load at ``BAKE_LEVEL``; return node counts before/after."""
    import onnx
    import onnxruntime as ort

    options = session_options(BAKE_LEVEL)
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"],
                         disabled_optimizers=[] if FUSE_SKIP_LAYER_NORM else [SKIP_LAYER_NORM_FUSION])
    before = Counter(node.op_type for node in onnx.load(str(src), load_external_data=False).graph.node)
    after = Counter(node.op_type for node in onnx.load(str(out), load_external_data=False).graph.node)
    return {
        "level": BAKE_LEVEL, "onnxruntime": ort.__version__, "nodes_before": sum(before.values()),
        "nodes_after": sum(after.values()), "ops": dict(sorted(after.items())),
    }


def graph_ops(path: Path, optimization: dict[str, Any]) -> dict[str, Any]:
    """The manifest's ``model`` keys naming what the stored graph needs beyond standard ONNX: the graph pass
    applied (``graph_pass``, when one was) and its com.microsoft op types (``contrib_ops``, when any)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    contrib = sorted({node.op_type for node in graph.node if node.domain == "com.microsoft"})
    return {**({"graph_pass": optimization["pass"]} if optimization.get("applied") and optimization.get("pass") else {}),
            **({"contrib_ops": contrib} if contrib else {})}

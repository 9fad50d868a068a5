"""onnxruntime's transformer graph optimizer (attention / layer-norm / GELU fusions) for BERT-like
graphs. Applied to the fp32 graph before quantizing; the result is checked against the unfused
graph, and dropped if it drifts."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

# model_type values of Hugging Face configs that onnxruntime's "bert" fusions understand.
BERT_LIKE = {"bert", "roberta", "distilbert", "electra", "xlm-roberta", "camembert", "mobilebert"}


def optimize(src: Path, out: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Write the fused graph to ``out``; return ``{"applied": bool, "fused": {op: count}}``."""
    model_type = config.get("model_type", "")
    if model_type not in BERT_LIKE:
        return {"applied": False, "reason": f"no fusions for model_type {model_type!r}"}
    from onnxruntime.transformers import optimizer

    heads = int(config.get("num_attention_heads") or 0)
    hidden = int(config.get("true_hidden_size") or config.get("hidden_size") or config.get("dim") or 0)
    for name in ("onnxruntime.transformers", "fusion"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = optimizer.optimize_model(
            str(src), model_type="distilbert" if model_type == "distilbert" else "bert",
            num_heads=heads, hidden_size=hidden, opt_level=0,
        )
        fused = {op: int(n) for op, n in model.get_fused_operator_statistics().items() if n}
        if not fused:
            return {"applied": False, "reason": "no fusions matched"}
        model.save_model_to_file(str(out))
    return {"applied": True, "fused": fused}

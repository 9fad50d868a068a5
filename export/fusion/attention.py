"""Self-attention as exported by torch (reshape and transpose of Q, K, V, scaled scores, additive mask,
softmax, context) -> one ``com.microsoft.MultiHeadAttention`` with separate Q, K and V.

MultiHeadAttention takes the three projections (each with its bias: static int8 folds it into the
projection's integer kernel) and the padding mask as ``key_padding_mask`` (int32 [batch, sequence], from the graph's
``attention_mask``), so it fits MobileBERT, whose Q and K come from a 128-wide bottleneck and V from
the 512-wide hidden state, as well as BERT.
"""

from __future__ import annotations

from onnx import TensorProto, helper

from mobilebert_edge.export.fusion.graph import Graph

MASK_INPUT = "attention_mask"
HEADS_FIRST, KEYS_LAST = [0, 2, 1, 3], [0, 2, 3, 1]


def _op(producers: dict, name: str, op_type: str, perm: list[int] | None = None):
    node = producers.get(name)
    if node is None or node.op_type != op_type:
        return None
    if perm is not None and next((list(a.ints) for a in node.attribute if a.name == "perm"), None) != perm:
        return None
    return node


def _only_reader(readers: dict, name: str, op_type: str, perm: list[int] | None = None):
    """The one node reading ``name`` besides Shape nodes (the exporter's size arithmetic), if of ``op_type``."""
    users = [node for node in readers.get(name, []) if node.op_type != "Shape"]
    if len(users) != 1:
        return None
    return _op({name: users[0]}, name, op_type, perm)


def _reads_mask(producers: dict, name: str, depth: int = 8) -> bool:
    """Whether tensor ``name`` is computed from the graph input ``attention_mask``."""
    if name == MASK_INPUT:
        return True
    node = producers.get(name)
    return depth > 0 and node is not None and any(_reads_mask(producers, i, depth - 1) for i in node.input if i)


def fuse_attention(g: Graph, num_heads: int) -> int:
    """Replace each self-attention block of ``g`` by a MultiHeadAttention; return how many."""
    if num_heads < 1 or MASK_INPUT not in {value.name for value in g.graph.input}:
        return 0
    producers, readers = g.producers(), g.readers()
    mask32, fused = None, 0
    for softmax in [node for node in g.graph.node if node.op_type == "Softmax"]:
        add = _op(producers, softmax.input[0], "Add")
        context = _only_reader(readers, softmax.output[0], "MatMul")
        if add is None or context is None or context.input[0] != softmax.output[0]:
            continue
        scores = next((producers[i] for i in add.input if i in producers and producers[i].op_type in ("Div", "Mul")), None)
        if scores is None or not _reads_mask(producers, add.input[1] if add.input[0] == scores.output[0] else add.input[0]):
            continue
        factor = g.constant(scores.input[1])
        qk = _op(producers, scores.input[0], "MatMul")
        if factor is None or factor.size != 1 or qk is None:
            continue
        scale = float(1 / factor.item()) if scores.op_type == "Div" else float(factor.item())
        heads_q = _op(producers, qk.input[0], "Transpose", HEADS_FIRST)
        heads_k = _op(producers, qk.input[1], "Transpose", KEYS_LAST)
        heads_v = _op(producers, context.input[1], "Transpose", HEADS_FIRST)
        merged = _only_reader(readers, context.output[0], "Transpose", HEADS_FIRST)
        out = _only_reader(readers, merged.output[0], "Reshape") if merged is not None else None
        split = [_op(producers, t.input[0], "Reshape") if t is not None else None for t in (heads_q, heads_k, heads_v)]
        if out is None or None in split:
            continue
        if mask32 is None:
            mask32 = g.name("attention_mask_int32")
            g.graph.node.insert(0, helper.make_node("Cast", [MASK_INPUT], [mask32], to=TensorProto.INT32,
                                                    name="attention_mask_int32"))
        attention = helper.make_node(
            "MultiHeadAttention", [*(r.input[0] for r in split), "", mask32], [out.output[0]],
            name=f"{out.name}_MultiHeadAttention", domain="com.microsoft", num_heads=num_heads, scale=scale,
        )
        nodes = list(g.graph.node)
        g.graph.node.insert(nodes.index(out), attention)
        out.output[0] = g.name(f"{out.output[0]}_unused")
        fused += 1
    if fused:
        g.prune()
    return fused

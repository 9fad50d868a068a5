"""int8 on the edge: MiniLM-L6 and full-size MobileBERT, fp32 and int8, before and after the graph passes
(the MobileBERT pass of export/fusion, each part alone; MiniLM's attention as QAttention or as int8 Q/K/V
projections feeding MultiHeadAttention), against the int8 MatMul floor of this machine. Writes the
"int8-edge" section of docs/BENCHMARKS.md.

    flock /tmp/mbe-heavy.lock python -m bench.int8_edge --minilm CHECKPOINT --mobilebert CHECKPOINT

A full-size MobileBERT with random weights (``python -m bench.models DIR``) is enough for speed, graph
and memory; its int8/fp32 agreement is reported but says little (random logits sit near each other).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.heldout import heldout, training_pool
from bench.report import git_revision, machine_summary, write_section

MIB = 2**20
PROBE = "A wonderful, moving film."
# Peak RSS from VmHWM: ru_maxrss would carry over the parent's peak through fork and exec.
COLD_START = """
import re, time
start = time.perf_counter()
from edge_runtime import Classifier
clf = Classifier.load({bundle!r}, threads={threads})
clf.predict({text!r})
seconds = time.perf_counter() - start
with open("/proc/self/status") as status:
    print(seconds, int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) / 1024)
"""
MODELS = {"minilm": "MiniLM-L6", "mobilebert": "MobileBERT (full size, random weights)"}
# (model, variant, export options, graph settings): the first int8 row of each model is "before".
VARIANTS = [
    ("minilm", "fp32", {"precision": "fp32"}, {}),
    ("minilm", "int8, QAttention", {}, {"attention": "Attention"}),
    ("minilm", "int8, int8 Q/K/V + MultiHeadAttention", {}, {"attention": "MultiHeadAttention"}),
    ("mobilebert", "fp32, no graph pass", {"precision": "fp32", "optimize": False}, {}),
    ("mobilebert", "fp32, graph pass", {"precision": "fp32"}, {}),
    ("mobilebert", "int8, no graph pass", {"optimize": False}, {}),
    ("mobilebert", "int8, NoNorm folded only", {}, {"passes": ("nonorm",)}),
    ("mobilebert", "int8, attention fused only", {}, {"passes": ("attention",)}),
    ("mobilebert", "int8, NoNorm folded + MultiHeadAttention", {}, {"passes": ("nonorm", "attention"), "fold_scales": False}),
    ("mobilebert", "int8, graph pass (NoNorm folded + MultiHeadAttention + smoothing in the kernels)", {}, {}),
    ("minilm", "fp32, SkipLayerNormalization", {"precision": "fp32"}, {"skip_layer_norm": True}),
    ("minilm", "int8, QAttention, SkipLayerNormalization", {}, {"attention": "Attention", "skip_layer_norm": True}),
]
MOBILEBERT_DEFAULT, MOBILEBERT_BEFORE = VARIANTS[9][1], VARIANTS[5][1]
MOBILEBERT_DEV = 500
# What a row keeps from its export and dev reviews (``--reuse`` measures speed again, not these).
ROW_KEYS = ("index", "model", "variant", "bundle", "nodes", "ops", "mib", "agreement", "max_diff")
FLOOR_SHAPES = {"minilm": (4096, 384, 1536), "mobilebert": (4096, 128, 512)}  # each model's feed-forward MatMul


@contextlib.contextmanager
def graph_settings(attention: str | None = None, passes: tuple[str, ...] | None = None, fold_scales: bool = True,
                   skip_layer_norm: bool | None = None):
    """Export with static int8's attention arrangement, the MobileBERT pass's parts, the folding of
    smoothing into the kernels and BERT's SkipLayerNormalization set for one variant."""
    from mobilebert_edge.export import fusion, optimize
    from mobilebert_edge.export.fusion import scales

    saved = optimize.ATTENTION_FOR["static"], fusion.PASSES, scales.fold_smoothing, optimize.FUSE_SKIP_LAYER_NORM
    optimize.ATTENTION_FOR["static"] = attention or saved[0]
    fusion.PASSES = passes if passes is not None else saved[1]
    scales.fold_smoothing = saved[2] if fold_scales else (lambda graph: 0)
    optimize.FUSE_SKIP_LAYER_NORM = saved[3] if skip_layer_norm is None else skip_layer_norm
    try:
        yield
    finally:
        optimize.ATTENTION_FOR["static"], fusion.PASSES, scales.fold_smoothing, optimize.FUSE_SKIP_LAYER_NORM = saved


def fresh_process(code: str) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) printed by ``code`` run in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    seconds, rss = map(float, out.split())
    return seconds, rss


def batch_32(bundle: Path, texts: list[str], threads: int) -> float:
    """ms/review of one batch-32 pass over ``texts`` in a session loaded for it alone (no other session's
    threads alive)."""
    from edge_runtime import Classifier

    clf = Classifier.load(bundle, threads=threads, verify=False)
    clf.predict_proba(texts[:32], batch_size=32)
    start = time.perf_counter()
    clf.predict_proba(texts, batch_size=32)
    return (time.perf_counter() - start) / len(texts) * 1000


def batch_1(bundles: list[Path], texts: list[str], threads: int, rounds: int) -> list[list[float]]:
    """ms of every text at batch 1 for each bundle, ``rounds`` times, the bundles taking turns text by text
    (each text's times are paired: a slow moment of the machine falls on one text of every bundle)."""
    from edge_runtime import Classifier

    classifiers = [Classifier.load(bundle, threads=threads, verify=False) for bundle in bundles]
    for clf in classifiers:
        clf.predict_proba(texts[:1], batch_size=1)
    took: list[list[float]] = [[] for _ in bundles]
    for _ in range(rounds):
        for text in texts:
            for clf, times in zip(classifiers, took):
                start = time.perf_counter()
                clf.predict_proba([text], batch_size=1)
                times.append((time.perf_counter() - start) * 1000)
    return took


def measure(rows: list[dict], texts: list[str], args, log) -> None:
    """Speed, cold start and peak RSS of every row's bundle, interleaved so that a slow spell of the machine
    touches all of them alike: batch 32, the best of ``rounds`` rounds that each visit every bundle once;
    batch 1, percentiles over the paired times of ``batch_1``; cold start and RSS, medians over as many
    rounds of fresh processes."""
    best = {row["bundle"]: float("inf") for row in rows}
    for turn in range(args.rounds):
        for row in rows:
            best[row["bundle"]] = min(best[row["bundle"]], batch_32(Path(row["bundle"]), texts, args.threads))
        log(f"batch-32 round {turn + 1}/{args.rounds} done")
    single = batch_1([Path(row["bundle"]) for row in rows], texts[:args.latency_n], args.threads, args.rounds)
    cold: dict[str, list] = {row["bundle"]: [] for row in rows}
    for _ in range(args.cold_runs):
        for row in rows:
            cold[row["bundle"]].append(fresh_process(COLD_START.format(bundle=row["bundle"], threads=args.threads, text=PROBE)))
    for row, took in zip(rows, single):
        row.update(ms=best[row["bundle"]], p50=float(np.percentile(took, 50)), p95=float(np.percentile(took, 95)),
                   cold_s=statistics.median(c[0] for c in cold[row["bundle"]]),
                   rss_mib=statistics.median(c[1] for c in cold[row["bundle"]]))


def padded_tokens(bundle: Path, texts: list[str]) -> float:
    """Tokens per review the runtime computes at batch 32 (sorted by length, each batch padded to its longest)."""
    from edge_runtime import Classifier

    lengths = sorted(len(ids) for ids in Classifier.load(bundle, verify=False).tokenizer_ids(texts))
    return sum(max(lengths[i:i + 32]) * len(lengths[i:i + 32]) for i in range(0, len(lengths), 32)) / len(texts)


def int8_macs_per_token(bundle: Path) -> int:
    """Multiply-adds per token of the int8 graph's weight products (MatMulIntegerToFloat, QAttention)."""
    import onnx

    graph = onnx.load(str(bundle / "model.onnx")).graph
    shapes = {init.name: list(init.dims) for init in graph.initializer}
    return sum(int(np.prod(shapes[node.input[1]])) for node in graph.node
               if node.op_type in ("MatMulIntegerToFloat", "QAttention") and node.input[1] in shapes)


def profile(bundle: Path, texts: list[str], threads: int, work: Path, batch: int = 32) -> dict[str, float]:
    """onnxruntime's profiler over ``texts`` at ``batch`` (sorted by length, padded to each batch's longest):
    kernel milliseconds per op type."""
    import onnxruntime as ort

    from edge_runtime import Classifier

    clf = Classifier.load(bundle, threads=threads, verify=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # as the runtime loads it
    options.enable_profiling = True
    options.profile_file_prefix = str(work / f"profile-{bundle.name}-b{batch}")
    session = ort.InferenceSession(str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"])
    rows = sorted(clf.encoder.encode_ids(texts), key=len)
    names = [i.name for i in session.get_inputs()]
    for i in range(0, len(rows), batch):
        padded = clf.encoder.pad(rows[i:i + batch])
        feed = {"input_ids": padded.input_ids, "attention_mask": padded.attention_mask, "token_type_ids": padded.token_type_ids}
        session.run(None, {n: feed[n].astype(np.int64) for n in names})
    by_op: dict[str, float] = defaultdict(float)
    for event in json.loads(Path(session.end_profiling()).read_text()):
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"] / 1000
    return dict(by_op)


def plain_matmul_gops(m: int, k: int, n: int, threads: int, work: Path) -> float:
    """GOPS (2 x multiply-adds per second) of one MatMulIntegerToFloat (uint8 x int8, per-column scales)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.integers(-127, 128, (k, n)).astype(np.int8), "B"),
             numpy_helper.from_array(np.array(0.02, np.float32), "a_scale"),
             numpy_helper.from_array(np.full(n, 0.01, np.float32), "b_scale"),
             numpy_helper.from_array(np.array(128, np.uint8), "a_zp")]
    node = helper.make_node("MatMulIntegerToFloat", ["A", "B", "a_scale", "b_scale", "a_zp"], ["Y"], domain="com.microsoft")
    graph = helper.make_graph([node], "floor", [helper.make_tensor_value_info("A", TensorProto.UINT8, [m, k])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])], inits)
    path = work / f"matmul-{m}x{k}x{n}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)]), str(path))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    a = rng.integers(0, 256, (m, k)).astype(np.uint8)
    session.run(None, {"A": a})
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < 2.0:
        session.run(None, {"A": a})
        reps += 1
    return 2 * m * k * n / ((time.perf_counter() - start) / reps) / 1e9


def write_jsonl(path: Path, table) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for text, label in zip(table["text"], table["label"]):
            handle.write(json.dumps({"text": text, "label": "positive" if int(label) else "negative"}) + "\n")
    return path


def run(args: argparse.Namespace, work: Path, log) -> dict:
    """Export the ``--variants`` (default all; ``--reuse``: keep bundles already in ``work``), take each one's
    probabilities on the dev reviews, then measure them all interleaved (``measure``), then the floors and
    the profiles; rows of other variants already in ``work``/results.json are kept."""
    from edge_runtime import Classifier
    from mobilebert_edge.export import export_bundle

    texts = heldout(args.n)["text"].tolist()
    pool = training_pool(400 + args.dev_n)
    calibration = write_jsonl(work / "calibration.jsonl", pool.iloc[:200])
    evaluation = write_jsonl(work / "evaluation.jsonl", pool.iloc[200:400])
    dev = pool.iloc[400:]["text"].tolist()
    checkpoints = {"minilm": args.minilm, "mobilebert": args.mobilebert}
    chosen = args.variants if args.variants is not None else range(len(VARIANTS))
    saved = work / "results.json"
    results = {"rows": [], "floors": {}, "profiles": {}}
    if (args.variants is not None or args.reuse) and saved.exists():
        results = json.loads(saved.read_text())
    before = {row["index"]: row for row in results["rows"]}
    results.update(n=len(texts), dev_n=len(dev), latency_n=args.latency_n, threads=args.threads,
                   cold_runs=args.cold_runs, rounds=args.rounds, batch_1="paired")
    results["rows"] = [row for row in results["rows"] if row["index"] not in chosen]
    # each model's fp32 bundle first: the int8 rows' agreement is against its dev probabilities
    order = sorted((i for i in chosen if checkpoints[VARIANTS[i][0]] is not None),
                   key=lambda i: (not VARIANTS[i][1].startswith("fp32"), i))
    new = []
    for index in order:
        tag, variant, options, settings = VARIANTS[index]
        bundle = work / f"{tag}-{index}"
        if args.reuse and index in before and before[index]["bundle"] == str(bundle):
            new.append({key: before[index][key] for key in ROW_KEYS})  # its export and agreement as measured
            continue
        if not (args.reuse and (bundle / "manifest.json").exists()):
            # our own checkpoints calibrate on their validation texts; the random one on 200 training-pool reviews
            extra = {} if (checkpoints[tag] / "mobilebert_edge.json").exists() else {
                "calibration_data": calibration, "eval_data": evaluation}
            with graph_settings(**settings):
                export_bundle(checkpoints[tag], bundle, max_accuracy_drop=100.0, overwrite=True, log=log,
                              calibrate_probabilities=False, **extra, **options)
        graph = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))["report"]["graph"]
        # random MobileBERT weights make its agreement say little: fewer dev reviews for it
        got = Classifier.load(bundle, threads=args.threads, verify=False).predict_proba(
            dev if tag == "minilm" else dev[:MOBILEBERT_DEV], batch_size=32)
        reference = work / f"{tag}-fp32-dev.npy"
        if variant.startswith("fp32") and not reference.exists():
            np.save(reference, got)
        fp32 = np.load(reference)
        new.append({"index": index, "model": tag, "variant": variant, "bundle": str(bundle),
                    "nodes": graph["nodes_after"], "ops": graph["ops"], "mib": (bundle / "model.onnx").stat().st_size / MIB,
                    "agreement": float((got.argmax(1) == fp32.argmax(1)).mean() * 100),
                    "max_diff": float(np.abs(got - fp32).max())})
        log(f"{MODELS[tag]} {variant}: exported, agreement {new[-1]['agreement']:.2f}%")
    measure(new, texts, args, log)
    results["rows"] += new
    saved.write_text(json.dumps(results, indent=1))
    for row in new:
        log(f"{MODELS[row['model']]} {row['variant']}: {json.dumps({k: v for k, v in row.items() if k != 'ops'})}")
    floors_and_profiles(results, {tag: checkpoints[tag] for tag in {VARIANTS[i][0] for i in order}}, texts, args, work)
    saved.write_text(json.dumps(results, indent=1))
    return results


def floors_and_profiles(results: dict, models, texts: list[str], args, work: Path) -> None:
    """The int8 MatMul floor of each of ``models`` with an int8 row and the profiles (batch 32 and batch 1)
    of the ``--profile`` variants measured, into ``results``."""
    for tag in models:
        int8 = [row for row in results["rows"] if row["model"] == tag and row["variant"].startswith("int8")]
        if int8:
            gops = plain_matmul_gops(*FLOOR_SHAPES[tag], args.threads, work)
            bundle = Path(int8[-1]["bundle"])
            macs, tokens = int8_macs_per_token(bundle), padded_tokens(bundle, texts)
            results["floors"][tag] = {"gops": gops, "macs_per_token": macs, "tokens_per_review": tokens,
                                      "ms_per_review": 2 * macs * tokens / (gops * 1e9) * 1000}
    for row in results["rows"]:
        if row["variant"] in args.profile and row["model"] in models:
            name = f"{MODELS[row['model']]} {row['variant']}"
            results["profiles"][name] = {
                "batch 32": profile(Path(row["bundle"]), texts, args.threads, work),
                "batch 1": profile(Path(row["bundle"]), texts[:args.latency_n], args.threads, work, batch=1)}


def report(results: dict, command: str, minilm_fine_tuned: bool = True) -> str:
    """The int8-edge section: setup, the table, the floors, the profiles and a reading against the goals."""
    rows, floors = results["rows"], results["floors"]
    lines = [
        "## int8-edge: MiniLM-L6 and MobileBERT int8, graph passes, the int8 MatMul floor", "",
        f"Machine: {machine_summary()}; onnxruntime threads {results['threads']}. Revision {git_revision()}. "
        f"Speed: the first {results['n']} held-out reviews (`bench.heldout.heldout({results['n']})`), batch 32 sorted by "
        f"length and padded to the longest, the best of {results.get('rounds', 2)} rounds that each load every bundle "
        f"in turn; batch 1: the first {results['latency_n']} one at a time, {results.get('rounds', 2)} times, "
        + ("the bundles taking turns text by text (percentiles over all), so a slow spell of the machine touches every "
           "bundle alike. " if results.get("batch_1") == "paired" else "each bundle in its round (percentiles over all). ")
        + f"Agreement: labels against the same model's fp32 bundle on {results['dev_n']} dev reviews (training pool, "
        f"after the 400 the random MobileBERT calibrates and is gated on; MobileBERT: the first "
        f"{min(MOBILEBERT_DEV, results['dev_n'])}). Cold start and peak RSS: a fresh process "
        f"importing the runtime, loading the bundle and predicting one review (median of {results['cold_runs']}). "
        "Every bundle is the export default unless its row says otherwise; \"no graph pass\" is `export --no-optimize`."
        + ("" if minilm_fine_tuned else " The MiniLM is the pretrained encoder with a random classification head "
           "(speed as a fine-tuned one; its agreement row says little)."),
        "",
        "| model | bundle | stored nodes | ms/review (batch 32) | x int8 floor | p50 ms (batch 1) | p95 ms (batch 1) | "
        "cold start | peak RSS | label agreement with fp32 | max prob diff | size |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = sorted(rows, key=lambda row: (list(MODELS).index(row["model"]), row["variant"].split(",")[0], row["index"]))
    for row in rows:
        floor = floors.get(row["model"], {}).get("ms_per_review")
        ratio = f"{row['ms'] / floor:.2f}x" if floor and row["variant"].startswith("int8") else ""
        lines.append(f"| {MODELS[row['model']]} | {row['variant']} | {row['nodes']} | {row['ms']:.2f} | {ratio} | "
                     f"{row['p50']:.1f} | {row['p95']:.1f} | {row['cold_s']:.3f} s | {row['rss_mib']:.0f} MiB | "
                     f"{row['agreement']:.2f}% | {row['max_diff']:.4f} | {row['mib']:.1f} MiB |")
    lines += goals(rows, floors, minilm_fine_tuned) + tried(rows)
    lines += [] if not floors else ["", "int8 MatMul floor: one plain `MatMulIntegerToFloat` (uint8 x int8, per-column scales) of each model's "
              "feed-forward shape; floor = int8 multiply-adds per token x padded tokens per review / its throughput.", "",
              "| model | plain kernel shape | GOPS | int8 multiply-adds per token | padded tokens per review | floor ms/review |",
              "| --- | --- | ---: | ---: | ---: | ---: |"]
    for tag, floor in floors.items():
        shape = " x ".join(map(str, FLOOR_SHAPES[tag]))
        lines.append(f"| {MODELS[tag]} | {shape} | {floor['gops']:.0f} | {floor['macs_per_token'] / 1e6:.1f} M | "
                     f"{floor['tokens_per_review']:.0f} | {floor['ms_per_review']:.2f} |")
    for name, by_batch in results["profiles"].items():
        for batch, by_op in by_batch.items():
            total = sum(by_op.values())
            top = sorted(by_op.items(), key=lambda kv: -kv[1])[:8]
            lines += ["", f"Where the time goes, {name} (onnxruntime profiler, kernel time {total:.0f} ms, {batch}): "
                      + ", ".join(f"{op} {ms / total * 100:.0f}%" for op, ms in top) + "."]
    for row in rows:
        if f"{MODELS[row['model']]} {row['variant']}" in results["profiles"]:
            top = ", ".join(f"{op} {n}" for op, n in sorted(row["ops"].items(), key=lambda kv: -kv[1])[:10])
            lines += ["", f"{MODELS[row['model']]} {row['variant']}, stored ops: {top}."]
    if results.get("note"):
        lines += ["", results["note"]]
    lines += ["", f"Command (from the repository root): `{command}`"]
    return "\n".join(lines) + "\n"


def export_default(index: int) -> bool:
    """Whether ``VARIANTS[index]`` is what export does by default for its model and precision."""
    from mobilebert_edge.export import fusion, optimize

    _, _, options, settings = VARIANTS[index]
    now = {"attention": optimize.ATTENTION_FOR["static"], "passes": tuple(fusion.PASSES), "fold_scales": True,
           "skip_layer_norm": optimize.FUSE_SKIP_LAYER_NORM}
    return options.get("optimize", True) and all(now[key] == value for key, value in settings.items())


def defaults(rows: list[dict]) -> dict[str, dict]:
    """Each model's int8 row made with the export defaults."""
    return {row["model"]: row for row in rows if row["variant"].startswith("int8") and export_default(row["index"])}


def tried(rows: list[dict]) -> list[str]:
    """Every other int8 arrangement measured, against its model's export default."""
    default = defaults(rows)
    lines = []
    for row in rows:
        base = default.get(row["model"])
        if base is None or row is base or not row["variant"].startswith("int8"):
            continue
        lines.append(f"- {MODELS[row['model']]}, {row['variant'][6:]}: {row['ms']:.2f} ms/review at batch 32 "
                     f"({row['ms'] / base['ms'] - 1:+.0%}), batch-1 p50 {row['p50']:.1f} ms ({row['p50'] / base['p50'] - 1:+.0%}), "
                     f"{row['nodes']} nodes, agreement {row['agreement']:.2f}%")
    return ["", "Not the default, each against its model's export default (int8):", ""] + lines if lines else []


def goals(rows: list[dict], floors: dict, minilm_fine_tuned: bool = True) -> list[str]:
    """The goals, read from the rows of the export defaults."""
    default = defaults(rows)
    minilm, mobilebert = default.get("minilm"), default.get("mobilebert")
    before = next((row for row in rows if row["model"] == "mobilebert" and row["variant"] == MOBILEBERT_BEFORE), None)
    if minilm is None or mobilebert is None:
        return []

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    batch, single = mobilebert["ms"] / minilm["ms"], mobilebert["p50"] / minilm["p50"]
    lines = ["", f"Goals (export defaults: MobileBERT {mobilebert['variant'][6:]}; MiniLM {minilm['variant'][6:]}):"]
    was = f" (without the pass {before['ms'] / minilm['ms']:.2f}x)" if before else ""
    lines.append(f"- MobileBERT int8 at most 1.6x MiniLM-L6 int8 per review at batch 32: {batch:.2f}x{was}, {verdict(batch <= 1.6)}")
    was = f" (without the pass {before['p50'] / minilm['p50']:.2f}x)" if before else ""
    lines.append(f"- and at most 1.8x at batch-1 p50: {single:.2f}x{was}, {verdict(single <= 1.8)}")
    if "minilm" in floors:
        ratio = minilm["ms"] / floors["minilm"]["ms_per_review"]
        lines.append(f"- MiniLM-L6 int8 at most 2x its int8 MatMul floor: {ratio:.2f}x, {verdict(ratio <= 2)}")
    if minilm_fine_tuned:
        lines.append(f"- MiniLM int8 labels agree with fp32 on at least 99% of the dev reviews: {minilm['agreement']:.2f}%, "
                     f"{verdict(minilm['agreement'] >= 99)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minilm", type=Path, help="fine-tuned MiniLM checkpoint (the default preset's)")
    parser.add_argument("--mobilebert", type=Path, help="full-size MobileBERT checkpoint (random weights are fine)")
    parser.add_argument("--n", type=int, default=500, help="held-out reviews for speed")
    parser.add_argument("--dev-n", type=int, default=2000, help="dev reviews for label agreement")
    parser.add_argument("--latency-n", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every bundle (batch 32: the best is kept)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh processes per cold-start measurement")
    parser.add_argument("--profile", action="append", default=None, metavar="VARIANT",
                        help="int8 variants to profile (default: the last of each model)")
    parser.add_argument("--variants", type=lambda text: [int(i) for i in text.split(",")], default=None,
                        metavar="I,J", help="measure only these rows of VARIANTS (by index), keeping WORK's others")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the bundles WORK already holds (no export; rows in its results.json: speed measured again)")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--report-only", action="store_true", help="rewrite the section from WORK/results.json")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.profile is None:
        args.profile = [VARIANTS[1][1], VARIANTS[2][1], MOBILEBERT_BEFORE, MOBILEBERT_DEFAULT]

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-int8-edge-"))
    work.mkdir(parents=True, exist_ok=True)
    results = json.loads((work / "results.json").read_text()) if args.report_only else run(args, work, log)
    given = [arg for arg in (sys.argv[1:] if argv is None else argv) if arg != "--report-only"]
    fine_tuned = args.minilm is not None and (args.minilm / "mobilebert_edge.json").exists()
    body = report(results, "flock /tmp/mbe-heavy.lock python -m bench.int8_edge " + shlex.join(given), fine_tuned)
    if not args.no_write:
        write_section("int8-edge", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

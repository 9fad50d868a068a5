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
]
MOBILEBERT_DEV = 500
# Measured first (VARIANTS indices): the rows the goals are read from; floors and profiles follow them.
CORE = (4, 5, 9, 0, 1, 2)
FLOOR_SHAPES = {"minilm": (4096, 384, 1536), "mobilebert": (4096, 128, 512)}  # each model's feed-forward MatMul


@contextlib.contextmanager
def graph_settings(attention: str | None = None, passes: tuple[str, ...] | None = None, fold_scales: bool = True):
    """Export with static int8's attention arrangement, the MobileBERT pass's parts and the folding of
    smoothing into the kernels set for one variant."""
    from mobilebert_edge.export import fusion, optimize
    from mobilebert_edge.export.fusion import scales

    saved = optimize.ATTENTION_FOR["static"], fusion.PASSES, scales.fold_smoothing
    optimize.ATTENTION_FOR["static"] = attention or saved[0]
    fusion.PASSES = passes if passes is not None else saved[1]
    scales.fold_smoothing = saved[2] if fold_scales else (lambda graph: 0)
    try:
        yield
    finally:
        optimize.ATTENTION_FOR["static"], fusion.PASSES, scales.fold_smoothing = saved


def fresh_process(code: str, runs: int) -> tuple[float, float]:
    """Median seconds and peak RSS (MiB) printed by ``code`` run in ``runs`` fresh interpreters."""
    found = [tuple(map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                              check=True).stdout.split())) for _ in range(runs)]
    return statistics.median(f[0] for f in found), statistics.median(f[1] for f in found)


def speed(bundle: Path, texts: list[str], dev: list[str], threads: int, latency_n: int, rounds: int) -> dict:
    """ms/review at batch 32 (best of ``rounds``), p50/p95 ms at batch 1, probabilities on ``dev``."""
    from edge_runtime import Classifier

    clf = Classifier.load(bundle, threads=threads, verify=False)
    clf.predict_proba(texts[:32], batch_size=32)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        clf.predict_proba(texts, batch_size=32)
        best = min(best, (time.perf_counter() - start) / len(texts) * 1000)
    took = []
    for text in texts[:latency_n]:
        start = time.perf_counter()
        clf.predict_proba([text], batch_size=1)
        took.append((time.perf_counter() - start) * 1000)
    return {"ms": best, "p50": float(np.percentile(took, 50)), "p95": float(np.percentile(took, 95)),
            "dev": clf.predict_proba(dev, batch_size=32), "mib": (bundle / "model.onnx").stat().st_size / MIB}


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


def profile(bundle: Path, texts: list[str], threads: int, work: Path) -> dict[str, float]:
    """onnxruntime's profiler over ``texts`` at batch 32: kernel milliseconds per op type."""
    import onnxruntime as ort

    from edge_runtime import Classifier

    clf = Classifier.load(bundle, threads=threads, verify=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # as the runtime loads it
    options.enable_profiling = True
    options.profile_file_prefix = str(work / f"profile-{bundle.name}")
    session = ort.InferenceSession(str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"])
    rows = sorted(clf.encoder.encode_ids(texts), key=len)
    names = [i.name for i in session.get_inputs()]
    for i in range(0, len(rows), 32):
        batch = clf.encoder.pad(rows[i:i + 32])
        feed = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask, "token_type_ids": batch.token_type_ids}
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
    """Export every variant and measure it, the core ones (``CORE``) first, then floors and profiles, then
    the rest; the results so far are saved in ``work``/results.json after each step."""
    from mobilebert_edge.export import export_bundle

    texts = heldout(args.n)["text"].tolist()
    pool = training_pool(400 + args.dev_n)
    calibration = write_jsonl(work / "calibration.jsonl", pool.iloc[:200])
    evaluation = write_jsonl(work / "evaluation.jsonl", pool.iloc[200:400])
    dev = pool.iloc[400:]["text"].tolist()
    checkpoints = {"minilm": args.minilm, "mobilebert": args.mobilebert}
    results = {"rows": [], "floors": {}, "profiles": {}, "n": len(texts), "dev_n": len(dev),
               "latency_n": args.latency_n, "threads": args.threads, "cold_runs": args.cold_runs}
    rows, reference = results["rows"], {}
    order = [i for i in (*CORE, *(i for i in range(len(VARIANTS)) if i not in CORE))
             if checkpoints[VARIANTS[i][0]] is not None]
    core = sum(1 for i in CORE if i in order)
    for step, index in enumerate(order):
        tag, variant, options, settings = VARIANTS[index]
        bundle = work / f"{tag}-{index}"
        # our own checkpoints calibrate on their validation texts; the random one on 200 training-pool reviews
        extra = {} if (checkpoints[tag] / "mobilebert_edge.json").exists() else {
            "calibration_data": calibration, "eval_data": evaluation}
        with graph_settings(**settings):
            report = export_bundle(checkpoints[tag], bundle, max_accuracy_drop=100.0, overwrite=True, log=log,
                                   **extra, **options)
        # random MobileBERT weights make its agreement say little: fewer dev reviews for it
        measured = speed(bundle, texts, dev if tag == "minilm" else dev[:MOBILEBERT_DEV], args.threads,
                         args.latency_n, args.rounds)
        cold, rss = fresh_process(COLD_START.format(bundle=str(bundle), threads=args.threads, text=PROBE), args.cold_runs)
        got = measured.pop("dev")
        fp32 = reference.setdefault(tag, got)  # the first fp32 bundle measured of this model
        rows.append({
            "index": index, "model": tag, "variant": variant, "bundle": str(bundle),
            "nodes": report["graph"]["nodes_after"], "ops": report["graph"]["ops"], **measured, "cold_s": cold,
            "rss_mib": rss, "agreement": float((got.argmax(1) == fp32.argmax(1)).mean() * 100),
            "max_diff": float(np.abs(got - fp32).max()),
        })
        log(f"{MODELS[tag]} {variant}: {json.dumps({k: v for k, v in rows[-1].items() if k != 'ops'})}")
        if step == core - 1:
            floors_and_profiles(results, checkpoints, texts, args, work)
        (work / "results.json").write_text(json.dumps(results, indent=1))
    return results


def floors_and_profiles(results: dict, checkpoints: dict, texts: list[str], args, work: Path) -> None:
    """Each model's int8 MatMul floor and the profiles of the ``--profile`` variants, into ``results``."""
    for tag in checkpoints:
        int8 = [row for row in results["rows"] if row["model"] == tag and row["variant"].startswith("int8")]
        if int8:
            gops = plain_matmul_gops(*FLOOR_SHAPES[tag], args.threads, work)
            bundle = Path(int8[-1]["bundle"])
            macs, tokens = int8_macs_per_token(bundle), padded_tokens(bundle, texts)
            results["floors"][tag] = {"gops": gops, "macs_per_token": macs, "tokens_per_review": tokens,
                                      "ms_per_review": 2 * macs * tokens / (gops * 1e9) * 1000}
    for row in results["rows"]:
        if row["variant"] in args.profile:
            name = f"{MODELS[row['model']]} {row['variant']}"
            results["profiles"][name] = profile(Path(row["bundle"]), texts, args.threads, work)


def report(results: dict, command: str, minilm_fine_tuned: bool = True) -> str:
    """The int8-edge section: setup, the table, the floors, the profiles and a reading against the goals."""
    rows, floors = results["rows"], results["floors"]
    lines = [
        "## int8 on the edge: MiniLM-L6 and MobileBERT, graph passes, the int8 MatMul floor", "",
        f"Machine: {machine_summary()}; onnxruntime threads {results['threads']}. Revision {git_revision()}. "
        f"Speed: the first {results['n']} held-out reviews (`bench.heldout.heldout({results['n']})`), batch 32 sorted by "
        f"length and padded to the longest (best of the rounds); batch 1: the first {results['latency_n']} one at a time. "
        f"Agreement: labels against the same model's fp32 bundle on {results['dev_n']} dev reviews (training pool, "
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
    rows = sorted(rows, key=lambda row: row["index"])
    for row in rows:
        floor = floors.get(row["model"], {}).get("ms_per_review")
        ratio = f"{row['ms'] / floor:.2f}x" if floor and row["variant"].startswith("int8") else ""
        lines.append(f"| {MODELS[row['model']]} | {row['variant']} | {row['nodes']} | {row['ms']:.2f} | {ratio} | "
                     f"{row['p50']:.1f} | {row['p95']:.1f} | {row['cold_s']:.3f} s | {row['rss_mib']:.0f} MiB | "
                     f"{row['agreement']:.2f}% | {row['max_diff']:.4f} | {row['mib']:.1f} MiB |")
    lines += [] if not floors else ["", "int8 MatMul floor: one plain `MatMulIntegerToFloat` (uint8 x int8, per-column scales) of each model's "
              "feed-forward shape; floor = int8 multiply-adds per token x padded tokens per review / its throughput.", "",
              "| model | plain kernel shape | GOPS | int8 multiply-adds per token | padded tokens per review | floor ms/review |",
              "| --- | --- | ---: | ---: | ---: | ---: |"]
    for tag, floor in floors.items():
        shape = " x ".join(map(str, FLOOR_SHAPES[tag]))
        lines.append(f"| {MODELS[tag]} | {shape} | {floor['gops']:.0f} | {floor['macs_per_token'] / 1e6:.1f} M | "
                     f"{floor['tokens_per_review']:.0f} | {floor['ms_per_review']:.2f} |")
    for name, by_op in results["profiles"].items():
        total = sum(by_op.values())
        top = sorted(by_op.items(), key=lambda kv: -kv[1])[:8]
        lines += ["", f"Where the time goes, {name} (onnxruntime profiler, kernel time {total:.0f} ms, batch 32): "
                  + ", ".join(f"{op} {ms / total * 100:.0f}%" for op, ms in top) + "."]
    for row in rows:
        if f"{MODELS[row['model']]} {row['variant']}" in results["profiles"]:
            top = ", ".join(f"{op} {n}" for op, n in sorted(row["ops"].items(), key=lambda kv: -kv[1])[:10])
            lines += ["", f"{MODELS[row['model']]} {row['variant']}, stored ops: {top}."]
    if results.get("note"):
        lines += ["", results["note"]]
    lines += goals(rows, floors, minilm_fine_tuned)
    lines += ["", f"Command (from the repository root): `{command}`"]
    return "\n".join(lines) + "\n"


def goals(rows: list[dict], floors: dict, minilm_fine_tuned: bool = True) -> list[str]:
    """The goals, read from the rows of the export defaults (MobileBERT with its graph pass, MiniLM with the
    attention arrangement static int8 uses now)."""
    from mobilebert_edge.export.optimize import ATTENTION_FOR

    minilm_variant = VARIANTS[1 if ATTENTION_FOR["static"] == "Attention" else 2][1]
    by_name = {(row["model"], row["variant"]): row for row in rows}
    minilm, mobilebert = by_name.get(("minilm", minilm_variant)), by_name.get(("mobilebert", VARIANTS[-1][1]))
    before = by_name.get(("mobilebert", VARIANTS[5][1]))
    if minilm is None or mobilebert is None:
        return []

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    batch, single = mobilebert["ms"] / minilm["ms"], mobilebert["p50"] / minilm["p50"]
    lines = ["", f"Goals (export defaults: MobileBERT with its graph pass, MiniLM int8 with {minilm_variant[6:]}):"]
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
    parser.add_argument("--rounds", type=int, default=2, help="batch-32 passes over the reviews (the best is kept)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh processes per cold-start measurement")
    parser.add_argument("--profile", action="append", default=None, metavar="VARIANT",
                        help="int8 variants to profile (default: the last of each model)")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--report-only", action="store_true", help="rewrite the section from WORK/results.json")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.profile is None:
        args.profile = [VARIANTS[2][1], VARIANTS[-1][1]]

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

"""int8 on the edge: MiniLM next to full-size MobileBERT (speed, batch invariance, int8 vs fp32 agreement),
where the int8 bundle's time goes (onnxruntime's profiler) against a plain int8 MatMul on this machine,
and cold start in fresh processes with the stored graph optimized or not. Writes the "int8-edge"
section of docs/BENCHMARKS.md.

    flock /tmp/mbe-heavy.lock python -m bench.int8_edge --minilm CHECKPOINT --mobilebert CHECKPOINT

A full-size MobileBERT with random weights is enough for speed, invariance and agreement on logits:

    python -m bench.int8_edge --make-mobilebert /tmp/mbe/runs/mobilebert-full-random
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.heldout import heldout, training_pool
from bench.models import full_size_mobilebert
from bench.report import git_revision, machine_summary, write_section

MIB = 2**20
PROBE = "A wonderful, moving film."
COLD_START = """
import time
start = time.perf_counter()
from edge_runtime import Classifier
clf = Classifier.load({bundle!r}, threads={threads})
clf.predict({text!r})
print(time.perf_counter() - start)
"""
IMPORTS_ONLY = """
import time
start = time.perf_counter()
import numpy, onnxruntime, tokenizers
print(time.perf_counter() - start)
"""


def fresh_process_seconds(code: str, runs: int) -> float:
    """Median wall seconds printed by ``code`` run in ``runs`` fresh interpreters."""
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
             for _ in range(runs)]
    return statistics.median(times)


def speed(bundle: Path, texts: list[str], threads: int, latency_n: int) -> dict:
    """ms/review at batch 32 (sorted, padded to the longest), p50 at batch 1, and batch drift."""
    from edge_runtime import Classifier

    clf = Classifier.load(bundle, threads=threads, verify=False)
    clf.predict_proba(texts[:32], batch_size=32)
    start = time.perf_counter()
    proba = clf.predict_proba(texts, batch_size=32)
    ms = (time.perf_counter() - start) / len(texts) * 1000
    took, single = [], []
    for text in texts[:latency_n]:
        start = time.perf_counter()
        single.append(clf.predict_proba([text], batch_size=1)[0])
        took.append(time.perf_counter() - start)
    return {"proba": proba, "ms": ms, "p50": float(np.median(took) * 1000),
            "drift": float(np.abs(np.vstack(single) - proba[:latency_n]).max()),
            "mib": (bundle / "model.onnx").stat().st_size / MIB}


def profile(bundle: Path, texts: list[str], threads: int, work: Path) -> dict:
    """onnxruntime's profiler over ``texts`` at batch 32: milliseconds per op type, and int8 MatMul MACs."""
    import onnx
    import onnxruntime as ort

    from edge_runtime import Classifier

    clf = Classifier.load(bundle, threads=threads, verify=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.enable_profiling = True
    options.profile_file_prefix = str(work / "profile")
    session = ort.InferenceSession(str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"])
    graph = onnx.load(str(bundle / "model.onnx")).graph
    shapes = {init.name: list(init.dims) for init in graph.initializer}
    macs_per_token = sum(
        int(np.prod(shapes[node.input[1]])) for node in graph.node
        if node.op_type == "MatMulIntegerToFloat" and node.input[1] in shapes
    )
    rows = clf.encoder.encode_ids(texts)
    order = np.argsort([len(r) for r in rows], kind="stable")
    tokens = 0
    names = [i.name for i in session.get_inputs()]
    start = time.perf_counter()
    for i in range(0, len(order), 32):
        batch = clf.encoder.pad([rows[j] for j in order[i : i + 32]])
        tokens += batch.input_ids.size
        feed = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask, "token_type_ids": batch.token_type_ids}
        session.run(None, {n: feed[n].astype(np.int64) for n in names})
    wall = time.perf_counter() - start
    events = json.loads(Path(session.end_profiling()).read_text())
    by_op: dict[str, float] = defaultdict(float)
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"] / 1000
    return {"by_op": dict(by_op), "wall_ms": wall * 1000, "tokens": tokens, "int8_macs": tokens * macs_per_token}


def plain_matmul(m: int, k: int, n: int, threads: int, work: Path) -> dict:
    """GOPS (2 x MACs per second) of one MatMulIntegerToFloat (uint8 x int8) and one fp32 MatMul of this shape."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    out = {}
    for kind in ("int8", "fp32"):
        if kind == "int8":
            inits = [numpy_helper.from_array(rng.integers(-127, 128, (k, n)).astype(np.int8), "B"),
                     numpy_helper.from_array(np.array(0.02, np.float32), "a_scale"),
                     numpy_helper.from_array(np.full(n, 0.01, np.float32), "b_scale"),
                     numpy_helper.from_array(np.array(128, np.uint8), "a_zp")]
            node = helper.make_node("MatMulIntegerToFloat", ["A", "B", "a_scale", "b_scale", "a_zp"], ["Y"], domain="com.microsoft")
            a_type, a = TensorProto.UINT8, rng.integers(0, 256, (m, k)).astype(np.uint8)
        else:
            inits = [numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "B")]
            node = helper.make_node("MatMul", ["A", "B"], ["Y"])
            a_type, a = TensorProto.FLOAT, rng.standard_normal((m, k)).astype(np.float32)
        graph = helper.make_graph([node], kind, [helper.make_tensor_value_info("A", a_type, [m, k])],
                                  [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)])
        path = work / f"matmul-{kind}.onnx"
        onnx.save(model, str(path))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        session.run(None, {"A": a})
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < 2.0:
            session.run(None, {"A": a})
            reps += 1
        seconds = (time.perf_counter() - start) / reps
        out[kind] = 2 * m * k * n / seconds / 1e9
    return out


def write_jsonl(path: Path, table) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for text, label in zip(table["text"], table["label"]):
            handle.write(json.dumps({"text": text, "label": "positive" if int(label) else "negative"}) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minilm", type=Path, help="MiniLM checkpoint (the default preset's)")
    parser.add_argument("--mobilebert", type=Path, help="full-size MobileBERT checkpoint (random weights are fine)")
    parser.add_argument("--make-mobilebert", type=Path, metavar="DIR", help="write a random full-size MobileBERT to DIR and exit")
    parser.add_argument("--n", type=int, default=500, help="held-out reviews for speed and agreement")
    parser.add_argument("--latency-n", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes per cold-start measurement")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.make_mobilebert:
        full_size_mobilebert(args.make_mobilebert)
        return 0

    from mobilebert_edge.export import export_bundle

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-int8-edge-"))
    work.mkdir(parents=True, exist_ok=True)
    table = heldout(args.n)
    texts = table["text"].tolist()
    pool = training_pool(400)
    calibration = write_jsonl(work / "calibration.jsonl", pool.iloc[:200])
    evaluation = write_jsonl(work / "evaluation.jsonl", pool.iloc[200:400])
    models = {"MiniLM-L6 (default preset)": args.minilm, "MobileBERT full size (random weights)": args.mobilebert}
    rows, cold, reports = [], [], {}
    for name, checkpoint in models.items():
        tag = "minilm" if "MiniLM" in name else "mobilebert"
        # our own checkpoints calibrate on their validation texts; the random one on 200 training-pool reviews
        extra = {} if (checkpoint / "mobilebert_edge.json").exists() else {"calibration_data": calibration, "eval_data": evaluation}
        bundles = {}
        for variant, options in (("int8", {}), ("fp32", {"precision": "fp32"}),
                                 ("int8, graph not stored optimized", {"optimized_graph": False})):
            bundles[variant] = work / f"{tag}-{variant.split(',')[0]}{'-plain' if ',' in variant else ''}"
            reports[(tag, variant)] = export_bundle(checkpoint, bundles[variant], max_accuracy_drop=100.0,
                                                    overwrite=True, log=log, **extra, **options)
        measured = {variant: speed(bundles[variant], texts, args.threads, args.latency_n) for variant in ("int8", "fp32")}
        int8, fp32 = measured["int8"], measured["fp32"]
        report = reports[(tag, "int8")]
        rows.append({
            "model": name, "fused": report["optimization"].get("fused") or report["optimization"].get("reason"),
            "nodes": f"{report['graph']['nodes_before']} -> {report['graph']['nodes_after']}",
            "int8": int8, "fp32": fp32,
            "agreement": float((int8["proba"].argmax(1) == fp32["proba"].argmax(1)).mean() * 100),
            "max_diff": float(np.abs(int8["proba"] - fp32["proba"]).max()),
        })
        for variant, bundle in bundles.items():
            code = COLD_START.format(bundle=str(bundle), threads=args.threads, text=PROBE)
            cold.append((name, variant, fresh_process_seconds(code, args.cold_runs)))
            log(f"cold start {name} {variant}: {cold[-1][2]:.3f} s")
    imports = fresh_process_seconds(IMPORTS_ONLY, args.cold_runs)

    minilm_int8 = work / "minilm-int8"
    prof = profile(minilm_int8, texts, args.threads, work)
    peak = plain_matmul(32 * 128, 384, 1536, args.threads, work)

    lines = [
        f"Machine: {machine_summary()}; onnxruntime threads {args.threads}. Revision {git_revision()}.",
        f"Data: the first {len(texts)} held-out reviews (`bench.heldout.heldout({len(texts)})`), batch 32 sorted by "
        f"length and padded to the longest; batch 1: the first {args.latency_n} one at a time. Every bundle is the "
        f"export default (static int8) unless named. The random MobileBERT calibrates on 200 reviews of the training pool.",
        "",
        "| model | fusions (onnxruntime.transformers) | stored graph nodes | int8 ms/review (batch 32) | fp32 ms/review | "
        "int8 p50 ms (batch 1) | int8 batch drift | int8/fp32 label agreement | max prob diff | int8 size |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        fused = ", ".join(f"{op} {n}" for op, n in row["fused"].items()) if isinstance(row["fused"], dict) else row["fused"]
        lines.append(f"| {row['model']} | {fused} | {row['nodes']} | {row['int8']['ms']:.2f} | {row['fp32']['ms']:.2f} | "
                     f"{row['int8']['p50']:.1f} | {row['int8']['drift']:.1e} | {row['agreement']:.2f}% | {row['max_diff']:.4f} | "
                     f"{row['int8']['mib']:.1f} MiB |")
    for tag, title in (("minilm", "MiniLM"), ("mobilebert", "MobileBERT")):
        ops = reports[(tag, "int8")]["graph"]["ops"]
        top = ", ".join(f"{op} {n}" for op, n in sorted(ops.items(), key=lambda kv: -kv[1])[:10])
        lines += ["", f"{title} int8 as stored (onnxruntime {reports[(tag, 'int8')]['graph']['level']}): {top}."]
    lines += ["", f"### Cold start (fresh process: import, load, first prediction; median of {args.cold_runs})", "",
              f"Importing numpy, onnxruntime and tokenizers alone: {imports:.3f} s.", "",
              "| model | bundle | cold start |", "| --- | --- | ---: |"]
    for name, variant, seconds in cold:
        lines.append(f"| {name} | {variant} | {seconds:.3f} s |")
    total = sum(prof["by_op"].values())
    top = sorted(prof["by_op"].items(), key=lambda kv: -kv[1])[:8]
    mm = prof["by_op"].get("MatMulIntegerToFloat", 0.0)
    model_gops = 2 * prof["int8_macs"] / (mm / 1000) / 1e9 if mm else float("nan")
    lines += [
        "", f"### Where the MiniLM int8 time goes (onnxruntime profiler, {len(texts)} reviews, batch 32)", "",
        f"Kernel time {total:.0f} ms of {prof['wall_ms']:.0f} ms wall ({prof['tokens']} padded tokens).", "",
        "| op type | ms | share |", "| --- | ---: | ---: |",
        *[f"| {op} | {ms:.0f} | {ms / total * 100:.1f}% |" for op, ms in top],
        "",
        f"The int8 MatMuls ran at {model_gops:.0f} GOPS (2 x {prof['int8_macs'] / 1e9:.1f} G multiply-adds in "
        f"{mm:.0f} ms). A plain MatMulIntegerToFloat of the feed-forward shape (4096 x 384 x 1536, uint8 x int8) "
        f"runs at {peak['int8']:.0f} GOPS on this machine and the fp32 MatMul of that shape at {peak['fp32']:.0f} GOPS, "
        f"so the model's int8 MatMuls reach {model_gops / peak['int8'] * 100:.0f}% of the plain one's throughput.",
    ]
    command = "flock /tmp/mbe-heavy.lock python -m bench.int8_edge " + " ".join(sys.argv[1:] if argv is None else argv)
    lines += ["", f"Command (from the repository root): `{command.strip()}`"]
    body = "## int8 on the edge: MiniLM and MobileBERT, profile, cold start\n\n" + "\n".join(lines) + "\n"
    if not args.no_write:
        write_section("int8-edge", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

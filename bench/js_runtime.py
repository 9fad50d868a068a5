"""The JavaScript runtime against the Python one: the same bundle and texts, timed in one run in
Python, Node (onnxruntime-node) and headless Chromium (onnxruntime-web, WASM), each in a fresh process.
Also the install size of each runtime's dependencies and the bytes a browser downloads; the same
checkpoint's other bundle forms (QDQ int8, fp32) timed and compared in Python and Chromium; and each
runtime's own per-op profile of one batch (int8 and fp32), which says where Chromium loses its time.
Writes the "js-runtime" section of docs/BENCHMARKS.md.

    flock /tmp/mbe-heavy.lock python -m bench.js_runtime [--bundle DIR --checkpoint DIR] [--texts 256] [--single 50]

The bundle defaults to the fine-tuned MiniLM int8 bundle of the JS parity tests
(``python edge_runtime_js/test/make_fixtures.py --imdb``); the other forms are exported from the
checkpoint (default: that bundle's) into folders beside it when missing; the texts are held-out IMDb reviews.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from bench.heldout import heldout
from bench.report import command_line, git_revision, machine_summary, write_section

REPO = Path(__file__).resolve().parents[1]
JS = REPO / "edge_runtime_js"
DEFAULT_BUNDLE = JS / ".fixtures" / "minilm-int8"
CHECKPOINT = JS / ".fixtures" / "minilm-checkpoint"
# The same checkpoint in other bundle forms, compared in Python and Chromium (export options).
# QDQ is timed whatever its accuracy (its gate off): it is here for its speed in Chromium.
FORMS = {"qdq": ["--quantization", "qdq", "--max-accuracy-drop", "100"], "fp32": ["--precision", "fp32"]}
MIB = 2**20
PYTHON_TIMING = """
import json, statistics, sys, time
start = time.perf_counter()  # before the runtime is imported
from edge_runtime import Classifier
bundle, texts_file, single = sys.argv[1], sys.argv[2], int(sys.argv[3])
texts = json.load(open(texts_file, encoding="utf-8"))
clf = Classifier.load(bundle)
clf.predict(texts[0])
cold = time.perf_counter() - start
clf.predict_proba(texts, batch_size=32)  # warm-up pass
t0 = time.perf_counter()
clf.predict_proba(texts, batch_size=32)
batch32 = (time.perf_counter() - t0) / len(texts)
times = []
for text in texts[:single]:
    t0 = time.perf_counter()
    clf.predict(text)
    times.append(time.perf_counter() - t0)
print(json.dumps({"runtime": "python", "cold_ms": 1000 * cold, "batch32_ms": 1000 * batch32,
                  "batch1_p50_ms": 1000 * statistics.median(times)}))
"""


PYTHON_FORMS = """
import json, sys, time
from edge_runtime import Classifier
texts = json.load(open(sys.argv[1], encoding="utf-8"))
rows = []
for bundle in sys.argv[2:]:
    clf = Classifier.load(bundle)
    clf.predict_proba(texts[:32], batch_size=32)  # warm-up batch
    t0 = time.perf_counter()
    proba = clf.predict_proba(texts, batch_size=32)
    rows.append({"bundle": bundle, "batch32_ms": 1000 * (time.perf_counter() - t0) / len(texts), "probabilities": proba.tolist()})
print(json.dumps(rows))
"""
# onnxruntime's profile of one padded batch run twice with the bundle's session options; the second run's
# node times, summed by op type (as bench.js does in the page).
PYTHON_PROFILE = """
import json, os, sys, tempfile
import onnxruntime as ort
from edge_runtime import Classifier
bundle, texts_file = sys.argv[1], sys.argv[2]
texts = json.load(open(texts_file, encoding="utf-8"))
clf = Classifier.load(bundle)
batch = clf.encoder.pad(clf.tokenizer_ids(texts))
arrays = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask, "token_type_ids": batch.token_type_ids}
options = ort.SessionOptions()
options.enable_profiling = True
options.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "profile")
options.inter_op_num_threads = 1
baked = clf.manifest["model"].get("optimization_level") == "extended"
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL if baked else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
session = ort.InferenceSession(os.path.join(bundle, clf.manifest["model"]["file"]), options, providers=["CPUExecutionProvider"])
feed = {i.name: arrays[i.name].astype("int64") for i in session.get_inputs()}
session.run(None, feed)
session.run(None, feed)
nodes = {}
for event in json.load(open(session.end_profiling())):
    if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
        nodes[event["name"]] = (event["args"]["op_name"], event["dur"] / 1000)
ops = {}
for op, ms in nodes.values():
    ops[op] = ops.get(op, 0) + ms
print(json.dumps({"rows": len(texts), "width": int(batch.input_ids.shape[1]), "ops_ms": ops}))
"""


def run_python(bundle: Path, texts_file: Path, single: int) -> dict:
    done = subprocess.run([sys.executable, "-c", PYTHON_TIMING, str(bundle), str(texts_file), str(single)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def last_json(argv: list[str]) -> object:
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_js(runtime: str, bundle: Path, texts_file: Path, single: int) -> dict:
    return last_json(["node", str(JS / "scripts" / "bench.js"), runtime, str(bundle), str(texts_file), "--single", str(single)])


def compare(found: list[list[float]], expected: list[list[float]], atol: float) -> tuple[float, float, int]:
    """Largest absolute probability difference, label agreement (%) and rows beyond ``atol`` of two tables."""
    a, b = np.asarray(found), np.asarray(expected)
    diff = np.abs(a - b).max(1)
    return float(diff.max()), float(100 * np.mean(a.argmax(1) == b.argmax(1))), int((diff > atol).sum())


def bundle_forms(bundles: list[Path], texts_file: Path) -> list[dict]:
    """Each bundle timed at batch 32 in Python and in one Chromium page; Chromium's probabilities against Python's."""
    python = last_json([sys.executable, "-c", PYTHON_FORMS, str(texts_file), *map(str, bundles)])
    chromium = last_json(["node", str(JS / "scripts" / "bench.js"), "forms", str(texts_file), *map(str, bundles)])
    rows = []
    for bundle, py, web in zip(bundles, python, chromium):
        manifest = json.loads((bundle / "manifest.json").read_text())
        diff, agreement, over = compare(web["probabilities"], py["probabilities"], tolerance(manifest))
        rows.append({"bundle": bundle, "manifest": manifest, "python_ms": py["batch32_ms"], "chromium_ms": web["batch32_ms"],
                     "max_diff": diff, "agreement": agreement, "over": over, "n": len(py["probabilities"])})
    return rows


def op_profile(bundle: Path, texts_file: Path) -> tuple[dict, dict]:
    """ms per op type for one batch, in Python and in Chromium."""
    python = last_json([sys.executable, "-c", PYTHON_PROFILE, str(bundle), str(texts_file)])
    chromium = last_json(["node", str(JS / "scripts" / "bench.js"), "profile", str(bundle), str(texts_file)])
    return python, chromium


def ensure_forms(checkpoint: Path) -> list[Path]:
    """The other forms of the fixtures' MiniLM, exported from its checkpoint when missing (cached)."""
    bundles = []
    for name, options in FORMS.items():
        bundle = checkpoint.parent / f"minilm-{name}"
        if not (bundle / "manifest.json").is_file():
            subprocess.run([sys.executable, "-m", "mobilebert_edge", "export", str(checkpoint), "--out", str(bundle), "--overwrite",
                            *options], check=True, stdout=subprocess.DEVNULL)
        bundles.append(bundle)
    return bundles


def precision_name(manifest: dict) -> str:
    """The bundle's form: fp32, or int8 and its quantization (static, qdq, ...)."""
    model = manifest["model"]
    return model["precision"] if model["precision"] == "fp32" else f"int8 {model.get('quantization', '?')}"


def form_name(manifest: dict) -> str:
    temperature = (manifest.get("calibration") or {}).get("temperature")
    return f"{precision_name(manifest)}, {'T ' + format(temperature, '.2f') if temperature else 'no temperature'}"


def tolerance(manifest: dict) -> float:
    """What Chromium's probabilities are held to: the bundle's golden atol for int8, 1e-4 for fp32."""
    return manifest["golden"]["atol"] if manifest["model"]["precision"] == "int8" else 1e-4


def forms_table(rows: list[dict], reference_ms: float) -> list[str]:
    lines = [
        "| bundle | model MiB | Python ms/review | Chromium ms/review | x Python, same bundle | x Python, int8 static | "
        "max abs diff | tolerance | reviews beyond it | labels equal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        manifest = row["manifest"]
        atol = tolerance(manifest)
        size = (row["bundle"] / manifest["model"]["file"]).stat().st_size / MIB
        lines.append(f"| {form_name(manifest)} | {size:.1f} | {row['python_ms']:.1f} | {row['chromium_ms']:.1f} | "
                     f"{row['chromium_ms'] / row['python_ms']:.2f} | {row['chromium_ms'] / reference_ms:.2f} | "
                     f"{row['max_diff']:.1e} | {atol:g} | {row['over']} | {row['agreement']:.1f}% |")
    return lines


def profile_table(profiles: dict[str, tuple[dict, dict]], top: int = 8) -> list[str]:
    """ms per op type, Python and Chromium, for each profiled bundle; the op types Chromium spends most on."""
    names = list(profiles)
    header = "| op type | " + " | ".join(f"{n}: Python ms | {n}: Chromium ms | x" for n in names) + " |"
    lines = [header, "|---|" + "---:|" * (3 * len(names))]
    totals = {}
    for name, (python, chromium) in profiles.items():
        for op, ms in chromium["ops_ms"].items():
            totals[op] = max(totals.get(op, 0), ms)
    ranked = sorted(totals, key=totals.get, reverse=True)
    shown = ranked[:top]
    for op in shown + ["(all others)", "total"]:
        cells = []
        for python, chromium in profiles.values():
            pick = (lambda ops: ops.get(op)) if op not in ("(all others)", "total") else (
                lambda ops: sum(ms for o, ms in ops.items() if op == "total" or o not in shown) or None)
            a, b = pick(python["ops_ms"]), pick(chromium["ops_ms"])
            cells += [f"{a:.1f}" if a else "-", f"{b:.1f}" if b else "-", f"{b / a:.1f}" if a and b else "-"]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    return lines


def tree_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def npm_closure(package: str) -> list[str]:
    """A package and its production dependencies, as installed under edge_runtime_js/node_modules."""
    seen: list[str] = []
    todo = [package]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        manifest = json.loads((JS / "node_modules" / name / "package.json").read_text())
        todo.extend(manifest.get("dependencies") or {})
    return seen


def npm_size(package: str) -> int:
    return sum(tree_size(JS / "node_modules" / name) for name in npm_closure(package))


def python_size(*distributions: str) -> int:
    """Installed size of Python distributions, from their RECORD files."""
    total = 0
    for name in distributions:
        for file in metadata.files(name) or []:
            path = Path(file.locate())
            if path.is_file():
                total += path.stat().st_size
    return total


def browser_bytes(files: dict[str, int]) -> dict[str, int]:
    groups = {"onnxruntime-web WASM": 0, "onnxruntime-web JS": 0, "runtime + page": 0, "bundle": 0}
    for url, size in files.items():
        if "/bundle/" in url:
            groups["bundle"] += size
        elif url.endswith(".wasm"):
            groups["onnxruntime-web WASM"] += size
        elif "/ort/" in url:
            groups["onnxruntime-web JS"] += size
        else:
            groups["runtime + page"] += size
    return groups


def training_summary(checkpoint: Path) -> str:
    """How the checkpoint was trained, from its metadata: preset, epochs, seed, data and base model."""
    try:
        meta = json.loads((checkpoint / "mobilebert_edge.json").read_text())
        config, data = meta["config"], meta["data"]
    except (OSError, ValueError, KeyError):
        return f"Checkpoint: {checkpoint} (no training metadata)."
    base = Path(config["model"])
    base_name = base.parent.name if base.name == "model" else base.name
    return (f"Checkpoint: `train` preset {config['preset']}, {config['epochs']} epochs, seed {config['seed']}, on "
            f"{data['train_rows']:,} texts of {Path(data['train']).name}, from {base_name}.")


def report(bundle: Path, n_texts: int, rows: list[dict], sizes: dict[str, int], downloads: dict[str, int],
           form_rows: list[dict], profiles: dict[str, tuple[dict, dict]], counts: tuple[int, int], checkpoint: Path) -> str:
    manifest = json.loads((bundle / "manifest.json").read_text())
    model = manifest["model"]
    python = rows[0]
    names = {"python": "Python (onnxruntime)", "node": "Node (onnxruntime-node)", "chromium": "Chromium (onnxruntime-web, WASM)"}
    lines = [
        "## JavaScript runtime: Python, Node and Chromium on one bundle (js-runtime)",
        "",
        f"Machine: {machine_summary()}; Node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}, "
        f"{subprocess.run(['/usr/bin/chromium', '--version'], capture_output=True, text=True).stdout.strip() or 'Chromium'} headless. "
        f"Revision {git_revision()}. Command: `flock /tmp/mbe-heavy.lock {command_line(drop=('--no-write',))}`.",
        "",
        f"Bundle: {model.get('architecture', '?')} {model.get('precision', '?')} ({model.get('quantization', '-')}), max length "
        f"{manifest['tokenizer']['max_length']}, {(bundle / model['file']).stat().st_size / MIB:.1f} MiB model; "
        f"{n_texts} held-out IMDb reviews. {training_summary(checkpoint)} Each runtime runs in a fresh process (Chromium: a fresh page), with its default threads "
        "(Chromium: 2 WASM threads, the page being cross-origin isolated). Cold start: import + load (verify, session) + first "
        "prediction (Chromium: from navigation, page, WASM and bundle downloaded from a local server).",
        "",
        "| runtime | ms/review, batch 32 | x Python | batch-1 p50 ms | cold start ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {names[row['runtime']]} | {row['batch32_ms']:.2f} | {row['batch32_ms'] / python['batch32_ms']:.2f} | "
                     f"{row['batch1_p50_ms']:.1f} | {row['cold_ms']:.0f} |")
    lines += ["", "| what | size |", "|---|---:|"]
    lines += [f"| {name} | {size / MIB:.1f} MiB |" for name, size in sizes.items()]
    lines += [f"| browser download: {name} | {size / MIB:.2f} MiB |" for name, size in downloads.items()]
    lines.append(f"| browser download, total | {sum(downloads.values()) / MIB:.2f} MiB |")
    lines += ["", f"The same checkpoint in other bundle forms (`export` options: {', '.join(' '.join(o) for o in FORMS.values())}), "
              f"each timed at batch 32 on the first {counts[0]} reviews in Python and in one Chromium page, Chromium's probabilities "
              "against Python's on the same bundle (tolerance: the bundle's golden atol for int8, 1e-4 for fp32):", ""]
    lines += forms_table(form_rows, form_rows[0]["python_ms"])
    lines += ["", f"Where the time goes: each runtime's own profiler on one batch of {counts[1]} reviews, the second of two runs, "
              "ms per op type (Python: the bundle's session options, 2 threads; Chromium: onnxruntime-web's profile, 2 threads):", ""]
    lines += profile_table(profiles)
    lines += ["", reading(rows, form_rows, profiles)]
    return "\n".join(lines)


def ratio(profile: tuple[dict, dict], op: str) -> float:
    python, chromium = profile
    return chromium["ops_ms"].get(op, float("nan")) / python["ops_ms"].get(op, float("nan"))


def gain(int8: tuple[dict, dict], fp32: tuple[dict, dict], runtime: int) -> float:
    """How much faster int8's matrix products are than fp32's in one runtime (0: Python, 1: Chromium)."""
    return fp32[runtime]["ops_ms"]["MatMul"] / int8[runtime]["ops_ms"]["MatMulIntegerToFloat"]


def reading(rows: list[dict], form_rows: list[dict], profiles: dict[str, tuple[dict, dict]]) -> str:
    python, node, chromium = rows
    int8, fp32 = form_rows[0], next(row for row in form_rows if row["manifest"]["model"]["precision"] == "fp32")
    fastest = min(form_rows, key=lambda row: row["chromium_ms"])
    int8_profile, fp32_profile = profiles.values()
    quantizers = int8["manifest"]["report"].get("graph", {}).get("ops", {}).get("QuantizeLinear", "?")
    norm = next((op for op in ("SkipLayerNormalization", "LayerNormalization") if op in int8_profile[0]["ops_ms"]), "LayerNormalization")
    beyond = ", ".join(f"{precision_name(row['manifest'])} {row['over']}" for row in form_rows)

    def goal(x: float, limit: float) -> str:
        return f"{x:.2f}x (goal: within {limit}x, {'met' if x <= limit else 'not met'})"

    return (
        f"Reading: Node takes {goal(node['batch32_ms'] / python['batch32_ms'], 1.5)} Python's time per review at batch 32, "
        f"Chromium {goal(chromium['batch32_ms'] / python['batch32_ms'], 3)}. By op type, Chromium's int8 matrix products "
        f"(MatMulIntegerToFloat) take {ratio(int8_profile, 'MatMulIntegerToFloat'):.1f}x Python's time and QAttention "
        f"{ratio(int8_profile, 'QAttention'):.1f}x, against {ratio(fp32_profile, 'MatMul'):.1f}x for fp32's MatMul; layer norms "
        f"({norm}) {ratio(int8_profile, norm):.1f}x. The products are where x86 onnxruntime has its widest instructions "
        f"({cpu_int8()}) and WASM SIMD is 128 bits wide: int8 makes them {gain(int8_profile, fp32_profile, 0):.1f}x faster than "
        f"fp32 in Python, {gain(int8_profile, fp32_profile, 1):.1f}x in Chromium. "
        f"{'No form reaches' if fastest['chromium_ms'] > 3 * int8['python_ms'] else 'A form reaches'} 3x Python's int8: the fastest "
        f"in Chromium, {form_name(fastest['manifest'])}, takes {fastest['chromium_ms'] / int8['python_ms']:.2f}x; fp32 takes "
        f"{fp32['chromium_ms'] / fp32['python_ms']:.2f}x Python's time on its own bundle but "
        f"{fp32['chromium_ms'] / int8['python_ms']:.2f}x Python's int8. Chromium's fp32 probabilities are within "
        f"{fp32['max_diff']:.0e} of Python's: the WASM float kernels (softmax, GELU, layer norm, sums) differ from x86's in the "
        f"last bits only; in an int8 graph each QuantizeLinear ({quantizers} here) rounds such a changed activation to another "
        f"integer now and then, which moves a borderline review by up to {int8['max_diff']:.1e} here. Reviews of the "
        f"{int8['n']:,} beyond the tolerance: {beyond}; labels agree on {min(row['agreement'] for row in form_rows):.1f}% or more "
        "in every form. How far int8 drifts depends on the model: the browser parity test holds the JS tests' int8 MiniLM to its "
        "golden atol on 2,000 reviews. Where probabilities must match Python's within 1e-4 in a browser, serve the fp32 bundle."
    )


def cpu_int8() -> str:
    """The x86 8-bit dot-product instructions this CPU has, as /proc/cpuinfo names them."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "CPU flags unknown"
    found = [name for name in ("avx512_vnni", "avx_vnni", "avx2") if name in flags]
    return f"{', '.join(found) or 'no AVX2'} on this machine"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT, help="the bundle's checkpoint, for the other forms")
    parser.add_argument("--texts", type=int, default=256, help="held-out reviews timed at batch 32")
    parser.add_argument("--single", type=int, default=50, help="of them, timed one at a time for the batch-1 p50")
    parser.add_argument("--form-texts", type=int, default=128,
                        help="of them, run in Python and Chromium with each form of the bundle (the bundle forms table)")
    parser.add_argument("--profile-texts", type=int, default=32, help="of them, the one batch profiled per op type")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing docs/BENCHMARKS.md")
    args = parser.parse_args()
    if not (args.bundle / "manifest.json").is_file():
        sys.exit(f"error: {args.bundle}: no bundle; run python edge_runtime_js/test/make_fixtures.py --imdb or pass --bundle")
    pool = [str(t) for t in heldout(max(args.texts, args.form_texts, args.profile_texts))["text"]]
    texts = pool[: args.texts]
    forms = [args.bundle, *ensure_forms(args.checkpoint)]
    with tempfile.TemporaryDirectory() as tmp:
        texts_file, form_file, profile_file = (Path(tmp) / f"{name}.json" for name in ("texts", "forms", "profile"))
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        form_file.write_text(json.dumps(pool[: args.form_texts]), encoding="utf-8")
        profile_file.write_text(json.dumps(pool[: args.profile_texts]), encoding="utf-8")
        rows = [run_python(args.bundle, texts_file, args.single), run_js("node", args.bundle, texts_file, args.single),
                run_js("chromium", args.bundle, texts_file, args.single)]
        for row in rows:
            print(json.dumps({k: v for k, v in row.items() if k != "files"}), file=sys.stderr)
        form_rows = bundle_forms(forms, form_file)
        for row in form_rows:
            print(json.dumps({k: str(v) for k, v in row.items() if k != "manifest"}), file=sys.stderr)
        profiles = {form_name(row["manifest"]).split(",")[0]: op_profile(row["bundle"], profile_file)
                    for row in (form_rows[0], form_rows[-1])}
        print(json.dumps(profiles), file=sys.stderr)
    sizes = {
        "Python runtime deps installed (onnxruntime, tokenizers, numpy)": python_size("onnxruntime", "tokenizers", "numpy"),
        "Node runtime deps installed (onnxruntime-node and its dependencies; binaries for every platform)": npm_size("onnxruntime-node"),
        "browser runtime deps installed (onnxruntime-web and its dependencies)": npm_size("onnxruntime-web"),
    }
    body = report(args.bundle, len(texts), rows, sizes, browser_bytes(rows[2]["files"]), form_rows, profiles,
                  (args.form_texts, args.profile_texts), args.checkpoint)
    if args.no_write:
        print(body)
    else:
        write_section("js-runtime", body)
        print("wrote section js-runtime of docs/BENCHMARKS.md")


if __name__ == "__main__":
    main()

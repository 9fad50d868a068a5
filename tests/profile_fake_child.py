"""A stand-in for edge_runtime.profile.child: holds ``spec["mib"]`` MiB of touched memory, then reports."""

import json
import sys
from pathlib import Path

spec = json.loads(Path(sys.argv[2]).read_text())
block = bytearray(spec["mib"] * 2**20)
block[:: 4096] = b"x" * len(block[:: 4096])  # touch every page
print(json.dumps({"mode": sys.argv[1], "held": len(block)}))

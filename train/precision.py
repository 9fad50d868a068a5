"""Pick the compute precision: bf16 autocast where the CPU runs it natively, fp32 otherwise."""

from __future__ import annotations

import contextlib
from typing import Any

from mobilebert_edge.train.errors import ConfigError


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX-512 BF16 or AMX)."""
    import torch

    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(cpu, probe, None)
        if check is not None:
            try:
                if check():
                    return True
            except Exception:  # a probe missing from this build: ask the next one
                continue
    return False


def resolve_precision(requested: str) -> str:
    """``auto`` -> ``bf16`` if supported else ``fp32``; ``bf16`` on a CPU without it is an error."""
    if requested == "fp32":
        return "fp32"
    supported = cpu_has_bf16()
    if requested == "auto":
        return "bf16" if supported else "fp32"
    if requested == "bf16" and not supported:
        raise ConfigError(
            "this CPU has no native bf16 support",
            expected="a CPU with AVX-512 BF16 or AMX",
            found="neither",
            hint="use --precision fp32 or auto",
        )
    return requested


def autocast(precision: str) -> Any:
    """Context manager for forward passes under ``precision`` (``bf16`` or ``fp32``)."""
    import torch

    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()

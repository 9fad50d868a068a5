"""The readable table of a ``profile`` result (the dict ``measure.profile`` returns)."""

from __future__ import annotations

from typing import Any


def _mib(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f} MiB"


def format_table(result: dict[str, Any]) -> str:
    """Settings on top, then one row per measure: what, value, peak RSS of the process that measured it."""
    cold, latency, scoring, texts = result["cold_start"], result["latency"], result["scoring"], result["texts"]
    ms = latency["ms"]
    tokens = texts["tokens"]
    cap = f"<= {scoring['batch_size']} texts" + (
        f", <= {scoring['batch_tokens']} tokens" if scoring["batch_tokens"] else "")
    header = [
        f"bundle       {result['bundle']} ({result['precision'] or '?'}, {result['model_file']} "
        f"{result['model_mib']:.1f} MiB, max {result['max_length']} tokens)",
        f"machine      {result['cpu']}, {result['machine']}, {result['cores']} cores; "
        f"onnxruntime {result['onnxruntime']}, Python {result['python']}",
        f"threads      {result['threads']}",
        f"texts        {result['source']}: {texts['count']} texts, {tokens['min']}-{tokens['max']} tokens "
        f"(median {tokens['median']:g})",
    ]
    rows = [
        ("cold start: import + load + first prediction", f"{cold['seconds']:.2f} s (load {cold['load_seconds']:.2f} s)",
         _mib(cold["peak_rss_mib"])),
        (f"one text (batch 1, {latency['predictions']} runs): p50 / p95 / p99",
         f"{ms['p50']:.1f} / {ms['p95']:.1f} / {ms['p99']:.1f} ms", _mib(latency["peak_rss_mib"])),
        (f"scoring {scoring['texts']} texts ({cap} per call)", f"{scoring['ms_per_text']:.1f} ms/text",
         _mib(scoring["peak_rss_mib"])),
    ]
    width = max(len(row[0]) for row in rows)
    value_width = max(len(row[1]) for row in rows)
    table = [f"{'measure':<{width}}  {'value':>{value_width}}  peak RSS"]
    table += [f"{what:<{width}}  {value:>{value_width}}  {rss}" for what, value, rss in rows]
    notes = ["peak RSS: of the whole fresh process that made the measure (predicting one text: the cold-start one);",
             "timings under an emulator say nothing about a real device."]
    return "\n".join([*header, "", *table, "", *notes])

"""Helpers shared by the edge-runtime tests (test_runtime_*.py)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.bundle import MANIFEST

BLOCKED = ("torch", "transformers", "pandas", "optimum")


def varied_texts(n_random: int = 170, seed: int = 0) -> list[str]:
    """Hand-picked hard cases plus seeded random mixtures of them: >= 200 texts."""
    fixed = [
        "",
        " ",
        "   \t\n  ",
        "\n",
        "a",
        "A great film!",
        "This movie was TERRIBLE... absolutely terrible!!!",
        "I loved it.<br /><br />The acting was superb.<br />10/10",
        "<br/>",
        "Café crème brûlée, naïve façade, jalapeño, Ångström, Œuvre",
        "Ünïcödé àccénts everywhere: é è ê ë É",
        "I 😍 this film 🎬🍿 so much 👍🏽👨‍👩‍👧",
        "🙂",
        "日本語のテキストも大丈夫ですか？",
        "这部电影非常好看，我很喜欢。",
        "한국어 리뷰입니다. 정말 재미있어요!",
        "Mixed 中文 and English and 日本語 text",
        "Ελληνικά και русский текст",
        "عربي نص",
        "tab\tseparated\tvalues",
        "control\x00chars\x07here\x1b[0m",
        "zero\u200bwidth\u200cjoiner\u200d",
        "non\u00a0breaking\u2003spaces",
        "MiXeD CaSe WoRdS",
        "Numbers 1234567890 3.14159 1,000,000 -42 1e10",
        "!!!???...,,,;;;:::---___***",
        "((([[[{{{}}}]]])))",
        "https://example.com/path?query=1&b=2#frag",
        "email@example.com @user #hashtag",
        "don't can't won't it's they're",
        "unbelievably antidisestablishmentarianism supercalifragilisticexpialidocious",
        "word " * 300,
        "x" * 1000,
        "The end.\r\nWindows line\r\nbreaks",
        "soft\u00adhyphen and combining e\u0301 accent",
        "ﬁligature ＦＵＬＬＷＩＤＴＨ ①②③",
        "\u2028line separator\u2029paragraph separator",
    ]
    pieces = [t for t in fixed if t.strip()] + ["great", "awful", "movie", "<br />", "!", "?", "42", " "]
    rng = random.Random(seed)
    texts = list(dict.fromkeys(fixed))
    seen = set(texts)
    while len(texts) < len(fixed) + n_random:
        k = rng.choice([2, 3, 5, 20, 80])
        text = " ".join(rng.choice(pieces) for _ in range(k))
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def copy_bundle(bundle: Path, dest: Path) -> Path:
    """A writable copy of a (read-only, shared) bundle."""
    shutil.copytree(bundle, dest)
    return dest


def load_manifest(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))


def relabel(manifest: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    """``manifest`` with other label names, its golden probabilities (stored by name) renamed alike."""
    golden = manifest.get("golden")
    if golden:
        examples = [{**e, "probabilities": dict(zip(labels, e["probabilities"].values()))} for e in golden["examples"]]
        golden = {**golden, "examples": examples}
    return {**manifest, "labels": labels, **({"golden": golden} if golden else {})}


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Change one byte of a file (by default one in the middle)."""
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


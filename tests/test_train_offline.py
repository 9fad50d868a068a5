"""A hub model on a machine that cannot reach the hub: one clear line at once, or the cached copy, never retries."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from mobilebert_edge.cli import main
from mobilebert_edge.train.errors import ModelLoadError
from mobilebert_edge.train.model import hub_unreachable, load_model

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused at once
WHAT_TO_DO = ("; pass a local Hugging Face model folder with --model PATH, or run once with network access "
              "(the model is then cached)")


@pytest.fixture()
def no_hub(monkeypatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read from the environment at import
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def test_the_probe_names_the_endpoint_or_offline_mode(no_hub, monkeypatch) -> None:
    assert hub_unreachable().startswith("cannot connect to 127.0.0.1:9: ")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_unreachable() == "HF_HUB_OFFLINE is set: offline mode"


@pytest.mark.parametrize(
    ("env", "reason"),
    [({}, "cannot connect to 127.0.0.1:9: "), ({"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE is set: offline mode")],
)
def test_train_with_an_unreachable_hub_is_one_line(no_hub, monkeypatch, capsys, caplog, tmp_path: Path,
                                                   env: dict, reason: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"review {i},{i % 2}\n" for i in range(8)), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        code = main(["train", "--data", str(data), "--out", str(tmp_path / "out"), "--model", "example-org/not-cached"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "Retrying" not in err and not caplog.records
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert line.startswith("error: cannot download model 'example-org/not-cached': the Hugging Face hub is not "
                           f"reachable ({reason}")
    assert line.endswith(") and the model is not in the local cache" + WHAT_TO_DO)
    assert not (tmp_path / "out").exists()


def test_a_cached_model_loads_without_asking_the_hub(no_hub, monkeypatch, caplog, tmp_path: Path,
                                                     tiny_mobilebert_dir: Path) -> None:
    import huggingface_hub.constants
    import transformers.utils.hub

    cache = tmp_path / "hub"
    repo = cache / "models--example-org--tiny"
    shutil.copytree(tiny_mobilebert_dir, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(transformers.utils.hub, "TRANSFORMERS_CACHE", str(cache))
    with caplog.at_level(logging.WARNING):
        model, tokenizer = load_model("example-org/tiny", ["negative", "positive"])
    assert model.config.num_labels == 2 and tokenizer.is_fast
    assert not [r for r in caplog.records if r.name.startswith("huggingface_hub")]
    shutil.rmtree(cache)
    with pytest.raises(ModelLoadError, match="and the model is not in the local cache"):
        load_model("example-org/tiny", ["negative", "positive"])

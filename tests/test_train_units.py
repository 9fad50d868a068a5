"""Pure parts of training: config validation, presets, schedule, batch order, metrics."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mobilebert_edge.train.batches import batch_order, eval_order
from mobilebert_edge.train.config import TrainConfig, resolve_config
from mobilebert_edge.train.errors import ConfigError
from edge_runtime.evaluation.metrics import accuracy, macro_f1
from mobilebert_edge.train.presets import PRESETS
from mobilebert_edge.train.schedule import learning_rate, warmup_steps


# --- config and presets ---------------------------------------------------------------------------

def test_default_preset_is_fast_and_flags_override_it() -> None:
    config = resolve_config(None)
    assert config.preset == "fast"
    assert config.padding == "longest" and config.group_by_length and config.precision == "auto"
    assert (config.truncation, config.attention_dropout) == ("head_tail", 0.0)
    changed = resolve_config("fast", lr=1e-4, epochs=7, seed=None)
    assert (changed.lr, changed.epochs, changed.seed) == (1e-4, 7, 42)  # None = not given


def test_tutorial_preset_is_the_original_recipe() -> None:
    config = resolve_config("tutorial")
    assert (config.max_length, config.padding, config.truncation, config.batch_size) == (256, "max_length", "head", 8)
    assert (config.lr, config.schedule, config.warmup_ratio, config.epochs) == (2e-5, "constant", 0.0, 4)
    assert (config.precision, config.patience, config.restore_best, config.group_by_length) == ("fp32", 0, False, False)


def test_every_preset_builds_a_valid_config() -> None:
    for name in PRESETS:
        assert resolve_config(name).preset == name


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lr": 0.0}, "invalid lr (expected a learning rate in (0, 1), e.g. 2e-5, found 0.0)"),
        ({"epochs": 0}, "invalid epochs (expected an integer >= 1, found 0)"),
        ({"batch_size": 0}, "invalid batch_size (expected an integer >= 1, found 0)"),
        ({"val_fraction": 1.0}, "invalid val_fraction (expected a fraction strictly between 0 and 1, e.g. 0.2, found 1.0)"),
        ({"max_length": 4}, "invalid max_length (expected an integer in 8..8192, found 4)"),
        ({"truncation": "middle"}, "invalid truncation (expected head | tail | head_tail, found 'middle')"),
        ({"truncation": "head", "head_tokens": 10}, "invalid head_tokens (expected no value unless truncation is head_tail, found 10)"),
        ({"truncation": "head_tail", "head_tokens": 300}, "invalid head_tokens (expected an integer in 0..254, found 300)"),
        ({"warmup_ratio": 1.5}, "invalid warmup_ratio (expected a fraction in [0, 1), found 1.5)"),
        ({"patience": -1}, "invalid patience (expected an integer >= 0 (0 turns early stopping off), found -1)"),
        ({"threads": 0}, "invalid threads (expected an integer >= 1, found 0)"),
        ({"attention_dropout": 1.0},
         "invalid attention_dropout (expected a probability in [0, 1), or nothing for the model's own, found 1.0)"),
        ({"attention_dropout": True},
         "invalid attention_dropout (expected a probability in [0, 1), or nothing for the model's own, found True)"),
    ],
)
def test_config_errors_say_what_was_expected(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve_config("fast", **overrides)


def test_unknown_preset_is_an_error() -> None:
    with pytest.raises(ConfigError, match=re.escape("unknown preset (expected tutorial | fast | accurate, found 'best')")):
        resolve_config("best")


def test_config_round_trips_through_a_dict() -> None:
    config = resolve_config("accurate", seed=3, threads=2)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.differences(resolve_config("accurate", seed=3, threads=1)) == {}
    assert config.differences(resolve_config("accurate", seed=4)) == {"seed": (3, 4)}


# --- schedule ------------------------------------------------------------------------------------

def test_linear_schedule_warms_up_then_decays_to_zero() -> None:
    lrs = [learning_rate(s, base_lr=1.0, total_steps=10, warmup=2, schedule="linear") for s in range(10)]
    assert lrs[:3] == [0.5, 1.0, 1.0]
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:]))
    assert lrs[-1] == pytest.approx(1 / 8)
    assert learning_rate(10, base_lr=1.0, total_steps=10, warmup=2, schedule="linear") == 0.0


def test_constant_schedule_is_constant() -> None:
    assert {learning_rate(s, base_lr=2e-5, total_steps=400, warmup=0, schedule="constant") for s in range(400)} == {2e-5}


def test_warmup_steps_rounds_up() -> None:
    assert warmup_steps(100, 0.1) == 10
    assert warmup_steps(101, 0.1) == 11
    assert warmup_steps(100, 0.0) == 0


# --- batch order ---------------------------------------------------------------------------------

def test_batch_order_is_a_seeded_permutation() -> None:
    lengths = list(np.random.default_rng(0).integers(5, 300, size=1000))
    for grouped in (False, True):
        a = batch_order(lengths, 8, seed=1, epoch=1, group_by_length=grouped)
        assert sorted(i for batch in a for i in batch) == list(range(1000))
        assert a == batch_order(lengths, 8, seed=1, epoch=1, group_by_length=grouped)
        assert a != batch_order(lengths, 8, seed=1, epoch=2, group_by_length=grouped)
        assert a != batch_order(lengths, 8, seed=2, epoch=1, group_by_length=grouped)


def test_length_grouping_cuts_padding() -> None:
    lengths = np.random.default_rng(0).integers(5, 300, size=2000)

    def padded(batches: list[list[int]]) -> int:
        return sum(len(b) * int(lengths[b].max()) for b in batches)

    plain = padded(batch_order(lengths, 8, seed=0, epoch=1))
    grouped = padded(batch_order(lengths, 8, seed=0, epoch=1, group_by_length=True))
    assert grouped < 0.6 * plain


def test_eval_order_sorts_by_length() -> None:
    batches = eval_order([3, 9, 1, 7], 2)
    assert batches == [[1, 3], [0, 2]]


# --- metrics -------------------------------------------------------------------------------------

def test_accuracy_and_macro_f1() -> None:
    gold, predicted = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0]
    assert accuracy(predicted, gold) == 0.6
    # per-label F1: 0 -> 0.5, 1 -> 0.8, 2 -> 0.0
    assert macro_f1(predicted, gold, 3) == pytest.approx((0.5 + 0.8 + 0.0) / 3)

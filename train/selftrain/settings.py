"""What a self-training run does: the recipes `train --self-train-recipe` names, as one validated dataclass.

Everything else is fixed on evidence (docs/BENCHMARKS.md, sections self-training and
self-training-not-kept): three teachers label, the most confident 0.8 of the unlabelled texts are kept
in equal numbers per class, one fresh student round.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mobilebert_edge.train.errors import ConfigError


@dataclass(frozen=True)
class SelfTrainConfig:
    """How many teachers label, how many students are averaged, and how many tokens the teachers read."""

    teachers: int = 3  # round 1 labels with the mean probabilities of this many teachers (other seeds)
    students: int = 1  # from the same start with other seeds; the model is the mean of their weights
    label_length: int | None = None  # tokens the teachers read when they label; None: the run's max length

    def __post_init__(self) -> None:
        def fail(field: str, expected: str) -> None:
            raise ConfigError(f"invalid {field}", expected=expected, found=repr(getattr(self, field)))

        if isinstance(self.teachers, bool) or not isinstance(self.teachers, int) or not 1 <= self.teachers <= 10:
            fail("teachers", "an integer in 1..10")
        if isinstance(self.students, bool) or not isinstance(self.students, int) or not 1 <= self.students <= 10:
            fail("students", "an integer in 1..10")
        if self.label_length is not None and (isinstance(self.label_length, bool)
                                              or not isinstance(self.label_length, int)
                                              or not 8 <= self.label_length <= 8192):
            fail("label_length", "an integer in 8..8192, or nothing for the run's max length")

    @classmethod
    def recipe(cls, name: str) -> SelfTrainConfig:
        """The settings of a named recipe."""
        if name not in RECIPES:
            raise ConfigError("unknown self-training recipe", expected=" | ".join(RECIPES), found=repr(name))
        return RECIPES[name]

    def recipe_name(self) -> str | None:
        """The recipe these settings are, or None for settings no recipe names."""
        return next((name for name, settings in RECIPES.items() if settings == self), None)

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe_name(), **dataclasses.asdict(self)}


# standard: 20 minutes for 800 + 5,000 reviews on 2 cores; best: +0.63 point over five seeds, 3.5 times as long
RECIPES = {
    "standard": SelfTrainConfig(),
    "best": SelfTrainConfig(students=2, label_length=512),
}


def check_label_length(model: Any, length: int) -> None:
    """Raise ``ConfigError`` when the teachers would read more tokens than the model's positions cover."""
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and length > positions:
        raise ConfigError(f"the teachers would read {length} tokens of each unlabelled text, more than the model reads",
                          expected=f"at most {positions} tokens (its max_position_embeddings)", found=length,
                          hint="use --self-train-recipe standard with this model")

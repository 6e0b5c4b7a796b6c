"""The RM-agreement filter (paper 3.2.2, second stage): keep only pairs a reward model already orders
correctly, i.e. chosen scored strictly higher than rejected. Ties are dropped and counted apart.

Generic over pairs and scorers: any object with ``score_pairs(pairs) -> list[(chosen, rejected)]``
(e.g. `rewardkit.models.scoring.RewardModel`). The recipe chains it after a model trained on the other
sources (`rewardkit.curation.curate`), as Skywork did: "we included only those adversarial samples
that the previous version of the reward model had already classified correctly".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rewardkit.data.pairs import PreferencePair


class SupportsScorePairs(Protocol):
    """What the filter needs of a scorer, e.g. a `rewardkit.models.scoring.RewardModel`."""

    def score_pairs(self, pairs: Sequence[PreferencePair]) -> list[tuple[float, float]]: ...


LOWER = "chosen scored lower"
TIE = "chosen and rejected scored equal"


@dataclass
class RMAgreement:
    """A whole-pool Select step: one `score_pairs` call over the pool (the scorer batches and sorts by
    length itself). `scores` keeps (chosen, rejected) per input pair for inspection."""

    scorer: SupportsScorePairs
    name: str = "rm_agreement"
    scores: list[tuple[float, float]] = field(default_factory=list)

    def decide(self, pairs: list[PreferencePair]) -> Iterator[tuple[PreferencePair, bool, str | None]]:
        self.scores = list(self.scorer.score_pairs(pairs)) if pairs else []
        if len(self.scores) != len(pairs):
            raise RuntimeError(f"scorer returned {len(self.scores)} score pairs for {len(pairs)} pairs")
        for pair, (c, r) in zip(pairs, self.scores):
            yield pair, c > r, None if c > r else (TIE if c == r else LOWER)

"""The record of the multi-response benchmarks: one prompt with several candidate responses.

A pair has two responses; RewardBench 2 (one correct among four, or several correct in Ties), RM-Bench
(three correct and three incorrect styles) and best-of-N data (HelpSteer's rated responses, Magpie's five
with ArmoRM scores) have more. Readers in `rewardkit.data.sources` produce CandidateSets; evaluation
scores every response of a set as one conversation each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rewardkit.data.pairs import Message


@dataclass(slots=True)
class CandidateSet:
    prompt: list[Message]
    """Every turn before the candidate responses."""
    responses: list[str]
    """The candidate final assistant responses, in the benchmark's own order."""
    group: str
    """The subset (RewardBench 2), domain (RM-Bench) or dataset (best-of-N) the set reports under."""
    source: str
    """The dataset id the set came from (the hub id even when read locally)."""
    source_id: str
    """The dataset's own id for the row (RewardBench 2's `ref:N`/`tied:N`, RM-Bench's id), else its row number."""
    num_correct: int | None = None
    """RewardBench 2 and RM-Bench: the first num_correct responses are the correct ones, the rest incorrect."""
    ratings: list[float] | None = None
    """Best-of-N: one rating per response (HelpSteer helpfulness, ArmoRM score); higher is better."""
    meta: dict[str, Any] = field(default_factory=dict)

    def conversations(self) -> list[list[Message]]:
        """One conversation per response, in order."""
        return [[*self.prompt, {"role": "assistant", "content": r}] for r in self.responses]

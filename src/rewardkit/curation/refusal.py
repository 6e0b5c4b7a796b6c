"""Refusal/compliance pairs from moderation-style rows (WildGuardMix; XSTest has the same structure).

Report section 3.2.2: "For harmful prompts, we designate refusal responses as preferred and compliance
responses as rejected. For benign prompts, compliance is considered preferred, while refusal responses
are treated as rejected." Rows are grouped by prompt text; every (preferred, dispreferred) combination
is a candidate pair, at most `max_pairs_per_prompt` of them kept per prompt, in row order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice, product
from typing import Any

from rewardkit.data.pairs import PreferencePair


@dataclass(slots=True)
class RefusalRow:
    prompt: str
    response: str
    prompt_harmful: bool
    refusal: bool
    source: str
    source_id: str
    source_split: str = "train"
    adversarial: bool | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def make_refusal_pairs(
    rows: Iterable[RefusalRow], *, max_pairs_per_prompt: int | None = None
) -> Iterator[PreferencePair]:
    """Pairs per prompt: harmful -> refusal over compliance; unharmful -> compliance over refusal.

    Prompts are kept in first-seen order; within a prompt, candidates are taken in row order
    (preferred-major), so the output is deterministic for a given input order. None = all combinations.
    """
    groups: dict[str, list[RefusalRow]] = {}
    for row in rows:
        groups.setdefault(row.prompt, []).append(row)
    for prompt, group in groups.items():
        harmful = group[0].prompt_harmful
        if any(r.prompt_harmful != harmful for r in group):  # readers drop and count these first
            raise ValueError(f"rows {[r.source_id for r in group]} disagree on whether prompt {prompt[:60]!r} is harmful")
        preferred = [r for r in group if r.refusal == harmful]
        dispreferred = [r for r in group if r.refusal != harmful]
        candidates = ((c, r) for c, r in product(preferred, dispreferred) if c.response != r.response)
        for c, r in islice(candidates, max_pairs_per_prompt):
            yield PreferencePair(
                prompt=[{"role": "user", "content": prompt}],
                chosen=c.response,
                rejected=r.response,
                source=c.source,
                source_split=c.source_split,
                source_id=f"{c.source_id}|{r.source_id}",
                meta={
                    "prompt_harmful": harmful,
                    "adversarial": c.adversarial,
                    "chosen_refusal": c.refusal,
                    "rejected_refusal": r.refusal,
                    **{f"chosen_{k}": v for k, v in c.meta.items()},
                    **{f"rejected_{k}": v for k, v in r.meta.items()},
                },
            )


class AdversarialOnly:
    """Keep pairs whose prompt is adversarial (report 3.2.2, first stage: the RM already favoured the
    preferred response on non-adversarial WildGuardMix pairs, so those add little)."""

    name = "adversarial_only"

    def keep(self, pair: PreferencePair) -> tuple[bool, str]:
        adversarial = pair.meta.get("adversarial")
        if adversarial is None:
            return False, "no adversarial label"
        return (True, "") if adversarial else (False, "not adversarial")

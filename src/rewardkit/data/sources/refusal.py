"""Refusal/compliance pairs from moderation-style rows (WildGuardMix; XSTest has the same structure).

The pairing rule belongs to the readers that use it (wildguardmix, xstest); curation's WildGuard steps
import it from here.

Paper section 3.2.2: "For harmful prompts, we designate refusal responses as preferred and compliance
responses as rejected. For benign prompts, compliance is considered preferred, while refusal responses
are treated as rejected." Rows are grouped by prompt text; every (preferred, dispreferred) combination
is a candidate pair, at most `max_pairs_per_prompt` of them kept per prompt, in row order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice, product
from typing import TYPE_CHECKING, Any

from rewardkit.data.pairs import PreferencePair

if TYPE_CHECKING:
    from rewardkit.data.sources.base import ReadContext


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


def refusal_pairs(rows: Iterator[RefusalRow], ctx: ReadContext, cap: int | None) -> Iterator[PreferencePair]:
    """make_refusal_pairs, with the rows it cannot pair counted: a prompt whose responses are all
    refusals (or all compliances) has nothing to prefer, and a prompt whose rows disagree on whether
    it is harmful has no direction of preference."""
    rows = list(rows)
    kinds: dict[str, set[bool]] = {}
    harm: dict[str, set[bool]] = {}
    for r in rows:
        kinds.setdefault(r.prompt, set()).add(r.refusal)
        harm.setdefault(r.prompt, set()).add(r.prompt_harmful)
    conflicting = [r for r in rows if len(harm[r.prompt]) > 1]
    if conflicting:
        ctx.drop("conflicting prompt harm labels", len(conflicting))
        rows = [r for r in rows if len(harm[r.prompt]) == 1]
    unpaired = sum(1 for r in rows if len(kinds[r.prompt]) < 2)
    if unpaired:
        ctx.drop("no opposite response for prompt", unpaired)
    yield from make_refusal_pairs(rows, max_pairs_per_prompt=cap)

"""Magpie selection (paper section 3.2.1): rank the combined Magpie pool per task-category group.

The rules, each configurable and each stated here once:

- **Score** of a pair = (score_chosen + score_rejected) / 2 - offset[pair.source], the ArmoRM scores the
  datasets ship. Default offsets: Air 0.1, Pro (Llama 3) 0.05, others 0 ("we manually adjusted the
  scores by subtracting 0.1 from all Air scores and 0.05 from all Pro (Llama 3) scores"). Scores are
  compared after rounding to 12 decimals, so decimal arithmetic ties as written (0.20 - 0.05 ties 0.15;
  in raw float64 it is 1 ulp above).
- **Groups**: a task category named in `fractions` is its own group; every other category, including a
  missing one (None), is merged into `other_group` ("consolidating all other categories into a single
  group").
- **Kept per group** = floor(fraction x n), computed exactly on the fraction as written in decimal
  (0.29 x 100 keeps 29, where float64 gives 28.999...). Groups are ranked independently.
- **Ties**: pairs are ranked by score descending, then by `pair.id` (content hash) ascending, so the
  same pool gives the same selection whatever its input order.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from rewardkit.data.pairs import PreferencePair

MAGPIE_ULTRA = "argilla/magpie-ultra-v0.1"
MAGPIE_PRO_LLAMA31 = "Magpie-Align/Magpie-Llama-3.1-Pro-DPO-100K-v0.1"
MAGPIE_PRO = "Magpie-Align/Magpie-Pro-DPO-100K-v0.1"
MAGPIE_AIR = "Magpie-Align/Magpie-Air-DPO-100K-v0.1"
MAGPIE_SOURCES = (MAGPIE_ULTRA, MAGPIE_PRO_LLAMA31, MAGPIE_PRO, MAGPIE_AIR)

DEFAULT_OFFSETS = {MAGPIE_AIR: 0.1, MAGPIE_PRO: 0.05}
DEFAULT_FRACTIONS = {"Math": 0.3, "Coding & Debugging": 0.3, "Other": 0.1}
OTHER = "Other"
SCORE_DECIMALS = 12
FIG3 = "fig3_magpie_scores.png"
"""Fig 3 (score distributions before/after the offsets): curation writes it, the run report reads it."""


def raw_score(pair: PreferencePair) -> float:
    """The mean ArmoRM score of the pair's two responses, as the dataset ships them."""
    try:
        return (float(pair.meta["score_chosen"]) + float(pair.meta["score_rejected"])) / 2
    except (KeyError, TypeError) as e:
        raise ValueError(
            f"{pair.source} row {pair.source_id}: a Magpie pair needs meta score_chosen and score_rejected "
            f"(numbers); got {e}"
        ) from None


def kept_count(fraction: float, n: int) -> int:
    """floor(fraction x n), exact on the decimal fraction as written (0.29 x 100 = 29)."""
    return math.floor(Fraction(repr(fraction)) * n)


@dataclass
class GroupSummary:
    group: str
    fraction: float
    pool: int = 0
    kept: int = 0
    threshold: float | None = None
    """The lowest score kept (None when nothing is kept)."""

    def as_dict(self) -> dict:
        return {"group": self.group, "fraction": self.fraction, "pool": self.pool, "kept": self.kept,
                "threshold": self.threshold}


@dataclass
class MagpieSelect:
    """A whole-pool Select step (see curation.steps); after it runs, `groups` holds the per-group pool,
    kept count and score threshold, and `categories` the pool/kept counts per raw task category."""

    offsets: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_OFFSETS))
    """Subtracted from a pair's mean score, by pair.source (the hub id); sources not named: 0."""
    fractions: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FRACTIONS))
    """Share of each group kept; the keys are the groups."""
    other_group: str = OTHER
    """The group every category not named in `fractions` (and None) falls into."""
    name: str = "magpie_select"
    groups: dict[str, GroupSummary] = field(default_factory=dict)
    categories: dict[str, Counter] = field(default_factory=dict)
    scores: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    """Per source: (mean scores before the offset, scores after it), for Fig 3."""

    def __post_init__(self) -> None:
        if self.other_group not in self.fractions:
            raise ValueError(f"fractions must name the merged group {self.other_group!r}; got {sorted(self.fractions)}")
        for g, f in self.fractions.items():
            if not 0 <= f <= 1:
                raise ValueError(f"fraction for {g!r} must be within [0, 1], got {f}")

    def score(self, pair: PreferencePair) -> float:
        return self._adjust(pair, raw_score(pair))

    def _adjust(self, pair: PreferencePair, raw: float) -> float:
        return round(raw - self.offsets.get(pair.source, 0.0), SCORE_DECIMALS)

    def group(self, pair: PreferencePair) -> str:
        return self.group_of(pair.meta.get("task_category"))

    def group_of(self, category: str | None) -> str:
        """A category with its own fraction is its own group; every other one (and None) is merged."""
        return category if category in self.fractions and category != self.other_group else self.other_group

    def decide(self, pairs: list[PreferencePair]) -> Iterator[tuple[PreferencePair, bool, str | None]]:
        keep = self.select_indices(pairs)
        for i, pair in enumerate(pairs):
            group = self.group(pair)
            yield pair, i in keep, None if i in keep else f"not in top {self.fractions[group]:.0%} of {group}"

    def select_indices(self, pairs: list[PreferencePair]) -> set[int]:
        """Indices of the kept pairs; fills `groups` and `categories`."""
        ranked: dict[str, list[tuple[float, int]]] = {g: [] for g in self.fractions}
        self.scores = {}
        for i, pair in enumerate(pairs):
            raw = raw_score(pair)
            score = self._adjust(pair, raw)
            before, after = self.scores.setdefault(pair.source, ([], []))
            before.append(raw)
            after.append(score)
            ranked[self.group(pair)].append((score, i))
        _check_groups_seen(self.fractions, self.other_group, ranked, pairs)
        keep: set[int] = set()
        self.groups = {}
        for group, items in ranked.items():
            n_keep = kept_count(self.fractions[group], len(items))
            kept_idx = top_k(items, n_keep, lambda i: pairs[i].id)
            keep.update(kept_idx)
            threshold = min(score for score, i in items if i in kept_idx) if kept_idx else None
            self.groups[group] = GroupSummary(group, self.fractions[group], len(items), n_keep, threshold)
        self.categories = category_counts(pairs, keep)
        return keep


def _check_groups_seen(fractions: dict[str, float], other: str, ranked: dict[str, list], pairs) -> None:
    """A fraction key that names no category in the pool is a typo, not a choice: "Coding and Debugging"
    for "Coding & Debugging" would silently move that category into `other`."""
    unmatched = [g for g in fractions if g != other and not ranked[g]]
    if unmatched and pairs:
        seen = sorted({str(p.meta.get("task_category")) for p in pairs if p.meta.get("task_category")})
        raise ValueError(f"magpie.fractions: group(s) {unmatched} match no task_category in the pool of "
                         f"{len(pairs)} pairs; categories seen: {seen}")


def top_k(items: list[tuple[float, int]], k: int, tiebreak) -> set[int]:
    """The indices of the k best (score, index) items, ranked by score descending, then tiebreak(index)
    ascending. Only the items tied at the threshold need their tiebreak key (a content hash), which
    keeps ranking a 344K pool fast."""
    if k <= 0:
        return set()
    if k >= len(items):
        return {i for _, i in items}
    by_score = sorted(items, key=lambda t: -t[0])
    threshold = by_score[k - 1][0]
    above = {i for s, i in by_score if s > threshold}
    tied = sorted((i for s, i in by_score if s == threshold), key=tiebreak)
    return above | set(tied[: k - len(above)])


def category_counts(pairs: Iterable[PreferencePair], keep: set[int]) -> dict[str, Counter]:
    """Per raw task category (None as "(none)"): {"pool": n, "kept": k}."""
    out: dict[str, Counter] = {}
    for i, pair in enumerate(pairs):
        c = out.setdefault(str(pair.meta.get("task_category") or "(none)"), Counter())
        c["pool"] += 1
        c["kept"] += i in keep
    return out

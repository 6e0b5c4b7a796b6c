"""allenai/reward-bench: prompt (a string), chosen, chosen_model, rejected, rejected_model, subset, id.

Splits `filtered` (2,985 rows, the leaderboard's; default) and `raw` (5,123), chosen by `?split=`.
Every pair keeps meta["subset"] (the exact strings of docs/schemas.md §7) and source_id = str(id),
which the evaluator and decontamination need.
"""

from __future__ import annotations

from typing import Literal

from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import Reader, Row, Source
from rewardkit.data.sources.options import SourceOptions

HUB_ID = "allenai/reward-bench"


class Options(SourceOptions):
    split: Literal["filtered", "raw"] | None = None
    """filtered (the leaderboard's 2,985 rows, default) or raw (5,123)."""


def to_pair(row: Row, src: Source) -> PreferencePair:
    models = {k: row.optional(k, str) for k in ("chosen_model", "rejected_model")}
    return src.pair(
        row, prompt=[{"role": "user", "content": row.field("prompt", str)}], chosen=row.field("chosen", str),
        rejected=row.field("rejected", str), source_id=str(row.field("id", (int, str))),
        meta={"subset": row.field("subset", str, nonempty=True), **models},
    )


READER = Reader(name="rewardbench", hub_id=HUB_ID, to_pair=to_pair, options=Options, default_split="filtered",
                description="allenai/reward-bench (?split=filtered|raw): keeps subset and id")

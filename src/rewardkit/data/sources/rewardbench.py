"""allenai/reward-bench: prompt (a string), chosen, chosen_model, rejected, rejected_model, subset, id.

Splits `filtered` (2,985 rows, the leaderboard's; default) and `raw` (5,123), chosen by `?split=`.
Every pair keeps meta["subset"] (the exact strings of docs/schemas.md §7) and source_id = str(id),
which the evaluator and decontamination need.
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.data.io import BadRow
from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Spec, checked_pair, get_field, iter_source_rows, split_of

HUB_ID = "allenai/reward-bench"
SPLITS = ("filtered", "raw")


def read(spec: Spec, ctx: ReadContext) -> Iterator[PreferencePair]:
    split = split_of(spec, READER)
    if split not in SPLITS:
        raise ValueError(f"{spec}: split must be one of {SPLITS}, not {split!r}")
    for file, rownum, row in iter_source_rows(spec, READER, ctx):
        try:
            prompt = get_field(row, "prompt", str, file, rownum, nonempty=True)
            chosen = get_field(row, "chosen", str, file, rownum)
            rejected = get_field(row, "rejected", str, file, rownum)
            subset = get_field(row, "subset", str, file, rownum, nonempty=True)
            rid = get_field(row, "id", (int, str), file, rownum)
            models = {}
            for k in ("chosen_model", "rejected_model"):
                v = row.get(k)
                if v is not None and not isinstance(v, str):
                    raise BadRow(file, rownum, k, f"wrong type (expected str, got {type(v).__name__})")
                models[k] = v
            yield checked_pair(PreferencePair(
                prompt=[{"role": "user", "content": prompt}], chosen=chosen, rejected=rejected,
                source=HUB_ID, source_split=split, source_id=str(rid), meta={"subset": subset, **models},
            ), file, rownum)
        except BadRow as e:
            ctx.bad(e, row)


READER = Reader(name="rewardbench", hub_id=HUB_ID, read=read, default_split="filtered",
                description="allenai/reward-bench (?split=filtered|raw): keeps subset and id")

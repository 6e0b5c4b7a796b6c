"""Skywork/Skywork-Reward-Preference-80K v0.1 / v0.2: `chosen` and `rejected` full conversations
(lists of {role, content}) plus the `source` string (docs/schemas.md §6).

Multi-turn rows: the prompt is every turn but the last; the last must be an assistant turn in both and
the prompt turns identical, else the row is bad. The `source` column is kept as meta["skywork_source"];
the pair's own `source` is the hub id (`?version=v0.1` (default) or `v0.2`).
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.data.io import BadRow
from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Spec, checked_pair, get_field, iter_source_rows, split_of
from rewardkit.data.sources.conversation import split_conversations

HUB_IDS = {"v0.1": "Skywork/Skywork-Reward-Preference-80K-v0.1",
           "v0.2": "Skywork/Skywork-Reward-Preference-80K-v0.2"}


def read(spec: Spec, ctx: ReadContext) -> Iterator[PreferencePair]:
    version = spec.options.get("version", "v0.1")
    if version not in HUB_IDS:
        raise ValueError(f"{spec}: version must be one of {sorted(HUB_IDS)}, not {version!r}")
    hub_id = HUB_IDS[version]
    reader = READER if version == "v0.1" else V02
    split = split_of(spec, reader)
    for file, rownum, row in iter_source_rows(spec, reader, ctx):
        try:
            get_field(row, "chosen", list, file, rownum)
            get_field(row, "rejected", list, file, rownum)
            origin = row.get("source")
            if origin is not None and not isinstance(origin, str):
                raise BadRow(file, rownum, "source", f"wrong type (expected str, got {type(origin).__name__})")
            prompt, chosen, rejected = split_conversations(row["chosen"], row["rejected"], file, rownum)
            yield checked_pair(PreferencePair(
                prompt=prompt, chosen=chosen, rejected=rejected, source=hub_id, source_split=split,
                source_id=str(rownum), meta={"skywork_source": origin},
            ), file, rownum)
        except BadRow as e:
            ctx.bad(e, row)


READER = Reader(name="skywork", hub_id=HUB_IDS["v0.1"], read=read,
                description="Skywork-Reward-Preference-80K (?version=v0.1|v0.2): chosen/rejected conversations")
V02 = Reader(name="skywork", hub_id=HUB_IDS["v0.2"], read=read, description=READER.description)

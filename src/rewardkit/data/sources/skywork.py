"""Skywork/Skywork-Reward-Preference-80K v0.1 / v0.2: `chosen` and `rejected` full conversations
(lists of {role, content}) plus the `source` string (docs/schemas.md §6).

Multi-turn rows: the prompt is every turn but the last; the last must be an assistant turn in both and
the prompt turns identical, else the row is bad. The `source` column is kept as meta["skywork_source"];
the pair's own `source` is the hub id (`?version=v0.1` (default) or `v0.2`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Row, Source
from rewardkit.data.sources.conversation import split_conversations
from rewardkit.data.sources.options import SourceOptions
from rewardkit.data.sources.runner import map_rows

HUB_IDS = {"v0.1": "Skywork/Skywork-Reward-Preference-80K-v0.1",
           "v0.2": "Skywork/Skywork-Reward-Preference-80K-v0.2"}


class Options(SourceOptions):
    version: Literal["v0.1", "v0.2"] = "v0.1"
    """Which release: the hub id read when LOCATION is empty, and every pair's `source`."""


def to_pair(row: Row, src: Source) -> PreferencePair:
    origin = row.optional("source", str)
    prompt, chosen, rejected = split_conversations(row)
    return src.pair(row, prompt=prompt, chosen=chosen, rejected=rejected, source=HUB_IDS[src.options.version],
                    meta={"skywork_source": origin})


def read(src: Source, ctx: ReadContext) -> Iterator[PreferencePair]:
    # v0.2 is the same reader with another hub id (what an empty LOCATION reads).
    reader = READER if src.options.version == "v0.1" else V02
    return map_rows(Source(src.spec, reader, src.options), ctx)


V02 = Reader(name="skywork", hub_id=HUB_IDS["v0.2"], to_pair=to_pair, options=Options,
             description="Skywork-Reward-Preference-80K v0.2")
READER = Reader(name="skywork", hub_id=HUB_IDS["v0.1"], to_pair=to_pair, read=read, options=Options,
                description="Skywork-Reward-Preference-80K (?version=v0.1|v0.2): chosen/rejected conversations")

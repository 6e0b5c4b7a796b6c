"""rewardkit's own pair files (io.write_pairs: jsonl or parquet) read back, with bad-row handling.

Each row must decode to a PreferencePair whose stored `id` matches its content hash; the pairs keep
their original `source`, so provenance survives any number of convert/curate round trips.
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.data.conversation import why_malformed
from rewardkit.data.pairs import IdMismatch, PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Row, Source
from rewardkit.data.sources.runner import map_rows


def to_pair(row: Row, src: Source) -> PreferencePair:
    for k in ("chosen", "rejected", "source"):
        row.field(k, str)
    problem = why_malformed(row.field("prompt", list))
    if problem is not None:
        raise row.bad("prompt", f"bad message list ({problem})")
    try:
        return PreferencePair.from_dict(row.data)
    except IdMismatch as e:
        raise row.bad("id", str(e)) from None
    except (ValueError, TypeError, KeyError) as e:  # undecodable meta
        raise row.bad("meta", str(e)) from None


def read(src: Source, ctx: ReadContext) -> Iterator[PreferencePair]:
    if not src.spec.location:
        raise ValueError(f"{src.spec}: the pairs reader needs a file written by rewardkit")
    return map_rows(src, ctx)


READER = Reader(name="pairs", hub_id="", to_pair=to_pair, read=read,
                description="rewardkit's own jsonl/parquet pair files")

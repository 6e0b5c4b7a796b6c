"""rewardkit's own pair files (io.write_pairs: jsonl or parquet) read back, with bad-row handling.

Each row must decode to a PreferencePair whose stored `id` matches its content hash; the pairs keep
their original `source`, so provenance survives any number of convert/curate round trips.
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.data.io import BadRow
from rewardkit.data.pairs import PreferencePair, validate_messages
from rewardkit.data.sources.base import ReadContext, Reader, Spec, checked_pair, get_field, iter_source_rows


def read(spec: Spec, ctx: ReadContext) -> Iterator[PreferencePair]:
    if not spec.location:
        raise ValueError(f"{spec}: the pairs reader needs a file written by rewardkit")
    for file, rownum, row in iter_source_rows(spec, READER, ctx):
        try:
            for k in ("chosen", "rejected", "source"):
                get_field(row, k, str, file, rownum)
            why = validate_messages(get_field(row, "prompt", list, file, rownum))
            if why:
                raise BadRow(file, rownum, "prompt", f"bad message list ({why})")
            try:
                pair = PreferencePair.from_dict(row)
            except (ValueError, TypeError, KeyError) as e:  # id mismatch, undecodable meta
                raise BadRow(file, rownum, "id" if "content hash" in str(e) else "meta", str(e)) from None
            yield checked_pair(pair, file, rownum)
        except BadRow as e:
            ctx.bad(e, row)


READER = Reader(name="pairs", hub_id="", read=read, description="rewardkit's own jsonl/parquet pair files")

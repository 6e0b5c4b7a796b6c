"""NCSOFT/offsetbias: instruction, output_1, output_2, label (1 or 2 = the better output).

chosen = output_{label}, rejected = the other (docs/schemas.md §2). Any other label is a bad row.
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.data.io import BadRow
from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Spec, checked_pair, get_field, iter_source_rows, split_of

HUB_ID = "NCSOFT/offsetbias"


def read(spec: Spec, ctx: ReadContext) -> Iterator[PreferencePair]:
    split = split_of(spec, READER)
    for file, rownum, row in iter_source_rows(spec, READER, ctx):
        try:
            instruction = get_field(row, "instruction", str, file, rownum, nonempty=True)
            outputs = {k: get_field(row, f"output_{k}", str, file, rownum) for k in (1, 2)}
            label = get_field(row, "label", int, file, rownum)
            if label not in (1, 2):
                raise BadRow(file, rownum, "label", f"unknown label (expected 1 or 2, got {label!r})")
            yield checked_pair(PreferencePair(
                prompt=[{"role": "user", "content": instruction}],
                chosen=outputs[label],
                rejected=outputs[3 - label],
                source=HUB_ID,
                source_split=split,
                source_id=str(rownum),
                meta={"label": label},
            ), file, rownum)
        except BadRow as e:
            ctx.bad(e, row)


READER = Reader(name="offsetbias", hub_id=HUB_ID, read=read,
                description="NCSOFT/offsetbias: chosen = output_{label}, label in {1, 2}")

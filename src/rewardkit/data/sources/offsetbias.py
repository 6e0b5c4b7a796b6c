"""NCSOFT/offsetbias: instruction, output_1, output_2, label (1 or 2 = the better output).

chosen = output_{label}, rejected = the other (docs/schemas.md §2). Any other label is a bad row.
"""

from __future__ import annotations

from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import Reader, Row, Source

HUB_ID = "NCSOFT/offsetbias"


def to_pair(row: Row, src: Source) -> PreferencePair:
    instruction = row.field("instruction", str)
    outputs = {k: row.field(f"output_{k}", str) for k in (1, 2)}
    label = row.label("label", {1: 1, 2: 2})
    return src.pair(row, prompt=[{"role": "user", "content": instruction}], chosen=outputs[label],
                    rejected=outputs[3 - label], meta={"label": label})


READER = Reader(name="offsetbias", hub_id=HUB_ID, to_pair=to_pair,
                description="NCSOFT/offsetbias: chosen = output_{label}, label in {1, 2}")

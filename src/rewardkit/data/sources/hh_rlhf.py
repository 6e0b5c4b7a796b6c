"""Anthropic/hh-rlhf: `chosen` and `rejected` are whole transcripts
"\\n\\nHuman: ...\\n\\nAssistant: ...\\n\\nHuman: ...\\n\\nAssistant: ..." that share every turn but the
last assistant one.

Each transcript is parsed into user/assistant messages; the pair's prompt is the turns the two share,
and each must then have exactly one more turn, an assistant turn. A transcript that does not start
with a Human turn is not HH data: a broken row. The public data's own irregularities are dropped by rule,
counted by name: two turns of one role in a row, transcripts that diverge before the final turn, and
(as for every reader, `checked_pair`) empty turns, empty replies and identical chosen/rejected. The subset
(harmless-base, helpful-base, ...) is the source_config, taken from the folder name (`?data_dir=` on
the hub).
"""

from __future__ import annotations

import re
from pathlib import Path

from rewardkit.data.conversation import why_out_of_order
from rewardkit.data.pairs import Message, PreferencePair
from rewardkit.data.sources.base import Reader, Row, Source

HUB_ID = "Anthropic/hh-rlhf"
_TURN = re.compile(r"\n\n(Human|Assistant): ?")
_ROLES = {"Human": "user", "Assistant": "assistant"}
DIVERGED = "transcripts differ before the final turn"


def parse_transcript(text: str) -> list[Message]:
    """Transcript -> messages, in the order written. Raises ValueError if it is not a transcript."""
    parts = _TURN.split(text)
    if parts[0].strip() or len(parts) < 3:
        raise ValueError("not a transcript (does not start with '\\n\\nHuman: ')")
    return [{"role": _ROLES[parts[i]], "content": parts[i + 1]} for i in range(1, len(parts), 2)]


def split_transcripts(chosen: list[Message], rejected: list[Message]) -> tuple[list[Message], str, str] | None:
    """(prompt, chosen, rejected): the common prefix of turns is the prompt, and each side adds exactly
    one assistant turn. None when they diverge earlier."""
    n = 0
    while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
        n += 1
    if n == len(chosen) == len(rejected):  # identical transcripts: checked_pair names the tie
        n -= 1
    if any(len(msgs) != n + 1 or msgs[-1]["role"] != "assistant" for msgs in (chosen, rejected)):
        return None
    return chosen[:n], chosen[-1]["content"], rejected[-1]["content"]


def _split_of(file: str) -> str:
    """Local files are named by split (harmless-base/test.jsonl.gz); hub rows are labelled 'hub[split]'."""
    name = Path(file).name
    for split in ("train", "test"):
        if name.startswith(split) or name.endswith(f"[{split}]"):
            return split
    return READER.default_split


def to_pair(row: Row, src: Source) -> PreferencePair:
    turns = {}
    for side in ("chosen", "rejected"):
        try:
            turns[side] = parse_transcript(row.field(side, str))
        except ValueError as e:
            raise row.bad(side, str(e)) from None
    for side, messages in turns.items():
        # The order only: empty turns are left to checked_pair, which names them (prompt, chosen, rejected).
        problem = why_out_of_order([m["role"] for m in messages])
        if problem is not None:
            raise row.drop(f"{side}: {problem.rule}", str(problem), field=side)
    split = split_transcripts(turns["chosen"], turns["rejected"])
    if split is None:
        raise row.drop(DIVERGED)
    prompt, chosen, rejected = split
    return src.pair(row, prompt=prompt, chosen=chosen, rejected=rejected,
                    source_config=src.options.data_dir or Path(row.file).parent.name,
                    source_split=src.options.split or _split_of(row.file))


READER = Reader(name="hh_rlhf", hub_id=HUB_ID, to_pair=to_pair,
                description="Anthropic/hh-rlhf transcripts -> multi-turn prompt + final assistant turns")

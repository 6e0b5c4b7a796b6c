"""Anthropic/hh-rlhf: `chosen` and `rejected` are whole transcripts
"\\n\\nHuman: ...\\n\\nAssistant: ...\\n\\nHuman: ...\\n\\nAssistant: ..." that share every turn but the
last assistant one.

Each transcript is parsed into alternating user/assistant messages; the pair's prompt is the turns the
two share, and each must then have exactly one more turn, an assistant turn. Anything else (no leading
Human turn, two turns of one role in a row, transcripts that diverge earlier) is a bad row. The subset
(harmless-base, helpful-base, ...) is the source_config, taken from the folder name (`?data_dir=` on
the hub).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from rewardkit.data.io import BadRow
from rewardkit.data.pairs import Message, PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Spec, checked_pair, get_field, iter_source_rows

HUB_ID = "Anthropic/hh-rlhf"
_TURN = re.compile(r"\n\n(Human|Assistant): ?")
_ROLES = {"Human": "user", "Assistant": "assistant"}


def parse_transcript(text: str) -> list[Message]:
    """Transcript -> messages. Raises ValueError naming what is wrong with it."""
    parts = _TURN.split(text)
    if parts[0].strip() or len(parts) < 3:
        raise ValueError("malformed transcript (does not start with '\\n\\nHuman: ')")
    messages = [{"role": _ROLES[parts[i]], "content": parts[i + 1]} for i in range(1, len(parts), 2)]
    for i, m in enumerate(messages):
        expected = "user" if i % 2 == 0 else "assistant"
        if m["role"] != expected:
            raise ValueError(f"malformed transcript (turn {i + 1} is {m['role']}, expected {expected}: turns must alternate)")
    return messages


def split_transcripts(chosen: list[Message], rejected: list[Message]) -> tuple[list[Message], str, str]:
    """The common prefix of turns is the prompt; each side must add exactly one assistant turn."""
    n = 0
    while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
        n += 1
    # Identical final turns leave n == len; step back so chosen == rejected is reported as such.
    if n == len(chosen) == len(rejected):
        n -= 1
    for msgs, name in ((chosen, "chosen"), (rejected, "rejected")):
        if len(msgs) != n + 1 or msgs[-1]["role"] != "assistant":
            raise ValueError(f"{name}: malformed transcript (must differ from the other only in its final "
                             f"Assistant turn; shares {n} of {len(msgs)} turns)")
    return chosen[:n], chosen[-1]["content"], rejected[-1]["content"]


def _split_of(file: str) -> str:
    """Local files are named by split (harmless-base/test.jsonl.gz); hub rows are labelled 'hub[split]'."""
    name = Path(file).name
    for split in ("train", "test"):
        if name.startswith(split) or name.endswith(f"[{split}]"):
            return split
    return READER.default_split


def read(spec: Spec, ctx: ReadContext) -> Iterator[PreferencePair]:
    for file, rownum, row in iter_source_rows(spec, READER, ctx):
        try:
            texts = {k: get_field(row, k, str, file, rownum, nonempty=True) for k in ("chosen", "rejected")}
            turns = {}
            for k, text in texts.items():
                try:
                    turns[k] = parse_transcript(text)
                except ValueError as e:
                    raise BadRow(file, rownum, k, str(e)) from None
            try:
                prompt, chosen, rejected = split_transcripts(turns["chosen"], turns["rejected"])
            except ValueError as e:
                name, _, why = str(e).partition(": ")
                raise BadRow(file, rownum, name, why) from None
            subset = spec.options.get("data_dir") or Path(file).parent.name
            split = spec.options.get("split") or _split_of(file)
            yield checked_pair(PreferencePair(
                prompt=prompt, chosen=chosen, rejected=rejected, source=HUB_ID, source_config=subset,
                source_split=split, source_id=str(rownum),
            ), file, rownum)
        except BadRow as e:
            ctx.bad(e, row)


READER = Reader(name="hh_rlhf", hub_id=HUB_ID, read=read,
                description="Anthropic/hh-rlhf transcripts -> multi-turn prompt + final assistant turns")

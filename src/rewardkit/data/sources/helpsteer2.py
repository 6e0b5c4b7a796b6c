"""nvidia/HelpSteer2 (and HelpSteer v1, same columns): rated responses -> helpfulness-ordered pairs.

Rows that share a prompt are grouped (the card: consecutive rows share a prompt, two per prompt); each
pair of responses with different helpfulness gives one pair, the more helpful chosen. Equal helpfulness
is dropped and counted: the report keeps "only pairs where the helpfulness score for the chosen response
is higher" (section 3.1, footnote 2). Multi-turn prompts are decoded from the ``<extra_id_1>`` markers.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

from rewardkit.data.io import BadRow
from rewardkit.data.pairs import Message, PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Spec, checked_pair, get_field, iter_source_rows, split_of

HUB_ID = "nvidia/HelpSteer2"
ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
TURN_MARK = "<extra_id_1>"


def decode_prompt(prompt: str) -> list[Message]:
    """The card's multi-turn encoding -> messages.

    ``user 1\\n<extra_id_1>Assistant\\nassistant 1\\n<extra_id_1>User\\nuser 2`` ->
    [user, assistant, user]. Piece 0 is the first user turn; each later piece is "Role\\ncontent".
    """
    pieces = prompt.split(TURN_MARK)
    messages = [{"role": "user", "content": pieces[0].rstrip("\n")}]
    for piece in pieces[1:]:
        role, _, content = piece.partition("\n")
        role = role.strip().lower()
        if role not in ("user", "assistant"):
            raise ValueError(f"unknown turn role {role!r} after {TURN_MARK}")
        messages.append({"role": role, "content": content.rstrip("\n")})
    return messages


def check_row(row: dict, file: str, rownum: int) -> str:
    """A row's prompt, after checking its response and five 0-4 ratings; BadRow otherwise."""
    prompt = get_field(row, "prompt", str, file, rownum, nonempty=True)
    get_field(row, "response", str, file, rownum, nonempty=True)
    for attr in ATTRIBUTES:
        value = get_field(row, attr, int, file, rownum)
        if not 0 <= value <= 4:
            raise BadRow(file, rownum, attr, f"out of range (expected 0-4, got {value})")
    return prompt


def read(spec: Spec, ctx: ReadContext) -> Iterator[PreferencePair]:
    hub_id = spec.options.get("hub_id", HUB_ID)
    split = split_of(spec, READER)
    groups: dict[str, list[tuple[str, int, dict]]] = {}
    for file, rownum, row in iter_source_rows(spec, READER, ctx):
        try:
            prompt = check_row(row, file, rownum)
        except BadRow as e:
            ctx.bad(e, row)
            continue
        groups.setdefault(prompt, []).append((file, rownum, row))

    for prompt, rows in groups.items():
        try:
            messages = decode_prompt(prompt)
        except ValueError as e:
            for file, rownum, row in rows:
                ctx.bad(BadRow(file, rownum, "prompt", str(e)), row)
            continue
        if len(rows) < 2:
            ctx.drop("single response for prompt")
            continue
        for (fa, ra, a), (fb, rb, b) in combinations(rows, 2):
            if a["helpfulness"] == b["helpfulness"]:
                ctx.drop("helpfulness tie")
                continue
            if a["response"] == b["response"]:
                ctx.drop("identical responses")
                continue
            (fc, rc, c), (_, rr, r) = ((fa, ra, a), (fb, rb, b)) if a["helpfulness"] > b["helpfulness"] else ((fb, rb, b), (fa, ra, a))
            pair = PreferencePair(
                prompt=messages,
                chosen=c["response"],
                rejected=r["response"],
                source=hub_id,
                source_split=split,
                source_id=f"{rc}-{rr}",
                meta={"chosen_" + k: c[k] for k in ATTRIBUTES} | {"rejected_" + k: r[k] for k in ATTRIBUTES}
                | {"helpfulness_margin": c["helpfulness"] - r["helpfulness"]},  # for TrainConfig.margin_field
            )
            try:
                yield checked_pair(pair, fc, rc)
            except BadRow as e:
                ctx.bad(e, c)


READER = Reader(
    name="helpsteer2",
    hub_id=HUB_ID,
    read=read,
    description="nvidia/HelpSteer2 ratings -> pairs by helpfulness (ties dropped); HelpSteer v1 files too",
)

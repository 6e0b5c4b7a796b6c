"""nvidia/HelpSteer2 (and HelpSteer v1, same columns): rated responses -> helpfulness-ordered pairs.

Rows that share a prompt are grouped (the card: consecutive rows share a prompt, two per prompt); each
pair of responses with different helpfulness gives one pair, the more helpful chosen. Equal helpfulness
is dropped and counted: the paper keeps "only pairs where the helpfulness score for the chosen response
is higher" (section 3.1, footnote 2). Multi-turn prompts are decoded from the ``<extra_id_1>`` markers.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

from rewardkit.data.pairs import Message, PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Row, Source
from rewardkit.data.sources.files import source_rows
from rewardkit.data.sources.options import SourceOptions, Text
from rewardkit.data.sources.runner import checked_pair, each_row
from rewardkit.data.sources.rows import Dropped

HUB_ID = "nvidia/HelpSteer2"
ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
TURN_MARK = "<extra_id_1>"


class Options(SourceOptions):
    hub_id: Text = HUB_ID
    """The pairs' `source` (nvidia/HelpSteer for v1 files)."""


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


def check_row(row: Row) -> list[Message]:
    """A row's decoded prompt, after checking its response and five 0-4 ratings (BadRow otherwise)."""
    prompt = row.field("prompt", str)
    row.field("response", str)
    for attr in ATTRIBUTES:
        value = row.field(attr, int)
        if not 0 <= value <= 4:
            raise row.bad(attr, f"out of range (expected 0-4, got {value})")
    try:
        return decode_prompt(prompt)
    except ValueError as e:
        raise row.bad("prompt", str(e)) from None


def prompt_groups(src: Source, ctx: ReadContext) -> Iterator[tuple[list[Message], list[Row]]]:
    """(prompt, its rows) for each prompt with two or more responses, in first-seen order; a prompt with
    one response is dropped by rule. Shared by the pair reader and the candidate-set reader (rated_sets)."""
    groups: dict[str, tuple[list[Message], list[Row]]] = {}
    for messages, row in each_row(source_rows(src, ctx), ctx, lambda row: (check_row(row), row)):
        groups.setdefault(row.data["prompt"], (messages, []))[1].append(row)
    for messages, rows in groups.values():
        if len(rows) < 2:
            ctx.drop("single response for prompt", row=rows[0])
            continue
        yield messages, rows


def _pair(src: Source, messages: list[Message], a: Row, b: Row) -> PreferencePair:
    """The pair of two rated responses to one prompt, the more helpful chosen (Dropped on a tie)."""
    if a.data["helpfulness"] == b.data["helpfulness"]:
        raise Dropped("helpfulness tie")
    c, r = (a, b) if a.data["helpfulness"] > b.data["helpfulness"] else (b, a)
    return checked_pair(src.pair(
        c, prompt=messages, chosen=c.data["response"], rejected=r.data["response"], source=src.options.hub_id,
        source_id=f"{c.line}-{r.line}",
        meta={"chosen_" + k: c.data[k] for k in ATTRIBUTES} | {"rejected_" + k: r.data[k] for k in ATTRIBUTES}
        | {"helpfulness_margin": c.data["helpfulness"] - r.data["helpfulness"]},  # for TrainConfig.margin_field
    ))


def read(src: Source, ctx: ReadContext) -> Iterator[PreferencePair]:
    for messages, rows in prompt_groups(src, ctx):
        for a, b in combinations(rows, 2):
            try:
                yield _pair(src, messages, a, b)
            except Dropped as d:
                ctx.drop(d.reason)


READER = Reader(name="helpsteer2", hub_id=HUB_ID, read=read, options=Options,
                description="nvidia/HelpSteer2 ratings -> pairs by helpfulness (ties dropped); HelpSteer v1 files too")

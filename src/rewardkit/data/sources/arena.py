"""lmsys/lmsys-arena-human-preference-55k: prompt, response_a, response_b are JSON-encoded lists of
turns (one entry per user turn); winner_model_a / winner_model_b / winner_tie are one-hot.

Ties carry no preference and are dropped by rule, counted. The arena logs a failed generation as a
null turn; such rows are dropped by rule too. Multi-turn rows: each model answered the same user
turns in its own conversation, so the two histories differ and no single shared prompt is exact.
`?history=chosen` (default) builds the prompt from the user turns and the winner's earlier answers
(meta["history"] records this); `?history=drop` drops multi-turn rows by rule instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from rewardkit.data.io import BadRow
from rewardkit.data.pairs import Message, PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Spec, checked_pair, get_field, iter_source_rows, split_of

HUB_ID = "lmsys/lmsys-arena-human-preference-55k"
HISTORY = ("chosen", "drop")


def _turns(row: dict, name: str, file: str, rownum: int) -> list:
    raw = get_field(row, name, str, file, rownum)
    try:
        turns = json.loads(raw)
    except json.JSONDecodeError as e:
        raise BadRow(file, rownum, name, f"invalid JSON list of turns ({e.msg})") from None
    if not isinstance(turns, list) or not turns or not all(t is None or isinstance(t, str) for t in turns):
        raise BadRow(file, rownum, name, "wrong type (expected a JSON list of strings)")
    return turns


def _winner(row: dict, file: str, rownum: int) -> str:
    flags = {k: get_field(row, f"winner_{k}", int, file, rownum) for k in ("model_a", "model_b", "tie")}
    if sorted(flags.values()) != [0, 0, 1]:
        raise BadRow(file, rownum, "winner_model_a", f"winner flags must be one-hot, got {flags}")
    return next(k for k, v in flags.items() if v)


def read(spec: Spec, ctx: ReadContext) -> Iterator[PreferencePair]:
    history = spec.options.get("history", "chosen")
    if history not in HISTORY:
        raise ValueError(f"{spec}: history must be one of {HISTORY}, not {history!r}")
    split = split_of(spec, READER)
    for file, rownum, row in iter_source_rows(spec, READER, ctx):
        try:
            users, a, b = (_turns(row, k, file, rownum) for k in ("prompt", "response_a", "response_b"))
            if not len(users) == len(a) == len(b):
                raise BadRow(file, rownum, "response_b", f"turn counts differ (prompt {len(users)}, "
                             f"response_a {len(a)}, response_b {len(b)})")
            winner = _winner(row, file, rownum)
            if winner == "tie":
                ctx.drop("tie")
                continue
            if any(t is None for t in (*users, *a, *b)):
                ctx.drop("null turn (failed generation)")
                continue
            if len(users) > 1 and history == "drop":
                ctx.drop("multi-turn (histories differ)")
                continue
            chosen, rejected = (a, b) if winner == "model_a" else (b, a)
            prompt: list[Message] = []
            for i, text in enumerate(users):
                prompt.append({"role": "user", "content": text})
                if i < len(users) - 1:
                    prompt.append({"role": "assistant", "content": chosen[i]})
            c_model, r_model = (row.get("model_a"), row.get("model_b"))[:: 1 if winner == "model_a" else -1]
            yield checked_pair(PreferencePair(
                prompt=prompt, chosen=chosen[-1], rejected=rejected[-1], source=HUB_ID, source_split=split,
                source_id=str(row.get("id", rownum)),
                meta={"chosen_model": c_model, "rejected_model": r_model,
                      "history": "chosen" if len(users) > 1 else None},
            ), file, rownum)
        except BadRow as e:
            ctx.bad(e, row)


READER = Reader(name="arena", hub_id=HUB_ID, read=read,
                description="lmsys arena-55k: winner preferred, ties dropped; multi-turn with the winner's history")

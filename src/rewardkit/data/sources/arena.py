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
from typing import Literal

from rewardkit.data.io import SURROGATE_REASON, check_surrogates
from rewardkit.data.pairs import Message, PreferencePair
from rewardkit.data.sources.base import Reader, Row, Source
from rewardkit.data.sources.options import SourceOptions

HUB_ID = "lmsys/lmsys-arena-human-preference-55k"


class Options(SourceOptions):
    history: Literal["chosen", "drop"] = "chosen"
    """Multi-turn rows: build the prompt with the winner's earlier answers (chosen), or drop them."""


def _turns(row: Row, name: str) -> list:
    text = row.field(name, str)
    try:
        turns = json.loads(text)
    except json.JSONDecodeError as e:
        raise row.bad(name, f"invalid JSON list of turns ({e.msg})") from None
    if not isinstance(turns, list) or not turns or not all(t is None or isinstance(t, str) for t in turns):
        raise row.bad(name, "wrong type (expected a JSON list of strings)")
    if where := check_surrogates(text, turns):  # the turns are JSON inside a string: escapes survive the row's check
        raise row.bad(name, f"turn {where}: {SURROGATE_REASON}")
    return turns


def _winner(row: Row) -> str:
    flags = {k: row.field(f"winner_{k}", int) for k in ("model_a", "model_b", "tie")}
    if sorted(flags.values()) != [0, 0, 1]:
        raise row.bad("winner_model_a", f"winner flags must be one-hot, got {flags}")
    return next(k for k, v in flags.items() if v)


def to_pair(row: Row, src: Source) -> PreferencePair:
    users, a, b = (_turns(row, k) for k in ("prompt", "response_a", "response_b"))
    if not len(users) == len(a) == len(b):
        raise row.bad("response_b", f"turn counts differ (prompt {len(users)}, response_a {len(a)}, response_b {len(b)})")
    winner = _winner(row)
    if winner == "tie":
        raise row.drop("tie")
    if any(t is None for t in (*users, *a, *b)):
        raise row.drop("null turn (failed generation)")
    if len(users) > 1 and src.options.history == "drop":
        raise row.drop("multi-turn (histories differ)")
    chosen, rejected = (a, b) if winner == "model_a" else (b, a)
    prompt: list[Message] = []
    for i, text in enumerate(users):
        prompt.append({"role": "user", "content": text})
        if i < len(users) - 1:
            prompt.append({"role": "assistant", "content": chosen[i]})
    c_model, r_model = (row.get("model_a"), row.get("model_b"))[:: 1 if winner == "model_a" else -1]
    return src.pair(
        row, prompt=prompt, chosen=chosen[-1], rejected=rejected[-1], source_id=str(row.get("id", row.line)),
        meta={"chosen_model": c_model, "rejected_model": r_model, "history": "chosen" if len(users) > 1 else None},
    )


READER = Reader(name="arena", hub_id=HUB_ID, to_pair=to_pair, options=Options,
                description="lmsys arena-55k: winner preferred, ties dropped; multi-turn with the winner's history")

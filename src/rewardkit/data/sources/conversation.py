"""Readers whose rows hold conversations as lists of {role, content} turns: split a chosen and a
rejected conversation into the shared prompt and the two final assistant responses.

Only the shape is checked here (a broken row: BadRow); whether the prompt follows the conversation
rule is `checked_pair`'s job, as for every reader.
"""

from __future__ import annotations

from typing import Any

from rewardkit.data.conversation import why_malformed
from rewardkit.data.pairs import Message
from rewardkit.data.sources.rows import Row


def checked_messages(value: Any, row: Row, field: str) -> list[Message]:
    """A list of {role, content} dicts with known roles and string contents, or a BadRow naming `field`."""
    problem = why_malformed(value)
    if problem is not None:
        raise row.bad(field, f"bad message list ({problem})")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def split_conversations(row: Row, fields: tuple[str, str] = ("chosen", "rejected")) -> tuple[list[Message], str, str]:
    """(prompt, chosen response, rejected response) from the row's two full conversations.

    Both must end with an assistant turn and have identical turns before it (Skywork preference sets:
    "same prompt turns, ending with the dispreferred assistant turn", docs/schemas.md §6).
    """
    c = checked_messages(row.field(fields[0], list), row, fields[0])
    r = checked_messages(row.field(fields[1], list), row, fields[1])
    for msgs, name in ((c, fields[0]), (r, fields[1])):
        if len(msgs) < 2:
            raise row.bad(name, f"bad message list (need a prompt and a response, got {len(msgs)} turn)")
        if msgs[-1]["role"] != "assistant":
            raise row.bad(name, f"bad message list (last turn is {msgs[-1]['role']!r}, not 'assistant')")
    if c[:-1] != r[:-1]:
        first = next((i for i, (a, b) in enumerate(zip(c[:-1], r[:-1])) if a != b), min(len(c), len(r)) - 1)
        raise row.bad(fields[1], f"prompt turns differ from {fields[0]}'s (first at turn {first})")
    return c[:-1], c[-1]["content"], r[-1]["content"]

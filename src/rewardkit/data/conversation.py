"""The one rule for a valid conversation, shared by the readers, the scorer API and the server.

A conversation is a list of {"role", "content"} messages such that
  1. an optional system turn comes first and only there;
  2. then user and assistant turns alternate, starting with the user;
  3. it ends with exactly one assistant turn, the one being rated (a prompt, by contrast, ends with the
     user turn the response answers);
  4. every turn's content is a string with some non-blank text.
This is what the chat templates the project scores with (SmolLM2's ChatML, Llama's) assume, and what
the paper's pairs are: a multi-turn prompt plus one final response (paper section 3.1).

`why_invalid` (and its parts: `why_malformed`, the shape; `why_out_of_order`, the roles) is pure and returns the first broken rule (None when valid); `check_conversation` raises
it as an `InvalidConversation`, whose `index` says which conversation of a batch it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ROLES = ("system", "user", "assistant")

# The rules' names: stable strings that reports count by and that tests and the server's 422 quote.
NOT_A_LIST = "not a list of messages"
EMPTY = "no messages"
BAD_MESSAGE = "message is not {role, content}"
UNKNOWN_ROLE = "unknown role"
SYSTEM_NOT_FIRST = "system turn not first"
NOT_ALTERNATING = "roles do not alternate user/assistant"
WRONG_LAST_TURN = "wrong final turn"
EMPTY_TURN = "empty turn"


@dataclass(frozen=True)
class Invalid:
    """Why a conversation breaks the rule: which rule, at which message (0-based), in words."""

    rule: str
    turn: int | None
    detail: str

    def __str__(self) -> str:
        where = f"message {self.turn}: " if self.turn is not None else ""
        return f"{self.rule} ({where}{self.detail})"


class InvalidConversation(ValueError):
    """A conversation that breaks the rule; `index` is its position in a batch (None for a lone one)."""

    def __init__(self, problem: Invalid, index: int | None = None):
        self.problem, self.index = problem, index
        prefix = f"conversation {index}: " if index is not None else ""
        super().__init__(f"{prefix}{problem}")


def why_invalid(messages: Any, *, ends_with: Literal["assistant", "user"] = "assistant") -> Invalid | None:
    """The first rule `messages` breaks, or None. `ends_with="user"` checks a prompt instead of a
    conversation to score (same rules, the last turn being the user's)."""
    problem = why_malformed(messages)
    if problem is not None:
        return problem
    blank = next((i for i, m in enumerate(messages) if not m["content"].strip()), None)
    if blank is not None:
        return Invalid(EMPTY_TURN, blank, f"the {messages[blank]['role']} turn has no text")
    return why_out_of_order([m["role"] for m in messages], ends_with=ends_with)


def why_malformed(messages: Any) -> Invalid | None:
    """The shape alone: a non-empty list of {role: one of ROLES, content: str}. A reader calls a row
    that fails this broken (its field is mistyped); the other rules are the data's own quirks."""
    if not isinstance(messages, (list, tuple)):
        return Invalid(NOT_A_LIST, None, f"got {type(messages).__name__}")
    if not messages:
        return Invalid(EMPTY, None, "a conversation needs at least a user and an assistant turn")
    return next((p for i, m in enumerate(messages) if (p := _message_problem(m, i)) is not None), None)


def _message_problem(m: Any, i: int) -> Invalid | None:
    if not isinstance(m, dict) or not isinstance(m.get("content"), str) or "role" not in m:
        return Invalid(BAD_MESSAGE, i, f"expected {{'role': str, 'content': str}}, got {m!r:.80}")
    if m["role"] not in ROLES:
        return Invalid(UNKNOWN_ROLE, i, f"{m['role']!r} is not one of {ROLES}")
    return None


def why_out_of_order(roles: list[str], *, ends_with: str = "assistant") -> Invalid | None:
    """Rules 1-3 alone, on the roles (for a reader that names empty turns in its own words)."""
    if not roles:
        return Invalid(EMPTY, None, "a conversation needs at least a user and an assistant turn")
    start = 1 if roles[0] == "system" else 0
    for i in range(start, len(roles)):
        expected = "user" if (i - start) % 2 == 0 else "assistant"
        if roles[i] == "system":
            return Invalid(SYSTEM_NOT_FIRST, i, "a system turn may only open the conversation")
        if roles[i] != expected:
            return Invalid(NOT_ALTERNATING, i, f"{roles[i]} turn where a {expected} turn belongs")
    if roles[-1] != ends_with:
        return Invalid(WRONG_LAST_TURN, len(roles) - 1, f"the last turn is {roles[-1]}'s; it must be {ends_with}'s")
    return None


def check_conversation(messages: Any, index: int | None = None) -> None:
    """Raise InvalidConversation (naming `index`, the rule and the message) unless `messages` is valid."""
    problem = why_invalid(messages)
    if problem is not None:
        raise InvalidConversation(problem, index)


def check_conversations(conversations: Any) -> None:
    """Check a batch; the error names the first invalid conversation's index."""
    for i, conv in enumerate(conversations):
        check_conversation(conv, i)

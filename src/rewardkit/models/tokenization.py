"""Conversation -> token ids for a reward model: chat template, exactly one BOS, explicit truncation.

    from rewardkit.models.tokenization import encode_conversation, encode_pair
    enc = encode_conversation(tokenizer, messages, max_length=2048)   # enc.ids, enc.truncated
    ep = encode_pair(tokenizer, pair, max_length=2048)                # None only with on_long="drop"
    et = encode_text(tokenizer, templated_text, max_length=2048)     # already chat-templated text

Rules, each with a test in tests/test_tokenization.py:
- One BOS. Templates that write `{{ bos_token }}` rendered as text and then tokenized by a tokenizer that
  adds BOS again give two (reward-bench #164, raised by a Skywork author; Llama-3 and Gemma-2 templates
  do this). We tokenize the rendered text without special tokens and add the tokenizer's own wrapping
  (BOS, BERT's [CLS]/[SEP], ...) only where the template did not already write it.
- Truncation keeps the pair and cuts the *prompt* from the left (the turns nearest the response stay),
  keeping the leading BOS/[CLS] and any trailing [SEP] and the whole final response (with its template
  end-of-turn tokens) where it fits. If the final response alone does not fit, the prompt is dropped and
  the response's *beginning* is kept: its end-of-turn tokens are then lost, so such rows are flagged
  `truncated` like every other cut, and callers count them (on_long="drop" excludes them instead).
- Tokenizers without a chat template (BERT/MiniLM) get a plain "Role: content" rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import get_args

from rewardkit.data.pairs import Message, PreferencePair
from rewardkit.options import DEFAULT_ON_LONG, OnLong


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    truncated: bool


@dataclass(frozen=True)
class EncodedPair:
    chosen_ids: list[int]
    rejected_ids: list[int]
    prompt_len: int
    """Number of leading tokens identical in both sequences (the shared prompt, plus any common start)."""
    truncated: bool


@dataclass(frozen=True)
class _Parts:
    """One conversation split where truncation needs it: head + prompt + response + tail."""

    head: list[int]  # the leading BOS / [CLS], kept through truncation
    prompt: list[int]  # every token before the final message's content (incl. its role header)
    response: list[int]  # the final message's content and the template's end-of-turn tokens
    tail: list[int]  # tokenizer-added suffix ([SEP], EOS), kept through truncation

    def __len__(self) -> int:
        return len(self.head) + len(self.prompt) + len(self.response) + len(self.tail)

    def ids(self) -> list[int]:
        return self.head + self.prompt + self.response + self.tail


def render(tokenizer, messages: list[Message]) -> str:
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(messages, tokenize=False)
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def special_wrapping(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer itself puts before and after any text: ([BOS] or [CLS], [EOS] or [SEP])."""
    head, tail = _wrapping(tokenizer)
    return list(head), list(tail)


@lru_cache(maxsize=8)  # per tokenizer object: encoding calls it for every conversation
def _wrapping(tokenizer) -> tuple[tuple[int, ...], tuple[int, ...]]:
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i : i + len(plain)] == plain:
            return tuple(full[:i]), tuple(full[i + len(plain) :])
    raise ValueError(f"cannot locate the text inside {type(tokenizer).__name__}'s special-token wrapping")


def _body(tokenizer, messages: list[Message]) -> list[int]:
    return tokenizer(render(tokenizer, messages), add_special_tokens=False)["input_ids"]


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _split_specials(body: list[int], head: list[int], tail: list[int], bos: int | None):
    """(head, body, tail) with exactly one copy of each special: the template's own or the tokenizer's."""
    if head and body[: len(head)] == head:  # the template wrote the BOS already: do not add a second
        body = body[len(head) :]
    if tail and body[len(body) - len(tail) :] == tail:
        body = body[: len(body) - len(tail)]
    if not head and bos is not None and body[:1] == [bos]:  # template-only BOS: keep it when truncating
        head, body = [bos], body[1:]
    return head, body, tail


def _whole(tokenizer, ids: list[int]) -> _Parts:
    """`ids` with the tokenizer's specials split off (one copy each), the rest all response: enough to
    encode anything that fits; only a cut needs the prompt/response split (`_split`)."""
    head, body, tail = _split_specials(ids, *special_wrapping(tokenizer), tokenizer.bos_token_id)
    return _Parts(head, [], body, tail)


def _conversation(tokenizer, messages: list[Message]) -> _Parts:
    if not messages:
        raise ValueError("a conversation needs at least one message")
    return _whole(tokenizer, _body(tokenizer, messages))


def _empty_final(tokenizer, messages: list[Message]) -> list[int]:
    """The conversation rendered with its final message's content empty (specials split off). Everything
    it shares with the full rendering (system prompt, earlier turns, the final role header) is prompt."""
    last = {"role": messages[-1]["role"], "content": ""}
    return _conversation(tokenizer, [*messages[:-1], last]).response


def _split(whole: _Parts, empty: list[int]) -> _Parts:
    """Split a `_whole` conversation into prompt + response; `empty` is `_empty_final` of it (shared by
    both members of a pair). A second rendering, so it is done only for a conversation that must be cut."""
    start = _common_prefix(whole.response, empty)
    return _Parts(whole.head, whole.response[:start], whole.response[start:], whole.tail)


def _fixed_room(parts: _Parts, max_length: int) -> int:
    """The specials' length, kept through any cut; an error when max_length leaves nothing beside them."""
    fixed = len(parts.head) + len(parts.tail)
    if fixed >= max_length:
        raise ValueError(f"max_length={max_length} leaves no response token: the tokenizer's own special tokens "
                         f"take {fixed}; give at least {fixed + 1}")
    return fixed


def _cut(parts: _Parts, max_length: int, response_len: int) -> list[int]:
    """Cut `parts` to max_length: the prompt from the left, as if the response had `response_len` tokens
    (the longer of a pair, so both members keep the same prompt); then, if needed, the response's end."""
    fixed = _fixed_room(parts, max_length)
    room = max_length - fixed - response_len
    if room >= 0:
        prompt = parts.prompt[len(parts.prompt) - room :] if room else []
        return parts.head + prompt + parts.response + parts.tail
    return parts.head + parts.response[: max_length - fixed] + parts.tail


def encode_conversation(tokenizer, messages: list[Message], *, max_length: int | None = None) -> Encoded:
    """Token ids of a whole conversation (the final message is the one being rated)."""
    whole = _conversation(tokenizer, messages)
    if max_length is None or len(whole) <= max_length:
        return Encoded(whole.ids(), False)
    parts = _split(whole, _empty_final(tokenizer, messages))
    return Encoded(_cut(parts, max_length, len(parts.response)), True)


def encode_text(tokenizer, text: str, *, max_length: int | None = None) -> Encoded:
    """Token ids of text that is already chat-templated (OpenRLHF's remote reward protocol sends such
    text): the tokenizer's own specials are added only where the text did not already write them (one
    BOS). A long text keeps its end, the rated response, and loses its beginning after the BOS/[CLS]."""
    parts = _whole(tokenizer, tokenizer(text, add_special_tokens=False)["input_ids"])
    if max_length is None or len(parts) <= max_length:
        return Encoded(parts.ids(), False)
    keep = max_length - _fixed_room(parts, max_length)
    return Encoded(parts.head + parts.response[len(parts.response) - keep :] + parts.tail, True)


def encode_pair(
    tokenizer, pair: PreferencePair, *, max_length: int | None, on_long: OnLong = DEFAULT_ON_LONG
) -> EncodedPair | None:
    """Both conversations of a pair, cut identically in the prompt so the pair stays comparable.

    Returns None only when on_long="drop" and either conversation exceeds max_length.
    """
    if on_long not in get_args(OnLong):
        raise ValueError(f"on_long must be one of {get_args(OnLong)}, got {on_long!r}")
    c = _conversation(tokenizer, pair.chosen_conversation())
    r = _conversation(tokenizer, pair.rejected_conversation())
    too_long = max_length is not None and max(len(c), len(r)) > max_length
    if too_long and on_long == "drop":
        return None
    if too_long:
        empty = _empty_final(tokenizer, pair.chosen_conversation())  # same prompt and final role for both
        c, r = _split(c, empty), _split(r, empty)
        longest = max(len(c.response), len(r.response))
        chosen, rejected = _cut(c, max_length, longest), _cut(r, max_length, longest)
    else:
        chosen, rejected = c.ids(), r.ids()
    return EncodedPair(chosen, rejected, _common_prefix(chosen, rejected), too_long)

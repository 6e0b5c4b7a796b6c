"""Request checks, each answering a clear 4xx: API key, body size, JSON, shape, counts, lengths.

Pure functions over bytes, dicts and headers (tests call them directly); the app turns `ApiError` into a
JSON answer `{"detail": message}` with its status. Conversations are checked with the rule the file
readers use (`rewardkit.data.conversation`), so a conversation the server takes is one a dataset could
hold, and a refused one is a 422 naming its index and the rule.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

from rewardkit.data.conversation import why_invalid
from rewardkit.data.io import SURROGATE_REASON, check_surrogates
from rewardkit.data.pairs import Message
from rewardkit.evaluation.checks import max_length_problem


class ApiError(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


@dataclass(frozen=True)
class Limits:
    max_conversations: int
    max_message_chars: int
    max_body_bytes: int
    max_length: int | None
    """The server's cap on tokens per conversation; a request may ask for fewer, never more."""
    template_tokens: int = 0
    """Tokens the chat template takes around an empty conversation: a max_length must exceed it."""


def check_api_key(headers: dict[str, str], key: str | None) -> None:
    """401 unless the request carries `key` (Authorization: Bearer KEY, or X-API-Key: KEY)."""
    if key is None:
        return
    given = headers.get("x-api-key")
    auth = headers.get("authorization", "")
    if given is None and auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    # compare_digest: the time taken does not reveal how many leading characters matched
    if given is None or not hmac.compare_digest(given.encode("utf-8", "replace"), key.encode("utf-8")):
        raise ApiError(401, "missing or wrong API key (send Authorization: Bearer KEY or X-API-Key: KEY)",
                       {"WWW-Authenticate": "Bearer"})


def check_content_length(value: str | None, limit: int) -> None:
    if value is not None and value.isdigit() and int(value) > limit:
        raise ApiError(413, f"request body of {int(value)} bytes exceeds max_body_bytes={limit}")


def parse_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
    except UnicodeDecodeError as e:
        raise ApiError(400, f"request body is not valid UTF-8 (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ApiError(400, f"request body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:  # e.g. "[[[[..." 100,000 deep: the parser's stack, not the server, gives out
        raise ApiError(400, "request body is JSON nested too deeply") from None
    if where := check_surrogates(text, payload):
        raise ApiError(400, f"request body: {where}: {SURROGATE_REASON}")
    return payload


def _object(payload: Any, allowed: set[str], required: str) -> dict:
    if not isinstance(payload, dict):
        raise ApiError(422, f"request body must be a JSON object with {required!r}, got {type(payload).__name__}")
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise ApiError(422, f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    if required not in payload:
        raise ApiError(422, f"missing field {required!r}")
    return payload


def _count(items: Any, field: str, limits: Limits) -> list:
    if not isinstance(items, list) or not items:
        raise ApiError(422, f"{field!r} must be a non-empty list")
    if len(items) > limits.max_conversations:
        raise ApiError(413, f"{len(items)} items in {field!r} exceed max_conversations={limits.max_conversations}")
    return items


def _max_length(value: Any, limits: Limits) -> int | None:
    if value is None:
        return limits.max_length
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ApiError(422, f"'max_length' must be a positive integer, got {value!r}")
    if problem := max_length_problem(value, limits.template_tokens, "'max_length'"):
        raise ApiError(422, problem)
    return value if limits.max_length is None else min(value, limits.max_length)


def _check_chars(text: str, where: str, limits: Limits) -> None:
    if len(text) > limits.max_message_chars:
        raise ApiError(422, f"{where} has {len(text)} characters, over max_message_chars={limits.max_message_chars}")


def parse_score_request(payload: Any, limits: Limits) -> tuple[list[list[Message]], int | None]:
    """(conversations, max_length) of a native `POST /score` body."""
    body = _object(payload, {"conversations", "max_length"}, "conversations")
    convs = _count(body["conversations"], "conversations", limits)
    out = []
    for i, conv in enumerate(convs):
        problem = why_invalid(conv)
        if problem is not None:
            raise ApiError(422, f"conversations[{i}]: {problem}")
        for j, m in enumerate(conv):
            _check_chars(m["content"], f"conversations[{i}][{j}].content", limits)
        out.append([{"role": m["role"], "content": m["content"]} for m in conv])
    return out, _max_length(body.get("max_length"), limits)


def parse_reward_request(payload: Any, limits: Limits) -> list[str]:
    """The texts of an OpenRLHF `POST /get_reward` body ({"query": [...]}; its "prompts" and "labels",
    which OpenRLHF also sends, are accepted and not used)."""
    body = _object(payload, {"query", "prompts", "labels"}, "query")
    texts = _count(body["query"], "query", limits)
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text:
            raise ApiError(422, f"query[{i}] must be a non-empty string (chat-templated text), got {text!r:.60}")
        _check_chars(text, f"query[{i}]", limits)
    return texts

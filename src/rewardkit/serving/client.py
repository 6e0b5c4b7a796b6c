"""A client for `rewardkit serve`, usable directly and as a TRL GRPO reward function.

    from rewardkit.serving.client import RewardClient
    rm = RewardClient("http://127.0.0.1:8000", api_key=None)
    rm.score([[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]])  # [float]
    GRPOTrainer(..., reward_funcs=[RewardClient("http://127.0.0.1:8000")])

TRL calls a reward function as `f(prompts=..., completions=..., completion_ids=..., **dataset_columns)`
and expects one float per completion (trl/trainer/grpo_trainer.py `_calculate_rewards`). Prompts and
completions are either plain strings (scored as one user turn + one assistant turn) or conversational
message lists (the prompt's turns + the completion's). The key defaults to $REWARDKIT_API_KEY.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import httpx

from rewardkit.data.pairs import Message
from rewardkit.serving.config import API_KEY_ENV


class RewardClient:
    __name__ = "rewardkit"  # TRL labels this reward's logged columns with the callable's __name__

    def __init__(self, url: str, *, api_key: str | None = None, timeout: float = 120.0, max_per_request: int = 256):
        self.url = url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        self.timeout, self.max_per_request = timeout, max_per_request
        self._http: httpx.Client | None = None

    def __getstate__(self) -> dict:  # picklable (TRL and multiprocessing copy reward functions): no socket
        return {**self.__dict__, "_http": None}

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._http = httpx.Client(base_url=self.url, headers=headers, timeout=self.timeout)
        return self._http

    def score(self, conversations: Sequence[list[Message]], *, max_length: int | None = None) -> list[float]:
        """One score per conversation, in order; sent in chunks of `max_per_request`."""
        scores: list[float] = []
        for at in range(0, len(conversations), self.max_per_request):
            body: dict[str, Any] = {"conversations": list(conversations[at : at + self.max_per_request])}
            if max_length is not None:
                body["max_length"] = max_length
            scores += self._post("/score", body)["scores"]
        return scores

    def get_reward(self, texts: Sequence[str]) -> list[float]:
        """OpenRLHF's protocol: scores of already chat-templated texts."""
        return self._post("/get_reward", {"query": list(texts)})["rewards"]

    def __call__(self, prompts: Sequence, completions: Sequence, **kwargs) -> list[float]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        return self.score([conversation(p, c) for p, c in zip(prompts, completions)])

    def _post(self, path: str, body: dict) -> dict:
        res = self.http.post(path, json=body)
        if res.status_code != 200:
            try:
                detail = res.json().get("detail", res.text)
            except ValueError:
                detail = res.text
            raise RuntimeError(f"{self.url}{path} answered {res.status_code}: {detail}")
        return res.json()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None


def conversation(prompt: str | list[Message], completion: str | list[Message]) -> list[Message]:
    """A TRL (prompt, completion) as one conversation; the completion's final message is the one rated."""
    turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if isinstance(completion, str):
        return [*turns, {"role": "assistant", "content": completion}]
    return [*turns, *completion]

"""The model side of the server: load, tokenize off the event loop, queue, await scores.

    runtime = Runtime(config, metrics)          # or Runtime(config, metrics, scorer=RewardModel(...))
    runtime.load()                              # in a thread: /ready answers 503 until it returns
    scores, truncated = await runtime.score_conversations(convs, max_length)
    runtime.close()                             # answers what is queued, then stops the worker

Tokenization runs on one thread of its own (a fast tokenizer is not safe to call from several threads at
once) so it overlaps the model's forward on the worker thread, and the event loop only moves bytes.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from jinja2 import TemplateError

from rewardkit.data.pairs import Message
from rewardkit.data.batching import plan_min_padding
from rewardkit.models.tokenization import Encoded, encode_conversation, encode_text
from rewardkit.serving.batcher import Batcher, QueueFull
from rewardkit.serving.config import ServeConfig
from rewardkit.serving.limits import ApiError, Limits
from rewardkit.serving.metrics import Metrics


class Runtime:
    def __init__(self, config: ServeConfig, metrics: Metrics, scorer=None):
        self.config, self.metrics, self.scorer = config, metrics, scorer
        self.batcher: Batcher | None = None
        self.limits: Limits | None = None
        self.load_error: str | None = None
        self._tokenize = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rewardkit-tokenize")
        metrics.queue.set_function(lambda: self.batcher.pending if self.batcher else 0)

    @property
    def ready(self) -> bool:
        return self.batcher is not None and self.batcher.alive

    def load(self) -> None:
        """Load the model (unless one was given) and start the worker."""
        from rewardkit.evaluation.checks import check_max_length, template_tokens

        c = self.config
        try:
            if self.scorer is None:
                from rewardkit.models.scoring import RewardModel

                self.scorer = RewardModel.load(c.model, dtype=c.dtype, seed=c.seed)
            check_max_length(self.scorer.tokenizer, c.max_length)  # `serve` checked it before listening too
        except Exception as e:  # /ready reports it; the process stays up to say why
            self.load_error = f"{type(e).__name__}: {e}"
            raise
        self.limits = Limits(c.max_conversations, c.max_message_chars, c.max_body_bytes,
                             c.max_length if c.max_length is not None else self.scorer.max_positions,
                             template_tokens(self.scorer.tokenizer))
        plan = partial(plan_min_padding, overhead_tokens=c.batch_overhead_tokens)
        score_ids = partial(self.scorer.score_ids, batch_tokens=c.batch_tokens, pad_to_multiple=c.pad_to_multiple,
                            progress=False, plan=plan)
        batcher = Batcher(score_ids, batch_tokens=c.batch_tokens, max_wait_ms=c.max_wait_ms, max_queue=c.max_queue,
                          wait_fraction=c.wait_fraction, on_batch=self.metrics.on_batch)
        batcher.start()
        self.batcher = batcher

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close(timeout=self.config.request_timeout_s)
        self._tokenize.shutdown(wait=False, cancel_futures=True)

    def require_ready(self) -> Limits:
        if not self.ready:
            state = "failed to load the model: " + self.load_error if self.load_error else "the model is loading"
            raise ApiError(503, f"not ready: {state}", {"Retry-After": "5"})
        return self.limits

    async def score_conversations(self, convs: list[list[Message]], max_length: int | None) -> tuple[list[float], int]:
        tok = self.scorer.tokenizer
        encoded = await self._encode(lambda: [encode_conversation(tok, c, max_length=max_length) for c in convs])
        return await self._scores([e.ids for e in encoded]), sum(e.truncated for e in encoded)

    async def score_texts(self, texts: list[str]) -> list[float]:
        tok, max_length = self.scorer.tokenizer, self.limits.max_length
        encoded = await self._encode(lambda: [encode_text(tok, t, max_length=max_length) for t in texts])
        return await self._scores([e.ids for e in encoded])

    async def _encode(self, fn) -> list[Encoded]:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._tokenize, fn)
        except ValueError as e:  # e.g. a max_length that leaves no room beside the special tokens
            raise ApiError(422, str(e)) from None
        except TemplateError as e:  # the model's chat template refuses it (e.g. roles must alternate)
            raise ApiError(422, f"the model's chat template refused a conversation: {e}") from None

    async def _scores(self, rows: list[list[int]]) -> list[float]:
        try:
            future = self.batcher.submit(rows)
        except QueueFull as e:
            raise ApiError(503, f"server busy: {e}; retry shortly", {"Retry-After": "1"}) from None
        timeout = self.config.request_timeout_s
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            raise ApiError(504, f"scoring did not finish within request_timeout_s={timeout:g}") from None

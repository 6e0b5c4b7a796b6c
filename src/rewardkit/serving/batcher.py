"""Dynamic batching: a bounded queue of tokenized requests and one model worker thread.

    batcher = Batcher(score_ids, batch_tokens=8192, max_wait_ms=50, wait_fraction=0.1, max_queue=4096)
    batcher.start()
    future = batcher.submit([[1, 5, 9], [1, 7]])     # concurrent.futures.Future -> [float, float]
    batcher.close()                                   # scores what is queued, then stops the worker

Why one worker: a CPU forward already uses every core and a GPU runs one stream, so two forwards at
once only contend. The worker takes every waiting request up to a token budget (waiting for more when
the budget is not yet full: `wait_fraction` of the previous forward's time, at most `max_wait_ms`), and
`score_ids` sorts the rows by length into padded batches (the server plans them with
rewardkit.data.batching.plan_min_padding), so requests from many clients share one forward. Each request
gets its own scores in its own order. Requests arrive already tokenized: bad input fails in the request
handler, never here, so the worker cannot be killed by a client.

Why the wait scales with the forward: with C clients each sending a request as soon as the last is
answered, a worker that starts at once settles into batches of ~C/2 (half the clients wait for the
forward that holds the other half). Waiting a tenth of a forward lets the answered clients' next requests
join, so batches grow towards C; a larger batch sorts into less padding and fewer small passes (MiniLM
on CPU, replayed: groups of 24 took 10% less model time than groups of 16; BENCHMARKS.md "Serving"). A
fixed window suits one model only: a tenth of a CPU forward is tens of milliseconds, of a GPU forward one
or two.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

ScoreIds = Callable[[Sequence[Sequence[int]]], list[float]]


class QueueFull(Exception):
    """The queue holds `max_queue` conversations already (or the server is shutting down)."""


@dataclass
class _Job:
    rows: list[list[int]]
    tokens: int  # sum of the rows' lengths, counted once at submit (the worker reads it under the lock)
    future: Future = field(default_factory=Future)


class Batcher:
    def __init__(self, score_ids: ScoreIds, *, batch_tokens: int, max_wait_ms: float, max_queue: int,
                 wait_fraction: float | None = None, on_batch: Callable[[int, int, float], None] | None = None):
        """`on_batch(conversations, tokens, seconds)` is called after each forward (for metrics). The wait
        for more requests is `wait_fraction` x the previous forward's seconds, at most `max_wait_ms`
        (`max_wait_ms` before the first forward, and always when `wait_fraction` is None)."""
        self._score_ids, self.batch_tokens, self.max_wait = score_ids, batch_tokens, max_wait_ms / 1000
        self.wait_fraction, self._last_forward = wait_fraction, None
        self.max_queue, self._on_batch = max_queue, on_batch
        self._jobs: deque[_Job] = deque()
        self._pending = 0  # conversations in self._jobs
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="rewardkit-model-worker", daemon=True)

    @property
    def pending(self) -> int:
        """Conversations waiting in the queue."""
        return self._pending

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closing

    def start(self) -> None:
        self._thread.start()

    def submit(self, rows: list[list[int]]) -> Future:
        """Queue one request's token rows; its future resolves to their scores, in order."""
        job = _Job(rows, sum(len(r) for r in rows))
        with self._cond:
            if self._closing:
                raise QueueFull("the server is shutting down")
            if self._pending + len(rows) > self.max_queue:
                raise QueueFull(f"the queue holds {self._pending} of max_queue={self.max_queue} conversations")
            self._jobs.append(job)
            self._pending += len(rows)
            self._cond.notify()
        return job.future

    def close(self, timeout: float | None = None) -> None:
        """Stop taking requests, score everything already queued, then stop the worker."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # --- the worker ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            jobs = self._take()
            if jobs is None:
                return
            self._score(jobs)

    def window(self) -> float:
        """Seconds the worker waits for more requests once it holds some."""
        if self.wait_fraction is None or self._last_forward is None:
            return self.max_wait
        return min(self.max_wait, self.wait_fraction * self._last_forward)

    def _take(self) -> list[_Job] | None:
        """The next batch of jobs: at least one, up to the token budget; None once closed and drained."""
        jobs: list[_Job] = []
        tokens = 0
        deadline = None
        with self._cond:
            while True:
                while self._jobs and (not jobs or tokens + self._jobs[0].tokens <= self.batch_tokens):
                    job = self._jobs.popleft()
                    self._pending -= len(job.rows)
                    if job.future.set_running_or_notify_cancel():  # False: it timed out while queued
                        jobs.append(job)
                        tokens += job.tokens
                if self._jobs and jobs:  # the next job would overflow the budget: score now
                    return jobs
                if self._closing:
                    return jobs or None
                if jobs and deadline is None:
                    deadline = time.monotonic() + self.window()
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    return jobs
                self._cond.wait(wait)

    def _score(self, jobs: list[_Job]) -> None:
        rows = [r for job in jobs for r in job.rows]
        start = time.perf_counter()
        try:
            scores = self._score_ids(rows)
        except Exception as e:  # a model failure fails these requests (500), never the worker
            for job in jobs:
                job.future.set_exception(e)
            return
        self._last_forward = time.perf_counter() - start
        if self._on_batch is not None:
            self._on_batch(len(rows), sum(job.tokens for job in jobs), self._last_forward)
        at = 0
        for job in jobs:
            job.future.set_result(scores[at : at + len(job.rows)])
            at += len(job.rows)

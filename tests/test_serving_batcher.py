"""The dynamic batcher alone, with a fake model that records what it was given: token budget, order,
queue bound, timeouts, drain on close, and a model failure that fails requests but not the worker."""

from __future__ import annotations

import threading
import time

import pytest

from rewardkit.serving.batcher import Batcher, QueueFull


class FakeModel:
    """score = 10 x first token + row length; records each call's rows; can be held at a gate."""

    def __init__(self):
        self.calls: list[list[list[int]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail_next = False

    def __call__(self, rows):
        self.calls.append([list(r) for r in rows])
        self.entered.set()
        self.gate.wait(10)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("model exploded")
        return [10.0 * r[0] + len(r) for r in rows]


def rows(first: int, *lengths: int) -> list[list[int]]:
    return [[first + i] * n for i, n in enumerate(lengths)]


def test_waiting_requests_are_batched_up_to_the_token_budget_and_answered_in_their_own_order():
    model = FakeModel()
    b = Batcher(model, batch_tokens=10, max_wait_ms=0, max_queue=100)
    jobs = [rows(1, 3, 2), rows(5, 4), rows(7, 6), rows(9, 12)]  # 5, 4, 6 and 12 tokens
    futures = [b.submit(r) for r in jobs]  # queued before the worker starts: all waiting at once
    b.start()
    results = [f.result(5) for f in futures]
    b.close()
    # budget 10: [5 + 4], then [6] (6 + 12 > 10), then [12] alone (over budget, but a job is never split)
    assert [len(c) for c in model.calls] == [3, 1, 1]
    assert model.calls[0] == [[1, 1, 1], [2, 2], [5, 5, 5, 5]]
    assert results == [[13.0, 22.0], [54.0], [76.0], [102.0]]
    assert b.pending == 0


def test_the_worker_waits_max_wait_for_more_requests_then_scores_them_together():
    model = FakeModel()
    b = Batcher(model, batch_tokens=1000, max_wait_ms=300, max_queue=100)
    b.start()
    first = b.submit(rows(1, 2))
    time.sleep(0.05)  # well inside the 300 ms window
    second = b.submit(rows(2, 3))
    assert first.result(5) == [12.0] and second.result(5) == [23.0]
    assert len(model.calls) == 1  # one forward for both
    b.close()


class SlowModel(FakeModel):
    def __call__(self, rows):
        time.sleep(0.2)
        return super().__call__(rows)


def test_the_wait_is_a_fraction_of_the_last_forward_capped_at_max_wait():
    model = SlowModel()
    b = Batcher(model, batch_tokens=1000, max_wait_ms=300, max_queue=100, wait_fraction=0.5)
    assert b.window() == 0.3  # no forward yet: max_wait
    b.start()
    b.submit(rows(1, 2)).result(5)
    assert 0.1 <= b.window() <= 0.3  # half of a >= 0.2 s forward, at most 300 ms
    b._last_forward = 10.0
    assert b.window() == 0.3
    b._last_forward = 0.2
    second = b.submit(rows(2, 3))
    time.sleep(0.03)  # inside the ~100 ms window: one forward for both
    third = b.submit(rows(3, 4))
    assert second.result(5) == [23.0] and third.result(5) == [34.0]
    assert [len(c) for c in model.calls] == [1, 2]
    b.close()
    assert Batcher(model, batch_tokens=1, max_wait_ms=7, max_queue=1).window() == 0.007  # no fraction: fixed


def test_wait_fraction_zero_never_waits_after_the_first_forward():
    model = SlowModel()
    b = Batcher(model, batch_tokens=1000, max_wait_ms=300, max_queue=100, wait_fraction=0.0)
    b.start()
    b.submit(rows(1, 2)).result(5)
    second = b.submit(rows(2, 3))
    time.sleep(0.05)  # the worker is already scoring `second` alone
    third = b.submit(rows(3, 4))
    assert second.result(5) == [23.0] and third.result(5) == [34.0]
    assert [len(c) for c in model.calls] == [1, 1, 1]
    b.close()


def test_a_full_queue_refuses_and_close_answers_what_was_queued():
    model = FakeModel()
    model.gate.clear()  # the model is busy with the first request
    b = Batcher(model, batch_tokens=1, max_wait_ms=0, max_queue=3)
    b.start()
    busy = b.submit(rows(1, 1))
    assert model.entered.wait(5)  # taken off the queue: pending is back to 0
    queued = [b.submit(rows(2, 1, 1)), b.submit(rows(4, 1))]
    assert b.pending == 3
    with pytest.raises(QueueFull, match="max_queue=3"):
        b.submit(rows(5, 1))
    closer = threading.Thread(target=b.close)
    closer.start()
    time.sleep(0.05)
    with pytest.raises(QueueFull, match="shutting down"):
        b.submit(rows(6, 1))
    model.gate.set()
    closer.join(5)
    assert busy.result(0) == [11.0] and [q.result(0) for q in queued] == [[21.0, 31.0], [41.0]]
    assert not b.alive


def test_a_request_cancelled_while_queued_is_never_scored():
    model = FakeModel()
    model.gate.clear()
    b = Batcher(model, batch_tokens=1, max_wait_ms=0, max_queue=10)
    b.start()
    b.submit(rows(1, 1))
    assert model.entered.wait(5)
    dropped, kept = b.submit(rows(2, 1)), b.submit(rows(3, 1))
    assert dropped.cancel()  # what a request timeout does
    model.gate.set()
    assert kept.result(5) == [31.0]
    b.close()
    assert model.calls == [[[1]], [[3]]]


def test_a_model_failure_fails_its_requests_and_the_worker_goes_on():
    model = FakeModel()
    model.fail_next = True
    b = Batcher(model, batch_tokens=100, max_wait_ms=0, max_queue=10)
    b.start()
    with pytest.raises(RuntimeError, match="exploded"):
        b.submit(rows(1, 2)).result(5)
    assert b.submit(rows(2, 2)).result(5) == [22.0]
    assert b.alive
    b.close()


def test_plan_min_padding_splits_mixed_lengths_where_the_padding_saved_pays_for_a_pass():
    from rewardkit.data.batching import plan_min_padding

    # lengths 10, 9, 2, 2 and a pass costing 5 tokens: one batch 4x10+5 = 45; [10,9] [2,2] 20+5+4+5 = 34;
    # [10] [9] [2,2] 38; [10,9,2] [2] 42 -> two batches
    assert plan_min_padding([2, 10, 2, 9], 100, 5) == [[1, 3], [0, 2]]
    # a pass costing 20: one batch 40+20 = 60 beats two, 24+40 = 64
    assert plan_min_padding([2, 10, 2, 9], 100, 20) == [[1, 3, 0, 2]]
    # the padded budget still binds (3 x 10 > 20), and a row over it gets a pass of its own
    plan = plan_min_padding([10, 10, 10, 50], 20, 1)  # [10,10] [10]: 20+1+10+1 = 32 < three passes, 33
    assert plan[0] == [3] and sorted(len(b) for b in plan[1:]) == [1, 2]

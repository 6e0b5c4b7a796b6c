"""The step runner: per-step, per-reason counts that match the drop side file pair for pair."""

import json

import pytest

from rewardkit.curation.steps import UNEXPLAINED, DropLog, RunReport, run_steps
from rewardkit.data.pairs import PreferencePair


def pair(i: int, **meta) -> PreferencePair:
    return PreferencePair([{"role": "user", "content": f"q{i}"}], f"good {i}", f"bad {i}", "test/src",
                          source_id=str(i), meta=meta)


class EvenOnly:
    name = "even_only"

    def keep(self, p):
        i = int(p.source_id)
        return (True, "") if i % 2 == 0 else (False, "odd" if i % 3 else "odd multiple of 3")


class NotFive:
    def keep(self, p):  # a bare bool verdict: the runner books it under its default reason
        return p.source_id != "4"


class KeepTopTwo:
    name = "top_two"

    def decide(self, pairs):
        ranked = sorted(pairs, key=lambda p: -int(p.source_id))[:2]
        for p in pairs:
            yield p, p in ranked, None if p in ranked else "not top two"


def test_counts_and_side_file_agree(tmp_path):
    pairs = [pair(i) for i in range(10)]
    report = RunReport()
    with DropLog(tmp_path / "drops.jsonl", full=True) as drops:
        kept = list(run_steps(pairs, [EvenOnly(), NotFive(), KeepTopTwo()], report=report, drops=drops, label="src"))
    # evens 0,2,4,6,8 -> drop 4 -> 0,2,6,8 -> top two: 8, 6 (kept in input order)
    assert [p.source_id for p in kept] == ["6", "8"]
    got = report.as_dict()
    assert got == [
        {"label": "src", "step": "even_only", "seen": 10, "kept": 5, "dropped": {"odd": 3, "odd multiple of 3": 2}},
        {"label": "src", "step": "NotFive", "seen": 5, "kept": 4, "dropped": {"filtered": 1}},
        {"label": "src", "step": "top_two", "seen": 4, "kept": 2, "dropped": {"not top two": 2}},
    ]
    rows = [json.loads(line) for line in (tmp_path / "drops.jsonl").read_text().splitlines()]
    assert len(rows) == 8 == drops.written
    by = {}
    for r in rows:
        by.setdefault((r["step"], r["reason"]), []).append(r["source_id"])
    assert by == {("even_only", "odd"): ["1", "5", "7"], ("even_only", "odd multiple of 3"): ["3", "9"],
                  ("NotFive", "filtered"): ["4"], ("top_two", "not top two"): ["0", "2"]}
    assert all(r["label"] == "src" and r["source"] == "test/src" for r in rows)
    assert rows[0]["pair"]["id"] == pairs[1].id
    # each dropped record carries the whole pair back
    assert PreferencePair.from_dict(rows[0]["pair"]).chosen == "good 1"


def test_plain_callable_step_is_counted():
    def first_three(stream):
        for k, p in enumerate(stream):
            if k < 3:
                yield p

    report = RunReport()
    kept = list(run_steps([pair(i) for i in range(7)], [first_three], report=report, label="x"))
    assert len(kept) == 3
    assert report.as_dict() == [{"label": "x", "step": "first_three", "seen": 7, "kept": 3, "dropped": {UNEXPLAINED: 4}}]


def test_drop_log_is_atomic(tmp_path):
    dest = tmp_path / "drops.jsonl"
    with pytest.raises(RuntimeError), DropLog(dest) as drops:
        list(run_steps([pair(1)], [EvenOnly()], drops=drops))
        raise RuntimeError("crash mid-run")
    assert not dest.exists() and not list(tmp_path.iterdir())


def test_select_must_decide_every_pair():
    class Lossy:
        def decide(self, pairs):
            yield pairs[0], True, None

    with pytest.raises(RuntimeError, match="decided 1 of 2"):
        list(run_steps([pair(1), pair(2)], [Lossy()]))

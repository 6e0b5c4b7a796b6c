"""Composable curation steps and the one runner that counts what each step keeps and drops.

Three kinds of step (after datatrove's one runner, many small steps):

- a **Filter**: any object with ``keep(pair) -> bool | (bool, reason)``; it streams;
- a **Select**: a whole-pool decision (ranking, batched model scoring): ``decide(pairs) ->
  Iterable[(pair, kept, reason)]`` over the materialised list, one decision per input pair;
- a plain **callable** ``Iterator[PreferencePair] -> Iterator[PreferencePair]``; the runner counts
  what goes in and what comes out, and books the difference under ``UNEXPLAINED`` (no side-file rows,
  since the step does not say which pairs it left out). Every built-in step is a Filter or a Select,
  so every count a curation run reports has its pairs in the drop log.

    report = RunReport()
    with DropLog("out/drops.jsonl") as drops:
        kept = list(run_steps(pairs, [AdversarialOnly(), rm_filter], report=report, drops=drops, label="wildguard"))
    report.as_dict()  # seen / kept / dropped-by-reason per step
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rewardkit.data.io import atomic_path
from rewardkit.data.pairs import PreferencePair

UNEXPLAINED = "dropped by a step that gives no reasons"
DEFAULT_REASON = "filtered"


@runtime_checkable
class Filter(Protocol):
    def keep(self, pair: PreferencePair) -> bool | tuple[bool, str]: ...


@runtime_checkable
class Select(Protocol):
    def decide(self, pairs: list[PreferencePair]) -> Iterable[tuple[PreferencePair, bool, str | None]]: ...


Step = Filter | Select | Callable[[Iterator[PreferencePair]], Iterator[PreferencePair]]


def step_name(step: Any) -> str:
    return getattr(step, "name", None) or getattr(step, "__name__", None) or type(step).__name__


@dataclass
class StepStats:
    label: str
    """Which stream the step ran on (a source name, "mix", ...)."""
    step: str
    seen: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    """Dropped pairs by reason."""

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "step": self.step, "seen": self.seen, "kept": self.kept,
                "dropped": dict(self.dropped.most_common())}


@dataclass
class RunReport:
    steps: list[StepStats] = field(default_factory=list)

    def add(self, label: str, step: str) -> StepStats:
        stats = StepStats(label, step)
        self.steps.append(stats)
        return stats

    def as_dict(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self.steps]


class DropLog:
    """The side file of dropped pairs: one JSON line per drop with label, step, reason and the pair's
    provenance (source, config, split, source_id), which find it in its dataset; with ``full=True``
    the whole pair (with its id) too (a full-size Magpie run drops ~300K pairs: gigabytes of text).

    Written to a temporary file beside `path` and renamed into place when the ``with`` block ends
    cleanly, so a crashed run never leaves a complete-looking drop log.
    """

    def __init__(self, path: str | Path, *, full: bool = False):
        self.path = Path(path)
        self.full = full
        self.written = 0
        self._ctx = None
        self._file = None

    def __enter__(self) -> DropLog:
        self._ctx = atomic_path(self.path)
        tmp = self._ctx.__enter__()
        self._file = open(tmp, "w", encoding="utf-8")
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()
        self._ctx.__exit__(*exc)

    def write(self, label: str, step: str, reason: str, pair: PreferencePair) -> None:
        record = {"label": label, "step": step, "reason": reason, "source": pair.source,
                  "source_config": pair.source_config, "source_split": pair.source_split,
                  "source_id": pair.source_id}
        if self.full:  # the content hash only here: hashing 300K dropped pairs costs seconds
            record["pair"] = pair.to_dict()
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.written += 1


def run_steps(
    pairs: Iterable[PreferencePair], steps: list[Step], *, report: RunReport | None = None,
    drops: DropLog | None = None, label: str = "",
) -> Iterator[PreferencePair]:
    """Chain `steps` over `pairs` lazily; each step's seen/kept/dropped-by-reason lands in `report`,
    and each dropped pair (with label, step and reason) in `drops` when given."""
    report = report if report is not None else RunReport()
    stream: Iterator[PreferencePair] = iter(pairs)
    for step in steps:
        stats = report.add(label, step_name(step))
        if isinstance(step, Filter):
            stream = _filtered(stream, step, stats, drops)
        elif isinstance(step, Select):
            stream = _selected(stream, step, stats, drops)
        elif callable(step):
            stream = _called(stream, step, stats)
        else:
            raise TypeError(f"{step!r} is not a curation step (keep(), decide() or a callable)")
    return stream


def _drop(stats: StepStats, drops: DropLog | None, pair: PreferencePair, reason: str) -> None:
    stats.dropped[reason] += 1
    if drops is not None:
        drops.write(stats.label, stats.step, reason, pair)


def _filtered(stream, step: Filter, stats: StepStats, drops) -> Iterator[PreferencePair]:
    for pair in stream:
        stats.seen += 1
        verdict = step.keep(pair)
        keep, reason = verdict if isinstance(verdict, tuple) else (verdict, None)
        if keep:
            stats.kept += 1
            yield pair
        else:
            _drop(stats, drops, pair, reason or DEFAULT_REASON)


def _selected(stream, step: Select, stats: StepStats, drops) -> Iterator[PreferencePair]:
    pool = list(stream)
    stats.seen = len(pool)
    decided = 0
    for pair, keep, reason in step.decide(pool):
        decided += 1
        if keep:
            stats.kept += 1
            yield pair
        else:
            _drop(stats, drops, pair, reason or DEFAULT_REASON)
    if decided != len(pool):
        raise RuntimeError(f"step {stats.step!r} decided {decided} of {len(pool)} pairs; it must decide each once")


def _counting(stream, stats: StepStats) -> Iterator[PreferencePair]:
    for pair in stream:
        stats.seen += 1
        yield pair


def _called(stream, step: Callable, stats: StepStats) -> Iterator[PreferencePair]:
    for pair in step(_counting(stream, stats)):
        stats.kept += 1
        yield pair
    if stats.seen > stats.kept:
        stats.dropped[UNEXPLAINED] += stats.seen - stats.kept

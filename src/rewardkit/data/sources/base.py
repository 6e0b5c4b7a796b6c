"""What every reader shares: spec strings, the read report and bad-row policy, Reader and Source.

A spec string names a reader and where its data is: ``READER:LOCATION[?key=value&...]``.
LOCATION is a local file (jsonl/json/parquet/csv, optionally .gz) or directory, or a hub dataset id;
left empty it is the reader's public hub id. Options after ``?`` are declared per reader
(`options.SourceOptions` and its subclasses). Recipes and every subcommand take the same strings.

A reader is datatrove's `filter()` shape: it maps one `Row` to one pair (`Reader.to_pair`), and the
runner (`runner.map_rows`) owns the loop, the bad-row policy and `checked_pair`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args
from urllib.parse import parse_qsl

from rewardkit.data.io import BadRow, DataError, ensure_parent
from rewardkit.data.pairs import PreferencePair, RefPrompt
from rewardkit.data.sources.options import SourceOptions, parse_options
from rewardkit.data.sources.rows import Dropped, Row
from rewardkit.options import DEFAULT_ON_BAD_ROW, OnBadRow
from rewardkit.recipe import StrictModel

__all__ = ["BadRow", "Dropped", "OnBadRow", "ReadContext", "ReadReport", "Reader", "RefPrompt", "Row", "Source",
           "Spec", "fresh_quarantine", "parse_spec"]


@dataclass(frozen=True)
class Spec:
    reader: str
    location: str
    options: dict[str, str]

    def __str__(self) -> str:
        opts = "&".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.reader}:{self.location}" + (f"?{opts}" if opts else "")


def parse_spec(text: str) -> Spec:
    """Parse ``READER:LOCATION[?k=v&...]``. The reader name is everything before the first colon; an
    option given twice is an error (the last one used to win silently)."""
    reader, sep, rest = text.partition(":")
    if not sep and not reader:
        raise ValueError(f"bad data spec {text!r}: expected READER:PATH_OR_HUB_ID")
    location, _, query = rest.partition("?")
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in options:
            raise ValueError(f"{text}: option {key!r} given twice")
        options[key] = value
    return Spec(reader.strip(), location.strip(), options)


class ReadCounts(StrictModel):
    """A ReadReport as written into stage outputs (counts.json, results.json, the training log)."""

    spec: str
    rows_read: int
    pairs: int
    skipped: dict[str, int]
    dropped: dict[str, int]


@dataclass
class ReadReport:
    """Counts for one spec: nothing read is unaccounted for."""

    spec: str
    rows_read: int = 0
    pairs: int = 0
    skipped: Counter = field(default_factory=Counter)
    """Broken rows (skip mode only), by "field: reason"."""
    dropped: Counter = field(default_factory=Counter)
    """Rows a dataset's own rules leave out (HelpSteer2 ties, HH-RLHF's empty replies), by reason."""

    def as_dict(self) -> dict[str, Any]:
        """The counts as a ReadCounts validates them."""
        return {"spec": self.spec, "rows_read": self.rows_read, "pairs": self.pairs,
                "skipped": dict(self.skipped), "dropped": dict(self.dropped)}

    def summary(self) -> str:
        parts = [f"{self.spec}: {self.rows_read} rows read, {self.pairs} produced"]
        if self.skipped:
            parts.append("skipped " + ", ".join(f"{n} {r}" for r, n in self.skipped.most_common()))
        if self.dropped:
            parts.append("dropped by rule " + ", ".join(f"{n} {r}" for r, n in self.dropped.most_common()))
        return "; ".join(parts)


class ReadContext:
    """The bad-row policy and report of one read.

    on_bad_row="error" (the default) raises a broken row's BadRow; "skip" counts it by reason. Rows a
    dataset's rule drops are counted whatever the policy. With a quarantine path, both kinds are
    appended there as JSONL: location, field, reason, what happened ("skipped"/"dropped") and the raw row.
    """

    def __init__(self, spec: str, on_bad_row: OnBadRow = DEFAULT_ON_BAD_ROW, quarantine: str | Path | None = None):
        if on_bad_row not in get_args(OnBadRow):
            raise ValueError(f"on_bad_row must be one of {get_args(OnBadRow)}, not {on_bad_row!r}")
        self.report = ReadReport(spec)
        self.on_bad_row = on_bad_row
        self.quarantine = Path(quarantine) if quarantine else None
        self._qfile = None

    def bad(self, err: BadRow, raw: Any = None) -> None:
        if self.on_bad_row == "error":
            raise err
        reason = f"{err.field}: {_reason_kind(err.reason)}" if err.field else _reason_kind(err.reason)
        self.report.skipped[reason] += 1
        self._quarantine({"file": err.file, "row": err.row, "field": err.field, "reason": err.reason,
                          "action": "skipped", "raw": raw})

    def drop(self, reason: str, n: int = 1, *, row: Row | None = None, detail: str = "",
             field: str | None = None) -> None:
        """Count `n` rows left out by a dataset's rule; a single row is also quarantined."""
        self.report.dropped[reason] += n
        if row is not None:
            self._quarantine({"file": row.file, "row": row.line, "field": field, "reason": reason,
                              "detail": detail, "action": "dropped", "raw": row.data})

    def _quarantine(self, record: dict[str, Any]) -> None:
        if self.quarantine is None:
            return
        if self._qfile is None:
            ensure_parent(self.quarantine)
            # Appends: several reads of one run may share a file. A run starts its file afresh
            # (fresh_quarantine) so it never holds rows of an earlier run.
            try:
                self._qfile = open(self.quarantine, "a", encoding="utf-8")
            except OSError as e:
                raise DataError(f"{self.quarantine}: cannot write the quarantine file ({e.strerror or e})") from None
        self._qfile.write(json.dumps({"spec": self.report.spec, **record}, ensure_ascii=False, default=str) + "\n")
        self._qfile.flush()

    def close(self) -> None:
        if self._qfile is not None:
            self._qfile.close()
            self._qfile = None


def fresh_quarantine(path: str | Path | None) -> Path | None:
    """Start a run's quarantine file empty, so its rows always agree with the run's counts."""
    if path is None:
        return None
    if not _is_quarantine(Path(path)):
        raise DataError(f"{path}: exists and is not a quarantine file rewardkit wrote; move it away "
                        "(rewardkit never overwrites or removes files it did not write)")
    try:
        Path(path).unlink(missing_ok=True)
    except OSError as e:  # a file where a directory should be, no permission
        raise DataError(f"{path}: cannot write the quarantine file ({e.strerror or e})") from None
    return Path(path)


def _reason_kind(reason: str) -> str:
    """The reason without row-specific detail, so counts group ("invalid JSON (...)" -> "invalid JSON")."""
    return reason.split(" (")[0]


@dataclass(frozen=True)
class Reader:
    name: str
    hub_id: str
    description: str
    to_pair: Callable[[Row, Source], PreferencePair] | None = None
    """One row -> its pair (raising BadRow or Dropped); `map_rows` does the rest."""
    read: Callable[[Source, ReadContext], Iterator[PreferencePair]] | None = None
    """For readers that need more than one row per pair (or a check before the first): the whole read,
    built on `runner.each_row` or `runner.map_rows`."""
    options: type[SourceOptions] = SourceOptions
    """The `?key=value` options this reader takes."""
    default_split: str = "train"
    default_config: str | None = None
    read_prompts: Callable[[Spec, ReadContext], Iterator[RefPrompt]] | None = None
    """For prompt-only datasets (XSTest prompts): their prompts. Pair datasets leave it None and
    decontamination takes each pair's prompt."""


@dataclass(frozen=True)
class Source:
    """A spec resolved against its reader: the typed options, and where and what to read."""

    spec: Spec
    reader: Reader
    options: Any  # the reader's SourceOptions subclass

    @classmethod
    def of(cls, spec: Spec, reader: Reader) -> Source:
        return cls(spec, reader, parse_options(reader.options, spec.options, str(spec)))

    @property
    def location(self) -> str:
        return self.spec.location or self.reader.hub_id

    @property
    def split(self) -> str:
        return self.options.split or self.reader.default_split

    @property
    def config(self) -> str | None:
        return self.options.config or self.reader.default_config

    def pair(self, row: Row, **fields: Any) -> PreferencePair:
        """A pair from this source: hub id, split and the row number as id, unless `fields` say otherwise."""
        defaults = {"source": self.reader.hub_id, "source_split": self.split, "source_id": str(row.line)}
        return PreferencePair(**{**defaults, **fields})


def _is_quarantine(path: Path) -> bool:
    """Absent, empty, or its first line a quarantine record ({"spec": ...}: ReadContext writes them)."""
    try:
        with path.open("rb") as f:
            first = f.readline(1 << 20)
    except FileNotFoundError:
        return True
    except IsADirectoryError:
        return False
    except OSError:
        return True  # unreadable: the unlink reports it
    if not first.strip():
        return True
    try:
        return isinstance(record := json.loads(first), dict) and "spec" in record
    except ValueError:
        return False

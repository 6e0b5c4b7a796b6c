"""What every reader shares: spec strings, the bad-row policy, the read report, row iteration.

A spec string names a reader and where its data is: ``READER:LOCATION[?key=value&...]``.
LOCATION is a local file (jsonl/json/parquet/csv, optionally .gz) or directory, or a hub dataset id;
left empty it is the reader's public hub id. Options after ``?`` go to the reader (``split=raw``,
``config=...``, column mappings for ``generic``). Recipes and every subcommand take the same strings.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from rewardkit.data.io import LOCAL_SUFFIXES, BadRow, base_suffix, iter_file_rows
from rewardkit.data.pairs import PreferencePair, RefPrompt
from rewardkit.options import OnBadRow


@dataclass(frozen=True)
class Spec:
    reader: str
    location: str
    options: dict[str, str]

    def __str__(self) -> str:
        opts = "&".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.reader}:{self.location}" + (f"?{opts}" if opts else "")


def parse_spec(text: str) -> Spec:
    """Parse ``READER:LOCATION[?k=v&...]``. The reader name is everything before the first colon."""
    reader, sep, rest = text.partition(":")
    if not sep and not reader:
        raise ValueError(f"bad data spec {text!r}: expected READER:PATH_OR_HUB_ID")
    location, _, query = rest.partition("?")
    return Spec(reader.strip(), location.strip(), dict(parse_qsl(query, keep_blank_values=True)))


@dataclass
class ReadReport:
    """Counts for one spec: nothing read is unaccounted for."""

    spec: str
    rows_read: int = 0
    pairs: int = 0
    skipped: Counter = field(default_factory=Counter)
    """Bad rows (skip mode only), by reason."""
    dropped: Counter = field(default_factory=Counter)
    """Rows a dataset's own rule leaves out (e.g. HelpSteer2 helpfulness ties), by reason."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "rows_read": self.rows_read,
            "pairs": self.pairs,
            "skipped": dict(self.skipped),
            "dropped": dict(self.dropped),
        }

    def summary(self) -> str:
        parts = [f"{self.spec}: {self.rows_read} rows read, {self.pairs} produced"]
        if self.skipped:
            parts.append("skipped " + ", ".join(f"{n} {r}" for r, n in self.skipped.most_common()))
        if self.dropped:
            parts.append("dropped by rule " + ", ".join(f"{n} {r}" for r, n in self.dropped.most_common()))
        return "; ".join(parts)


class ReadContext:
    """The bad-row policy and report of one read.

    on_bad_row="error" (the default) raises the BadRow; "skip" counts it by reason and, when a
    quarantine path is given, appends the row's location, reason and raw content there as JSONL.
    """

    def __init__(self, spec: str, on_bad_row: OnBadRow = "error", quarantine: str | Path | None = None):
        if on_bad_row not in ("error", "skip"):
            raise ValueError(f"on_bad_row must be 'error' or 'skip', not {on_bad_row!r}")
        self.report = ReadReport(spec)
        self.on_bad_row = on_bad_row
        self.quarantine = Path(quarantine) if quarantine else None
        self._qfile = None

    def bad(self, err: BadRow, raw: Any = None) -> None:
        if self.on_bad_row == "error":
            raise err
        reason = f"{err.field}: {_reason_kind(err.reason)}" if err.field else _reason_kind(err.reason)
        self.report.skipped[reason] += 1
        if self.quarantine is not None:
            if self._qfile is None:
                self.quarantine.parent.mkdir(parents=True, exist_ok=True)
                # Appends: several reads of one run may share a file. A run starts its file afresh
                # (fresh_quarantine) so it never holds rows of an earlier run.
                self._qfile = open(self.quarantine, "a", encoding="utf-8")
            record = {"spec": self.report.spec, "file": err.file, "row": err.row, "field": err.field,
                      "reason": err.reason, "raw": raw}
            self._qfile.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            self._qfile.flush()

    def drop(self, reason: str, n: int = 1) -> None:
        self.report.dropped[reason] += n

    def close(self) -> None:
        if self._qfile is not None:
            self._qfile.close()
            self._qfile = None


def fresh_quarantine(path: str | Path | None) -> Path | None:
    """Start a run's quarantine file empty, so its rows always agree with the run's counts."""
    if path is None:
        return None
    Path(path).unlink(missing_ok=True)
    return Path(path)


def _reason_kind(reason: str) -> str:
    """The reason without row-specific detail, so counts group ("invalid JSON (...)" -> "invalid JSON")."""
    return reason.split(" (")[0]


ReadFn = Callable[[Spec, ReadContext], Iterator[PreferencePair]]


@dataclass(frozen=True)
class Reader:
    name: str
    hub_id: str
    read: ReadFn
    description: str
    default_split: str = "train"
    default_config: str | None = None
    read_prompts: Callable[[Spec, ReadContext], Iterator[RefPrompt]] | None = None
    """For prompt-only datasets (XSTest prompts): their prompts. Pair datasets leave it None and
    decontamination takes each pair's prompt."""


def resolve_location(spec: Spec, reader: Reader) -> str:
    return spec.location or reader.hub_id


def split_of(spec: Spec, reader: Reader) -> str:
    """The split a spec reads: its `?split=` option, else the reader's default."""
    return spec.options.get("split", reader.default_split)


def iter_source_rows(
    spec: Spec, reader: Reader, ctx: ReadContext, *, split: str | None = None, config: str | None = None
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Yield (file, row number, row) for a spec: local file(s) or a hub dataset.

    Undecodable rows go through the context's bad-row policy and are not yielded. Every yielded row is
    counted in `rows_read` here, so readers only count what they produce or drop.
    """
    location = resolve_location(spec, reader)
    split = spec.options.get("split", split) or split_of(spec, reader)
    config = spec.options.get("config", config or reader.default_config)
    if os.path.exists(location):
        for path in _local_files(location, split):
            for rownum, row in iter_file_rows(path):
                ctx.report.rows_read += 1
                if isinstance(row, BadRow):
                    ctx.bad(row)
                    continue
                yield str(path), rownum, row
        return
    looks_like_path = location.startswith((".", "/", "~")) or base_suffix(location) in LOCAL_SUFFIXES
    if looks_like_path or location.count("/") != 1:
        raise FileNotFoundError(f"{spec}: no such file or directory, and not a hub id: {location}")
    yield from _hub_rows(location, config, split, ctx, data_dir=spec.options.get("data_dir"))


def _local_files(location: str, split: str) -> list[Path]:
    """A file is itself; a directory holds one file per split, found by name (train.jsonl.gz,
    data/train-00000-of-00002.parquet, ...), or a single data file."""
    p = Path(location)
    if p.is_file():
        return [p]
    files = sorted(f for f in p.rglob("*") if f.is_file() and base_suffix(f) in LOCAL_SUFFIXES)
    for_split = [f for f in files if f.name.startswith(split)] or [f for f in files if f.parent.name == split]
    if for_split:
        return for_split
    if len(files) == 1:
        return files
    raise FileNotFoundError(f"{location}: no data file for split {split!r} among {[str(f) for f in files][:10]}")


def _hub_rows(hub_id: str, config: str | None, split: str, ctx: ReadContext, data_dir: str | None = None):
    import datasets

    # data_dir: datasets published as folders rather than configs (HH-RLHF's harmless-base, ...)
    ds = datasets.load_dataset(hub_id, config, split=split, data_dir=data_dir)
    for i, row in enumerate(ds, 1):
        ctx.report.rows_read += 1
        yield f"{hub_id}[{split}]", i, row


# --- field checks shared by readers -----------------------------------------------------------------

def get_field(row: dict[str, Any], name: str, kind: type | tuple[type, ...], file: str, rownum: int,
              *, nonempty: bool = False) -> Any:
    """row[name], checked: present, of `kind`, and non-blank when `nonempty`. Raises BadRow otherwise."""
    if name not in row:
        raise BadRow(file, rownum, name, f"missing field (row has {sorted(row)[:12]})")
    value = row[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise BadRow(file, rownum, name, f"wrong type (expected {want}, got {type(value).__name__})")
    if nonempty and isinstance(value, str) and not value.strip():
        raise BadRow(file, rownum, name, "empty text")
    return value


def check_columns(row: dict[str, Any], expected: set[str], spec: Spec, file: str) -> None:
    """For schemas docs/schemas.md marks inferred: fail on first load naming what was expected and found."""
    missing = expected - set(row)
    if missing:
        raise ValueError(
            f"{spec} ({file}): the schema does not match: expected columns {sorted(expected)}, "
            f"missing {sorted(missing)}; found {sorted(row)}"
        )


def checked_pair(pair: PreferencePair, file: str, rownum: int) -> PreferencePair:
    """The checks every pair gets: non-empty responses, chosen different from rejected."""
    if not pair.chosen.strip():
        raise BadRow(file, rownum, "chosen", "empty text")
    if not pair.rejected.strip():
        raise BadRow(file, rownum, "rejected", "empty text")
    if pair.chosen == pair.rejected:
        raise BadRow(file, rownum, "chosen", "chosen identical to rejected")
    return pair

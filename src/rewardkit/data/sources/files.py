"""Where a source's rows come from: local files (by split inside a folder) or a hub dataset, as `Row`s.

Undecodable rows (invalid JSON, invalid UTF-8) go through the read's bad-row policy here and are not
yielded; every row read, good or bad, is counted in the report's `rows_read` here, so readers only
account for what they produce or drop.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from rewardkit.data.io import LOCAL_SUFFIXES, BadRow, base_suffix, iter_file_rows
from rewardkit.data.sources.base import ReadContext, Source
from rewardkit.data.sources.rows import Row


def source_rows(src: Source, ctx: ReadContext, *, location: str | None = None) -> Iterator[Row]:
    """The rows of `src` (or of `location`, a file of the same source, read with its options); with
    `?every=N`, every N-th row of each file (the others are not read: not counted, not checked)."""
    location = location or src.location
    split, every = src.split, src.options.every
    if os.path.exists(location):
        for path in _local_files(location, split):
            for position, (rownum, data) in enumerate(iter_file_rows(path)):
                if position % every:  # by position: jsonl and csv row numbers are file lines
                    continue
                ctx.report.rows_read += 1
                if isinstance(data, BadRow):
                    ctx.bad(data)
                    continue
                yield Row(str(path), rownum, data)
        return
    looks_like_path = location.startswith((".", "/", "~")) or base_suffix(location) in LOCAL_SUFFIXES
    if looks_like_path or location.count("/") != 1:
        raise FileNotFoundError(f"{src.spec}: no such file or directory, and not a hub id: {location}")
    yield from _hub_rows(location, src.config, split, ctx, data_dir=src.options.data_dir, every=every)


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


def _hub_rows(hub_id: str, config: str | None, split: str, ctx: ReadContext,
              data_dir: str | None = None, every: int = 1) -> Iterator[Row]:
    import datasets

    # data_dir: datasets published as folders rather than configs (HH-RLHF's harmless-base, ...)
    ds = datasets.load_dataset(hub_id, config, split=split, data_dir=data_dir)
    for i, data in enumerate(ds, 1):
        if (i - 1) % every:
            continue
        ctx.report.rows_read += 1
        yield Row(f"{hub_id}[{split}]", i, data)

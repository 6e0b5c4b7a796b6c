"""File I/O at the edges: rows in (with their line/row numbers), pairs out, atomically.

Local files are read here rather than through `datasets.load_dataset` because a bad row must be reported
by file and line; the hub path goes through `datasets` (see `sources.files.source_rows`).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rewardkit.data.pairs import PreferencePair
from rewardkit.errors import check_replaceable_dir, mark_owned

LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


class DataError(ValueError):
    """Input or output that cannot be used, in one line naming the file (and line where there is one):
    an unreadable or truncated file, a mislabelled format, an output path that cannot be written."""


class BadRow(DataError):
    """A row that cannot be used, located precisely: file, 1-based line/row number, field and reason."""

    def __init__(self, file: str, row: int | None, field: str | None, reason: str):
        self.file, self.row, self.field, self.reason = file, row, field, reason
        where = file + (f":{row}" if row is not None else "")
        super().__init__(f"{where}: field {field!r}: {reason}" if field else f"{where}: {reason}")


def base_suffix(path: str | Path) -> str:
    """'.jsonl' for 'x.jsonl.gz' as for 'x.jsonl'."""
    p = Path(path)
    return Path(p.stem).suffix.lower() if p.suffix.lower() == ".gz" else p.suffix.lower()


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw line) of a file, gzip-decompressed for .gz; failures as DataError."""
    lineno = 0
    try:
        with (gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")) as f:
            for lineno, raw in enumerate(f, 1):
                yield lineno, raw
    except gzip.BadGzipFile:
        raise DataError(f"{path}: not a gzip file (the .gz name says it is)") from None
    except (EOFError, zlib.error) as e:
        raise DataError(f"{path}: truncated or corrupt gzip file after line {lineno} ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


def _decoded(path: Path, lineno: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRow(str(path), lineno, None, f"invalid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})") from None


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Decoded lines; a line that is not UTF-8 stops the read (csv and json records may span lines)."""
    for lineno, raw in _lines(path):
        try:
            yield lineno, _decoded(path, lineno, raw)
        except BadRow as e:
            raise DataError(str(e)) from None


def iter_file_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    """Yield (row number, row dict) from a local jsonl/json/parquet/csv file (optionally .gz).

    Row numbers are 1-based file lines for jsonl and csv (the line a record starts on), and 1-based
    record indices for json arrays and parquet. Undecodable rows come as a BadRow in place of the row,
    which the caller's policy turns into an error or a quarantined row; a file that cannot be read at
    all raises DataError.
    """
    path = Path(path)
    readers = {".jsonl": _jsonl_rows, ".json": _json_rows, ".parquet": _parquet_rows, ".csv": _csv_rows}
    kind = base_suffix(path)
    if kind not in readers:
        raise DataError(f"{path}: unsupported file type {kind!r}; expected one of {LOCAL_SUFFIXES} (optionally .gz)")
    yield from readers[kind](path)


SURROGATE_REASON = "a lone UTF-16 surrogate escape, half of a character (the text was cut or mis-encoded)"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def lone_surrogate(value: Any, where: str = "") -> str | None:
    """The place (`a.b[2]`) of the first string in parsed JSON that holds a lone UTF-16 surrogate, else None.

    JSON may escape half of a surrogate pair ("\\ud800") and Python's json accepts it, but the string is
    not text: UTF-8 cannot encode it and every tokenizer refuses it (a file cut mid-character, usually)."""
    stack = [(where, value)]  # depth-first, in document order, without recursion (JSON may nest deeply)
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                return f"{where or 'the value'} (character {e.start})"
        elif isinstance(value, dict):
            stack += reversed([(f"{where}.{k}" if where else str(k), v) for k, v in value.items()])
        elif isinstance(value, list):
            stack += reversed([(f"{where}[{i}]", v) for i, v in enumerate(value)])
    return None


def check_surrogates(text: str, value: Any) -> str | None:
    """lone_surrogate(value), looked for only when the JSON `text` escapes a surrogate at all (cheap)."""
    return lone_surrogate(value) if _SURROGATE_ESCAPE.search(text) else None


def _surrogate_row(path: Path, lineno: int, line: str, row: Any) -> BadRow | None:
    where = check_surrogates(line, row)
    if where is None:
        return None
    return BadRow(str(path), lineno, None, f"{where}: {SURROGATE_REASON}")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    for lineno, raw in _lines(path):
        try:
            line = _decoded(path, lineno, raw)
        except BadRow as e:
            yield lineno, e
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            yield lineno, BadRow(str(path), lineno, None, f"invalid JSON ({e.msg} at column {e.colno})")
            continue
        if not isinstance(row, dict):
            yield lineno, BadRow(str(path), lineno, None, f"expected a JSON object, got {type(row).__name__}")
            continue
        yield lineno, _surrogate_row(path, lineno, line, row) or row


def _json_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    text = "".join(line for _, line in _text_lines(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadRow(str(path), e.lineno, None, f"invalid JSON ({e.msg})") from None
    if isinstance(data, dict):  # {"data": [...]} or column-oriented files are not row lists
        data = data.get("data", data.get("rows"))
    if not isinstance(data, list):
        raise BadRow(str(path), None, None, "expected a JSON array of objects (or a .jsonl file)")
    scan = bool(_SURROGATE_ESCAPE.search(text))
    for i, row in enumerate(data, 1):
        if not isinstance(row, dict):
            yield i, BadRow(str(path), i, None, "expected a JSON object")
        else:
            where = lone_surrogate(row) if scan else None
            yield i, BadRow(str(path), i, None, f"{where}: {SURROGATE_REASON}") if where else row


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=2048)
        n = 0
        for batch in batches:
            for row in batch.to_pylist():
                n += 1
                yield n, row
    except pa.ArrowException as e:  # not parquet, truncated, unreadable
        raise DataError(f"{path}: not a readable parquet file ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    csv.field_size_limit(sys.maxsize)
    reader = csv.DictReader(line for _, line in _text_lines(path))
    start = 2  # the line a record starts on: after the header, then after the previous record (records may span lines)
    for row in reader:
        yield start, row
        start = reader.line_num + 1


def ensure_parent(dest: Path) -> None:
    """Create dest's directory, or say in one line why it cannot be (a file in the way, no permission)."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataError(f"{dest}: cannot write: a parent path is a file, not a directory") from None
    except OSError as e:
        raise DataError(f"{dest}: cannot write ({e.strerror or e})") from None


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; rename it onto `dest` only if the block finishes.

    A crash or kill mid-write leaves at most a `.tmp-*` file, never a complete-looking `dest`.
    """
    dest = Path(dest)
    ensure_parent(dest)
    if dest.is_dir():
        raise DataError(f"{dest}: cannot write: it is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".tmp-{dest.name}.", dir=dest.parent)
    except OSError as e:
        raise DataError(f"{dest}: cannot write ({e.strerror or e})") from None
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(dest: str | Path, *, marker: str, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside `dest`; rename it onto `dest` only if the block finishes.

    The new directory holds errors.OWNED_MARKER. For caches: when another process renamed its own
    complete copy first (dest/marker exists), ours is discarded. With `replace`, an existing `dest` is
    swapped out and removed, and only if rewardkit wrote it (errors.check_output_dir: refused before the
    block runs otherwise). A killed write leaves only a `.tmp-*` directory.
    """
    dest = Path(dest)
    if replace:
        check_replaceable_dir(dest)
    ensure_parent(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{dest.name}.", dir=dest.parent))
    try:
        yield tmp
        mark_owned(tmp, sorted(p.name for p in tmp.iterdir()))
        if replace and dest.exists():
            check_replaceable_dir(dest)  # again: a file may have been put there while we wrote
            old = Path(tempfile.mkdtemp(prefix=f".tmp-old-{dest.name}.", dir=dest.parent))
            os.rename(dest, old / "d")  # swap: dest is never missing a complete copy for long
            os.rename(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
            return
        try:
            os.rename(tmp, dest)
        except OSError:
            if not (dest / marker).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(dest: str | Path, text: str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(dest: str | Path, obj: Any) -> None:
    write_text_atomic(dest, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_jsonl_atomic(dest: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with atomic_path(dest) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_pairs(dest: str | Path, pairs: Iterable[PreferencePair]) -> int:
    """Write pairs as .jsonl or .parquet (by extension), atomically. Returns the number written."""
    kind = Path(dest).suffix.lower()
    if kind == ".jsonl":
        return write_jsonl_atomic(dest, (p.to_dict() for p in pairs))
    if kind == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = [p.to_dict() for p in pairs]
        table = pa.Table.from_pylist(rows, schema=pair_schema())
        with atomic_path(dest) as tmp:
            pq.write_table(table, tmp)
        return len(rows)
    raise ValueError(f"{dest}: pairs are written as .jsonl or .parquet, not {kind!r}")


def read_pair_file(path: str | Path) -> Iterator[PreferencePair]:
    """Read pairs written by `write_pairs` (the `pairs:` reader wraps this with bad-row handling; a spec
    string is read by `rewardkit.data.sources.read_pairs`)."""
    for _, row in iter_file_rows(path):
        if isinstance(row, BadRow):
            raise row
        yield PreferencePair.from_dict(row)


def pair_schema():
    """The Arrow schema of a pairs file; a function so that importing io does not import pyarrow."""
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema(
        [
            ("id", pa.string()),
            ("prompt", pa.list_(message)),
            ("chosen", pa.string()),
            ("rejected", pa.string()),
            ("source", pa.string()),
            ("source_config", pa.string()),
            ("source_split", pa.string()),
            ("source_id", pa.string()),
            ("meta", pa.string()),
        ]
    )

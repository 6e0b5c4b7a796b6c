"""The one row loop: a reader maps a row to a pair (or a record), the runner does everything else —
the bad-row policy for broken rows, counting (and quarantining) the rows a rule drops, and the rule
every pair meets (`checked_pair`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from rewardkit.data.conversation import why_invalid
from rewardkit.data.io import BadRow
from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import ReadContext, Source
from rewardkit.data.sources.files import source_rows
from rewardkit.data.sources.rows import Dropped, Row

T = TypeVar("T")


def each_row(rows: Iterable[Row], ctx: ReadContext, fn: Callable[[Row], T]) -> Iterator[T]:
    """The row loop every reader shares: `fn(row)`'s results; a BadRow goes through the bad-row
    policy, a Dropped is counted (and quarantined) by its reason."""
    for row in rows:
        try:
            out = fn(row)
        except BadRow as e:
            ctx.bad(e, row.data)
            continue
        except Dropped as d:
            ctx.drop(d.reason, row=row, detail=d.detail, field=d.field)
            continue
        yield out


def counted(read: Callable[[Source, ReadContext], Iterable[T]], src: Source, ctx: ReadContext) -> Iterator[T]:
    """The records of `read(src, ctx)` (pairs or sets), each counted in the report's `pairs`; the read's
    quarantine file is closed when the stream ends, however it ends."""
    try:
        for record in read(src, ctx):
            ctx.report.pairs += 1
            yield record
    finally:
        ctx.close()


def map_rows(src: Source, ctx: ReadContext, *, columns: set[str] | None = None) -> Iterator[PreferencePair]:
    """A one-row-one-pair reader's whole read: its rows, mapped by `to_pair`, checked by `checked_pair`.
    `columns`: for inferred schemas, checked on the first row (a mismatch fails naming them)."""
    to_pair = src.reader.to_pair
    rows = source_rows(src, ctx)
    if columns:
        rows = _first_checked(rows, columns, src)
    yield from each_row(rows, ctx, lambda row: checked_pair(to_pair(row, src)))


def _first_checked(rows: Iterator[Row], expected: set[str], src: Source) -> Iterator[Row]:
    for i, row in enumerate(rows):
        if i == 0:
            missing = expected - set(row.data)
            if missing:
                raise ValueError(f"{src.spec} ({row.file}): the schema does not match: expected columns "
                                 f"{sorted(expected)}, missing {sorted(missing)}; found {sorted(row.data)}")
        yield row


def checked_pair(pair: PreferencePair) -> PreferencePair:
    """The rule every pair meets (`rewardkit.data.conversation`): a valid prompt ending with the user,
    non-blank responses, chosen different from rejected. Anything else is dropped, by named reason."""
    problem = why_invalid(pair.prompt, ends_with="user")
    if problem is not None:
        raise Dropped(f"prompt: {problem.rule}", str(problem), "prompt")
    for name in ("chosen", "rejected"):
        if not getattr(pair, name).strip():
            raise Dropped(f"{name}: empty response", field=name)
    if pair.chosen == pair.rejected:
        raise Dropped("chosen identical to rejected")
    return pair

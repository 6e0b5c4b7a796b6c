"""One input row that knows where it is (file, 1-based line or record number) and reads its fields typed.

    row.field("label", int)                 # present, an int (not a bool): else BadRow naming the field
    row.field("prompt", str, nonempty=True) # ... and not blank
    row.optional("primary_tag", str)        # None when missing or null, else checked like field()
    row.label("final_label", FINAL)         # one of a dict's keys -> its value

A broken row (missing or mistyped field, unknown label) raises BadRow, which the runner turns into an
error or a quarantined row; a row the dataset's own rules leave out raises Dropped (`row.drop(reason)`),
which is counted by reason whatever the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from rewardkit.data.io import BadRow

T = TypeVar("T")
Kind = type | tuple[type, ...]


class Dropped(Exception):
    """A row a dataset's own rule leaves out (a tie, an empty reply, HH's irregular transcripts): not an
    error. `reason` is the name it is counted under in read reports and quarantine files; `field` the
    field it concerns, when one does."""

    def __init__(self, reason: str, detail: str = "", field: str | None = None):
        self.reason, self.detail, self.field = reason, detail, field
        super().__init__(f"{reason} ({detail})" if detail else reason)


class Row:
    """A decoded input row (`data`) with its file and line, and typed access to its fields."""

    __slots__ = ("file", "line", "data")

    def __init__(self, file: str, line: int | None, data: dict[str, Any]):
        self.file, self.line, self.data = file, line, data

    def bad(self, field: str | None, reason: str) -> BadRow:
        """The BadRow for this row (raise it)."""
        return BadRow(self.file, self.line, field, reason)

    def drop(self, reason: str, detail: str = "", field: str | None = None) -> Dropped:
        """The Dropped for this row (raise it)."""
        return Dropped(reason, detail, field)

    def get(self, name: str, default: Any = None) -> Any:
        """An unchecked value, for metadata carried over as it is."""
        return self.data.get(name, default)

    def field(self, name: str, kind: Kind = str, *, nonempty: bool = False) -> Any:
        """data[name]: present, of `kind` (bool never counts as int), non-blank text when `nonempty`."""
        if name not in self.data:
            raise self.bad(name, f"missing field (row has {sorted(self.data)[:12]})")
        return self._typed(name, self.data[name], kind, nonempty)

    def optional(self, name: str, kind: Kind = str) -> Any:
        """data[name] checked like `field`, or None when missing or null."""
        value = self.data.get(name)
        return None if value is None else self._typed(name, value, kind, False)

    def label(self, name: str, values: Mapping[Any, T]) -> T:
        """The value `values` maps data[name] to; a label outside its keys is a bad row."""
        kind = type(next(iter(values)))
        value = self.field(name, kind)
        if value not in values:
            raise self.bad(name, f"unknown label (expected one of {sorted(values)}, got {value!r})")
        return values[value]

    def _typed(self, name: str, value: Any, kind: Kind, nonempty: bool) -> Any:
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if hasattr(value, "tolist") and list in kinds:  # numpy arrays from parquet read via pandas
            value = value.tolist()
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            want = "/".join(k.__name__ for k in kinds)
            raise self.bad(name, f"wrong type (expected {want}, got {type(value).__name__})")
        if nonempty and isinstance(value, str) and not value.strip():
            raise self.bad(name, "empty text")
        return value

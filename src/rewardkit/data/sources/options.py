"""Spec options (``READER:LOCATION?key=value&...``), declared per reader as a typed model.

Every reader accepts the `SourceOptions` fields; a reader with options of its own subclasses it. Nothing
unknown passes: an unknown key or an empty or malformed value is an error that names the option and
lists the valid ones (a key given twice is refused by `parse_spec`): a misspelt `?max_pair_per_prompt=1` would
otherwise read every XSTest pair instead of one per prompt, silently.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Text = Annotated[str, Field(min_length=1)]
"""A non-empty option value (`?split=` with nothing after it is an error, not the default)."""


class SourceOptions(BaseModel):
    """The options every reader takes."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    split: Text | None = None
    """The split to read (a file named after it in a folder, or the hub split); default: the reader's."""
    config: Text | None = None
    """The hub dataset's config; default: the reader's."""
    data_dir: Text | None = None
    """A hub dataset's folder, for datasets published as folders (HH-RLHF's harmless-base, ...)."""
    every: Annotated[int, Field(ge=1)] = 1
    """Read every N-th row only (rows 1, 1+N, 1+2N, ... of each file, in file order): a sample by rule
    that keeps a file sorted by subset covering every subset in proportion; 1 reads every row."""


def parse_options(model: type[SourceOptions], options: dict[str, str], spec: str) -> SourceOptions:
    """A spec's options as `model`, or a ValueError naming the option and listing the valid ones."""
    valid = ", ".join(sorted(model.model_fields))
    try:
        return model(**options)
    except ValidationError as e:
        err = e.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "?"
        if err["type"] == "extra_forbidden":
            raise ValueError(f"{spec}: unknown option {name!r}; valid options: {valid}") from None
        raise ValueError(f"{spec}: option {name}={options.get(name)!r}: {err['msg']}; valid options: {valid}") from None

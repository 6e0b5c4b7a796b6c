"""Any jsonl/json/parquet/csv file or hub dataset, by column mapping in the spec options.

Text columns:          generic:file.jsonl?prompt=question&chosen=good&rejected=bad
Message-list columns:  generic:file.parquet?chosen=chosen&rejected=rejected&messages=true
  (each a full conversation ending with the assistant turn, Skywork/TRL style; the prompt is the
  shared turns before it). Optional: `system=COL` (a system turn), `id=COL`, `source=NAME`.
The mapped columns are checked on the first row: a mapping that does not fit fails naming them.
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Row, Source
from rewardkit.data.sources.conversation import split_conversations
from rewardkit.data.sources.runner import map_rows
from rewardkit.data.sources.options import SourceOptions, Text


class Options(SourceOptions):
    prompt: Text = "prompt"
    """The prompt column (text columns only)."""
    chosen: Text = "chosen"
    """The chosen column: a response text, or a whole conversation with messages=true."""
    rejected: Text = "rejected"
    """The rejected column, like `chosen`."""
    messages: bool = False
    """true: chosen/rejected are full conversations ({role, content} lists) sharing their prompt turns."""
    system: Text | None = None
    """A column holding a system turn to put before the prompt."""
    id: Text | None = None
    """A column holding the row's id (default: the row number)."""
    source: Text | None = None
    """The pairs' `source` (default: the location)."""


def _columns(opts: Options) -> set[str]:
    cols = {opts.chosen, opts.rejected} | ({opts.prompt} if not opts.messages else set())
    return cols | {c for c in (opts.system, opts.id) if c}


def to_pair(row: Row, src: Source) -> PreferencePair:
    opts: Options = src.options
    if opts.messages:
        prompt, chosen, rejected = split_conversations(row, fields=(opts.chosen, opts.rejected))
    else:
        prompt = [{"role": "user", "content": row.field(opts.prompt, str)}]
        chosen, rejected = row.field(opts.chosen, str), row.field(opts.rejected, str)
    if opts.system:
        if prompt and prompt[0]["role"] == "system":
            raise row.bad(opts.system, "conversation already has a system turn")
        prompt = [{"role": "system", "content": row.field(opts.system, str)}, *prompt]
    rid = str(row.data[opts.id]) if opts.id else str(row.line)
    return src.pair(row, prompt=prompt, chosen=chosen, rejected=rejected, source=opts.source or src.spec.location,
                    source_id=rid)


def read(src: Source, ctx: ReadContext) -> Iterator[PreferencePair]:
    if not src.spec.location:
        raise ValueError(f"{src.spec}: the generic reader needs a file or hub id")
    return map_rows(src, ctx, columns=_columns(src.options))


READER = Reader(name="generic", hub_id="", to_pair=to_pair, read=read, options=Options,
                description="any file/dataset by column mapping (?prompt=&chosen=&rejected=, or messages=true)")

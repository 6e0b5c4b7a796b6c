"""Any jsonl/json/parquet/csv file or hub dataset, by column mapping in the spec options.

Text columns:          generic:file.jsonl?prompt=question&chosen=good&rejected=bad
Message-list columns:  generic:file.parquet?chosen=chosen&rejected=rejected&messages=true
  (each a full conversation ending with the assistant turn, Skywork/TRL style; the prompt is the
  shared turns before it). Optional: `system=COL` (a system turn), `id=COL`, `source=NAME` (the
  pair's source; default the location), `split=`, `config=`. Defaults: prompt, chosen, rejected.
The mapped columns are checked on the first row: a mapping that does not fit fails naming them.
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.data.pairs import PreferencePair
from rewardkit.data.io import BadRow
from rewardkit.data.sources.base import (ReadContext, Reader, Spec, check_columns, checked_pair, get_field,
                                    iter_source_rows)
from rewardkit.data.sources.conversation import split_conversations


def read(spec: Spec, ctx: ReadContext) -> Iterator[PreferencePair]:
    if not spec.location:
        raise ValueError(f"{spec}: the generic reader needs a file or hub id")
    opts = spec.options
    as_messages = opts.get("messages", "false").lower() == "true"
    cols = {k: opts.get(k, k) for k in ("chosen", "rejected")}
    if not as_messages:
        cols["prompt"] = opts.get("prompt", "prompt")
    for k in ("system", "id"):
        if k in opts:
            cols[k] = opts[k]
    source = opts.get("source", spec.location)
    split = opts.get("split", READER.default_split)
    checked = False
    for file, rownum, row in iter_source_rows(spec, READER, ctx):
        if not checked:
            check_columns(row, set(cols.values()), spec, file)
            checked = True
        try:
            if as_messages:
                prompt, chosen, rejected = split_conversations(
                    get_field(row, cols["chosen"], list, file, rownum), get_field(row, cols["rejected"], list, file, rownum),
                    file, rownum, fields=(cols["chosen"], cols["rejected"]))
            else:
                prompt = [{"role": "user", "content": get_field(row, cols["prompt"], str, file, rownum, nonempty=True)}]
                chosen = get_field(row, cols["chosen"], str, file, rownum)
                rejected = get_field(row, cols["rejected"], str, file, rownum)
            if "system" in cols:
                system = get_field(row, cols["system"], str, file, rownum)
                if prompt and prompt[0]["role"] == "system":
                    raise BadRow(file, rownum, cols["system"], "conversation already has a system turn")
                prompt = [{"role": "system", "content": system}, *prompt]
            rid = str(row[cols["id"]]) if "id" in cols else str(rownum)
            yield checked_pair(PreferencePair(prompt=prompt, chosen=chosen, rejected=rejected, source=source,
                                              source_split=split, source_id=rid), file, rownum)
        except BadRow as e:
            ctx.bad(e, row)


READER = Reader(name="generic", hub_id="", read=read,
                description="any file/dataset by column mapping (?prompt=&chosen=&rejected=, or messages=true)")

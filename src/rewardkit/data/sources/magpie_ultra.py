"""argilla/magpie-ultra-v0.1: one instruction, `response` (Llama 3.1 405B Instruct) and `response_base`
(the base model), each with its ArmoRM score (`score`, `score_base`).

The card's DPO recipe (docs/schemas.md §4): the higher-scored response is chosen. Equal scores give
no preference and are dropped by rule, counted. meta["task_category"] comes from `primary_tag`.
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.data.io import BadRow
from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Spec, checked_pair, get_field, iter_source_rows, split_of

HUB_ID = "argilla/magpie-ultra-v0.1"


def read(spec: Spec, ctx: ReadContext) -> Iterator[PreferencePair]:
    split = split_of(spec, READER)
    for file, rownum, row in iter_source_rows(spec, READER, ctx):
        try:
            instruction = get_field(row, "instruction", str, file, rownum, nonempty=True)
            texts = {k: get_field(row, k, str, file, rownum) for k in ("response", "response_base")}
            scores = {"response": get_field(row, "score", (float, int), file, rownum),
                      "response_base": get_field(row, "score_base", (float, int), file, rownum)}
            tag = row.get("primary_tag")
            if tag is not None and not isinstance(tag, str):
                raise BadRow(file, rownum, "primary_tag", f"wrong type (expected str, got {type(tag).__name__})")
            if scores["response"] == scores["response_base"]:
                ctx.drop("equal ArmoRM scores")
                continue
            c, r = ("response", "response_base") if scores["response"] > scores["response_base"] else ("response_base", "response")
            yield checked_pair(PreferencePair(
                prompt=[{"role": "user", "content": instruction}],
                chosen=texts[c],
                rejected=texts[r],
                source=HUB_ID,
                source_split=split,
                source_id=str(rownum),
                meta={"score_chosen": float(scores[c]), "score_rejected": float(scores[r]),
                      "task_category": tag, "chosen_column": c, "difficulty": row.get("difficulty")},
            ), file, rownum)
        except BadRow as e:
            ctx.bad(e, row)


READER = Reader(name="magpie_ultra", hub_id=HUB_ID, read=read,
                description="argilla/magpie-ultra-v0.1: chosen = higher ArmoRM score of response/response_base")

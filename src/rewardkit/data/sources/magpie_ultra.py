"""argilla/magpie-ultra-v0.1: one instruction, `response` (Llama 3.1 405B Instruct) and `response_base`
(the base model), each with its ArmoRM score (`score`, `score_base`).

The card's DPO recipe (docs/schemas.md §4): the higher-scored response is chosen. Equal scores give
no preference and are dropped by rule, counted. meta["task_category"] comes from `primary_tag`.
"""

from __future__ import annotations

from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import Reader, Row, Source

HUB_ID = "argilla/magpie-ultra-v0.1"


def to_pair(row: Row, src: Source) -> PreferencePair:
    instruction = row.field("instruction", str)
    texts = {k: row.field(k, str) for k in ("response", "response_base")}
    scores = {"response": row.field("score", (float, int)), "response_base": row.field("score_base", (float, int))}
    tag = row.optional("primary_tag", str)
    if scores["response"] == scores["response_base"]:
        raise row.drop("equal ArmoRM scores")
    c, r = ("response", "response_base") if scores["response"] > scores["response_base"] else ("response_base", "response")
    return src.pair(
        row, prompt=[{"role": "user", "content": instruction}], chosen=texts[c], rejected=texts[r],
        meta={"score_chosen": float(scores[c]), "score_rejected": float(scores[r]),
              "task_category": tag, "chosen_column": c, "difficulty": row.get("difficulty")},
    )


READER = Reader(name="magpie_ultra", hub_id=HUB_ID, to_pair=to_pair,
                description="argilla/magpie-ultra-v0.1: chosen = higher ArmoRM score of response/response_base")

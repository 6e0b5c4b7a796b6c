"""The Magpie-Align DPO sets (Pro Llama-3.1, Pro Llama-3, Air): five `responses` per instruction with
ArmoRM scores in `rewards_armorm` ([{"score": float}, ...], aligned by index).

The authors' rule (magpie-align/magpie data_po/process_po.ipynb, docs/schemas.md §5): chosen =
responses[argmax score], rejected = responses[argmin score]. All-equal scores give no preference and are
dropped by rule, counted. Only Pro's columns are verified; the Llama-3.1 and Air column sets are
inferred, so the first row is checked for the columns this reader needs.
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Row, Source
from rewardkit.data.sources.runner import map_rows

NEEDED = {"instruction", "responses", "rewards_armorm"}


def armorm_scores(row: Row, n: int) -> list[float]:
    """The n ArmoRM scores of `rewards_armorm` ([{"score": float}, ...], aligned with `responses`); BadRow
    otherwise. Shared with the best-of-N set reader (rated_sets)."""
    rewards = row.field("rewards_armorm", list)
    if len(rewards) != n:
        raise row.bad("rewards_armorm", f"length {len(rewards)} != {n} responses")
    out = []
    for i, r in enumerate(rewards):
        score = r.get("score") if isinstance(r, dict) else None
        if not isinstance(score, (int, float)) or isinstance(score, bool):
            raise row.bad("rewards_armorm", f"item {i} is not {{'score': float}} (got {r!r:.60})")
        out.append(float(score))
    return out


def to_pair(row: Row, src: Source) -> PreferencePair:
    instruction = row.field("instruction", str)
    responses = row.field("responses", list)
    if len(responses) < 2 or not all(isinstance(t, str) for t in responses):
        raise row.bad("responses", "wrong type (expected a list of at least 2 strings)")
    scores = armorm_scores(row, len(responses))
    category = row.optional("task_category", str)
    best = max(range(len(scores)), key=scores.__getitem__)
    worst = min(range(len(scores)), key=scores.__getitem__)
    if scores[best] == scores[worst]:
        raise row.drop("all ArmoRM scores equal")
    return src.pair(
        row, prompt=[{"role": "user", "content": instruction}], chosen=responses[best], rejected=responses[worst],
        source_id=str(row.get("uuid") or row.line),
        meta={"score_chosen": scores[best], "score_rejected": scores[worst], "task_category": category,
              "chosen_index": best, "rejected_index": worst},
    )


def read(src: Source, ctx: ReadContext) -> Iterator[PreferencePair]:
    return map_rows(src, ctx, columns=NEEDED)


def _reader(name: str, hub_id: str, label: str) -> Reader:
    return Reader(name=name, hub_id=hub_id, to_pair=to_pair, read=read,
                  description=f"{hub_id} ({label}): chosen/rejected = argmax/argmin of rewards_armorm")


READERS = {
    r.name: r
    for r in (
        _reader("magpie_pro_llama31", "Magpie-Align/Magpie-Llama-3.1-Pro-DPO-100K-v0.1", "Magpie Pro, Llama 3.1"),
        _reader("magpie_pro", "Magpie-Align/Magpie-Pro-DPO-100K-v0.1", "Magpie Pro, Llama 3"),
        _reader("magpie_air", "Magpie-Align/Magpie-Air-DPO-100K-v0.1", "Magpie Air, Llama 3 8B"),
    )
}
PRO_LLAMA31, PRO, AIR = READERS["magpie_pro_llama31"], READERS["magpie_pro"], READERS["magpie_air"]

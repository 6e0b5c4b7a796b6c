"""The Magpie-Align DPO sets (Pro Llama-3.1, Pro Llama-3, Air): five `responses` per instruction with
ArmoRM scores in `rewards_armorm` ([{"score": float}, ...], aligned by index).

The authors' rule (magpie-align/magpie data_po/process_po.ipynb, docs/schemas.md §5): chosen =
responses[argmax score], rejected = responses[argmin score]. All-equal scores give no preference and are
dropped by rule, counted. Only Pro's columns are verified; the Llama-3.1 and Air column sets are
inferred, so the first row is checked for the columns this reader needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from rewardkit.data.io import BadRow
from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import (ReadContext, Reader, Spec, check_columns, checked_pair, get_field,
                                    iter_source_rows, split_of)

NEEDED = {"instruction", "responses", "rewards_armorm"}


def _scores(row: dict, n: int, file: str, rownum: int) -> list[float]:
    rewards = get_field(row, "rewards_armorm", list, file, rownum)
    if len(rewards) != n:
        raise BadRow(file, rownum, "rewards_armorm", f"length {len(rewards)} != {n} responses")
    out = []
    for i, r in enumerate(rewards):
        score = r.get("score") if isinstance(r, dict) else None
        if not isinstance(score, (int, float)) or isinstance(score, bool):
            raise BadRow(file, rownum, "rewards_armorm", f"item {i} is not {{'score': float}} (got {r!r:.60})")
        out.append(float(score))
    return out


def read(spec: Spec, ctx: ReadContext, *, reader_name: str) -> Iterator[PreferencePair]:
    reader = READERS[reader_name]
    split = split_of(spec, reader)
    checked = False
    for file, rownum, row in iter_source_rows(spec, reader, ctx):
        if not checked:
            check_columns(row, NEEDED, spec, file)
            checked = True
        try:
            instruction = get_field(row, "instruction", str, file, rownum, nonempty=True)
            responses = get_field(row, "responses", list, file, rownum)
            if len(responses) < 2 or not all(isinstance(t, str) for t in responses):
                raise BadRow(file, rownum, "responses", "wrong type (expected a list of at least 2 strings)")
            scores = _scores(row, len(responses), file, rownum)
            category = row.get("task_category")
            if category is not None and not isinstance(category, str):
                raise BadRow(file, rownum, "task_category", f"wrong type (expected str, got {type(category).__name__})")
            best = max(range(len(scores)), key=scores.__getitem__)
            worst = min(range(len(scores)), key=scores.__getitem__)
            if scores[best] == scores[worst]:
                ctx.drop("all ArmoRM scores equal")
                continue
            yield checked_pair(PreferencePair(
                prompt=[{"role": "user", "content": instruction}],
                chosen=responses[best],
                rejected=responses[worst],
                source=reader.hub_id,
                source_split=split,
                source_id=str(row.get("uuid") or rownum),
                meta={"score_chosen": scores[best], "score_rejected": scores[worst], "task_category": category,
                      "chosen_index": best, "rejected_index": worst},
            ), file, rownum)
        except BadRow as e:
            ctx.bad(e, row)


def _reader(name: str, hub_id: str, label: str) -> Reader:
    return Reader(name=name, hub_id=hub_id, read=partial(read, reader_name=name),
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

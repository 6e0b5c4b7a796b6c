"""Best-of-N sets from sources with several rated responses per prompt.

- helpsteer2 (HelpSteer2 and HelpSteer v1 files): rows sharing a prompt form one set, rated by
  `helpfulness` (0-4); a prompt with a single response is dropped by rule and counted.
- magpie_pro_llama31 / magpie_pro / magpie_air: each row's five `responses`, rated by `rewards_armorm`.
The row checks are the pair readers' own (helpsteer2.py, magpie_dpo.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.data.candidates import CandidateSet
from rewardkit.data.io import BadRow
from rewardkit.data.sources import get_reader
from rewardkit.data.sources.base import ReadContext, Spec, get_field, iter_source_rows
from rewardkit.data.sources.sets import get_texts


def read_helpsteer(spec: Spec, ctx: ReadContext) -> Iterator[CandidateSet]:
    from rewardkit.data.sources.helpsteer2 import HUB_ID, READER, check_row, decode_prompt

    groups: dict[str, list[tuple[str, int, dict]]] = {}
    for file, rownum, row in iter_source_rows(spec, READER, ctx):
        try:
            prompt = check_row(row, file, rownum)
            decode_prompt(prompt)
        except BadRow as e:
            ctx.bad(e, row)
            continue
        except ValueError as e:
            ctx.bad(BadRow(file, rownum, "prompt", str(e)), row)
            continue
        groups.setdefault(prompt, []).append((file, rownum, row))
    for prompt, rows in groups.items():
        if len(rows) < 2:
            ctx.drop("single response for prompt")
            continue
        first = rows[0][1]
        yield CandidateSet(prompt=decode_prompt(prompt), responses=[r["response"] for _, _, r in rows],
                           group=spec.options.get("hub_id", HUB_ID), source=HUB_ID, source_id=f"rows-{first}",
                           ratings=[float(r["helpfulness"]) for _, _, r in rows],
                           meta={"rows": [n for _, n, _ in rows]})


def read_magpie(spec: Spec, ctx: ReadContext) -> Iterator[CandidateSet]:
    from rewardkit.data.sources.magpie_dpo import _scores

    reader = get_reader(spec.reader)
    for file, rownum, row in iter_source_rows(spec, reader, ctx):
        try:
            instruction = get_field(row, "instruction", str, file, rownum, nonempty=True)
            responses = get_texts(row, "responses", file, rownum)
            if len(responses) < 2:
                raise BadRow(file, rownum, "responses", "expected at least 2 responses")
            ratings = _scores(row, len(responses), file, rownum)
        except BadRow as e:
            ctx.bad(e, row)
            continue
        yield CandidateSet(prompt=[{"role": "user", "content": instruction}], responses=responses,
                           group=reader.hub_id, source=reader.hub_id, source_id=str(row.get("uuid") or rownum),
                           ratings=ratings)

"""Best-of-N sets from sources with several rated responses per prompt.

- helpsteer2 (HelpSteer2 and HelpSteer v1 files): rows sharing a prompt form one set, rated by
  `helpfulness` (0-4); a prompt with a single response is dropped by rule and counted.
- magpie_pro_llama31 / magpie_pro / magpie_air: each row's five `responses`, rated by `rewards_armorm`.
The row checks are the pair readers' own (helpsteer2.py, magpie_dpo.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.data.candidates import CandidateSet
from rewardkit.data.sources.base import ReadContext, Source
from rewardkit.data.sources.helpsteer2 import HUB_ID, prompt_groups
from rewardkit.data.sources.magpie_dpo import armorm_scores
from rewardkit.data.sources.rows import Row
from rewardkit.data.sources.sets import get_texts, sets_from_rows


def read_helpsteer(src: Source, ctx: ReadContext) -> Iterator[CandidateSet]:
    for messages, rows in prompt_groups(src, ctx):
        yield CandidateSet(prompt=messages, responses=[r.data["response"] for r in rows],
                           group=src.options.hub_id, source=HUB_ID, source_id=f"rows-{rows[0].line}",
                           ratings=[float(r.data["helpfulness"]) for r in rows], meta={"rows": [r.line for r in rows]})


def read_magpie(src: Source, ctx: ReadContext) -> Iterator[CandidateSet]:
    hub_id = src.reader.hub_id

    def make(row: Row) -> CandidateSet:
        instruction = row.field("instruction", str, nonempty=True)
        responses = get_texts(row, "responses")
        if len(responses) < 2:
            raise row.bad("responses", "expected at least 2 responses")
        return CandidateSet(prompt=[{"role": "user", "content": instruction}], responses=responses, group=hub_id,
                            source=hub_id, source_id=str(row.get("uuid") or row.line),
                            ratings=armorm_scores(row, len(responses)))

    return sets_from_rows(src, ctx, make)

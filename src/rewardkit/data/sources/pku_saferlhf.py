"""PKU-Alignment/PKU-SafeRLHF: prompt, response_0, response_1, better_response_id, safer_response_id,
per-response safety flags, harm categories and severity.

chosen = response_{better_response_id} (the helpfulness preference, the default) or, with
`?prefer=safer`, response_{safer_response_id}. Ids other than 0/1 are bad rows.
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.data.io import BadRow
from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Spec, checked_pair, get_field, iter_source_rows, split_of

HUB_ID = "PKU-Alignment/PKU-SafeRLHF"
PREFER = {"better": "better_response_id", "safer": "safer_response_id"}


def read(spec: Spec, ctx: ReadContext) -> Iterator[PreferencePair]:
    prefer = spec.options.get("prefer", "better")
    if prefer not in PREFER:
        raise ValueError(f"{spec}: prefer must be one of {sorted(PREFER)}, not {prefer!r}")
    key = PREFER[prefer]
    split = split_of(spec, READER)
    for file, rownum, row in iter_source_rows(spec, READER, ctx):
        try:
            prompt = get_field(row, "prompt", str, file, rownum, nonempty=True)
            responses = [get_field(row, f"response_{i}", str, file, rownum) for i in (0, 1)]
            best = get_field(row, key, int, file, rownum)
            if best not in (0, 1):
                raise BadRow(file, rownum, key, f"unknown label (expected 0 or 1, got {best!r})")
            safe = [row.get(f"is_response_{i}_safe") for i in (0, 1)]
            severity = [row.get(f"response_{i}_severity_level") for i in (0, 1)]
            yield checked_pair(PreferencePair(
                prompt=[{"role": "user", "content": prompt}],
                chosen=responses[best],
                rejected=responses[1 - best],
                source=HUB_ID,
                source_config=f"prefer={prefer}",
                source_split=split,
                source_id=str(rownum),
                meta={"chosen_safe": safe[best], "rejected_safe": safe[1 - best],
                      "chosen_severity": severity[best], "rejected_severity": severity[1 - best],
                      "prompt_source": row.get("prompt_source")},
            ), file, rownum)
        except BadRow as e:
            ctx.bad(e, row)


READER = Reader(name="pku_saferlhf", hub_id=HUB_ID, read=read,
                description="PKU-SafeRLHF: chosen = better_response_id (?prefer=safer: safer_response_id)")

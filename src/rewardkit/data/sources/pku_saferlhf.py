"""PKU-Alignment/PKU-SafeRLHF: prompt, response_0, response_1, better_response_id, safer_response_id,
per-response safety flags, harm categories and severity.

chosen = response_{better_response_id} (the helpfulness preference, the default) or, with
`?prefer=safer`, response_{safer_response_id}. Ids other than 0/1 are bad rows.
"""

from __future__ import annotations

from typing import Literal

from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import Reader, Row, Source
from rewardkit.data.sources.options import SourceOptions

HUB_ID = "PKU-Alignment/PKU-SafeRLHF"
PREFER = {"better": "better_response_id", "safer": "safer_response_id"}


class Options(SourceOptions):
    prefer: Literal["better", "safer"] = "better"
    """Which label picks the chosen response: better_response_id (helpfulness) or safer_response_id."""


def to_pair(row: Row, src: Source) -> PreferencePair:
    prefer = src.options.prefer
    prompt = row.field("prompt", str)
    responses = [row.field(f"response_{i}", str) for i in (0, 1)]
    best = row.label(PREFER[prefer], {0: 0, 1: 1})
    safe = [row.get(f"is_response_{i}_safe") for i in (0, 1)]
    severity = [row.get(f"response_{i}_severity_level") for i in (0, 1)]
    return src.pair(
        row, prompt=[{"role": "user", "content": prompt}], chosen=responses[best], rejected=responses[1 - best],
        source_config=f"prefer={prefer}",
        meta={"chosen_safe": safe[best], "rejected_safe": safe[1 - best],
              "chosen_severity": severity[best], "rejected_severity": severity[1 - best],
              "prompt_source": row.get("prompt_source")},
    )


READER = Reader(name="pku_saferlhf", hub_id=HUB_ID, to_pair=to_pair, options=Options,
                description="PKU-SafeRLHF: chosen = better_response_id (?prefer=safer: safer_response_id)")

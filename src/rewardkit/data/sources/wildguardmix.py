"""allenai/wildguardmix (config wildguardtrain): moderation rows -> RefusalRow -> refusal pairs.

`to_refusal_row` validates the label strings (docs/schemas.md §3: "harmful"/"unharmful",
"refusal"/"compliance"); prompt-only rows (response None, 48,783 of 86,759) are dropped by rule and
counted. Pairs follow paper section 3.2.2 via `refusal.make_refusal_pairs`; option
`?max_pairs_per_prompt=N` caps the combinations per prompt, `?adversarial=true|false` keeps one kind.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import PositiveInt

from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Row, Source
from rewardkit.data.sources.files import source_rows
from rewardkit.data.sources.options import SourceOptions
from rewardkit.data.sources.refusal import RefusalRow, refusal_pairs
from rewardkit.data.sources.runner import each_row

HUB_ID = "allenai/wildguardmix"
PROMPT_HARM = {"harmful": True, "unharmful": False}
REFUSAL = {"refusal": True, "compliance": False}


class Options(SourceOptions):
    max_pairs_per_prompt: PositiveInt | None = None
    """At most this many (preferred, dispreferred) combinations per prompt, in row order; default all."""
    adversarial: bool | None = None
    """Keep only adversarial (true) or only plain (false) prompts; default both."""


def to_refusal_row(row: Row, src: Source) -> RefusalRow:
    prompt = row.field("prompt", str)
    adversarial = row.field("adversarial", bool)
    harmful = row.label("prompt_harm_label", PROMPT_HARM)
    if row.get("response") is None:
        raise row.drop("prompt-only row (no response)")
    response = row.field("response", str)
    for name, text in (("prompt", prompt), ("response", response)):
        if not text.strip():  # the conversation rule's, by row (refusal pairs are made across rows)
            raise row.drop(f"{name}: empty turn", field=name)
    refusal = row.label("response_refusal_label", REFUSAL)
    response_harm = row.get("response_harm_label")
    if response_harm is not None:
        row.label("response_harm_label", PROMPT_HARM)
    only = src.options.adversarial
    if only is not None and adversarial != only:
        raise row.drop("adversarial" if adversarial else "not adversarial")
    return RefusalRow(
        prompt=prompt, response=response, prompt_harmful=harmful, refusal=refusal, source=HUB_ID,
        source_id=str(row.line), source_split=src.split, adversarial=adversarial,
        meta={"response_harm_label": response_harm, "subcategory": row.get("subcategory")},
    )


def iter_rows(src: Source, ctx: ReadContext) -> Iterator[RefusalRow]:
    return each_row(source_rows(src, ctx), ctx, lambda row: to_refusal_row(row, src))


def read(src: Source, ctx: ReadContext) -> Iterator[PreferencePair]:
    yield from refusal_pairs(iter_rows(src, ctx), ctx, src.options.max_pairs_per_prompt)


READER = Reader(name="wildguardmix", hub_id=HUB_ID, read=read, options=Options, default_config="wildguardtrain",
                description="allenai/wildguardmix rows -> refusal pairs (harmful: refusal preferred; benign: compliance)")

"""allenai/wildguardmix (config wildguardtrain): moderation rows -> RefusalRow -> refusal pairs.

`iter_rows` validates the label strings (docs/schemas.md §3: "harmful"/"unharmful",
"refusal"/"compliance"); prompt-only rows (response None, 48,783 of 86,759) are dropped by rule and
counted. Pairs follow report section 3.2.2 via `curation.refusal.make_refusal_pairs`; option
`?max_pairs_per_prompt=N` caps the combinations per prompt, `?adversarial=true|false` keeps one kind.
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.curation.refusal import RefusalRow, make_refusal_pairs
from rewardkit.data.io import BadRow
from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import ReadContext, Reader, Spec, get_field, iter_source_rows, split_of

HUB_ID = "allenai/wildguardmix"
PROMPT_HARM = {"harmful": True, "unharmful": False}
REFUSAL = {"refusal": True, "compliance": False}


def _label(row: dict, name: str, values: dict[str, bool], file: str, rownum: int) -> bool:
    value = get_field(row, name, str, file, rownum)
    if value not in values:
        raise BadRow(file, rownum, name, f"unknown label (expected one of {sorted(values)}, got {value!r})")
    return values[value]


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise ValueError(f"adversarial option must be true or false, not {value!r}")
    return value.lower() == "true"


def iter_rows(spec: Spec, ctx: ReadContext) -> Iterator[RefusalRow]:
    split = split_of(spec, READER)
    only_adversarial = _flag(spec.options.get("adversarial"))
    for file, rownum, row in iter_source_rows(spec, READER, ctx):
        try:
            prompt = get_field(row, "prompt", str, file, rownum, nonempty=True)
            adversarial = get_field(row, "adversarial", bool, file, rownum)
            harmful = _label(row, "prompt_harm_label", PROMPT_HARM, file, rownum)
            if row.get("response") is None:
                ctx.drop("prompt-only row (no response)")
                continue
            response = get_field(row, "response", str, file, rownum, nonempty=True)
            refusal = _label(row, "response_refusal_label", REFUSAL, file, rownum)
            response_harm = row.get("response_harm_label")
            if response_harm is not None and response_harm not in PROMPT_HARM:
                raise BadRow(file, rownum, "response_harm_label",
                             f"unknown label (expected one of {sorted(PROMPT_HARM)} or null, got {response_harm!r})")
        except BadRow as e:
            ctx.bad(e, row)
            continue
        if only_adversarial is not None and adversarial != only_adversarial:
            ctx.drop("adversarial" if adversarial else "not adversarial")
            continue
        yield RefusalRow(
            prompt=prompt, response=response, prompt_harmful=harmful, refusal=refusal, source=HUB_ID,
            source_id=str(rownum), source_split=split, adversarial=adversarial,
            meta={"response_harm_label": response_harm, "subcategory": row.get("subcategory")},
        )


def refusal_pairs(rows: Iterator[RefusalRow], ctx: ReadContext, cap: str | None) -> Iterator[PreferencePair]:
    """make_refusal_pairs, with the rows it cannot pair counted: a prompt whose responses are all
    refusals (or all compliances) has nothing to prefer, and a prompt whose rows disagree on whether
    it is harmful has no direction of preference."""
    rows = list(rows)
    kinds: dict[str, set[bool]] = {}
    harm: dict[str, set[bool]] = {}
    for r in rows:
        kinds.setdefault(r.prompt, set()).add(r.refusal)
        harm.setdefault(r.prompt, set()).add(r.prompt_harmful)
    conflicting = [r for r in rows if len(harm[r.prompt]) > 1]
    if conflicting:
        ctx.drop("conflicting prompt harm labels", len(conflicting))
        rows = [r for r in rows if len(harm[r.prompt]) == 1]
    unpaired = sum(1 for r in rows if len(kinds[r.prompt]) < 2)
    if unpaired:
        ctx.drop("no opposite response for prompt", unpaired)
    yield from make_refusal_pairs(rows, max_pairs_per_prompt=int(cap) if cap else None)


def read(spec: Spec, ctx: ReadContext) -> Iterator[PreferencePair]:
    yield from refusal_pairs(iter_rows(spec, ctx), ctx, spec.options.get("max_pairs_per_prompt"))


READER = Reader(name="wildguardmix", hub_id=HUB_ID, read=read, default_config="wildguardtrain",
                description="allenai/wildguardmix rows -> refusal pairs (harmful: refusal preferred; benign: compliance)")

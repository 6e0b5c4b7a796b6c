"""XSTest (paul-rottger/exaggerated-safety): 450 prompts (250 safe, 200 unsafe) and human-labelled
model completions -> RefusalRow -> refusal pairs, and the prompts themselves for decontamination.

LOCATION is the xstest folder (xstest_prompts.csv + model_completions/*.csv) or one completions csv.
label safe -> prompt_harmful False, unsafe -> True; in a lone completions csv (no label column) the
label comes from `type`: XSTest's unsafe prompts are exactly its `contrast_*` types. final_label
1_full_compliance -> refusal False, 2_full_refusal -> refusal True, 3_partial_refusal is dropped by
rule (neither side of the preference). Pairs: the WildGuardMix rule (report section 3.2.2), which makes
them contaminated w.r.t. RewardBench's xstest-should-* subsets by construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rewardkit.curation.refusal import RefusalRow
from rewardkit.data.io import BadRow
from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import (ReadContext, Reader, RefPrompt, Spec, get_field, iter_source_rows,
                                    resolve_location)
from rewardkit.data.sources.wildguardmix import refusal_pairs

HUB_ID = "natolambert/xstest-v2-copy"
LABELS = {"safe": False, "unsafe": True}
FINAL = {"1_full_compliance": False, "2_full_refusal": True}
PARTIAL = "3_partial_refusal"
SUBSETS = {False: "xstest-should-respond", True: "xstest-should-refuse"}


def _files(spec: Spec) -> tuple[Path | None, list[str]]:
    """(prompts csv or None, completion locations) for the spec."""
    location = Path(resolve_location(spec, READER))
    if location.is_dir():
        completions = sorted(str(p) for p in (location / "model_completions").glob("*.csv"))
        prompts = location / "xstest_prompts.csv"
        if not prompts.exists() or not completions:
            raise FileNotFoundError(f"{spec}: expected {prompts} and model_completions/*.csv in {location}")
        return prompts, completions
    return None, [str(location)]


def _harmful_by_id(prompts_csv: Path, ctx: ReadContext) -> dict[str, tuple[bool, str]]:
    """prompt id -> (unsafe?, canonical prompt text) from xstest_prompts.csv."""
    out = {}
    for file, rownum, row in iter_source_rows(Spec("xstest", str(prompts_csv), {}), READER, ctx):
        try:
            label = get_field(row, "label", str, file, rownum)
            if label not in LABELS:
                raise BadRow(file, rownum, "label", f"unknown label (expected one of {sorted(LABELS)}, got {label!r})")
            out[get_field(row, "id", str, file, rownum)] = (LABELS[label], get_field(row, "prompt", str, file, rownum, nonempty=True))
        except BadRow as e:
            ctx.bad(e, row)
    return out


def iter_rows(spec: Spec, ctx: ReadContext) -> Iterator[RefusalRow]:
    prompts_csv, completions = _files(spec)
    known = _harmful_by_id(prompts_csv, ctx) if prompts_csv else None
    for location in completions:
        model = Path(location).stem.rpartition("_")[2] if Path(location).exists() else spec.options.get("split", "gpt4")
        sub = Spec("xstest", location, spec.options)
        for file, rownum, row in iter_source_rows(sub, READER, ctx, split="gpt4"):
            try:
                pid = get_field(row, "id", str, file, rownum, nonempty=True)
                prompt = get_field(row, "prompt", str, file, rownum, nonempty=True)
                completion = get_field(row, "completion", str, file, rownum, nonempty=True)
                final = get_field(row, "final_label", str, file, rownum)
                if final not in FINAL and final != PARTIAL:
                    raise BadRow(file, rownum, "final_label", f"unknown label (expected one of "
                                 f"{sorted([*FINAL, PARTIAL])}, got {final!r})")
                if known is not None:
                    key = pid.removeprefix("v2-")
                    if key not in known:
                        raise BadRow(file, rownum, "id", f"prompt id {pid!r} not in {prompts_csv.name}")
                    harmful, prompt = known[key]  # the canonical text, so all models' rows group together
                else:
                    harmful = get_field(row, "type", str, file, rownum).startswith("contrast_")
            except BadRow as e:
                ctx.bad(e, row)
                continue
            if final == PARTIAL:
                ctx.drop("partial refusal")
                continue
            yield RefusalRow(prompt=prompt, response=completion, prompt_harmful=harmful, refusal=FINAL[final],
                             source=HUB_ID, source_id=f"{model}:{pid}", source_split="test",
                             meta={"model": model})


def read(spec: Spec, ctx: ReadContext) -> Iterator[PreferencePair]:
    yield from refusal_pairs(iter_rows(spec, ctx), ctx, spec.options.get("max_pairs_per_prompt"))


def read_prompts(spec: Spec, ctx: ReadContext) -> Iterator[RefPrompt]:
    """The benchmark prompts, tagged with RewardBench's subset names (safe -> should-respond)."""
    prompts_csv, _ = _files(spec)
    if prompts_csv is not None:
        for pid, (harmful, text) in _harmful_by_id(prompts_csv, ctx).items():
            yield RefPrompt(id=pid, subset=SUBSETS[harmful], text=text)
        return
    seen = set()
    for row in iter_rows(spec, ctx):
        pid = row.source_id.partition(":")[2]
        if pid not in seen:
            seen.add(pid)
            yield RefPrompt(id=pid, subset=SUBSETS[row.prompt_harmful], text=row.prompt)


READER = Reader(name="xstest", hub_id=HUB_ID, read=read, read_prompts=read_prompts, default_split="gpt4",
                description="XSTest completions -> refusal pairs (unsafe: refusal preferred); prompts for decontamination")

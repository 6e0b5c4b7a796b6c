"""XSTest (paul-rottger/exaggerated-safety): 450 prompts (250 safe, 200 unsafe) and human-labelled
model completions -> RefusalRow -> refusal pairs, and the prompts themselves for decontamination.

LOCATION is the xstest folder (xstest_prompts.csv + model_completions/*.csv) or one completions csv.
label safe -> prompt_harmful False, unsafe -> True; in a lone completions csv (no label column) the
label comes from `type`: XSTest's unsafe prompts are exactly its `contrast_*` types. final_label
1_full_compliance -> refusal False, 2_full_refusal -> refusal True, 3_partial_refusal is dropped by
rule (neither side of the preference). Pairs: the WildGuardMix rule (paper section 3.2.2), which makes
them contaminated w.r.t. RewardBench's xstest-should-* subsets by construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import PositiveInt

from rewardkit.data.pairs import PreferencePair, RefPrompt
from rewardkit.data.sources.base import ReadContext, Reader, Row, Source, Spec
from rewardkit.data.sources.files import source_rows
from rewardkit.data.sources.options import SourceOptions
from rewardkit.data.sources.refusal import RefusalRow, refusal_pairs
from rewardkit.data.sources.runner import each_row

HUB_ID = "natolambert/xstest-v2-copy"
LABELS = {"safe": False, "unsafe": True}
FINAL = {"1_full_compliance": False, "2_full_refusal": True, "3_partial_refusal": None}
SUBSETS = {False: "xstest-should-respond", True: "xstest-should-refuse"}


class Options(SourceOptions):
    max_pairs_per_prompt: PositiveInt | None = None
    """At most this many (preferred, dispreferred) combinations per prompt, in row order; default all."""


def _files(src: Source) -> tuple[Path | None, list[str]]:
    """(prompts csv or None, completion locations) for the source."""
    location = Path(src.location)
    if location.is_dir():
        completions = sorted(str(p) for p in (location / "model_completions").glob("*.csv"))
        prompts = location / "xstest_prompts.csv"
        if not prompts.exists() or not completions:
            raise FileNotFoundError(f"{src.spec}: expected {prompts} and model_completions/*.csv in {location}")
        return prompts, completions
    return None, [str(location)]


def _harmful_by_id(src: Source, prompts_csv: Path, ctx: ReadContext) -> dict[str, tuple[bool, str]]:
    """prompt id -> (unsafe?, canonical prompt text) from xstest_prompts.csv."""
    def entry(row: Row) -> tuple[str, tuple[bool, str]]:
        harmful = row.label("label", LABELS)
        return row.field("id", str), (harmful, row.field("prompt", str, nonempty=True))

    return dict(each_row(source_rows(src, ctx, location=str(prompts_csv)), ctx, entry))


def _to_refusal_row(row: Row, known: dict[str, tuple[bool, str]] | None, prompts_csv: Path | None,
                    model: str) -> RefusalRow:
    pid = row.field("id", str, nonempty=True)
    prompt = row.field("prompt", str, nonempty=True)
    completion = row.field("completion", str)
    refusal = row.label("final_label", FINAL)
    if known is not None:
        key = pid.removeprefix("v2-")
        if key not in known:
            raise row.bad("id", f"prompt id {pid!r} not in {prompts_csv.name}")
        harmful, prompt = known[key]  # the canonical text, so all models' rows group together
    else:
        harmful = row.field("type", str).startswith("contrast_")
    if refusal is None:
        raise row.drop("partial refusal")
    if not completion.strip():
        raise row.drop("completion: empty turn", field="completion")
    return RefusalRow(prompt=prompt, response=completion, prompt_harmful=harmful, refusal=refusal, source=HUB_ID,
                      source_id=f"{model}:{pid}", source_split="test", meta={"model": model})


def iter_rows(src: Source, ctx: ReadContext) -> Iterator[RefusalRow]:
    prompts_csv, completions = _files(src)
    known = _harmful_by_id(src, prompts_csv, ctx) if prompts_csv else None
    for location in completions:
        model = Path(location).stem.rpartition("_")[2] if Path(location).exists() else src.split
        rows = source_rows(src, ctx, location=location)
        yield from each_row(rows, ctx, lambda row: _to_refusal_row(row, known, prompts_csv, model))


def read(src: Source, ctx: ReadContext) -> Iterator[PreferencePair]:
    yield from refusal_pairs(iter_rows(src, ctx), ctx, src.options.max_pairs_per_prompt)


def read_prompts(spec: Spec, ctx: ReadContext) -> Iterator[RefPrompt]:
    """The benchmark prompts, tagged with RewardBench's subset names (safe -> should-respond)."""
    src = Source.of(spec, READER)
    prompts_csv, _ = _files(src)
    if prompts_csv is not None:
        for pid, (harmful, text) in _harmful_by_id(src, prompts_csv, ctx).items():
            yield RefPrompt(id=pid, subset=SUBSETS[harmful], text=text)
        return
    seen = set()
    for row in iter_rows(src, ctx):
        pid = row.source_id.partition(":")[2]
        if pid not in seen:
            seen.add(pid)
            yield RefPrompt(id=pid, subset=SUBSETS[row.prompt_harmful], text=row.prompt)


READER = Reader(name="xstest", hub_id=HUB_ID, read=read, read_prompts=read_prompts, options=Options,
                default_split="gpt4",
                description="XSTest completions -> refusal pairs (unsafe: refusal preferred); prompts for decontamination")

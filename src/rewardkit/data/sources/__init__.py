"""One small reader per public dataset, all behind one spec string: ``READER:PATH_OR_HUB_ID[?opts]``.

    from rewardkit.data.sources import read_pairs
    pairs, report = read_pairs("helpsteer2:HelpSteer.jsonl")

The parts: `rows` (Row: a row with its file, line and typed fields; Dropped), `options` (each reader's
typed `?key=value` options), `files` (a source's rows from files or the hub), `runner` (the one row loop:
bad-row policy, drops by reason, `checked_pair`), `base` (specs, the read report and context, Reader,
Source), `refusal` (the WildGuardMix/XSTest pairing rule); one module per dataset maps a row to a pair.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator

from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.base import OnBadRow, ReadContext, Reader, ReadReport, Source, Spec, parse_spec
from rewardkit.data.sources.runner import counted, map_rows
from rewardkit.options import DEFAULT_ON_BAD_ROW

# reader name -> module under rewardkit.data.sources defining READER (or "module:ATTR" when one module holds
# several readers). Imported on first use only.
_MODULES = {
    "helpsteer2": "helpsteer2",
    "offsetbias": "offsetbias",
    "wildguardmix": "wildguardmix",
    "magpie_ultra": "magpie_ultra",
    "magpie_pro_llama31": "magpie_dpo:PRO_LLAMA31",
    "magpie_pro": "magpie_dpo:PRO",
    "magpie_air": "magpie_dpo:AIR",
    "skywork": "skywork",
    "rewardbench": "rewardbench",
    "rewardbench2": "rewardbench2",
    "rmbench": "rmbench",
    "hh_rlhf": "hh_rlhf",
    "pku_saferlhf": "pku_saferlhf",
    "arena": "arena",
    "xstest": "xstest",
    "generic": "generic",
    "pairs": "saved_pairs",
}


def registered(registry: dict[str, str], name: str, unknown: str) -> Any:
    """registry[name] imported on first use: "module" (its READER) or "module:ATTR" under
    rewardkit.data.sources. Hyphens and underscores are the same (`hh-rlhf:` is `hh_rlhf:`); a name not
    registered is a ValueError, `unknown` followed by the registered names."""
    key = name.replace("-", "_")
    if key not in registry:
        raise ValueError(f"{unknown}: {', '.join(sorted(registry))}")
    module, _, attr = registry[key].partition(":")
    return getattr(importlib.import_module(f"rewardkit.data.sources.{module}"), attr or "READER")


def get_reader(name: str) -> Reader:
    """A reader by name (`registered`'s rules)."""
    return registered(_MODULES, name, f"unknown reader {name!r}; available")


def open_source(spec: str | Spec) -> Source:
    """A spec checked against its reader: known reader, declared and well-formed options."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    return Source.of(spec, get_reader(spec.reader))


def checked_spec(text: str) -> str:
    """`text` unchanged if it names a known reader with well-formed options (no data is read), else the
    ValueError naming what is wrong: for typed configs to refuse a bad spec before any stage runs."""
    open_source(text)
    return text


DataSpec = Annotated[str, AfterValidator(checked_spec)]
"""A spec string field of a pydantic config, checked when the config is."""


def iter_pairs(
    spec: str | Spec, *, on_bad_row: OnBadRow = DEFAULT_ON_BAD_ROW, quarantine: str | Path | None = None,
    ctx: ReadContext | None = None,
) -> Iterator[PreferencePair]:
    """Stream the pairs of one spec. Pass a ReadContext to get its report when the stream ends."""
    src = open_source(spec)
    ctx = ctx or ReadContext(str(src.spec), on_bad_row, quarantine)
    yield from counted(src.reader.read or map_rows, src, ctx)


def read_pairs(
    spec: str | Spec, *, on_bad_row: OnBadRow = DEFAULT_ON_BAD_ROW, quarantine: str | Path | None = None
) -> tuple[list[PreferencePair], ReadReport]:
    """All pairs of one spec, with the report of what was read, produced, skipped and dropped."""
    ctx = ReadContext(str(spec), on_bad_row, quarantine)
    pairs = list(iter_pairs(spec, ctx=ctx))
    return pairs, ctx.report

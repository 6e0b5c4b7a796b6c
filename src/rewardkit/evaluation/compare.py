"""Models side by side: every benchmark row of two or more results.json, with paired bootstrap intervals.

    rewardkit evaluate --scores A/results.json --scores B/results.json

Each later model is compared with the first over the examples both scored (matched by id), row by row:
RewardBench subsets and overall, RewardBench 2 subsets (Ties' ref/tied rows resampled together) and
overall, RM-Bench domains and Easy/Normal/Hard/Overall, best-of-N top-1 and Spearman per dataset. A
difference is "supported" when its paired bootstrap 95% interval excludes 0; otherwise the data cannot
tell the models apart on that row. Rows are for reporting, never for choosing hyperparameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rewardkit.evaluation import bestofn, rewardbench, rewardbench2, rmbench
from rewardkit.evaluation.bootstrap import N_BOOT, paired_difference


@dataclass(frozen=True)
class MetricRow:
    benchmark: str
    name: str
    metric: Callable[[list], float | None]
    select: Callable[[Mapping], bool] = lambda e: True
    scale: float = 100.0
    """100 for fractions shown in percent, 1 for correlations."""
    prepare: Callable[[Mapping], object] = lambda e: e
    """Per-example work done once, before resampling (a prompt's Spearman rho); metric gets its results."""


def _rb1_overall(rows: list) -> float | None:
    acc = {s: v["accuracy"] for s, v in rewardbench.per_subset(rows).items()}
    return rewardbench.overall(rewardbench.section_scores(acc), rewardbench.prior_sets_score(acc))


def _rb2_overall(rows: list) -> float | None:
    return rewardbench2.summarize(rows)["overall"]


def _rb2_subset(name: str) -> Callable[[list], float]:
    return lambda rows: rewardbench2.subset_scores(rows)[name]["score"]


def _rm(key: str) -> Callable[[list], float | None]:
    return lambda rows: rmbench.summarize(rows)[key]


def _rm_domain(rows: list) -> float:
    return rmbench.levels(rmbench.accuracy_matrix(rows))["score"]


def _mean_defined(values: list) -> float | None:
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def _unit(section: str, e: Mapping) -> tuple[str, str]:
    """(unit key, stratum) of an example: Ties ref:N and tied:N share a unit, as they share a prompt."""
    if section == "rewardbench2" and rewardbench2.is_ties(e["subset"]):
        return f"ties:{str(e['id']).partition(':')[2]}", e["subset"]
    group = e.get("subset") or e.get("domain") or e.get("dataset")
    if section == "rmbench":
        group = rmbench.domain_of(e["domain"])
    return f"{e.get('dataset', '')}|{group}|{e['id']}", group


def rows_for(section: str, examples: list[Mapping]) -> list[MetricRow]:
    """The table rows one results section gives, in reading order."""
    if section == "rewardbench":
        subsets = list(dict.fromkeys(e["subset"] for e in examples))
        rows = [MetricRow("RewardBench", s, rewardbench.accuracy, lambda e, s=s: e["subset"] == s) for s in subsets]
        if _rb1_overall(examples) is not None:
            rows.append(MetricRow("RewardBench", "overall", _rb1_overall))
        return rows
    if section == "rewardbench2":
        subsets = list(dict.fromkeys(e["subset"] for e in examples))
        rows = [MetricRow("RewardBench 2", s, _rb2_subset(s), lambda e, s=s: e["subset"] == s) for s in subsets]
        overall = [MetricRow("RewardBench 2", "overall", _rb2_overall)] if _rb2_overall(examples) is not None else []
        return rows + overall
    if section == "rmbench":
        domains = list(dict.fromkeys(rmbench.domain_of(e["domain"]) for e in examples))
        rows = [MetricRow("RM-Bench", d, _rm_domain, lambda e, d=d: rmbench.domain_of(e["domain"]) == d)
                for d in domains]
        full = rmbench.summarize(examples)["overall"] is not None
        suffix = "" if full else "_present_domains"
        return rows + [MetricRow("RM-Bench", (k + suffix).replace("_", " "), _rm(k + suffix)) for k in
                       ("easy", "normal", "hard", "overall")]
    if section == "best_of_n":
        rows = []
        for d in dict.fromkeys(e["dataset"] for e in examples):
            pick = lambda e, d=d: e["dataset"] == d  # noqa: E731
            rows.append(MetricRow("best-of-N", f"{d} top-1", _mean_defined, pick,
                            prepare=lambda e: bestofn.top1(e["scores"], e["ratings"])))
            rows.append(MetricRow("best-of-N", f"{d} Spearman", _mean_defined, pick, scale=1.0,
                            prepare=lambda e: bestofn.spearman(e["scores"], e["ratings"])))
        return rows
    raise ValueError(f"unknown results section {section!r}")


def sections_of(results: Mapping) -> dict[str, list[Mapping]]:
    """{section: examples} of one results.json (RewardBench v1 pairs live at the top level)."""
    out = {"rewardbench": results.get("examples") or []}
    for name in ("rewardbench2", "rmbench", "best_of_n"):
        out[name] = (results.get(name) or {}).get("examples") or []
    return {k: v for k, v in out.items() if v}


def compare(results: list[Mapping], *, n_boot: int = N_BOOT, seed: int = 0) -> list[dict]:
    """One dict per (row, later model): the first model's value, the other's, their paired difference."""
    if len(results) < 2:
        raise ValueError("compare needs two or more results")
    base = sections_of(results[0])
    # the first model's rows and strata depend on its examples alone: built once, not per row and model
    rows = {section: rows_for(section, examples) for section, examples in base.items()}
    strata = {section: dict(_unit(section, e) for e in examples) for section, examples in base.items()}
    out = []
    for k, other in enumerate(results[1:], 1):
        theirs = sections_of(other)
        for section in (s for s in base if s in theirs):  # in the first model's order
            for row in rows[section]:
                d = paired_difference(_units(section, base[section], row), _units(section, theirs[section], row),
                                      row.metric, strata=strata[section], n_boot=n_boot, seed=seed)
                out.append({"benchmark": row.benchmark, "row": row.name, "model": k, "scale": row.scale, **d})
    return out


def _units(section: str, examples: list[Mapping], row: MetricRow) -> dict[str, list[Mapping]]:
    units: dict[str, list] = {}
    for e in examples:
        if row.select(e):
            units.setdefault(_unit(section, e)[0], []).append(row.prepare(e))
    return units

"""The report's sections, one function each: RunOutputs in, an HTML section (or None: stage did not run) out.

Section ids: `stages` (what ran and what did not), `table1` (the inputs' and the mixture's Table 1),
`curation` (reads, and kept/dropped per step and reason), `fig3`, `table4`, `training` (loss, accuracy,
margin against step, train and validation), `rewardbench` (Table 2 row, per subset, per dataset) and
`scores` (chosen vs rejected score distributions per subset).
"""

from __future__ import annotations

from html import escape

from rewardkit.report import plots
from rewardkit.report.html import fmt, image, section, table
from rewardkit.report.outputs import STAGES, RunOutputs
from rewardkit.report.stages import format_minutes, stage_rows


def stages_section(out: RunOutputs) -> str:
    ran, named = out.ran(), {k for k, v in out.recipe.items() if v is not None}  # dump_recipe writes `train: null`
    items = []
    for stage in STAGES:
        if ran[stage]:
            items.append(f'<li class="ran">{stage}: ran</li>')
        elif stage in named:
            items.append(f'<li class="not">{stage}: in the recipe, but its outputs are missing (failed or stopped)</li>')
        else:
            items.append(f'<li class="not">{stage}: did not run (not in the recipe)</li>')
    body = f"<ul>{''.join(items)}</ul>"
    if out.stage_seconds:
        rows = [{**r, "wall": format_minutes(r["seconds"])} for r in stage_rows(out, out.stage_seconds)]
        body += table(rows, [("stage", "Stage"), ("wall", "wall m:s"), ("figure", "main figure"), ("outputs", "outputs")])
    return section("stages", "Stages", body)


T1_COLUMNS = [("dataset", "Dataset"), ("pairs", "# Pairs"), ("avg_turns", "Avg. # Turns"),
              ("avg_prompt_tokens", "Avg. Prompt Tokens"), ("avg_response_tokens", "Avg. Response Tokens")]


def table1_section(out: RunOutputs) -> str | None:
    parts = []
    if out.data_table1 is not None:
        parts.append("<h3>Inputs (data stage)</h3>" + table(out.data_table1, T1_COLUMNS))
        reports = [{"dataset": r["dataset"], **r["report"]} for r in out.data_table1 if r.get("report")]
        if reports:
            parts.append(table(reports, [("dataset", "Dataset"), ("rows_read", "rows read"), ("pairs", "pairs"),
                                         ("skipped", "skipped (reason: n)"), ("dropped", "dropped by rule")],
                               "Read reports"))
    if out.curate_table1 is not None:
        parts.append("<h3>The curated mixture</h3>" + table(out.curate_table1, T1_COLUMNS))
    return section("table1", "Table 1: preference data statistics", "".join(parts)) if parts else None


def curation_section(out: RunOutputs) -> str | None:
    c = out.counts
    if c is None:
        return None
    reads = [{"source": label, **r.model_dump()} for label, rs in c.reads.items() for r in rs]
    steps = [{**s.model_dump(), "dropped_total": sum(s.dropped.values())} for s in c.steps]
    body = (f"<p>{fmt(c.total)} pairs after curation.</p>"
            + table(reads, [("source", "Source"), ("spec", "spec"), ("rows_read", "rows read"), ("pairs", "pairs"),
                            ("skipped", "skipped"), ("dropped", "dropped by rule")], "Reads per source")
            + table(steps, [("label", "Label"), ("step", "Step"), ("seen", "seen"), ("kept", "kept"),
                            ("dropped_total", "dropped"), ("dropped", "dropped per reason")],
                    "Kept and dropped per step and reason"))
    if c.duplicates:
        body += table([d.model_dump() for d in c.duplicates], [("dropped_from", "dropped from"), ("kept_from", "kept from"), ("n", "pairs")],
                      "Exact duplicates across sources")
    return section("curation", "Curation: counts per step and reason", body)


def fig3_section(out: RunOutputs) -> str | None:
    if out.fig3_png is None:
        return None
    return section("fig3", "Fig 3: Magpie score distributions before and after the offsets",
                   image(out.fig3_png, "Fig 3"))


def table4_section(out: RunOutputs) -> str | None:
    t = out.table4
    if t is None:
        return None
    cols = [("source", "Dataset"), ("benchmark_prompts_matched", "bench matched"),
            ("contaminated_prompts", "contam. prompts"), ("contaminated_pairs", "contam. pairs"),
            ("prompts", "prompts"), ("pairs", "pairs")]
    subsets = [{"subset": k, **v} for k, v in t.get("benchmark_subsets", {}).items()]
    body = (f'<p class="note">{fmt(t.get("n"))}-gram matches, fields={escape(fmt(t.get("fields")))}; bench matched: '
            "benchmark prompts with a match; contam.: contaminated training prompts (distinct) and pairs.</p>"
            + table(t.get("table4", []), cols)
            + (table(subsets, [("subset", "Benchmark subset"), ("matched", "prompts matched"), ("prompts", "prompts")],
                     "Matches per benchmark subset") if subsets else ""))
    return section("table4", "Table 4: decontamination against the benchmarks", body)


def training_section(out: RunOutputs) -> str | None:
    log = out.train_log
    if log is None:
        return None
    steps = [r for r in log if r.get("event") == "step"]
    evals = [r for r in log if r.get("event") == "eval"]
    start = next((r for r in log if r.get("event") == "start"), {})
    facts = {"steps logged": len(steps), "validations": len(evals), "world size": start.get("world_size"),
             "train pairs": (start.get("train_pairs") or {}).get("kept"),
             "validation pairs": (start.get("val_pairs") or {}).get("kept")}
    body = "<p>" + "; ".join(f"{k}: {escape(fmt(v))}" for k, v in facts.items()) + "</p>"
    if steps or evals:
        body += image(plots.training_curves(log), "training curves")
    if evals:
        body += table(evals, [("step", "step"), ("loss", "loss"), ("accuracy", "accuracy"), ("margin", "margin"),
                              ("best", "best")], "Validation")
    return section("training", "Training curves", body)


def rewardbench_section(out: RunOutputs) -> str | None:
    r = out.results
    if r is None:
        return None
    pct = lambda v: None if v is None else round(100 * v, 1)  # noqa: E731
    body = f'<p class="note">model: {escape(fmt(r.model))}</p>'
    if r.table2:
        row = {k: None if v is None else round(v, 1) for k, v in r.table2.items()}
        body += table([row], [(k, k) for k in row], "RewardBench (the report's Table 2 columns, %)")
        if r.overall is None:
            body += (f'<p class="note">Avg needs all four sections (missing ones: —). Mean of the sections '
                     f"present: {fmt(pct(r.overall_present_sections))}; the official scorer, counting "
                     f"missing sections as 0: {fmt(pct(r.overall_official_zero_fill))}.</p>")
    subsets = [{"subset": k, **v.model_dump(), "accuracy": pct(v.accuracy)} for k, v in (r.subsets or {}).items()]
    body += table(subsets, [("subset", "Subset"), ("n", "n"), ("correct", "correct"), ("accuracy", "accuracy %")],
                  "Per subset")
    datasets = [{"dataset": k, "n": v.n, "accuracy": pct(v.accuracy),
                 "ci": f"{fmt(pct(v.ci95[0]))}–{fmt(pct(v.ci95[1]))}"} for k, v in (r.datasets or {}).items()]
    body += table(datasets, [("dataset", "Dataset"), ("n", "n"), ("accuracy", "accuracy %"), ("ci", "95% CI")],
                  "Per dataset (bootstrap 95% interval)")
    return section("rewardbench", "RewardBench", body)


def scores_section(out: RunOutputs) -> str | None:
    examples = out.results.examples if out.results else None
    if not examples:
        return None
    return section("scores", "Chosen vs rejected scores per subset",
                   image(plots.score_distributions(examples), "score distributions"))


SECTIONS = (stages_section, table1_section, curation_section, fig3_section, table4_section, training_section,
            rewardbench_section, scores_section)
"""In page order; their ids are SECTION_IDS."""
SECTION_IDS = ("stages", "table1", "curation", "fig3", "table4", "training", "rewardbench", "scores")

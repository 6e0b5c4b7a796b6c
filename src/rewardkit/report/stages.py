"""The table `rewardkit run` ends with: each stage's wall time, its main figure and where its outputs are.

The wall times are the pipeline's (OUT/stages.json, written as each stage finishes); the figures are read
back from the stage outputs on disk, the same files the HTML report shows, so the table and the page
cannot disagree.
"""

from __future__ import annotations

from pathlib import Path

from rewardkit.evaluation.tables import pct as _pct
from rewardkit.report.outputs import RunOutputs, curate_dir
from rewardkit.training.summary import TrainSummary


def train_figure(summary: TrainSummary) -> str:
    """Held-out accuracy of the model beside its probe and "longer wins", from train/summary.json."""
    cells = (summary.heldout or {}).get("all")
    if not cells:
        return f"{summary.steps} steps (no held-out pairs)"
    model = cells["model"]
    lo, hi = model.ci95
    text = f"held-out {_pct(model.accuracy)}% [{_pct(lo)}, {_pct(hi)}] of {model.pairs} pairs"
    if "probe" in cells:
        text += f"; probe {_pct(cells['probe'].accuracy)}"
    return text + f"; longer wins {_pct(cells['length_baseline'].accuracy)}"


def evaluate_figure(results) -> str:
    """RewardBench's sections present, RewardBench 2's and RM-Bench's overall (or mean of what is present),
    from an evaluate stage's EvaluationResults."""
    parts = [f"RewardBench {name} {value:.1f}" for name, value in (results.table2 or {}).items()
             if name != "Avg" and value is not None]
    for label, summary, partial in (("RB2", results.rewardbench2, "subsets"), ("RM-Bench", results.rmbench, "domains")):
        if summary:
            value = summary.get("overall")
            parts.append(f"{label} {_pct(value)}" if value is not None else
                         f"{label} {_pct(summary.get(f'overall_present_{partial}'))} ({partial} present)")
    return "; ".join(parts) or "no benchmark scored"


def main_figures(out: RunOutputs) -> dict[str, str]:
    """Stage -> its one-line main figure, for the stages whose outputs are on disk."""
    figures: dict[str, str] = {}
    fixtures = out.run_dir / "fixtures"
    if fixtures.is_dir():
        sources = [p for p in fixtures.iterdir() if not p.name.startswith(".")]  # not the output marker
        figures["fixtures"] = f"{len(sources)} sources in their public schemas"
    if out.data_table1 is not None:
        inputs = [r for r in out.data_table1 if r.get("dataset") != "Total"]
        figures["data"] = f"{len(inputs)} input{'s' * (len(inputs) != 1)}, {sum(r.get('pairs') or 0 for r in inputs):,} pairs"
    if out.counts is not None:
        figures["curate"] = f"{out.counts.total:,} pairs in the mix"
    if out.table4 is not None:
        sources = [r for r in out.table4.get("table4", []) if r["source"] != "total"]
        figures["decontaminate"] = (f"{sum(r['contaminated_pairs'] for r in sources):,} of "
                                    f"{sum(r['pairs'] for r in sources):,} pairs removed")
    if out.train_summary is not None:
        figures["train"] = train_figure(out.train_summary)
    if out.results is not None:
        figures["evaluate"] = evaluate_figure(out.results)
    return figures


def output_places(out: RunOutputs) -> dict[str, Path]:
    """Stage -> where its outputs are (the model directory for train, results.json for evaluate)."""
    run = out.run_dir
    return {"fixtures": run / "fixtures", "data": run / "data", "curate": curate_dir(run, out.recipe),
            "decontaminate": run / "decontaminate", "train": run / "train" / "model",
            "evaluate": run / "evaluate" / "results.json", "report": run / "report.html"}


def stage_rows(out: RunOutputs, seconds: dict[str, float]) -> list[dict]:
    """One row per stage that ran (in run order): stage, seconds, figure, outputs."""
    figures, places = main_figures(out), output_places(out)
    return [{"stage": stage, "seconds": s, "figure": figures.get(stage, "written" if stage == "report" else "—"),
             "outputs": str(places.get(stage, out.run_dir))} for stage, s in seconds.items()]


def format_minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def stage_table_lines(rows: list[dict]) -> list[str]:
    """The table as aligned plain-text lines (no wrapping, so it reads the same in a log or a README)."""
    cells = [["stage", "wall m:s", "main figure", "outputs"]]
    cells += [[r["stage"], format_minutes(r["seconds"]), r["figure"], r["outputs"]] for r in rows]
    cells.append(["total", format_minutes(sum(r["seconds"] for r in rows)), "", ""])
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    return [f"{c[0]:<{widths[0]}}  {c[1]:>{widths[1]}}  {c[2]:<{widths[2]}}  {c[3]}".rstrip() for c in cells]


def print_stage_table(rows: list[dict], console) -> None:
    for line in stage_table_lines(rows):
        console.print(line, highlight=False, markup=False, soft_wrap=True)

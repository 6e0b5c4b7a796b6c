"""Printed tables of the pair datasets, the multi-response benchmarks and a side-by-side comparison (rich)."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.table import Table

from rewardkit.evaluation import rewardbench, rewardbench2, rmbench


def pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def _table(title: str, columns: list[str]) -> Table:
    t = Table(title=title, title_justify="left")
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    return t


def print_summary(summary: Mapping, console: Console) -> None:
    """The pair datasets' tables: per subset, per dataset with its interval, and RewardBench's Table 2 row."""
    t = _table("Per subset", ["subset", "n", "correct", "accuracy"])
    for name, s in summary["subsets"].items():
        t.add_row(name, str(s["n"]), str(s["correct"]), pct(s["accuracy"]))
    console.print(t)
    t = _table("Per dataset (bootstrap 95% interval)", ["dataset", "n", "accuracy", "95% CI"])
    for name, d in summary["datasets"].items():
        t.add_row(name, str(d["n"]), pct(d["accuracy"]), f"{pct(d['ci95'][0])}–{pct(d['ci95'][1])}")
    console.print(t)
    if "sections" not in summary:
        return
    row = Table(title="RewardBench (report Table 2 format)", title_justify="left")
    for col in ("Avg", *rewardbench.SECTIONS):
        row.add_column(col, justify="right")
    row.add_row(pct(summary["overall"]), *(pct(summary["sections"][s]) for s in rewardbench.SECTIONS))
    console.print(row)
    if summary["overall"] is None:
        console.print(f"Avg needs all four sections (missing ones shown —). Mean of the sections present: "
                      f"{pct(summary['overall_present_sections'])}; the official scorer, counting missing "
                      f"sections as 0: {pct(summary['overall_official_zero_fill'])}.", highlight=False)


def print_rewardbench2(s: Mapping, console: Console) -> None:
    t = _table("RewardBench 2 (official scoring: best-of-4 with tie credit 1/k; Ties weighted score)",
               ["subset", "n", "score"])
    for name, v in s["subsets"].items():
        t.add_row(name, str(v["n"]), pct(v["score"]))
    t.add_row("overall (mean of the six)", "", pct(s["overall"]))
    console.print(t)
    if s["overall"] is None:
        console.print(f"RewardBench 2 overall needs all of {', '.join(rewardbench2.SUBSETS)}; mean of the "
                      f"subsets present: {pct(s['overall_present_subsets'])}.", highlight=False)


def print_rmbench(s: Mapping, console: Console) -> None:
    t = _table("RM-Bench (chosen style i beats rejected style j; hard = i < j)",
               ["domain", "n", "easy", "normal", "hard", "score"])
    for name, v in s["domains"].items():
        t.add_row(name, str(v["n"]), pct(v["easy"]), pct(v["normal"]), pct(v["hard"]), pct(v["score"]))
    full = s["overall"] is not None
    key = "" if full else "_present_domains"
    t.add_row("overall" if full else "mean of domains present", "", *(pct(s[k + key]) for k in
                                                                     ("easy", "normal", "hard", "overall")))
    console.print(t)
    if not full:
        console.print(f"RM-Bench overall needs all of {', '.join(rmbench.DOMAINS)}; the last row averages the "
                      "domains present.", highlight=False)


def print_best_of_n(s: Mapping, console: Console) -> None:
    t = _table("Best-of-N (bootstrap 95% intervals over prompts)",
               ["dataset", "prompts", "top-1", "95% CI", "chance", "Spearman", "95% CI", "undefined"])
    for name, v in s["datasets"].items():
        rho = "—" if v["spearman"] is None else f"{v['spearman']:.3f}"
        rho_ci = "—" if v["spearman_ci95"] is None else "{:.3f}–{:.3f}".format(*v["spearman_ci95"])
        t.add_row(name, str(v["n"]), pct(v["top1"]), "{}–{}".format(*map(pct, v["top1_ci95"])), pct(v["chance"]),
                  rho, rho_ci, str(v["undefined"]))
    console.print(t)


MIN_UNITS = 10
"""Below this many examples a bootstrap interval is too coarse to support a claim either way."""
PRINTERS = {"rewardbench2": print_rewardbench2, "rmbench": print_rmbench, "best_of_n": print_best_of_n}


def print_comparison(rows: list[Mapping], names: list[str], console: Console) -> None:
    """One table: each row's value for the first model and another, their difference and its interval."""
    t = _table("Side by side (paired bootstrap 95% interval of B − A over the same examples)",
               ["row", "n", "A", "B", "B − A", "95% CI", "supported?"])
    last = None
    for r in rows:
        if r["benchmark"] != last:
            t.add_section() if last is not None else None
            t.add_row(f"[bold]{r['benchmark']}[/bold]", *[""] * 6)
            last = r["benchmark"]
        fmt = _fmt(r["scale"])
        ci = "—" if r["ci95"] is None else f"{fmt(r['ci95'][0])}, {fmt(r['ci95'][1])}"
        verdict = ("B better" if r["diff"] > 0 else "A better") if r["supported"] else "no"
        if r["n"] < MIN_UNITS:
            verdict = f"n < {MIN_UNITS}"
        label = "  " + r["row"] + ("" if len(names) == 2 else f" [B = {names[r['model']]}]")
        t.add_row(label, str(r["n"]), fmt(r["a"]), fmt(r["b"]), fmt(r["diff"]), ci, verdict)
    console.print(t)
    console.print("A = " + names[0] + "; B = " + ", ".join(names[1:]) + ". Values in percent (Spearman as is). "
                  "'supported' = the interval excludes 0; 'no' = these examples cannot tell the models apart on "
                  f"that row; rows with fewer than {MIN_UNITS} examples make no claim.", highlight=False)


def _fmt(scale: float):
    if scale == 1:
        return lambda v: "—" if v is None else f"{v:.3f}"
    return lambda v: "—" if v is None else f"{scale * v:.1f}"

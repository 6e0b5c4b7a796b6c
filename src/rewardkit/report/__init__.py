"""`rewardkit report RUN_DIR`: one self-contained report.html from a run's stage outputs on disk.

`rewardkit run` writes it at the end, into the run's out_dir; this rebuilds it (e.g. after a run was
stopped, or to see a finished stage early). Reading is in `outputs`, the sections in `sections`, HTML
primitives in `html`, figures in `plots`.
"""

from __future__ import annotations

from pathlib import Path

from rewardkit.report.outputs import RunOutputs, read_run
from rewardkit.data.io import write_text_atomic
from rewardkit.report.html import page
from rewardkit.report.sections import SECTIONS

REPORT = "report.html"


def render(out: RunOutputs) -> str:
    """The whole page; sections of stages that did not run are left out (the `stages` section lists them)."""
    parts = [html for build in SECTIONS if (html := build(out)) is not None]
    return page("rewardkit run report", str(out.run_dir), parts)


def write_report(run_dir: str | Path) -> Path:
    """Read RUN_DIR's outputs and write RUN_DIR/report.html atomically; returns its path."""
    out = read_run(run_dir)
    dest = Path(run_dir) / REPORT
    write_text_atomic(dest, render(out))
    return dest

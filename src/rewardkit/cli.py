"""`rewardkit`: one command, one subcommand per stage.

    rewardkit run recipes/quickstart.yaml          # the whole pipeline as far as a recipe goes
    rewardkit data stats SPEC...                   # Table 1 for any inputs
    rewardkit data convert SPEC --out FILE         # any source -> PreferencePairs (jsonl/parquet)
    rewardkit data fixtures --out DIR              # files in the public schemas of unreachable sources
    rewardkit decontaminate --data SPEC --benchmark SPEC --out DIR   # n-gram decontamination, Table 4
    rewardkit evaluate --model M --data SPEC --out DIR   # RewardBench v1/2, RM-Bench, best-of-N; --scores FILE recomputes
    rewardkit score --model M --data SPEC --out FILE     # both scores of every pair, as jsonl
    rewardkit serve --model M                            # HTTP: POST /score
    rewardkit features --model M --data SPEC --out DIR   # cached pooled features for probes
    rewardkit probe --features DIR --out DIR             # a linear reward head on them, exported
    rewardkit report RUN_DIR                             # rebuild a run's report.html
"""

from __future__ import annotations

import os

import typer
from rich.console import Console

from rewardkit.commands import (ConvertCommand, DecontaminateCommand, EvaluateCommand, FeaturesCommand, FixturesCommand,
                                ProbeCommand, ReportCommand, StatsCommand, TrainCommand)
from rewardkit.curation.config import CurateConfig
from rewardkit.evaluation.run import ScoreConfig
from rewardkit.pipeline import PipelineRecipe
from rewardkit.serving.config import ServeConfig, bound_kernel_caches
from rewardkit.training.plan import DryRunOptions
from rewardkit.typed_cli import config_command, recipe_command
from rewardkit.data.io import write_pairs
from rewardkit.data.sources import iter_pairs
from rewardkit.data.sources.base import ReadContext, fresh_quarantine, parse_spec
from rewardkit.data.stats import print_table
from rewardkit.errors import check_output_file, own_output_dir, report_error
from rewardkit.models.tokenizers import stage_table
from rewardkit.report import write_report
from rewardkit.training import train_recipe
from rewardkit.training.dryrun import dry_run

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n")[0])
data_app = typer.Typer(no_args_is_help=True, help="Read, convert and describe preference data.")
app.add_typer(data_app, name="data")
console = Console()

# Every option below comes from a field of the named model: its flag, type, default and help text
# (rewardkit.typed_cli). Recipe commands take a YAML file plus key=value overrides.


@recipe_command(app, "run", PipelineRecipe)
def run(recipe: PipelineRecipe) -> None:
    """Run every stage a recipe has: data stats, curate, decontaminate, train, evaluate."""
    from rewardkit.pipeline import run_recipe

    run_recipe(recipe, console)


@config_command(data_app, "stats", StatsCommand, arguments={"stats": "SPEC"}, required=["stats"])
def data_stats(cfg: StatsCommand) -> None:
    """The paper's Table 1 (pairs, turns, prompt and response tokens) for any inputs."""
    print_table(stage_table(cfg, cfg.quarantine_dir), console)


@config_command(data_app, "convert", ConvertCommand, arguments={"spec": "SPEC"})
def data_convert(cfg: ConvertCommand) -> None:
    """Read any source into PreferencePairs and write them atomically."""
    check_output_file(cfg.out, [parse_spec(cfg.spec).location])
    quarantine = cfg.quarantine or cfg.out.with_name(cfg.out.name + ".quarantine.jsonl")
    ctx = ReadContext(cfg.spec, cfg.on_bad_row, fresh_quarantine(quarantine))
    # Streamed: a bad row in error mode aborts the write, and atomic_path leaves no output file.
    n = write_pairs(cfg.out, iter_pairs(cfg.spec, ctx=ctx))
    console.print(ctx.report.summary(), highlight=False, markup=False)
    if quarantine.exists():
        console.print(f"skipped and dropped rows, with reasons: {quarantine}", highlight=False)
    console.print(f"wrote {n} pairs to {cfg.out}")


@config_command(data_app, "fixtures", FixturesCommand)
def data_fixtures(cfg: FixturesCommand) -> None:
    """Write files in the public schemas of HelpSteer2, OffsetBias, WildGuardMix and the Magpie sets."""
    from rewardkit.data.fixtures import write_fixtures

    for name, path in write_fixtures(cfg.out, scale=cfg.scale, seed=cfg.seed).items():
        console.print(f"{name}:{path}", highlight=False)


@recipe_command(app, "train", TrainCommand, flags=["resume", *DryRunOptions.model_fields])
def train(cfg: TrainCommand) -> None:
    """Train a reward model on preference pairs (Bradley-Terry or a variant); writes an HF model dir.

    Multi-process: ACCELERATE_USE_CPU=true torchrun --standalone --nproc_per_node 2 -m rewardkit.cli train R.yaml
    Plan a cluster run without weights: --dry-run --accelerate-config configs/accelerate/X.yaml (docs/cluster.md)
    """
    if cfg.dry_run:
        dry_run(cfg, DryRunOptions.model_validate(cfg.model_dump(include=set(DryRunOptions.model_fields))),
                cfg.out_dir, console)
        return

    console.print(f"model saved to {train_recipe(cfg.recipe())}")


@config_command(app, "features", FeaturesCommand, required=["data"])
def features(cfg: FeaturesCommand) -> None:
    """Cache pooled backbone features of pair datasets (one bf16 pass) for probes and ablations."""
    from rewardkit.probing.cache import FeaturesConfig, build_features

    build_features(FeaturesConfig(**cfg.model_dump(exclude={"out"})), cfg.out, log=console.print)


@config_command(app, "probe", ProbeCommand, required=["features"])
def probe(cfg: ProbeCommand) -> None:
    """Fit a linear reward head on cached features in seconds; export it as a reward model."""
    from rewardkit.probing.run import ProbeRecipe, run_probe

    run_probe(ProbeRecipe(**cfg.model_dump(exclude={"out"})), cfg.out, log=console.print)


@config_command(app, "decontaminate", DecontaminateCommand, required=["data"])
def decontaminate(cfg: DecontaminateCommand) -> None:
    """Remove pairs sharing a word n-gram with benchmark prompts; print the paper's Table 4."""
    from rewardkit.decontamination.run import decontaminate as run_decontaminate

    run_decontaminate(cfg, cfg.out, console)


@recipe_command(app, "curate", CurateConfig)
def curate(cfg: CurateConfig) -> None:
    """Curate a training mixture: sources, Magpie selection, WildGuard filters, dedupe, seeded shuffle."""
    from rewardkit.curation.run import curate as run_curate

    result = run_curate(cfg, console=console)
    console.print(f"wrote {result['n_pairs']:,} pairs to {result['pairs']} (and .jsonl); counts in {result['counts']}")


@config_command(app, "evaluate", EvaluateCommand)
def evaluate(cfg: EvaluateCommand) -> None:
    """RewardBench v1 sections and Table 2 row, RewardBench 2, RM-Bench, best-of-N; models side by side."""
    from rewardkit.evaluation.run import EvaluateConfig, compare_files, recompute
    from rewardkit.evaluation.run import evaluate as run_evaluate

    if cfg.scores:
        if cfg.data or cfg.model or cfg.best_of_n:
            raise ValueError("--scores recomputes from stored scores: give it alone, without --model/--data")
        if len(cfg.scores) == 1:
            recompute(cfg.scores[0], console, cfg.out)
        else:
            compare_files(cfg.scores, console, cfg.out)
        return
    if not (cfg.data or cfg.best_of_n) or cfg.out is None:
        raise ValueError("evaluate needs --data SPEC (one or more) and --out DIR, or --scores FILE")
    models = cfg.model or [None]
    outs = [cfg.out] if len(models) == 1 else [cfg.out / f"model-{k}" for k in range(len(models))]
    if len(outs) > 1:  # OUT holds each model's folder and the comparison: rewardkit's before any scoring
        own_output_dir(cfg.out)
    shared = cfg.model_dump(exclude={"out", "scores", "model"})
    for m, o in zip(models, outs):
        run_evaluate(EvaluateConfig(model=m, **shared), o, console)
    if len(outs) > 1:
        compare_files([o / "results.json" for o in outs], console, cfg.out)


@config_command(app, "score", ScoreConfig)
def score(cfg: ScoreConfig) -> None:
    """Score both responses of every pair of a dataset with a reward model."""
    from rewardkit.evaluation.run import score_file

    score_file(cfg, console)


@config_command(app, "serve", ServeConfig)
def serve(cfg: ServeConfig) -> None:
    """Serve a reward model over HTTP: POST /score, OpenRLHF's POST /get_reward, /health, /ready, /metrics."""
    bound_kernel_caches(cfg.kernel_cache_capacity)  # before torch builds a kernel (BENCHMARKS.md "Serving")
    from rewardkit.serving.app import serve as run_server

    run_server(cfg)


@config_command(app, "report", ReportCommand, arguments={"run_dir": "RUN_DIR"})
def report(cfg: ReportCommand) -> None:
    """Rebuild RUN_DIR/report.html from the stage outputs on disk (rewardkit run writes it at the end)."""
    console.print(f"wrote {write_report(cfg.run_dir)}", highlight=False)


def main() -> None:
    """The console entry point: a failure is one line on stderr (rewardkit.errors); RK_DEBUG=1 re-raises."""
    try:
        app()
    except Exception as e:
        if os.environ.get("RK_DEBUG", "0") not in ("", "0"):
            raise

        raise SystemExit(report_error(e)) from None


if __name__ == "__main__":
    main()

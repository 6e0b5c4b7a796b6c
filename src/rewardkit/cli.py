"""`rewardkit`: one command, one subcommand per stage.

    rewardkit run recipes/quickstart.yaml          # the whole pipeline as far as a recipe goes
    rewardkit data stats SPEC...                   # Table 1 for any inputs
    rewardkit data convert SPEC --out FILE         # any source -> PreferencePairs (jsonl/parquet)
    rewardkit data fixtures --out DIR              # files in the public schemas of unreachable sources
    rewardkit decontaminate --data SPEC --benchmark SPEC --out DIR   # n-gram decontamination, Table 4
    rewardkit evaluate --model M --data SPEC --out DIR   # RewardBench v1/2, RM-Bench, best-of-N; --scores FILE recomputes
    rewardkit score --model M --data SPEC --out FILE     # both scores of every pair, as jsonl
    rewardkit serve --model M                            # HTTP: POST /score
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n")[0])
data_app = typer.Typer(no_args_is_help=True, help="Read, convert and describe preference data.")
app.add_typer(data_app, name="data")
console = Console()

OnBadRowOpt = Annotated[str, typer.Option("--on-bad-row", help="error (default): stop at the first bad row, "
                                          "naming file, line and field; skip: quarantine it and go on.")]


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="A pipeline recipe (YAML).", exists=True, dir_okay=False)],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="key.sub=value overrides.")] = None,
):
    """Run every stage a recipe has: data stats, curate, decontaminate, train, evaluate."""
    from rewardkit.pipeline import run as run_pipeline

    run_pipeline(recipe, overrides or [], console)


@data_app.command("stats")
def data_stats(
    specs: Annotated[list[str], typer.Argument(help="READER:PATH_OR_HUB_ID specs.")],
    tokenizer: Annotated[Optional[str], typer.Option(help="Tokenizer for token counts (default: SmolLM2).")] = None,
    on_bad_row: OnBadRowOpt = "error",
    quarantine_dir: Annotated[Optional[Path], typer.Option(help="Where skipped rows go, one file per spec.")] = None,
):
    """The report's Table 1 (pairs, turns, prompt and response tokens) for any inputs."""
    from rewardkit.data.stats import dataset_table, print_table

    print_table(dataset_table(specs, tokenizer=tokenizer, on_bad_row=on_bad_row, quarantine_dir=quarantine_dir), console)


@data_app.command("convert")
def data_convert(
    spec: Annotated[str, typer.Argument(help="READER:PATH_OR_HUB_ID spec.")],
    out: Annotated[Path, typer.Option("--out", help="Output file: .jsonl or .parquet.")],
    on_bad_row: OnBadRowOpt = "error",
    quarantine: Annotated[Optional[Path], typer.Option(help="Where skipped rows go (default: OUT.quarantine.jsonl).")] = None,
):
    """Read any source into PreferencePairs and write them atomically."""
    from rewardkit.data.io import write_pairs
    from rewardkit.data.sources import iter_pairs
    from rewardkit.data.sources.base import ReadContext, fresh_quarantine
    from rewardkit.errors import check_output_file

    check_output_file(out)
    quarantine = quarantine or out.with_name(out.name + ".quarantine.jsonl")
    ctx = ReadContext(spec, on_bad_row, fresh_quarantine(quarantine))  # type: ignore[arg-type]
    # Streamed: a bad row in error mode aborts the write, and atomic_path leaves no output file.
    n = write_pairs(out, iter_pairs(spec, ctx=ctx))
    console.print(ctx.report.summary(), highlight=False, markup=False)
    console.print(f"wrote {n} pairs to {out}")


@data_app.command("fixtures")
def data_fixtures(
    out: Annotated[Path, typer.Option("--out", help="Directory for the fixture files (one folder per source).")],
    scale: Annotated[str, typer.Option(help="small: a few hundred rows per source; full: the report's ~378K pairs.")] = "small",
    seed: Annotated[int, typer.Option(help="Seed of the generators; equal seeds give identical files.")] = 0,
):
    """Write files in the public schemas of HelpSteer2, OffsetBias, WildGuardMix and the Magpie sets."""
    from rewardkit.data.fixtures import write_fixtures

    for name, path in write_fixtures(out, scale=scale, seed=seed).items():  # type: ignore[arg-type]
        console.print(f"{name}:{path}", highlight=False)


@app.command()
def train(
    recipe: Annotated[Path, typer.Argument(help="A training recipe (YAML), e.g. recipes/train-hh-smollm2.yaml.",
                                           exists=True, dir_okay=False)],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="key.sub=value overrides.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the latest checkpoint in out_dir.")] = False,
):
    """Train a reward model on preference pairs (Bradley-Terry or a variant); writes an HF model dir.

    Multi-process: ACCELERATE_USE_CPU=true torchrun --standalone --nproc_per_node 2 -m rewardkit.cli train R.yaml
    """
    from rewardkit.recipe import load_recipe
    from rewardkit.training import TrainRecipe, train as run_train

    cfg = load_recipe(recipe, TrainRecipe, (overrides or []) + (["resume=true"] if resume else []))
    console.print(f"model saved to {run_train(cfg)}")


def _decon_help(name: str) -> str:
    from rewardkit.decontamination.run import DecontaminateStage

    return DecontaminateStage.model_fields[name].description


@app.command()
def decontaminate(
    data: Annotated[list[str], typer.Option("--data", help="Pair spec to decontaminate (repeat for several).")],
    out: Annotated[Path, typer.Option("--out", help="Output dir: clean.jsonl, removed.jsonl, table4.json.")],
    benchmark: Annotated[Optional[list[str]], typer.Option("--benchmark", help=_decon_help("benchmark")
                                                           + " Repeat for several.")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help=_decon_help("n"))] = 7,
    fields: Annotated[str, typer.Option("--fields", help=_decon_help("fields")
                                        + " (first_user|all_user|all)")] = "first_user",
    on_bad_row: OnBadRowOpt = "error",
):
    """Remove pairs sharing a word n-gram with benchmark prompts; print the report's Table 4."""
    from rewardkit.decontamination.run import DEFAULT_BENCHMARK
    from rewardkit.decontamination.run import decontaminate as run_decontaminate

    run_decontaminate(data, benchmark or [DEFAULT_BENCHMARK], out, n=n, fields=fields, on_bad_row=on_bad_row,
                      console=console)


@app.command()
def curate(
    recipe: Annotated[Path, typer.Argument(help="A curation recipe (YAML), e.g. recipes/skywork-80k.yaml.",
                                           exists=True, dir_okay=False)],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="key.sub=value overrides.")] = None,
):
    """Curate a training mixture: sources, Magpie selection, WildGuard filters, dedupe, seeded shuffle."""
    from rewardkit.curation.config import CurateConfig
    from rewardkit.curation.run import curate as run_curate
    from rewardkit.recipe import load_recipe

    result = run_curate(load_recipe(recipe, CurateConfig, overrides or []), console=console)
    console.print(f"wrote {result['n_pairs']:,} pairs to {result['pairs']} (and .jsonl); counts in {result['counts']}")


def _eval_help(name: str) -> str:
    from rewardkit.evaluation.run import EvaluateConfig

    return EvaluateConfig.model_fields[name].description or ""


@app.command()
def evaluate(
    model: Annotated[Optional[list[str]], typer.Option(help=_eval_help("model") + " Repeat to compare models "
                                                       "(each in OUT/model-K/, then side by side).")] = None,
    data: Annotated[Optional[list[str]], typer.Option("--data", help=_eval_help("data") + " Repeat for several.")] = None,
    best_of_n: Annotated[Optional[list[str]], typer.Option("--best-of-n", help=_eval_help("best_of_n")
                                                           + " Repeat for several.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output directory for results.json.")] = None,
    scores: Annotated[Optional[list[Path]], typer.Option("--scores", help="A results.json: recompute every number "
                                                         "from its per-example scores, without a model. Repeat to "
                                                         "compare models side by side.")] = None,
    max_length: Annotated[Optional[int], typer.Option(help=_eval_help("max_length"))] = None,
    batch_tokens: Annotated[int, typer.Option(help=_eval_help("batch_tokens"))] = 8192,
    dtype: Annotated[str, typer.Option(help=_eval_help("dtype"))] = "bfloat16",
    seed: Annotated[int, typer.Option(help=_eval_help("seed"))] = 0,
    on_bad_row: OnBadRowOpt = "error",
):
    """RewardBench v1 sections and Table 2 row, RewardBench 2, RM-Bench, best-of-N; models side by side."""
    from rewardkit.evaluation.run import EvaluateConfig, compare_files, recompute
    from rewardkit.evaluation.run import evaluate as run_evaluate

    if scores:
        if data or model or best_of_n:
            raise ValueError("--scores recomputes from stored scores: give it alone, without --model/--data")
        recompute(scores[0], console) if len(scores) == 1 else compare_files(scores, console)
        return
    if not (data or best_of_n) or out is None:
        raise ValueError("evaluate needs --data SPEC (one or more) and --out DIR, or --scores FILE")
    models = model or [None]
    outs = [out] if len(models) == 1 else [out / f"model-{k}" for k in range(len(models))]
    for m, o in zip(models, outs):
        cfg = EvaluateConfig(model=m, data=data or [], best_of_n=best_of_n or [], max_length=max_length,
                             batch_tokens=batch_tokens, dtype=dtype, on_bad_row=on_bad_row, seed=seed)
        run_evaluate(cfg, o, console)
    if len(outs) > 1:
        compare_files([o / "results.json" for o in outs], console)


@app.command()
def score(
    model: Annotated[str, typer.Option(help="Alias (smollm2, minilm), HF dir/id or .gguf file.")],
    data: Annotated[str, typer.Option("--data", help="A pair dataset as a spec string.")],
    out: Annotated[Path, typer.Option("--out", help="Output .jsonl: each pair with score_chosen, score_rejected.")],
    max_length: Annotated[Optional[int], typer.Option(help=_eval_help("max_length"))] = None,
    batch_tokens: Annotated[int, typer.Option(help=_eval_help("batch_tokens"))] = 8192,
    dtype: Annotated[str, typer.Option(help=_eval_help("dtype"))] = "bfloat16",
    seed: Annotated[int, typer.Option(help=_eval_help("seed"))] = 0,
    on_bad_row: OnBadRowOpt = "error",
):
    """Score both responses of every pair of a dataset with a reward model."""
    from rewardkit.evaluation.run import score_file

    score_file(model, data, out, max_length=max_length, batch_tokens=batch_tokens, dtype=dtype,
               on_bad_row=on_bad_row, seed=seed, console=console)


def _serve_opt(name: str, **kw):
    """A `serve` option whose help text is ServeConfig's docstring for that field (written once)."""
    from rewardkit.serving.config import ServeConfig

    return typer.Option(help=ServeConfig.model_fields[name].description or "", **kw)


def _serve_default(name: str):
    from rewardkit.serving.config import ServeConfig

    return ServeConfig.model_fields[name].default


@app.command()
def serve(
    model: Annotated[str, _serve_opt("model")] = _serve_default("model"),
    host: Annotated[str, _serve_opt("host")] = _serve_default("host"),
    port: Annotated[int, _serve_opt("port", min=1, max=65535)] = _serve_default("port"),
    dtype: Annotated[str, _serve_opt("dtype")] = _serve_default("dtype"),
    seed: Annotated[int, _serve_opt("seed")] = _serve_default("seed"),
    max_length: Annotated[Optional[int], _serve_opt("max_length")] = _serve_default("max_length"),
    batch_tokens: Annotated[int, _serve_opt("batch_tokens")] = _serve_default("batch_tokens"),
    batch_overhead_tokens: Annotated[int, _serve_opt("batch_overhead_tokens")] = _serve_default("batch_overhead_tokens"),
    max_wait_ms: Annotated[float, _serve_opt("max_wait_ms")] = _serve_default("max_wait_ms"),
    max_queue: Annotated[int, _serve_opt("max_queue")] = _serve_default("max_queue"),
    max_conversations: Annotated[int, _serve_opt("max_conversations")] = _serve_default("max_conversations"),
    max_message_chars: Annotated[int, _serve_opt("max_message_chars")] = _serve_default("max_message_chars"),
    max_body_bytes: Annotated[int, _serve_opt("max_body_bytes")] = _serve_default("max_body_bytes"),
    request_timeout_s: Annotated[float, _serve_opt("request_timeout_s")] = _serve_default("request_timeout_s"),
    api_key: Annotated[Optional[str], _serve_opt("api_key")] = _serve_default("api_key"),
    access_log: Annotated[bool, _serve_opt("access_log")] = _serve_default("access_log"),
):
    """Serve a reward model over HTTP: POST /score, OpenRLHF's POST /get_reward, /health, /ready, /metrics."""
    from rewardkit.serving.app import serve as run_server
    from rewardkit.serving.config import ServeConfig

    run_server(ServeConfig(**{k: v for k, v in locals().items() if k in ServeConfig.model_fields}))


def main() -> None:
    """The console entry point: a failure is one line on stderr (rewardkit.errors); RK_DEBUG=1 re-raises."""
    import os

    try:
        app()
    except Exception as e:
        if os.environ.get("RK_DEBUG", "0") not in ("", "0"):
            raise
        from rewardkit.errors import report

        raise SystemExit(report(e)) from None


if __name__ == "__main__":
    main()

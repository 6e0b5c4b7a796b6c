"""`rewardkit train RECIPE.yaml [key=value ...]`: one training loop on accelerate, setup -> run_steps -> cleanup.

    rewardkit train recipes/cpu-smollm2.yaml
    ACCELERATE_USE_CPU=true OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 -m rewardkit.cli train R.yaml
    accelerate launch --config_file configs/accelerate/deepspeed-zero3.yaml -m rewardkit.cli train R.yaml   # GPUs

Output in out_dir: model/ (an HF directory plain AutoModelForSequenceClassification loads), train_log.jsonl
(one record per step and per validation), tb/ (TensorBoard), checkpoints/, recipe.yaml, summary.json
(with held-out accuracy per source and 95% intervals, and with an LP head model − probe over prompts),
learning_curve.png; probe_margins.json (the LP head's step-0 held-out margins, for a resumed run's report);
probe_model/ with `export_probe_model` (the LP head on the frozen backbone, before fine-tuning). Each
exported directory has a model card, README.md (rewardkit.training.card).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from rewardkit.data.io import write_json_atomic
from rewardkit.data.pairs import PreferencePair
from rewardkit.evaluation.heldout import (heldout_report, length_reliance, print_heldout, print_length_reliance,
                                          ranked_right, versus_probe)
from rewardkit.errors import UserError
from rewardkit.training import checkpoint as ckpt
from rewardkit.training.card import write_cards
from rewardkit.training.config import MODEL_DIR, TrainConfig
from rewardkit.training.data import epoch_batches, micro_batches
from rewardkit.training.setup import Run, export_model, setup
from rewardkit.training.summary import HELDOUT_FIELDS, HeldoutMargins, TrainSummary


def train_from_config(cfg: TrainConfig, out_dir: str | Path, *, resume: bool = False,
                      train_pairs: list[PreferencePair] | None = None,
                      val_pairs: list[PreferencePair] | None = None) -> Path:
    """Train a reward model as `cfg` says; returns the saved HF model directory (out_dir/model).

    `train_pairs` / `val_pairs` replace `cfg.data` / the validation split (for callers that already
    hold the pairs in memory).
    """
    run = setup(cfg, Path(out_dir), resume=resume, train_pairs=train_pairs, val_pairs=val_pairs)
    probe_baseline(run, resume)
    run_steps(run)
    return cleanup(run)


PROBE_MARGINS = "probe_margins.json"
"""The probe head's per-pair held-out margins at step 0: a resumed run does not refit the probe, and
the final report compares the model with it."""


def probe_baseline(run: Run, resume: bool) -> None:
    """The frozen-probe baseline (run.probe_margins), measured like every validation from the probe's own
    validation rewards (its features times its head: no forward runs again); a resumed run reads the one
    its first start saved."""
    path = run.out_dir / PROBE_MARGINS
    if run.probe_fitted and run.val_set.items:
        metrics, run.probe_margins = validate(run, rewards=run.probe_val_rewards)
        run.stages["validation_0"] = metrics["seconds"]
        run.log.eval(step=0, best=False, pairs_seen=0, probe=True, **metrics)
        if run.main:
            write_json_atomic(path, {"ids": [p.id for p in run.val_set.pairs], "margins": run.probe_margins})
    elif resume:
        run.probe_margins = _saved_probe_margins(path, run.val_set)
    elif run.main:  # a fresh run with no probe into a used out_dir: no earlier run's baseline survives
        path.unlink(missing_ok=True)


def _saved_probe_margins(path: Path, val_set) -> list[float] | None:
    """The step-0 probe margins of the run being resumed, if it had a probe and the same held-out pairs."""
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    return saved["margins"] if saved["ids"] == [p.id for p in val_set.pairs] else None


def run_steps(run: Run) -> None:
    """Optimizer steps until the step budget or early stopping; validates and checkpoints on schedule."""
    cfg, state = run.cfg, run.state
    batches, batches_epoch = [], None
    while state.step < run.total_steps and not run.stop:
        if batches_epoch != state.epoch:  # the order is a pure function of (seed, epoch): build it once
            batches, batches_epoch = epoch_batches(run.lengths, cfg.global_batch_size, seed=cfg.seed,
                                                   epoch=state.epoch, grouped=cfg.length_grouping), state.epoch
        if state.batch_in_epoch >= len(batches):
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            continue
        t0 = time.perf_counter()
        train_step(run, batches[state.batch_in_epoch])
        run.stages["training"] = round(run.stages.get("training", 0.0) + time.perf_counter() - t0, 1)
        if run.val_set.items and (state.step % cfg.eval_every == 0 or state.step == run.total_steps):
            validate_and_keep_best(run)
        if state.step % cfg.save_every == 0:  # save_checkpoint waits for every process itself
            ckpt.save_checkpoint(run.accelerator, run.ckpt_root, f"step-{state.step}")
            if run.main:
                ckpt.prune(run.ckpt_root, cfg.keep_checkpoints)


def check_finite(run: Run, step: int, **values: float | None) -> None:
    """Stop the run before an optimizer step would apply a NaN or inf (the loss, or the gradient norm
    when it is measured): the weights would be garbage from then on, and no model is exported."""
    bad = {k: v for k, v in values.items() if v is not None and not math.isfinite(v)}
    if bad:
        what = ", ".join(f"the {k.replace('_', ' ')} is {v}" for k, v in bad.items())
        run.log.event("non_finite", step=step, **{k: str(v) for k, v in bad.items()})
        raise UserError(f"{run.out_dir}: step {step}: {what}: training stopped before applying it, no model exported "
                        "(lower lr, check loss_params and the data's margins)")


def train_step(run: Run, batch: list[int]) -> None:
    """One optimizer step on a global batch: this process's micro-batches, accumulated.

    Each micro-batch's loss is its mean over `micro` pairs; accelerate divides by the accumulation and
    DDP averages over processes, so the gradient is that of the mean loss over the global batch.
    """
    acc, state, cfg = run.accelerator, run.state, run.cfg
    t0 = time.perf_counter()
    sums = torch.zeros(3, device=acc.device)  # loss, correct, margin
    for mb in micro_batches(batch, cfg.micro_batch_size, run.world, run.rank):
        with acc.accumulate(run.scorer):
            losses, rc, rr = run.pair_losses(run.train_set, mb)
            acc.backward(losses.mean())
        sums += torch.stack([losses.detach().sum(), ranked_right(rc, rr).sum(), (rc - rr).detach().sum()])
    grad_norm = acc.clip_grad_norm_(run.scorer.parameters(), cfg.max_grad_norm) if cfg.max_grad_norm else None
    loss_sum, correct, margin_sum = acc.reduce(sums, reduction="sum").tolist()
    check_finite(run, state.step + 1, loss=loss_sum / cfg.global_batch_size,
                 grad_norm=None if grad_norm is None else float(grad_norm))
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    tokens = sum(run.lengths[i] for i in batch)  # the whole global batch's real tokens, on every rank
    state.step, state.batch_in_epoch = state.step + 1, state.batch_in_epoch + 1
    state.pairs_seen += len(batch)
    state.tokens_seen += tokens
    dt, g = time.perf_counter() - t0, cfg.global_batch_size
    run.log.step(step=state.step, epoch=state.epoch, loss=loss_sum / g, accuracy=correct / g, margin=margin_sum / g,
                 lr=run.scheduler.get_last_lr()[0], grad_norm=None if grad_norm is None else float(grad_norm),
                 tokens=tokens, tokens_per_s=tokens / dt, seconds=dt, every=cfg.log_every, total=run.total_steps)


@torch.no_grad()
def validate(run: Run, rewards: tuple | None = None) -> tuple[dict, list[float]]:
    """Loss, accuracy (`ranked_right`) and mean margin over the validation pairs, plus each
    pair's margin r_c − r_r (in val_set order, on every rank). `rewards`: (r_chosen [N], r_rejected [N])
    of every validation pair, already known (the LP probe's, from its features): no forward runs."""
    from accelerate.utils import gather_object

    t0 = time.perf_counter()
    run.scorer.eval()
    val_lengths = run.val_set.lengths()
    order = sorted(range(len(val_lengths)), key=lambda i: -val_lengths[i])  # less padding
    size = run.cfg.eval_batch_size
    chunks = [order[s:s + size] for s in range(0, len(order), size)]
    # Every process runs the same number of forwards (sharded wrappers need all ranks in each
    # forward); a rank short of chunks repeats its first one with weight 0.
    margins: list[tuple[int, float]] = []
    sums = torch.zeros(4, device=run.accelerator.device)  # loss, correct, margin, pairs
    for k in range(math.ceil(len(chunks) / run.world)):
        j = k * run.world + run.rank
        real = j < len(chunks)
        chunk = chunks[j if real else 0]
        known = None if rewards is None else (rewards[0][chunk], rewards[1][chunk])
        losses, rc, rr = run.pair_losses(run.val_set, chunk, known)
        if real:
            sums += torch.stack([losses.sum(), ranked_right(rc, rr).sum(), (rc - rr).sum(),
                                 torch.tensor(float(len(rc)), device=rc.device)])
            margins += zip(chunks[j], (rc - rr).tolist())
    sums = run.accelerator.reduce(sums, reduction="sum")
    if run.world > 1:
        margins = gather_object(margins)
    run.scorer.train()
    n = sums[3].item()
    metrics = {"loss": sums[0].item() / n, "accuracy": sums[1].item() / n, "margin": sums[2].item() / n, "pairs": int(n),
               "seconds": round(time.perf_counter() - t0, 1)}
    return metrics, [m for _, m in sorted(margins)]


def validate_and_keep_best(run: Run) -> None:
    """Validate; checkpoint a new best (highest accuracy, ties to the lower loss); early-stop on patience."""
    state = run.state
    metrics, margins = validate(run)
    run.stages[f"validation_{state.step}"] = metrics["seconds"]
    improved = (metrics["accuracy"], -metrics["loss"]) > (state.best_accuracy, -state.best_loss)
    if improved:
        state.best_accuracy, state.best_loss = metrics["accuracy"], metrics["loss"]
        state.best_step, state.evals_since_best = state.step, 0
        run.best_margins = margins
    else:
        state.evals_since_best += 1
    run.log.eval(step=state.step, best=improved, pairs_seen=state.pairs_seen, **metrics)
    if improved:  # the best model is a full checkpoint, so export works sharded too
        ckpt.save_checkpoint(run.accelerator, run.ckpt_root, f"best-step-{state.step}")
        if run.main:
            ckpt.prune(run.ckpt_root, run.cfg.keep_checkpoints)
    patience = run.cfg.early_stopping_patience
    if patience is not None and state.evals_since_best >= patience:
        run.log.event("early_stop", step=state.step, best_step=state.best_step, best_accuracy=state.best_accuracy)
        run.stop = True


def cleanup(run: Run) -> Path:
    """Restore the best checkpoint, export the model, write summary.json and the held-out report."""
    state, acc = run.state, run.accelerator
    trained_steps, pairs_seen, tokens_seen = state.step, state.pairs_seen, state.tokens_seen
    best = ckpt.best_checkpoint(run.ckpt_root)
    if best is not None and state.best_step != state.step:  # early stopping or a late dip: keep the best
        acc.load_state(str(best))  # restores the TrainState of the best step too
        run.log.event("restored_best", step=trained_steps, best_step=state.best_step)
    model_dir = export_model(acc, run.scorer, run.tokenizer, run.out_dir / MODEL_DIR)
    summary = TrainSummary(
        model=str(model_dir), steps=trained_steps, best_step=state.best_step,
        best_val_accuracy=state.best_accuracy if state.best_step >= 0 else None,
        pairs_seen=pairs_seen, tokens_seen=tokens_seen,
        train_seconds_this_process=time.perf_counter() - run.t_start, world_size=run.world,
        train_pairs=run.train_set.counts.as_dict(), val_pairs=run.val_set.counts.as_dict(), dtype=run.dtype,
    )
    if run.hard_pairs is not None:
        summary.hard_pairs = run.hard_pairs
    if run.val_set.items:
        margins = run.best_margins if run.best_margins is not None else validate(run)[1]  # resumed: recompute
        report = heldout_report(run.val_set, margins, run.probe_margins)
        summary.heldout = report
        vs_probe = None if run.probe_margins is None else versus_probe(run.val_set, margins, run.probe_margins)
        if vs_probe is not None:
            summary.heldout_vs_probe = vs_probe
        summary.heldout_length_reliance = length_reliance(run.val_set.pairs, margins, run.probe_margins)
        summary.heldout_margins = HeldoutMargins(ids=[p.id for p in run.val_set.pairs], model=margins,
                                                 probe=run.probe_margins)  # per pair, for paired comparisons
        if run.main:
            print_heldout(report, run.out_dir, vs_probe)
            print_length_reliance(summary.heldout_length_reliance)
    for data in (run.train_set, run.val_set):
        if data.prefix is not None:
            data.prefix.close()
    summary.stage_seconds = run.stages
    if run.main:
        summary.write(run.out_dir / "summary.json")
        write_cards(run, summary)
    run.log.event("done", **summary.model_dump(exclude=HELDOUT_FIELDS))
    run.log.close()
    acc.wait_for_everyone()
    acc.end_training()
    return model_dir

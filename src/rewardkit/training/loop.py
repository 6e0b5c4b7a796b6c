"""`rewardkit train RECIPE.yaml [key=value ...]`: one training loop on accelerate, setup -> train -> cleanup.

    rewardkit train recipes/train-hh-smollm2.yaml
    ACCELERATE_USE_CPU=true OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 -m rewardkit.cli train R.yaml
    accelerate launch --config_file configs/accelerate/deepspeed-zero3.yaml -m rewardkit.cli train R.yaml   # GPUs

Output in out_dir: model/ (an HF directory plain AutoModelForSequenceClassification loads), train_log.jsonl
(one record per step and per validation), tb/ (TensorBoard), checkpoints/, recipe.yaml, summary.json.
"""

from __future__ import annotations

import math
import shutil
import time
from functools import partial
from pathlib import Path

import torch

from rewardkit.data.io import write_json_atomic, write_text_atomic
from rewardkit.training.losses import LOSSES
from rewardkit.data.pairs import PreferencePair
from rewardkit.recipe import dump_recipe
from rewardkit.training import checkpoint as ckpt
from rewardkit.training.config import TrainConfig
from rewardkit.training.data import (
    EncodedSet, collate_concat, encode_pairs, epoch_batches, micro_batches, sample_pairs, split_pairs,
)
from rewardkit.training.forward import (
    PairScorer, check_prompt_sharing, collate_shared, supports_prompt_sharing,
)
from rewardkit.training.runlog import RunLog


def train_from_config(cfg: TrainConfig, out_dir: str | Path, *, resume: bool = False,
                      train_pairs: list[PreferencePair] | None = None,
                      val_pairs: list[PreferencePair] | None = None) -> Path:
    """Train a reward model as `cfg` says; returns the saved HF model directory (out_dir/model).

    `train_pairs` / `val_pairs` replace `cfg.data` / the validation split (for callers that already
    hold the pairs in memory).
    """
    from accelerate import Accelerator
    from transformers import get_scheduler

    from rewardkit.models.loading import load_reward_model

    # ---------------------------------------------------------------- setup
    out_dir = Path(out_dir)
    # The accumulation depends on the process count, known once the Accelerator exists (a bare
    # PartialState() ignores ACCELERATE_USE_CPU and would see one process under torchrun on CPU).
    accelerator = Accelerator()
    world = accelerator.num_processes
    accum = cfg.accumulation_steps(world)
    accelerator.gradient_accumulation_steps = accum
    _check_deepspeed_accumulation(accelerator, accum)
    rank, main = accelerator.process_index, accelerator.is_main_process

    # Seed, then build: the fresh score head is drawn right after seeding (load_reward_model(seed=)).
    # Weights stay fp32 (AdamW updates of ~lr x weight vanish in bf16); bf16 is autocast only.
    model, tokenizer = load_reward_model(cfg.model, dtype="float32", attn_implementation=cfg.attn_implementation,
                                         seed=cfg.seed, device=accelerator.device)
    sharing = cfg.prompt_sharing
    if sharing is None:
        sharing = supports_prompt_sharing(model)
    elif sharing:
        check_prompt_sharing(model)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.lora is not None:
        model = _with_lora(model, cfg.lora)
    model.train()

    # Data: every process reads and encodes the same pairs (deterministic), then takes its share of
    # each global batch (training.data.micro_batches).
    train_set, val_set, reads = _prepare_data(cfg, tokenizer, train_pairs, val_pairs, out_dir / "quarantine.jsonl")
    lengths = train_set.lengths()
    steps_per_epoch = len(train_set.items) // cfg.global_batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train_set.items)} training pairs is fewer than one global batch "
                         f"({cfg.global_batch_size}); lower global_batch_size or add data")
    total_steps = min(cfg.epochs * steps_per_epoch, cfg.max_steps or math.inf)

    # Optimizer, then the scheduler (it needs the step count). No weight decay on biases and norms
    # (1-D tensors), as in HF Trainer; the report's 1e-3 applies to the matrices.
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if p.ndim > 1], "weight_decay": cfg.weight_decay},
         {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}],
        lr=cfg.lr, betas=cfg.adam_betas, eps=cfg.adam_eps,
    )
    name = "constant_with_warmup" if cfg.scheduler == "constant" else cfg.scheduler
    scheduler = get_scheduler(name, optimizer, num_warmup_steps=round(cfg.warmup_ratio * total_steps),
                              num_training_steps=total_steps)
    # The scheduler is not prepared: accelerate would step it once per process per step.
    scorer, optimizer = accelerator.prepare(PairScorer(model), optimizer)
    state = ckpt.TrainState()
    accelerator.register_for_checkpointing(scheduler, state)

    ckpt_root = out_dir / "checkpoints"
    if resume:
        last = ckpt.latest_checkpoint(ckpt_root)
        if last is None:
            raise FileNotFoundError(f"resume: no complete checkpoint in {ckpt_root}")
        accelerator.load_state(str(last))
    elif main and ckpt_root.exists():
        # A fresh run into a used out_dir: an earlier run's checkpoints would otherwise outlive this
        # run's (prune keeps the highest-step best) and be exported as this run's model.
        shutil.rmtree(ckpt_root)
    accelerator.wait_for_everyone()
    log = RunLog(out_dir, enabled=main, resume_step=state.step if resume else None)
    if main:
        write_text_atomic(out_dir / "recipe.yaml", dump_recipe(cfg))
    log.event("resume" if resume else "start", step=state.step, world_size=world, accumulation=accum,
              micro_batch_size=cfg.micro_batch_size, global_batch_size=cfg.global_batch_size,
              total_steps=total_steps, steps_per_epoch=steps_per_epoch, reads=reads,
              train_pairs=train_set.counts.as_dict(), val_pairs=val_set.counts.as_dict(),
              prompt_sharing=sharing, distributed_type=str(accelerator.distributed_type))

    loss_fn = partial(LOSSES[cfg.loss], **cfg.loss_params)
    collate = collate_shared if sharing else collate_concat
    pad_id = tokenizer.pad_token_id
    autocast = partial(torch.autocast, device_type=accelerator.device.type, dtype=torch.bfloat16, enabled=cfg.bf16)

    def to_device(batch: dict) -> dict:
        return {k: v.to(accelerator.device) for k, v in batch.items()}

    def pair_losses(data: EncodedSet, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with autocast():
            r_chosen, r_rejected = scorer(to_device(collate([data.items[i] for i in idx], pad_id)))
        r_chosen, r_rejected = r_chosen.float(), r_rejected.float()
        extra = {}
        if data.margins is not None:  # per-pair margins (cfg.margin_field)
            extra["margin"] = torch.tensor([data.margins[i] for i in idx], device=r_chosen.device)
        return loss_fn(r_chosen, r_rejected, **extra), r_chosen, r_rejected

    @torch.no_grad()
    def validate() -> dict:
        """Loss, accuracy (r_chosen > r_rejected) and mean margin over the validation pairs."""
        scorer.eval()
        val_lengths = val_set.lengths()
        order = sorted(range(len(val_lengths)), key=lambda i: -val_lengths[i])  # less padding
        chunks = [order[s:s + cfg.eval_batch_size] for s in range(0, len(order), cfg.eval_batch_size)]
        # Every process runs the same number of forwards (sharded wrappers need all ranks in each
        # forward); a rank short of chunks repeats its first one with weight 0.
        rounds = math.ceil(len(chunks) / world)
        sums = torch.zeros(4, device=accelerator.device)  # loss, correct, margin, pairs
        for k in range(rounds):
            j = k * world + rank
            real = j < len(chunks)
            losses, rc, rr = pair_losses(val_set, chunks[j if real else 0])
            if real:
                sums += torch.stack([losses.sum(), (rc > rr).float().sum(), (rc - rr).sum(),
                                     torch.tensor(float(len(rc)), device=rc.device)])
        sums = accelerator.reduce(sums, reduction="sum")
        scorer.train()
        n = sums[3].item()
        return {"loss": sums[0].item() / n, "accuracy": sums[1].item() / n, "margin": sums[2].item() / n, "pairs": int(n)}

    # ---------------------------------------------------------------- train
    t_start, stop = time.perf_counter(), False
    batches, batches_epoch = [], None
    while state.step < total_steps and not stop:
        if batches_epoch != state.epoch:  # the order is a pure function of (seed, epoch): build it once
            batches, batches_epoch = epoch_batches(lengths, cfg.global_batch_size, seed=cfg.seed,
                                                   epoch=state.epoch, grouped=cfg.length_grouping), state.epoch
        if state.batch_in_epoch >= len(batches):
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            continue
        batch = batches[state.batch_in_epoch]
        t0 = time.perf_counter()
        # One optimizer step: this process's `accum` micro-batches. Each micro-batch's loss is its mean
        # over `micro` pairs; accelerate divides by accum and DDP averages over processes, so the
        # gradient is that of the mean loss over the global batch (micro x accum x world pairs).
        sums = torch.zeros(3, device=accelerator.device)  # loss, correct, margin
        for mb in micro_batches(batch, cfg.micro_batch_size, world, rank):
            with accelerator.accumulate(scorer):
                losses, rc, rr = pair_losses(train_set, mb)
                accelerator.backward(losses.mean())
            sums += torch.stack([losses.detach().sum(), (rc > rr).float().sum(), (rc - rr).detach().sum()])
        grad_norm = accelerator.clip_grad_norm_(scorer.parameters(), cfg.max_grad_norm) if cfg.max_grad_norm else None
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss_sum, correct, margin_sum = accelerator.reduce(sums, reduction="sum").tolist()
        tokens = sum(lengths[i] for i in batch)  # the whole global batch's real tokens, on every rank
        state.step, state.batch_in_epoch = state.step + 1, state.batch_in_epoch + 1
        state.pairs_seen += len(batch)
        state.tokens_seen += tokens
        dt = time.perf_counter() - t0
        g = cfg.global_batch_size
        log.step(step=state.step, epoch=state.epoch, loss=loss_sum / g, accuracy=correct / g,
                 margin=margin_sum / g, lr=scheduler.get_last_lr()[0],
                 grad_norm=None if grad_norm is None else float(grad_norm), tokens=tokens,
                 tokens_per_s=tokens / dt, seconds=dt, every=cfg.log_every, total=total_steps)

        if val_set.items and (state.step % cfg.eval_every == 0 or state.step == total_steps):
            metrics = validate()
            # Best = highest accuracy; ties (common once accuracy saturates) go to the lower loss.
            improved = (metrics["accuracy"], -metrics["loss"]) > (state.best_accuracy, -state.best_loss)
            if improved:
                state.best_accuracy, state.best_loss = metrics["accuracy"], metrics["loss"]
                state.best_step, state.evals_since_best = state.step, 0
            else:
                state.evals_since_best += 1
            log.eval(step=state.step, best=improved, **metrics)
            if improved:  # the best model is a full checkpoint, so export works sharded too
                ckpt.save_checkpoint(accelerator, ckpt_root, f"best-step-{state.step}")
                if main:
                    ckpt.prune(ckpt_root, cfg.keep_checkpoints)
            patience = cfg.early_stopping_patience
            if patience is not None and state.evals_since_best >= patience:
                log.event("early_stop", step=state.step, best_step=state.best_step, best_accuracy=state.best_accuracy)
                stop = True
        if state.step % cfg.save_every == 0:  # save_checkpoint waits for every process itself
            ckpt.save_checkpoint(accelerator, ckpt_root, f"step-{state.step}")
            if main:
                ckpt.prune(ckpt_root, cfg.keep_checkpoints)

    # ---------------------------------------------------------------- cleanup
    trained_steps, pairs_seen, tokens_seen = state.step, state.pairs_seen, state.tokens_seen
    best = ckpt.best_checkpoint(ckpt_root)
    if best is not None and state.best_step != state.step:  # early stopping or a late dip: keep the best
        accelerator.load_state(str(best))  # restores the TrainState of the best step too
        log.event("restored_best", step=trained_steps, best_step=state.best_step)
    model_dir = export_model(accelerator, scorer, tokenizer, out_dir / "model")
    summary = {
        "model": str(model_dir), "steps": trained_steps, "best_step": state.best_step,
        "best_val_accuracy": state.best_accuracy if state.best_step >= 0 else None,
        "pairs_seen": pairs_seen, "tokens_seen": tokens_seen,
        "train_seconds_this_process": time.perf_counter() - t_start, "world_size": world,
        "train_pairs": train_set.counts.as_dict(), "val_pairs": val_set.counts.as_dict(),
    }
    if main:
        write_json_atomic(out_dir / "summary.json", summary)
    log.event("done", **summary)
    log.close()
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return model_dir


def _prepare_data(cfg: TrainConfig, tokenizer, train_pairs, val_pairs, quarantine: Path) -> tuple[EncodedSet, EncodedSet, list]:
    """Read the specs, hold out the validation split, sample, encode; count what was cut or dropped."""
    reads = []
    if train_pairs is None:
        from rewardkit.data.sources import read_pairs
        from rewardkit.data.sources.base import fresh_quarantine

        fresh_quarantine(quarantine)  # every run (resumed ones too) re-reads all its data

        def read_all(specs: list[str]) -> list[PreferencePair]:
            out = []
            for spec in specs:
                pairs, report = read_pairs(spec, on_bad_row=cfg.on_bad_row, quarantine=quarantine)
                out += pairs
                reads.append(report.as_dict())
            return out

        if not cfg.data:
            raise ValueError("train: no training data (set `data` to one or more spec strings)")
        train_pairs = read_all(cfg.data)
        if val_pairs is None and cfg.val_data:
            val_pairs = read_all(cfg.val_data)
    if val_pairs is None:
        train_pairs, val_pairs = split_pairs(train_pairs, cfg.val_fraction, cfg.seed)
    train_pairs = sample_pairs(train_pairs, cfg.max_pairs, cfg.seed)
    val_pairs = sample_pairs(val_pairs, cfg.max_val_pairs, cfg.seed)
    encode = partial(encode_pairs, tokenizer=tokenizer, max_length=cfg.max_length, on_long=cfg.on_long,
                     margin_field=cfg.margin_field)
    return encode(train_pairs), encode(val_pairs), reads


def _check_deepspeed_accumulation(accelerator, accum: int) -> None:
    """DeepSpeed scales the loss and steps by its own gradient_accumulation_steps, fixed in its config
    before rewardkit derives `accum`: a mismatch would silently change the global batch."""
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is not None:
        theirs = plugin.deepspeed_config.get("gradient_accumulation_steps")
        if theirs not in (accum, "auto"):
            raise ValueError(f"DeepSpeed gradient_accumulation_steps is {theirs}, but global_batch_size / "
                             f"(micro_batch_size x processes) = {accum}: set it to {accum} in the accelerate config")


def _with_lora(model, opts):
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=opts.r, lora_alpha=opts.alpha, lora_dropout=opts.dropout,
                        target_modules=opts.target_modules)
    return get_peft_model(model, config)  # SEQ_CLS keeps the score head fully trainable (modules_to_save)


def export_model(accelerator, scorer, tokenizer, dest: Path) -> Path:
    """Save the trained model as a plain HF directory (safetensors, num_labels 1, pad token, chat
    template), atomically: written beside `dest` and renamed into place."""

    state_dict = accelerator.get_state_dict(scorer)  # gathered on the main process under ZeRO-3 / FSDP
    hf = accelerator.unwrap_model(scorer).model
    if hasattr(hf, "merge_and_unload"):  # peft: fold the adapters into the weights
        hf, state_dict = hf.merge_and_unload(), None
    elif state_dict is not None:
        state_dict = {k.removeprefix("model."): v for k, v in state_dict.items()}
    tmp = dest.with_name(f".tmp-{dest.name}")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        hf.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    accelerator.wait_for_everyone()
    return dest

"""Training setup in units (torchtune's shape): accelerator, model, data, head, optimizer -> one `Run`.

The order matters and is explained where it does: the accumulation needs the process count; the fresh
head is drawn right after seeding; the LP head is fitted on the frozen backbone before any layer is
frozen or wrapped; the scheduler needs the step count; resuming needs the prepared objects.
"""

from __future__ import annotations

import copy
import math
import shutil
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import torch

from rewardkit.data.io import write_text_atomic
from rewardkit.data.pairs import PreferencePair
from rewardkit.errors import check_output_dir, check_replaceable_dir, own_output_dir
from rewardkit.recipe import dump_recipe
from rewardkit.training import checkpoint as ckpt
from rewardkit.training.config import MODEL_DIR, PROBE_MODEL_DIR, TrainConfig
from rewardkit.data.batching import to_device
from rewardkit.data.split import sample_pairs, split_pairs
from rewardkit.training.data import EncodedSet, collate_concat, encode_pairs
from rewardkit.models.loading import resolve_dtype, unwrap_peft
from rewardkit import quiet
from rewardkit.training.prefix import prefix_block
from rewardkit.training.forward import PairScorer, check_prompt_sharing, collate_shared, supports_prompt_sharing
from rewardkit.losses import LOSSES
from rewardkit.training.resume import RECIPE, check_resume, check_same_data, data_fingerprint
from rewardkit.training.runlog import RunLog
from rewardkit.data.sources import read_pairs
from rewardkit.data.sources.base import fresh_quarantine
from rewardkit.training.plan import check_deepspeed_accumulation
from rewardkit.training.sharding import bf16_weights_on, check_sharded_features, fill_deepspeed_batch, make_accelerator


@dataclass
class Run:
    """Everything the train step, validation and export read: built once by `setup`."""

    cfg: TrainConfig
    out_dir: Path
    accelerator: Any
    scorer: Any
    tokenizer: Any
    optimizer: Any
    scheduler: Any
    state: ckpt.TrainState
    train_set: EncodedSet
    val_set: EncodedSet
    log: RunLog
    total_steps: int
    pair_losses: Callable
    lengths: list[int] = field(default_factory=list)
    """Tokens of each training pair (training.data.EncodedSet.lengths)."""
    t_start: float = field(default_factory=time.perf_counter)
    stop: bool = False
    best_margins: list[float] | None = None
    """Each held-out pair's r_c − r_r at the best validation so far (for the per-source report)."""
    probe_fitted: bool = False
    """The LP head was fitted in this setup (head_init: probe, not resumed): its baseline is still to measure."""
    probe_val_rewards: tuple | None = None
    """That head's (r_chosen [N], r_rejected [N]) on the validation pairs, from the probe's own features."""
    probe_margins: list[float] | None = None
    """The same for the frozen-backbone probe head (head_init: probe), before fine-tuning."""
    dtype: dict = field(default_factory=dict)
    """The compute dtype and why it was chosen (TrainConfig.bf16)."""
    stages: dict[str, float] = field(default_factory=dict)
    """Seconds per stage of the run (prefix caches, features, probe, validations, training), for summary.json."""
    hard_pairs: dict | None = None
    """Bias-targeted pairs built per type (rewardkit.hardpairs.run.built's counts), when the recipe asks."""

    @property
    def world(self) -> int:
        return self.accelerator.num_processes

    @property
    def rank(self) -> int:
        return self.accelerator.process_index

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def ckpt_root(self) -> Path:
        return self.out_dir / "checkpoints"


def setup(cfg: TrainConfig, out_dir: Path, *, resume: bool, train_pairs, val_pairs) -> Run:
    # The accumulation depends on the process count, known once the Accelerator exists (a bare
    # PartialState() ignores ACCELERATE_USE_CPU and would see one process under torchrun on CPU).
    if resume:  # before anything loads: the run must be this recipe's (training.resume)
        check_resume(cfg, out_dir)
    else:
        check_output_dir(out_dir)
    for name in (MODEL_DIR, PROBE_MODEL_DIR):  # replaced at the end: refused now, not after the training
        check_replaceable_dir(out_dir / name)
    accelerator = make_accelerator()
    if not resume and accelerator.is_main_process:
        own_output_dir(out_dir)
    check_sharded_features(cfg, accelerator)
    accum = cfg.accumulation_steps(accelerator.num_processes)
    accelerator.gradient_accumulation_steps = accum
    _check_deepspeed_accumulation(accelerator, accum)
    fill_deepspeed_batch(accelerator, cfg.micro_batch_size, accum)
    recipe, (cfg, dtype_choice) = cfg, _resolve_bf16(cfg, accelerator.device)  # recipe.yaml keeps bf16 as asked
    bf16_weights = _bf16_weights(cfg, accelerator)
    model, tokenizer, sharing = _setup_model(cfg, accelerator)
    from rewardkit.evaluation.checks import check_max_length

    check_max_length(tokenizer, cfg.max_length, "max_length")  # a budget that holds no response trains on nothing
    train_set, val_set, reads, hard = _prepare_data(cfg, tokenizer, train_pairs, val_pairs, out_dir / "quarantine.jsonl")
    fingerprint = data_fingerprint([p.id for p in train_set.pairs], [p.id for p in val_set.pairs])
    if resume:
        check_same_data(out_dir, fingerprint, {"train": len(train_set.items), "val": len(val_set.items)})
    steps_per_epoch = len(train_set.items) // cfg.global_batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train_set.items)} training pairs is fewer than one global batch "
                         f"({cfg.global_batch_size}); lower global_batch_size or add data")
    total_steps = min(cfg.epochs * steps_per_epoch, cfg.max_steps or math.inf)
    start, prefix_why = prefix_block(cfg, model, processes=accelerator.num_processes, bf16_weights=bf16_weights)
    quiet.note(f"prefix cache: {'on' if start is not None else 'off'} ({prefix_why})")
    stages: dict[str, float] = {}
    prefix_info, probe_info, probe_val = _frozen_passes(cfg, model, tokenizer, (train_set, val_set), start, sharing,
                                                        out_dir, accelerator.is_main_process, resume, stages)
    model = _trainable(cfg, model)
    optimizer, scheduler = _setup_optimizer(cfg, model, total_steps, bf16_weights)
    if cfg.compile:
        _compile_blocks(unwrap_peft(model))
    # The scheduler is not prepared: accelerate would step it once per process per step.
    scorer, optimizer = accelerator.prepare(PairScorer(model, start), optimizer)
    state = ckpt.TrainState()
    accelerator.register_for_checkpointing(scheduler, state)
    _resume_or_clear(accelerator, out_dir / "checkpoints", resume)
    log = RunLog(out_dir, enabled=accelerator.is_main_process, resume_step=state.step if resume else None)
    if accelerator.is_main_process:
        write_text_atomic(out_dir / RECIPE, dump_recipe(recipe))
    log.event("resume" if resume else "start", step=state.step, world_size=accelerator.num_processes,
              accumulation=accum, micro_batch_size=cfg.micro_batch_size, global_batch_size=cfg.global_batch_size,
              total_steps=total_steps, steps_per_epoch=steps_per_epoch, reads=reads,
              train_pairs=train_set.counts.as_dict(), val_pairs=val_set.counts.as_dict(), data_fingerprint=fingerprint,
              prompt_sharing=sharing, bf16_weights=bf16_weights, optimizer_impl=cfg.optimizer_impl, dtype=dtype_choice,
              prefix_cache={"on": start is not None, "why": prefix_why, "first_trained_block": start,
                            "stores": prefix_info},
              distributed_type=str(accelerator.distributed_type), trainable_parameters=_count_trainable(model))
    if probe_info is not None:
        log.event("probe_head", step=0, **probe_info)
    if hard is not None:
        log.event("hard_pairs", step=0, types=hard)
    return Run(cfg, out_dir, accelerator, scorer, tokenizer, optimizer, scheduler, state, train_set, val_set, log,
               total_steps, _pair_losses(cfg, accelerator, scorer, tokenizer, sharing), train_set.lengths(),
               probe_fitted=probe_info is not None, probe_val_rewards=probe_val, dtype=dtype_choice, stages=stages,
               hard_pairs=hard)


def _frozen_passes(cfg: TrainConfig, model, tokenizer, sets, start: int | None, sharing: bool, out_dir: Path,
                   main: bool, resume: bool, stages: dict):
    """The inference passes before training: the frozen-prefix caches (start not None) and the LP probe head
    (head_init probe, not when resuming: the checkpoint has the fitted head). Returns (what the caches
    hold, the probe's log record, its validation rewards), each None / [] when not run."""
    train_set, val_set = sets
    fit_probe = cfg.head_init == "probe" and not resume
    if start is None and not fit_probe:
        return [], None, None
    # One inference model, computing as training will: the weights in bf16 (a rounded copy; the fp32 ones
    # stay for the optimizer's masters) when training runs in bf16.
    infer = _inference_model(model, torch.bfloat16 if cfg.bf16 else torch.float32)
    prefix_info, probe_info, probe_val = [], None, None
    if start is not None:
        prefix_info = _fill_prefix_caches(infer, (("train", train_set), ("val", val_set)), start, tokenizer,
                                          sharing, out_dir, stages)
    if fit_probe:
        from rewardkit.training.head import fit_probe_head

        features = _features(infer, start, sharing, tokenizer.pad_token_id, cfg.pad_to_multiple, main)
        probe_info, probe_val = fit_probe_head(model, tokenizer, train_set, val_set, cfg, out_dir, main, features)
        feature_seconds = probe_info["feature_seconds"] + probe_info["val_feature_seconds"]
        stages.update(features=probe_info["feature_seconds"], val_features=probe_info["val_feature_seconds"],
                      probe=round(probe_info["seconds"] - feature_seconds, 1))
    return prefix_info, probe_info, probe_val


def _resolve_bf16(cfg: TrainConfig, device) -> tuple[TrainConfig, dict]:
    """TrainConfig.bf16 None -> what the hardware runs natively (one log line); an explicit value is obeyed.
    Returns the config with bf16 decided and {dtype, reason} (the start event and summary.json say it; the
    saved recipe keeps what was asked, so a resume on this or another machine decides again)."""
    if cfg.bf16 is not None:
        return cfg, {"dtype": "bfloat16" if cfg.bf16 else "float32", "reason": "set in the recipe (bf16)"}
    dtype, why = resolve_dtype("auto", device)
    cfg = cfg.model_copy(update={"bf16": dtype == torch.bfloat16})
    return cfg, {"dtype": str(dtype).removeprefix("torch."), "reason": f"auto: {why}"}


def _inference_model(model, dtype: torch.dtype):
    """`model` itself in eval mode when it already computes in `dtype`, else an eval copy in `dtype`."""
    model.eval()
    if next(model.parameters()).dtype == dtype:
        return model
    return copy.deepcopy(model).to(dtype)


def _fill_prefix_caches(infer, sets, start: int, tokenizer, sharing: bool, out_dir: Path, stages: dict) -> list[dict]:
    """Fill each non-empty set's frozen-prefix store (rewardkit.training.prefix) and say what it holds."""
    from rewardkit.training.prefix import CACHE_DIR, PrefixStore, describe, fill_prefix

    dtype = next(infer.parameters()).dtype
    info = []
    for name, data in sets:
        if not data.items:
            continue
        data.prefix = PrefixStore.allocate(data.items, infer.config.hidden_size, dtype,
                                           out_dir / CACHE_DIR / f"{name}.bin")
        seconds = fill_prefix(infer, data.prefix, data.items, start, tokenizer.pad_token_id, shared=sharing)
        stages[f"prefix_{name}"] = round(seconds, 1)
        info.append(describe(name, data.prefix, seconds))
        quiet.note(f"prefix cache {name}: {info[-1]['pairs']} pairs, {info[-1]['tokens']:,} tokens, "
                   f"{info[-1]['mib']} MiB {info[-1]['dtype']} in {info[-1]['file']}, {seconds:.0f} s")
    return info


def _features(infer, start: int | None, sharing: bool, pad_id: int, multiple: int, main: bool) -> Callable:
    """encoded set -> [2N, H] last-token features (rewardkit.training.head.fit_probe_head): from the prefix
    cache through the training forward when there is one, else a full inference pass."""
    from rewardkit.probing.features import pair_rows, pooled_features
    from rewardkit.training.prefix import cached_features

    if start is not None:
        return lambda data: cached_features(infer, data, start, sharing, pad_id, multiple=multiple)
    return lambda data: pooled_features(infer, pair_rows(data.items), pad_id, progress=main)["last"]


def _compile_blocks(model) -> None:
    """Regional torch.compile, in place: `block.compile()` on each transformer block, not the OptimizedModule
    copies `torch.compile(block)` returns, which put `_orig_mod.` into every state-dict key (checkpoints and
    the export would change). All blocks run one Python function, so they share compiled code and one
    recompile budget: training blocks, frozen ones (train_top_k_layers), validation under no_grad and a
    batch of one each add entries, more than dynamo's default 8 allows before it silently runs eager."""
    from rewardkit.models.loading import decoder_layers

    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    for block in decoder_layers(model):
        block.compile(backend="inductor", dynamic=True)


def _setup_model(cfg: TrainConfig, accelerator):
    from rewardkit.models.loading import load_reward_model

    # Seed, then build: the fresh score head is drawn right after seeding (load_reward_model(seed=)).
    # Loaded in fp32: the optimizer's master copies are taken from these (AdamW updates of ~lr x weight
    # vanish in bf16) before _setup_optimizer makes the model bf16 when bf16_weights is on.
    model, tokenizer = load_reward_model(cfg.model, dtype="float32", attn_implementation=cfg.attn_implementation,
                                         seed=cfg.seed, device=accelerator.device)
    sharing = cfg.prompt_sharing
    if sharing is None:
        sharing = supports_prompt_sharing(model, cfg.max_length)
    elif sharing:
        check_prompt_sharing(model, cfg.max_length)
    return model, tokenizer, sharing


def _trainable(cfg: TrainConfig, model):
    """Freeze what the recipe keeps fixed, then wrap (checkpointing, LoRA); model.train()."""
    if cfg.train_top_k_layers is not None:
        from rewardkit.training.head import freeze_below_top_layers

        freeze_below_top_layers(model, cfg.train_top_k_layers)
    if cfg.gradient_checkpointing:
        _checkpoint_activations(model)
    if cfg.lora is not None:
        model = _with_lora(model, cfg.lora)
    model.train()
    return model


def _count_trainable(model) -> int:
    # ZeRO-3 leaves each rank an empty placeholder per parameter (numel 0); ds_numel is the full size
    return sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters() if p.requires_grad)


def _setup_optimizer(cfg: TrainConfig, model, total_steps: int, bf16_weights: bool = False):
    """AdamW, then the scheduler (it needs the step count). No weight decay on biases and norms (1-D
    tensors), as in HF Trainer; the paper's 1e-3 applies to the matrices. The score head's groups get
    lr x head_lr_multiplier (LP-FT: a fitted head needs few and small updates, a fresh one large ones)."""
    from transformers import get_scheduler

    from rewardkit.training.precision import attach_master_weights, master_copies

    head = {id(p) for name, p in model.named_parameters() if _is_head(name)}
    groups = []
    for in_head, lr in ((False, cfg.lr), (True, cfg.lr * cfg.head_lr_multiplier)):
        params = [p for p in model.parameters() if p.requires_grad and (id(p) in head) == in_head]
        groups += [{"params": [p for p in params if p.ndim > 1], "weight_decay": cfg.weight_decay, "lr": lr},
                   {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0, "lr": lr}]
    groups = [g for g in groups if g["params"]]
    masters = None
    if bf16_weights:  # fp32 copies for the optimizer, taken before the model becomes bf16
        groups, masters = master_copies(groups)
        model.to(torch.bfloat16)
    impl = {"fused": {"fused": True}, "foreach": {"foreach": True}, "for_loop": {"foreach": False}}[cfg.optimizer_impl]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.adam_betas, eps=cfg.adam_eps, **impl)
    if masters is not None:
        attach_master_weights(optimizer, masters)
    name = "constant_with_warmup" if cfg.scheduler == "constant" else cfg.scheduler
    scheduler = get_scheduler(name, optimizer, num_warmup_steps=round(cfg.warmup_ratio * total_steps),
                              num_training_steps=total_steps)
    return optimizer, scheduler


def _is_head(name: str) -> bool:
    """The one-score head's parameters: `score` (decoders) or `classifier` (BERT), under peft too."""
    parts = name.split(".")
    return "score" in parts or "classifier" in parts


def _resume_or_clear(accelerator, ckpt_root: Path, resume: bool) -> None:
    if resume:
        last = ckpt.latest_checkpoint(ckpt_root)
        if last is None:
            raise FileNotFoundError(f"resume: no complete checkpoint in {ckpt_root}")
        accelerator.load_state(str(last))
    elif accelerator.is_main_process and ckpt_root.exists():
        # A fresh run into a used out_dir: an earlier run's checkpoints would otherwise outlive this
        # run's (prune keeps the highest-step best) and be exported as this run's model.
        shutil.rmtree(ckpt_root)
    accelerator.wait_for_everyone()


def _pair_losses(cfg: TrainConfig, accelerator, scorer, tokenizer, sharing: bool) -> Callable:
    """(data, pair indices[, their rewards]) -> (per-pair losses [B], r_chosen [B], r_rejected [B]), rewards
    in fp32; without rewards, one forward computes them (from the data's prefix cache when it has one)."""
    loss_fn = partial(LOSSES[cfg.loss], **cfg.loss_params)
    collate = partial(collate_shared if sharing else collate_concat, multiple=cfg.pad_to_multiple)
    pad_id = tokenizer.pad_token_id
    device = accelerator.device

    def pair_losses(data: EncodedSet, idx: list[int], rewards: tuple | None = None):
        if rewards is not None:  # (r_chosen, r_rejected) of these pairs, known already: the loss only
            r_chosen, r_rejected = (torch.as_tensor(r, dtype=torch.float32, device=device) for r in rewards)
        else:
            batch = collate([data.items[i] for i in idx], pad_id)
            if data.prefix is not None:
                batch["hidden"] = data.prefix.batch(idx, sharing, cfg.pad_to_multiple)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                r_chosen, r_rejected = scorer({k: to_device(v, device) for k, v in batch.items()})
            r_chosen, r_rejected = r_chosen.float(), r_rejected.float()
        extra = {}
        if data.margins is not None:  # per-pair margins (cfg.margin_field)
            extra["margin"] = torch.tensor([data.margins[i] for i in idx], device=r_chosen.device)
        return loss_fn(r_chosen, r_rejected, **extra), r_chosen, r_rejected

    return pair_losses


def _prepare_data(cfg: TrainConfig, tokenizer, train_pairs, val_pairs, quarantine: Path):
    """Read the specs, hold out the validation split, sample, encode; count what was cut or dropped."""
    reads: list[dict] = []
    if train_pairs is None:
        if not cfg.data:
            raise ValueError("train: no training data (set `data` to one or more spec strings)")

        fresh_quarantine(quarantine)  # every run (resumed ones too) re-reads all its data
        train_pairs = _read_all(cfg, cfg.data, quarantine, reads)
        if val_pairs is None and cfg.val_data:
            val_pairs = _read_all(cfg, cfg.val_data, quarantine, reads)
    train_pairs, val_pairs, hard = split_and_sample(cfg, train_pairs, val_pairs)
    encode = partial(encode_pairs, tokenizer=tokenizer, max_length=cfg.max_length, on_long=cfg.on_long,
                     margin_field=cfg.margin_field)
    return encode(train_pairs), encode(val_pairs), reads, hard


def split_and_sample(cfg: TrainConfig, train_pairs: list[PreferencePair], val_pairs: list[PreferencePair] | None):
    """The recipe's hold-out (when no val_data), its seeded max_pairs / max_val_pairs samples, then the
    bias-targeted pairs built on each side (cfg.hard_pairs): what a run trains and validates on (the dry
    run plans with the same). Returns (train, val, hard-pair counts per type or None)."""
    if val_pairs is None:
        if cfg.val_fraction > 0:
            from rewardkit.hardpairs.run import check_no_constructed

            check_no_constructed(train_pairs, "train: val_fraction")
        train_pairs, val_pairs = split_pairs(train_pairs, cfg.val_fraction, cfg.seed, by=cfg.val_split)
    train_kept = sample_pairs(train_pairs, cfg.max_pairs, cfg.seed)
    val_kept = sample_pairs(val_pairs, cfg.max_val_pairs, cfg.seed)
    if cfg.hard_pairs is None:
        return train_kept, val_kept, None
    from rewardkit.hardpairs.run import built

    # built from each whole side of the hold-out (a max_pairs sample of a few hundred pairs has few prompts
    # with a neighbour in the band), at the ratio to the natural pairs kept
    extra_train, extra_val, counts = built(train_pairs, val_pairs, cfg.hard_pairs, len(train_kept))
    return train_kept + extra_train, val_kept + extra_val, counts


def _read_all(cfg: TrainConfig, specs: list[str], quarantine: Path, reads: list[dict]) -> list[PreferencePair]:
    out = []
    for spec in specs:
        pairs, report = read_pairs(spec, on_bad_row=cfg.on_bad_row, quarantine=quarantine)
        out += pairs
        reads.append(report.as_dict())
    return out


def _checkpoint_activations(model) -> None:
    """Non-reentrant activation checkpointing. transformers 5 renamed the method (the old name now warns
    on every run); releases before it have only gradient_checkpointing_enable."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def _bf16_weights(cfg: TrainConfig, accelerator) -> bool:
    return bf16_weights_on(cfg.bf16, cfg.bf16_weights, accelerator.distributed_type.name)


def _check_deepspeed_accumulation(accelerator, accum: int) -> None:
    """DeepSpeed scales the loss and steps by its own gradient_accumulation_steps, fixed in its config
    before rewardkit derives `accum`: a mismatch would silently change the global batch."""
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is not None:
        check_deepspeed_accumulation(plugin.deepspeed_config.get("gradient_accumulation_steps"), accum)


def _with_lora(model, opts):
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=opts.r, lora_alpha=opts.alpha, lora_dropout=opts.dropout,
                        target_modules=opts.target_modules)
    return get_peft_model(model, config)  # SEQ_CLS keeps the score head fully trainable (modules_to_save)


def export_model(accelerator, scorer, tokenizer, dest: Path) -> Path:
    """Save the trained model as a plain HF directory (safetensors, num_labels 1, pad token, chat
    template), atomically (probing.export.save_model_dir)."""
    from rewardkit.probing.export import save_model_dir

    state_dict = accelerator.get_state_dict(scorer)  # gathered on the main process under ZeRO-3 / FSDP
    hf = accelerator.unwrap_model(scorer).model
    if hasattr(hf, "merge_and_unload"):  # peft: fold the adapters into the weights
        hf, state_dict = hf.merge_and_unload(), None
    elif state_dict is not None:
        state_dict = {k.removeprefix("model."): v for k, v in state_dict.items()}
    if accelerator.is_main_process:
        save_model_dir(hf, tokenizer, dest, state_dict)
    accelerator.wait_for_everyone()
    return dest

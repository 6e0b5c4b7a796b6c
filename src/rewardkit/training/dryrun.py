"""`rewardkit train RECIPE --dry-run`: build a run without weights and plan it (training.plan's arithmetic).

    rewardkit train recipes/skywork-llama3.1-8b.yaml --dry-run --accelerate-config configs/accelerate/fsdp.yaml \
        --arch-config configs/models/meta-llama/Llama-3.1-8B-Instruct --assume-pairs 80000

The model is built from its config on the meta device (shapes, no storage), with the recipe's LoRA and
train_top_k_layers applied by the same code training uses (training.setup._trainable); the batch math is
TrainConfig.accumulation_steps, the hold-out split data.split.split_pairs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.table import Table

from rewardkit.errors import UserError, check_output_dir, own_output_dir
from rewardkit.training import plan as P
from rewardkit.training.config import TrainConfig
from rewardkit.data.io import write_text_atomic
from rewardkit.data.split import sample_pairs
from rewardkit.training.sharding import ENGINE_ENV, bf16_weights_on


def read_launch(opts: P.DryRunOptions) -> dict[str, Any]:
    """Processes, machines, sharding and DeepSpeed's own accumulation from the accelerate config (read
    with accelerate's own loader, as `accelerate launch --config_file` reads it), or from the flags."""
    if opts.accelerate_config is None:
        processes, machines = opts.num_processes or 1, opts.num_machines or 1
        return _launch(processes, machines, P.Sharding("none" if processes == 1 else "ddp"), None,
                       f"--num-processes {processes} --num-machines {machines}", "MULTI_GPU" if processes > 1 else "NO")
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(opts.accelerate_config))
    kind = str(getattr(cfg.distributed_type, "value", cfg.distributed_type))
    bf16 = str(getattr(cfg.mixed_precision, "value", cfg.mixed_precision)) == "bf16"
    ds_accum, wrap = None, None
    if kind == "DEEPSPEED":
        sharding, ds_accum = _deepspeed_sharding(cfg.deepspeed_config or {}, bf16)
    elif kind == "FSDP":
        sharding = _fsdp_sharding(cfg.fsdp_config or {})
        wrap = (cfg.fsdp_config or {}).get("fsdp_transformer_layer_cls_to_wrap")
    else:
        sharding = P.Sharding("none" if cfg.num_processes == 1 else "ddp")
    return _launch(cfg.num_processes, cfg.num_machines, sharding, ds_accum, str(opts.accelerate_config), kind, wrap)


def _launch(processes: int, machines: int, sharding: P.Sharding, ds_accum, source: str, engine: str,
            wrap=None) -> dict[str, Any]:
    """`engine`: accelerate's DistributedType name for the launch (FSDP, DEEPSPEED, MULTI_GPU, NO, ...)."""
    if processes < 1 or processes % machines:
        raise UserError(f"{source}: num_processes {processes} (all machines together, as accelerate counts them) "
                        f"is not a positive multiple of num_machines {machines}")
    return {"processes": processes, "machines": machines, "per_machine": processes // machines,
            "sharding": sharding, "deepspeed_accumulation": ds_accum, "source": source, "fsdp_wrap": wrap,
            "engine": engine}


def check_fsdp_wrap(model, wrap: str | None, source: str) -> None:
    """FSDP's TRANSFORMER_BASED_WRAP wraps the decoder-layer class the config names, or else the model's
    _no_split_modules (training.forward.PairScorer); a class the model lacks fails only once the GPUs are
    rented (accelerate: "Could not find the transformer layer class")."""
    names = {type(m).__name__ for m in model.modules()}
    wanted = ([c.strip() for c in (wrap or "").split(",") if c.strip()]
              or list(getattr(model, "_no_split_modules", None) or []))
    if not wanted:
        raise UserError(f"{source}: names no fsdp_transformer_layer_cls_to_wrap and {type(model).__name__} "
                        "declares no _no_split_modules: name the decoder-layer class in the config")
    missing = [c for c in wanted if c not in names]
    if missing:
        layer = next((n for n in sorted(names) if n.endswith("DecoderLayer")), "?")
        raise UserError(f"{source}: fsdp_transformer_layer_cls_to_wrap {', '.join(missing)} is not in this "
                        f"model; its decoder layer is {layer}")


def _deepspeed_sharding(ds: dict, bf16: bool) -> tuple[P.Sharding, Any]:
    if ds.get("deepspeed_config_file"):  # a full DeepSpeed JSON: its zero_optimization section
        full = json.loads(Path(ds["deepspeed_config_file"]).read_text(encoding="utf-8"))
        zero = full.get("zero_optimization", {})
        stage, accum = int(zero.get("stage", 0)), full.get("gradient_accumulation_steps", "auto")
        offload = (zero.get("offload_optimizer") or {}).get("device", "none") not in ("none", None)
        enabled = (full.get("bf16") or {}).get("enabled", "auto")
        bf16 = bf16 if enabled == "auto" else bool(enabled)
    else:
        # Unset, accelerate's DeepSpeedPlugin takes "auto" (rewardkit's derived value).
        stage, accum = int(ds.get("zero_stage", 0)), ds.get("gradient_accumulation_steps", "auto")
        offload = ds.get("offload_optimizer_device", "none") not in ("none", None)
    return P.Sharding(f"deepspeed zero{stage}", params=stage >= 3, grads=stage >= 2, optimizer=stage >= 1,
                      offload_optimizer=offload, bf16_weights=bf16), accum


def _fsdp_sharding(fsdp: dict) -> P.Sharding:
    offload = bool(fsdp.get("fsdp_offload_params"))
    if str(fsdp.get("fsdp_version", 1)) == "2":  # FSDP2 always shards; reshard_after_forward: weights too
        full = bool(fsdp.get("fsdp_reshard_after_forward", True))
        return P.Sharding(f"fsdp2 reshard_after_forward={full}", params=full, grads=True, optimizer=True,
                          offload_optimizer=offload)
    strategy = str(fsdp.get("fsdp_sharding_strategy", "FULL_SHARD")).upper()
    full, none = strategy in ("FULL_SHARD", "1", "HYBRID_SHARD", "4"), strategy in ("NO_SHARD", "3")
    return P.Sharding(f"fsdp {strategy}", params=full, grads=not none, optimizer=not none, offload_optimizer=offload)


def build_meta_model(cfg: TrainConfig, arch_config: str | None):
    """The reward model (AutoModelForSequenceClassification, one score) on the meta device, fp32 as
    training loads it, with the recipe's freezing / LoRA applied; and where its config came from."""
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from rewardkit.models.loading import arch_spec, hub_errors, resolve
    from rewardkit.training.setup import _trainable

    source = arch_config or resolve(cfg.model)
    try:
        with hub_errors(source, "model config"):
            config = AutoConfig.from_pretrained(source, num_labels=1)
    except UserError as e:  # offline: the architecture alone is enough, e.g. from configs/models/
        raise UserError(f"{e}; a dry run can read the architecture from a local config.json instead: "
                        "--arch-config DIR (configs/models/ holds the Skywork recipes' backbones)") from None
    attn = cfg.attn_implementation or arch_spec(config).attn_implementation or "sdpa"
    config.pad_token_id = config.pad_token_id if config.pad_token_id is not None else 0  # the head needs one
    with init_empty_weights():
        model = AutoModelForSequenceClassification.from_config(config, attn_implementation=attn, dtype=torch.float32)
    return _trainable(cfg, model), source


def arch_of(model) -> P.Arch:
    """The numbers training.plan needs, read from the (meta) model and its config."""
    from rewardkit.models.loading import unwrap_peft
    from rewardkit.models.loading import decoder_layers

    base = unwrap_peft(model)
    c = base.config
    layer = decoder_layers(base)[0]
    emb = base.get_input_embeddings().weight.numel()
    head = sum(p.numel() for n, p in base.named_parameters() if n.split(".")[0] in ("score", "classifier"))
    total = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n and "modules_to_save" not in n)
    heads = c.num_attention_heads
    return P.Arch(
        hidden=c.hidden_size, layers=c.num_hidden_layers, heads=heads,
        kv_heads=getattr(c, "num_key_value_heads", None) or heads,
        head_dim=getattr(c, "head_dim", None) or c.hidden_size // heads, intermediate=c.intermediate_size,
        vocab=c.vocab_size, norms_per_layer=sum("norm" in type(m).__name__.lower() for m in layer.modules()),
        eager_attention=c._attn_implementation == "eager",
        softcapping=getattr(c, "attn_logit_softcapping", None) is not None,
        params_total=total, params_embedding=emb, params_layer=sum(p.numel() for p in layer.parameters()),
        params_trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        params_head=head, params_lm_head=0 if getattr(c, "tie_word_embeddings", False) else emb)


def data_plan(cfg: TrainConfig, opts: P.DryRunOptions, sharing: bool) -> dict[str, Any]:
    """Training pairs after the hold-out split and max_pairs, and the mean tokens of a pair: read from
    the data when it can be read, else the stated assumptions."""
    if opts.assume_pairs is not None:
        val = round(opts.assume_pairs * cfg.val_fraction) if not cfg.val_data else 0
        train = opts.assume_pairs - val
        plan = {"source": f"assumed (--assume-pairs {opts.assume_pairs}; the hold-out as a share of pairs, "
                          "approximate under val_split: prompt); the data was not read",
                "train_pairs": min(train, cfg.max_pairs or train), "val_pairs": min(val, cfg.max_val_pairs or val),
                "pairs": None}
    else:
        plan = _read_data(cfg, sharing)
    if opts.assume_pair_tokens is not None:
        plan["pair_tokens"], plan["pair_tokens_source"] = opts.assume_pair_tokens, "assumed (--assume-pair-tokens)"
    elif "pair_tokens" not in plan:
        plan["pair_tokens"] = 2 * cfg.max_length
        plan["pair_tokens_source"] = ("upper bound 2 x max_length: no tokenizer or data to measure on "
                                      "(give --assume-pair-tokens)")
    return plan


def _read_data(cfg: TrainConfig, sharing: bool) -> dict[str, Any]:
    from rewardkit.training.setup import _read_all, split_and_sample

    if not cfg.data:
        raise UserError("dry run: the recipe has no `data`; give --assume-pairs N")
    try:
        pairs = _read_all(cfg, cfg.data, None, [])
        val_pairs = _read_all(cfg, cfg.val_data, None, []) if cfg.val_data else None
    except Exception as e:  # hub data offline, a missing file: say so, and how to plan anyway
        raise UserError(f"dry run: the data could not be read here ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}); give --assume-pairs N") from None
    n = len(pairs)
    train, val_pairs, _ = split_and_sample(cfg, pairs, val_pairs)
    plan = {"source": f"read: {', '.join(cfg.data)}", "pairs": n, "train_pairs": len(train),
            "val_pairs": len(val_pairs)}
    tokens = _mean_pair_tokens(cfg, train, sharing)
    if tokens is not None:
        plan["pair_tokens"], plan["pair_tokens_source"] = tokens, "measured on up to 2,000 training pairs"
    return plan


def _mean_pair_tokens(cfg: TrainConfig, pairs, sharing: bool) -> float | None:
    """Mean tokens per pair as training encodes them (training.data.encode_pairs) on a seeded sample:
    packed (the shared prompt once) with prompt sharing, both conversations without; None when the
    tokenizer cannot be loaded here."""
    from transformers import AutoTokenizer

    from rewardkit.models.loading import resolve
    from rewardkit.training.data import encode_pairs

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve(cfg.model))
    except Exception:
        return None
    encoded = encode_pairs(sample_pairs(pairs, 2000, cfg.seed), tokenizer, max_length=cfg.max_length,
                           on_long=cfg.on_long, margin_field=None)
    lengths = [len(e.chosen_ids) + len(e.rejected_ids) - (e.prompt_len if sharing else 0) for e in encoded.items]
    return sum(lengths) / len(lengths) if lengths else None


def make_plan(cfg: TrainConfig, opts: P.DryRunOptions) -> dict[str, Any]:
    """Every number of the plan, JSON-ready. Batch math first: an inconsistent launch fails before the
    (slower) model build."""
    from rewardkit.models.loading import unwrap_peft
    from rewardkit.training.forward import supports_prompt_sharing

    launch = read_launch(opts)
    world, sharding = launch["processes"], launch["sharding"]
    engine = launch["engine"]
    own_bf16 = bf16_weights_on(cfg.bf16, cfg.bf16_weights, engine)  # the training rule; refuses as it does
    if engine not in ENGINE_ENV:  # DeepSpeed and FSDP: their config says (read_launch)
        sharding = replace(sharding, bf16_weights=own_bf16)
    accum = cfg.accumulation_steps(world)  # the same check training runs at setup
    if launch["deepspeed_accumulation"] is not None:
        P.check_deepspeed_accumulation(launch["deepspeed_accumulation"], accum)
    model, source = build_meta_model(cfg, opts.arch_config)
    if engine == "FSDP":
        check_fsdp_wrap(model, launch["fsdp_wrap"], launch["source"])
    arch = arch_of(model)
    base = unwrap_peft(model)
    sharing = supports_prompt_sharing(base, cfg.max_length) if cfg.prompt_sharing is None else cfg.prompt_sharing
    data = data_plan(cfg, opts, sharing)
    steps = data["train_pairs"] // cfg.global_batch_size  # training drops the last partial batch too
    if steps == 0:
        raise UserError(f"{data['train_pairs']} training pairs is fewer than one global batch "
                        f"({cfg.global_batch_size})")
    tokens = steps * cfg.global_batch_size * data["pair_tokens"]
    flops = P.flops_per_token(arch, full_backward=cfg.train_top_k_layers is None)
    states = P.state_bytes(arch, sharding, world)
    working = P.working_weights_bytes(arch, sharding)
    act = {ckpt: P.activation_bytes(arch, cfg.micro_batch_size, cfg.max_length, sharing, ckpt)
           for ckpt in (False, True)}
    fixed = sum(states.values()) + working
    return {
        "model": {"config": source, "class": type(base).__name__, "attention": base.config._attn_implementation,
                  "prompt_sharing": sharing,
                  **{k: v for k, v in P.as_dict(arch).items() if not k.startswith("params")}},
        "parameters": {"total": arch.params_total, "non_embedding": arch.params_nonembedding,
                       "embedding": arch.params_embedding, "trainable": arch.params_trainable,
                       "as_causal_lm": arch.params_causal_lm},
        "launch": {"source": launch["source"], "machines": launch["machines"],
                   "gpus_per_machine": launch["per_machine"], "processes": world, "sharding": P.as_dict(sharding)},
        "batch": P.batch_math(cfg.global_batch_size, cfg.micro_batch_size, accum, world),
        "data": {**data, "steps_per_epoch": steps, "tokens_per_epoch": tokens},
        "memory_gib_per_gpu": {
            **{k: v / P.GIB for k, v in states.items()}, "working_weights": working / P.GIB,
            "activations_checkpointing": act[True] / P.GIB, "activations_no_checkpointing": act[False] / P.GIB,
            "total_checkpointing": (fixed + act[True]) / P.GIB, "total_no_checkpointing": (fixed + act[False]) / P.GIB,
            "total_as_recipe": (fixed + act[cfg.gradient_checkpointing]) / P.GIB, "gpu": opts.gpu_memory_gib},
        "time": {"flops_per_token": flops, "gpus": world, "gpu_peak_tflops": opts.gpu_peak_tflops, "mfu": opts.mfu,
                 "hours_per_epoch": P.hours_per_epoch(tokens, flops, world, opts.gpu_peak_tflops, opts.mfu),
                 "epochs": cfg.epochs},
    }


def plan_rows(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """The plan as (label, value) rows for the printed table."""
    p, b, d, m, t, L = (plan[k] for k in ("parameters", "batch", "data", "memory_gib_per_gpu", "time", "launch"))
    ckpt = "checkpointing"
    return [
        ("model", f"{plan['model']['class']} from {plan['model']['config']} ({plan['model']['attention']} attention, "
                  f"prompt sharing {'on' if plan['model']['prompt_sharing'] else 'off'})"),
        ("parameters", f"{p['total'] / 1e9:.3f}B total, {p['non_embedding'] / 1e9:.3f}B non-embedding, "
                       f"{p['trainable'] / 1e9:.3f}B trainable (as causal LM: {p['as_causal_lm'] / 1e9:.3f}B)"),
        ("launch", f"{L['machines']} machine(s) x {L['gpus_per_machine']} GPUs = {L['processes']} processes, "
                   f"{L['sharding']['name']} ({L['source']})"),
        ("batch", f"global {b['global_batch_size']} = micro {b['micro_batch_size']} x accumulation "
                  f"{b['accumulation']} x {b['processes']} processes"),
        ("data", f"{d['train_pairs']:,} training pairs, {d['val_pairs']:,} held out ({d['source']})"),
        ("tokens/pair", f"{d['pair_tokens']:,.0f} ({d['pair_tokens_source']})"),
        ("steps/epoch", f"{d['steps_per_epoch']:,} ({d['tokens_per_epoch'] / 1e9:.3f}B tokens)"),
        ("memory/GPU", f"weights {m['weights']:.1f} + gradients {m['gradients']:.1f} + AdamW {m['optimizer']:.1f} "
                       f"+ bf16 working weights {m['working_weights']:.1f} GiB"),
        ("activations", f"{m['activations_checkpointing']:.1f} GiB with gradient {ckpt}, "
                        f"{m['activations_no_checkpointing']:.1f} GiB without (micro-batch at max_length)"),
        ("total/GPU", f"{m['total_checkpointing']:.1f} GiB with {ckpt}, {m['total_no_checkpointing']:.1f} GiB without; "
                      f"recipe: {m['total_as_recipe']:.1f} of {m['gpu']:.0f} GiB"),
        ("hours/epoch", f"{t['hours_per_epoch']:.2f} h = {t['flops_per_token'] / 1e9:.2f} GFLOP/token x tokens / "
                        f"({t['gpus']} GPUs x {t['gpu_peak_tflops']:g} TFLOP/s x MFU {t['mfu']:g}); "
                        f"{t['epochs']} epochs: {t['epochs'] * t['hours_per_epoch']:.2f} h"),
    ]


def dry_run(cfg: TrainConfig, opts: P.DryRunOptions, out_dir: Path, console) -> Path:
    """Plan, print the table, write out_dir/plan.json; no weights, no training."""
    check_output_dir(out_dir)
    plan = make_plan(cfg, opts)
    table = Table(title="rewardkit dry run (no weights loaded, nothing trained)", show_header=False)
    for label, value in plan_rows(plan):
        table.add_row(label, value)
    console.print(table)
    path = own_output_dir(out_dir) / "plan.json"
    write_text_atomic(path, json.dumps(plan, indent=2) + "\n")
    if plan["memory_gib_per_gpu"]["total_as_recipe"] > opts.gpu_memory_gib:
        console.print(f"warning: the estimate exceeds {opts.gpu_memory_gib:g} GiB per GPU", highlight=False)
    console.print(f"plan written to {path}", highlight=False)
    return path

"""Sharded training through accelerate: FSDP (FSDP2 `fully_shard`, or FSDP1) and DeepSpeed ZeRO-3.

    accelerate launch --config_file configs/accelerate/fsdp.yaml -m rewardkit.cli train R.yaml   # GPUs
    ACCELERATE_USE_CPU=true ACCELERATE_USE_FSDP=true FSDP_VERSION=2 OMP_NUM_THREADS=1 \
        torchrun --standalone --nproc_per_node 2 -m rewardkit.cli train R.yaml                  # 2-process CPU

The engine is chosen the accelerate way (its config file, or the env vars it reads: ACCELERATE_USE_FSDP,
FSDP_*, ACCELERATE_USE_DEEPSPEED); rewardkit's recipe does not name it. This module builds the
Accelerator, makes FSDP real on CPU, and refuses an engine that was asked for but is not running and a
feature that cannot work sharded (docs/sharded-training.md).
"""

from __future__ import annotations

import os

ENGINE_ENV = {"FSDP": "ACCELERATE_USE_FSDP", "DEEPSPEED": "ACCELERATE_USE_DEEPSPEED"}


def requested_engine(env=os.environ) -> str | None:
    """"FSDP" / "DEEPSPEED" when accelerate's launcher (or the user) asked for one, else None."""
    asked = [name for name, var in ENGINE_ENV.items() if env.get(var, "false").lower() == "true"]
    if len(asked) > 1:
        raise ValueError(f"both {' and '.join(ENGINE_ENV[a] for a in asked)} are set: choose one engine")
    return asked[0] if asked else None


def engine_mismatch(requested: str | None, running: str, processes: int) -> str | None:
    """Why the run must not start, or None. `running` is accelerate's DistributedType name."""
    if requested is None or requested == running:
        return None
    why = (f"{ENGINE_ENV[requested]}=true asked for {requested}, but accelerate set up {running} with "
           f"{processes} process(es)")
    if requested == "DEEPSPEED" and running in ("MULTI_CPU", "NO"):
        why += (": accelerate 1.15 never enables DeepSpeed when ACCELERATE_USE_CPU is set (state.py, "
                "AcceleratorState: `ACCELERATE_USE_DEEPSPEED ... and not cpu`); it would train plain DDP")
    elif processes == 1:
        why += ": launch several processes (torchrun --nproc_per_node N, or accelerate launch with the config)"
    return why


def make_accelerator():
    """The run's Accelerator, with the engine the launcher asked for actually running."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    engine = requested_engine()
    plugin = FullyShardedDataParallelPlugin() if engine == "FSDP" else None  # reads FSDP_* like accelerate
    accelerator = Accelerator(fsdp_plugin=plugin, kwargs_handlers=_deepspeed_on_cpu(engine))
    if engine == "FSDP" and accelerator.distributed_type == DistributedType.MULTI_CPU:
        _fsdp_on_cpu(plugin)
    why = engine_mismatch(engine, accelerator.distributed_type.name, accelerator.num_processes)
    if why:
        raise RuntimeError(why)
    return accelerator


def _deepspeed_on_cpu(engine: str | None) -> list:
    """DeepSpeed without CUDA (DS_ACCELERATOR=cpu): accelerate 1.15 leaves the backend None when no
    accelerator device exists, and then counts one process of rank 0 on every rank (state.py,
    PartialState.__init__: `if self.backend is None: ... self.num_processes = 1`); naming gloo, which
    deepspeed's CPU accelerator uses, gives each rank its real rank and the world size."""
    import torch
    from accelerate.utils import InitProcessGroupKwargs

    if engine != "DEEPSPEED" or torch.cuda.is_available():
        return []
    return [InitProcessGroupKwargs(backend="gloo")]


def fill_deepspeed_batch(accelerator, micro_batch_size: int, accumulation: int) -> None:
    """rewardkit batches itself (no dataloader goes through prepare), so DeepSpeed cannot infer its "auto"
    batch sizes: accelerate's prepare stops with "requires you to pass at least one of training or
    evaluation dataloaders ... or alternatively set an integer value in train_micro_batch_size_per_gpu"."""
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is None:
        return
    config = plugin.deepspeed_config
    config["train_micro_batch_size_per_gpu"] = micro_batch_size
    config["train_batch_size"] = micro_batch_size * accumulation * accelerator.num_processes
    if config.get("gradient_accumulation_steps") == "auto":
        config["gradient_accumulation_steps"] = accumulation


def _fsdp_on_cpu(plugin) -> None:
    """accelerate 1.15 turns ACCELERATE_USE_FSDP into DistributedType.FSDP only for accelerator devices
    (accelerate/state.py, AcceleratorState.__init__: the check sits in the MULTI_GPU/MULTI_NPU/... branch),
    so with ACCELERATE_USE_CPU it silently trains DDP. torch's FSDP2 and FSDP1 run on CPU over gloo, so
    mark the shared state FSDP before anything is prepared; accelerate's own FSDP paths (prepare, gradient
    clipping, sharded save/load, get_state_dict) then run, as they would on GPUs. Both shared dicts:
    every AcceleratorState() re-reads PartialState's."""
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    PartialState._shared_state["distributed_type"] = DistributedType.FSDP
    AcceleratorState._shared_state.update(distributed_type=DistributedType.FSDP, fsdp_plugin=plugin)


def bf16_weights_on(bf16: bool | None, setting: bool | None, engine: str) -> bool:
    """Resolve TrainConfig.bf16_weights under accelerate's DistributedType `engine`. FSDP and DeepSpeed keep
    their own fp32 master shards (their mixed-precision settings), so None means off under them and true
    is an error; elsewhere None means on (with bf16). `bf16` None (auto, undecided until the device is
    known) counts as bf16: the refusal must not depend on the machine, and the dry run plans for GPUs."""
    sharded = engine in ENGINE_ENV
    bf16 = bf16 is not False
    if bf16 and setting and sharded:
        raise ValueError(f"bf16_weights is for single-process and DDP runs; under {engine} use its "
                         "mixed-precision setting (bf16 compute, fp32 sharded masters) instead")
    return bf16 and (setting if setting is not None else not sharded)


def check_cxx_compiler() -> None:
    """inductor builds CPU kernels with a C++ compiler (it runs `CXX --version` to find one). Without one,
    compile: true would fail at the first forward, after the LP features pass: refuse at setup instead."""
    from torch._inductor.cpp_builder import get_cpp_compiler
    from torch._inductor.exc import InvalidCxxCompiler

    try:
        get_cpp_compiler()
    except InvalidCxxCompiler as e:
        raise ValueError(f"compile: true on CPU needs a C++ compiler for torch's inductor: {e}. Install one "
                         "(Debian: apt-get install g++) or drop compile") from None


def check_sharded_features(cfg, accelerator) -> None:
    """Refuse, at setup, a recipe feature that cannot work under the running engine (or, for compile on
    CPU, without a C++ compiler: checked last, so a refusal by engine comes first)."""
    engine = accelerator.distributed_type.name
    if cfg.compile and (backend := accelerator.state.dynamo_plugin.backend.name) != "NO":
        raise ValueError(f"compile: true and accelerate's dynamo_backend {backend} both compile the model; keep "
                         "one (accelerate's compiles copies whose state-dict keys gain `_orig_mod.`)")
    if engine in ENGINE_ENV:
        _check_engine_features(cfg, accelerator, engine)
    if cfg.compile and accelerator.device.type == "cpu":
        check_cxx_compiler()


def _check_engine_features(cfg, accelerator, engine: str) -> None:
    """Under FSDP or DeepSpeed: what their wrapping cannot do."""
    if cfg.compile:
        raise ValueError(f"compile under {engine}: compiled blocks have run single-process only here, and "
                         "accelerate compiles after wrapping under these engines; use the engine's own setting "
                         "(accelerate's dynamo_backend with dynamo_use_regional_compilation) instead")
    if cfg.lora is not None:
        raise ValueError(f"lora under {engine}: the export folds the adapters into sharded weights, which "
                         "peft cannot do; train LoRA with DDP (adapters are small) or drop `lora`")
    plugin = getattr(accelerator.state, "fsdp_plugin", None)
    if (engine == "FSDP" and plugin.fsdp_version == 1 and not plugin.use_orig_params
            and cfg.train_top_k_layers is not None):
        raise ValueError("train_top_k_layers under FSDP1 needs fsdp_use_orig_params: true (a flat parameter "
                         "cannot mix frozen and trained weights); or use fsdp_version: 2")

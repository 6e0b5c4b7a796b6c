"""Sharded training: FSDP2 over 2 CPU processes (gloo) against the 1-process run; a
sharded checkpoint resumed; the exported model; what accelerate builds from the DeepSpeed ZeRO-3 config.

The 2-process runs use the tiny random Llama (conftest.py's `tiny`) in fp32 and the recipe of
test_training.py's 2-process DDP test (72 toy pairs, global batch 4, 15 steps), launched the way
docs/sharded-training.md says: torchrun + ACCELERATE_USE_CPU + ACCELERATE_USE_FSDP + FSDP_* env vars.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from test_training import ENV, read_log, step_losses, write_recipe

ROOT = Path(__file__).resolve().parents[1]
FSDP2_ENV = {"ACCELERATE_USE_CPU": "true", "ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2",
             "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP", "FSDP_STATE_DICT_TYPE": "SHARDED_STATE_DICT"}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
# Per-step losses: the same micro-batches on the same ranks as the 1-process run, but FSDP2 reduce-scatters
# gradient shards (sum order differs from local accumulation in the last fp32 bits) and all-gathers
# parameters; 15 AdamW steps at lr 3e-3 carry that forward. Measured: see docs/sharded-training.md.
LOSS_TOL = 1e-5


def run(cmd, env=None):
    # This checkout's src first: the launched processes must run the code under test, not an installed copy.
    # Each run takes ~10-20 s alone; the generous timeout is for a 2-core CI box shared with other jobs.
    path = {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), ENV["PYTHONPATH"], os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(cmd, env={**ENV, **path, **(env or {})}, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def runs(tiny, tmp_path_factory):
    """One 1-process run and one FSDP2 2-process run of the same recipe, shared by the tests below."""
    tmp = tmp_path_factory.mktemp("sharded")
    one = run([sys.executable, "-m", "rewardkit.cli", "train", str(write_recipe(tmp, tiny, "one"))])
    assert one.returncode == 0, one.stderr[-3000:]
    two = run(TORCHRUN + ["-m", "rewardkit.cli", "train", str(write_recipe(tmp, tiny, "fsdp"))], env=FSDP2_ENV)
    assert two.returncode == 0, two.stderr[-3000:]
    return tmp


def val_scores(model_dir: Path, tiny_pairs) -> torch.Tensor:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rewardkit.models.tokenization import encode_pair

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    out = []
    with torch.no_grad():
        for pair in tiny_pairs:
            enc = encode_pair(tokenizer, pair, max_length=96)
            out += [model(torch.tensor([ids])).logits[0, 0] for ids in (enc.chosen_ids, enc.rejected_ids)]
    return torch.stack(out)


@pytest.mark.slow
def test_fsdp2_two_processes_match_one_process_per_step(runs):
    start = [r for r in read_log(runs / "fsdp") if r["event"] == "start"][0]
    assert start["world_size"] == 2 and start["accumulation"] == 1 and start["distributed_type"] == "DistributedType.FSDP"
    a, b = step_losses(runs / "one"), step_losses(runs / "fsdp")
    assert a.keys() == b.keys() and len(a) == 15
    assert max(abs(a[s] - b[s]) for s in a) < LOSS_TOL
    # accelerator.clip_grad_norm_ over DTensor shards: the same global norm, and clipping did act (> 1.0)
    norms = [{r["step"]: r["grad_norm"] for r in read_log(runs / d) if r["event"] == "step"} for d in ("one", "fsdp")]
    assert max(abs(norms[0][s] - norms[1][s]) / norms[0][s] for s in a) < 1e-5 and max(norms[0].values()) > 1.0
    # the checkpoint is sharded: torch.distributed.checkpoint files, one per rank, not one model file
    step8 = runs / "fsdp" / "checkpoints" / "step-8"
    assert sorted(p.name for p in (step8 / "pytorch_model_fsdp_0").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    assert sorted(p.name for p in (step8 / "optimizer_0").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    assert not (step8 / "model.safetensors").exists()


@pytest.mark.slow
def test_fsdp2_export_is_a_plain_model_scoring_like_the_unsharded_one(runs):
    from tiny_models import toy_pairs

    fsdp, one = runs / "fsdp" / "model", runs / "one" / "model"
    assert yaml.safe_load((fsdp / "config.json").read_text())["architectures"] == ["LlamaForSequenceClassification"]
    pairs = toy_pairs(8, seed=99)
    want, got = val_scores(one, pairs), val_scores(fsdp, pairs)
    assert (want[::2] - want[1::2]).abs().max() > 1e-3  # trained: the check has teeth
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)  # measured 4e-7


def resume_from_step_8(runs: Path, name: str, env: dict) -> Path:
    """Copy run `name` as it stood after step 8 (drop what it wrote later), resume it in a fresh 2-process
    launch from its step-8 checkpoint, and check the resumed steps and model equal the uninterrupted run's."""
    from safetensors.torch import load_file

    resumed = runs / f"{name}-resumed"
    shutil.copytree(runs / name, resumed)
    for late in ("step-12", "best-step-15"):
        shutil.rmtree(resumed / "checkpoints" / late)
    shutil.rmtree(resumed / "model")
    recipe = yaml.safe_load((runs / f"{name}.yaml").read_text()) | {"out_dir": str(resumed), "resume": True}
    (runs / f"{name}-resumed.yaml").write_text(yaml.safe_dump(recipe))
    proc = run(TORCHRUN + ["-m", "rewardkit.cli", "train", str(runs / f"{name}-resumed.yaml")], env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["step"] for r in read_log(resumed) if r["event"] == "resume"] == [8]
    want, got = step_losses(runs / name), step_losses(resumed)
    assert got.keys() == want.keys()
    assert all(want[s] == got[s] for s in range(9, 16))  # same process count, same kernels: exact
    a, b = load_file(runs / name / "model" / "model.safetensors"), load_file(resumed / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    return resumed


@pytest.mark.slow
def test_fsdp2_sharded_checkpoint_resumes_to_the_same_losses(runs):
    """The step-8 sharded checkpoint, written mid-run by the FSDP run, restored by a fresh 2-process launch."""
    resume_from_step_8(runs, "fsdp", FSDP2_ENV)


DEEPSPEED_ENV = {"DS_ACCELERATOR": "cpu", "ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3",
                 "ACCELERATE_GRADIENT_ACCUMULATION_STEPS": "1", "ACCELERATE_GRADIENT_CLIPPING": "1.0",
                 "ACCELERATE_DEEPSPEED_ZERO3_INIT": "false", "ACCELERATE_MIXED_PRECISION": "no",
                 "ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL": "true"}


@pytest.mark.slow
def test_deepspeed_zero3_two_processes_match_one_process_and_resume(runs, tiny):
    """DeepSpeed ZeRO-3 on 2 CPU processes (gloo; deepspeed is an optional extra that the suite's set-up installs).
    Tolerance 2e-5: DeepSpeed clips with its own global norm and runs AdamW over flat fp32 partitions, a
    different summation order again (measured 4.3e-6 over 15 steps)."""
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None:
        pytest.fail("deepspeed is needed: bash scripts/setup.sh --tests installs the extra rewardkit[deepspeed]")
    proc = run(TORCHRUN + ["-m", "rewardkit.cli", "train", str(write_recipe(runs, tiny, "ds"))], env=DEEPSPEED_ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    start = [r for r in read_log(runs / "ds") if r["event"] == "start"][0]
    assert start["world_size"] == 2 and start["distributed_type"] == "DistributedType.DEEPSPEED"
    one_start = [r for r in read_log(runs / "one") if r["event"] == "start"][0]
    assert start["trainable_parameters"] == one_start["trainable_parameters"] > 0  # not ZeRO-3's empty shards
    a, b = step_losses(runs / "one"), step_losses(runs / "ds")
    assert a.keys() == b.keys() and max(abs(a[s] - b[s]) for s in a) < 2e-5
    shards = sorted(p.name for p in (runs / "ds" / "checkpoints" / "step-8" / "pytorch_model").iterdir())
    assert shards == [f"zero_pp_rank_{r}_mp_rank_00_{kind}_states.pt" for r in (0, 1) for kind in ("model", "optim")]
    from tiny_models import toy_pairs

    pairs = toy_pairs(8, seed=99)
    torch.testing.assert_close(val_scores(runs / "ds" / "model", pairs), val_scores(runs / "one" / "model", pairs),
                               rtol=0, atol=1e-4)
    resume_from_step_8(runs, "ds", DEEPSPEED_ENV)


@pytest.mark.slow
def test_fsdp2_lp_ft_probe_head_and_frozen_lower_layers_match_one_process(tiny, tmp_path):
    """head_init: probe (fitted on every rank before sharding) and train_top_k_layers: 1 (FSDP2 shards
    frozen and trained parameters alike): per-step losses equal the 1-process run's, and the frozen
    weights come out of the sharded run unchanged."""
    from safetensors.torch import load_file

    # the prefix cache is a one-process path (tests/test_prefix_cache.py checks it): here both runs recompute
    # the frozen block, so the sharding alone is compared
    over = {"head_init": "probe", "train_top_k_layers": 1, "max_steps": 6, "eval_every": 6, "save_every": 100,
            "prefix_cache": False}
    one = run([sys.executable, "-m", "rewardkit.cli", "train", str(write_recipe(tmp_path, tiny, "one", **over))])
    assert one.returncode == 0, one.stderr[-3000:]
    two = run(TORCHRUN + ["-m", "rewardkit.cli", "train", str(write_recipe(tmp_path, tiny, "fsdp", **over))],
              env=FSDP2_ENV)
    assert two.returncode == 0, two.stderr[-3000:]
    log = read_log(tmp_path / "fsdp")
    assert [r["distributed_type"] for r in log if r["event"] == "start"] == ["DistributedType.FSDP"]
    probes = [[r for r in read_log(tmp_path / d) if r["event"] == "probe_head"][0] for d in ("one", "fsdp")]
    assert probes[0]["train_accuracy"] == probes[1]["train_accuracy"]
    a, b = step_losses(tmp_path / "one"), step_losses(tmp_path / "fsdp")
    assert a.keys() == b.keys() == set(range(1, 7)) and max(abs(a[s] - b[s]) for s in a) < LOSS_TOL
    before, after = load_file(tiny / "model.safetensors"), load_file(tmp_path / "fsdp" / "model" / "model.safetensors")
    frozen = [k for k in before if k.startswith(("model.embed_tokens", "model.layers.0."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert not torch.equal(before["model.layers.1.mlp.up_proj.weight"], after["model.layers.1.mlp.up_proj.weight"])


# ------------------------------------------------------------------ the engine asked for is the engine running
def test_requested_engine_reads_accelerates_env():
    from rewardkit.training.sharding import requested_engine

    assert requested_engine({}) is None
    assert requested_engine({"ACCELERATE_USE_FSDP": "true"}) == "FSDP"
    assert requested_engine({"ACCELERATE_USE_DEEPSPEED": "True", "ACCELERATE_USE_FSDP": "false"}) == "DEEPSPEED"
    with pytest.raises(ValueError, match="choose one engine"):
        requested_engine({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_USE_FSDP": "true"})


def test_engine_mismatch_refuses_a_silent_fallback_to_ddp():
    from rewardkit.training.sharding import engine_mismatch

    assert engine_mismatch(None, "MULTI_CPU", 2) is None
    assert engine_mismatch("FSDP", "FSDP", 2) is None
    assert "not cpu" in engine_mismatch("DEEPSPEED", "MULTI_CPU", 2)  # accelerate's own condition, quoted
    assert "launch several processes" in engine_mismatch("FSDP", "NO", 1)


def test_sharded_runs_refuse_lora():
    from types import SimpleNamespace

    from rewardkit.training.config import LoraOptions, TrainConfig
    from rewardkit.training.sharding import check_sharded_features

    for engine in ("FSDP", "DEEPSPEED"):
        acc = SimpleNamespace(distributed_type=SimpleNamespace(name=engine), state=SimpleNamespace())
        with pytest.raises(ValueError, match=f"lora under {engine}"):
            check_sharded_features(TrainConfig(lora=LoraOptions()), acc)
    ddp = SimpleNamespace(distributed_type=SimpleNamespace(name="MULTI_CPU"), state=SimpleNamespace())
    check_sharded_features(TrainConfig(lora=LoraOptions()), ddp)  # DDP trains LoRA as before


def test_compile_is_refused_under_sharding_engines_and_beside_accelerates_own_compile():
    from types import SimpleNamespace

    from accelerate.utils import DynamoBackend

    from rewardkit.training import TrainConfig
    from rewardkit.training.sharding import check_sharded_features

    def acc(engine, backend="NO"):
        return SimpleNamespace(distributed_type=SimpleNamespace(name=engine), device=torch.device("cpu"),
                               state=SimpleNamespace(dynamo_plugin=SimpleNamespace(backend=DynamoBackend[backend]),
                                                     fsdp_plugin=SimpleNamespace(fsdp_version=2, use_orig_params=True)))

    for engine in ("FSDP", "DEEPSPEED"):
        with pytest.raises(ValueError, match=f"compile under {engine}"):
            check_sharded_features(TrainConfig(compile=True), acc(engine))
        check_sharded_features(TrainConfig(), acc(engine))
    with pytest.raises(ValueError, match="dynamo_backend INDUCTOR both compile"):
        check_sharded_features(TrainConfig(compile=True), acc("NO", "INDUCTOR"))
    with a_cxx_compiler(sys.executable):  # a "compiler" that answers --version, whether or not g++ is here
        check_sharded_features(TrainConfig(compile=True), acc("MULTI_CPU"))  # DDP: the blocks compiled in place


def a_cxx_compiler(path: str):
    """inductor's C++ compiler setting, patched for a with-block (torch's own config patch: pytest's
    monkeypatch deletes the setting from torch's config proxy on undo)."""
    import torch._inductor.config as inductor_config

    return inductor_config.patch({"cpp.cxx": (path,)})


def test_compile_on_cpu_without_a_cxx_compiler_is_refused_at_setup():
    """inductor needs a C++ compiler for CPU kernels; without one the run must stop before the LP features
    pass, with a message saying what to install, not fail at the first compiled forward."""
    from types import SimpleNamespace

    from accelerate.utils import DynamoBackend

    from rewardkit.training import TrainConfig
    from rewardkit.training.sharding import check_sharded_features

    acc = SimpleNamespace(distributed_type=SimpleNamespace(name="NO"), device=torch.device("cpu"),
                          state=SimpleNamespace(dynamo_plugin=SimpleNamespace(backend=DynamoBackend.NO)))
    with a_cxx_compiler(sys.executable):  # answers --version: found
        check_sharded_features(TrainConfig(compile=True), acc)
    with a_cxx_compiler("/nonexistent/c++"):
        with pytest.raises(ValueError, match="needs a C\\+\\+ compiler.*apt-get install g\\+\\+"):
            check_sharded_features(TrainConfig(compile=True), acc)
        check_sharded_features(TrainConfig(), acc)  # eager runs need no compiler
        fsdp = SimpleNamespace(distributed_type=SimpleNamespace(name="FSDP"), device=torch.device("cpu"),
                               state=acc.state)
        with pytest.raises(ValueError, match="compile under FSDP"):  # the engine's refusal comes first
            check_sharded_features(TrainConfig(compile=True), fsdp)


# ------------------------------------------------------------------ what accelerate builds from our configs
def launch_env(config: str, extra: list[str] = ()) -> dict[str, str]:
    """The env `accelerate launch --config_file CONFIG` gives the training processes (accelerate's own code)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(ROOT / config), *extra, "train.py"])
    args, defaults, mp_from_config = _validate_launch_command(args)
    if args.use_deepspeed:  # as accelerate.commands.launch.launch_command does before deepspeed_launcher
        fields = list(defaults.deepspeed_config) + (["mixed_precision"] if mp_from_config else [])
        args.deepspeed_fields_from_accelerate_config = ",".join(fields)
        return prepare_deepspeed_cmd_env(args)[1]
    return prepare_multi_gpu_env(args)


def test_fsdp_config_is_fsdp2_with_sharded_checkpoints_and_the_cpu_test_uses_the_same_settings(monkeypatch):
    from accelerate.utils import FullyShardedDataParallelPlugin
    from torch.distributed.fsdp import StateDictType

    env = launch_env("configs/accelerate/fsdp.yaml")
    for key, value in FSDP2_ENV.items():  # the 2-process CPU test runs what the config asks for
        if key != "ACCELERATE_USE_CPU":
            assert env[key] == value, key
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    assert plugin.state_dict_type == StateDictType.SHARDED_STATE_DICT
    assert plugin.transformer_cls_names_to_wrap is None  # the blocks come from the model's _no_split_modules


def test_deepspeed_zero3_config_agrees_with_the_8b_recipe(monkeypatch):
    """ZeRO stage 3, bf16, clipping = the recipe's max_grad_norm, and gradient_accumulation_steps = what
    rewardkit derives for 8 GPUs (128 / (2 x 8) = 8): the plugin accelerate builds, and our check on it."""
    from types import SimpleNamespace

    from accelerate.utils import DeepSpeedPlugin

    from rewardkit.recipe import load_recipe
    from rewardkit.training import TrainRecipe
    from rewardkit.training.setup import _check_deepspeed_accumulation

    env = launch_env("configs/accelerate/deepspeed-zero3.yaml")
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true" and env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    plugin = DeepSpeedPlugin()
    plugin.set_mixed_precision(env["ACCELERATE_MIXED_PRECISION"])  # what AcceleratorState does with it
    ds = plugin.deepspeed_config
    recipe = load_recipe(ROOT / "recipes" / "skywork-llama3.1-8b.yaml", TrainRecipe)
    assert ds["zero_optimization"]["stage"] == 3 and plugin.zero3_init_flag
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True  # export gathers weights
    assert ds["bf16"] == {"enabled": True} and recipe.bf16
    assert ds["gradient_clipping"] == recipe.max_grad_norm == 1.0
    assert ds["gradient_accumulation_steps"] == recipe.accumulation_steps(8) == 8
    state = SimpleNamespace(state=SimpleNamespace(deepspeed_plugin=plugin))
    _check_deepspeed_accumulation(state, recipe.accumulation_steps(8))  # agrees: no error
    with pytest.raises(ValueError, match="set it to 16 in the accelerate config"):
        _check_deepspeed_accumulation(state, recipe.accumulation_steps(4))  # 4 GPUs: 128 / (2 x 4) = 16


def test_deepspeed_batch_sizes_come_from_the_recipe():
    """rewardkit prepares no dataloader, so DeepSpeed's "auto" batch sizes are filled from the recipe:
    micro 2, accumulation 8, 8 processes -> train_batch_size 128; a fixed accumulation is left alone
    (the accumulation check compares it first)."""
    from types import SimpleNamespace

    from rewardkit.training.sharding import fill_deepspeed_batch

    config = {"train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto"}
    acc = SimpleNamespace(num_processes=8, state=SimpleNamespace(deepspeed_plugin=SimpleNamespace(deepspeed_config=config)))
    fill_deepspeed_batch(acc, micro_batch_size=2, accumulation=8)
    assert config == {"train_batch_size": 128, "train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 8}
    fill_deepspeed_batch(SimpleNamespace(num_processes=8, state=SimpleNamespace()), 2, 8)  # no DeepSpeed: nothing

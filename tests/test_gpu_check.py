"""benchmarks/gpu.py, the one-command GPU check, run here at tiny shapes (--tiny): the same code a GPU
machine runs, so the check is known to work before a machine is lent (docs/gpu.md)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

GPU_IMAGE = set("""absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio
iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader
lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson
ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda
numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft
nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13
nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax
opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker
prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions
pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex
requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece
sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq
torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect urllib3
uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp""".split())
"""The Python distributions of the GPU machines' image ('cuda', as read on 2026-11-17: the device notes'
KINDS.md). Anything else the check imports must travel as a wheel (benchmarks/gpu-wheels.txt)."""


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def _needs_of(roots: set[str]) -> set[str]:
    """The distributions `roots` need here, transitively (without extras): an image package's own needs
    are on the image at whatever version its own version needs (huggingface-hub 2 here needs httpx2)."""
    from importlib.metadata import PackageNotFoundError, distribution

    seen, todo = set(), list(roots)
    while todo:
        try:
            requires = distribution(todo.pop()).requires or []
        except PackageNotFoundError:
            continue
        for req in requires:
            name = _norm(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0])
            if "extra ==" not in req and name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def _gpu_module():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu():
    return _gpu_module()


@pytest.fixture(scope="module")
def prepared(gpu, tiny, shared_data, tmp_path_factory) -> Path:
    """What benchmarks/gpu_prepare.sh writes to .gpu/, with the tests' tiny tokenizer for speed."""
    dest = tmp_path_factory.mktemp("gpu-data")
    manifest = gpu.prepare(dest, str(tiny), n_pairs=64)
    assert manifest["pairs"] == 64 and manifest["seed"] == 0
    return dest


@pytest.fixture(scope="module")
def tiny_run(prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-out") / "gpu.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--tiny", "--data", str(prepared),
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def test_prepare_writes_real_pairs_that_fit_and_the_tokenizer(gpu, prepared, tiny):
    from transformers import AutoTokenizer

    from rewardkit.models.tokenization import encode_pair

    pairs = gpu.read_prepared(prepared)
    tok = AutoTokenizer.from_pretrained(prepared / gpu.TOKENIZER_DIR)
    assert len(pairs) == 64 and len({p.id for p in pairs}) == 64
    assert {p.source for p in pairs} == {"Anthropic/hh-rlhf"}
    assert all(encode_pair(tok, p, max_length=gpu.FULL.max_length, on_long="drop") is not None for p in pairs)
    assert tok.get_vocab() == AutoTokenizer.from_pretrained(tiny).get_vocab()


@pytest.mark.slow  # four processes
def test_tiny_run_fills_every_row_and_skips_only_what_needs_cuda(tiny_run):
    result, stdout = tiny_run
    rows = {r["check"]: r for r in result["rows"]}
    import torch

    cuda = torch.cuda.is_available()
    statuses = {c: r["status"] for c, r in rows.items() if r["status"] != "ok"}
    assert statuses == ({} if cuda else {"exact: CUDA fp32 and bf16 rewards vs CPU fp32": "skipped: no CUDA"})
    names = list(rows)
    assert names[0] == "bf16 matmul peak (measured)"
    assert [n for n in names if n.startswith("train: ")] == [
        "train: rewardkit (default training)", "train: TRL RewardTrainer (its defaults: gradient checkpointing)",
        "train: rewardkit / TRL defaults"]
    assert len([n for n in names if n.startswith("memory, tiny Llama: ")]) == 3
    # the printed table is the JSON's rows
    assert "| check | result | goal | met |" in stdout and all(n in stdout for n in names)


@pytest.mark.slow  # four processes
def test_tiny_run_numbers_follow_from_each_other(tiny_run):
    result, _ = tiny_run
    rows = {r["check"]: r["numbers"] for r in result["rows"]}
    peak = rows["bf16 matmul peak (measured)"]["peak_flops"]
    work = result["train_work"]
    rk = rows["train: rewardkit (default training)"]
    trl = rows["train: TRL RewardTrainer (its defaults: gradient checkpointing)"]
    for r in (rk, trl):  # the same real tokens over each trainer's own seconds
        assert r["tok_s"] * r["seconds"] == pytest.approx(work["real_tokens"])
        assert r["share_of_peak"] == pytest.approx(r["tok_s"] * work["flop_per_token"] / peak)
        assert r["steps"] == result["shape"]["steps"]
    assert rows["train: rewardkit / TRL defaults"]["ratio"] == pytest.approx(rk["tok_s"] / trl["tok_s"])
    score = rows["score: rewardkit RewardModel vs plain transformers loop (bf16)"]
    assert score["sequences"] == 2 * result["shape"]["score_pairs"]
    assert score["ratio"] == pytest.approx(score["rewardkit_tok_s"] / score["plain_tok_s"])
    assert score["max_diff_over_rms"] < 0.25  # the same bf16 model read at the same tokens, batched differently
    for name, r in rows.items():
        if name.startswith("memory, "):
            # the longer member of each pair fills max_length
            assert r["fits"] and r["micro_batch"] == 2 and r["conversation_tokens"] == [128, 128]


@pytest.mark.slow  # four processes
def test_tiny_run_imports_only_what_the_gpu_machine_has_or_is_carried(tiny_run):
    """Every package the check's processes import is on the GPU image or in benchmarks/gpu-wheels.txt."""
    result, _ = tiny_run
    lines = (REPO / "benchmarks" / "gpu-wheels.txt").read_text().splitlines()
    carried = {_norm(x.strip()) for x in lines if x.strip() and not x.startswith("#")}
    # transformers' Trainer (inside TRL's) imports deepspeed whenever it is installed, as the suite's set-up
    # installs it for the ZeRO-3 test; the GPU image has none, so there nothing imports it.
    probed = {"deepspeed"} | _needs_of({"deepspeed"})
    dists, there = packages_distributions(), GPU_IMAGE | _needs_of(GPU_IMAGE) | probed
    missing = {}
    for module in result["modules"]:
        for dist in dists.get(module, []):
            if _norm(dist) not in there | carried and _norm(dist) != "rewardkit":
                missing[module] = dist
    assert missing == {}
    assert {"trl", "datasets", "pydantic"} <= carried


def test_exactness_row_on_one_device_is_exact(gpu, prepared):
    """The CUDA-vs-CPU row's arithmetic, run CPU against CPU: fp32 copies agree exactly, bf16 within the bound."""
    e = gpu.exactness(gpu.TINY, gpu.read_prepared(prepared), prepared / gpu.TOKENIZER_DIR, "cpu")
    assert e["sequences"] == 128 and e["fp32_max_diff_over_rms"] == 0.0
    assert 0 < e["bf16_max_diff_over_rms"] <= e["bf16_bound"] and e["bf16_same_order_on_wide_margins"]


def test_markdown_shows_a_skipped_row_as_its_status(gpu):
    rows = [gpu.row("a", "1 tok/s", ">= 2x", False), gpu.row("b", "", status="skipped: no CUDA")]
    assert gpu.markdown(rows).splitlines()[2:] == ["| a | 1 tok/s | >= 2x | NO |", "| b | skipped: no CUDA |  |  |"]

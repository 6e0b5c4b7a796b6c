"""`dtype: auto`: bf16 where the hardware runs bf16 matmuls natively, fp32 elsewhere.

    from rewardkit.models.hardware import auto_dtype
    dtype, reason = auto_dtype("cpu")      # (torch.bfloat16, "CPU with avx512_bf16 ...") or (torch.float32, ...)

bf16 is fast only where the matmul units take it: GPUs from Ampere on (compute capability 8.0), CPUs with
AMX or avx512_bf16 (oneDNN's AVX512_CORE_BF16 kernels and up). A CPU without them emulates bf16 and runs it
slower than fp32: on an Intel Xeon with AVX-512 but neither AMX nor avx512_bf16, a 2048x2048 matmul ran
at 158 GFLOP/s in fp32 and 63 GFLOP/s in bf16 (docs/machine-notes.md, "CPUs differ between machines").
`ONEDNN_MAX_CPU_ISA` caps which kernels oneDNN may use (it can lower the ISA, never raise it), so a cap
below AVX512_CORE_BF16 means no native bf16 even on a CPU that has it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

ONEDNN_ISAS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI",
               "AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_FP16", "AVX10_1_512_AMX", "AVX512_CORE_AMX",
               "AVX10_1_512_AMX_FP16", "AVX512_CORE_AMX_FP16")
"""oneDNN's ISA names, lowest first (the values ONEDNN_MAX_CPU_ISA takes, besides ALL / DEFAULT)."""
FIRST_BF16_ISA = "AVX512_CORE_BF16"
"""The lowest oneDNN ISA with bf16 dot products; every ISA after it in ONEDNN_ISAS has them too."""
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
"""/proc/cpuinfo flags of native bf16 matmuls, strongest first."""
ISA_CAP_VARS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
"""The environment variables oneDNN reads for its cap (DNNL_ is the older name)."""


def cpu_bf16_flags() -> list[str]:
    """Which of BF16_CPU_FLAGS this CPU has: from torch's own CPU probe where it has one, else /proc/cpuinfo."""
    probes = {"amx_bf16": getattr(torch.cpu, "_is_amx_tile_supported", None),
              "avx512_bf16": getattr(torch.cpu, "_is_avx512_bf16_supported", None)}
    if all(probes.values()):
        return [flag for flag in BF16_CPU_FLAGS if probes[flag]()]
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [flag for flag in BF16_CPU_FLAGS if flag in flags]


def isa_cap(environ=None) -> str | None:
    """The oneDNN ISA cap from the environment (upper case), or None when there is none."""
    environ = os.environ if environ is None else environ
    for var in ISA_CAP_VARS:
        value = environ.get(var, "").strip().upper()
        if value and value not in ("ALL", "DEFAULT"):
            return value
    return None


def cpu_native_bf16(flags: list[str], cap: str | None) -> tuple[bool, str]:
    """(native bf16?, why) for a CPU with these BF16_CPU_FLAGS under this oneDNN cap. Pure."""
    if not flags:
        return False, "CPU without AMX or avx512_bf16: bf16 would be emulated, slower than fp32"
    has = " and ".join(flags)
    if cap is not None:
        if cap not in ONEDNN_ISAS:
            return False, f"CPU with {has}, but ONEDNN_MAX_CPU_ISA={cap} is not an ISA oneDNN names"
        if ONEDNN_ISAS.index(cap) < ONEDNN_ISAS.index(FIRST_BF16_ISA):
            return False, f"CPU with {has}, but ONEDNN_MAX_CPU_ISA={cap} keeps oneDNN below bf16 kernels"
    return True, f"CPU with {has}" + (f" (ONEDNN_MAX_CPU_ISA={cap})" if cap else "")


FIRST_BF16_CUDA_MAJOR = 8
"""The first compute capability with bf16 tensor cores (Ampere, 8.0). Older cards (V100 7.0, T4 7.5) run
bf16 emulated, slower than fp32, though torch.cuda.is_bf16_supported() says True there: it counts emulation."""


def cuda_native_bf16(major: int, name: str, rocm: bool = False) -> tuple[bool, str]:
    """(native bf16?, why) for a GPU of compute capability `major`.x (ROCm GPUs: always). Pure."""
    if rocm or major >= FIRST_BF16_CUDA_MAJOR:
        return True, f"GPU {name} runs bf16 natively"
    return False, (f"GPU {name} (compute capability {major}.x) has no bf16 tensor cores: bf16 would be "
                   "emulated, slower than fp32")


def auto_dtype(device: str | torch.device) -> tuple[torch.dtype, str]:
    """(bf16 or fp32, the reason in words) for computing on `device`."""
    device = torch.device(device)
    if device.type == "cuda":
        native, why = cuda_native_bf16(torch.cuda.get_device_capability(device)[0],
                                       torch.cuda.get_device_name(device), rocm=torch.version.hip is not None)
        return (torch.bfloat16 if native else torch.float32), why
    if device.type != "cpu":
        return torch.float32, f"{device.type} device: fp32 unless a dtype is given"
    native, why = cpu_native_bf16(cpu_bf16_flags(), isa_cap())
    return (torch.bfloat16 if native else torch.float32), why


def describe(dtype: torch.dtype, reason: str) -> str:
    """The one log line of an automatic choice."""
    return f"dtype auto: {str(dtype).removeprefix('torch.')} ({reason})"

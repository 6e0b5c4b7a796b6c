"""Tensors follow the batch's device: what rewardkit builds around the model's forward (the prompt-sharing
mask, the readout indices, the pooled features, the loss) is created where its inputs are, never on the
CPU to be mixed with GPU tensors. Checked on torch's "meta" device, which like a GPU refuses arithmetic
between its tensors and CPU ones (transformers' own forward cannot run there: it reads values)."""

from __future__ import annotations

import pytest
import torch
from tiny_models import VOCAB, tiny_tokenizer, toy_pairs

from rewardkit.data.batching import to_device
from rewardkit.losses import LOSSES
from rewardkit.models.tokenization import encode_pair
from rewardkit.probing.features import _pool
from rewardkit.training.data import collate_concat
from rewardkit.training.forward import collate_shared, mask_for_kernel, shared_mask

META = torch.device("meta")


def _encoded(n: int = 3):
    tok = tiny_tokenizer()
    return [encode_pair(tok, p, max_length=64) for p in toy_pairs(n)]


def test_meta_refuses_cpu_tensors_as_a_gpu_does():
    """The premise: a CPU tensor meeting a meta one in arithmetic is an error, as with CUDA."""
    try:
        torch.zeros(2) + torch.zeros(2, device=META)
    except RuntimeError as e:
        assert "device" in str(e)
    else:
        raise AssertionError("meta accepted a CPU operand")


def test_prompt_sharing_mask_and_readout_indices_are_built_on_the_batchs_device():
    """The 4D mask is built from the segments where they are (a [B, 1, T, T] mask built on the host would
    be copied to the GPU in every forward), and the loss takes the rewards' device."""
    batch = {k: to_device(v, META) for k, v in collate_shared(_encoded(), VOCAB["<pad>"]).items()}
    allowed = shared_mask(batch["segments"])
    assert allowed.device == META and allowed.shape[0] == 3 and allowed.shape[2] == allowed.shape[3]
    assert mask_for_kernel(allowed, "eager", torch.bfloat16).device == META
    rewards = torch.empty(3, device=META)
    assert LOSSES["bradley_terry"](rewards, rewards).device == META
    assert {v.device for v in batch.values()} == {META}
    assert collate_concat(_encoded(), VOCAB["<pad>"])["input_ids"].device.type == "cpu"  # host until moved


def test_feature_pooling_indexes_on_the_hidden_states_device():
    hidden = torch.empty(2, 5, 8, device=META)
    last, mean = _pool(hidden, torch.ones(2, 5, dtype=torch.long, device=META))
    assert last.device == mean.device == META and last.shape == mean.shape == (2, 8)


def test_to_device_keeps_values_and_dtype():
    t = torch.tensor([[1, 2], [3, 4]])
    assert torch.equal(to_device(t, "cpu"), t) and to_device(t, META).device == META
    assert to_device(t, META).dtype == torch.long


@pytest.mark.parametrize("major, rocm, native", [(9, False, True),    # H100, H200
                                                 (8, False, True),    # A100, A10, L4
                                                 (7, False, False),   # V100 (7.0), T4 (7.5): bf16 emulated
                                                 (6, False, False),
                                                 (7, True, True)])    # ROCm reports its own archs
def test_dtype_auto_takes_bf16_only_on_gpus_with_bf16_tensor_cores(major, rocm, native):
    """torch.cuda.is_bf16_supported() is True on a T4 (it counts emulation, slower than fp32): dtype auto
    reads the compute capability instead."""
    from rewardkit.models.hardware import cuda_native_bf16

    got, why = cuda_native_bf16(major, "GPU-X", rocm=rocm)
    assert got is native and "GPU-X" in why
    assert ("emulated" in why) is (not native)

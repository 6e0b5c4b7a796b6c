"""Every loss against values derived by hand, a float64 gradient check, limits and stability.

Hand values use Δ = ln 3, where σ(Δ) = 3/4 and σ(−Δ) = 1/4, and Δ = 0, where σ = 1/2.
"""

import math

import pytest
import torch

from rewardkit.losses import LOSSES

LN3, LN2 = math.log(3), math.log(2)


def loss(name, rc, rr, **params):
    out = LOSSES[name](torch.tensor(rc, dtype=torch.float64), torch.tensor(rr, dtype=torch.float64), **params)
    assert out.shape == torch.Size([len(rc)])
    return out.tolist()


CASES = [
    # name, params, r_chosen, r_rejected, expected (each written out by hand)
    ("bradley_terry", {}, [LN3, 0.0], [0.0, 0.0], [math.log(4 / 3), LN2]),  # -log(3/4), -log(1/2)
    ("bradley_terry", {}, [1 + LN3], [1.0], [math.log(4 / 3)]),  # only Δ matters
    ("bradley_terry", {"margin": LN3}, [LN3], [0.0], [LN2]),  # Δ - m = 0
    ("bradley_terry", {"center_coefficient": 0.1}, [1 + LN3], [1.0],
     [math.log(4 / 3) + 0.1 * (2 + LN3) ** 2]),
    # focal γ=2: (1/4)^2 ln(4/3); (1/2)^2 ln 2; Δ=-ln3: σ=1/4 -> (3/4)^2 ln 4
    ("focal", {"gamma": 2.0}, [LN3, 0.0, 0.0], [0.0, 0.0, LN3],
     [math.log(4 / 3) / 16, LN2 / 4, 9 / 16 * math.log(4)]),
    ("focal", {"gamma": 0.0}, [LN3], [0.0], [math.log(4 / 3)]),  # γ=0 is BT
    # penalty γ=2: Δ=ln3: base 1-2(3/4-1/2) = 1/2 -> ln(4/3)/4; Δ=-ln3: base 1 -> ln 4
    ("focal_with_penalty", {"gamma": 2.0}, [LN3, 0.0], [0.0, LN3], [math.log(4 / 3) / 4, math.log(4)]),
    ("hinge", {"margin": 1.0}, [0.25, 2.0, -1.0], [0.0, 0.0, 0.0], [0.75, 0.0, 2.0]),
    ("margin_mse", {"margin": 1.0}, [0.25, 2.0, -1.0], [0.0, 0.0, 0.0], [0.5625, 0.0, 4.0]),
    # CE: -log σ(ln3) - log(1 - σ(-ln3)) = 2 ln(4/3); rewards 0, 0: 2 ln 2
    ("cross_entropy", {}, [LN3, 0.0], [-LN3, 0.0], [2 * math.log(4 / 3), 2 * LN2]),
    # CE is not a function of Δ: same Δ=0, different rewards. r=ln3 both: ln(4/3) + ln 4
    ("cross_entropy", {}, [LN3], [LN3], [math.log(4 / 3) + math.log(4)]),
    # tempered t=-1: -(x^2 - 1)/2 = (1 - x^2)/2; x=3/4 -> 7/32; x=1/2 -> 3/8
    ("tempered_log", {"t": -1.0}, [LN3, 0.0], [0.0, 0.0], [7 / 32, 3 / 8]),
    # temperature τ=2 at Δ = 2 ln3 -> -log σ(ln3); τ=1/2 at Δ = ln3/2 -> same
    ("temperature_bt", {"tau": 2.0}, [2 * LN3], [0.0], [math.log(4 / 3)]),
    ("temperature_bt", {"tau": 0.5}, [LN3 / 2], [0.0], [math.log(4 / 3)]),
]


@pytest.mark.parametrize("name,params,rc,rr,expected", CASES)
def test_hand_derived_values(name, params, rc, rr, expected):
    assert loss(name, rc, rr, **params) == pytest.approx(expected, abs=1e-12)


def test_every_loss_is_covered_by_a_hand_case():
    assert {c[0] for c in CASES} == set(LOSSES)


def test_tempered_log_is_bounded_for_negative_t():
    # t=-1: the loss approaches 1/(1-t) = 1/2 as Δ -> -inf, instead of growing like BT's |Δ|
    assert loss("tempered_log", [0.0], [50.0], t=-1.0) == pytest.approx([0.5], abs=1e-12)
    assert loss("bradley_terry", [0.0], [50.0]) == pytest.approx([50.0], abs=1e-12)


# Points away from the kinks (hinge at Δ = m, focal_with_penalty at Δ = 0), where gradients exist.
RC = [0.3, -1.2, 2.5, 0.9]
RR = [-0.4, 0.7, 0.1, 2.4]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradcheck_float64(name):
    rc = torch.tensor(RC, dtype=torch.float64, requires_grad=True)
    rr = torch.tensor(RR, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: LOSSES[name](a, b), (rc, rr))


def test_bt_gradient_by_hand():
    # d/dΔ -log σ(Δ) = -(1 - σ(Δ)) = -σ(-Δ): at Δ = ln3 that is -1/4 for r_c and +1/4 for r_r
    rc = torch.tensor([LN3], dtype=torch.float64, requires_grad=True)
    rr = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    LOSSES["bradley_terry"](rc, rr).sum().backward()
    assert rc.grad.item() == pytest.approx(-0.25, abs=1e-12)
    assert rr.grad.item() == pytest.approx(0.25, abs=1e-12)


def test_limits_reduce_to_bradley_terry():
    rc = torch.tensor(RC, dtype=torch.float64)
    rr = torch.tensor(RR, dtype=torch.float64)
    bt = LOSSES["bradley_terry"](rc, rr)
    assert torch.equal(LOSSES["temperature_bt"](rc, rr, tau=1.0), bt)
    assert torch.equal(LOSSES["tempered_log"](rc, rr, t=1.0), bt)
    for t in (0.9, 0.99, 0.999):  # log_t(x) -> log x as t -> 1, error O(1 - t)
        gap = (LOSSES["tempered_log"](rc, rr, t=t) - bt).abs().max().item()
        assert gap < 2 * (1 - t) * bt.max().item() ** 2
    assert torch.allclose(LOSSES["tempered_log"](rc, rr, t=1 - 1e-7), bt, atol=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_stable_for_large_rewards(name):
    rc = torch.tensor([100.0, -100.0, 0.0], requires_grad=True)
    rr = torch.tensor([-100.0, 100.0, 0.0], requires_grad=True)
    out = LOSSES[name](rc, rr)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(rc.grad).all() and torch.isfinite(rr.grad).all()

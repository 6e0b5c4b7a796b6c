"""Pairwise reward-model losses: small pure functions of per-pair rewards, in one dict.

Every loss is ``fn(r_chosen, r_rejected, **params) -> Tensor[B]``: ``r_chosen`` and ``r_rejected`` are
the scalar rewards of the two responses to the same prompt (shape [B]); the result is the per-pair loss
(shape [B]); the trainer averages it over the global batch. Notation: Δ = r_chosen − r_rejected,
σ the logistic sigmoid.

The Skywork-Reward paper (section 3.3, Table 3) trains with Bradley-Terry and compares seven variants;
its extracted text lost the equations, so each docstring states the standard form used here and where it
comes from. Everything goes through ``logsigmoid`` so no loss overflows for large |Δ|.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def bradley_terry(r_chosen: Tensor, r_rejected: Tensor, *, margin: float | Tensor = 0.0,
                  center_coefficient: float = 0.0) -> Tensor:
    """Bradley-Terry: −log σ(Δ − m) + c·(r_c + r_r)².

    Bradley & Terry (1952), as used for reward models by Ouyang et al. (2022); the paper's main loss
    (section 3.3). ``margin`` m (a float or a per-pair Tensor[B]) is Llama 2's margin term; the
    centering term with coefficient c is TRL's ``center_rewards_coefficient`` (Eisenstein et al. 2023),
    which pins the rewards' mean near 0 since BT alone only sees differences. m = 0, c = 0: plain BT.
    """
    delta = r_chosen - r_rejected
    loss = -F.logsigmoid(delta - margin)
    if center_coefficient:
        loss = loss + center_coefficient * (r_chosen + r_rejected) ** 2
    return loss


def focal(r_chosen: Tensor, r_rejected: Tensor, *, gamma: float = 2.0) -> Tensor:
    """Focal loss: −(1 − σ(Δ))^γ · log σ(Δ).

    Lin et al. (2017, arXiv:1708.02002), applied to the pairwise probability σ(Δ): easy pairs (large Δ)
    are down-weighted. γ = 2 is Lin's default (the paper does not give its value); γ = 0 is BT.
    (1 − σ(Δ))^γ is computed as exp(γ · log σ(−Δ)).
    """
    delta = r_chosen - r_rejected
    weight = torch.exp(gamma * F.logsigmoid(-delta))
    return -weight * F.logsigmoid(delta)


def focal_with_penalty(r_chosen: Tensor, r_rejected: Tensor, *, gamma: float = 2.0) -> Tensor:
    """Focal with penalty: −(1 − 2·max(0, σ(Δ) − ½))^γ · log σ(Δ).

    InternLM2's ranking loss with difficulty decay (Cai et al. 2024, arXiv:2403.17297): pairs the model
    already ranks wrongly (Δ ≤ 0) keep full weight 1; correctly ranked ones decay to 0. For Δ > 0 the
    weight's base 1 − 2(σ(Δ) − ½) equals 2σ(−Δ) exactly, which is how it is computed (no cancellation
    near σ(Δ) = 1). γ = 2 is our default (the paper does not give its value).
    """
    delta = r_chosen - r_rejected
    base = torch.where(delta > 0, 2 * torch.sigmoid(-delta), torch.ones_like(delta))
    return -(base**gamma) * F.logsigmoid(delta)


def hinge(r_chosen: Tensor, r_rejected: Tensor, *, margin: float = 1.0) -> Tensor:
    """Hinge: max(0, m − Δ).

    Schölkopf et al. (2001): zero loss once the chosen reward exceeds the rejected by the margin m.
    m = 1 is our default (the paper does not give its value).
    """
    return F.relu(margin - (r_chosen - r_rejected))


def margin_mse(r_chosen: Tensor, r_rejected: Tensor, *, margin: float = 1.0) -> Tensor:
    """Margin MSE: max(0, m − Δ)².

    The paper (citing Friedman et al. 2001) says only "margin combined with mean squared error,
    enforcing that the chosen reward exceeds the rejected by a margin". We take the one-sided squared
    hinge: a two-sided (Δ − m)² would also punish pairs separated by more than m, contradicting
    "exceeds". m = 1 is our default.
    """
    return F.relu(margin - (r_chosen - r_rejected)) ** 2


def cross_entropy(r_chosen: Tensor, r_rejected: Tensor) -> Tensor:
    """Pointwise binary cross-entropy: −log σ(r_c) − log(1 − σ(r_r)).

    Goodfellow et al. (2016): each response is classified on its own, chosen labelled 1 and rejected 0,
    its reward the logit. log(1 − σ(r)) = log σ(−r). (The pairwise softmax form over the two responses
    equals BT exactly, which the paper's different Table 3 numbers rule out.)
    """
    return -F.logsigmoid(r_chosen) - F.logsigmoid(-r_rejected)


def tempered_log(r_chosen: Tensor, r_rejected: Tensor, *, t: float = -0.5) -> Tensor:
    """Bradley-Terry with tempered log: −log_t(σ(Δ)), log_t(x) = (x^(1−t) − 1)/(1 − t).

    Tempered logarithm (Naudts; the paper cites Carvalho et al. 2010). For t < 0
    the loss is bounded by 1/(1 − t), so badly mislabelled pairs cannot dominate; t → 1 gives −log σ(Δ),
    i.e. BT, and t = 1 is computed as BT exactly. t = −0.5 is our default (the paper gives no value).
    x^(1−t) is computed as exp((1 − t) · log σ(Δ)).
    """
    log_p = F.logsigmoid(r_chosen - r_rejected)
    if t == 1.0:
        return -log_p
    return -(torch.expm1((1.0 - t) * log_p)) / (1.0 - t)


def temperature_bt(r_chosen: Tensor, r_rejected: Tensor, *, tau: float = 2.0) -> Tensor:
    """Bradley-Terry with temperature: −log σ(Δ / τ).

    Bradley & Terry (1952) with a temperature τ that sharpens (τ < 1) or flattens (τ > 1) the preference
    probability; τ = 1 is BT. τ = 2 is our default (the paper gives no value).
    """
    return -F.logsigmoid((r_chosen - r_rejected) / tau)


LossFn = Callable[..., Tensor]

LOSSES: dict[str, LossFn] = {
    "bradley_terry": bradley_terry,
    "focal": focal,
    "focal_with_penalty": focal_with_penalty,
    "hinge": hinge,
    "margin_mse": margin_mse,
    "cross_entropy": cross_entropy,
    "tempered_log": tempered_log,
    "temperature_bt": temperature_bt,
}


def loss_parameters(name: str) -> list[str]:
    """The keyword parameters of LOSSES[name] (what loss_params may set)."""
    return [p for p in inspect.signature(LOSSES[name]).parameters if p not in ("r_chosen", "r_rejected")]


def check_loss(name: str, params: dict[str, float]) -> None:
    """Refuse a loss name not in LOSSES and a parameter it does not take (a recipe's `loss` and `loss_params`)."""
    if name not in LOSSES:
        raise ValueError(f"loss {name!r} is not one of {', '.join(sorted(LOSSES))}")
    accepted = loss_parameters(name)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"loss_params {unknown} not accepted by {name} (accepts: {accepted or 'none'})")

"""Optimistic first-order optimizers for the two-player PRM game.

Plain simultaneous gradient descent-ascent (GDA) spirals away from the equilibrium of a bilinear
game; the optimistic step, which extrapolates with the previous gradient, converges (Daskalakis
et al. 2018, "Training GANs with Optimism"; Mertikopoulos et al. 2019). APRM (arXiv 2511.22888)
augments its policy-gradient updates with OGDA, so R's optimizer defaults to it.

- `OGDA`:            p <- p - lr * (2 g_t - g_{t-1})           (first step: plain gradient step)
- `OptimisticAdam`:  u_t = m_hat_t / (sqrt(v_hat_t) + eps);  p <- p - lr * (2 u_t - u_{t-1})

`maximize=True` makes a parameter group ascend (the max player), as in torch's own optimizers.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch.optim import Optimizer

from aprm.method_configs import OPTIMIZER_CHOICES


def _check_hyper(name: str, value: float, low: float, high: float = math.inf, *, open_low: bool = False) -> None:
    ok = math.isfinite(value) and (value > low if open_low else value >= low) and value < high
    if not ok:
        bound = f"({low}, {high})" if open_low else f"[{low}, {high})"
        raise ValueError(f"optimizer hyper-parameter {name}={value!r} must be finite and in {bound}")


class OGDA(Optimizer):
    """Optimistic gradient descent (or ascent with maximize=True).

    weight_decay is an L2 term added to the gradient (as torch.optim.SGD does), so it takes part
    in the optimistic extrapolation like the rest of the gradient.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, weight_decay: float = 0.0, maximize: bool = False):
        _check_hyper("lr", lr, 0.0, open_low=True)
        _check_hyper("weight_decay", weight_decay, 0.0)
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "maximize": maximize})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, wd, maximize = group["lr"], group["weight_decay"], group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = -p.grad if maximize else p.grad
                if wd:
                    # A maximiser of f minimises -f, so the L2 term is +wd*p in both cases.
                    grad = grad + wd * p
                state = self.state[p]
                prev = state.get("prev_grad")
                direction = grad if prev is None else 2.0 * grad - prev
                p.add_(direction, alpha=-lr)
                state["prev_grad"] = grad.detach().clone()
        return loss


class OptimisticAdam(Optimizer):
    """Adam whose step extrapolates with the previous Adam direction (Optimistic Adam, Alg. 1 of
    Daskalakis et al. 2018), with decoupled weight decay as in AdamW.

    Default betas (0.5, 0.9) follow that paper's GAN runs: with (0.9, 0.999) the slow second
    moment keeps the step near lr on a bilinear game and the iterates orbit instead of closing in.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.5, 0.9),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ):
        _check_hyper("lr", lr, 0.0, open_low=True)
        _check_hyper("betas[0]", betas[0], 0.0, 1.0)
        _check_hyper("betas[1]", betas[1], 0.0, 1.0)
        _check_hyper("eps", eps, 0.0, open_low=True)
        _check_hyper("weight_decay", weight_decay, 0.0)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            wd, maximize = group["weight_decay"], group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = -p.grad if maximize else p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    state["prev_direction"] = None
                state["step"] += 1
                t = state["step"]
                state["exp_avg"].mul_(beta1).add_(grad, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                m_hat = state["exp_avg"] / (1 - beta1**t)
                v_hat = state["exp_avg_sq"] / (1 - beta2**t)
                direction = m_hat / (v_hat.sqrt() + eps)
                prev = state["prev_direction"]
                step_dir = direction if prev is None else 2.0 * direction - prev
                if wd:
                    p.mul_(1 - lr * wd)
                p.add_(step_dir, alpha=-lr)
                state["prev_direction"] = direction
        return loss


def make_optimizer(
    name: str,
    params: Iterable[Any],
    lr: float,
    weight_decay: float = 0.0,
    betas: tuple[float, float] | None = None,
    eps: float = 1e-8,
    maximize: bool = False,
) -> Optimizer:
    """Build R's optimizer by config name: one of OPTIMIZER_CHOICES.

    betas=None takes each optimizer's own default: (0.5, 0.9) optimistic, (0.9, 0.999) AdamW.
    """
    if name == "ogda":
        return OGDA(params, lr=lr, weight_decay=weight_decay, maximize=maximize)
    if name == "optimistic_adam":
        return OptimisticAdam(params, lr=lr, betas=betas or (0.5, 0.9), eps=eps, weight_decay=weight_decay, maximize=maximize)
    if name == "adamw":
        _check_hyper("lr", lr, 0.0, open_low=True)
        return torch.optim.AdamW(params, lr=lr, betas=betas or (0.9, 0.999), eps=eps, weight_decay=weight_decay, maximize=maximize)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZER_CHOICES)}")

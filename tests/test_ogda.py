"""OGDA / Optimistic Adam on closed-form bilinear games, where plain GDA is known to spiral out."""

import math

import pytest
import torch

from aprm.game.ogda import OGDA, OPTIMIZER_CHOICES, OptimisticAdam, make_optimizer

torch.set_num_threads(1)


def _play(make_x, make_y, x0, y0, matrix, steps):
    """Simultaneous play of min_x max_y x^T A y; returns the final distance to the equilibrium (0, 0)."""
    x = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    y = torch.nn.Parameter(torch.tensor(y0, dtype=torch.float64))
    opt_x, opt_y = make_x([x]), make_y([y])
    a = torch.tensor(matrix, dtype=torch.float64)
    for _ in range(steps):
        opt_x.zero_grad()
        opt_y.zero_grad()
        (x @ a @ y).backward()  # both gradients at the same point: simultaneous moves
        opt_x.step()
        opt_y.step()
    return math.sqrt(float(x.detach().pow(2).sum() + y.detach().pow(2).sum()))


def test_scalar_bilinear_ogda_converges_and_gda_spirals_out():
    start = math.sqrt(2.0)
    ogda = _play(
        lambda p: make_optimizer("ogda", p, lr=0.1),
        lambda p: make_optimizer("ogda", p, lr=0.1, maximize=True),
        [1.0], [1.0], [[1.0]], steps=400,
    )
    gda = _play(
        lambda p: torch.optim.SGD(p, lr=0.1),
        lambda p: torch.optim.SGD(p, lr=0.1, maximize=True),
        [1.0], [1.0], [[1.0]], steps=400,
    )
    # GDA's map has eigenvalues of modulus sqrt(1 + lr^2): the distance grows by exactly that factor per step.
    assert gda == pytest.approx(start * (1 + 0.1**2) ** 200, rel=1e-9)
    assert gda > 7.0 * start
    assert ogda < start / 7.0


def test_matrix_bilinear_ogda_converges_and_gda_diverges():
    gen = torch.Generator().manual_seed(0)
    matrix = (torch.eye(3, dtype=torch.float64) + 0.3 * torch.randn(3, 3, generator=gen, dtype=torch.float64)).tolist()
    x0, y0 = [1.0, -0.5, 0.25], [0.5, 1.0, -1.0]
    start = math.sqrt(sum(v * v for v in x0 + y0))
    ogda = _play(lambda p: OGDA(p, lr=0.1), lambda p: OGDA(p, lr=0.1, maximize=True), x0, y0, matrix, 1000)
    gda = _play(
        lambda p: torch.optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1, maximize=True), x0, y0, matrix, 1000
    )
    assert ogda < start / 10.0
    assert gda > 5.0 * start


def test_optimistic_adam_beats_adam_on_bilinear_game():
    start = math.sqrt(2.0)
    optimistic = _play(
        lambda p: OptimisticAdam(p, lr=0.01), lambda p: OptimisticAdam(p, lr=0.01, maximize=True), [1.0], [1.0], [[1.0]], 2000
    )
    adam = _play(
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.5, 0.9)),
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.5, 0.9), maximize=True),
        [1.0], [1.0], [[1.0]], 2000,
    )
    assert optimistic < start / 10.0
    assert optimistic < 0.75 * adam


def test_ogda_step_is_two_g_minus_previous_g():
    p = torch.nn.Parameter(torch.tensor([0.0]))
    opt = OGDA([p], lr=0.5)
    p.grad = torch.tensor([2.0])
    opt.step()  # first step: plain gradient step, 0 - 0.5*2
    assert p.item() == pytest.approx(-1.0)
    p.grad = torch.tensor([1.0])
    opt.step()  # -1 - 0.5*(2*1 - 2)
    assert p.item() == pytest.approx(-1.0)
    p.grad = torch.tensor([3.0])
    opt.step()  # -1 - 0.5*(2*3 - 1)
    assert p.item() == pytest.approx(-3.5)


def test_ogda_weight_decay_shrinks_a_gradient_free_parameter():
    p = torch.nn.Parameter(torch.tensor([2.0]))
    opt = OGDA([p], lr=0.1, weight_decay=0.5)
    p.grad = torch.tensor([0.0])
    opt.step()
    assert p.item() == pytest.approx(2.0 - 0.1 * 0.5 * 2.0)


def test_make_optimizer_choices_and_errors():
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer("ogda", p, lr=0.1), OGDA)
    assert isinstance(make_optimizer("optimistic_adam", p, lr=0.1), OptimisticAdam)
    assert isinstance(make_optimizer("adamw", p, lr=0.1, weight_decay=0.01), torch.optim.AdamW)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'.*ogda, optimistic_adam, adamw"):
        make_optimizer("sgd", p, lr=0.1)
    with pytest.raises(ValueError, match="lr=-1"):
        make_optimizer("ogda", p, lr=-1)
    with pytest.raises(ValueError, match="lr=nan"):
        make_optimizer("optimistic_adam", p, lr=float("nan"))
    with pytest.raises(ValueError, match=r"betas\[0\]=1.0"):
        OptimisticAdam(p, lr=0.1, betas=(1.0, 0.9))
    assert OPTIMIZER_CHOICES == ("ogda", "optimistic_adam", "adamw")

"""R's in-game update: learns, is pulled toward R_0, carries its optimizer state across rounds."""

import copy

import pytest
import torch
from game_fixtures import problems, tiny_model, tokenizer

from aprm.game.prm_update import anchor_penalty, batch_class_weights, resolve_prm_update_cfg, update_prm
from aprm.models.scorer import PRMScorer
from aprm.game.replay import Negative
from aprm.game.state import reference_positives


def _data():
    """Reference solutions as positives; a second step no reference has as the negative (learnable
    by a 1-layer model in a few dozen steps, unlike an off-by-one digit)."""
    train = problems()
    positives = reference_positives(train)
    negatives = [Negative(p, p.reference_steps[:1], "The answer is 1234567.", "answer", 0).training_item() for p in train]
    return positives, negatives


def _distance(model, anchor):
    with torch.no_grad():
        return float(anchor_penalty(model, [p.detach() for p in anchor.parameters()]))


def test_update_learns_the_negatives():
    tok, model = tokenizer(), tiny_model("prm")
    anchor = copy.deepcopy(model)
    positives, negatives = _data()
    cfg = {"steps": 30, "batch_size": 8, "lr": 3e-3, "optimizer": "optimistic_adam", "anchor_l2": 0.0}
    metrics = update_prm(model, tok, positives, negatives, anchor, cfg)
    assert metrics["steps"] == 30 and metrics["positives"] == len(positives) and metrics["negatives"] == len(negatives)
    assert metrics["loss_last"] < 0.3 * metrics["loss_first"]


def test_batch_class_weights_balance_the_two_labels():
    labels = torch.tensor([[1, 1, 0, -100], [1, 1, 1, -100]])  # 5 correct, 1 wrong, 2 ignored
    assert batch_class_weights(labels) == pytest.approx([6 / 2, 6 / 10])
    assert batch_class_weights(torch.tensor([[1, 1, -100]])) == pytest.approx([1.0, 0.5])  # absent class: 1.0


def test_class_balance_moves_r_further_against_the_negatives():
    """A negative item is a correct prefix plus one wrong step: unweighted, the correct labels
    outnumber the wrong ones and R's P(correct) on the wrong steps falls less."""
    tok = tokenizer()
    positives, negatives = _data()
    cfg = {"steps": 6, "batch_size": 8, "lr": 0.02, "optimizer": "ogda", "anchor_l2": 0.0}
    wrong_steps = [(problem, steps) for problem, steps, _ in negatives]

    def mean_p_wrong(class_balance):
        model = tiny_model("prm")
        update_prm(model, tok, positives, negatives, copy.deepcopy(model), {**cfg, "class_balance": class_balance})
        scores = PRMScorer(model, tok).score_batch(wrong_steps)
        return sum(s[-1] for s in scores) / len(scores)

    assert mean_p_wrong(True) < mean_p_wrong(False) - 0.02


def test_anchor_l2_keeps_r_near_r0():
    tok = tokenizer()
    positives, negatives = _data()
    free, pulled = tiny_model("prm"), tiny_model("prm")
    anchor = copy.deepcopy(free)
    base = {"steps": 30, "batch_size": 8, "lr": 0.02, "optimizer": "ogda"}
    update_prm(free, tok, positives, negatives, anchor, {**base, "anchor_l2": 0.0})
    update_prm(pulled, tok, positives, negatives, anchor, {**base, "anchor_l2": 3.0})
    assert _distance(free, anchor) > 0
    assert _distance(pulled, anchor) < 0.6 * _distance(free, anchor)


def test_optimizer_state_round_trip(tmp_path):
    tok = tokenizer()
    positives, negatives = _data()
    cfg = {"steps": 2, "batch_size": 4, "optimizer": "ogda"}
    model = tiny_model("prm")
    anchor = copy.deepcopy(model)
    first = update_prm(model, tok, positives, negatives, anchor, cfg, None, tmp_path / "opt.pt")
    assert not first["optimizer_resumed"]
    saved = torch.load(tmp_path / "opt.pt", weights_only=True)
    assert saved["optimizer"] == "ogda"
    assert all("prev_grad" in s for s in saved["state"]["state"].values())
    second = update_prm(model, tok, positives, negatives, anchor, cfg, tmp_path / "opt.pt", tmp_path / "opt2.pt")
    assert second["optimizer_resumed"]
    # a state written by another optimizer is not loaded into this one
    third = update_prm(model, tok, positives, negatives, anchor, {**cfg, "optimizer": "adamw"}, tmp_path / "opt.pt")
    assert not third["optimizer_resumed"]


def test_bad_config_and_inputs():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['step'\]"):
        resolve_prm_update_cfg({"step": 3})
    with pytest.raises(ValueError, match="optimizer must be one of"):
        resolve_prm_update_cfg({"optimizer": "sgd"})
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        resolve_prm_update_cfg({"batch_size": 1})
    with pytest.raises(ValueError, match="class_balance must be true or false"):
        resolve_prm_update_cfg({"class_balance": "yes"})
    with pytest.raises(ValueError, match="anchor_l2 must be a finite number >= 0"):
        resolve_prm_update_cfg({"anchor_l2": float("nan")})
    tok, model = tokenizer(), tiny_model("prm")
    positives, _ = _data()
    with pytest.raises(ValueError, match="needs positives and negatives, got 12 and 0"):
        update_prm(model, tok, positives, [], copy.deepcopy(model), {"steps": 1})


class _FixedScorer:
    """Scores the last step by its text, from a table: the metric's arithmetic on known scores."""

    def __init__(self, table):
        self.table = table

    def score_batch(self, items):
        return [[self.table[steps[-1]]] for _, steps in items]


def test_static_accuracy_and_auroc_on_known_scores():
    from aprm.game.round import static_accuracy

    first, second = problems()[:2]
    negatives = [Negative(first, [], "wrong A", "arithmetic", 0), Negative(second, [], "wrong B", "arithmetic", 0)]
    table = {"wrong A": 0.2, "wrong B": 0.6, first.reference_steps[0]: 0.7, second.reference_steps[0]: 0.5}
    out = static_accuracy(_FixedScorer(table), negatives, threshold=0.5)
    # rejected: A only (0.2 < 0.5); accepted: both references (0.7, 0.5 >= 0.5)
    assert out["static_acc_negatives"] == 0.5 and out["static_acc_positives"] == 1.0 and out["static_acc"] == 0.75
    # reference above wrong in 3 of the 4 pairs (0.5 < 0.6 is the miss)
    assert out["static_auroc"] == pytest.approx(0.75)

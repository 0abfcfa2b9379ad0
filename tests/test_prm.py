"""PRM data encoding, losses, metrics and a tiny real training run (CPU, seconds)."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aprm.models.factory import build_model
from aprm.models.prm_data import (
    IGNORE_INDEX,
    build_example,
    build_examples,
    collate,
    encode_solution,
    step_separator_id,
    to_hf_dataset,
)
from aprm.models.prm_metrics import auroc, first_error_f1, first_error_index, step_metrics
from aprm.models.prm_trainer import class_weights_from_stats, group_metrics, prm_loss, resolve_train_cfg, train_prm
from aprm.models.scorer import PRMScorer
from aprm.models.tokenizer import train_tokenizer
from aprm.schema import Problem

TINY_PRM = {"kind": "tiny", "arch": "llama", "hidden_size": 64, "num_layers": 2, "num_heads": 4,
            "intermediate_size": 128, "max_position_embeddings": 512}
NAMES = ["Ava", "Ben", "Cleo", "Dan", "Eli", "Fay"]
THINGS = ["stickers", "apples", "coins", "books"]


def make_items(n: int, seed: int, error_rate: float = 0.3):
    """Word problems with + / - steps; a wrong step uses the wrong operation (`*`).

    Label 1 = the step applies the stated operation, 0 = it multiplies instead.
    """
    rng = random.Random(seed)
    items = []
    for i in range(n):
        name, thing, value = rng.choice(NAMES), rng.choice(THINGS), rng.randint(5, 60)
        question, steps, labels = [f"{name} has {value} {thing}."], [], []
        for _ in range(rng.randint(2, 4)):
            operand = rng.randint(1, 20)
            if rng.random() < 0.5 or value < operand:
                question.append(f"Then {name} gets {operand} more.")
                verb, op, result = "gets", "+", value + operand
            else:
                question.append(f"Then {name} loses {operand}.")
                verb, op, result = "loses", "-", value - operand
            wrong = rng.random() < error_rate
            if wrong:
                op, result = "*", value * operand
            steps.append(f"{name} {verb} {operand}, so {value} {op} {operand} = {result}.")
            labels.append(0 if wrong else 1)
            value = result
        question.append(f"How many {thing} does {name} have?")
        problem = Problem(id=f"s{seed}-{i}", question=" ".join(question), answer=str(value))
        items.append((problem, steps, labels))
    return items


@pytest.fixture(scope="module")
def train_val():
    return make_items(100, seed=0), make_items(40, seed=1)


@pytest.fixture(scope="module")
def tokenizer(train_val):
    train, _ = train_val
    return train_tokenizer([p.question for p, _, _ in train]
                           + [s for _, steps, _ in train for s in steps])


PROBLEM = Problem(id="p1", question="Ava has 23 stickers. She buys 15 more. How many?", answer="38")
STEPS = ["She buys 15 more, so 23 + 15 = 38.", "The answer is 38."]


# --- data -------------------------------------------------------------------------------------

def test_labels_sit_on_separators_and_bools_become_ints(tokenizer):
    example = build_example(tokenizer, PROBLEM, STEPS + ["Check: 38."], [True, False, True], 512)
    sep = step_separator_id(tokenizer)
    positions = [i for i, t in enumerate(example.input_ids) if t == sep]
    assert len(positions) == 3 and positions[-1] == len(example.input_ids) - 1
    assert [example.labels[p] for p in positions] == [1, 0, 1]
    assert all(type(v) is int for v in example.labels)  # not bool: True == 1 would hide bugs
    others = [v for i, v in enumerate(example.labels) if i not in positions]
    assert set(others) == {IGNORE_INDEX}
    assert all(math.isnan(v) for i, v in enumerate(example.soft_labels) if i not in positions)
    assert [example.soft_labels[p] for p in positions] == [1.0, 0.0, 1.0]


def test_minus_100_survives_hf_dataset_map(tokenizer):
    from datasets import Dataset

    # The pitfall, in this datasets version: a bool-inferred column turns -100 into True.
    naive = Dataset.from_dict({"labels": [[True, False]]}).map(lambda r: {"labels": [-100, 1]})
    assert naive[0]["labels"] == [True, True]
    example = build_example(tokenizer, PROBLEM, STEPS, [True, False], 512)
    dataset = to_hf_dataset([example]).map(lambda r: {"labels": list(r["labels"])})
    labels = dataset[0]["labels"]
    assert labels == example.labels
    assert set(labels) == {IGNORE_INDEX, 0, 1} and labels.count(IGNORE_INDEX) == len(labels) - 2
    assert all(type(v) is int for v in labels)


def test_truncation_drops_whole_trailing_steps_and_is_counted(tokenizer):
    full = encode_solution(tokenizer, PROBLEM.question, STEPS * 3, 512)
    assert full.n_kept == 6 and not full.truncated
    limit = full.separator_positions[2] + 1  # room for exactly three steps
    cut = encode_solution(tokenizer, PROBLEM.question, STEPS * 3, limit)
    assert cut.n_kept == 3 and cut.truncated and len(cut.input_ids) == limit
    assert cut.input_ids == full.input_ids[:limit]
    items = [(PROBLEM, STEPS * 3, [1] * 6), (PROBLEM, STEPS, [1, 0])]
    examples, stats = build_examples(tokenizer, items, limit)
    assert (stats.n_examples, stats.n_truncated, stats.n_dropped) == (2, 1, 0)
    assert stats.n_steps_labeled == 5
    # Not even the question fits: the item is left out and counted, not a crash.
    examples, stats = build_examples(tokenizer, items, 8)
    assert (stats.n_examples, stats.n_dropped) == (0, 2)


@pytest.mark.parametrize("steps, message", [
    ([], "empty solution"),
    (["ok step", "   "], "step 1 is empty"),
    (["a <step> b"], "separator"),
])
def test_bad_solutions_raise_naming_the_sample(tokenizer, steps, message):
    with pytest.raises(ValueError, match=message) as err:
        build_examples(tokenizer, [(PROBLEM, steps, [1] * len(steps))], 512)
    assert "item 0 (problem 'p1')" in str(err.value)


def test_bad_labels_raise(tokenizer):
    with pytest.raises(ValueError, match="2 steps but 1 step labels"):
        build_example(tokenizer, PROBLEM, STEPS, [1], 512)
    with pytest.raises(ValueError, match="must be 0/1"):
        build_example(tokenizer, PROBLEM, STEPS, [1, 2], 512)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        build_example(tokenizer, PROBLEM, STEPS, [0.5, 1.5], 512, soft=True)


def test_collate_right_pads(tokenizer):
    a = build_example(tokenizer, PROBLEM, STEPS, [1, 0], 512)
    b = build_example(tokenizer, PROBLEM, STEPS[:1], [1], 512)
    batch = collate([a, b], tokenizer.pad_token_id)
    n = len(b.input_ids)
    assert batch["input_ids"].shape == (2, len(a.input_ids))
    assert batch["attention_mask"][1].tolist() == [1] * n + [0] * (len(a.input_ids) - n)
    assert (batch["labels"][1, n:] == IGNORE_INDEX).all()
    assert torch.isnan(batch["soft_labels"][1, n:]).all()


# --- losses -----------------------------------------------------------------------------------

LOGITS = torch.tensor([[[0.0, 0.0], [1.0, 3.0], [2.0, 0.0]]])
LABELS = torch.tensor([[IGNORE_INDEX, 1, 0]])
SOFT = torch.tensor([[math.nan, 0.8, 0.25]])


def _log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_soft_label_loss_matches_hand_value():
    # margins (logit_correct - logit_incorrect): 2 and -2
    lp1, lq1 = _log_sigmoid(2.0), _log_sigmoid(-2.0)  # log p, log(1-p) at step 1
    lp2, lq2 = _log_sigmoid(-2.0), _log_sigmoid(2.0)
    expected = (-(0.8 * lp1 + 0.2 * lq1) - (0.25 * lp2 + 0.75 * lq2)) / 2
    assert expected == pytest.approx(0.576928, abs=1e-6)
    assert prm_loss(LOGITS, LABELS, SOFT).item() == pytest.approx(expected, abs=1e-6)
    w0, w1 = 2.0, 0.5
    num = -(w1 * 0.8 * lp1 + w0 * 0.2 * lq1) - (w1 * 0.25 * lp2 + w0 * 0.75 * lq2)
    den = (w1 * 0.8 + w0 * 0.2) + (w1 * 0.25 + w0 * 0.75)
    assert prm_loss(LOGITS, LABELS, SOFT, [w0, w1]).item() == pytest.approx(num / den, abs=1e-6)


def test_hard_loss_is_weighted_cross_entropy_and_soft_with_hard_targets_agrees():
    weights = [2.0, 0.5]
    log_probs = F.log_softmax(LOGITS[0], dim=-1)
    manual = (-0.5 * log_probs[1, 1] - 2.0 * log_probs[2, 0]) / 2.5  # weighted mean, w0=2 w1=0.5
    assert prm_loss(LOGITS, LABELS, None, weights).item() == pytest.approx(manual.item(), abs=1e-6)
    hard_targets = torch.tensor([[math.nan, 1.0, 0.0]])
    assert prm_loss(LOGITS, LABELS, hard_targets, weights).item() == pytest.approx(
        manual.item(), abs=1e-6)
    # Padding / prompt positions carry no loss: changing their logits changes nothing.
    noisy = LOGITS.clone()
    noisy[0, 0] = torch.tensor([50.0, -50.0])
    assert prm_loss(noisy, LABELS).item() == pytest.approx(prm_loss(LOGITS, LABELS).item())


def test_class_weights_from_label_frequencies(tokenizer):
    items = [(PROBLEM, STEPS, [1, 1]), (PROBLEM, STEPS, [1, 0])]  # 3 correct, 1 incorrect
    _, stats = build_examples(tokenizer, items, 512)
    assert class_weights_from_stats(stats) == pytest.approx([4 / 2, 4 / 6])
    _, soft_stats = build_examples(tokenizer, [(PROBLEM, STEPS, [0.75, 0.25])], 512, soft=True)
    assert class_weights_from_stats(soft_stats) == pytest.approx([1.0, 1.0])


def test_train_cfg_rejects_unknown_and_bad_keys():
    with pytest.raises(ValueError, match="unknown key"):
        resolve_train_cfg({"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="train.prm.epochs"):
        resolve_train_cfg({"epochs": 0})


# --- metrics ----------------------------------------------------------------------------------

def test_auroc_hand_cases_and_pair_count():
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert auroc([0.5, 0.5], [0, 1]) == pytest.approx(0.5)  # a tie counts one half
    assert auroc([0.9, 0.1], [0, 1]) == 0.0
    assert math.isnan(auroc([0.2, 0.3], [1, 1]))
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 60) / 4  # many ties
    labels = rng.integers(0, 2, 60)
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairs = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert auroc(scores, labels) == pytest.approx(pairs)


def test_first_error_f1_processbench_definition():
    assert first_error_index([0.9, 0.7, 0.2, 0.1]) == 2
    assert first_error_index([0.9, 0.5]) == -1  # 0.5 is not < 0.5
    result = first_error_f1(predicted=[-1, 2, 1, -1], reference=[-1, 2, 0, 1])
    assert result["acc_erroneous"] == pytest.approx(1 / 3)
    assert result["acc_correct"] == 1.0
    assert result["first_error_f1"] == pytest.approx(0.5)
    assert first_error_f1([0, -1], [-1, 1])["first_error_f1"] == 0.0
    assert math.isnan(first_error_f1([-1], [-1])["first_error_f1"])  # no erroneous solutions


def test_step_metrics_on_a_hand_case():
    metrics = step_metrics([[0.9, 0.2], [0.8, 0.5, 0.6]], [[1, 0], [1, 1, 0]])
    assert metrics["step_accuracy"] == pytest.approx(4 / 5)
    assert metrics["majority_baseline"] == pytest.approx(3 / 5)
    assert metrics["auroc"] == pytest.approx(5 / 6)  # 0.5 (correct) ranks below 0.6 (wrong)
    # references: first errors 1 and 2; predictions 1 and -1 -> acc_err 1/2, no correct ones
    assert metrics["acc_erroneous"] == 0.5 and math.isnan(metrics["first_error_f1"])


# --- training ---------------------------------------------------------------------------------

def test_tiny_training_beats_majority_baseline(tmp_path, tokenizer, train_val):
    torch.set_num_threads(1)
    train, val = train_val
    model = build_model("prm", TINY_PRM, tokenizer, seed=0)
    cfg = {"lr": 3e-3, "epochs": 8, "batch_size": 8, "early_stopping_patience": 2, "seed": 0}
    metrics = train_prm(train, val, tokenizer, model, cfg, tmp_path)
    best = metrics["val"]
    assert best["majority_baseline"] == pytest.approx(82 / 114)  # 114 val steps, 82 correct
    assert best["step_accuracy"] >= best["majority_baseline"] + 0.15
    assert best["auroc"] >= 0.95 and best["first_error_f1"] >= 0.8
    assert metrics["train"]["truncated"] == 0 and metrics["train"]["dropped"] == 0
    assert metrics["stopped_early"] and metrics["epochs_run"] < 8  # AUROC hit 1.0 and stayed
    # Only the final model is left: no checkpoint folders, no temp folders.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "model"]
    assert json.loads((tmp_path / "metrics.json").read_text())["best_epoch"] == best["epoch"]
    # The in-memory model is the best epoch and equals the saved one.
    from transformers import AutoModelForTokenClassification

    saved = AutoModelForTokenClassification.from_pretrained(tmp_path / "model")
    val_items = [(p, s) for p, s, _ in val]
    ours = PRMScorer(model, tokenizer).score_batch(val_items)
    again = PRMScorer(saved, tokenizer).score_batch(val_items)
    assert np.allclose(np.concatenate(ours), np.concatenate(again), atol=1e-6)
    rescored = step_metrics(ours, [labels for _, _, labels in val])
    assert rescored["step_accuracy"] == pytest.approx(best["step_accuracy"])


def test_soft_labels_with_class_balance_train(tmp_path, tokenizer, train_val):
    torch.set_num_threads(1)
    train, val = train_val
    # Soft targets as Monte-Carlo estimates would give: 0.9 for correct, 0.1 for wrong steps.
    soften = [(p, s, [0.9 if v else 0.1 for v in labels]) for p, s, labels in train]
    soft_val = [(p, s, [0.9 if v else 0.1 for v in labels]) for p, s, labels in val]
    model = build_model("prm", TINY_PRM, tokenizer, seed=0)
    cfg = {"lr": 3e-3, "epochs": 4, "batch_size": 8, "soft_labels": True, "class_balance": True,
           "early_stopping_patience": 0, "seed": 0}
    metrics = train_prm(soften, soft_val, tokenizer, model, cfg, tmp_path)
    assert metrics["class_weights"][0] > 1.0 > metrics["class_weights"][1]
    assert metrics["val"]["auroc"] >= 0.95
    assert metrics["epochs_run"] == 4 and not metrics["stopped_early"]
    scores = np.concatenate(PRMScorer(model, tokenizer).score_batch([(p, s) for p, s, _ in val]))
    # Trained toward 0.9 / 0.1 targets, scores stay away from the 0/1 extremes.
    assert 0.02 < scores.min() and scores.max() < 0.98


def test_training_is_deterministic_for_a_seed(tmp_path, tokenizer, train_val):
    torch.set_num_threads(1)
    train, val = train_val
    cfg = {"lr": 3e-3, "epochs": 1, "batch_size": 8, "early_stopping_patience": 0, "seed": 5}
    runs = []
    for name in ("a", "b"):
        model = build_model("prm", TINY_PRM, tokenizer, seed=0)
        metrics = train_prm(train[:24], val[:8], tokenizer, model, cfg, tmp_path / name)
        runs.append((metrics["train_loss"], [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_group_metrics_give_a_position_prior_nothing():
    """A scorer that knows only the step index (score falls with the index) looks useful on the
    pooled AUROC when wrong steps come late, and is at chance on position-matched pairs."""
    prior = lambda n: [1.0 - 0.1 * k for k in range(n)]  # noqa: E731
    # samples: wrong steps are the last ones; pairs: (reference, perturbed) cut at the same step
    targets = [[1, 1, 0], [1, 0], [1, 1, 1], [1, 1], [1, 0], [1, 1, 1], [1, 1, 0]]
    scores = [prior(len(t)) for t in targets]
    spans = {"samples": (0, 3), "paired": (3, 7)}
    metrics = group_metrics(scores, targets, spans)
    assert step_metrics(scores, targets)["auroc"] > 0.75
    assert metrics["auroc_paired"] == pytest.approx(0.5)
    assert metrics["auroc_samples"] == pytest.approx(auroc([1, .9, .8, 1, .9, 1, .9, .8], [1, 1, 0, 1, 0, 1, 1, 1]))
    assert metrics["verify_auroc"] == pytest.approx((metrics["auroc_samples"] + 0.5) / 2)
    one_class = group_metrics(scores[:1], [[1, 1, 1]], {"samples": (0, 1), "paired": (1, 1)})
    assert math.isnan(one_class["verify_auroc"])


def test_grouped_validation_selects_on_verify_auroc(tmp_path, tokenizer, train_val):
    torch.set_num_threads(1)
    train, val = train_val
    model = build_model("prm", TINY_PRM, tokenizer, seed=0)
    cfg = {"lr": 3e-3, "epochs": 2, "batch_size": 8, "seed": 0, "best_metric": "verify_auroc"}
    metrics = train_prm(train[:40], {"samples": val[:20], "paired": val[20:]}, tokenizer, model, cfg, tmp_path)
    assert metrics["best_metric"] == "verify_auroc"
    best = metrics["val"]
    assert {"auroc_samples", "auroc_paired", "verify_auroc"} <= set(best)
    assert best["verify_auroc"] == pytest.approx((best["auroc_samples"] + best["auroc_paired"]) / 2)
    assert metrics["val_data"]["items"] == 40
    with pytest.raises(ValueError, match="validation group"):
        train_prm(train[:8], {"solver": val[:4]}, tokenizer, model, cfg, tmp_path / "bad")
    # with no group holding both classes, selection falls back to the pooled AUROC
    all_right = [(p, s, [1] * len(s)) for p, s, _ in val[:8]]
    fallback = train_prm(train[:16], {"samples": all_right, "paired": all_right}, tokenizer,
                         build_model("prm", TINY_PRM, tokenizer, seed=0), {**cfg, "epochs": 1}, tmp_path / "fb")
    assert fallback["best_metric"] == "loss"  # pooled AUROC is one-class too: the loss

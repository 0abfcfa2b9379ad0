"""Adv-RM adversary reward and ensemble-disagreement filter on hand-made scores."""

import math

import pytest

from aprm.game.advrm import (
    adversary_reward,
    check_lambda,
    disagreement_keep_mask,
    ensemble_disagreement,
    zscores,
)


def test_adversary_reward_pays_only_target_blind_spots():
    # both like it / only target likes it / only second likes it / neither
    target = [0.9, 0.9, 0.1, 0.1]
    second = [0.9, 0.1, 0.9, 0.1]
    rewards = adversary_reward(target, second, lam=2.0)
    assert rewards == pytest.approx([-0.9, 0.7, -1.7, -0.1])
    assert max(range(4), key=rewards.__getitem__) == 1
    # equal scores s earn (1 - lambda) * s < 0: the more both RMs like a response, the less it pays
    assert rewards[0] < rewards[3] < 0


@pytest.mark.parametrize("lam", [1.0, 0.5, -2.0, float("nan"), float("inf"), True])
def test_lambda_must_exceed_one(lam):
    with pytest.raises(ValueError, match="lambda=.* must be a finite number > 1"):
        check_lambda(lam)
    with pytest.raises(ValueError, match="lambda"):
        adversary_reward([0.5], [0.5], lam)


def test_adversary_reward_input_errors():
    with pytest.raises(ValueError, match=r"second\[1\]=nan"):
        adversary_reward([0.1, 0.2], [0.1, float("nan")], 2.0)
    with pytest.raises(ValueError, match="target has 2 scores but second has 1"):
        adversary_reward([0.1, 0.2], [0.1], 2.0)


def test_signed_and_std_disagreement():
    scores = [[0.9, 0.5, 0.1], [0.1, 0.5, 0.9], [0.3, 0.5, 0.9]]
    assert ensemble_disagreement(scores) == pytest.approx([0.7, 0.0, -0.8])
    assert ensemble_disagreement(scores, target=1) == pytest.approx([-0.5, 0.0, 0.4])
    std = ensemble_disagreement(scores, kind="std")
    assert std[1] == 0.0
    assert std[0] == pytest.approx(math.sqrt(((0.9 - 13 / 30) ** 2 + (0.1 - 13 / 30) ** 2 + (0.3 - 13 / 30) ** 2) / 3))
    with pytest.raises(ValueError, match=">= 2 reward models, got 1"):
        ensemble_disagreement([[0.1]])
    with pytest.raises(ValueError, match="different numbers of samples: \\[2, 1\\]"):
        ensemble_disagreement([[0.1, 0.2], [0.3]])
    with pytest.raises(ValueError, match="unknown disagreement kind 'max'"):
        ensemble_disagreement(scores, kind="max")
    with pytest.raises(ValueError, match=r"scores\[1\]\[0\]=nan"):
        ensemble_disagreement([[0.1], [float("nan")]])


def test_keep_mask_against_batch_keeps_only_the_outlier():
    # 20 samples where the two PRMs roughly agree, one where the target says correct and the other wrong
    target = [0.5 + 0.01 * (i % 5) for i in range(20)] + [0.95]
    second = [0.5 - 0.01 * (i % 3) for i in range(20)] + [0.05]
    keep, z = disagreement_keep_mask([target, second])
    assert keep == [False] * 20 + [True]
    assert z[-1] > 1.96 and max(z[:20]) < 1.96
    # the reverse split (second accepts, target rejects) is not what the adversary wants: signed drops it
    keep_rev, _ = disagreement_keep_mask([second, target])
    assert not any(keep_rev)
    # the unsigned std keeps it either way
    keep_std, _ = disagreement_keep_mask([second, target], kind="std")
    assert keep_std[-1] and sum(keep_std) == 1


def test_keep_mask_against_baseline():
    baseline = [[0.8, 0.7, 0.9, 0.8], [0.75, 0.7, 0.8, 0.9]]  # disagreements 0.05, 0, 0.1, -0.1
    batch = [[0.9, 0.9, 0.3], [0.1, 0.85, 0.3]]  # 0.8 (far beyond), 0.05, 0.0
    keep, z = disagreement_keep_mask(batch, baseline_scores=baseline)
    assert keep == [True, False, False]
    mean, std = 0.0125, math.sqrt(((0.05 - 0.0125) ** 2 + 0.0125**2 + (0.1 - 0.0125) ** 2 + (0.1125) ** 2) / 4)
    assert z[0] == pytest.approx((0.8 - mean) / std)
    # with a baseline, a batch of uniformly large disagreements is kept whole (the batch itself would keep none)
    keep_all, _ = disagreement_keep_mask([[0.9, 0.95], [0.1, 0.1]], baseline_scores=baseline)
    assert keep_all == [True, True]
    assert disagreement_keep_mask([[0.9, 0.95], [0.1, 0.1]], threshold=1.96)[0] == [False, False]


def test_constant_disagreement_keeps_nothing():
    keep, z = disagreement_keep_mask([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])
    assert keep == [False, False, False] and z == [0.0, 0.0, 0.0]
    assert zscores([1.0]) is None
    assert zscores([1.0, 3.0]) == pytest.approx([-1.0, 1.0])

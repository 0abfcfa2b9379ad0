"""G's three-case reward and R's agreement reward, on hand-made oracle verdicts."""

import math

import pytest

from aprm.game.rewards import (
    CAUGHT,
    FAILED,
    FOOLED,
    Corruption,
    RewardConfig,
    classify,
    generator_reward,
    outcome_rates,
    prm_accuracy,
    prm_reward,
)
from aprm.oracle import Verdict

CORRECT = "She buys 15 more, so 23 + 15 = 38."
WRONG = "She buys 15 more, so 23 + 15 = 39."
WRONG_VERDICT = Verdict(label="incorrect", reason="arithmetic", detail="23 + 15 = 38, not 39")
CFG = RewardConfig()


def _sample(text=WRONG, verdict=WRONG_VERDICT, p=0.9, truncated=False, sid="s1"):
    return Corruption(sid, text, CORRECT, verdict=verdict, p_correct=p, truncated=truncated)


def test_fooled_caught_and_failed_get_the_configured_values():
    assert classify(_sample(p=0.9), CFG) == (FOOLED, "r_accepted")
    assert generator_reward(_sample(p=0.9), CFG) == 1.0
    assert classify(_sample(p=0.2), CFG) == (CAUGHT, "r_rejected")
    assert generator_reward(_sample(p=0.2), CFG) == 0.0
    right = Verdict(label="correct", reason="ok", detail="")
    assert classify(_sample(text="She buys 15 more: 15 + 23 = 38.", verdict=right), CFG) == (FAILED, "oracle_correct")
    assert generator_reward(_sample(verdict=right), CFG) == -1.0
    # the threshold itself counts as accepted
    assert classify(_sample(p=0.5), CFG)[0] == FOOLED
    custom = RewardConfig(fooled=2.0, caught=0.5, failed=-3.0, threshold=0.8)
    assert generator_reward(_sample(p=0.79), custom) == 0.5
    assert generator_reward(_sample(p=0.8), custom) == 2.0
    assert generator_reward(_sample(verdict=right), custom) == -3.0


def test_fooled_scaled_interpolates_with_r_probability():
    scaled = RewardConfig(fooled_scaled=True)
    assert generator_reward(_sample(p=0.9), scaled) == pytest.approx(0.9)
    assert generator_reward(_sample(p=0.2), scaled) == pytest.approx(0.2)
    shifted = RewardConfig(fooled=1.0, caught=0.5, failed=-1.0, fooled_scaled=True)
    assert generator_reward(_sample(p=0.2), shifted) == pytest.approx(0.6)
    # failures are not scaled
    assert generator_reward(_sample(text=""), scaled) == -1.0


@pytest.mark.parametrize(
    "text,verdict,truncated,why",
    [
        ("", None, False, "empty"),
        ("   \t ", None, False, "empty"),
        (None, None, False, "non_text"),
        (b"23 + 15 = 39", None, False, "non_text"),
        ("23 + 15 = 39\x00", None, False, "non_text"),
        ("23 + 15 = 39" * 100, None, False, "endless"),
        ("She buys 15 more, so 23 + 15 =", None, True, "endless"),
        ("23 + 15 = 39.\nThe answer is 39.", None, False, "multi_line"),
        (CORRECT, None, False, "copy"),
        ("So 23 + 15 = 39.<step>The answer is 39.", None, False, "reserved_marker"),
        ("  She buys 15 more,  so 23 + 15 = 38. ", None, False, "copy"),
        ("So 23 + 15 = 39.", Verdict(label="unknown", reason="unparseable", detail="no equation"), False, "oracle_unknown"),
        ("So 23 + 15 = 39.", Verdict(label="incorrect", reason="unparseable", detail=""), False, "oracle_unparseable"),
        ("So 23 + 15 = 39.", Verdict(label="incorrect", reason="bounds", detail=""), False, "oracle_bounds"),
    ],
)
def test_failed_to_corrupt_cases(text, verdict, truncated, why):
    # R's high score must not turn a failed corruption into a fooled one
    sample = _sample(text=text, verdict=verdict, p=0.99, truncated=truncated)
    assert classify(sample, CFG) == (FAILED, why)
    assert generator_reward(sample, CFG) == -1.0


def test_nan_or_missing_scores_raise_naming_the_sample():
    with pytest.raises(ValueError, match="sample g-17: .*nan"):
        generator_reward(_sample(p=float("nan"), sid="g-17"), CFG)
    with pytest.raises(ValueError, match="sample g-18: .*1.5"):
        generator_reward(_sample(p=1.5, sid="g-18"), CFG)
    # a NaN from a broken R is an error even when the sample failed anyway
    with pytest.raises(ValueError, match="sample g-19"):
        generator_reward(_sample(text="", p=math.nan, sid="g-19"), CFG)
    with pytest.raises(ValueError, match="sample g-20: an oracle-wrong step needs R's P"):
        generator_reward(_sample(p=None, sid="g-20"), CFG)
    with pytest.raises(ValueError, match="sample g-21: a well-formed step needs an oracle verdict"):
        generator_reward(_sample(verdict=None, sid="g-21"), CFG)


def test_reward_config_validation():
    with pytest.raises(ValueError, match="fooled > caught > failed"):
        RewardConfig(fooled=0.0, caught=0.0)
    with pytest.raises(ValueError, match="fooled=nan"):
        RewardConfig(fooled=float("nan"))
    with pytest.raises(ValueError, match="threshold=1.0"):
        RewardConfig(threshold=1.0)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['fool'\]"):
        RewardConfig.from_dict({"fool": 1.0})
    cfg = RewardConfig.from_dict({"fooled": 2.0, "fooled_scaled": True})
    assert cfg.fooled == 2.0 and cfg.fooled_scaled and RewardConfig.from_dict(cfg.to_dict()) == cfg


def test_prm_reward_and_accuracy():
    assert prm_reward(0.9, "correct") == 1.0
    assert prm_reward(0.9, "incorrect") == 0.0
    assert prm_reward(0.1, "incorrect") == 1.0
    assert prm_reward(0.1, "correct") == 0.0
    with pytest.raises(ValueError, match="decided labels, got 'unknown'"):
        prm_reward(0.5, "unknown")
    with pytest.raises(ValueError, match="sample 2: .*nan"):
        prm_accuracy([(0.9, "correct"), (0.1, "incorrect"), (float("nan"), "correct")])
    # unknown labels are skipped: 2 of 3 decided pairs agree
    assert prm_accuracy([(0.9, "correct"), (0.4, "unknown"), (0.8, "incorrect"), (0.2, "incorrect")]) == pytest.approx(2 / 3)
    assert prm_accuracy([(0.4, "unknown")]) is None


def test_outcome_rates():
    rates = outcome_rates([FOOLED, CAUGHT, CAUGHT, FAILED])
    assert rates == {
        "fool_rate": 0.25,
        "caught_rate": 0.5,
        "failed_rate": 0.25,
        "valid_rate": 0.75,
        "fooled_given_valid": pytest.approx(1 / 3),
    }
    assert outcome_rates([])["fool_rate"] == 0.0
    with pytest.raises(ValueError, match="unknown outcome"):
        outcome_rates(["won"])

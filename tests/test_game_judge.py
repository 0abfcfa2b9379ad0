"""Judges (oracle + R -> G's reward), game config resolution and state files, with real parts."""

import copy
import json

import pytest
from game_fixtures import problems, tiny_model, tokenizer

from aprm.game.config import resolve_game_cfg
from aprm.game.generator import corruption_slots
from aprm.game.judge import CorruptionJudge, EnsembleJudge, aprm_sample_metrics, verified_negatives
from aprm.game.prm_update import update_prm
from aprm.game.replay import Negative
from aprm.game.rewards import RewardConfig
from aprm.game.state import check_state, prepare_state, read_items, read_negatives, reference_positives, write_items
from aprm.models.scorer import PRMScorer
from aprm.oracle import judge_step

NONSENSE = "The answer is 1234567."


@pytest.fixture(scope="module")
def trained_scorer():
    """A tiny R taught to reject NONSENSE as a second step and accept reference steps."""
    tok, model = tokenizer(), tiny_model("prm")
    train = problems()
    negatives = [Negative(p, p.reference_steps[:1], NONSENSE, "answer", 0).training_item() for p in train]
    cfg = {"steps": 40, "batch_size": 8, "lr": 3e-3, "optimizer": "optimistic_adam", "anchor_l2": 0.0}
    update_prm(model, tok, reference_positives(train), negatives, copy.deepcopy(model), cfg)
    return PRMScorer(model, tok)


def test_corruption_judge_three_cases(trained_scorer):
    problem = problems()[0]  # step 1: 'He gives 5 to a friend, so 6 - 5 = 1.'
    slots = corruption_slots([problem])
    judge = CorruptionJudge(slots, judge_step, trained_scorer, RewardConfig())
    texts = [
        "He gives 5 to a friend, so 6 - 5 = 2.",  # arithmetic error the tiny R cannot see
        NONSENSE,  # wrong final answer that R learnt to reject
        problem.reference_steps[1],  # verbatim copy
        "He is happy.",  # nothing checkable: the oracle calls it correct
        "",
        "He gives 5 to a friend, so 6 - 5 =",  # cut off at the token limit
    ]
    rewards = judge([1] * len(texts), texts, [False] * 5 + [True])
    outcomes = [(r.outcome, r.why) for r in judge.records]
    assert outcomes == [
        ("fooled", "r_accepted"), ("caught", "r_rejected"), ("failed", "copy"),
        ("failed", "oracle_correct"), ("failed", "empty"), ("failed", "endless"),
    ]
    assert rewards == [1.0, 0.0, -1.0, -1.0, -1.0, -1.0]
    assert [r.reason for r in judge.records[:2]] == ["arithmetic", "answer"]
    # R's score is the one it gives the step in context, after the slot's prefix
    direct = trained_scorer.score(problem, [problem.reference_steps[0], texts[0]])[-1]
    assert judge.records[0].scores == [pytest.approx(direct)]
    negs = verified_negatives(judge.records, {s.slot_id: s for s in slots}, round_idx=3)
    assert [(n.step, n.reason, n.round, n.prefix) for n in negs] == [
        (texts[0], "arithmetic", 3, problem.reference_steps[:1]), (NONSENSE, "answer", 3, problem.reference_steps[:1])
    ]
    metrics = aprm_sample_metrics(judge.records, 0.5)
    assert metrics["fool_rate"] == pytest.approx(1 / 6) and metrics["valid_rate"] == pytest.approx(2 / 6)
    assert metrics["prm_acc_on_negatives"] == 0.5
    assert metrics["error_mix"] == {"answer": 0.5, "arithmetic": 0.5}
    assert metrics["failure_mix"]["copy"] == pytest.approx(1 / 6)


def test_oracle_gets_the_reference_solution_when_configured(trained_scorer):
    problem = problems()[0]
    slots = corruption_slots([problem])
    seen = []

    def recording_judge(problem, prefix, step, reference=None):
        seen.append(reference)
        return judge_step(problem, prefix, step, reference=reference)

    for use_reference in (True, False):
        judge = CorruptionJudge(slots, recording_judge, trained_scorer, RewardConfig(), use_reference=use_reference)
        judge([2], ["His collection grows to 4 times its size, so 1 * 4 = 5."], [False])
        assert judge.records[0].outcome in ("fooled", "caught") and judge.records[0].reason == "arithmetic"
    assert seen == [list(problem.reference_steps), None]


def test_ensemble_judge_pays_target_minus_lambda_second():
    tok = tokenizer()
    scorers = [PRMScorer(tiny_model("prm", seed=k), tok) for k in range(2)]
    problem = problems()[1]
    slots = corruption_slots([problem])
    judge = EnsembleJudge(slots, scorers, lam=3.0, failed_reward=-2.0, max_step_chars=400)
    rewards = judge([0, 1, 0], ["She wins 24, so 602 + 24 = 627.", "", problem.reference_steps[0]], [False] * 3)
    s0 = scorers[0].score(problem, ["She wins 24, so 602 + 24 = 627."])[-1]
    s1 = scorers[1].score(problem, ["She wins 24, so 602 + 24 = 627."])[-1]
    assert rewards[0] == pytest.approx(s0 - 3.0 * s1)
    assert rewards[1:] == [-2.0, -2.0]
    assert judge.records[0].scores == [pytest.approx(s0), pytest.approx(s1)]
    with pytest.raises(ValueError, match=">= 2 PRMs"):
        EnsembleJudge(slots, scorers[:1], 2.0, -1.0, 400)
    with pytest.raises(ValueError, match="lambda=1.0"):
        EnsembleJudge(slots, scorers, 1.0, -1.0, 400)


def test_game_config_defaults_and_errors():
    cfg = resolve_game_cfg({"g_steps_per_r_step": 3, "prm_update": {"steps": 5}}, "aprm")
    assert cfg["generator_rl"]["steps"] == 15 and cfg["rewards"]["fooled"] == 1.0
    assert cfg["prm_update"]["optimizer"] == "ogda" and cfg["replay"]["policy"] == "fifo"
    adv = resolve_game_cfg({"name": "advrm", "lam": 1.5}, "advrm")
    assert adv["lam"] == 1.5 and adv["z_threshold"] == 1.96 and adv["ensemble_size"] == 2
    bad = [
        ({"lam": 2.0}, "aprm", r"unknown key\(s\) \['lam'\]"),
        ({"lam": 0.5}, "advrm", "lambda=0.5"),
        ({"ensemble_size": 1}, "advrm", "ensemble_size must be an int >= 2"),
        ({"generator_rl": {"steps": 3}}, "aprm", "g_steps_per_r_step"),
        ({"rewards": {"fooled": -5.0}}, "aprm", "fooled > caught > failed"),
        ({"probe": {"slot": 3}}, "aprm", r"method.probe: unknown key\(s\) \['slot'\]"),
        ({"replay": {"policy": "lru"}}, "aprm", "replay.policy must be one of"),
        ({"name": "advrm"}, "aprm", "does not match"),
        ({"rounds": 0}, "aprm", "rounds must be a positive int"),
    ]
    for given, kind, message in bad:
        with pytest.raises(ValueError, match=message):
            resolve_game_cfg(given, kind)


def test_state_files_round_trip_and_errors(tmp_path):
    train = list(problems()[:3])
    negs = [Negative(train[0], (), "So 1 + 1 = 3.", "arithmetic", -1, "perturbation")]
    state = prepare_state(tmp_path, tmp_path, [tmp_path], train, reference_positives(train), negs,
                          {"capacity": 4}, initial_negatives=negs)
    check_state(state, ["generator", "prm", "replay", "problems", "positives", "static_eval"])
    assert read_items(state["positives"])[0] == (train[0], list(train[0].reference_steps), [1] * len(train[0].reference_steps))
    assert read_negatives(state["static_eval"]) == negs
    assert sum(1 for _ in open(state["replay"])) == 2  # header + the initial negative
    with pytest.raises(ValueError, match=r"lacks key\(s\) \['prm_ref'\]"):
        check_state({k: v for k, v in state.items() if k != "prm_ref"}, ["prm_ref"])
    with pytest.raises(FileNotFoundError, match="game state prm: .*nope"):
        check_state({**state, "prm": str(tmp_path / "nope")}, ["prm"])
    bad = tmp_path / "bad.jsonl"
    row = {"problem": train[0].to_dict(), "steps": ["a", "b"], "labels": [1]}
    bad.write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: field 'labels' must be 0/1, one per step"):
        read_items(bad)
    write_items(bad, [(train[0], ["a"], [1])])
    assert read_items(bad) == [(train[0], ["a"], [1])]

"""Cross-play: every attacker against every final PRM; only oracle-verified corruptions count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aprm.eval.results import ResultsSchemaError, build_results
from aprm.game.crossplay import CrossplayAttack, crossplay_cells, judge_attacks, score_attacks
from aprm.game.generator import Slot
from aprm.oracle import judge_step
from aprm.schema import Problem

PROBLEM = Problem(id="p", question="Sam has 3 apples and buys 4 more. How many apples does Sam have?", answer="7",
                  reference_steps=("Sam has 3 + 4 = 7 apples.", "The answer is 7."))


class FixedScorer:
    """P(correct) of a step = a fixed value per step text (a PRM whose answers the test chooses)."""

    def __init__(self, table: dict[str, float]):
        self.table = table

    def score_batch(self, items):
        return [[self.table.get(steps[-1], 0.5)] * len(steps) for _, steps in items]


def test_only_valid_corruptions_count_and_no_valid_one_gives_rate_zero():
    slot = Slot(PROBLEM, 0)
    attacks = [CrossplayAttack("g", slot, "Sam has 3 + 4 = 8 apples."),   # wrong arithmetic: valid
               CrossplayAttack("g", slot, "Sam has 3 + 4 = 7 apples."),   # a copy of the right step
               CrossplayAttack("g", slot, "Sam has 3 + 4 = 9 apples.", truncated=True),  # endless
               CrossplayAttack("lazy", slot, "")]
    judge_attacks(attacks, judge_step, max_step_chars=400)
    assert [a.valid for a in attacks] == [True, False, False, False]
    assert attacks[0].oracle_label == "incorrect" and attacks[1].why_invalid == "copy"
    score_attacks(attacks, {"weak": FixedScorer({"Sam has 3 + 4 = 8 apples.": 0.9}),
                            "strong": FixedScorer({"Sam has 3 + 4 = 8 apples.": 0.1})})
    assert attacks[0].scores == {"weak": 0.9, "strong": 0.1} and attacks[1].scores == {}
    cells = crossplay_cells(attacks, ["g", "lazy"], ["weak", "strong"], threshold=0.5)
    by = {(c["attacker"], c["defender"]): c for c in cells}
    assert by[("g", "weak")] == {"attacker": "g", "defender": "weak", "n_total": 3, "n_valid": 1, "fooled": 1,
                                 "fool_rate": 1.0}
    assert by[("g", "strong")]["fool_rate"] == 0.0
    assert by[("lazy", "weak")] == {"attacker": "lazy", "defender": "weak", "n_total": 1, "n_valid": 0, "fooled": 0,
                                    "fool_rate": 0.0}


def _results(cell: dict) -> dict:
    return build_results(name="t", config_hash="h", git_sha="g", seeds=[0], runs=[], methods=["static"], suites=["id"],
                         crossplay=[{"seed": 0, "attacker": "rules", "defender": "static", **cell}])


def test_the_validator_checks_every_cell():
    good = {"n_total": 4, "n_valid": 2, "fooled": 1, "fool_rate": 0.5}
    assert _results(good)["crossplay"][0]["fool_rate"] == 0.5
    for bad, message in [({"fooled": 3}, "fooled <= n_valid <= n_total"),
                         ({"fool_rate": 0.25}, "is not fooled / n_valid"),
                         ({"n_valid": 0, "fooled": 0, "fool_rate": 0.5}, "is not fooled / n_valid")]:
        with pytest.raises(ResultsSchemaError, match=message):
            _results({**good, **bad})
    with pytest.raises(ResultsSchemaError, match="'orm' is not listed in methods"):
        build_results(name="t", config_hash="h", git_sha="g", seeds=[0], runs=[], methods=["static"], suites=["id"],
                      crossplay=[{"seed": 0, "attacker": "rules", "defender": "orm", **good}])


@pytest.mark.slow
def test_the_smoke_run_reports_every_attacker_against_every_prm_oracle_verified(smoke_run):
    from aprm.eval.results import load_results
    from aprm.game.rewards import invalid_reason

    home, summary = smoke_run
    results = load_results(summary["results"])
    attackers = ["rules", "solver", "G0", "aprm-G1", "aprm-G2", "advrm-G1", "advrm-G2"]
    cells = {(c["attacker"], c["defender"]): c for c in results["crossplay"]}
    assert set(cells) == {(a, m) for a in attackers for m in results["methods"]}
    assert cells[("rules", "static")]["n_valid"] > 0
    parts = [s for s in summary["stages"] if s["name"].startswith("crossplay[")]
    assert [s["name"] for s in parts] == [f"crossplay[seed=0,{a}]" for a in ["rules+solver", *attackers[2:]]]
    records = [json.loads(line) for s in parts for line in Path(s["path"]).read_text().splitlines()]
    for attacker in attackers:
        mine = [r for r in records if r["attacker"] == attacker]
        valid = [r for r in mine if r["why_invalid"] is None]
        assert cells[(attacker, "static")]["n_total"] == len(mine)
        assert cells[(attacker, "static")]["n_valid"] == len(valid)
        for r in valid:  # counted => the oracle, asked again, calls it wrong for a decided reason
            problem = Problem.from_dict(r["problem"])
            slot = Slot(problem, r["index"])
            verdict = judge_step(problem, list(slot.prefix), r["text"], reference=list(problem.reference_steps))
            assert invalid_reason(r["text"], slot.correct_step, verdict, 400) is None
            assert set(r["scores"]) == set(results["methods"])
    report = Path(summary["report"]).read_text()
    assert "### Cross-play: fool rate of valid corruptions" in report and "too few" in report
    assert (Path(summary["report"]).parent / "report_plots" / "crossplay.png").is_file()


@pytest.mark.slow
def test_each_seed_also_faces_the_other_seeds_generator(tmp_path):
    """A held-out attacker: the last APRM G of another seed, trained against a PRM this seed never saw."""
    from aprm.hashing import code_version
    from aprm.pipeline.plan import run_plan
    from aprm.pipeline.runner_hook import InMemoryRunner
    from flows.config import compose_config, method_config, method_names

    cfg = compose_config(["debug=fast", "method=aprm", "method.rounds=1", "seeds=[0,1]", "solver_seed=0",
                          f"paths.home={tmp_path}"])
    games = {method: method_config(method, cfg) for method in method_names(cfg)}
    plan = run_plan(cfg, games, InMemoryRunner(), tmp_path / "artifacts", code_version(), "held-out", "test")
    parts = {o.name: o for o in plan.outcomes if o.name.startswith("crossplay[")}
    attackers = ["rules+solver", "G0", "aprm-G1", "held-out-aprm-G1"]
    assert list(parts) == [f"crossplay[seed={seed},{a}]" for seed in (0, 1) for a in attackers]
    cells = json.loads(Path(plan.report_paths["results"]).read_text())["crossplay"]
    for seed, other in [(0, 1), (1, 0)]:
        in_order = [c["attacker"] for c in cells if c["seed"] == seed]
        assert list(dict.fromkeys(in_order)) == ["rules", "solver", "G0", "aprm-G1", "held-out-aprm-G1"]
        held_out = parts[f"crossplay[seed={seed},held-out-aprm-G1]"].value["attackers"]["held-out-aprm-G1"]
        assert held_out == plan.per_seed[other].generators["aprm-G1"] != plan.per_seed[seed].generators["aprm-G1"]

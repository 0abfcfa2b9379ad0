"""`model.prm_kind: surprise_head`: a logistic head on a (tiny, memorizing) solver's surprise,
fit on labeled items, saved, loaded, and updated inside a game round."""

from __future__ import annotations

import json
import random

import pytest
import torch

from aprm.game.players import HeadR, load_r
from aprm.game.replay import Negative
from aprm.models.prm_metrics import auroc
from aprm.models.surprise_head import (HEAD_FILE, HeadPRM, SurpriseHeadScorer, SurpriseReader, fit_head,
                                       is_head_dir, labeled_tensors, load_head_prm, load_head_scorer)
from aprm.models.surprise_store import STORE_DIR, SurpriseStore
from aprm.perturb import perturb_solution

RULES = ("number_change", "operator_swap", "carry_error")


def _pairs(problems, seed):
    """(reference prefix, perturbed prefix) items ending at the perturbed step, labels attached."""
    rng = random.Random(seed)
    items = []
    for problem in problems:
        steps = list(problem.reference_steps)
        for rule in RULES:
            perturbed = perturb_solution(problem, steps, rule, rng)
            if perturbed is None:
                continue
            wrong, index = perturbed
            items.append((problem, steps[: index + 1], [1] * (index + 1)))
            items.append((problem, wrong[: index + 1], [1] * index + [0]))
    return items


@pytest.fixture(scope="module")
def reader(memorized_solver):
    return SurpriseReader(memorized_solver.path)


@pytest.fixture(scope="module")
def fitted(memorized_solver, reader, tmp_path_factory):
    train = _pairs(memorized_solver.problems[:16], seed=0)
    head = fit_head(labeled_tensors(reader, train), seed=None)
    out = HeadPRM(str(memorized_solver.path), head).save(tmp_path_factory.mktemp("head") / "model")
    return out


def _paired_auroc(scorer, items):
    scores = scorer.score_batch([(p, s) for p, s, _ in items])
    right, wrong = [s[-1] for s in scores[0::2]], [s[-1] for s in scores[1::2]]
    return auroc(right + wrong, [1] * len(right) + [0] * len(wrong))


def test_the_head_separates_held_out_perturbations(memorized_solver, fitted):
    held_out = _pairs(memorized_solver.problems[16:], seed=1)
    assert len(held_out) >= 20
    scorer = load_head_scorer(fitted)
    assert _paired_auroc(scorer, held_out) > 0.9
    scores = [v for row in scorer.score_batch([(p, s) for p, s, _ in held_out]) for v in row]
    assert all(0.0 <= v <= 1.0 for v in scores)


def test_saved_head_round_trips_and_scores_like_the_fitted_one(memorized_solver, fitted, reader):
    assert is_head_dir(fitted) and not is_head_dir(fitted.parent)
    prm = load_head_prm(fitted)
    again = HeadPRM(prm.solver_dir, prm.head).save(fitted.parent / "copy")
    assert json.loads((again / HEAD_FILE).read_text()) == json.loads((fitted / HEAD_FILE).read_text())
    items = [(p, list(p.reference_steps)) for p in memorized_solver.problems[:4]]
    assert SurpriseHeadScorer(prm, reader).score_batch(items) == load_head_scorer(fitted).score_batch(items)


def test_fit_is_deterministic_and_a_seed_draws_a_bootstrap(memorized_solver, reader):
    data = labeled_tensors(reader, _pairs(memorized_solver.problems[:16], seed=0))
    weights = {seed: fit_head(data, seed).linear.weight.detach().clone() for seed in (None, 3)}
    assert torch.equal(fit_head(data, 3).linear.weight.detach(), weights[3])
    assert not torch.allclose(weights[None], weights[3])
    with pytest.raises(ValueError, match="no labeled step"):
        fit_head([], seed=None)


def test_a_head_written_for_other_features_is_refused(fitted, tmp_path):
    saved = json.loads((fitted / HEAD_FILE).read_text())
    (tmp_path / HEAD_FILE).write_text(json.dumps({**saved, "features": ["all_min"]}))
    with pytest.raises(ValueError, match=f"{HEAD_FILE}.*retrain"):
        load_head_prm(tmp_path)


def test_a_game_update_moves_the_head_toward_its_negatives_and_keeps_its_optimizer(memorized_solver, fitted,
                                                                                    tmp_path):
    """R's update in a round: scores of the replayed negatives fall, the anchor distance grows from
    0, and the optimizer state written by one round is resumed by the next."""
    r = load_r(fitted)
    assert isinstance(r, HeadR)
    problems = memorized_solver.problems
    positives = [(p, list(p.reference_steps), [1] * len(p.reference_steps)) for p in problems]
    wrong = [(p, s) for p, s, labels in _pairs(problems, seed=2) if labels[-1] == 0]
    negatives = [Negative(p, tuple(s[:-1]), s[-1], "rule", -1, "perturbation" if i % 2 else "generator")
                 for i, (p, s) in enumerate(wrong)]
    scorer = r.scorer(8)
    before = [s[-1] for s in scorer.score_batch(wrong)]
    cfg = {"steps": 30, "batch_size": 8, "lr": 0.05, "anchor_l2": 1e-3, "seed": 0}
    first = r.update(positives, negatives, str(fitted), cfg, None, tmp_path / "opt.pt")
    after = [s[-1] for s in scorer.score_batch(wrong)]
    assert sum(after) < sum(before)
    assert first["anchor_sq_dist"] > 0 and not first["optimizer_resumed"]
    second = r.update(positives, negatives, str(fitted), cfg, str(tmp_path / "opt.pt"), tmp_path / "opt2.pt")
    assert second["optimizer_resumed"]
    r.save(tmp_path / "r1")
    assert load_head_prm(tmp_path / "r1").head.linear.weight.tolist() == r.prm.head.linear.weight.tolist()


def test_surprise_head_with_a_solver_init_is_a_config_error():
    from flows.config import ConfigError, compose_config

    assert compose_config(["model.prm_kind=surprise_head"])["model"]["prm_kind"] == "surprise_head"
    with pytest.raises(ConfigError, match="model.prm_init"):
        compose_config(["model.prm_kind=surprise_head", "model.prm_init=solver"])
    with pytest.raises(ConfigError, match="model.prm_kind"):
        compose_config(["model.prm_kind=mlp"])


def _without_store(solver, to):
    """A copy of a solver folder whose surprise store is empty."""
    import shutil

    return shutil.copytree(solver, to, ignore=shutil.ignore_patterns(STORE_DIR))


@pytest.fixture
def fresh_solver(memorized_solver, tmp_path):
    return _without_store(memorized_solver.path, tmp_path / "solver")


def _counting(reader, calls):
    compute = reader.surprise.vectors
    reader.surprise.vectors = lambda items, desc=None: calls.append(len(items)) or compute(items, desc)
    return reader


def test_one_request_from_two_threads_is_computed_once(memorized_solver, fresh_solver):
    """Two methods' evaluations of one suite ask at once: the solver reads it once, both get it."""
    from concurrent.futures import ThreadPoolExecutor

    calls = []
    reader = _counting(SurpriseReader(fresh_solver), calls)
    items = [(p, list(p.reference_steps)) for p in memorized_solver.problems]
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: reader.vectors(items), range(2))
    assert first == second and calls == [len(items)]
    part = reader.vectors(items[:3])  # another request: computed anew (equal up to float rounding)
    assert calls == [len(items), 3]
    assert [v for rows in part for row in rows for v in row] == \
        pytest.approx([v for rows in first[:3] for row in rows for v in row], abs=1e-5)


def test_readers_of_one_solver_share_what_each_computed(memorized_solver, fresh_solver):
    """Two readers stand for two worker processes (each its own memory, one solver folder): a
    request asked by both at once is computed once, behind a file lock, and both answers are equal
    to the last bit; a reader at another batch size computes its own."""
    from concurrent.futures import ThreadPoolExecutor

    calls = []
    readers = [_counting(SurpriseReader(fresh_solver), calls) for _ in range(2)]
    items = [(p, list(p.reference_steps)) for p in memorized_solver.problems]
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda reader: reader.vectors(items), readers)
    assert calls == [len(items)]
    assert first == second and all(isinstance(v, float) for rows in second for row in rows for v in row)
    assert len(list((fresh_solver / STORE_DIR).rglob("*.npz"))) == 1
    later = _counting(SurpriseReader(fresh_solver), calls)  # a process started after: reads the store
    assert later.vectors(items) == first and calls == [len(items)]
    _counting(SurpriseReader(fresh_solver, batch_size=5), calls).vectors(items)
    assert calls == [len(items), len(items)]


def test_a_damaged_store_is_computed_again_and_an_unwritable_one_is_skipped(memorized_solver, fresh_solver,
                                                                            tmp_path):
    items = [(p, list(p.reference_steps)) for p in memorized_solver.problems[:4]]
    expected = SurpriseReader(fresh_solver).vectors(items)
    (stored,) = (fresh_solver / STORE_DIR).rglob("*.npz")
    stored.write_bytes(b"half a file")
    calls = []
    assert _counting(SurpriseReader(fresh_solver), calls).vectors(items) == expected and calls == [4]
    assert _counting(SurpriseReader(fresh_solver), calls).vectors(items) == expected and calls == [4]
    blocked = _without_store(fresh_solver, tmp_path / "blocked")
    (blocked / STORE_DIR).write_text("a file where the store's folder would go")
    assert _counting(SurpriseReader(blocked), calls).vectors(items) == expected and calls == [4, 4]


def test_a_solver_swapped_in_by_another_process_leaves_the_reader_working(memorized_solver, fresh_solver):
    """Processes that train one solver at once each swap their copy into place, taking the store
    folder a reader holds with the old copy: before the reader's request, and during it."""
    import shutil

    items = [(p, list(p.reference_steps)) for p in memorized_solver.problems[:4]]
    expected = SurpriseReader(fresh_solver).vectors(items)
    shutil.rmtree(fresh_solver / STORE_DIR)
    calls = []
    reader = _counting(SurpriseReader(fresh_solver), calls)
    shutil.rmtree(fresh_solver / STORE_DIR)  # gone before the request
    assert reader.vectors(items) == expected and calls == [4]
    assert not (fresh_solver / STORE_DIR).exists()  # the store makes no folder for a solver mid-swap

    during = SurpriseReader(fresh_solver)
    compute = during.surprise.vectors
    during.surprise.vectors = lambda rows, desc=None: shutil.rmtree(fresh_solver / STORE_DIR) or compute(rows, desc)
    assert during.vectors(items) == expected and not (fresh_solver / STORE_DIR).exists()
    mid_swap = fresh_solver.parent / "absent"  # between the swap's two renames
    assert SurpriseStore(mid_swap, batch_size=32).folder is None and not mid_swap.exists()


def test_labeled_items_asked_in_parts_keep_their_order_and_a_part_asked_again_is_read(memorized_solver,
                                                                                      fresh_solver):
    """A game round asks the set-up's rule pairs apart from G's new negatives: each part is one
    request, the rows come back in the items' order, and the part every round shares is computed
    once."""
    calls = []
    reader = _counting(SurpriseReader(fresh_solver), calls)
    items = _pairs(memorized_solver.problems, seed=3)
    parts = ["rules" if i % 3 else "new" for i in range(len(items))]
    split = labeled_tensors(reader, items, parts=parts)
    assert sorted(calls) == sorted([parts.count("rules"), parts.count("new")])
    whole = labeled_tensors(SurpriseReader(fresh_solver, batch_size=5), items)
    assert len(split) == len(whole) == len(items)
    for (features, labels), (features_whole, labels_whole) in zip(split, whole):
        assert labels.tolist() == labels_whole.tolist()
        assert torch.allclose(features, features_whole, atol=1e-4)  # other batches: other last bits
    fresh = [(p, s, labels) for (p, s, labels), part in zip(items, parts) if part == "new"][:2]
    rules = [(p, s, labels) for (p, s, labels), part in zip(items, parts) if part == "rules"]
    again = labeled_tensors(reader, rules + fresh, parts=["rules"] * len(rules) + ["new"] * 2)
    assert calls[2:] == [2]  # only the new part is computed
    assert [f.tolist() for f, _ in again[: len(rules)]] == [f.tolist() for (f, _), part in zip(split, parts)
                                                           if part == "rules"]

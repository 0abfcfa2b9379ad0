"""Replay buffer of verified negatives: bounds, policies, determinism and JSONL round trips."""

import json
from collections import Counter

import pytest

from aprm.game.replay import Negative, ReplayBuffer
from aprm.schema import Problem

PROBLEM = Problem(
    id="p0",
    question="Ava has 23 stickers. She buys 15 more stickers. How many stickers does Ava have now?",
    answer="38",
    reference_steps=("She buys 15 more, so 23 + 15 = 38.", "The answer is 38."),
    meta={"family": "id", "start": 23, "ops": [["+", 15]], "values": [23, 38]},
)


def _neg(i: int, round_idx: int = 0) -> Negative:
    return Negative(PROBLEM, (), f"She buys 15 more, so 23 + 15 = {100 + i}.", "arithmetic", round_idx)


def test_training_item_labels_prefix_correct_and_step_wrong():
    neg = Negative(PROBLEM, ("She buys 15 more, so 23 + 15 = 38.",), "The answer is 39.", "answer", 2)
    problem, steps, labels = neg.training_item()
    assert problem is PROBLEM
    assert steps == ["She buys 15 more, so 23 + 15 = 38.", "The answer is 39."]
    assert labels == [1, 0]


def test_fifo_keeps_the_newest_and_drops_duplicates():
    buf = ReplayBuffer(3, "fifo")
    assert buf.extend(_neg(i) for i in range(5)) == 5
    assert [n.step[-4:-1] for n in buf.items()] == ["102", "103", "104"]
    assert not buf.add(_neg(4))  # duplicate of an entry inside
    dup_spacing = Negative(PROBLEM, (), "She buys 15 more,  so 23 + 15 = 104. ", "arithmetic", 1)
    assert not buf.add(dup_spacing)
    assert buf.add(_neg(0))  # evicted earlier, so it is new again
    assert len(buf) == 3 and buf.offered == 6


def test_reservoir_is_uniform_bounded_and_seeded():
    first = ReplayBuffer(10, "reservoir", seed=1)
    first.extend(_neg(i) for i in range(200))
    again = ReplayBuffer(10, "reservoir", seed=1)
    again.extend(_neg(i) for i in range(200))
    other = ReplayBuffer(10, "reservoir", seed=2)
    other.extend(_neg(i) for i in range(200))
    assert len(first) == 10
    assert [n.step for n in first.items()] == [n.step for n in again.items()]
    assert [n.step for n in first.items()] != [n.step for n in other.items()]
    # uniformity: over many seeds each of 40 entries survives in a 10-slot reservoir about 1/4 of the time
    hits = Counter()
    for seed in range(300):
        buf = ReplayBuffer(10, "reservoir", seed=seed)
        buf.extend(_neg(i) for i in range(40))
        hits.update(n.step for n in buf.items())
    early = sum(hits[_neg(i).step] for i in range(10)) / (10 * 300)
    late = sum(hits[_neg(i).step] for i in range(30, 40)) / (10 * 300)
    assert abs(early - 0.25) < 0.05 and abs(late - 0.25) < 0.05


@pytest.mark.parametrize("policy", ["fifo", "reservoir"])
def test_save_load_resumes_exactly(tmp_path, policy):
    whole = ReplayBuffer(8, policy, seed=5)
    whole.extend(_neg(i, i // 10) for i in range(30))
    part = ReplayBuffer(8, policy, seed=5)
    part.extend(_neg(i, i // 10) for i in range(17))
    part.save(tmp_path / "replay.jsonl")
    resumed = ReplayBuffer.load(tmp_path / "replay.jsonl")
    assert resumed.items() == part.items() and resumed.offered == 17
    resumed.extend(_neg(i, i // 10) for i in range(17, 30))
    assert resumed.items() == whole.items()
    assert resumed.items()[0].problem == PROBLEM


def test_load_errors_name_file_and_line(tmp_path):
    path = tmp_path / "r.jsonl"
    buf = ReplayBuffer(4)
    buf.extend(_neg(i) for i in range(2))
    buf.save(path)
    lines = path.read_text().splitlines()
    row = json.loads(lines[2])
    row["prefix"] = "not a list"
    path.write_text("\n".join([lines[0], lines[1], json.dumps(row)]) + "\n")
    with pytest.raises(ValueError, match=r"r.jsonl:3: bad replay entry.*prefix"):
        ReplayBuffer.load(path)
    path.write_text(lines[0] + "\n{oops\n")
    with pytest.raises(ValueError, match=r"r.jsonl:2: not JSON"):
        ReplayBuffer.load(path)
    path.write_text(lines[1] + "\n")
    with pytest.raises(ValueError, match=r"r.jsonl:1: first line must be a header"):
        ReplayBuffer.load(path)
    path.write_text("\n".join([lines[0], lines[1], lines[1]]) + "\n")
    with pytest.raises(ValueError, match=r"r.jsonl:3: duplicate entry"):
        ReplayBuffer.load(path)


def test_constructor_validation():
    with pytest.raises(ValueError, match="capacity=0"):
        ReplayBuffer(0)
    with pytest.raises(ValueError, match="unknown replay policy 'lifo'; choose one of fifo, reservoir"):
        ReplayBuffer(3, "lifo")

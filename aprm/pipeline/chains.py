"""Chains of stages that depend on each other (a PRM, then a game's set-up, then each round), advanced
together, so that one chain's stage runs on a worker while another waits on its own.

A chain is a generator: it yields what resolves its next stage (`StageRunner.submit`'s callable,
or an outcome already at hand wrapped in one) and receives that stage's outcome; its return value
is its result. `advance_together` resolves the chains' stages round-robin, so every chain has one
stage queued on the runner's workers at a time, whatever the others wait on.
"""

from __future__ import annotations

from typing import Any, Callable, Generator, Hashable, TypeVar

from aprm.hashing import stable_hash
from aprm.pipeline.runner_hook import StageOutcome, StageRunner

Result = TypeVar("Result")
Chain = Generator[Callable[[], StageOutcome], StageOutcome, Result]


def advance_together(chains: dict[Hashable, Chain],
                     on_done: Callable[[Hashable, Any], None] = lambda key, result: None) -> dict[Hashable, Any]:
    """Run every chain to its end; {key: the chain's result}. `on_done(key, result)` is called as
    each chain ends (to submit what needs only its result, while the others go on)."""
    waiting = {key: next(chain) for key, chain in chains.items()}
    results: dict[Hashable, Any] = {}
    while waiting:
        for key in list(waiting):
            outcome = waiting[key]()
            try:
                waiting[key] = chains[key].send(outcome)
            except StopIteration as end:
                del waiting[key]
                results[key] = end.value
                on_done(key, end.value)
    return {key: results[key] for key in chains}


class StageStarter:
    """Starts the stages of the chains, each name once (the static PRM is a baseline and every
    game's R_0; the games of a seed share one `game-setup`: one stage for all). On the runner's
    workers (`fanned`), else here and now, in the flow's process."""

    def __init__(self, runner: StageRunner, fanned: bool):
        self.runner = runner
        self.fanned = fanned
        self.started: dict[str, tuple[str, Callable[[], StageOutcome]]] = {}

    def __call__(self, fn: Callable[..., dict], name: str, **kwargs: Any) -> Callable[[], StageOutcome]:
        inputs = stable_hash([fn.__name__, {k: v for k, v in kwargs.items() if k != "tags"}])  # tags: labels only
        if name in self.started and self.started[name][0] != inputs:
            # another chain's stage of this name reads other inputs (a game with its own
            # `method.setup`): its own stage, named apart by what it reads
            name = f"{name[:-1]},{inputs[:6]}]" if name.endswith("]") else f"{name}[{inputs[:6]}]"
        if name not in self.started:
            if self.fanned:
                self.started[name] = inputs, self.runner.submit(fn, name, **kwargs)
            else:
                outcome = self.runner.run(fn, name, **kwargs)
                self.started[name] = inputs, lambda: outcome
        return self.started[name][1]

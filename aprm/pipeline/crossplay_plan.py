"""Cross-play in the plan: which attackers meet which defenders for a seed. The stage itself is
aprm.pipeline.crossplay_stage; `run_seeds` (aprm.pipeline.plan) submits a seed's own attackers as
soon as its players exist, and the held-out attacker once the other seed's exist too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from aprm.pipeline import stages
from aprm.pipeline.crossplay_stage import RULES, SOLVER
from aprm.pipeline.runner_hook import StageOutcome, StageRunner, fanout_threads

if TYPE_CHECKING:
    from aprm.pipeline.plan import MethodResult
    from aprm.pipeline.solver_work import SeedStart


@dataclass
class SeedPlayers:
    """A seed's final PRMs ({method: folder}) and generators (G0 and each game's G after each
    round): the defenders and attackers of its cross-play."""
    prm_dirs: dict[str, str]
    generators: dict[str, str]


def seed_players(games: dict[str, dict], trained: list[MethodResult]) -> SeedPlayers:
    """The players of a seed from its methods' results, in the order of `games`."""
    generators: dict[str, str] = {}
    for result in trained:
        generators.update({name: folder for name, folder in result.generators.items()
                           if name not in generators})  # G0: the first game's warm start
    return SeedPlayers({method: result.prm_dir for method, result in zip(games, trained)}, generators)


def crossplay_parts(cfg: dict, start: SeedStart, players: SeedPlayers, other: SeedPlayers | None,
                    runner: StageRunner) -> list[Callable[[], StageOutcome]]:
    """A seed's cross-play matrix as one stage per attacker, fanned out: with `other` None, the
    baselines (rules and the solver, one stage) and the seed's generators (G0, each round's G);
    else the held-out attacker only, the other seed's last APRM G (`held-out-...`: trained against
    a PRM this seed never saw). Every stage scores against the seed's final PRMs. One stage per
    attacker lets the last matrices share the workers instead of one worker running a whole seed's
    matrix alone at the end of the run. [] when `eval.crossplay.slots` is 0 or nothing is held out."""
    crossplay_cfg = cfg["eval"]["crossplay"]
    if int(crossplay_cfg["slots"]) <= 0:
        return []
    if other is None:
        parts = [(f"{RULES}+{SOLVER}", {}, True)] + [(name, {name: folder}, False)
                                                     for name, folder in players.generators.items()]
    else:
        finals = [name for name in other.generators if name.startswith("aprm-G")]
        parts = [(f"held-out-{finals[-1]}", {f"held-out-{finals[-1]}": other.generators[finals[-1]]}, False)] \
            if finals else []
    return [runner.submit(stages.crossplay, f"crossplay[seed={start.seed},{label}]", attackers=attackers,
                          baselines=baselines, defenders=players.prm_dirs, solver_dir=start.solver_dir,
                          splits_path=start.splits, suite=cfg["eval"]["report"]["id_suite"],
                          crossplay_cfg=crossplay_cfg, perturbations=list(cfg["oracle"]["perturbations"]),
                          seed=start.seed, threads=fanout_threads(cfg), artifacts=str(start.artifacts),
                          code=start.code)
            for label, attackers, baselines in parts]

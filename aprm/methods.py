"""The method registry: every way of getting a step scorer the pipeline compares, in one place.

A `Method` says what its PRM trains on and how, which extra stages it needs, its structured
config (`method.*`: defaults and checks) and which part of it enters the cache key. The flow, the dry run, config validation and the game
stages read it; adding a method is one config file (`conf/method/<name>.yaml`) plus one `register`
call. Torch-free: the functions are named as "module:attribute" and imported when first used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from aprm.method_configs import AdvrmConfig, AprmConfig, LikelihoodMethodConfig, McConfig, MethodConfig

# What a trained method's items may be built from (the run's stage outputs, by input name):
# static = the oracle-labeled rule perturbation set; pool = solver samples on training problems;
# mc = Math-Shepherd rollouts from the pool (the flow runs mc-rollouts first when asked for).
# Every trained method also reads the static set's val split and the ID-val samples, on which
# all of them are validated alike.
TRAIN_INPUTS = ("static", "pool", "mc")


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    # "module:function" (method_cfg, inputs) -> [(problem, steps, labels)]: a PRM trained on items
    items: str | None = None
    # "module:function" (solver_dir, val_samples, method_cfg, seed, out_dir) -> metrics: no
    # training items; the function writes the scorer's folder itself (a calibration, say)
    fit: str | None = None
    # "module:function" (state, round_idx, game_cfg, out_dir) -> (state, metrics): a game's round
    play_round: str | None = None
    inputs: tuple[str, ...] = ()  # TRAIN_INPUTS its items read; the cache key holds only these
    cache_keys: tuple[str, ...] = ()  # method.* keys its training reads
    config: type = MethodConfig  # the structured config of `method.*` (aprm.method_configs): defaults, checks
    soft_labels: Callable[[Mapping[str, Any]], bool] | None = None  # loss on fractional labels

    def __post_init__(self) -> None:
        ways = [way for way in (self.items, self.fit, self.play_round) if way]
        if len(ways) != 1:
            raise ValueError(f"method {self.name!r}: give exactly one of items, fit or play_round")
        unknown = set(self.inputs) - set(TRAIN_INPUTS)
        if unknown:
            raise ValueError(f"method {self.name!r}: unknown inputs {sorted(unknown)}; known: {TRAIN_INPUTS}")

    @property
    def is_game(self) -> bool:
        return self.play_round is not None

    def cache_cfg(self, method_cfg: Mapping[str, Any]) -> dict[str, Any]:
        """The part of the method's config its training reads (its cache key: nothing else)."""
        defaults = self.config()
        return {"name": self.name, **{key: method_cfg.get(key, getattr(defaults, key)) for key in self.cache_keys}}

    def stages(self) -> str:
        """What the method runs, for the dry run's plan."""
        if self.is_game:
            return "game-setup (shared by the games), prepare-game, game-round x method.rounds"
        if self.fit:
            return "train-prm (calibration only)"
        return ("mc-rollouts, " if "mc" in self.inputs else "") + "train-prm"


def resolve(reference: str) -> Callable:
    """The function a "module:attribute" reference names."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    REGISTRY[method.name] = method
    return method


def get_method(name: str) -> Method:
    if name not in REGISTRY:
        raise ValueError(f"method.name={name!r} is not a registered method; known: {sorted(REGISTRY)}")
    return REGISTRY[name]


def method_names() -> tuple[str, ...]:
    return tuple(REGISTRY)


_PRM = "aprm.pipeline.prm_stage"
register(Method("static", "PRM on reference steps and oracle-labeled rule perturbations",
                items=f"{_PRM}:static_train_items", inputs=("static",)))
register(Method("mc", "PRM on Math-Shepherd labels from solver rollouts",
                items=f"{_PRM}:mc_train_items", inputs=("mc",),
                cache_keys=("estimation",), config=McConfig,
                soft_labels=lambda cfg: cfg.get("estimation") == "soft"))
register(Method("orm", "outcome reward model: every step carries the final answer's correctness",
                items=f"{_PRM}:outcome_train_items", inputs=("pool",)))
register(Method("likelihood", "training-free: the verifier LM's surprise (train.verifier; the solver's own "
                "when off), Platt-calibrated",
                fit=f"{_PRM}:fit_likelihood_verifier", cache_keys=("feature",),
                config=LikelihoodMethodConfig))
register(Method("aprm", "the APRM game: G writes wrong steps, the oracle referees, R learns",
                play_round="aprm.game.aprm_game:run_round", config=AprmConfig))
register(Method("advrm", "the Adv-RM game: an adversary against an ensemble, no oracle",
                play_round="aprm.game.advrm_game:run_advrm_round", config=AdvrmConfig))

"""The `likelihood` verifier: no PRM training, the solver's own token log-probabilities.

A step is scored by how surprised the solver is by it, read in the solver's exact text format
(`format_prompt` + the steps joined by newlines + eos after a final answer line). The feature of a
step is the lowest log-probability among all of its tokens (`all_min`, the newline or eos that
ends it included) or among its digit tokens only (`numeric_min`; a step without a digit falls
back to all of its tokens). Measured on the default solver, ID validation (bench/prm_learnability.py,
docs/LOG.md 2026-12-04): step AUROC on its own errors 0.956 with either; on rule perturbations
all_min 0.997-1.000 for every rule, numeric_min 0.58 on operator swaps (no digit changes).

The score is a calibrated probability: sigmoid(coef * feature + intercept), Platt-fitted on the
oracle step labels of ID-validation samples (the same data every PRM early-stops on). With one
class only, the score is exp(feature), the probability of the least likely token.

A trained PRM that cannot beat this has not learned to verify beyond what the solver believes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from scipy.special import expit

from aprm.method_configs import LIKELIHOOD_FEATURES as FEATURES
from aprm.io import read_json, write_json
from aprm.models.scorer import check_finite, logits_at_positions, logits_with_shared_prompt
from aprm.models.text_format import answer_from_line, format_prompt, format_solution
from aprm.progress import progress
from aprm.schema import Problem

CONFIG_NAME = "likelihood.json"


@dataclass(frozen=True)
class LikelihoodConfig:
    """What `CONFIG_NAME` holds: where the solver is, the feature, and its calibration."""

    solver_dir: str
    feature: str = "all_min"
    coef: float | None = None  # None: uncalibrated, score = exp(feature)
    intercept: float = 0.0

    def __post_init__(self) -> None:
        if self.feature not in FEATURES:
            raise ValueError(f"method.feature: got {self.feature!r}; allowed values: {list(FEATURES)}")

    def probability(self, feature: float) -> float:
        if self.coef is None:
            return math.exp(feature)
        return float(expit(self.coef * feature + self.intercept))


def is_likelihood_dir(path: str | Path) -> bool:
    return (Path(path) / CONFIG_NAME).is_file()


def save_config(config: LikelihoodConfig, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / CONFIG_NAME, asdict(config))


def load_config(path: str | Path) -> LikelihoodConfig:
    return LikelihoodConfig(**read_json(Path(path) / CONFIG_NAME))


@dataclass(frozen=True)
class EncodedSteps:
    """Token ids of prompt + solution (+ eos when finished), and for each step the indices of its
    tokens."""

    input_ids: list[int]
    prompt_length: int  # tokens that belong to the prompt alone (bos included)
    step_tokens: list[list[int]]  # token indices (>= 1) per step, terminator included
    numeric: list[bool]  # per token: holds a digit
    n_kept: int  # steps whose every token fits the window


def encode_steps(tokenizer, problem: Problem, steps: Sequence[str], max_length: int) -> EncodedSteps:
    """Tokenize in the solver's format and map tokens to steps through character offsets.

    A solution that ends in an answer line ends as the solver ends one, with eos; any other step
    list is a prefix (a static-set item cut at its error, a solution in progress), whose last step
    ends with a newline like every other step: eos after an unfinished solution would be the most
    surprising token of all and say nothing about the step."""
    prompt = format_prompt(problem)
    finished = bool(steps) and answer_from_line(steps[-1]) is not None
    text = prompt + format_solution(steps) + ("" if finished or not steps else "\n")
    encoded = tokenizer(text, return_offsets_mapping=True)
    ids = list(encoded["input_ids"]) + [tokenizer.eos_token_id] * finished
    offsets = list(encoded["offset_mapping"]) + [(len(text), len(text) + 1)] * finished
    # step k's tokens start at starts[k] and run up to the next step's start: its characters and
    # the newline (or eos) after it
    starts, cursor = [], len(prompt)
    for step in steps:
        starts.append(cursor)
        cursor += len(step) + 1
    step_tokens: list[list[int]] = [[] for _ in steps]
    numeric = [any(ch.isdigit() for ch in text[a:b]) for a, b in offsets]
    k = 0
    for index, (start, end) in enumerate(offsets):
        if index == 0 or end <= len(prompt) or start == end:
            continue  # bos, prompt tokens and zero-width specials are no step's
        while k + 1 < len(steps) and start >= starts[k + 1]:
            k += 1
        if steps:
            step_tokens[k].append(index)
    fits = [all(i < max_length for i in tokens) for tokens in step_tokens]
    n_kept = next((i for i, ok in enumerate(fits) if not ok), len(steps))
    prompt_length = sum(1 for _, end in offsets if end <= len(prompt))
    return EncodedSteps(ids[:max_length], min(prompt_length, max_length), step_tokens, numeric, n_kept)


# The solver's surprise at one step, per column (`surprise_vectors`): the least likely digit
# token (all tokens when the step has no digit), the least likely token, the mean token log-prob,
# the count of tokens with p < 0.1, the step's index, and whether it is an answer line.
SURPRISE_FEATURES = ("numeric_min", "all_min", "all_mean", "unlikely_tokens", "step_index", "answer_line")
_UNLIKELY = math.log(0.1)


def surprise_vectors(token_logprobs: Sequence[float], encoded: EncodedSteps,
                     steps: Sequence[str]) -> list[list[float]]:
    """One SURPRISE_FEATURES vector per kept step (a step with no token of its own reads 0.0)."""
    out = []
    for index, tokens in enumerate(encoded.step_tokens[: encoded.n_kept]):
        values = [token_logprobs[i] for i in tokens] or [0.0]
        numeric = [token_logprobs[i] for i in tokens if encoded.numeric[i]] or values
        out.append([min(numeric), min(values), sum(values) / len(values),
                    float(sum(v < _UNLIKELY for v in values)), float(index),
                    float(answer_from_line(steps[index]) is not None)])
    return out


def token_logprobs(model, encoded: Sequence[EncodedSteps], pad_id: int, batch_size: int,
                   desc: str | None = None) -> list[list[float]]:
    """log p(token i | tokens < i) for every token of each encoding (0.0 over the prompt).

    Encodings of one question (best-of-N samples) share its prompt: all but its last token run
    once and their key/value cache serves every sample (`scorer.logits_with_shared_prompt`); the
    last prompt token leads each continuation, so its logits predict the first solution token."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, e in enumerate(encoded):
        groups.setdefault(tuple(e.input_ids[: e.prompt_length]), []).append(index)
    results: list[list[float]] = [[] for _ in encoded]

    def reader(members: list[int], start: int):
        def read(row_logits: torch.Tensor, index: int) -> list[float]:
            ids = encoded[members[index]].input_ids
            targets = torch.as_tensor(ids[start + 1:], dtype=torch.long, device=row_logits.device)
            logp = torch.log_softmax(row_logits[: len(targets)].float(), dim=-1)
            return [0.0] * (start + 1) + logp.gather(-1, targets[:, None])[:, 0].cpu().tolist()
        return read

    shareable = {prompt: len(members) >= 2 and len(prompt) >= 2 for prompt, members in groups.items()}
    singles = [i for prompt, members in groups.items() if not shareable[prompt] for i in members]
    shared = [(prompt, members) for prompt, members in groups.items() if shareable[prompt]]
    for prompt, members in (shared if desc is None else progress(shared, desc, len(shared), "question")):
        cut = len(prompt) - 1
        out = logits_with_shared_prompt(model, prompt[:cut], [(encoded[i].input_ids[cut:], ()) for i in members],
                                        pad_id, batch_size, reader(members, cut))
        for i, row in zip(members, out):
            results[i] = row
    out = logits_at_positions(model, [(encoded[i].input_ids, ()) for i in singles], pad_id, batch_size,
                              reader(singles, 0))
    for i, row in zip(singles, out):
        results[i] = row
    return results


class SolverSurprise:
    """The solver's surprise vectors (SURPRISE_FEATURES) of every step, in its own text format."""

    def __init__(self, model, tokenizer, batch_size: int = 32):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = int(model.config.max_position_embeddings)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else 0)

    def vectors(self, items: Sequence[tuple[Problem, Sequence[str]]],
                desc: str | None = None) -> list[list[list[float]]]:
        """One vector per step that fits the window (shorter lists for overflowing solutions)."""
        encoded = [encode_steps(self.tokenizer, problem, steps, self.max_length) for problem, steps in items]
        logprobs = token_logprobs(self.model, encoded, self.pad_id, self.batch_size, desc)
        return [surprise_vectors(lp, e, steps) for lp, e, (_, steps) in zip(logprobs, encoded, items)]


class SurpriseScorer:
    """P(correct) per step as a function of the solver's surprise vectors; the `StepScorer`
    interface of PRMScorer. `surprise` is anything with `vectors(items, desc)` (a SolverSurprise,
    or a reader that remembers its requests). Steps past the solver's window score 0.0 and
    `n_overflowed` counts their solutions (PRMScorer's `score_zero` policy)."""

    def __init__(self, surprise, probabilities: Callable[[list[list[float]]], list[float]]):
        self.surprise = surprise
        self.probabilities = probabilities
        self.n_overflowed = 0

    def score(self, problem: Problem, steps: Sequence[str]) -> list[float]:
        return self.score_batch([(problem, steps)])[0]

    def score_batch(self, items: Sequence[tuple[Problem, Sequence[str]]], desc: str | None = None) -> list[list[float]]:
        results = []
        for (problem, steps), rows in zip(items, self.surprise.vectors(items, desc)):
            self.n_overflowed += len(rows) < len(steps)
            scores = self.probabilities(rows) if rows else []
            check_finite(scores, problem.id)
            results.append(scores + [0.0] * (len(steps) - len(scores)))
        return results


def likelihood_scorer(surprise, config: LikelihoodConfig) -> SurpriseScorer:
    """The `likelihood` verifier: the configured feature, calibrated by `config`."""
    column = SURPRISE_FEATURES.index(config.feature)
    return SurpriseScorer(surprise, lambda rows: [config.probability(row[column]) for row in rows])


def calibrate(features: Sequence[float], labels: Sequence[int], seed: int = 0) -> tuple[float | None, float]:
    """(coef, intercept) of a 1-d logistic regression of step labels on the feature; (None, 0)
    when the labels hold one class (nothing to calibrate against)."""
    if len(set(labels)) < 2:
        return None, 0.0
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(random_state=seed).fit([[f] for f in features], list(labels))
    return float(fit.coef_[0][0]), float(fit.intercept_[0])

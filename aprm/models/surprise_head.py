"""`model.prm_kind: surprise_head`: a PRM that starts from what already solves.

Every PRM method's verifier is a logistic head on the frozen solver's surprise at each step
(`likelihood.SURPRISE_FEATURES`: min digit-token log-prob, min and mean token log-prob, count of
unlikely tokens, step index, answer line), trained on the method's own labels (static
perturbations, MC estimates, outcomes, the game's negatives). Why: on ID validation of the default
benchmark a transformer PRM trained from scratch on one bit per step stays at step AUROC 0.57 on
the solver's errors, while the solver's own likelihood reaches 0.956 and a head on these features
0.84-0.95 (bench/prm_learnability.py, docs/LOG.md 2026-12-04).

The head is convex, so its fit is a function of its data alone: a seed draws a bootstrap resample
of the training items, which gives seeds (and Adv-RM's ensemble members) the spread that a
transformer's random init gives them. What a folder holds: `HEAD_FILE` (the solver's folder, the
feature standardization, the weights); the solver's weights stay where the solver stage wrote them.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Hashable, Sequence

import numpy as np
import torch

from aprm.io import read_json, write_json
from aprm.models.likelihood import (SURPRISE_FEATURES, SolverSurprise, SurpriseScorer, likelihood_scorer,
                                    load_config)
from aprm.models.surprise_store import SurpriseStore
from aprm.schema import Problem

HEAD_FILE = "surprise_head.json"
DTYPE = torch.float64  # a 7-parameter convex fit: double precision costs nothing and L-BFGS likes it


class SurpriseHead(torch.nn.Module):
    """logit P(correct) = weight . (features - mean) / scale + bias."""

    def __init__(self, mean: Sequence[float], scale: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=DTYPE))
        self.register_buffer("scale", torch.tensor(list(scale), dtype=DTYPE))
        self.linear = torch.nn.Linear(len(self.mean), 1, dtype=DTYPE)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features.to(DTYPE) - self.mean) / self.scale).squeeze(-1)


@dataclass
class HeadPRM:
    """A trained head and the solver whose surprise it reads."""

    solver_dir: str
    head: SurpriseHead

    def save(self, out_dir: str | Path) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / HEAD_FILE, {
            "solver_dir": self.solver_dir, "features": list(SURPRISE_FEATURES),
            "mean": self.head.mean.tolist(), "scale": self.head.scale.tolist(),
            "weight": self.head.linear.weight.detach()[0].tolist(),
            "bias": float(self.head.linear.bias.detach()[0])})
        return out


def is_head_dir(path: str | Path) -> bool:
    return (Path(path) / HEAD_FILE).is_file()


def load_head_prm(path: str | Path) -> HeadPRM:
    saved = read_json(Path(path) / HEAD_FILE)
    if list(saved.get("features", ())) != list(SURPRISE_FEATURES):
        raise ValueError(f"{Path(path) / HEAD_FILE}: written for features {saved.get('features')}, "
                         f"this version reads {list(SURPRISE_FEATURES)}; retrain the PRM")
    head = SurpriseHead(saved["mean"], saved["scale"])
    with torch.no_grad():
        head.linear.weight.copy_(torch.tensor([saved["weight"]], dtype=DTYPE))
        head.linear.bias.fill_(float(saved["bias"]))
    return HeadPRM(str(saved["solver_dir"]), head)


class SurpriseReader:
    """The solver's surprise vectors per step, remembered per request: every method's evaluation
    of a suite asks for the same samples, and a game round for the same positives every round.

    Whole requests are remembered, not single solutions: a solution's log-probs can differ in the
    last float bits with the batch it was computed in (padding changes the kernels' shapes), so
    answering part of a request from another request would make a result depend on which stage
    of the run happened to come first (threads, a partly cached run). A request's answer depends
    only on the request."""

    MAX_CACHED = 200_000  # solutions over all requests (~1.5 kB each); a default run asks for ~120k. Past it the memory starts over.

    def __init__(self, solver_dir: str | Path, batch_size: int = 32):
        from aprm.models.loading import load_causal_lm

        model, tokenizer = load_causal_lm(solver_dir)
        self.surprise = SolverSurprise(model, tokenizer, batch_size)
        self.store = SurpriseStore(solver_dir, batch_size)  # what the other processes computed
        self._cache: dict[str, list[list[list[float]]]] = {}
        self._cached_items = 0
        self._lock = threading.Lock()
        self._request_locks: dict[str, threading.Lock] = {}

    def vectors(self, items: Sequence[tuple[Problem, Sequence[str]]], desc: str | None = None) -> list[list[list[float]]]:
        """SURPRISE_FEATURES per step that fits the solver's window (shorter lists otherwise).
        Two threads asking the same thing at once (two methods' evaluations of one suite) compute
        it once: the second waits for the first."""
        request = hashlib.sha256(json.dumps([[p.question, list(steps)] for p, steps in items]).encode()).hexdigest()
        with self._lock:
            request_lock = self._request_locks.setdefault(request, threading.Lock())
        with request_lock:
            with self._lock:
                rows = self._cache.get(request)
            if rows is None:
                rows = self.store.get_or_compute(request, lambda: self.surprise.vectors(items, desc))
                with self._lock:
                    if self._cached_items + len(items) > self.MAX_CACHED:
                        self._cache, self._cached_items, self._request_locks = {}, 0, {}
                    self._cache[request] = rows
                    self._cached_items += len(items)
        return rows


_READERS: dict[tuple[str, int], SurpriseReader] = {}
_READERS_LOCK = threading.Lock()


def shared_reader(solver_dir: str | Path, batch_size: int = 32) -> SurpriseReader:
    """One reader per (solver folder, batch size) in this process: evaluation stages run on a
    thread pool and every method's stage of a suite reads the same samples. The batch size is part
    of the key because batching changes the last float bits of a result."""
    key = (str(Path(solver_dir).resolve()), int(batch_size))
    with _READERS_LOCK:
        if key not in _READERS:
            _READERS[key] = SurpriseReader(solver_dir, batch_size)
        return _READERS[key]


class SurpriseHeadScorer(SurpriseScorer):
    """A trained head's P(correct) per step."""

    def __init__(self, prm: HeadPRM, reader: SurpriseReader):
        self.prm = prm

        def probabilities(rows: list[list[float]]) -> list[float]:
            with torch.no_grad():
                return torch.sigmoid(prm.head(torch.tensor(rows, dtype=DTYPE))).tolist()

        super().__init__(reader, probabilities)


def load_head_scorer(path: str | Path, batch_size: int = 32) -> SurpriseHeadScorer:
    prm = load_head_prm(path)
    return SurpriseHeadScorer(prm, shared_reader(prm.solver_dir, batch_size))


def load_likelihood_scorer(path: str | Path, batch_size: int = 32) -> SurpriseScorer:
    """The `likelihood` verifier a folder holds (likelihood.CONFIG_NAME), reading the solver's
    surprise through the process's shared reader, as the heads do."""
    config = load_config(path)
    return likelihood_scorer(shared_reader(config.solver_dir, batch_size), config)


def labeled_tensors(reader: SurpriseReader, items: Sequence[tuple[Problem, Sequence[str], Sequence[float]]],
                    desc: str | None = None,
                    parts: Sequence[Hashable] | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(features, labels) per item, over the steps that both fit the solver's window and carry a
    label; items with none are left out. `parts` (one per item): the items of each part are one
    request to the reader, so a part other calls ask too is read from the store; order is kept."""
    steps = [(p, s) for p, s, _ in items]
    if parts is None:
        rows = reader.vectors(steps, desc)
    else:
        rows = [[] for _ in items]
        for part in dict.fromkeys(parts):
            members = [i for i, of in enumerate(parts) if of == part]
            for i, vectors in zip(members, reader.vectors([steps[i] for i in members], desc)):
                rows[i] = vectors
    out = []
    for (_, _, labels), vectors in zip(items, rows):
        n = min(len(vectors), len(labels))
        if n:
            out.append((torch.tensor(vectors[:n], dtype=DTYPE), torch.tensor(list(labels[:n]), dtype=DTYPE)))
    return out


def class_weighted_loss(head: SurpriseHead, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy (soft labels allowed), the two classes (label >= 0.5 or not) weighted
    equally, as the transformer PRM's `class_balance` does."""
    correct = labels >= 0.5
    n_correct, n_wrong = float(correct.sum()), float((~correct).sum())
    weights = torch.where(correct, len(labels) / (2 * max(n_correct, 1.0)), len(labels) / (2 * max(n_wrong, 1.0)))
    losses = torch.nn.functional.binary_cross_entropy_with_logits(head(features), labels, reduction="none")
    return (weights * losses).sum() / weights.sum()


def fit_head(data: Sequence[tuple[torch.Tensor, torch.Tensor]], seed: int | None, weight_decay: float = 1e-3,
             max_iter: int = 200) -> SurpriseHead:
    """L-BFGS fit of a head on (features, labels) items; `seed` draws a bootstrap resample of the
    items (None: all of them once). Features are standardized on the fitted rows."""
    if not data:
        raise ValueError("fit_head: no labeled step to fit on")
    chosen = (np.random.default_rng(seed).integers(0, len(data), len(data)).tolist()
              if seed is not None else range(len(data)))
    features = torch.cat([data[i][0] for i in chosen])
    labels = torch.cat([data[i][1] for i in chosen])
    scale = features.std(dim=0, unbiased=False)
    head = SurpriseHead(features.mean(dim=0).tolist(), torch.where(scale > 1e-6, scale, 1.0).tolist())
    optimizer = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = class_weighted_loss(head, features, labels) + weight_decay * (head.linear.weight ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    if not all(math.isfinite(v) for v in head.linear.weight.detach().flatten().tolist()):
        raise FloatingPointError("fit_head: the fit diverged (non-finite weights)")
    return head

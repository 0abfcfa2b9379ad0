"""R, the game's verifier, whatever its kind (`model.prm_kind`): load it, score with it, update it,
save it. A folder with `surprise_head.json` is a head on the solver's surprise; any other is a
token-classification transformer. Rounds call only these four operations, so both kinds play the
same game.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from aprm.game.prm_update import update_head, update_prm
from aprm.game.replay import Negative
from aprm.models.surprise_head import (SurpriseHeadScorer, is_head_dir, labeled_tensors, load_head_prm,
                                       shared_reader)

Items = Sequence[tuple[Any, Sequence[str], Sequence[int]]]


class TransformerR:
    def __init__(self, path: str | Path):
        from aprm.models.loading import load_prm

        self.model, self.tokenizer = load_prm(path)

    def scorer(self, batch_size: int):
        from aprm.models.scorer import PRMScorer

        return PRMScorer(self.model, self.tokenizer, batch_size=batch_size)

    def update(self, positives: Items, negatives: Sequence[Negative], ref_path: str, cfg: Mapping[str, Any],
               optimizer_in: str | None, optimizer_out: Path) -> dict:
        from aprm.models.loading import load_prm

        anchor, _ = load_prm(ref_path)
        return update_prm(self.model, self.tokenizer, positives, [n.training_item() for n in negatives], anchor, cfg,
                          optimizer_in, optimizer_out)

    def save(self, out_dir: Path) -> None:
        from aprm.models.solver import save_atomically

        save_atomically(self.model, self.tokenizer, out_dir)


class HeadR:
    """A surprise-head R. The solver's surprise at a step never changes during a game, so one
    reader per solver (`shared_reader`) serves every member and every round."""

    def __init__(self, path: str | Path):
        self.prm = load_head_prm(path)
        self.reader = shared_reader(self.prm.solver_dir)

    def scorer(self, batch_size: int):
        return SurpriseHeadScorer(self.prm, shared_reader(self.prm.solver_dir, batch_size))

    def update(self, positives: Items, negatives: Sequence[Negative], ref_path: str, cfg: Mapping[str, Any],
               optimizer_in: str | None, optimizer_out: Path) -> dict:
        anchor = load_head_prm(ref_path).head
        # The set-up's rule pairs open the buffer of every round of the seed's games: asked apart
        # from G's negatives (new each round), the surprise store computes them once per seed.
        rules = [n.source == "perturbation" for n in negatives]
        return update_head(self.prm.head, anchor, labeled_tensors(self.reader, positives, "solver surprise (R+)"),
                           labeled_tensors(self.reader, [n.training_item() for n in negatives],
                                           "solver surprise (R-)", parts=rules), cfg, optimizer_in, optimizer_out)

    def save(self, out_dir: Path) -> None:
        self.prm.save(out_dir)


def load_r(path: str | Path) -> TransformerR | HeadR:
    """The R a folder holds."""
    return HeadR(path) if is_head_dir(path) else TransformerR(path)

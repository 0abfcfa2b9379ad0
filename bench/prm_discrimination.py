"""Can a PRM tell a wrong step from the right one? Threshold-free check on a perturbation set.

For every rule perturbation (problem, correct prefix, wrong step) the PRM scores the wrong step and
the reference step at the same position. Printed per model: mean P(correct) of each, accuracy at
the threshold, and the AUROC of reference vs wrong. Accuracy at a fixed threshold moves with the
PRM's bias; an AUROC near 0.5 means the PRM does not separate the two at all.

    .venv/bin/python bench/prm_discrimination.py --negatives HOME/artifacts/game/<hash>/state/static_eval.jsonl \
        HOME/artifacts/prm/<hash>/model HOME/artifacts/rounds/<hash>/prm ...
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path, help="PRM folders (model + tokenizer)")
    parser.add_argument("--negatives", type=Path, required=True, help="JSONL of Negative (e.g. a game's static_eval.jsonl)")
    parser.add_argument("--limit", type=int, default=400, help="score the first N negatives")
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()

    import torch

    from aprm.game.round import static_metrics, static_scores
    from aprm.game.state import read_negatives
    from aprm.models.loading import load_prm
    from aprm.models.scorer import PRMScorer

    torch.set_num_threads(1)
    negatives = read_negatives(args.negatives)[: args.limit]
    print(f"{len(negatives)} perturbations from {args.negatives}")
    print("model | mean P(correct) wrong | right | acc wrong | acc right | AUROC right vs wrong")
    for path in args.models:
        model, tokenizer = load_prm(path)
        scorer = PRMScorer(model, tokenizer, batch_size=32)
        wrong, right = static_scores(scorer, negatives)
        out = static_metrics(wrong, right, args.threshold)
        print(f"{path} | {statistics.mean(wrong):.3f} | {statistics.mean(right):.3f} | "
              f"{out['static_acc_negatives']:.3f} | {out['static_acc_positives']:.3f} | {out['static_auroc']:.3f}")

if __name__ == "__main__":
    main()

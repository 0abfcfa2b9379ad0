"""Report figures as PNG bytes.

Figures are built on matplotlib's Agg canvas directly (no pyplot): no global figure state, no
display backend, and the same input renders the same bytes.
"""

from __future__ import annotations

import io
from typing import Mapping

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from aprm.report.data import curve, index_runs, reference_runs, selection_methods
from aprm.report.tables import ROUND_METRIC_TITLES, crossplay_means, error_type_counts, round_metric_names

DPI = 100


def png_bytes(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def accuracy_vs_n_png(results: Mapping, suite: str, agg: str) -> bytes:
    """Best-of-n accuracy vs n for every method on one suite, with majority vote and the
    oracle ceiling (dashed) for reference."""
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    index = index_runs(results)
    all_ns: set[int] = set()
    for method in selection_methods(results):
        runs = [r for r in index.get((method, suite), {}).values() if r["n_max"] > 0]
        ns, accs = curve(runs, lambda r: r["best_of_n"].get(agg))
        if ns:
            ax.plot(ns, [100 * a for a in accs], marker="o", label=method)
            all_ns.update(ns)
    refs = list(reference_runs(results, suite).values())
    for label, key, style in (("majority vote", "majority", "--"),
                              ("pass@n (upper bound)", "pass_at", ":")):
        ns, accs = curve(refs, lambda r, k=key: r[k])
        if ns:
            ax.plot(ns, [100 * a for a in accs], linestyle=style, color="gray", label=label)
    ax.set_xscale("log", base=2)
    if all_ns:
        ax.set_xticks(sorted(all_ns), [str(n) for n in sorted(all_ns)])
    ax.set_xlabel("n (samples per problem)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{suite}: best-of-n ({agg}), mean over seeds")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return png_bytes(fig)


def round_curves_png(results: Mapping) -> bytes | None:
    """One panel per round metric, a line per method (mean over seeds); None without rounds."""
    names = round_metric_names(results)
    if not names:
        return None
    cols = min(2, len(names))
    rows = (len(names) + cols - 1) // cols
    fig = Figure(figsize=(5.2 * cols, 3.4 * rows))
    methods = sorted({r["method"] for r in results["rounds"]})
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        for method in methods:
            by_round: dict[int, list[float]] = {}
            for r in results["rounds"]:
                if r["method"] == method and r["metrics"].get(name) is not None:
                    by_round.setdefault(r["round"], []).append(r["metrics"][name])
            if by_round:
                xs = sorted(by_round)
                ax.plot(xs, [float(np.mean(by_round[x])) for x in xs], marker="o", label=method)
        ax.set_title(ROUND_METRIC_TITLES.get(name, name))
        ax.set_xlabel("round")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return png_bytes(fig)


def error_types_png(results: Mapping) -> bytes | None:
    """Grouped bar chart of error-type counts per method; None when no round reports any."""
    counts = error_type_counts(results)
    if not counts:
        return None
    kinds = sorted({k for per in counts.values() for k in per})
    methods = sorted(counts)
    width = 0.8 / len(methods)
    fig = Figure(figsize=(max(5.0, 1.2 * len(kinds) + 2), 3.8))
    ax = fig.add_subplot()
    x = np.arange(len(kinds))
    for i, method in enumerate(methods):
        ax.bar(x + i * width - 0.4 + width / 2, [counts[method].get(k, 0) for k in kinds],
               width, label=method)
    ax.set_xticks(x, kinds, rotation=20)
    ax.set_ylabel("count")
    ax.set_title("Error types of generated negatives")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return png_bytes(fig)


def crossplay_png(results: Mapping, min_valid: int) -> bytes | None:
    """Heatmap of mean fool rates, attackers x defenders; cells with too few valid corruptions
    are hatched. None without cross-play cells."""
    attackers, defenders, means = crossplay_means(results)
    if not attackers:
        return None
    grid = np.array([[means[(a, d)][0] for d in defenders] for a in attackers])
    fig = Figure(figsize=(1.3 * len(defenders) + 2.5, 0.5 * len(attackers) + 1.8))
    ax = fig.add_subplot()
    image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="Reds", aspect="auto")
    for i, attacker in enumerate(attackers):
        for j, defender in enumerate(defenders):
            rate, n_valid = means[(attacker, defender)]
            few = n_valid < min_valid
            ax.text(j, i, f"{100 * rate:.0f}{'*' if few else ''}", ha="center", va="center", fontsize="small",
                    color="white" if rate > 0.6 else "black")
            if few:
                ax.add_patch(_hatch(j, i))
    ax.set_xticks(range(len(defenders)), defenders)
    ax.set_yticks(range(len(attackers)), attackers)
    ax.set_xlabel("defender (final PRM)")
    ax.set_title(f"Fool rate (%) of valid corruptions; * fewer than {min_valid}")
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    return png_bytes(fig)


def _hatch(x: int, y: int):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1.0, 1.0, fill=False, hatch="//", linewidth=0.0, alpha=0.4)


def rl_curves_png(results: Mapping) -> bytes | None:
    """Per reward (seed 0 of the run, or the first seed): the PRM's judgment of the policy's ID-val
    samples and the oracle's accuracy of them, against the RL step; the space between is the
    hacking gap. None without RL runs."""
    runs = results.get("rl") or []
    if not runs:
        return None
    first_seed = min(r["seed"] for r in runs)
    runs = [r for r in runs if r["seed"] == first_seed and r["curve"]]
    if not runs:
        return None
    fig = Figure(figsize=(3.0 * len(runs) + 1.0, 3.2))
    for i, run in enumerate(runs):
        ax = fig.add_subplot(1, len(runs), i + 1)
        steps = [row["step"] for row in run["curve"]]
        ax.plot(steps, [row["prm_judged"] for row in run["curve"]], label="PRM judged", marker=".")
        ax.plot(steps, [row["oracle_accuracy"] for row in run["curve"]], label="oracle accuracy", marker=".")
        if run["hacking_step"] is not None:
            ax.axvline(run["hacking_step"], color="grey", linestyle="--", linewidth=1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(run["reward"], fontsize="small")
        ax.set_xlabel("RL step")
        if i == 0:
            ax.legend(fontsize="x-small")
    fig.suptitle(f"RL curves, seed {first_seed}: dashed = hacking opens")
    fig.tight_layout()
    return png_bytes(fig)

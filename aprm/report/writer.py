"""`report.md` and a self-contained `report.html` from a results dict, written atomically.

The Markdown report links PNGs written beside it (report_plots/); the HTML report embeds the
same PNGs as base64 data URIs, so it is one file with no external assets.
"""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from aprm.eval.results import validate_results
from aprm.io import atomic_path, write_text
from aprm.report.data import selection_suites
from aprm.report.headline import HeadlineOptions, headline_table, majority_table
from aprm.report.plots import accuracy_vs_n_png, crossplay_png, error_types_png, rl_curves_png, round_curves_png
from aprm.report.table import Table, to_html, to_markdown
from aprm.report.tables import (
    aggregation_table, counts_table, crossplay_table, error_types_table, first_error_table, processbench_table,
    provenance_table,
    rl_table, rounds_table, stages_table,
)

PLOTS_DIR = "report_plots"
_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}
th{background:#f3f3f3}ul.notes{font-size:.9em;color:#555}img{max-width:100%}
"""


@dataclass
class Plot:
    name: str  # file stem, safe for a path
    caption: str
    png: bytes


@dataclass
class Section:
    title: str
    tables: list[Table]
    plots: list[Plot]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:60].strip("._") or "x"


def build_sections(results: Mapping, opts: HeadlineOptions) -> list[Section]:
    suites = selection_suites(results)
    curves = [Plot(f"acc_vs_n_{i}_{_slug(s)}", f"Accuracy vs n on {s}",
                   accuracy_vs_n_png(results, s, opts.agg)) for i, s in enumerate(suites)]
    sections = [
        Section("Headline", [headline_table(results, opts), majority_table(results, opts)], []),
        Section("Accuracy vs n", [aggregation_table(results), counts_table(results)], curves),
    ]
    first_error = first_error_table(results)
    if first_error:
        sections.append(Section("First-error prediction", [first_error], []))
    processbench = processbench_table(results)
    if processbench:
        sections.append(Section("ProcessBench", [processbench], []))
    rounds = rounds_table(results)
    if rounds:
        png = round_curves_png(results)
        sections.append(Section("Adversarial rounds", [rounds],
                                [Plot("round_curves", "Round curves", png)] if png else []))
    crossplay = crossplay_table(results, opts.crossplay_min_valid)
    if crossplay:
        png = crossplay_png(results, opts.crossplay_min_valid)
        sections.append(Section("Cross-play", [crossplay], [Plot("crossplay", "Cross-play fool rates", png)]))
    rl = rl_table(results)
    if rl:
        png = rl_curves_png(results)
        sections.append(Section("RL on each reward", [rl], [Plot("rl_curves", "RL curves", png)] if png else []))
    error_types = error_types_table(results)
    if error_types:
        png = error_types_png(results)
        sections.append(Section("Error types", [error_types],
                                [Plot("error_types", "Error types", png)] if png else []))
    sections.append(Section("Provenance", [provenance_table(results), stages_table(results)], []))
    return sections


def _alt(text: str) -> str:
    """Image alt text without the brackets that would end it early."""
    return " ".join(text.replace("[", "(").replace("]", ")").split())


def render_markdown(title: str, sections: list[Section]) -> str:
    parts = [f"# {title}\n"]
    for section in sections:
        parts.append(f"## {section.title}\n")
        parts += [to_markdown(t, with_title=True) for t in section.tables]
        parts += [f"![{_alt(p.caption)}]({PLOTS_DIR}/{p.name}.png)\n" for p in section.plots]
    return "\n".join(parts)


def render_html(title: str, sections: list[Section]) -> str:
    esc = html.escape
    body = []
    for section in sections:
        body.append(f"<h2>{esc(section.title)}</h2>")
        body += [to_html(t) for t in section.tables]
        for p in section.plots:
            data = base64.b64encode(p.png).decode("ascii")
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(p.caption)}">'
                        f"<figcaption>{esc(p.caption)}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            f"<h1>{esc(title)}</h1>\n" + "\n".join(body) + "\n</body>\n</html>\n")


def write_report(results: Mapping, out_dir: str | os.PathLike,
                 options: HeadlineOptions | None = None) -> dict[str, Path]:
    """Write report.md, report.html and the plot PNGs under out_dir; return their paths.

    Keys: "markdown", "html", and "plot:<name>" for each PNG.
    """
    validate_results(results)
    opts = options or HeadlineOptions()
    out = Path(out_dir)
    sections = build_sections(results, opts)
    title = f"APRM report: {results['experiment']['name']}"
    paths: dict[str, Path] = {}
    for section in sections:
        for plot in section.plots:
            target = out / PLOTS_DIR / f"{plot.name}.png"
            with atomic_path(target) as tmp:
                tmp.write_bytes(plot.png)
            paths[f"plot:{plot.name}"] = target
    paths["markdown"] = write_text(out / "report.md", render_markdown(title, sections))
    paths["html"] = write_text(out / "report.html", render_html(title, sections))
    return paths

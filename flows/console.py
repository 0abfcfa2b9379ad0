"""What `aprm` prints: one line per stage, progress bars on long loops, then a closing summary.

By default the libraries' chatter is held back: httpx request lines, Prefect's state and server
lines, MLflow's database notes, Python's Future/Deprecation/User warnings (library deprecation
notices), and anything a library prints (TRL metric dicts, dill's bytecode dumps during datasets'
fingerprinting). Log records at WARNING and above still show, from every logger.
`aprm verbose=true` (or `aprm -v`) shows everything.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator

# loggers held at WARNING unless verbose; prefect.flow_runs keeps the "stage ..." lines (below)
QUIET_LOGGERS = ("httpx", "httpcore", "prefect", "mlflow", "alembic", "docket", "urllib3",
                 "transformers", "datasets", "accelerate", "torch", "trl", "distributed", "numexpr")
STAGE_PREFIX = "stage "


class StageLinesOnly(logging.Filter):
    """Lets through the pipeline's `stage NAME ran|cached ...` lines and anything >= WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or str(record.msg).startswith(STAGE_PREFIX)


def configure_console(verbose: bool) -> None:
    """Set the loggers for a run; called once the CLI's logging is set up and Prefect is imported,
    before the flow runs."""
    if verbose:
        return
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    flow_runs = logging.getLogger("prefect.flow_runs")
    flow_runs.setLevel(logging.INFO)
    if not any(isinstance(f, StageLinesOnly) for f in flow_runs.filters):
        flow_runs.addFilter(StageLinesOnly())
    # libraries that set their own levels when imported (later, in the stages) read these
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)


@contextlib.contextmanager
def held_prints(verbose: bool) -> Iterator[None]:
    """Library prints (not logging) go nowhere unless verbose. Log handlers keep the streams they
    were configured with, so stage lines and warnings still reach the console."""
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def closing_summary(summary: dict, cfg: dict, wall_s: float) -> str:
    """The lines printed after a run: headline table, where the results are, how to open MLflow."""
    from aprm.eval.results import load_results
    from aprm.report.headline import HeadlineOptions, summary_table
    from aprm.report.table import to_markdown

    report = cfg["eval"]["report"]
    opts = HeadlineOptions(agg=cfg["eval"]["headline_aggregation"], id_suite=report["id_suite"],
                           target_methods=tuple(report["target_methods"]),
                           n_resamples=int(report["n_resamples"]),
                           method_aggs=tuple(sorted((report.get("method_aggregation") or {}).items())))
    stages = summary.get("stages", [])
    ran = sum(not s["cached"] for s in stages)
    lines = ["", f"aprm: done in {_duration(wall_s)} ({ran} stage{'s' * (ran != 1)} ran, "
                 f"{len(stages) - ran} from cache)", ""]
    results = load_results(summary["results"])
    lines.append(to_markdown(summary_table(results, cfg["method"]["name"], opts), with_title=True).rstrip())
    lines += ["", f"report:  {summary.get('html') or summary.get('report')}",
              f"results: {summary['results']}"]
    if summary.get("mlflow_run_id"):
        lines.append(f"MLflow:  run {summary['mlflow_run_id']}; open it with "
                     f"mlflow ui --backend-store-uri {summary['tracking_uri']}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s"

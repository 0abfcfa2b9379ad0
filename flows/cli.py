"""`aprm`: the Hydra app in front of the Prefect pipeline flow.

Only Hydra is imported at start so `aprm --help` and `aprm --cfg job` answer fast; Prefect,
torch and MLflow load when a job actually runs.
"""

from __future__ import annotations

import os
import sys

from flows.config import CONF_DIR

# Prefect's ephemeral server would otherwise send anonymous telemetry (and log an ERROR line when
# its heartbeat meets a busy SQLite database); set before Prefect is imported, overridable.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
_DATABASE_LOCK: list = []  # the open lock file of the shared Prefect database, held for life


def _own_prefect_database() -> None:
    """Without PREFECT_API_URL every `aprm` process starts a temporary Prefect server, by default
    on one SQLite file (PREFECT_HOME/prefect.db); several servers writing it at once fail with
    "database is locked". The first process keeps the shared file (its migrations are done, so a
    cached re-run starts fast); one started while another runs gets a database of its own. Stage
    caching is unaffected: cached results live under the artifacts, not in the database."""
    import atexit
    import fcntl
    import shutil
    import tempfile
    from pathlib import Path

    if _DATABASE_LOCK or any(os.environ.get(k) for k in (  # held already: a sweep's next job
            "PREFECT_API_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_API_DATABASE_CONNECTION_URL")):
        return
    prefect_home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    prefect_home.mkdir(parents=True, exist_ok=True)
    lock = open(prefect_home / "aprm-server.lock", "w")  # noqa: SIM115 (held until exit)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _DATABASE_LOCK.append(lock)
    except BlockingIOError:
        lock.close()
        own = Path(tempfile.mkdtemp(prefix="aprm-prefect-"))
        atexit.register(shutil.rmtree, own, ignore_errors=True)
        os.environ["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{own / 'prefect.db'}"


def _single_process() -> None:
    """The flow orchestrates every stage itself: N launched copies would run it N times."""
    from aprm.models.distributed import ProcessCountError, launched_processes

    processes = launched_processes()
    if processes > 1:
        raise ProcessCountError(
            f"the aprm flow runs as one process, got {processes} (WORLD_SIZE/LOCAL_WORLD_SIZE): "
            f"launch it with `--num_processes 1` (conf/accelerate/single_gpu.yaml)")


def _checks(overrides: list[str], dry_run: bool) -> None:
    """Config, models (and for a dry run: data and the plan) checked before any compute. A single
    run prints the problem and exits 2; in a sweep it is raised so the sweep records it."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from aprm.models.distributed import ProcessCountError
    from flows.config import ConfigError, compose_config
    from flows.dry_run import PreflightError, preflight_data, preflight_models
    from flows.dry_run import dry_run as plan

    try:
        cfg = compose_config(overrides)
        if dry_run:
            print(plan(cfg))
            return
        _single_process()
        preflight_models(cfg)
        preflight_data(cfg)
    except (ConfigError, PreflightError, ProcessCountError) as err:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise
        print(f"aprm: {err}", file=sys.stderr)
        sys.exit(2)


def _job(cfg) -> float | None:
    import time

    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    overrides = list(HydraConfig.get().overrides.task)
    dry_run = bool(cfg.get("dry_run", False))
    _checks(overrides, dry_run)
    if dry_run:
        return None
    from flows.console import closing_summary, configure_console, held_prints

    _own_prefect_database()  # before Prefect is imported: it reads its settings once
    verbose = bool(cfg.get("verbose", False))
    from flows.pipeline import aprm_pipeline  # imports Prefect, which sets its loggers' levels

    configure_console(verbose)

    start = time.perf_counter()
    with held_prints(verbose):
        summary = aprm_pipeline(overrides=overrides)
    print(closing_summary(summary, OmegaConf.to_container(cfg, resolve=True), time.perf_counter() - start),
          flush=True)
    objective = summary.get("objective")
    return float(objective) if objective is not None else None


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "compare":  # a plain subcommand, before Hydra parses argv
        from flows.compare import main as compare_main

        sys.exit(compare_main(sys.argv[2:]))
    import hydra

    from flows.deprecations import translate_overrides

    # `aprm -v` is `aprm verbose=true`: every library's log lines and prints
    argv = [("verbose=true" if arg in ("-v", "--verbose") else arg) for arg in sys.argv[1:]]
    argv, renamed = translate_overrides(argv)  # game= -> method=, experiment=default -> benchmark
    for message in renamed:
        print(f"aprm: {message}", file=sys.stderr)
    sys.argv = sys.argv[:1] + argv
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    app = hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(_job)
    app()


if __name__ == "__main__":
    main()

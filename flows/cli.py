"""`aprm`: the Hydra app in front of the Prefect pipeline flow.

Only Hydra is imported at start so `aprm --help` and `aprm --cfg job` answer fast; Prefect,
torch and MLflow load when a job actually runs.
"""

from __future__ import annotations

import os
import sys

from flows.config import CONF_DIR


def _job(cfg) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from flows.pipeline import aprm_pipeline

    overrides = list(HydraConfig.get().overrides.task)
    summary = aprm_pipeline(overrides=overrides)
    objective = summary.get("objective")
    return float(objective) if objective is not None else None


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "compare":  # a plain subcommand, before Hydra parses argv
        from flows.compare import main as compare_main

        sys.exit(compare_main(sys.argv[2:]))
    import hydra

    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    app = hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(_job)
    app()


if __name__ == "__main__":
    main()

"""Serve the pipeline as the Prefect deployment `aprm-pipeline/default`.

    prefect server start &                       # or any PREFECT_API_URL
    python -m flows.serve                        # keeps serving until interrupted
    prefect deployment run 'aprm-pipeline/default' --param overrides='["seed=1"]'
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="default", help="deployment name (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=1, help="concurrent flow runs (default: %(default)s)")
    args = parser.parse_args(argv)

    from flows.pipeline import aprm_pipeline

    aprm_pipeline.serve(name=args.name, limit=args.limit, parameters={"overrides": []})


if __name__ == "__main__":
    main()

"""Library side of each pipeline stage: paths and plain dicts in, artifacts and metrics out.

`stages.py` wraps them as the run's stages and `plan.py` runs those in order through a runner
hook (Prefect's in `flows/runtime.py`).
"""

"""Library side of each pipeline stage: paths and plain dicts in, artifacts and metrics out.

The Prefect tasks in `flows/stages.py` are thin wrappers over these functions.
"""

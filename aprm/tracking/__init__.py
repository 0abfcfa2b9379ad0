from aprm.tracking.mlflow_store import RunTracker, flatten_params, resolve_tracking_uri

__all__ = ["RunTracker", "flatten_params", "resolve_tracking_uri"]

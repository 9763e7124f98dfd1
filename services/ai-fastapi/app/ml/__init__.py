"""Text classification: features, calibrated linear models, metrics, artifacts, the registry."""

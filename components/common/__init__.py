"""Shared foundation: settings, artifact store, MLflow tracking, CLI helpers."""

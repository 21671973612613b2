"""MLflow helpers: configuration, runs, logging, registration and model URI resolution."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nolabel.components.common.errors import ConfigurationError, InputError
from nolabel.components.common.names import CANDIDATE, PRODUCTION
from nolabel.components.common.owners import current_owner, owner_state
from nolabel.components.common.settings import Settings, get_settings

if TYPE_CHECKING:
    from nolabel.components.common.store import ArtifactStore

DEFAULT_ALIASES = (PRODUCTION, CANDIDATE)
OWNER_TAG = "nolabel.owner"  # the process running the run (see nolabel.components.common.owners)


def artifact_root(settings: Settings) -> str:
    """Where MLflow puts artifacts: the S3 bucket when S3 is set, else the local store."""
    if settings.uses_s3:
        return f"s3://{settings.s3_bucket}/mlflow"
    return (settings.store_dir / "mlflow").as_uri()


@contextlib.contextmanager
def _setup_lock(settings: Settings) -> Iterator[None]:
    """An inter-process lock under ``home`` held while tracking is first set up."""
    import fcntl

    with open(settings.home / ".mlflow-setup.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def configure(settings: Settings | None = None) -> str:
    """Point MLflow at the configured tracking server and store; return the experiment id."""
    import mlflow

    settings = settings or get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    if settings.uses_s3:
        scheme = "https" if settings.s3_secure else "http"
        endpoint = settings.s3_endpoint or ""
        if "://" not in endpoint:
            endpoint = f"{scheme}://{endpoint}"
        os.environ["MLFLOW_S3_ENDPOINT_URL"] = endpoint
        if settings.s3_access_key:
            os.environ["AWS_ACCESS_KEY_ID"] = settings.s3_access_key
        if settings.s3_secret_key:
            os.environ["AWS_SECRET_ACCESS_KEY"] = settings.s3_secret_key.get_secret_value()
        if settings.s3_region:
            os.environ.setdefault("AWS_DEFAULT_REGION", settings.s3_region)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    try:
        # Processes starting together (serve workers, Spark tasks) must not race on creating
        # and migrating a fresh SQLite database or on creating the experiment.
        with _setup_lock(settings):
            client = mlflow.MlflowClient()
            experiment = client.get_experiment_by_name(settings.mlflow_experiment)
            if experiment is None:
                experiment_id = client.create_experiment(
                    settings.mlflow_experiment, artifact_location=artifact_root(settings)
                )
            else:
                experiment_id = experiment.experiment_id
    except Exception as exc:
        raise ConfigurationError(
            f"cannot use MLflow tracking at {settings.tracking_uri}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}"
        ) from None
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


@contextlib.contextmanager
def start_run(
    run_name: str,
    *,
    nested: bool = False,
    tags: Mapping[str, str] | None = None,
    settings: Settings | None = None,
) -> Iterator[Any]:
    """Start an MLflow run (configuring MLflow first) and yield it."""
    import mlflow

    if not nested or mlflow.active_run() is None:
        close_stale_runs(configure(settings))
    tags = {OWNER_TAG: current_owner(), **(tags or {})}
    with mlflow.start_run(run_name=run_name, nested=nested, tags=tags) as run:
        yield run


def close_stale_runs(experiment_id: str) -> list[str]:
    """Mark as KILLED the experiment's RUNNING runs whose process died on this host (killed
    before it could end them); return their ids. Other hosts' runs are left alone."""
    import mlflow

    client = mlflow.MlflowClient()
    closed = []
    try:
        running = client.search_runs(
            [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
        )
        for run in running:
            owner = run.data.tags.get(OWNER_TAG)
            if owner and owner_state(owner) == "dead":
                client.set_terminated(run.info.run_id, status="KILLED")
                closed.append(run.info.run_id)
    except Exception:  # housekeeping must never stop a run from starting
        pass
    return closed


def log_params(params: Mapping[str, Any]) -> None:
    """Log parameters, turning non-scalars into JSON strings."""
    import mlflow

    flat = {}
    for key, value in params.items():
        if isinstance(value, str | int | float | bool) or value is None:
            flat[key] = value
        else:
            flat[key] = json.dumps(value, default=str)[:6000]
    mlflow.log_params(flat)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log numeric metrics (non-finite values are skipped)."""
    import math

    import mlflow

    clean = {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and math.isfinite(float(v))
    }
    mlflow.log_metrics(clean, step=step)


def log_figure(figure: Any, artifact_file: str) -> None:
    """Log a matplotlib figure as a PNG artifact."""
    import mlflow

    mlflow.log_figure(figure, artifact_file)


def log_json(data: Any, artifact_file: str) -> None:
    """Log a JSON-serialisable object as an artifact."""
    import mlflow

    mlflow.log_dict(data, artifact_file)


def log_file(path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    """Log a local file as an artifact."""
    import mlflow

    mlflow.log_artifact(str(path), artifact_path)


def log_manifest_input(store: ArtifactStore, dataset: str, context: str = "training") -> None:
    """Log the crawl's manifest of ``dataset`` as the active run's input (see :func:`log_input`)."""
    from nolabel.components.common.datasets import manifest_key

    key = manifest_key(dataset)
    log_input(store.uri(key), store.get_bytes(key), dataset, context)


def log_input(
    uri: str, data: bytes | Mapping[str, Any], name: str, context: str = "training"
) -> None:
    """Log ``uri`` (a crawl's manifest, LIME boxes) as the active run's input dataset, with the
    digest of ``data`` (its bytes or JSON): the MLflow UI shows which crawl made which model."""
    import hashlib
    import warnings

    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    with warnings.catch_warnings():  # "can be interpreted in multiple ways": same source class
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(uri)
    if not isinstance(data, bytes):
        data = json.dumps(data, sort_keys=True).encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()[:16]
    mlflow.log_input(MetaDataset(source, name=name, digest=digest), context=context)


def register_model(model_uri: str, name: str, alias: str = CANDIDATE) -> str:
    """Register ``model_uri`` under ``name``, point ``alias`` at it; return the version."""
    import mlflow

    version = mlflow.register_model(model_uri, name)
    mlflow.MlflowClient().set_registered_model_alias(name, alias, version.version)
    return str(version.version)


def set_alias(name: str, alias: str, version: str) -> None:
    """Point ``alias`` of model ``name`` at ``version``."""
    import mlflow

    mlflow.MlflowClient().set_registered_model_alias(name, alias, version)


def alias_version(name: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None if the model or alias does not exist."""
    import mlflow

    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(name, alias).version)
    except Exception:
        return None


def resolve_model_uri(
    uri: str | None, name: str, aliases: tuple[str, ...] = DEFAULT_ALIASES
) -> str:
    """Turn ``--model`` into a loadable URI.

    ``None`` means the registered model ``name`` at the first alias that exists (production,
    then candidate). ``models:/``, ``runs:/`` and other MLflow URIs pass through; a local path
    must exist.
    """
    configure()
    if uri:
        if "://" in uri or uri.startswith(("models:/", "runs:/")):
            return uri
        path = Path(uri).expanduser()
        if not path.exists():
            raise InputError(f"model path {uri} does not exist")
        return str(path.resolve())
    for alias in aliases:
        if alias_version(name, alias) is not None:
            return f"models:/{name}@{alias}"
    raise InputError(
        f"no registered model {name!r} with alias {' or '.join(aliases)}; "
        "train one first or pass --model"
    )


def download_model(uri: str) -> Path:
    """A local directory holding the model at ``uri`` (a local model directory as it is): a
    copy in ``NOLABEL_HOME/cache/models`` reused by later loads (see ``model_cache``)."""
    from nolabel.components.common.model_cache import cached_model

    return cached_model(uri)

"""Local copies of MLflow models, one per registry version or run artifact, reused by every load.

Loading a model used to copy it into a new ``TMPDIR/nolabel-model-*`` that was never removed.
Copies now live in ``NOLABEL_HOME/cache/models/KEY``: ``KEY`` hashes the tracking URI and
what the URI points at (``models:/NAME@ALIAS`` is followed to its version, so a moved alias
gets a new copy), a download lands in an owned ``.partial-*`` directory (removed on error, or
by the next download if the process was killed) and is renamed into place atomically. The
least recently used copies beyond ``MODEL_CACHE_KEEP`` are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from pathlib import Path

from nolabel.components.common import tracking
from nolabel.components.common.owners import new_owned_dir
from nolabel.components.common.settings import get_settings

MODEL_CACHE_KEEP = 8  # model copies kept in NOLABEL_HOME/cache/models
MODEL_PATH_FILE = "path"  # in a copy: the model's path inside its ``content`` directory


def _pinned_model(uri: str) -> tuple[str, str] | None:
    """``(identity, URI to download)`` of what ``uri`` points at now, the identity changing
    whenever the content can: a registry version (also behind an alias) or a run's artifact.
    None for anything else, which is downloaded again on every load."""
    import mlflow

    if uri.startswith("runs:/"):
        return uri, uri
    ref = uri.removeprefix("models:/").rstrip("/")
    if ref == uri:
        return None
    client = mlflow.MlflowClient()
    try:
        if "@" in ref:
            version = client.get_model_version_by_alias(*ref.split("@", 1))
        else:
            name, _, number = ref.partition("/")
            if not number.isdigit():
                return None
            version = client.get_model_version(name, number)
    except Exception:
        return None
    pinned = f"models:/{version.name}/{version.version}"
    return f"{pinned} {version.run_id} {version.source} {version.creation_timestamp}", pinned


def _install(partial: Path, target: Path, replace: bool) -> None:
    """Move a finished download into place (atomic rename); ``replace``: over an older copy."""
    for _ in range(3):
        try:
            os.rename(partial, target)
            return
        except OSError:
            if not replace and target.is_dir():
                return  # another process installed the same version first
            old = target.with_name(f".old-{uuid.uuid4().hex}")
            with contextlib.suppress(OSError):
                os.rename(target, old)
            shutil.rmtree(old, ignore_errors=True)
    if not target.is_dir():
        raise OSError(f"cannot install the downloaded model at {target}")


def _prune(root: Path, keep: Path) -> None:
    """Remove the least recently used model copies beyond ``MODEL_CACHE_KEEP``."""

    def used(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:  # removed meanwhile by another process
            return 0.0

    copies = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    for path in sorted(copies, key=used, reverse=True)[MODEL_CACHE_KEEP:]:
        if path != keep:
            shutil.rmtree(path, ignore_errors=True)


def cached_model(uri: str) -> Path:
    """A local directory holding the model at ``uri`` (a local model directory as it is)."""
    import mlflow

    path = Path(uri)
    if path.exists():
        return path
    settings = get_settings()
    tracking.configure(settings)
    pinned = _pinned_model(uri)
    identity, source = pinned or (uri, uri)
    root = settings.home / "cache" / "models"
    key = hashlib.sha256(f"{settings.tracking_uri}\n{identity}".encode()).hexdigest()[:24]
    target = root / key
    with contextlib.suppress(OSError):
        os.utime(target)  # recently used: no other load prunes it now
    if pinned is None or not (target / MODEL_PATH_FILE).is_file():
        partial = new_owned_dir(root, ".partial-")  # a killed download's is removed next time
        try:
            content = partial / "content"
            content.mkdir()
            got = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(content))
            (partial / MODEL_PATH_FILE).write_text(str(Path(got).relative_to(content)))
            _install(partial, target, replace=pinned is None)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        _prune(root, keep=target)
    return target / "content" / (target / MODEL_PATH_FILE).read_text()

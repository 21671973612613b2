"""Local copies of store data the steps read as files (dataset images, truth boxes, prefixes)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from nolabel.components.common.datasets import images_prefix, truth_key
from nolabel.components.common.errors import InputError
from nolabel.components.common.images import IMAGE_SUFFIXES
from nolabel.components.common.settings import Settings, get_settings
from nolabel.components.common.store import ArtifactStore, LocalStore, open_store


def flow_dir(name: str, settings: Settings | None = None) -> Path:
    """A working directory for flow outputs under NOLABEL_HOME (visible to docker steps)."""
    settings = settings or get_settings()
    path = settings.home / "flows" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(settings: Settings | None = None) -> Path:
    """Where store objects are downloaded to when a step needs them as local files."""
    settings = settings or get_settings()
    path = settings.home / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def local_prefix(store: ArtifactStore, prefix: str, settings: Settings | None = None) -> Path:
    """A local directory with every image under store ``prefix`` (downloaded when not local).

    Already downloaded objects are kept, so a re-run only fetches what is new.
    """
    prefix = prefix.strip("/")
    if isinstance(store, LocalStore):
        path = store.root / prefix
        if not path.is_dir():
            raise InputError(f"{store.uri(prefix)} is not a directory in the store")
        return path
    keys = [k for k in store.list(prefix + "/") if Path(k).suffix.lower() in IMAGE_SUFFIXES]
    if not keys:
        raise InputError(f"no images under {store.uri(prefix)}")
    root = cache_dir(settings)
    for key in keys:
        store.get_local_path(key, root)
    return root / prefix


def dataset_images_dir(dataset: str, settings: Settings | None = None) -> Path:
    """Local directory of a dataset's images."""
    settings = settings or get_settings()
    return local_prefix(open_store(settings), images_prefix(dataset), settings)


def dataset_truth_path(dataset: str, settings: Settings | None = None) -> Path | None:
    """Local copy of the dataset's true boxes (the demo provider writes them), or None."""
    settings = settings or get_settings()
    store = open_store(settings)
    key = truth_key(dataset)
    if not store.exists(key):
        return None
    if isinstance(store, LocalStore):
        return store.root / key
    target = cache_dir(settings) / key
    store.get_file(key, target)  # refreshed every time: a re-crawl may rewrite it
    return target


def resolve_source(source: str, settings: Settings | None = None) -> tuple[Path, str]:
    """A local directory for a score source and a short name for its outputs.

    ``source`` is a local directory, a store URI (``s3://bucket/prefix``, ``file://...``) or a
    key prefix in the configured store.
    """
    settings = settings or get_settings()
    name = source_name(source)
    if "://" not in source:
        local = Path(source).expanduser()
        if local.is_dir():
            return local.resolve(), name
    store = open_store(settings)
    prefix = _store_prefix(store, source)
    try:
        return local_prefix(store, prefix, settings), name
    except InputError:
        raise InputError(
            f"{source} is neither a local directory nor a store prefix with images"
        ) from None


def source_name(source: str) -> str:
    """A short name for a score source's outputs: its last folder and a digest of it all."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:8]
    return f"{Path(source.rstrip('/')).name or 'images'}-{digest}"


def _store_prefix(store: ArtifactStore, source: str) -> str:
    prefix = store.key_from_uri(source.rstrip("/") + "/x")[:-2] if "://" in source else source
    if not prefix.strip("/"):
        raise InputError(f"{source} names no folder or store prefix")
    return prefix


def source_in_place(source: str, settings: Settings | None = None) -> str:
    """What ``score --images`` reads a source from without copying it: a local directory as it
    is, a store URI or prefix as the store's URI of that prefix."""
    if "://" in source:
        return source  # score reads it (and says so when it is not in the configured store)
    if Path(source).expanduser().is_dir():
        return str(Path(source).expanduser().resolve())
    store = open_store(settings or get_settings())
    return store.uri(_store_prefix(store, source).strip("/")) + "/"

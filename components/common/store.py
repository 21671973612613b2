"""Artifact store: one interface, a local-directory backend and a MinIO/S3 backend.

Keys are POSIX-style relative paths (``datasets/lions/manifest.parquet``). Writes are atomic:
an object is never visible under its final key until it is complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path, PurePosixPath

from nolabel.components.common.errors import InputError
from nolabel.components.common.settings import Settings, get_settings


def normalize_key(key: str) -> str:
    """Validate a store key and return it normalised (no leading slash, no ``..``)."""
    if not key or key.strip() != key:
        raise InputError(f"invalid store key {key!r}")
    path = PurePosixPath(key.lstrip("/"))
    if any(part in ("..", ".") for part in path.parts) or not path.parts:
        raise InputError(f"invalid store key {key!r}")
    return str(path)


class ArtifactStore(ABC):
    """Put/get bytes and files by key, list by prefix, and name objects by URI."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        """Store ``data`` under ``key`` atomically; return its URI."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """Return the object's bytes; ``KeyError`` if it is missing."""

    def read_head(self, key: str, length: int) -> bytes:
        """The object's first ``length`` bytes (fewer when it is shorter); ``KeyError`` if it is
        missing. Backends override it to read no more than asked."""
        return self.get_bytes(key)[:length]

    @abstractmethod
    def put_file(self, key: str, path: str | os.PathLike[str]) -> str:
        """Upload a local file under ``key`` atomically; return its URI."""

    @abstractmethod
    def get_file(self, key: str, path: str | os.PathLike[str]) -> Path:
        """Download the object into ``path``; ``KeyError`` if it is missing."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """All keys under ``prefix`` (recursive), sorted."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object (no error if it is already gone)."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """A URI naming the object (``file://`` or ``s3://``)."""

    def root_uri(self) -> str:
        """URI of the store's root (objects' URIs start with it)."""
        return self.uri("x")[:-1]

    def key_from_uri(self, uri: str) -> str:
        """The key of an object named by one of this store's URIs."""
        prefix = self.uri("x")[:-1]
        if not uri.startswith(prefix):
            raise InputError(f"{uri} is not in this store ({prefix})")
        return normalize_key(uri[len(prefix) :])

    def get_local_path(self, key: str, cache_dir: str | os.PathLike[str]) -> Path:
        """A local file with the object's content (downloaded into ``cache_dir`` if needed)."""
        target = Path(cache_dir) / normalize_key(key)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            self.get_file(key, target)
        return target


class LocalStore(ArtifactStore):
    """Objects as files under a root directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / normalize_key(key)

    def _atomic_write(self, target: Path, write) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        self._atomic_write(self._path(key), lambda handle: handle.write(data))
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise KeyError(key) from exc

    def read_head(self, key: str, length: int) -> bytes:
        try:
            with self._path(key).open("rb") as handle:
                return handle.read(length)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise KeyError(key) from exc

    def put_file(self, key: str, path: str | os.PathLike[str]) -> str:
        def copy(handle) -> None:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, handle, 1024 * 1024)

        self._atomic_write(self._path(key), copy)
        return self.uri(key)

    def get_file(self, key: str, path: str | os.PathLike[str]) -> Path:
        source = self._path(key)
        if not source.is_file():
            raise KeyError(key)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        return target

    def list(self, prefix: str = "") -> list[str]:
        base = self.root / prefix.lstrip("/")
        search = base if base.is_dir() else base.parent
        if not search.exists():
            return []
        keys = []
        for path in search.rglob("*"):
            if path.is_file() and not path.name.endswith(".part"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix.lstrip("/")):
                    keys.append(key)
        return sorted(keys)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def uri(self, key: str) -> str:
        return (self.root / normalize_key(key)).as_uri()

    def local_path(self, key: str) -> Path:
        """The file backing ``key`` (local store only)."""
        return self._path(key)

    def get_local_path(self, key: str, cache_dir: str | os.PathLike[str]) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise KeyError(key)
        return path


def open_store(settings: Settings | None = None) -> ArtifactStore:
    """The store the settings describe: S3 when ``NOLABEL_S3_ENDPOINT`` is set, else local."""
    settings = settings or get_settings()
    if settings.uses_s3:
        from nolabel.components.common.s3_store import S3Store

        secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
        return S3Store(
            settings.s3_endpoint or "",
            settings.s3_access_key,
            secret,
            settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
            create_bucket=settings.s3_create_bucket,
            connect_timeout=settings.s3_connect_timeout,
            read_timeout=settings.s3_read_timeout,
            retries=settings.s3_retries,
        )
    return LocalStore(settings.store_dir)

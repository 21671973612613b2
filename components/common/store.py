"""Artifact store: one interface, a local-directory backend and a MinIO/S3 backend.

Keys are POSIX-style relative paths (``datasets/lions/manifest.parquet``). Writes are atomic:
an object is never visible under its final key until it is complete.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from components.common.errors import ConfigurationError, InputError
from components.common.settings import Settings, get_settings


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


class S3Store(ArtifactStore):
    """Objects in a MinIO/S3 bucket through the ``minio`` client."""

    def __init__(
        self,
        endpoint: str,
        access_key: str | None,
        secret_key: str | None,
        bucket: str,
        secure: bool = False,
        region: str | None = None,
        create_bucket: bool = False,
    ) -> None:
        import urllib3
        from minio import Minio
        from minio.error import S3Error

        parsed = urlparse(endpoint if "://" in endpoint else f"//{endpoint}")
        if parsed.scheme in ("http", "https"):
            secure = parsed.scheme == "https"
        host = parsed.netloc or endpoint
        self.endpoint, self.bucket, self.secure = host, bucket, secure
        http_client = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=120),
            maxsize=16,
            retries=urllib3.Retry(
                total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        self.client = Minio(
            host,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http_client,
        )
        self._s3_error = S3Error
        try:
            found = self.client.bucket_exists(bucket)
            if not found and create_bucket:
                self.client.make_bucket(bucket)
                found = True
        except S3Error as exc:
            raise ConfigurationError(
                f"S3 at {host} refused access to bucket {bucket!r}: {exc.code} ({exc.message}); "
                "check NOLABEL_S3_ACCESS_KEY / NOLABEL_S3_SECRET_KEY"
            ) from None
        except Exception as exc:  # urllib3 connection errors and friends
            reason = getattr(exc, "reason", None) or exc
            raise ConfigurationError(
                f"cannot reach S3 at {host} (NOLABEL_S3_ENDPOINT): "
                f"{type(reason).__name__}: {str(reason).splitlines()[0][:160]}"
            ) from None
        if not found:
            raise ConfigurationError(
                f"S3 bucket {bucket!r} does not exist at {host}; create it or set "
                "NOLABEL_S3_CREATE_BUCKET=true"
            )

    def _missing(self, exc: Exception) -> bool:
        return isinstance(exc, self._s3_error) and exc.code in ("NoSuchKey", "NoSuchObject")

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        key = normalize_key(key)
        self.client.put_object(
            self.bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type=content_type or "application/octet-stream",
        )
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        key = normalize_key(key)
        try:
            response = self.client.get_object(self.bucket, key)
        except Exception as exc:
            if self._missing(exc):
                raise KeyError(key) from exc
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def put_file(self, key: str, path: str | os.PathLike[str]) -> str:
        key = normalize_key(key)
        self.client.fput_object(self.bucket, key, str(path))
        return self.uri(key)

    def get_file(self, key: str, path: str | os.PathLike[str]) -> Path:
        key = normalize_key(key)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        os.close(fd)
        try:
            self.client.fget_object(self.bucket, key, tmp)
            os.replace(tmp, target)
        except Exception as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            if self._missing(exc):
                raise KeyError(key) from exc
            raise
        return target

    def list(self, prefix: str = "") -> list[str]:
        objects = self.client.list_objects(self.bucket, prefix=prefix.lstrip("/"), recursive=True)
        return sorted(obj.object_name for obj in objects if not obj.is_dir)

    def exists(self, key: str) -> bool:
        try:
            self.client.stat_object(self.bucket, normalize_key(key))
            return True
        except Exception as exc:
            if isinstance(exc, self._s3_error) and exc.code in (
                "NoSuchKey",
                "NoSuchObject",
                "ResourceNotFound",
            ):
                return False
            raise

    def delete(self, key: str) -> None:
        self.client.remove_object(self.bucket, normalize_key(key))

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{normalize_key(key)}"


def open_store(settings: Settings | None = None) -> ArtifactStore:
    """The store the settings describe: S3 when ``NOLABEL_S3_ENDPOINT`` is set, else local."""
    settings = settings or get_settings()
    if settings.uses_s3:
        secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
        return S3Store(
            settings.s3_endpoint or "",
            settings.s3_access_key,
            secret,
            settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
            create_bucket=settings.s3_create_bucket,
        )
    return LocalStore(settings.store_dir)

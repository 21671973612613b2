"""The MinIO/S3 backend of the artifact store: atomic puts, bounded timeouts and retries, and
every network or S3 failure turned into one ``ConfigurationError`` line naming the endpoint."""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from nolabel.components.common.errors import ConfigurationError
from nolabel.components.common.store import ArtifactStore, normalize_key


class S3Store(ArtifactStore):
    """Objects in a MinIO/S3 bucket through the ``minio`` client.

    Every request has bounded connect/read timeouts and retries; a network or S3 fault
    becomes a one-line :class:`ConfigurationError` naming the endpoint (missing objects stay
    ``KeyError``).
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str | None,
        secret_key: str | None,
        bucket: str,
        secure: bool = False,
        region: str | None = None,
        create_bucket: bool = False,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        retries: int = 2,
    ) -> None:
        import urllib3
        from minio import Minio
        from minio.error import MinioException, S3Error

        self._s3_error = S3Error
        self._faults = (urllib3.exceptions.HTTPError, MinioException, ConnectionError, TimeoutError)
        self.endpoint, self.bucket = endpoint, bucket
        try:
            parsed = urlparse(endpoint if "://" in endpoint else f"//{endpoint}")
            if parsed.scheme in ("http", "https"):
                secure = parsed.scheme == "https"
            self.endpoint = parsed.netloc or endpoint
            http_client = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
                maxsize=16,
                retries=urllib3.Retry(
                    total=retries,
                    backoff_factor=0.2,
                    backoff_max=5,
                    status_forcelist=[500, 502, 503, 504],
                ),
            )
            self.client = Minio(
                self.endpoint,
                access_key=access_key,
                secret_key=secret_key,
                secure=secure,
                region=region,
                http_client=http_client,
            )
        except ValueError as exc:
            raise ConfigurationError(
                f"invalid S3 endpoint {endpoint!r} (NOLABEL_S3_ENDPOINT): {exc}; "
                "use host[:port] or http(s)://host[:port]"
            ) from None
        self.secure = secure
        self._open_bucket(create_bucket)

    def _open_bucket(self, create: bool) -> None:
        host, bucket = self.endpoint, self.bucket
        try:
            with self._guard(f"checking bucket {bucket!r}"):
                found = self.client.bucket_exists(bucket)
                if not found and create:
                    self.client.make_bucket(bucket)
                    found = True
        except ValueError as exc:  # minio's bucket-name check (after network errors above)
            raise ConfigurationError(
                f"invalid S3 bucket name {bucket!r} (NOLABEL_S3_BUCKET): {exc}"
            ) from None
        if not found:
            raise ConfigurationError(
                f"S3 bucket {bucket!r} does not exist at {host}; create it or set "
                "NOLABEL_S3_CREATE_BUCKET=true"
            )

    @contextlib.contextmanager
    def _guard(self, action: str, key: str = "") -> Iterator[None]:
        """Missing objects → ``KeyError``; network and S3 faults → ``ConfigurationError``."""
        try:
            yield
        except self._faults as exc:
            if isinstance(exc, self._s3_error) and exc.code in _MISSING:
                raise KeyError(key) from exc
            raise ConfigurationError(self._fault_message(exc, action)) from None

    def _fault_message(self, exc: BaseException, action: str) -> str:
        host = self.endpoint
        if isinstance(exc, self._s3_error):
            what, hint = "the request", ""
            if exc.code in _CREDENTIAL_CODES:
                what, hint = "access", "; check NOLABEL_S3_ACCESS_KEY / NOLABEL_S3_SECRET_KEY"
            elif exc.code == "NoSuchBucket":
                hint = f"; bucket {self.bucket!r} is gone (NOLABEL_S3_BUCKET)"
            return f"S3 at {host} refused {what} while {action}: {exc.code} ({exc.message}){hint}"
        return (
            f"cannot reach S3 at {host} (NOLABEL_S3_ENDPOINT) while {action}: "
            f"{_reason(exc)}; check the server and rerun"
        )

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        key = normalize_key(key)
        with self._guard(f"writing {key}", key):
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
        with self._guard(f"reading {key}", key):
            response = self.client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def read_head(self, key: str, length: int) -> bytes:
        key = normalize_key(key)
        if length <= 0:
            return b""
        with self._guard(f"reading {key}", key):
            try:
                response = self.client.get_object(self.bucket, key, offset=0, length=length)
            except self._s3_error as exc:
                if exc.code != "InvalidRange":
                    raise
                return b""  # S3 refuses any range of an empty object
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def put_file(self, key: str, path: str | os.PathLike[str]) -> str:
        key = normalize_key(key)
        with self._guard(f"writing {key}", key):
            self.client.fput_object(self.bucket, key, str(path))
        return self.uri(key)

    def get_file(self, key: str, path: str | os.PathLike[str]) -> Path:
        key = normalize_key(key)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        os.close(fd)
        try:
            with self._guard(f"reading {key}", key):
                self.client.fget_object(self.bucket, key, tmp)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return target

    def list(self, prefix: str = "") -> list[str]:
        prefix = prefix.lstrip("/")
        with self._guard(f"listing {prefix or '/'}", prefix):
            objects = self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
            return sorted(obj.object_name for obj in objects if not obj.is_dir)

    def exists(self, key: str) -> bool:
        key = normalize_key(key)
        try:
            with self._guard(f"checking {key}", key):
                self.client.stat_object(self.bucket, key)
        except KeyError:
            return False
        return True

    def delete(self, key: str) -> None:
        key = normalize_key(key)
        with contextlib.suppress(KeyError), self._guard(f"deleting {key}", key):
            self.client.remove_object(self.bucket, key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{normalize_key(key)}"


_MISSING = ("NoSuchKey", "NoSuchObject", "ResourceNotFound")
_CREDENTIAL_CODES = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")


def _reason(exc: BaseException) -> str:
    """The root cause of a network error, on one short line (no pool/host boilerplate)."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        exc = reason
    text = re.sub(r"^\S*Connection(Pool)?\([^)]*\):\s*", "", str(exc).strip())
    text = (text.splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

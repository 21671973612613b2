"""One settings object for the whole project (env prefix ``NOLABEL_``, ``.env`` supported)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nolabel.components.common.defaults import DEFAULT_MAX_PIXELS
from nolabel.components.common.names import PRODUCTION


class Settings(BaseSettings):
    """Every knob nolabel reads from the environment. Nothing happens at import time."""

    model_config = SettingsConfigDict(
        env_prefix="NOLABEL_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(Path(".nolabel"), description="Directory holding all local state.")

    # Artifact store: local directory unless an S3 endpoint is set.
    s3_endpoint: str | None = Field(None, description="MinIO/S3 host[:port]; enables the S3 store.")
    s3_access_key: str | None = Field(None, description="S3 access key.")
    s3_secret_key: SecretStr | None = Field(None, description="S3 secret key.")
    s3_bucket: str = Field("nolabel", description="Bucket holding images, manifests and models.")
    s3_secure: bool = Field(False, description="Use HTTPS for the S3 endpoint.")
    s3_region: str | None = Field(None, description="S3 region, if the server needs one.")
    s3_create_bucket: bool = Field(False, description="Create the bucket if it is missing.")
    s3_connect_timeout: float = Field(
        5.0, gt=0, le=300, description="Seconds to wait for a connection to S3."
    )
    s3_read_timeout: float = Field(
        30.0, gt=0, le=3600, description="Seconds to wait for each S3 response read."
    )
    s3_retries: int = Field(
        2, ge=0, le=10, description="Retries of a failed S3 request (connection, timeout, 5xx)."
    )

    # Tracking.
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; default SQLite under NOLABEL_HOME."
    )
    mlflow_experiment: str = Field("nolabel", description="MLflow experiment name.")

    # Compute.
    spark_master: str = Field("local[*]", description="Spark master URL.")
    spark_driver_memory: str = Field("4g", description="Spark driver memory.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Torch device.")
    detector_runtime: Literal["auto", "onnx", "torch"] = Field(
        "auto", description="Detector dense-layer runtime; auto: ONNX Runtime on CPU."
    )
    weights_dir: Path | None = Field(
        None, description="Converted pretrained weights; default NOLABEL_HOME/weights."
    )

    # Flow execution.
    execution: Literal["local", "docker", "kubernetes"] = Field(
        "local", description="Run flow steps in-process, as Docker containers or Kubernetes Jobs."
    )
    image_registry: str = Field("nolabel", description="Registry/prefix of the step images.")
    image_tag: str = Field("latest", description="Tag of the step images.")
    k8s_namespace: str = Field("nolabel", description="Namespace for Kubernetes Jobs.")
    k8s_cpu: str = Field("2", description="CPU request/limit of a step Job.")
    k8s_memory: str = Field("8Gi", description="Memory request/limit of a step Job.")
    k8s_gpu: int = Field(0, description="GPUs requested by the detect Job.")

    # Crawl.
    user_agent_contact: str = Field(
        "nolabel (https://github.com/nolabel/nolabel; ops@example.org)",
        description="Contact sent in the User-Agent of every crawl request.",
    )
    allow_private_hosts: bool = Field(
        False, description="Allow downloads from private/loopback addresses (tests only)."
    )
    openverse_client_id: str | None = Field(None, description="Openverse OAuth2 client id.")
    openverse_client_secret: SecretStr | None = Field(None, description="Openverse secret.")
    bing_endpoint: str | None = Field(None, description="Bing v7 compatible image search URL.")
    bing_key: SecretStr | None = Field(None, description="Key for the Bing-compatible endpoint.")

    # Serving.
    api_token: SecretStr | None = Field(None, description="Bearer token required by the API.")
    classifier_model: str | None = Field(
        None, description="Classifier URI to serve; default the registry's production/candidate."
    )
    detector_model: str | None = Field(
        None, description="Detector URI to serve; default the registry's production/candidate."
    )
    model_alias: str = Field(PRODUCTION, description="Preferred registry alias.")
    model_refresh_seconds: float = Field(30.0, description="How often serve checks aliases.")
    max_upload_bytes: int = Field(20 * 1024 * 1024, description="Request size cap.")
    max_image_pixels: int = Field(
        DEFAULT_MAX_PIXELS, description="Pixel cap (decompression bombs)."
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def uses_s3(self) -> bool:
        """True when the artifact store is MinIO/S3."""
        return bool(self.s3_endpoint)

    @property
    def weights_folder(self) -> Path:
        """Where `nolabel weights fetch` puts the converted detectors."""
        return (self.weights_dir or self.home / "weights").expanduser().resolve()

    @property
    def store_dir(self) -> Path:
        """Root of the local artifact store."""
        return self.home / "store"

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI, SQLite under ``home`` unless configured."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.home / 'mlflow.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` after env changes)."""
    return Settings()

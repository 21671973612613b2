"""Serving knobs that only the service reads (env prefix ``NOLABEL_SERVE_``).

The shared ``common.settings.Settings`` holds the model URIs, alias, token and caps;
these are the extra, serve-only settings.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from nolabel.components.common.defaults import (
    DEFAULT_EQUALIZE_INFRARED,
    DEFAULT_PROPOSER,
    DEFAULT_PROPOSER_SIDE,
    DEFAULT_TILES,
)
from nolabel.components.common.names import CANDIDATE, CLASSIFIER_MODEL, DETECTOR_MODEL


class ServeSettings(BaseSettings):
    """Serve-only settings, e.g. ``NOLABEL_SERVE_CORS_ORIGINS=https://a.example,https://b``."""

    model_config = SettingsConfigDict(
        env_prefix="NOLABEL_SERVE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    cors_origins: str = Field(
        "", description="Comma-separated origins allowed by CORS; empty (default) disables CORS."
    )
    classifier_name: str = Field(CLASSIFIER_MODEL, description="Registered classifier name.")
    detector_name: str = Field(DETECTOR_MODEL, description="Registered detector name.")
    fallback_alias: str = Field(
        CANDIDATE, description="Alias tried when NOLABEL_MODEL_ALIAS has no version."
    )
    require_detector: bool = Field(
        True, description="Readiness needs the detector too (false: classifier-only service)."
    )
    proposals: bool = Field(
        True,
        description="Animal proposals by a COCO-pretrained detector, judged by the classifier "
        "on their crops (`nolabel weights fetch` first); false: the detector's boxes only.",
    )
    proposer: str = Field(DEFAULT_PROPOSER, description="Which COCO detector proposes animals.")
    proposer_side: int = Field(
        DEFAULT_PROPOSER_SIDE, ge=64, le=4096, description="Its input's long side, pixels."
    )
    tiles: int = Field(DEFAULT_TILES, ge=0, le=6, description="N×N tiles for small animals.")
    equalize_infrared: bool = Field(
        DEFAULT_EQUALIZE_INFRARED,
        description="Equalize the local contrast (CLAHE) of grey, infrared images before the "
        "detector and the proposer see them (each stands alone, as a lone frame of `score`).",
    )
    max_batch_images: int = Field(16, ge=1, description="Most images in one batch request.")
    explain_default_samples: int = Field(150, ge=10, description="LIME samples by default.")
    explain_max_samples: int = Field(1000, ge=10, description="Upper bound on LIME samples.")
    explain_max_side: int = Field(
        256, ge=32, description="Images are shrunk to this longest side before LIME."
    )
    inference_threads: int = Field(
        2, ge=1, description="Model calls running at once in the worker thread pool."
    )
    model_threads: int | None = Field(
        None, ge=1, description="ONNX Runtime threads of each classifier call; default: all cores."
    )
    detector_threads: int | None = Field(
        None, ge=1, description="ONNX Runtime threads of the detector; default: all cores."
    )
    max_request_pixels: int = Field(
        100_000_000,
        ge=1,
        description="Most pixels one request may decode (its images together; a large JPEG "
        "counts at its reduced decode); more: 413.",
    )
    max_decoding_pixels: int = Field(
        100_000_000,
        ge=1,
        description="Most pixels being decoded at once across requests; the others wait.",
    )
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds a client has to send a request's headers (idle too)."
    )
    body_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a client has to send a request's body, plus its size "
        "at body_min_rate.",
    )
    body_min_rate: int = Field(
        50_000, ge=1, description="Bytes a second a body must arrive at (slower: 408)."
    )
    keep_alive_timeout: float = Field(
        5.0, gt=0, description="Seconds an idle kept-alive connection stays open."
    )
    max_header_bytes: int = Field(
        32_768, ge=1024, description="Most bytes of request line and headers; more: 400."
    )
    max_headers: int = Field(100, ge=10, description="Most header fields in a request; more: 431.")
    report_results: str | None = Field(
        None, description="Results JSON of `nolabel score` shown at /report (none: 404)."
    )
    log_level: str = Field("info", description="Level of the JSON access/application log.")

    @property
    def cors_origin_list(self) -> list[str]:
        """The configured CORS origins as a list."""
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

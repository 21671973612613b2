"""The results file ``nolabel score`` writes and every reader checks, as one versioned model.

``format_version`` names the layout, as MegaDetector's batch format does: ``score`` writes
:data:`RESULTS_FORMAT`; a reader takes any ``nolabel-results-1.x`` and a file without a version
(written before there was one), and refuses any other with one clear error. The settings are
checked here, each frame and failure by :mod:`.schema` (an error names the record and field).
Unknown extra fields are kept.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nolabel.components.common.defaults import (
    DEFAULT_BURST_GATE,
    DEFAULT_BURST_VIEWS,
    DEFAULT_FRAME_GATE,
    DEFAULT_LABEL,
    DEFAULT_MIN_SCORE,
)
from nolabel.components.common.errors import InputError
from nolabel.components.results.schema import validate_failure, validate_record

__all__ = ["RESULTS_FORMAT", "ResultsFile", "ResultsSettings", "parse_results"]

RESULTS_FORMAT = "nolabel-results-1.0"
READABLE_FORMAT = re.compile(r"nolabel-results-1\.\d+")
Share = Annotated[float, Field(strict=True, ge=0.0, le=1.0)]
SETTING_RULES = {
    "format_version": "a text",
    "root": "a text or null",
    "models": "an object",
    "threshold": "a number between 0 and 1 or null",
    "min_score": "a number between 0 and 1",
    "frame_gate": "a number between 0 and 1",
    "burst_gate": "a number between 0 and 1",
    "burst_views": "a whole number from 0",
    "label": "a text",
}


class ResultsSettings(BaseModel):
    """Everything of a results file but its frames and failures."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)

    format_version: str | None = RESULTS_FORMAT  # None: written before versions (read as 1.0)
    root: str | None = None  # the scored folder (None: the results file's folder)
    models: dict[str, Any] = {}  # name:version of the classifier, detector, proposer
    threshold: Share | None = None  # the classifier's
    min_score: Share = DEFAULT_MIN_SCORE
    frame_gate: Share = DEFAULT_FRAME_GATE
    burst_gate: Share = DEFAULT_BURST_GATE
    burst_views: Annotated[int, Field(strict=True, ge=0)] = DEFAULT_BURST_VIEWS
    label: str = DEFAULT_LABEL  # what the models find, as the exports name it

    @field_validator("models", mode="before")
    @classmethod
    def _no_models(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("label", mode="before")
    @classmethod
    def _no_label(cls, value: Any) -> Any:
        return DEFAULT_LABEL if value is None or value == "" else value


class ResultsFile(ResultsSettings):
    """A whole results file: the settings, the finished frame records and the failures."""

    images: list[dict[str, Any]]
    failures: list[dict[str, Any]] = []

    def to_json(self) -> str:
        """The file's text (score's layout: one-space indent, non-ASCII escaped)."""
        return json.dumps(self.model_dump(), indent=1)


def _settings(payload: dict[str, Any], source: str) -> ResultsSettings:
    version = payload.get("format_version")
    if version is not None and not (
        isinstance(version, str) and READABLE_FORMAT.fullmatch(version)
    ):
        raise InputError(
            f"{source}: format_version {version!r} is not one this nolabel reads "
            f"(nolabel-results-1.x); score the folder again with this version"
        )
    rest = {"format_version": None} | {
        k: v for k, v in payload.items() if k not in ("images", "failures")
    }
    try:
        return ResultsSettings.model_validate(rest)
    except ValidationError as error:
        name = str(error.errors()[0]["loc"][0])
        rule = SETTING_RULES.get(name, "valid")
        raise InputError(f"{source}: {name} must be {rule}") from None


def _entries(payload: dict[str, Any], source: str) -> tuple[list, list]:
    if not isinstance(payload.get("failures", []), list):
        raise InputError(f"{source}: failures must be a list")
    images, seen = [], {}
    for index, record in enumerate(payload["images"]):
        images.append(validate_record(record, f"{source}: images[{index}]", finished=True))
        seen.setdefault(record["path"], []).append(f"images[{index}]")
    failures = []
    for index, failure in enumerate(payload.get("failures", [])):
        failures.append(validate_failure(failure, f"{source}: failures[{index}]"))
        seen.setdefault(failure["path"], []).append(f"failures[{index}]")
    for path, where in seen.items():
        if len(where) > 1:
            raise InputError(f"{source}: {path!r} is listed twice ({' and '.join(where[:2])})")
    return images, failures


def parse_results(payload: Any, source: str) -> ResultsFile:
    """``payload`` (a results file's JSON) checked: its version, settings, frames and failures;
    one :class:`InputError` naming ``source`` and the first fault."""
    if not isinstance(payload, dict) or not isinstance(payload.get("images"), list):
        raise InputError(f"{source} is not a `nolabel score` results file (no 'images' list)")
    settings = _settings(payload, source)
    images, failures = _entries(payload, source)
    return ResultsFile.model_construct(**settings.model_dump(), images=images, failures=failures)

"""The serve step's contract: ``ServeParams`` in, ``ServeResult`` out when the server stops."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nolabel.components.common.contracts import Contract, Step


class ServeParams(Contract):
    """How to run the server (models and limits come from the NOLABEL_* settings)."""

    host: str = Field("127.0.0.1", description="Interface to bind (0.0.0.0 in a container).")
    port: int = Field(8000, ge=0, le=65535, description="TCP port.")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes.")
    model: str | None = Field(None, description="Classifier URI (sets NOLABEL_CLASSIFIER_MODEL).")
    detector: str | None = Field(None, description="Detector URI (sets NOLABEL_DETECTOR_MODEL).")
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(
        "info", description="uvicorn and access log level."
    )
    report: str | None = Field(
        None, description="Results JSON shown at /report (sets NOLABEL_SERVE_REPORT_RESULTS)."
    )


class ServeResult(Contract):
    """What ran, printed when the server stops."""

    url: str
    host: str
    port: int
    workers: int
    stopped: bool = True
    signal: str | None = Field(None, description="The signal that stopped it (SIGTERM, ...).")


def serve(params: ServeParams) -> ServeResult:
    """Run the serve step (:func:`nolabel.components.serve.step.run`, imported now)."""
    from nolabel.components.serve.step import run

    return run(params)


SERVE = Step(serve, image="serve")

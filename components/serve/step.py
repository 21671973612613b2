"""``run(ServeParams) -> ServeResult``: run the API under uvicorn until it is stopped."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field

APP_FACTORY = "components.serve.app:create_app"


class ServeParams(BaseModel):
    """How to run the server (models and limits come from the NOLABEL_* settings)."""

    host: str = Field("127.0.0.1", description="Interface to bind (0.0.0.0 in a container).")
    port: int = Field(8000, ge=0, le=65535, description="TCP port.")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes.")
    model: str | None = Field(None, description="Classifier URI (sets NOLABEL_CLASSIFIER_MODEL).")
    detector: str | None = Field(None, description="Detector URI (sets NOLABEL_DETECTOR_MODEL).")
    log_level: str = Field("info", description="uvicorn and access log level.")


class ServeResult(BaseModel):
    """What ran, printed when the server stops."""

    url: str
    host: str
    port: int
    workers: int
    stopped: bool = True


def run(params: ServeParams) -> ServeResult:
    """Serve until interrupted (SIGINT/SIGTERM); models and settings come from the environment.

    With several workers each process loads its own models and keeps its own metrics.
    """
    import uvicorn

    from components.common.settings import get_settings

    if params.model:
        os.environ["NOLABEL_CLASSIFIER_MODEL"] = params.model
    if params.detector:
        os.environ["NOLABEL_DETECTOR_MODEL"] = params.detector
    os.environ.setdefault("NOLABEL_SERVE_LOG_LEVEL", params.log_level)
    get_settings.cache_clear()
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=params.host,
        port=params.port,
        workers=params.workers,
        log_level=params.log_level,
        access_log=False,  # the app writes its own JSON access log with request IDs
        server_header=False,
        proxy_headers=True,
    )
    return ServeResult(
        url=f"http://{params.host}:{params.port}",
        host=params.host,
        port=params.port,
        workers=params.workers,
    )

"""``run(ServeParams) -> ServeResult``: run the API under uvicorn until it is stopped."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from pydantic import BaseModel, Field

from nolabel.components.common.contracts import Step
from nolabel.components.common.settings import get_settings
from nolabel.components.serve.settings import ServeSettings

APP_FACTORY = "nolabel.components.serve.app:create_app"


class ServeParams(BaseModel):
    """How to run the server (models and limits come from the NOLABEL_* settings)."""

    host: str = Field("127.0.0.1", description="Interface to bind (0.0.0.0 in a container).")
    port: int = Field(8000, ge=0, le=65535, description="TCP port.")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes.")
    model: str | None = Field(None, description="Classifier URI (sets NOLABEL_CLASSIFIER_MODEL).")
    detector: str | None = Field(None, description="Detector URI (sets NOLABEL_DETECTOR_MODEL).")
    log_level: str = Field("info", description="uvicorn and access log level.")
    report: str | None = Field(
        None, description="Results JSON shown at /report (sets NOLABEL_SERVE_REPORT_RESULTS)."
    )


class ServeResult(BaseModel):
    """What ran, printed when the server stops."""

    url: str
    host: str
    port: int
    workers: int
    stopped: bool = True
    signal: str | None = Field(None, description="The signal that stopped it (SIGTERM, ...).")


def run(params: ServeParams) -> ServeResult:
    """Serve until interrupted (SIGINT/SIGTERM); models and settings come from the environment.

    With several workers each process loads its own models and keeps its own metrics.
    """
    import uvicorn

    if params.model:
        os.environ["NOLABEL_CLASSIFIER_MODEL"] = params.model
    if params.detector:
        os.environ["NOLABEL_DETECTOR_MODEL"] = params.detector
    if params.report:
        os.environ["NOLABEL_SERVE_REPORT_RESULTS"] = str(Path(params.report).expanduser().resolve())
    os.environ.setdefault("NOLABEL_SERVE_LOG_LEVEL", params.log_level)
    get_settings.cache_clear()
    received: list[str] = []
    previous = {}
    if threading.current_thread() is threading.main_thread():
        # uvicorn re-raises the signal after a graceful shutdown; note it instead so the
        # process exits 0 and still prints its result line.
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _note(received))
    try:
        _run_uvicorn(uvicorn, params)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return ServeResult(
        url=f"http://{params.host}:{params.port}",
        host=params.host,
        port=params.port,
        workers=params.workers,
        signal=received[0] if received else None,
    )


def _note(received: list[str]):
    def handler(signum: int, _frame) -> None:
        received.append(signal.Signals(signum).name)

    return handler


def _run_uvicorn(uvicorn, params: ServeParams) -> None:
    from nolabel.components.serve.protocol import GuardedH11Protocol

    limits = ServeSettings()
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
        timeout_graceful_shutdown=20,  # in-flight requests; the pod grace period is 30 s
        http=GuardedH11Protocol,  # header/body deadlines for slow and idle clients
        timeout_keep_alive=limits.keep_alive_timeout,
        h11_max_incomplete_event_size=limits.max_header_bytes,
    )


SERVE = Step(
    "serve", ServeParams, ServeResult, run="nolabel.components.serve.step:run", image="serve"
)

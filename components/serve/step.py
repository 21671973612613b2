"""``run(ServeParams) -> ServeResult``: run the API under uvicorn until it is stopped."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from nolabel.components.common.settings import get_settings
from nolabel.components.serve.contract import ServeParams, ServeResult
from nolabel.components.serve.settings import ServeSettings

APP_FACTORY = "nolabel.components.serve.app:create_app"


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

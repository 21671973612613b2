"""``create_app(settings=None) -> FastAPI``: the nolabel prediction service."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio
from fastapi import FastAPI

from nolabel.components.common.settings import Settings, get_settings
from nolabel.components.serve.decoding import PixelGate
from nolabel.components.serve.errors import install_error_handlers
from nolabel.components.serve.metrics import ServeMetrics, create_metrics
from nolabel.components.serve.middleware import RequestContextMiddleware, configure_logging
from nolabel.components.serve.models import LoadedModel, ModelManager
from nolabel.components.serve.probes import health
from nolabel.components.serve.report import report
from nolabel.components.serve.routes import v1
from nolabel.components.serve.settings import ServeSettings

log = logging.getLogger("nolabel.serve")
API_VERSION = "1.0.0"


def _record_model(metrics: ServeMetrics, loaded: LoadedModel) -> None:
    metrics.observe_model(loaded.kind, loaded.name, loaded.version, loaded.uri)
    metrics.model_swaps.labels(loaded.kind).inc()


async def _poll(manager: ModelManager, interval: float) -> None:
    """Check the registry aliases every ``interval`` seconds (loading happens in a thread)."""
    while True:
        await anyio.sleep(interval)
        try:
            await anyio.to_thread.run_sync(manager.refresh)
        except Exception:  # refresh records its own errors; never kill the poller
            log.exception("model refresh failed")


def create_app(
    settings: Settings | None = None,
    *,
    serve_settings: ServeSettings | None = None,
    manager: ModelManager | None = None,
) -> FastAPI:
    """Build the app. ``manager`` may be injected (tests); by default models come from
    ``settings.classifier_model`` / ``detector_model`` or the registry alias, loaded at startup
    and re-checked every ``settings.model_refresh_seconds`` (0 disables polling).
    """
    settings = settings or get_settings()
    serve_settings = serve_settings or ServeSettings()
    configure_logging(serve_settings.log_level)
    metrics = create_metrics()
    manager = manager or ModelManager(settings, serve_settings)
    manager.on_swap.append(lambda loaded: _record_model(metrics, loaded))
    for kind in manager.kinds:
        metrics.model_loaded.labels(kind).set(0)
        loaded = manager.current().get(kind)
        if loaded is not None:
            _record_model(metrics, loaded)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.limiter = anyio.CapacityLimiter(serve_settings.inference_threads)
        await anyio.to_thread.run_sync(manager.refresh)
        log.info("serve started", extra={"ready": manager.ready(), "models": manager.status()})
        async with anyio.create_task_group() as tasks:
            if settings.model_refresh_seconds > 0:
                tasks.start_soon(_poll, manager, settings.model_refresh_seconds)
            yield
            tasks.cancel_scope.cancel()

    app = FastAPI(
        title="nolabel",
        version=API_VERSION,
        summary="Object predictions from models trained on web image search, no human labels.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.serve_settings = serve_settings
    app.state.manager = manager
    app.state.metrics = metrics
    app.state.limiter = anyio.CapacityLimiter(serve_settings.inference_threads)
    app.state.decode_gate = PixelGate(serve_settings.max_decoding_pixels)
    install_error_handlers(app)
    app.include_router(health)
    app.include_router(v1)
    app.include_router(report)
    origins = serve_settings.cors_origin_list
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_upload_bytes,
        max_headers=serve_settings.max_headers,
    )
    return app

"""Prefect's temporary API server, started so that it dies with the process that needs it.

Without ``PREFECT_API_URL`` Prefect starts a temporary server (uvicorn) as a child process and
stops it at exit; a SIGKILLed parent never stops it and it lives on (264 MB). On Linux the
server started here asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``).
It is registered as Prefect's default temporary server, so Prefect uses it exactly as it would
its own.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from nolabel.flows.params import PipelineParams

PR_SET_PDEATHSIG = 1
# Nothing here reports to outside addresses unless the user asks for it; Prefect's temporary
# server needs more than its default 20 s to start on 2 busy cores.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


def set_prefect_defaults() -> None:
    """Set nolabel's Prefect defaults in the environment, keeping values the user set.

    Call it before Prefect is imported (it reads its settings then)."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child get SIGTERM when this thread's process dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork
    parent = os.getpid()

    def _preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return _preexec


def _server_class() -> type:
    from prefect.server.api.server import SubprocessASGIServer

    class ChildServer(SubprocessASGIServer):
        """Prefect's temporary server (same command and environment) dying with its parent."""

        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            import prefect
            from prefect.settings import get_current_settings

            server_env = {
                "PREFECT_UI_ENABLED": "0",
                "PREFECT__SERVER_EPHEMERAL": "1",
                "PREFECT__SERVER_FINAL": "1",
            }
            return subprocess.Popen(
                args=[
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    str(prefect.__module_path__.parent),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env={
                    **os.environ,
                    **server_env,
                    **get_current_settings().to_environment_variables(exclude_unset=True),
                },
                preexec_fn=die_with_parent(),
            )

    return ChildServer


def start_temporary_server() -> str | None:
    """Start Prefect's temporary server now, bound to this process; its API URL.

    Nothing is started (None) when a server is configured (``PREFECT_API_URL``), temporary
    servers are off, one is already running, or not on Linux. Call it from the main thread: the
    kernel signals the child when the *thread* that started it ends. Prefect stops the server
    at exit as usual.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return None
    if die_with_parent() is None or None in SubprocessASGIServer._instances:
        return None
    server = _server_class()()  # registers itself as the default (port None) instance
    server.start()
    return server.api_url


def stop_temporary_server() -> None:
    """Stop the temporary server now instead of at exit (no-op when none runs)."""
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer._instances.get(None)
    if server is not None:
        server.stop()


def run_build_detector(params: PipelineParams | dict[str, Any]) -> dict[str, Any]:
    """Validate the params (clear one-line errors) and run the ``build_detector`` flow.

    Prefect's defaults (analytics off, 180 s server start) are set before Prefect is imported;
    its temporary server, when one is needed, dies with this process even on SIGKILL."""
    set_prefect_defaults()
    from nolabel.flows.pipeline import build_detector  # lazy: Prefect reads its settings once

    params = PipelineParams.model_validate(params)
    start_temporary_server()
    return build_detector(params=params)

"""``nolabel pipeline``'s console: an error the user can act on is the CLI's one ``error:`` line.

Prefect's flow and task run loggers log a failure with its traceback, then the run's final
state quoting the error again. For a user's error (bad input or settings, an unreachable
service) the console handler drops those records; Prefect's API handler still gets them, so
the run's logs in the UI keep the traceback. Unexpected errors keep their traceback everywhere.
urllib3's warnings about the retries it makes (an unreachable S3 endpoint) are dropped too.
"""

from __future__ import annotations

import logging
from typing import Any

from nolabel.components.common.errors import ConfigurationError, NolabelError
from nolabel.flows.params import PipelineParams
from nolabel.flows.server import run_build_detector, set_prefect_defaults


def is_user_error(exc: BaseException) -> bool:
    """Bad input or settings (what the CLI prints as one line), or a network error."""
    from pydantic import ValidationError

    from nolabel.flows.tasks import is_transient

    return isinstance(exc, NolabelError | ValidationError) or is_transient(exc)


QUOTED_PREFIX = 60  # characters of an error's message that mark a record quoting it


class HideUserErrors(logging.Filter):
    """Drops records carrying a user error, the later records quoting its message, and
    urllib3's retry warnings."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("urllib3.") and record.levelno < logging.ERROR:
            return False
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and is_user_error(exc):
            self.messages.add(str(exc)[:QUOTED_PREFIX])  # Prefect's state messages cut it
            return False
        text = record.getMessage()
        if record.levelno >= logging.WARNING and _names_user_error(text):
            return False  # a run's final state quoting a user error (its record may come first)
        return not any(message and message in text for message in self.messages)


def _user_error_names() -> set[str]:
    """Class names of the errors a user can act on (every NolabelError subclass)."""
    names, todo = set(), [NolabelError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _names_user_error(text: str) -> bool:
    """Whether ``text`` quotes a user error as Prefect states do (``InputError: …``)."""
    return any(f"{name}: " in text for name in _user_error_names())


def hide_user_errors_on_console() -> None:
    """Add :class:`HideUserErrors` to Prefect's console handler (set up now if not yet)."""
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()
    for handler in logging.getLogger().handlers:
        hidden = any(isinstance(f, HideUserErrors) for f in handler.filters)
        if isinstance(handler, PrefectConsoleHandler) and not hidden:
            handler.addFilter(HideUserErrors())


def run_pipeline(params: PipelineParams | dict[str, Any]) -> dict[str, Any]:
    """``run_build_detector`` for the CLI: user errors without Prefect's tracebacks, and a
    network error the steps did not explain as a :class:`ConfigurationError` (one line)."""
    set_prefect_defaults()  # before Prefect is imported
    hide_user_errors_on_console()
    try:
        return run_build_detector(params)
    except NolabelError:
        raise
    except Exception as exc:
        from nolabel.flows.tasks import is_transient

        if not is_transient(exc):
            raise
        detail = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise ConfigurationError(
            f"cannot reach a configured service: {type(exc).__name__}: {detail}; "
            "check the NOLABEL_* settings and the service, then rerun"
        ) from exc

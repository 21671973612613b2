"""Prefect tasks: thin wrappers running one step with store-persisted, input-keyed results."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from prefect import task
from prefect.cache_policies import NONE
from prefect.logging import get_run_logger

from nolabel.components.common.contracts import P, R, Step
from nolabel.components.common.errors import InputError, NolabelError
from nolabel.components.common.settings import get_settings
from nolabel.components.common.store import open_store
from nolabel.flows.execution import execute_step
from nolabel.flows.results import load_result, result_key, save_result

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    socket.timeout,
)


def is_transient(exc: BaseException) -> bool:
    """Network and S3 hiccups that a retry can fix."""
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    name = type(exc).__name__
    module = type(exc).__module__ or ""
    if module.startswith(("urllib3", "httpx", "httpcore", "requests")) and "Error" in name:
        return True
    if name in ("S3Error", "ServerError", "MaxRetryError", "ProtocolError"):
        code = getattr(exc, "code", "") or ""
        return code not in ("NoSuchKey", "NoSuchBucket", "AccessDenied", "InvalidAccessKeyId")
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and is_transient(cause)


def _failure(state: Any) -> BaseException | None:
    try:
        state.result()
    except BaseException as exc:  # the task's own exception, re-raised by result()
        return exc
    return None


def retry_on_transient(task_: Any, task_run: Any, state: Any) -> bool:
    """Retry condition of steps whose only retryable failures are network/S3 ones."""
    exc = _failure(state)
    return exc is not None and is_transient(exc)


def retry_unless_user_error(task_: Any, task_run: Any, state: Any) -> bool:
    """Retry condition of network-bound steps (crawl): retry anything but bad input/settings."""
    exc = _failure(state)
    return exc is not None and not isinstance(exc, NolabelError | ValueError | TypeError)


def run_step_cached(step: Step[P, R], params: P, upstream: Mapping[str, Any] | None = None) -> R:
    """The step's result for these inputs: from the store if finished before, else run it now
    (in-process, container or Job per ``NOLABEL_EXECUTION``) and persist it before returning.

    ``upstream`` (results the params came from, and salts) is part of the store key only.
    """
    logger = get_run_logger()
    settings = get_settings()
    store = open_store(settings)
    key = result_key(step.name, params, upstream)
    finished = load_result(key, store)
    if finished is not None:
        try:
            reused = step.check_result(finished)
        except InputError as exc:  # written by an older release: run the step again
            logger.warning("%s: stored result no longer fits (%s); running again", step.name, exc)
        else:
            uri = store.uri(key)
            logger.info("%s: already finished for these inputs, reusing %s", step.name, uri)
            return reused
    logger.info("%s: running (%s execution)", step.name, settings.execution)
    result = step.check_result(execute_step(step, params, settings))
    uri = save_result(key, step.name, params, result, store)
    logger.info("%s: finished, result saved to %s", step.name, uri)
    return result


def run_step_now(step: Step[P, R], params: P) -> R:
    """Run the step without result reuse (its inputs, e.g. a folder, may change between runs)."""
    get_run_logger().info("%s: running (%s execution)", step.name, get_settings().execution)
    return step.check_result(execute_step(step, params))


# Results are the steps' Result models, kept in memory: the store above is what persists them
# (keyed on the inputs), so Prefect neither caches nor serializes them.
_COMMON: dict[str, Any] = {"cache_policy": NONE, "persist_result": False}

# Crawling talks to the network all the time: retry anything but a user error, with backoff.
crawl_task = task(
    name="crawl",
    task_run_name="{step.name}",
    retries=3,
    retry_delay_seconds=[10, 60, 180],
    retry_condition_fn=retry_unless_user_error,
    **_COMMON,
)(run_step_cached)

# The other steps compute; only their store/registry (network, S3) failures are worth a retry.
_COMPUTE: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [10, 60],
    "retry_condition_fn": retry_on_transient,
    **_COMMON,
}
step_task = task(name="step", task_run_name="{step.name}", **_COMPUTE)(run_step_cached)
score_task = task(name="score", **_COMPUTE)(run_step_now)
# One shard of a card (score_folder's fan-out): named by its index in the UI.
score_shard_task = task(
    name="score-shard",
    task_run_name="score shard {params.shard_index} of {params.shard_count}",
    **_COMPUTE,
)(run_step_now)

"""Flow runs of killed processes: marked ``Crashed`` when the next flow starts.

A SIGKILLed flow process never reports an end, so Prefect keeps its run ``Running`` forever.
Every flow labels its own run with its owner (``nolabel.owner`` = ``PID-START-PIDNS-HOST``, as
MLflow runs are tagged, see ``components.common.owners``) and, on start, marks ``Crashed`` the
``Running`` flow runs (and their ``Running`` task runs) whose owner died on this host. Runs of
other hosts or containers, and runs without the label, are left alone.
"""

from __future__ import annotations

import logging
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    TaskRunFilter,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger
from prefect.states import Crashed

from nolabel.components.common.owners import current_owner, owner_state

OWNER_LABEL = "nolabel.owner"
CRASHED_MESSAGE = "its process was killed; marked crashed on the next start"
MAX_RUNS = 200  # Running flow runs examined per start (the API allows 200 a page)

logger = logging.getLogger(__name__)


def mark_dead_runs_crashed(client: SyncPrefectClient) -> list[UUID]:
    """Mark ``Crashed`` the ``Running`` flow runs whose owner died on this host, and their
    ``Running`` task runs; return the flow runs' ids."""
    running = [StateType.RUNNING]
    flow_runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=running))
        ),
        limit=MAX_RUNS,
    )
    dead = [run.id for run in flow_runs if owner_state(str(run.labels.get(OWNER_LABEL))) == "dead"]
    for run_id in dead:
        crashed = Crashed(message=f"Flow run {CRASHED_MESSAGE}")
        client.set_flow_run_state(run_id, crashed, force=True)
    if dead:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=dead)),
            task_run_filter=TaskRunFilter(
                state=TaskRunFilterState(type=TaskRunFilterStateType(any_=running))
            ),
        )
        for task_run in task_runs:
            crashed = Crashed(message=f"Task run {CRASHED_MESSAGE}")
            client.set_task_run_state(task_run.id, crashed, force=True)
    return dead


def claim_flow_run() -> list[UUID]:
    """Label the current flow run with this process as its owner and mark the runs of dead
    owners ``Crashed``; return their ids. Call it first in a flow. Never raises:
    housekeeping must not stop a flow."""
    context = FlowRunContext.get()
    try:
        with get_client(sync_client=True) as client:
            if context is not None and context.flow_run is not None:
                client.update_flow_run_labels(context.flow_run.id, {OWNER_LABEL: current_owner()})
            crashed = mark_dead_runs_crashed(client)
    except Exception as exc:
        logger.warning("could not check for crashed flow runs: %r", exc)
        return []
    log = get_run_logger() if context is not None else logger
    for run_id in crashed:
        log.info("flow run %s: %s", run_id, CRASHED_MESSAGE)
    return crashed

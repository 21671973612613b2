"""Step results persisted in the artifact store, keyed on everything that determines them.

A step's key hashes its name, its params JSON and the upstream results it depends on, so a
re-run with the same inputs finds the finished result at ``flows/results/<step>/<hash>.json``
and skips the work, while any change upstream (or in the step's own params) misses and re-runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from nolabel.components.common.store import ArtifactStore, open_store
from nolabel.flows.execution import params_json

RESULTS_PREFIX = "flows/results"


def result_key(
    step: str,
    params: BaseModel | Mapping[str, Any],
    upstream: Mapping[str, Any] | None = None,
) -> str:
    """Store key of the result of ``step`` for these params and upstream results (models or
    JSON values)."""
    upstream_data = {
        name: value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        for name, value in (upstream or {}).items()
    }
    material = json.dumps(
        {"step": step, "params": json.loads(params_json(params)), "upstream": upstream_data},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    digest = hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]
    return f"{RESULTS_PREFIX}/{step}/{digest}.json"


def load_result(key: str, store: ArtifactStore | None = None) -> dict[str, Any] | None:
    """The stored result under ``key``, or None if the step has not finished for these inputs."""
    store = store or open_store()
    try:
        record = json.loads(store.get_bytes(key))
    except KeyError:
        return None
    return record.get("result")


def save_result(
    key: str,
    step: str,
    params: BaseModel | Mapping[str, Any],
    result: BaseModel,
    store: ArtifactStore | None = None,
) -> str:
    """Persist a finished step's result (atomically); return its URI."""
    store = store or open_store()
    record = {
        "step": step,
        "params": json.loads(params_json(params)),
        "result": result.model_dump(mode="json"),
        "finished_at": datetime.now(UTC).isoformat(),
    }
    body = json.dumps(record, sort_keys=True, default=str).encode("utf-8")
    return store.put_bytes(key, body, "application/json")

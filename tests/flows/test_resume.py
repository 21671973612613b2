"""Flows under a real Prefect API: store-keyed results, resume after a crash, retries, artifacts.

The step functions here are small ones from ``steps_for_tests`` so that the flow machinery is
checked in seconds; ``test_end_to_end`` runs the same flow on the real steps.
"""

from __future__ import annotations

import json

import pytest

from nolabel.components.common.store import open_store
from tests.flows import steps_for_tests

PARAMS = {"dataset": "tiny", "provider": "demo", "positive": ["leopard"], "negative": ["rock"]}


@pytest.fixture
def quick_steps(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Point every pipeline step at the quick functions; return their call counts."""
    steps_for_tests.CALLS.clear()
    steps_for_tests.QUALITY.clear()
    steps_for_tests.EVALUATION.clear()
    steps_for_tests.use_quick(monkeypatch, "crawl", "train", "explain", "detect", "evaluate")
    return steps_for_tests.CALLS


def _fail_once(monkeypatch: pytest.MonkeyPatch, name: str, error: Exception) -> list[int]:
    calls: list[int] = []
    real = getattr(steps_for_tests, name)

    def flaky(params):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return real(params)

    monkeypatch.setattr(steps_for_tests, name, flaky)
    return calls


def test_rerun_resumes_at_the_step_that_failed(
    prefect_api, quick_steps, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nolabel.flows.pipeline import build_detector

    explain_calls = _fail_once(monkeypatch, "explain", RuntimeError("killed mid-way"))
    with pytest.raises(RuntimeError, match="killed mid-way"):
        build_detector(params=PARAMS)
    assert quick_steps == {"crawl": 1, "train": 1}
    stored = open_store().list("flows/results/")
    assert {key.split("/")[2] for key in stored} == {"crawl", "train"}

    summary = build_detector(params=PARAMS)
    # crawl and train were reused from the store, explain ran again, the rest ran once
    assert quick_steps == {"crawl": 1, "train": 1, "explain": 1, "detect": 1, "evaluate": 1}
    assert len(explain_calls) == 2
    assert summary["steps"]["evaluate"]["metrics"] == {"gt_ap50": 0.3}
    assert {"step": "detect", "metric": "val_ap50", "value": 0.4} in summary["metrics"]

    # a third run redoes nothing; a new run_tag redoes everything
    build_detector(params=PARAMS)
    assert quick_steps["crawl"] == 1 and quick_steps["detect"] == 1
    build_detector(params={**PARAMS, "run_tag": "2026-11-23"})
    assert quick_steps["crawl"] == 2 and quick_steps["evaluate"] == 2


def test_changed_params_redo_that_step_and_its_dependents_only(prefect_api, quick_steps) -> None:
    from nolabel.flows.pipeline import build_detector

    build_detector(params=PARAMS)
    build_detector(params={**PARAMS, "epochs": 3})
    assert quick_steps == {"crawl": 1, "train": 1, "explain": 1, "detect": 2, "evaluate": 2}
    build_detector(params={**PARAMS, "lime_samples": 50})
    assert quick_steps["train"] == 1 and quick_steps["explain"] == 2
    assert quick_steps["detect"] == 3


def test_a_stored_result_that_no_longer_fits_its_contract_is_redone(
    prefect_api, quick_steps
) -> None:
    import json

    from nolabel.flows.pipeline import build_detector

    build_detector(params=PARAMS)
    store = open_store()
    (key,) = [k for k in store.list("flows/results/") if k.split("/")[2] == "train"]
    record = json.loads(store.get_bytes(key))
    del record["result"]["best_variant"]  # as an older release might have written it
    store.put_bytes(key, json.dumps(record).encode())
    build_detector(params=PARAMS)
    assert quick_steps["train"] == 2 and quick_steps["crawl"] == 1
    assert "best_variant" in json.loads(store.get_bytes(key))["result"]


def test_transient_errors_are_retried_and_user_errors_are_not(
    prefect_api, quick_steps, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nolabel.components.common.errors import InputError
    from nolabel.flows.pipeline import build_detector

    detect_calls = _fail_once(monkeypatch, "detect", ConnectionError("S3 connection reset"))
    monkeypatch.setattr("nolabel.flows.tasks.step_task.retry_delay_seconds", [0, 0])
    summary = build_detector(params=PARAMS)
    assert len(detect_calls) == 2 and summary["steps"]["detect"]["metrics"] == {"val_ap50": 0.4}

    train_calls = _fail_once(monkeypatch, "train", InputError("dataset has one class only"))
    with pytest.raises(InputError, match="one class only"):
        build_detector(params={**PARAMS, "dataset": "other"})
    assert len(train_calls) == 1


def _artifacts_of(flow_run_id) -> dict[str, dict]:
    """The artifacts a flow run created, by key, read back from the Prefect API."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    response = httpx.post(
        f"{PREFECT_API_URL.value()}/artifacts/filter",
        json={"flow_runs": {"id": {"any_": [str(flow_run_id)]}}, "limit": 50, "offset": 0},
        timeout=30,
    )
    response.raise_for_status()
    return {a["key"]: a for a in response.json()}


def test_each_run_publishes_a_summary_artifact(prefect_api, quick_steps) -> None:
    from nolabel.flows.pipeline import build_detector

    state = build_detector(params={**PARAMS, "dataset": "artifacts"}, return_state=True)
    artifacts = _artifacts_of(state.state_details.flow_run_id)
    markdown = artifacts["build-detector"]
    assert markdown["type"] == "markdown"
    assert "## Metrics" in markdown["data"] and "| detect | val_ap50 | 0.4 |" in markdown["data"]
    table = artifacts["build-detector-metrics"]
    rows = json.loads(table["data"]) if isinstance(table["data"], str) else table["data"]
    assert table["type"] == "table"
    assert {"step": "train", "metric": "roc_auc", "value": 0.75} in rows


def test_invalid_flow_parameters_are_refused_clearly(prefect_api) -> None:
    from prefect.exceptions import ParameterTypeError

    from nolabel.flows.pipeline import build_detector

    with pytest.raises(ParameterTypeError) as caught:
        build_detector(params={**PARAMS, "dataset": "no spaces allowed", "epochs": 0})
    message = str(caught.value)
    assert "invalid dataset name" in message
    assert "epochs" in message and "greater than or equal to 1" in message

"""prefect.yaml: deployments load, point at real flows, and deploy to a real Prefect API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
POOLS = {"process": "process", "docker": "docker", "kubernetes": "kubernetes"}
PARAM_MODELS = {
    "build_detector": "flows.params:PipelineParams",
    "refresh": "flows.params:RefreshParams",
    "score_folder": "flows.params:ScoreFolderParams",
}


def _deployments() -> list[dict]:
    data = yaml.safe_load((REPO / "prefect.yaml").read_text())
    assert data["name"] == "nolabel"
    return data["deployments"]


def test_every_flow_is_deployed_on_every_pool() -> None:
    pairs = {(d["entrypoint"], d["work_pool"]["name"]) for d in _deployments()}
    entrypoints = {
        "flows/pipeline.py:build_detector",
        "flows/refresh.py:refresh",
        "flows/score.py:score_folder",
    }
    assert pairs == {(e, p) for e in entrypoints for p in POOLS}
    names = [d["name"] for d in _deployments()]
    assert len(names) == len(set(names)) == 9


def test_entrypoints_load_real_flows_whose_parameters_validate() -> None:
    from prefect.flows import Flow, load_flow_from_entrypoint
    from prefect.utilities.importtools import import_object

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        for deployment in _deployments():
            flow = load_flow_from_entrypoint(deployment["entrypoint"], use_placeholder_flow=False)
            assert isinstance(flow, Flow)
            assert flow.name == deployment["entrypoint"].rsplit(":", 1)[1]
            model = import_object(PARAM_MODELS[flow.name])
            if "parameters" in deployment:
                model.model_validate(deployment["parameters"]["params"])
            env = deployment["work_pool"]["job_variables"]["env"]
            assert env["NOLABEL_EXECUTION"] == deployment["work_pool"]["name"].replace(
                "process", "local"
            )
    finally:
        os.chdir(cwd)


def test_schedules_refresh_weekly_and_build_detector_manual() -> None:
    from prefect.client.schemas.schedules import CronSchedule

    for deployment in _deployments():
        schedules = deployment.get("schedules") or []
        if deployment["entrypoint"].endswith(":refresh"):
            (schedule,) = schedules
            cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
            assert cron.cron.split()[2:] == ["*", "*", "1"]  # every Monday
            assert schedule["active"] is (deployment["work_pool"]["name"] == "process")
        else:
            assert schedules == []


@pytest.mark.slow
def test_prefect_deploy_all_registers_the_deployments(prefect_api, tmp_path: Path) -> None:
    import httpx
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    for name, pool_type in POOLS.items():
        response = httpx.post(f"{api}/work_pools/", json={"name": name, "type": pool_type})
        assert response.status_code in (201, 409), response.text
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    found = httpx.post(f"{api}/deployments/filter", json={"limit": 50, "offset": 0}).json()
    by_name = {d["name"]: d for d in found}
    assert {d["name"] for d in _deployments()} <= set(by_name)
    refresh = by_name["refresh-process"]
    assert refresh["work_pool_name"] == "process"
    assert [s["schedule"]["cron"] for s in refresh["schedules"]] == ["0 3 * * 1"]
    assert by_name["build-detector-kubernetes"]["job_variables"]["image"] == "nolabel/spark:latest"
    assert by_name["build-detector-process"]["schedules"] == []
